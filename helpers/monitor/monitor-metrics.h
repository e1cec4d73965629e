/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The textfile of one check, for node_exporter's textfile collector, written
 * atomically (temporary file, fsync, rename, fsync of the directory): the
 * free space of each part, the verdict, the reserve, and per-box allocated
 * bytes for the [Monitor] MetricsTopBoxes= largest boxes (the rest summed in
 * box="_other"; totals exact), from the same walk as the GC.
 */

#include "monitor-check.h"

int monitor_write_metrics(const MonitorCheck *c, const char *path);
