/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * boxlite-admit --serve: org.boxlite.Admission1 on the system (or session)
 * bus, on sd-event, exiting after idle_usec without calls.
 * admit_serve() returns 0 after an idle or signalled exit, or a negative
 * errno (already logged).
 */

#include <stdbool.h>
#include <stdint.h>

#include "admission.h"
#include "config.h"
#include "monitor-check.h"

typedef struct ServeOptions {
        const BoxliteConfig *config;
        const char *default_home;
        bool user;
        uint64_t idle_usec;
} ServeOptions;

int admit_serve(const ServeOptions *o);

/*
 * boxlite-admit --monitor and --release-reserve: one check or release
 * (monitor-check.h), the metrics textfile (monitor-metrics.h) and the
 * report (human, or JSON with json). They return
 * the exit status: 0 whatever the verdict, 1 when the check could not run or
 * a reserve could not be released.
 */
typedef struct AdmitMonitorOptions {
        MonitorOptions options;
        bool json;
        bool quiet;               /* no human report */
} AdmitMonitorOptions;

int admit_monitor(const AdmitMonitorOptions *o);
int admit_release_reserve(const AdmitMonitorOptions *o);
