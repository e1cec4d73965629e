# SPDX-License-Identifier: LGPL-2.1-or-later
"""The benchmarks of boxlite-host, driven by bench/run.py.

One module a concern: config (what a run measures, the programs' paths),
util (processes, logging, the machine's load), fmt (figures for people),
measure (bench/bench-exec runs, interleaved rounds, statistics), home (the
synthetic homes), one module per section of the report, and report (the
page around them, written to docs/BENCHMARKS.md).
"""
