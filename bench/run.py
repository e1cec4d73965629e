#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""run.py [BUILD_DIR [REPORT]]: every benchmark of boxlite-host in one run.

Side by side with what an operator would use instead (qemu-img, a find |
qemu-img | rm pipeline, /bin/true) and with the floor of the hardware
(bench/gc-floor), on synthetic homes of 1k, 10k and 50k boxes. Writes the
report (machine, commands, tables) to REPORT, by default docs/BENCHMARKS.md.
Every ratio is against a baseline measured in the same run, the programs
compared running in interleaved rounds; no figure is written by hand.

BUILD_DIR (default: build-bench in the source tree) is set up as a release
build if it does not exist, then built. tools/install-deps installs what is
missing first. BOXLITE_BENCH_NO_DEPS=1 skips that and BOXLITE_BENCH_NO_BUILD=1
the build (meson's benchmark() sets both); BOXLITE_BENCH_QUICK=1 runs a trial
of the driver on small homes in a few minutes (its figures are not the
benchmark's). Homes live under /tmp (the normal disk, warm cache) and are
removed at the end; the GC's state directory (BOXLITE_STATE_DIRECTORY) is a
temporary one too. Kernel profiles need root (or perf_event_paranoid <= 1);
without, that section says so.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

# The package next to this file, imported without writing bytecode into the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from boxbench import (admission, chainwalk, gcfloor, gcrounds, growth, operator, profile,  # noqa: E402
                      reader, report, syscalls, views)
from boxbench.config import PROGRAMS, Bench  # noqa: E402
from boxbench.home import Home  # noqa: E402
from boxbench.util import BenchError, cpu_busy, die, elapsed, loadavg, remove_tree, run, say  # noqa: E402

TOOLS = ('qemu-img', 'strace', 'hyperfine', 'perf', 'dbus-daemon', 'jq')


def prepare(bench):
    """Dependencies, the build, and the build's options for the report."""
    t0 = time.monotonic()
    if not os.environ.get('BOXLITE_BENCH_NO_DEPS'):
        run([os.path.join(bench.src, 'tools', 'install-deps')], what='tools/install-deps')
    for t in TOOLS:  # jq: the scripts bench/*.sh read JSON with it
        if not shutil.which(t):
            die(f'{t} is not installed (run tools/install-deps)')
    if not os.environ.get('BOXLITE_BENCH_NO_BUILD'):
        if not os.path.exists(os.path.join(bench.build, 'build.ninja')):
            run(['meson', 'setup', bench.build, bench.src, '-Dbuildtype=release'], what='meson setup')
        run(['ninja', '-C', bench.build, *PROGRAMS.values()], what='ninja')
    bench.val['build_s'] = time.monotonic() - t0
    opts = report.build_options(bench.build)
    bench.val['buildtype'], bench.val['optimization'] = opts['buildtype'], opts['optimization']
    if opts['buildtype'] != 'release':
        say(f"warning: {bench.build} is a '{opts['buildtype']}' build, not release")


def measure_all(bench):
    """Every section, in an order that makes each home once: the main home, the operator's, the largest."""
    bench.val['busy_before'], bench.val['load_before'] = cpu_busy(), loadavg()

    say(f'generating the main home: {bench.main_boxes} boxes')
    m = Home(bench, 'main', bench.main_boxes).make()
    bench.note_load()
    chainwalk.check_agree(bench, m)
    chainwalk.run(bench, m)
    reader.run(bench, m)
    gcfloor.run(bench, m)
    gcrounds.run_rounds(bench, m)
    views.run(bench)
    gcrounds.run_plan(bench)
    profile.run(bench, m)
    growth.run_x4(bench, m)
    m.remove()
    bench.note_load()

    say(f"generating the operator's home: {bench.op_boxes} boxes")
    o = Home(bench, 'op', bench.op_boxes).make()
    operator.run(bench, o)
    syscalls.run(bench, o)
    o.remove()
    bench.note_load()

    b = growth.run_big(bench)
    admission.run(bench)
    bench.val['busy_after'], bench.val['load_after'] = cpu_busy(), loadavg()
    return o, m, b


def main(argv):
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join(src, 'build-bench'))
    rep = os.path.abspath(argv[2] if len(argv) > 2 else os.path.join(src, 'docs', 'BENCHMARKS.md'))
    tmp = tempfile.mkdtemp(prefix='boxlite-bench.', dir='/tmp')
    bench = Bench(src, build, rep, tmp)
    state = os.path.join(tmp, 'state')
    os.mkdir(state, 0o700)
    # The GC's log lines to stderr (no journal write timed), its configuration and its memory of
    # mount points in the run's directory, never the machine's; the scripts inherit all of it.
    os.environ.update(BOXLITE_LOG_TARGET='stderr', BOXLITE_CONF_DIR=os.path.join(tmp, 'etc'),
                      BOXLITE_STATE_DIRECTORY=state, LC_ALL='C')
    os.makedirs(os.path.join(tmp, 'etc'))
    try:
        prepare(bench)
        say(f'results in {tmp}, report to {rep}')
        homes = measure_all(bench)
        say('writing the report')
        for mod in (chainwalk, gcfloor):
            mod.figures(bench, homes[1])
        operator.figures(bench, homes[0], homes[1])
        growth.figures(bench, homes)
        bench.val['wall_s'] = elapsed()
        report.write(bench, homes)
    except (BenchError, subprocess.SubprocessError, OSError) as e:
        say(f'FAILED: {e}')
        return 1
    finally:
        remove_tree(tmp)
    say(f'done in {elapsed():.0f} s: {rep}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
