# SPDX-License-Identifier: LGPL-2.1-or-later
"""The synthetic homes (bench/gen-home) and the checks of a deleting run.

A home of N boxes lives in DIR/home, next to the qcow2 templates qemu-img
made (bench/templates.sh), the generator's counts (DIR/summary), the exact
list of its orphans (DIR/orphans) and the fixed random sample of overlays
that qemu-img is timed on (DIR/sample).
"""

import json
import os
import subprocess
import time

from . import measure
from .util import count_files, die, output, read_lines, remove_tree, run


class Home:
    def __init__(self, bench, name, boxes):
        self.bench, self.boxes = bench, boxes
        self.dir = os.path.join(bench.tmp, name)
        self.home = os.path.join(self.dir, 'home')
        self.bases = max(boxes // 100, 1)
        os.makedirs(self.dir, exist_ok=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def gen(self, *extra):
        """bench/gen-home on this home with the benchmarks' mix; its counts go to DIR/summary."""
        b = self.bench
        with open(self.path('summary'), 'w') as out:
            run([b.gen, '--base-template', self.path('via-template.qcow2'), '--bases', self.bases,
                 '--via-base', b.via_pct, '--orphans', b.orphan_pct, '--orphan-list', self.path('orphans'),
                 '--sample', b.sample_size, '--sample-list', self.path('sample'), '--seed', '42', *extra,
                 self.path('disk-template.qcow2'), self.home, self.boxes, self.boxes // 2],
                what='gen-home', stdout=out)

    def settle(self):
        """The disk-images' ctime is new: let them age past the 1 s grace the runs use, then warm the cache."""
        time.sleep(1.1)
        run([self.bench.floor, self.home], what='gc-floor')

    def make(self):
        """Templates made by qemu-img, then the home; a sample checked with qemu-img."""
        run(['bash', '-c', '. "$0" && make_templates "$1"', self.bench.script('templates.sh'), self.dir],
            what='make_templates')
        t0 = time.monotonic()
        self.gen()
        run(['sync', '-f', self.home])
        self.gen_s = time.monotonic() - t0
        self.du_kib = int(output(['du', '-sk', self.home]).split()[0])
        orphans = sorted(read_lines(self.path('orphans')))
        with open(self.path('orphans'), 'w') as f:
            f.writelines(p + '\n' for p in orphans)
        words = open(self.path('summary')).read().split()
        c = dict(zip(words[0::2], (int(x) for x in words[1::2])))
        self.overlays, self.nbases, self.via = c['overlays'], c['bases'], c['via-base']
        self.images, self.orphans = c['images'], c['orphans']
        self.walked = self.overlays + self.nbases  # overlays walked: the boxes' and the bases

        # The headers are qemu-img's own: check a sample with it, through a base and directly.
        last = f'{self.home}/boxes/box-{self.boxes - 1}/disks'
        for p in (f'{self.home}/boxes/box-0/disks/disk.qcow2', f'{last}/disk.qcow2',
                  f'{last}/guest-rootfs.qcow2', f'{self.home}/bases/base-{self.nbases - 1:016x}.qcow2'):
            run(['qemu-img', 'check', '-q', p], what=f'qemu-img check {p}')
        chain = json.loads(output(['qemu-img', 'info', '-U', '--backing-chain', '--output=json',
                                   f'{self.home}/boxes/box-0/disks/disk.qcow2']))
        if len(chain) != 3:
            die('box-0 does not back onto a base and a disk-image')
        self.settle()
        return self

    def orphan_list(self):
        return read_lines(self.path('orphans'))

    def remake_orphans(self):
        """Makes the orphans again (a real run deleted them) and lets them age past the grace."""
        self.gen('--images-only')
        self.settle()

    def check_deleted(self):
        """After a real run: every orphan gone, every other disk-image still there."""
        left = count_files(os.path.join(self.home, 'images', 'disk-images'), '.ext4')
        if left != self.images - self.orphans:
            die(f'{left} disk-images left, expected {self.images - self.orphans}')
        survived = [p for p in self.orphan_list() if os.path.exists(p)]
        if survived:
            die(f'{len(survived)} orphans survived a real run')

    def real_runs(self, name, n):
        """n deleting runs of boxlite-gc, each on fresh orphans, each checked."""
        s = []
        for _ in range(n):
            self.remake_orphans()
            s += measure.samples(self.bench, self.bench.gc_cmd(self.home), what=name)
            self.check_deleted()
        self.bench.res[name] = measure.stats(s)

    def gc_dry_list(self):
        """What boxlite-gc --dry-run --json would reclaim, sorted."""
        rep = json.loads(output(self.bench.gc_cmd(self.home, '--json', dry=True),
                                stderr=subprocess.DEVNULL))
        return sorted(e['path'] for e in rep['reclaimed'])

    def remove(self):
        remove_tree(self.home)
