# SPDX-License-Identifier: LGPL-2.1-or-later
"""Section 2, against the floor: boxlite-gc next to bench/gc-floor on the main home."""

import os

from . import fmt, measure
from .util import die, read_lines, say


def run(bench, m):
    say(f'2. GC on {m.boxes} boxes against the floor')
    if m.gc_dry_list() != read_lines(m.path('orphans')):
        die('boxlite-gc --dry-run would not reclaim exactly the orphans')
    # The program's own footprint: the same dry run on a home with nothing in it.
    empty = os.path.join(bench.tmp, 'empty')
    os.makedirs(os.path.join(empty, 'images', 'disk-images'), exist_ok=True)
    os.makedirs(os.path.join(empty, 'boxes'), exist_ok=True)
    measure.interleave(bench, {
        'floor': [bench.floor, m.home],
        'floor_disks': [bench.floor, '--disks-only', m.home],
        'gc_dry': bench.gc_cmd(m.home, dry=True),
        'gc_empty': bench.gc_cmd(empty, dry=True),
    }, rounds=bench.runs)
    m.real_runs('gc_real', bench.real_runs)
    measure.interleave(bench, {'gc_second': bench.gc_cmd(m.home)}, rounds=bench.runs)
    bench.note_load()


def figures(bench, m):
    """The ratios to the floor (and to the floor --disks-only) the summary and section 7 quote."""
    v, r = bench.val, bench.r
    for k in ('dry', 'real', 'second'):
        v['r_' + k] = r('gc_' + k) / r('floor')
        v['r_' + k + '_d'] = r('gc_' + k) / r('floor_disks')


def row(bench, m, name, label, ratio, ratio_d):
    r, us = bench.res[name], fmt.us
    return (f"| {label} (n={r['n']}) | {us(r['median_us'])} | {us(r['median_us'] / m.walked)} | "
            f"{fmt.kib(r['median_rss_kib'])} | {us(r['user_us'])} / {us(r['sys_us'])} | {ratio} | {ratio_d} |")


def text(bench, m):
    v, r = bench.val, bench.r
    fl = r('floor') / r('floor_disks')
    rows = [
        row(bench, m, 'floor', 'floor', '1', fmt.f(fl)),
        row(bench, m, 'floor_disks', 'floor `--disks-only`', fmt.f(1 / fl), '1'),
        row(bench, m, 'gc_dry', '`boxlite-gc --dry-run`', f"**{fmt.f(v['r_dry'])}**", fmt.f(v['r_dry_d'])),
        row(bench, m, 'gc_real', f'`boxlite-gc`, deletes {fmt.num(m.orphans)} orphans',
            f"**{fmt.f(v['r_real'])}**", fmt.f(v['r_real_d'])),
        row(bench, m, 'gc_second', '`boxlite-gc`, nothing to delete',
            f"**{fmt.f(v['r_second'])}**", fmt.f(v['r_second_d'])),
    ]
    table = '\n'.join(rows)
    return f'''## 2. A GC pass

### Against the floor, {fmt.num(m.boxes)} boxes

`bench/gc-floor` is the least work any GC of the home must do: it lists
every directory under `boxes/` (a box keeps overlays in `disks/` and
`snapshots/<name>/`), opens each file there and in `bases/` and reads its
first 4 KiB, and stats every entry of `images/disk-images/`; each file once,
with `getdents64` and no `opendir`. It resolves, validates and keeps
nothing. `--disks-only` goes straight to `boxes/<id>/disks/`, i.e. it
assumes no snapshots exist, below what a correct GC may do; it is shown to
bound the ratio from the other side. Overlays walked: {fmt.num(m.walked)} ({fmt.num(m.overlays)} in boxes,
{fmt.num(m.nbases)} bases); disk-images: {fmt.num(m.images)}. The floors and the dry runs
run in interleaved rounds.

| run | median wall | per overlay walked | peak RSS | user / system CPU | ratio to floor | ratio to floor `--disks-only` |
|---|---|---|---|---|---|---|
{table}

Before each deleting run the orphans are made again and left to age past the
1 s grace (`--grace 1s`; their ctime is new); after it the driver checks
that exactly the orphans are gone. The dry run's JSON `reclaimed` list
was checked to be exactly the generator's orphan list. All runs in this
section and below use one worker (`--jobs 1`) unless they say otherwise.
'''
