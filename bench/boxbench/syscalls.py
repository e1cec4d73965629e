# SPDX-License-Identifier: LGPL-2.1-or-later
"""Section 6: system calls, counted with strace -c -f and split into phases with strace -f -y."""

import collections
import os
import re
import subprocess

from . import fmt
from .home import Home
from .util import die, read_lines, say


def strace_count(bench, name, argv):
    """Calls per system call of one run (strace -c -f); 'total' is the sum."""
    log = os.path.join(bench.tmp, name + '.strace')
    r = subprocess.run(['strace', '-f', '-c', '-o', log] + [str(a) for a in argv],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        die(f'{name}: traced run failed')
    calls = {}
    for line in read_lines(log):
        w = line.split()
        # "% time seconds usecs/call calls [errors] syscall": the calls are the fourth column.
        if len(w) >= 5 and w[3].isdigit():
            calls[w[-1]] = int(w[3])
    bench.val.setdefault('strace', {})[name] = calls


BOXES = re.compile(r'/boxes')
WALKED = re.compile(r'/boxes|/bases')
IMAGES_LISTED = re.compile(r'disk-images>, "\."|"images/disk-images"')


def phases(log):
    """Counts per (phase, syscall) of a strace -f -y log. The walk runs from the first line that
    touches boxes/ to the last that touches boxes/ or bases/, and on until the disk-image directory
    is listed; the image phase is the rest."""
    lines = read_lines(log)
    first = next((i for i, s in enumerate(lines) if BOXES.search(s)), -1)
    last = max((i for i, s in enumerate(lines) if WALKED.search(s)), default=-1)
    end = next((i - 1 for i in range(last + 1, len(lines)) if IMAGES_LISTED.search(lines[i])), last)
    n = collections.Counter()
    for i, s in enumerate(lines):
        w = s.split()
        if len(w) < 2:
            continue
        name = w[1].split('(')[0]
        if name.startswith('<') or name in ('+++', '---'):
            continue
        n[('startup' if i < first else 'walk' if i <= end else 'images', name)] += 1
    return n


def trace_phases(bench, name, argv):
    log = os.path.join(bench.tmp, name + '.log')
    subprocess.run(['strace', '-f', '-y', '-o', log] + [str(a) for a in argv],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bench.val.setdefault('phases', {})[name] = phases(log)
    os.unlink(log)


def run(bench, o):
    say('6. system calls (strace -c -f)')
    o.remake_orphans()
    strace_count(bench, 'floor', [bench.floor, o.home])
    strace_count(bench, 'dry', bench.gc_cmd(o.home, dry=True))
    strace_count(bench, 'real', bench.gc_cmd(o.home))
    o.check_deleted()
    strace_count(bench, 'second', bench.gc_cmd(o.home))
    strace_count(bench, 'cw', [bench.chainwalk, '--json', '--home', o.home])
    sample20 = o.path('sample20')
    with open(sample20, 'w') as f:
        f.writelines(p + '\n' for p in read_lines(o.path('sample'))[:20])
    strace_count(bench, 'qemu', [bench.bexec, '--runs', '1', '--warmup', '0', '--each', sample20, '--',
                                 'qemu-img', 'info', '-U', '--backing-chain', '--output=json', '{}'])
    # Which system calls go to walking overlays and which to disk-images (strace -y names each fd).
    o.remake_orphans()
    trace_phases(bench, 'floor', [bench.floor, o.home])
    trace_phases(bench, 'dry', bench.gc_cmd(o.home, dry=True))

    # The operator's pipeline under strace, on a home of 50 boxes.
    s = Home(bench, 'small', 50).make()
    bench.val['s_walked'] = s.walked
    strace_count(bench, 'op', [bench.script('operator-gc.sh'), '--dry-run', '--grace-min', '1', s.home])
    s.remove()


def ph_rows(bench, phase, div):
    """One row per system call of the phase that either program makes at least 0.005 times per item."""
    fl, gc = bench.val['phases']['floor'], bench.val['phases']['dry']
    names = sorted({s for p, s in list(fl) + list(gc) if p == phase})
    rows = [f'| `{s}` | {fmt.f(fl[(phase, s)] / div)} | {fmt.f(gc[(phase, s)] / div)} |' for s in names
            if fl[(phase, s)] / div >= 0.005 or gc[(phase, s)] / div >= 0.005]
    total = [sum(c for (p, _), c in t.items() if p == phase) / div for t in (fl, gc)]
    return '\n'.join(rows + [f'| **all** | **{fmt.f(total[0])}** | **{fmt.f(total[1])}** |'])


def text(bench, o):
    st, n = bench.val['strace'], fmt.num
    # 3 per file read, 1 per disk-image, 4 per directory: boxes/, bases/, disk-images/, and two per box.
    min_calls = 3 * o.walked + o.images + 4 * (2 * o.boxes + 3)

    def row(label, name, div, note=''):
        return f"| {label} | {n(st[name]['total'])} | {fmt.f(st[name]['total'] / div)}{note} |"
    rows = '\n'.join([
        f'| minimum the job needs (see below): 3 per overlay or base, 1 per disk-image, 4 per directory | '
        f'{n(min_calls)} | {fmt.f(min_calls / o.walked)} |',
        row('floor', 'floor', o.walked),
        row('`boxlite-gc --dry-run`', 'dry', o.walked),
        row(f'`boxlite-gc`, deleting {n(o.orphans)}', 'real', o.walked),
        row('`boxlite-gc`, nothing to delete', 'second', o.walked),
        row('`boxlite-chainwalk --json --home`', 'cw', o.overlays, ' (per overlay in boxes)'),
        row('`qemu-img info -U --backing-chain`, 20 sample overlays, one process each', 'qemu', 20),
        row('`operator-gc.sh --dry-run` on a home of 50 boxes', 'op', bench.val['s_walked'])])
    return f'''## 6. System calls

`strace -c -f`, one run each, on the {n(o.boxes)}-box home ({n(o.walked)} overlays walked,
{n(o.images)} disk-images, {n(o.orphans)} orphans; the counts per overlay do not depend on the
size of the home, the time strace takes does):

| program | system calls | per overlay walked, everything included |
|---|---|---|
{rows}

The deleting run adds, per orphan, its move aside and its unlink:
{n(st['real'].get('renameat2', 0))} `renameat2` and {n(st['real'].get('unlinkat', 0))} `unlinkat`, and the recheck of what the walk saw (an `openat(O_PATH)` and an `fstat` per
directory, an `fstatat` per overlay and per layer reached by name).

Split per overlay and per disk-image with `strace -f -y` (which names every
file descriptor) on the same home: the walk phase runs from the first
call that touches `boxes/` until the disk-image directory is listed, the
image phase from there to the exit. Divided by the {n(o.walked)} overlays walked
and the {n(o.images)} disk-images ({n(o.orphans)} orphans):

| per overlay walked (directory listings included) | floor | `boxlite-gc --dry-run` |
|---|---|---|
{ph_rows(bench, 'walk', o.walked)}

| per disk-image | floor | `boxlite-gc --dry-run` |
|---|---|---|
{ph_rows(bench, 'images', o.images)}

The minimum the job needs: per overlay, `openat`, `pread64`, `close` to
read its header (3), plus its share of the directory listings (`openat`,
`getdents64` until it returns 0, `close`: 4 per directory, two
directories per box, so 4 per overlay): **7 per overlay**; per disk-image,
one `stat` (**1**), plus its share of one listing. The floor program does
exactly that. `boxlite-gc` adds per overlay an `fstat` of the open file (its
type, so a FIFO or device cannot pass for an image; its size, for the bounds
checks; its identity, which pins a hard-linked alias) and the proof of its
directory (one `fstat` when the directory's walk ends: two directories per
box, so about one per overlay). Each distinct backing name is resolved once
per walk (opened, `fstat`ed, read if it is a qcow layer: the pinned set is
compared by device and inode, not by name), and a chain that reaches a base
already resolved ends there: the rest of its chain is pinned. Per disk-image it
adds, for an orphan only, `openat` + `fcntl(F_OFD_GETLK)` + `close` (is a
running QEMU holding it?) and one `write` (its log line).
'''
