# SPDX-License-Identifier: LGPL-2.1-or-later
"""Timed runs through bench/bench-exec, and their statistics.

bench-exec spawns the program directly (no shell) and appends one line per
sample to its --times file: wall_ns maxrss_kib user_us sys_us status. The
programs compared with each other run in interleaved rounds (a, b, c, a, b,
c, ...), so that a change of the machine's load falls on all of them alike.
"""

import os
import statistics

from .util import die, run


def samples(bench, argv, each=None, runs=1, what=None):
    """Samples of argv, each (wall_us, rss_kib, user_us, sys_us); with each, one per line of that file."""
    times = os.path.join(bench.tmp, 'times')
    if os.path.exists(times):
        os.unlink(times)
    opts = ['--runs', str(runs), '--warmup', '0', '--times', times] + (['--each', each] if each else [])
    run([bench.bexec] + opts + ['--'] + list(argv), what=what or f'a measured run of {argv[0]}')
    out = []
    with open(times) as f:
        for line in f:
            wall_ns, rss, user, sys_, _ = (float(x) for x in line.split())
            out.append((wall_ns / 1000, rss, user, sys_))
    return out


def stats(s):
    """Medians (and range, largest peak RSS) of samples: the figures of one row of a table."""
    if not s:
        die('no samples')
    wall, rss, user, sys_ = zip(*s)
    return {'n': len(s), 'median_us': statistics.median(wall), 'min_us': min(wall), 'max_us': max(wall),
            'median_rss_kib': statistics.median(rss), 'maxrss_kib': max(rss),
            'user_us': statistics.median(user), 'sys_us': statistics.median(sys_)}


def interleave(bench, cmds, rounds, warmup=1):
    """cmds: {name: argv or (argv, each-file)}. Each runs once a round, in turn; results in bench.res."""
    cmds = {k: (v if isinstance(v, tuple) else (v, None)) for k, v in cmds.items()}
    for _ in range(warmup):
        for name, (argv, each) in cmds.items():
            samples(bench, argv, each, what=name)
    got = {name: [] for name in cmds}
    for _ in range(rounds):
        for name, (argv, each) in cmds.items():
            got[name] += samples(bench, argv, each, what=name)
    for name, s in got.items():
        bench.res[name] = stats(s)


def once(bench, name, argv):
    """One run, no warm-up (a program that changes the home, or one that takes minutes)."""
    bench.res[name] = stats(samples(bench, argv, what=name))
