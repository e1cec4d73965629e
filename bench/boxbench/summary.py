# SPDX-License-Identifier: LGPL-2.1-or-later
"""The summary of the targets and the table of the homes, at the head of the report."""

from . import fmt
from .gcrounds import core_free, core_free_met, rs


def text(bench, homes):
    v, r, n, kib, met = bench.val, bench.r, fmt.num, fmt.kib, fmt.met
    o, m, b = homes
    dry1 = bench.val['rounds']['dry1']
    rss_total_b = round(dry1['rss_kib'] * 1024 / m.walked)
    rss_own_b = round((dry1['rss_kib'] - r('gc_empty', 'median_rss_kib')) * 1024 / m.walked)
    p = bench.val['plan']
    ratio = {k: bench.val['rounds'][k]['ratio'] for k in ('dry1', 'real1')}

    def rng(k):
        return f"({rs(bench, k, 'ratio_min')}-{rs(bench, k, 'ratio_max')})"
    slope, _, dry_r2 = v['dry_fit']
    dryrss_r2 = v['dryrss_fit'][2]
    dbo = v['dry_b_per_overlay']
    rcw = fmt.f(v['ratio_cw'], 0)
    rod, ror = fmt.f(v['r_op_dry'], 0), fmt.f(v['r_op_real'], 0)
    homes_rows = '\n'.join(
        f'| {n(h.boxes)} | {n(h.overlays)} | {n(h.nbases)} | {n(h.via)} | {n(h.images)} | {n(h.orphans)} | '
        f'{kib(h.du_kib)} | {h.gen_s:.2f} s |' for h in homes)
    return f'''## Summary

Round by round (section 2, {bench.rounds} rounds; each ratio against the floor measured in the same round):

| target | measured | |
|---|---|---|
| dry run, {n(m.boxes)} boxes, one worker: at most 1.3x the floor | **{rs(bench, 'dry1', 'ratio')}x** {rng('dry1')} | {met(ratio['dry1'] <= 1.3)} |
| the same, two workers, second core free: at most 1.0x | {core_free(bench, 'dry2')} | {core_free_met(bench, 'dry2', 1.0)} |
| real run deleting {n(m.orphans)}, one worker: at most 2.1x | **{rs(bench, 'real1', 'ratio')}x** {rng('real1')} | {met(ratio['real1'] <= 2.1)} |
| the same, two workers, second core free: at most 1.5x | {core_free(bench, 'real2')} | {core_free_met(bench, 'real2', 1.5)} |
| peak RSS at most 250 bytes per overlay walked (dry run, one worker) | **{n(rss_total_b)} bytes** of peak RSS per overlay ({kib(dry1['rss_kib'])} for {n(m.walked)}); {n(rss_own_b)} bytes beyond the program's own {kib(r('gc_empty', 'median_rss_kib'))} on an empty home | {met(rss_total_b <= 250)} |
| `--json` with {n(p['entries'])} entries: at most 500 bytes per entry | **{p['json_bytes_per_entry']:.0f} bytes** ({kib(p['json_rss_kib'])} peak) | {met(p['json_bytes_per_entry'] <= 500)} |
| `--apply-plan` of {n(p['planned'])} images: at most 1.2x a real run of the same home | **{fmt.f(p['apply_ratio'])}x** ({fmt.us(p['apply_us'])} against {fmt.us(p['real_us'])}) | {met(p['apply_ratio'] <= 1.2)} |

Other targets (repeated runs in interleaved rounds, one worker):

| target | measured | |
|---|---|---|
| chain walking at least 100x faster per overlay than `qemu-img info --backing-chain` | **{rcw}x** ({fmt.us(v['cw_home_per'])} against {fmt.us(v['qemu_per'])} per overlay) | {met(v['ratio_cw'] >= 100)} |
| GC pass on {n(m.boxes)} boxes within 2x of the header-read floor: dry run | **{fmt.f(v['r_dry'])}x** | {met(v['r_dry'] <= 2)} |
| the same, real run with nothing to delete | **{fmt.f(v['r_second'])}x** | {met(v['r_second'] <= 2)} |
| the same, real run deleting {n(m.orphans)} orphans (a walk and a recheck) | **{fmt.f(v['r_real'])}x** | {met(v['r_real'] <= 2)}, see [7](#7-where-the-time-goes) |
| GC at least 50x faster than the operator's `find \\| qemu-img info \\| rm` pipeline, per overlay | **{rod}x** dry run, **{ror}x** real run | {met(v['r_op_dry'] >= 50 and v['r_op_real'] >= 50)} |
| memory linear in overlays and images, small constant | {n(dbo)} bytes per overlay walked (dry run, R² {dryrss_r2:.5f}); at most {n(v['b_per_image'])} bytes per disk-image | {met(dryrss_r2 >= 0.99 and dbo < 1024)} |
| GC time linear in the home | {slope:.2f} µs per overlay walked (dry run, R² {dry_r2:.5f}) | {met(dry_r2 >= 0.99)} |

## The homes

`bench/gen-home` writes a home in seconds. Every overlay is a byte copy of
a template that `qemu-img create` made (cluster size 512, so a file is
1,792 bytes), with only the variable part of the backing name changed, so
each header is exactly what qemu-img writes; `qemu-img check` passes on a
sample of every home, and for each of the {v['agree']} overlays of the main home's
sample `qemu-img info --backing-chain` and `boxlite-chainwalk --json` list
the same layers. Per home of N boxes:

- N boxes, each with `disks/disk.qcow2` and `disks/guest-rootfs.qcow2`;
- N/100 bases `bases/base-<n>.qcow2`, each a qcow2 backing onto a disk-image;
  the `disk.qcow2` of {bench.via_pct} % of the boxes backs onto a base, so their chain is
  overlay -> base -> disk-image, the others' overlay -> disk-image;
- N/2 disk-images (sparse 1 MiB `*.ext4`, mtime a day back), {bench.orphan_pct} % of them orphans
  (no chain references them; the generator writes the exact list, and every
  real run below is checked against it: all orphans gone, all others kept).

| boxes | overlays (boxes) | bases | chains through a base | disk-images | orphans | on disk | generated in |
|---|---|---|---|---|---|---|---|
{homes_rows}

Timings use `bench/bench-exec`, which starts the program directly
(`posix_spawn`, no shell), takes the wall time from spawn to reaping and
the peak RSS and CPU times from `wait4()`; output goes to `/dev/null`
(the GC's log lines included: `BOXLITE_LOG_TARGET=stderr`, so no journal
write is timed). Each measurement starts with a warm-up run, and programs
compared with each other run in interleaved rounds (one run of each in turn).
'''
