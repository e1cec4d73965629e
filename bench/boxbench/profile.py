# SPDX-License-Identifier: LGPL-2.1-or-later
"""Section 7: where boxlite-gc's time goes (perf record -g, its samples only), and what is left to the floor."""

import collections
import os
import re
import subprocess

from . import fmt
from .util import say

# A libc wrapper's name -> the system call it makes (for a kernel stack without a __x64_sys_ frame).
WRAPPERS = (('getdents', 'getdents64'), ('fstatat', 'newfstatat'), ('pread', 'pread64'), ('openat', 'openat'),
            ('open64', 'openat'), ('renameat', 'renameat2'), ('unlinkat', 'unlinkat'), ('statx', 'statx'),
            ('close', 'close'), ('fcntl', 'fcntl'), ('write', 'write'), ('fsync', 'fsync'))
SYS_FRAME = re.compile(r'^(__x64_sys_|__do_sys_)')


def perf(bench, data, argv):
    """perf record of argv; False if perf cannot record here (no root, perf_event_paranoid)."""
    with open(os.path.join(bench.tmp, 'perf.err'), 'a') as err:
        return subprocess.run(['perf', 'record', '-q', '-e', 'cpu-clock', '-F', '4000', '-g', '-o', data, '--']
                              + [str(a) for a in argv], stdout=subprocess.DEVNULL, stderr=err).returncode == 0


