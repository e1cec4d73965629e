# SPDX-License-Identifier: LGPL-2.1-or-later
"""Section 5: growth from the smallest home to the largest, and a disk-image's own share."""

import statistics
import time

from . import fmt, measure
from .home import Home
from .util import run, say


def run_x4(bench, m):
    """The main home given three times its disk-images more (orphans, aged), dry-run again."""
    say('5. growth: disk-images x4 on the main home')
    bench.val['extra_images'] = m.images * 3
    run([bench.gen, '--images-only', '--orphans', bench.orphan_pct, m.path('disk-template.qcow2'), m.home,
         0, m.images * 4], what='gen-home --images-only')
    time.sleep(1.1)
    measure.interleave(bench, {'gc_dry_x4': bench.gc_cmd(m.home, dry=True)}, rounds=min(bench.runs, 11))


def run_big(bench):
    """The largest home: the floor and the GC, as on the main home; returns the home, removed."""
    say(f'5. growth: generating {bench.big_boxes} boxes')
    b = Home(bench, 'big', bench.big_boxes).make()
    measure.interleave(bench, {'big_floor': [bench.floor, b.home], 'big_dry': bench.gc_cmd(b.home, dry=True)},
                       rounds=7)
    b.real_runs('big_real', 3)
    measure.interleave(bench, {'big_second': bench.gc_cmd(b.home)}, rounds=7)
    b.remove()
    bench.note_load()
    return b


# The growth series' rows: the measurement names of each home's dry, deleting and idle runs.
SERIES = (('op_gc_dry', 'op_gc_real', 'op_gc_second'), ('gc_dry', 'gc_real', 'gc_second'),
          ('big_dry', 'big_real', 'big_second'))


def fit(x, y):
    """Least squares: slope, intercept, R²."""
    slope, icpt = statistics.linear_regression(x, y)
    return slope, icpt, statistics.correlation(x, y) ** 2


def figures(bench, homes):
    """Fits against the overlays walked (the disk-images grow with them); a disk-image's own share."""
    v, r = bench.val, bench.r
    x = [h.walked for h in homes]
    for key, i, stat in (('dry', 0, 'median_us'), ('dryrss', 0, 'median_rss_kib'), ('real', 1, 'median_us'),
                         ('realrss', 1, 'median_rss_kib'), ('second', 2, 'median_us')):
        v[key + '_fit'] = fit(x, [r(s[i], stat) for s in SERIES])
    v['dry_b_per_overlay'] = v['dryrss_fit'][0] * 1024
    v['real_b_per_overlay'] = v['realrss_fit'][0] * 1024
    extra = v['extra_images']
    v['b_per_image'] = (r('gc_dry_x4', 'median_rss_kib') - r('gc_dry', 'median_rss_kib')) * 1024 / extra
    v['us_per_image'] = (r('gc_dry_x4') - r('gc_dry')) / extra


def text(bench, homes):
    v, r, us, n, kib = bench.val, bench.r, fmt.us, fmt.num, fmt.kib
    o, m, b = homes
    rows = '\n'.join(
        f"| {n(h.boxes)} | {n(h.walked)} | {n(h.images)} | {us(r(d))} | {kib(r(d, 'median_rss_kib'))} | "
        f"{us(r(re))} ({n(h.orphans)}) | {kib(r(re, 'median_rss_kib'))} | {us(r(se))} |"
        for h, (d, re, se) in zip(homes, SERIES))

    def fit_row(label, key, unit, bold=False):
        slope, icpt, r2 = v[key + '_fit']
        if unit == 'us':
            s, i = f'{slope:.3f} µs per overlay', us(icpt)
        else:
            s, i = f'{n(slope * 1024)} bytes per overlay', kib(icpt)
        return f"| {label} | {'**' + s + '**' if bold else s} | {i} | {r2:.5f} |"
    fits = '\n'.join([fit_row('dry run, time', 'dry', 'us', True), fit_row('deleting run, time', 'real', 'us'),
                      fit_row('nothing to delete, time', 'second', 'us'),
                      fit_row('dry run, peak RSS', 'dryrss', 'kib', True),
                      fit_row('deleting run, peak RSS', 'realrss', 'kib')])
    dbo, rbo = n(v['dry_b_per_overlay']), n(v['real_b_per_overlay'])
    return f'''## 5. Growth from {n(o.boxes)} to {n(b.boxes)} boxes

| boxes | overlays walked | disk-images | dry run | peak RSS | deleting run (orphans) | peak RSS | nothing to delete |
|---|---|---|---|---|---|---|---|
{rows}

Medians of {bench.runs} runs ({n(o.boxes)} and {n(m.boxes)} boxes) and 7 runs ({n(b.boxes)}), in interleaved rounds
with the floor; deleting runs {bench.real_runs}, {bench.real_runs} and 3. The floor on {n(b.boxes)} boxes: {us(r('big_floor'))}, so the dry
run there is at {fmt.f(r('big_dry') / r('big_floor'))}x of it.

Least-squares fits against the overlays walked (the disk-images grow with
them, one per {fmt.f(m.walked / m.images, 1)} overlays walked):

| | slope | intercept | R² |
|---|---|---|---|
{fits}

Peak RSS grows by {dbo} bytes per overlay walked in a dry run (and
{rbo} in a deleting run, which also keeps the list of what it moved
aside); with the disk-images in fixed proportion, that includes a quarter of
a disk-image's share. To see a disk-image's own share, the {n(m.boxes)}-box home
was given {n(v['extra_images'])} more disk-images (orphans, past the grace) and dry-run
again (n={r('gc_dry_x4', 'n')}): peak RSS {kib(r('gc_dry_x4', 'median_rss_kib'))} and {us(r('gc_dry_x4'))}, i.e. **{n(v['b_per_image'])} bytes and
{us(v['us_per_image'])} per disk-image** (an orphan: its entry in the report, its in-use
check, its log line). That is an upper bound: the GC keeps one report entry
per disk-image (path, name, stat fields) in arrays that grow by doubling,
and this step crossed a doubling. An overlay leaves behind only identities
in the pinned set: its chain is freed as soon as it is walked, and the set
holds each pinned file's device and inode in an open-addressing table kept
at most half full. The intercept is the process itself: the binary, libc,
libsystemd, libqcow and json-c mapped in.
'''
