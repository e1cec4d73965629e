# SPDX-License-Identifier: LGPL-2.1-or-later
"""Section 8: the views of a home (bench/chainwalk-views.sh) next to a GC dry run of it."""

import os
import subprocess

from . import fmt
from .util import run as run_cmd, say


def run(bench):
    say('8. the views of a home: boxlite-chainwalk --home and --usage next to a dry run')
    out = os.path.join(bench.tmp, 'views')
    env = dict(os.environ, BOXLITE_BENCH_BOXES=str(bench.views_boxes), BOXLITE_BENCH_RUNS=str(bench.views_runs))
    run_cmd([bench.script('chainwalk-views.sh'), bench.build, out], what='chainwalk-views.sh', env=env,
            stdout=subprocess.DEVNULL)
    bench.val['views'] = open(out).read()
    bench.note_load()


def text(bench):
    return f'''## 8. The views of a home

`bench/chainwalk-views.sh {bench.build}`: `boxlite-chainwalk --home`, `--home --json`,
`--usage` and `--usage --json` and `boxlite-gc --dry-run` on one {fmt.num(bench.views_boxes)}-box home,
interleaved; median wall time as a ratio to the dry run's, peak RSS per overlay,
whole and above each program's peak on an empty home (its libraries). Targets:
1.3x the dry run's time, 250 bytes per overlay.

The views walk the home as the GC does (its workers, each backing name read
once) into compact records: an overlay's layer and its name below its box (the
few names boxes use kept once), each backing layer one record for every worker,
strings in an arena without a header each; chains are written from them
straight to stdout, JSON included (the bytes json-c would give), and `--usage`
borrows the walk's names and counts an inode in a set only when it has other
names.

{bench.val['views']}'''
