# SPDX-License-Identifier: LGPL-2.1-or-later
"""Section 4: boxlite-admit against /bin/true and bench/admit-floor (bench/admit-bench.sh, hyperfine)."""

import os
import subprocess

from .util import say


def run(bench):
    say('4. admission: boxlite-admit against /bin/true')
    out = os.path.join(bench.tmp, 'admit.md')
    bench.val['admit_status'] = subprocess.run(
        [bench.script('admit-bench.sh'), bench.admit, bench.admit_floor, out],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    bench.val['admit_table'] = open(out).read() if os.path.exists(out) else ''
    bench.note_load()


def text(bench):
    status, table = bench.val['admit_status'], bench.val['admit_table']
    body = table if status == 0 and table else f'Not measured: `admit-bench.sh` exited with status {status}.\n'
    return f'''## 4. Admission

`bench/admit-bench.sh` (hyperfine, 1,000 runs each after 50 warm-ups):
one `boxlite-admit` run from start to exit, against `/bin/true` and
against `bench/admit-floor` (libsystemd loaded, one `statvfs`), without a
bus and with the `Decided` signal sent to a private `dbus-daemon`.

{body}'''
