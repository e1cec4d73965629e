# SPDX-License-Identifier: LGPL-2.1-or-later
"""Section 2, round by round (bench/gc-rounds.sh) and reports and plans of 100,000 entries (bench/gc-plan.sh)."""

import os

from . import fmt
from .util import kv, read_lines, remove_tree, run, say


def run_rounds(bench, m):
    say(f'2. round by round: floor, one worker and two ({bench.rounds} rounds)')
    # It checks each deleting run itself, and leaves the home with its orphans made again.
    out = os.path.join(bench.tmp, 'rounds')
    run([bench.script('gc-rounds.sh'), bench.build, m.dir, bench.rounds, out], what='gc-rounds.sh')
    # "summary NAME key=value...": one line per program.
    bench.val['rounds'] = {w[1]: kv(' '.join(w[2:])) for w in (line.split() for line in read_lines(out))
                           if w[0] == 'summary'}
    bench.note_load()


def run_plan(bench):
    say(f'2. reports and plans of 100,000 entries ({bench.plan_rounds} rounds)')
    d, out = os.path.join(bench.tmp, 'plan'), os.path.join(bench.tmp, 'plan.out')
    os.makedirs(d)
    run([bench.script('gc-plan.sh'), bench.build, d, bench.plan_rounds, out], what='gc-plan.sh')
    remove_tree(d)
    bench.val['plan'] = kv(open(out).read())
    bench.note_load()


def rs(bench, name, key):
    """A value of a gc-rounds.sh summary line, as the script wrote it."""
    v = bench.val['rounds'][name][key]
    return fmt.f(v) if key.startswith('ratio') and isinstance(v, float) else v


def core_free(bench, name):
    """The two-worker figure over the rounds that had a second core free."""
    c = bench.val['rounds'][name]['ratio_core_free']
    every = f"all rounds: {rs(bench, name, 'ratio')}x, {rs(bench, name, 'ratio_min')}-{rs(bench, name, 'ratio_max')}"
    if c == 'none':
        return f'no round had a second core free ({every})'
    n = bench.val['rounds'][name]
    return f"**{fmt.f(c)}x** (core free in {n['second_core_free']:.0f} of {n['n']:.0f} rounds; {every})"


def core_free_met(bench, name, limit):
    c = bench.val['rounds'][name]['ratio_core_free']
    return 'not measured' if c == 'none' else fmt.met(c <= limit)


def row(bench, name, label):
    s, us = bench.val['rounds'][name], fmt.us
    return (f"| {label} | {us(s['median_us'])} ({us(s['min_us'])}-{us(s['max_us'])}) | {us(s['floor_median_us'])} | "
            f"**{rs(bench, name, 'ratio')}x** ({rs(bench, name, 'ratio_min')}-{rs(bench, name, 'ratio_max')}) | "
            f"{s['second_core_free']:.0f} of {s['n']:.0f} | {rs(bench, name, 'ratio_core_free')} | {fmt.kib(s['rss_kib'])} |")


def text_rounds(bench, m):
    o = fmt.num(m.orphans)
    rows = '\n'.join([row(bench, 'dry1', '`--dry-run --jobs 1`'), row(bench, 'dry2', '`--dry-run --jobs 2`'),
                      row(bench, 'real1', f'deleting {o}, `--jobs 1`'), row(bench, 'real2', f'deleting {o}, `--jobs 2`')])
    return f'''### Round by round: one worker and two

`bench/gc-rounds.sh`, {bench.rounds} rounds on the same home. A round runs the
floor, the dry run with one worker and with two, then twice: the orphans
made again and left 2.2 s (past the grace and the walk's racy window, as a
home at rest), the floor, a deleting run (one worker, then two; checked:
exactly the orphans went). Each run's ratio is against the floor of its own
round; the table gives the median over the rounds with the range. "Second
core free" counts the runs during which the rest of the machine used less
than half a core (CPU time from `/proc/stat` beyond the program's own,
over its wall time); the next column is the median ratio over those runs.

| run | median wall (range) | floor, median | ratio to floor (range) | second core free | ratio, core free | peak RSS |
|---|---|---|---|---|---|---|
{rows}

The deleting run's second look is a recheck of what the first walk saw
(`docs/gc-safety.md`), not a second walk: it stats every directory and
overlay again and rereads only what its times cannot prove unchanged. Two
workers split `boxes/` between two threads, in the walk and in the
recheck; the image directory's scan, the renames and the unlinks stay on one.
'''


def text_plan(bench, m):
    p, us, kib = bench.val['plan'], fmt.us, fmt.kib
    return f'''### Reports and plans of 100,000 entries

`bench/gc-plan.sh`, {bench.plan_rounds} rounds, on a home of 10,000 boxes and 100,000
disk-images ({fmt.num(p['planned'])} of them orphans, so a report lists {fmt.num(p['entries'])} entries).
The plan is the dry run's `--json` report made right before it is applied.

| run | median wall | peak RSS | per entry |
|---|---|---|---|
| `--dry-run` | {us(p['dry_us'])} | {kib(p['dry_rss_kib'])} | {fmt.f(p['dry_rss_kib'] * 1024 / p['entries'], 0)} bytes |
| `--dry-run --json` | {us(p['json_us'])} | {kib(p['json_rss_kib'])} | **{p['json_bytes_per_entry']:.0f} bytes** |
| `--apply-plan` (deletes {fmt.num(p['planned'])}) | {us(p['apply_us'])} | {kib(p['apply_rss_kib'])} | |
| real run (deletes {fmt.num(p['planned'])}) | {us(p['real_us'])} | {kib(p['real_rss_kib'])} | |

The report is written entry by entry (no document is built in memory), so
`--json` costs what the dry run costs. The plan is matched by a binary
search on its sorted names: **{fmt.f(p['apply_ratio'])}x** the real run. What it adds
is reading the plan: json-c builds the whole {fmt.f(p['plan_bytes'] / 1048576, 1)} MiB document
as a tree (the peak RSS above) before the run starts, and frees it before the
lock is taken.
'''
