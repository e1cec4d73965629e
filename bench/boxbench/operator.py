# SPDX-License-Identifier: LGPL-2.1-or-later
"""Section 2, against the operator's pipeline (bench/operator-gc.sh), on the smallest home of the series."""

import os

from . import fmt, measure
from .util import die, output, read_lines, say


def run(bench, o):
    say(f"2. the operator's pipeline on {o.boxes} boxes")
    op = [bench.script('operator-gc.sh'), '--grace-min', '1', o.home]
    op_dry = [op[0], '--dry-run'] + op[1:]
    dry = sorted(output(op_dry, what='operator-gc.sh').splitlines())
    if dry != read_lines(o.path('orphans')):
        die("the operator's pipeline would not delete exactly the orphans")
    if o.gc_dry_list() != dry:
        die("boxlite-gc and the operator's pipeline disagree")
    # A few seconds a run: three, no warm-up.
    measure.interleave(bench, {'op_dry': op_dry}, rounds=3, warmup=0)
    measure.interleave(bench, {'op_floor': [bench.floor, o.home], 'op_gc_dry': bench.gc_cmd(o.home, dry=True)},
                       rounds=bench.runs)
    o.real_runs('op_gc_real', bench.real_runs)
    o.remake_orphans()
    measure.once(bench, 'op_real', op)
    o.check_deleted()
    measure.interleave(bench, {'op_gc_second': bench.gc_cmd(o.home)}, rounds=bench.runs)


def figures(bench, o, m):
    """Per overlay walked; the operator's runs against boxlite-gc on its home and on the main one."""
    v, r = bench.val, bench.r
    for k in ('op_dry', 'op_real', 'op_gc_dry', 'op_gc_real'):
        v[k + '_per'] = r(k) / o.walked
    v['gc_dry_per'] = r('gc_dry') / m.walked
    v['gc_real_per'] = r('gc_real') / m.walked
    v['r_op_dry'] = v['op_dry_per'] / v['gc_dry_per']
    v['r_op_real'] = v['op_real_per'] / v['gc_real_per']
    v['r_op_dry_same'] = v['op_dry_per'] / v['op_gc_dry_per']
    v['r_op_real_same'] = v['op_real_per'] / v['op_gc_real_per']


def text(bench, o, m):
    v, r, us, n = bench.val, bench.res, fmt.us, fmt.num
    cores = os.cpu_count()

    def line(name, label, same, main):
        return f"| {label} (n={r[name]['n']}) | {us(r[name]['median_us'])} | {us(v[name + '_per'])} | {same} | {main} |"
    rows = '\n'.join([
        line('op_dry', 'operator, dry run', f"{fmt.f(v['r_op_dry_same'], 0)}x slower", f"**{fmt.f(v['r_op_dry'], 0)}x slower**"),
        line('op_real', 'operator, real run', f"{fmt.f(v['r_op_real_same'], 0)}x slower",
             f"**{fmt.f(v['r_op_real'], 0)}x slower**"),
        line('op_gc_dry', '`boxlite-gc --dry-run`', '1', ''),
        line('op_gc_real', '`boxlite-gc`, deleting', '1', '')])
    return f'''### Against the operator's pipeline

`bench/operator-gc.sh` is the GC an operator would script:

```sh
find HOME/boxes HOME/bases -name '*.qcow2' -type f -print0 |
        xargs -0 -r -n1 qemu-img info -U --backing-chain --output=json |
        jq -r '.[].filename' | xargs -r -d '\\n' realpath -e -- | sort -u >pinned
find HOME/images/disk-images -maxdepth 1 -type f -name '*.ext4' -mmin +GRACE -print0 |
        xargs -0 -r realpath -e -- | sort >candidates
comm -23 candidates pinned >orphans
xargs -r -d '\\n' rm -f -- <orphans      # not with --dry-run
```

It takes a few milliseconds per overlay, so it runs on a home of
{n(o.boxes)} boxes ({n(o.walked)} overlays walked, {n(o.images)} disk-images), where
`boxlite-gc` runs too; the per-overlay figures are that home's time divided
by the overlays walked. On that home its dry run, `boxlite-gc --dry-run`
and the generator agree on the {n(o.orphans)} orphans, and its real run deleted
exactly them (checked as for `boxlite-gc`). It judges age by mtime alone
(`-mmin +1` here: the images are a day old), has no two-phase delete and
does not recheck before `rm` (see `docs/gc-safety.md` for why
`boxlite-gc` does).

| run | median wall | per overlay walked | vs `boxlite-gc` on the {n(o.boxes)}-box home | vs `boxlite-gc` on the {n(m.boxes)}-box home |
|---|---|---|---|---|
{rows}

The pipeline is serial (`xargs -n1`); with `xargs -P {cores}` it would at best
divide its time by the {cores} cores, which does not change the order of magnitude.
'''
