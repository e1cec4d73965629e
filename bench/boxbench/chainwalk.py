# SPDX-License-Identifier: LGPL-2.1-or-later
"""Section 1: boxlite-chainwalk against qemu-img info --backing-chain."""

import json
import os

from . import fmt, measure
from .util import die, output, read_lines, say


def check_agree(bench, m):
    """boxlite-chainwalk and qemu-img must print the same chains for the sample."""
    n = 0
    for p in read_lines(m.path('sample')):
        a = [e['filename'] for e in json.loads(output(
            ['qemu-img', 'info', '-U', '--backing-chain', '--output=json', p]))]
        b = [e['filename'] for e in json.loads(output([bench.chainwalk, '--json', p]))]
        if a != b:
            die(f"qemu-img and boxlite-chainwalk disagree on '{p}': {a} vs {b}")
        n += 1
    bench.val['agree'] = n


def run(bench, m):
    say(f'1. chain walking: qemu-img info on {bench.sample_size} overlays, boxlite-chainwalk')
    sample = m.path('sample')
    # One process per overlay of the sample, three passes each, the two programs in turn.
    measure.interleave(bench, {
        'qemu': (['qemu-img', 'info', '-U', '--backing-chain', '--output=json', '{}'], sample),
        'cw_each': ([bench.chainwalk, '--json', '{}'], sample),
    }, rounds=3)
    # One process for many overlays; the readers of section 3 in the same rounds.
    cw = [bench.chainwalk, '--json']
    measure.interleave(bench, {
        'cw_sample': cw + read_lines(sample),
        'cw_home': cw + ['--home', m.home],
        'cw_home_builtin': cw + ['--reader', 'builtin', '--home', m.home],
        'cw_home_libqcow': cw + ['--reader', 'libqcow', '--home', m.home],
    }, rounds=min(bench.runs, 11))
    bench.note_load()


def figures(bench, m):
    """Per overlay: the figures section 1, section 3 and the summary share."""
    r = bench.r
    v = bench.val
    v['qemu_per'] = r('qemu')
    v['cw_each_per'] = r('cw_each')
    v['cw_sample_per'] = r('cw_sample') / bench.sample_size
    for k in ('cw_home', 'cw_home_builtin', 'cw_home_libqcow'):
        v[k + '_per'] = r(k) / m.overlays
    v['ratio_cw'] = v['qemu_per'] / v['cw_home_per']


def text(bench, m):
    v, r, us = bench.val, bench.r, fmt.us
    q = v['qemu_per']
    return f'''## 1. Chain walking

On the {fmt.num(m.boxes)}-box home. `qemu-img` is timed on a fixed random
sample of {bench.sample_size} of its overlays (`gen-home --seed 42`; {bench.via_pct} % of
`disk.qcow2` go through a base), each run 3 times, interleaved with
`boxlite-chainwalk` on the same overlays: the median of {r('qemu', 'n'):.0f} runs.
`boxlite-chainwalk --home` walks all {fmt.num(m.overlays)} overlays of
the home in one process (its time is divided by that number).

| what | per overlay (median) | ratio to qemu-img |
|---|---|---|
| `qemu-img info -U --backing-chain --output=json OVERLAY`, one process per overlay | {us(q)} | 1 |
| `boxlite-chainwalk --json OVERLAY`, one process per overlay (same sample) | {us(v['cw_each_per'])} | {fmt.f(q / v['cw_each_per'], 1)}x faster |
| `boxlite-chainwalk --json` with the {bench.sample_size} sample overlays as arguments | {us(v['cw_sample_per'])} | {fmt.f(q / v['cw_sample_per'], 0)}x faster |
| `boxlite-chainwalk --json --home HOME` ({fmt.num(m.overlays)} overlays) | {us(v['cw_home_per'])} | **{fmt.f(v['ratio_cw'], 0)}x faster** |

One process per overlay is dominated by starting a process and loading its
libraries: `qemu-img` links much of QEMU's block layer (its peak RSS is
{fmt.kib(r('qemu', 'median_rss_kib'))} against {fmt.kib(r('cw_each', 'median_rss_kib'))}). What an operator's loop costs per
overlay is the first line; what `--home` costs is the last.
'''


def layers_file(m):
    """The layers reader-bench reads: the sample overlays and every base."""
    bases = sorted(os.path.join(m.home, 'bases', n) for n in os.listdir(os.path.join(m.home, 'bases'))
                   if n.endswith('.qcow2'))
    path = m.path('layers')
    with open(path, 'w') as f:
        f.writelines(p + '\n' for p in read_lines(m.path('sample')) + bases)
    return path
