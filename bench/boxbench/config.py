# SPDX-License-Identifier: LGPL-2.1-or-later
"""What a run measures (sizes, runs, rounds) and the state it shares between sections."""

import os

# The programs a run times, by attribute: their paths in the build directory.
PROGRAMS = {
    'gen': 'bench/gen-home', 'floor': 'bench/gc-floor', 'bexec': 'bench/bench-exec',
    'reader': 'bench/reader-bench', 'admit_floor': 'bench/admit-floor',
    'chainwalk': 'helpers/chainwalk/boxlite-chainwalk', 'gc': 'helpers/gc/boxlite-gc',
    'admit': 'helpers/admit/boxlite-admit',
}


class Bench:
    """One run: its settings, the programs it times, and every result by name.

    Sections store what they measure in res (bench-exec statistics, keyed by
    the name of the measurement) and val (anything else: counts, tables,
    texts), and read them back when the report is written.
    """

    def __init__(self, src, build, report, tmp):
        self.src, self.build, self.report, self.tmp = src, build, report, tmp
        for attr, path in PROGRAMS.items():
            setattr(self, attr, os.path.join(build, path))
        self.quick = bool(os.environ.get('BOXLITE_BENCH_QUICK'))
        # The growth series; the first home also runs the operator's pipeline
        # (milliseconds per overlay), the second is the home of all other comparisons.
        self.sizes = (1000, 10000, 50000)
        self.sample_size = 200  # overlays qemu-img info is timed on
        self.orphan_pct = 50    # share of disk-images nothing references
        self.via_pct = 20       # share of boxes whose disk.qcow2 backs onto a base
        self.runs = 21          # measured rounds of a sub-second program
        self.real_runs = 5      # deleting runs (each needs its orphans made again first)
        self.rounds = 7         # rounds of bench/gc-rounds.sh (floor and GC, one worker and two)
        self.plan_rounds = 3    # rounds of bench/gc-plan.sh (100,000-entry reports and plans)
        self.views_boxes, self.views_runs = 10000, 7  # bench/chainwalk-views.sh
        if self.quick:
            # A trial of the driver itself in a few minutes; its figures are not the benchmark's.
            self.sizes = (100, 400, 1000)
            self.sample_size, self.runs, self.real_runs, self.rounds, self.plan_rounds = 20, 3, 2, 2, 1
            self.views_boxes, self.views_runs = 400, 2
        self.op_boxes, self.main_boxes, self.big_boxes = self.sizes
        self.res = {}
        self.val = {}
        self.loads = []

    def script(self, name):
        return os.path.join(self.src, 'bench', name)

    def gc_cmd(self, home, *args, dry=False):
        """boxlite-gc with one worker and the 1 s grace every run here uses."""
        return [self.gc, '--jobs', '1', '--home', home] + (['--dry-run'] if dry else []) + \
            ['--grace', '1s'] + list(args)

    def note_load(self):
        """The 1-minute load average now: the report gives their range during the run."""
        with open('/proc/loadavg') as f:
            self.loads.append(float(f.read().split()[0]))

    def r(self, name, key='median_us'):
        """A statistic of a measurement."""
        return self.res[name][key]