def run(bench, m):
    say('7. profile (perf)')
    m.remake_orphans()
    dry, real = os.path.join(bench.tmp, 'perf-dry.data'), os.path.join(bench.tmp, 'perf-real.data')
    ok = perf(bench, dry, [bench.bexec, '--runs', '10', '--warmup', '0', '--'] + bench.gc_cmd(m.home, dry=True))
    if ok:
        # Deleting runs: the loop makes the orphans again between them; only boxlite-gc's samples are read.
        loop = '''for i in 1 2 3; do
                "$0" --base-template "$1/via-template.qcow2" --bases "$2" --via-base "$3" --orphans "$4" \\
                        --images-only "$1/disk-template.qcow2" "$1/home" "$5" "$6" >/dev/null
                sleep 1.1
                "$7" --jobs 1 --home "$1/home" --grace 1s >/dev/null 2>&1
        done'''
        ok = perf(bench, real, ['bash', '-c', loop, bench.gen, m.dir, m.bases, bench.via_pct, bench.orphan_pct,
                                m.boxes, m.boxes // 2, bench.gc])
        m.check_deleted()
    bench.val['perf'] = {'dry': summary(dry), 'real': summary(real)} if ok else None
    bench.note_load()


def classify(frames):
    """One sample's place: (kind, what). frames: (kernel?, symbol, object), innermost first."""
    if frames[0][0]:
        c = next((SYS_FRAME.sub('sys ', s) for k, s, _ in frames if k and SYS_FRAME.match(s)), None)
        if c is None and any(k and 'page_fault' in s for k, s, _ in frames):
            c = 'page faults'
        if c is None:
            user = next((s for k, s, _ in frames if not k), '')
            c = next(('sys ' + call for w, call in WRAPPERS if w in user), None)
        return 'kernel', c or 'other kernel work'
    dso = frames[0][2]
    for pat, what in (('boxlite-gc', 'boxlite-gc'), ('libc.so', 'libc'), ('ld-linux', 'ld.so (start-up)')):
        if pat in dso:
            return 'user', what
    return 'user', 'other'


def summary(data):
    """Shares of the samples by place, the kernel and user totals, and the top symbols by own time."""
    p = subprocess.run(['perf', 'script', '-i', data, '--comm', 'boxlite-gc', '-F', 'comm,ip,sym,dso'],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    n, frames = collections.Counter(), []
    for line in p.split('\n') + ['']:
        if not line.strip() or not line[0].isspace():
            # A sample's header or the blank line after its stack: the stack so far is one sample.
            if frames:
                n[classify(frames)] += 1
            frames = []
            continue
        w = line.split()
        if len(w) >= 2:
            frames.append((w[0].startswith('ffffffff'), w[1], w[-1]))
    total = sum(n.values()) or 1
    shares = {k: 100 * c / total for k, c in n.items()}
    rep = subprocess.run(['perf', 'report', '-i', data, '--comm', 'boxlite-gc', '--percentage', 'relative',
                          '--no-children', '--sort', 'sym', '-g', 'none', '--percent-limit', '0', '--stdio'],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    top = [line.split() for line in rep.splitlines() if re.match(r'^ +[0-9.]+%', line)]
    return {'shares': shares, 'top': top[:15],
            'kernel': sum(s for (k, _), s in shares.items() if k == 'kernel'),
            'user': sum(s for (k, _), s in shares.items() if k == 'user')}


def profile_text(bench, m):
    p = bench.val['perf']
    if p is None:
        err = open(os.path.join(bench.tmp, 'perf.err')).readline().strip()
        return f'Not profiled: `perf record` failed ({err}).\n'
    d, r = p['dry']['shares'], p['real']['shares']
    # By kind, then by share of the deleting run; rows under 0.1 % in both runs left out.
    keys = sorted(set(d) | set(r), key=lambda k: (k[0], -round(r.get(k, 0), 1)))
    rows = []
    for k in keys:
        # A place one run never was shows as 0, one it was as a share with one decimal.
        dv, rv = (f'{s[k]:.1f}' if k in s else '0' for s in (d, r))
        if float(dv) >= 0.1 or float(rv) >= 0.1:
            w = f'system call `{k[1][4:]}`' if k[1].startswith('sys ') else k[1]
            rows.append(f'| {k[0]}, {w} | {dv} % | {rv} % |')

    def top(run):
        return '\n'.join(f'| {t[0]} | `{" ".join(t[2:])}` {t[1]} |' for t in p[run]['top'])
    return f'''`perf record -e cpu-clock -F 4000 -g`, boxlite-gc's samples only: 10 dry
runs, and 3 deleting runs (orphans made again in between), on the
{fmt.num(m.boxes)}-box home.

Every sample once, by where it was: in the kernel, under which system call
(the `__x64_sys_` frame of its kernel stack, else the libc wrapper that
entered the kernel), in a page fault, or elsewhere; in user space, by object:

| where | dry run | deleting run |
|---|---|---|
{chr(10).join(rows)}
| **kernel, all** | **{p['dry']['kernel']:.0f} %** | **{p['real']['kernel']:.0f} %** |
| **user space, all** | **{p['dry']['user']:.0f} %** | **{p['real']['user']:.0f} %** |

Rows under 0.1 % in both runs are left out.

Top symbols by own time, dry run:

| share | symbol |
|---|---|
{top('dry')}

Top symbols by own time, deleting run:

| share | symbol |
|---|---|
{top('real')}
'''


def text(bench, m):
    v, r = bench.val, bench.r
    verdict = fmt.met(v['r_real'] <= 2).replace('*', '')
    return f'''## 7. Where the time goes

{profile_text(bench, m)}
**Dry run, and a real run with nothing to delete ({fmt.f(v['r_dry'])}x and {fmt.f(v['r_second'])}x of the
floor; target 2x):** met. Nearly all of the time is the kernel's: path
lookups, opening files, listing directories. What the GC does beyond the
floor is the extra system calls of section 6: the `fstat` of each overlay,
the proof of each directory, one resolution per distinct backing name (in a
directory of {fmt.num(m.images)} entries), and per orphan the lock query and
the log line. User space (header validation, chain bookkeeping, the pinned
set and the name cache, the log lines) is the small share above.

**Deleting run ({fmt.f(v['r_real'])}x of the floor with one worker; target 2x):** {verdict}.
The delete is two-phase (`docs/gc-safety.md`): the orphans are renamed
aside, the home is looked at again so that an image that became referenced
while the GC ran (a box started from it) is put back rather than lost, and
only then are the aside files unlinked. The second look is a recheck of the
first walk's log, one `fstatat` per directory and file it saw, with no
file opened or read again unless its times cannot prove it unchanged; on
this home at rest none is. Measured, the deleting run takes
{fmt.f(r('gc_real') / r('gc_dry'))} times the dry run; what it spends beyond one dry run,
{fmt.us(round(r('gc_real') - r('gc_dry')))} for {fmt.num(m.orphans)} orphans, is that recheck, the
`statx` before and after each rename, the `renameat2` and the `unlinkat`
(ext4 directory updates and freeing the inode: the `renameat2` and
`unlinkat` rows above), and the log lines.

**What is left between the GC and the floor.** In the kernel the GC does
what the floor does (list, open, read) plus a `stat` by name per distinct
backing image and the proof of each directory (one `fstat` when its walk
ends); the path lookups they cost (`__d_lookup_rcu`, the getattr path)
lead the kernel symbols; `getdents64` (listing {fmt.num(m.images)} disk-images and
two directories per box) and `openat` are as large as in the floor. In
user space libc (string and memory functions, malloc) and boxlite-gc's own
code (header checks, the pinned set, the name cache) are the user rows
above. Two workers take the walk and the recheck to two cores (the
round-by-round table); the image directory's scan, the renames and the
unlinks of a deleting run stay on one (they all change or list one
directory), which is what keeps the two-worker deleting run above half of
the one-worker one.
'''
