/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * boxlite-admit --monitor and --release-reserve (DESIGN.md section 10).
 *
 * admit_monitor() is one pressure check of a home: judge it as admission
 * does, collect under pressure, keep or release the reserve, record an entry
 * only on a change (or a further fall of a step), emit PressureChanged on a
 * change, write the metrics textfile. It watches and never gates: it returns
 * the exit status, 0 whatever the verdict, 1 only when it could not run.
 *
 * admit_release_reserve() unlinks every reserve of the home at once and
 * returns the exit status (1 when one could not be released).
 */

#include <stdbool.h>

#include "config.h"

typedef struct MonitorOptions {
        const BoxliteConfig *config;
        const char *home;
        const char *metrics_file; /* overrides [Monitor] MetricsFile= */
        bool json;
        bool quiet;               /* no human report */
        bool no_bus;
        bool user_bus;            /* the session bus: --user, or when not run as root */
} MonitorOptions;

int admit_monitor(const MonitorOptions *o);
int admit_release_reserve(const MonitorOptions *o);
