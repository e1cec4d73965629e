/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The pressure monitor (DESIGN.md section 10), for boxlite-admit --monitor
 * and --release-reserve, which print what these return.
 *
 * monitor_check() is one pressure check of a home: judge it as admission
 * does, collect under pressure, keep or release the reserve, record an entry
 * only on a change (or a further fall of a step), emit PressureChanged on a
 * change; its metrics are written by monitor_write_metrics(). It watches and
 * never gates: 0 whatever the verdict, a negative errno (-ENOMEM) only when
 * it could not run.
 *
 * monitor_release_reserves() unlinks every reserve of the home at once,
 * logs each, and remembers the release in the monitor's state.
 */

#include <stdbool.h>

#include "admission.h"
#include "config.h"
#include "gc.h"
#include "monitor.h"
#include "reserve.h"

typedef struct MonitorOptions {
        const BoxliteConfig *config;
        const char *home;
        const char *metrics_file; /* overrides [Monitor] MetricsFile= */
        bool no_bus;
        bool user_bus;            /* the session bus: --user, or when not run as root */
} MonitorOptions;

typedef struct MonitorCheck {
        const MonitorOptions *o;
        const AdmitLimits *limits;
        MonitorState previous;
        MonitorState next;
        Judgement first;
        Judgement final;
        bool gc_ran;
        uint64_t gc_target_free;
        GcResult *gc;
        int gc_error;
        Reserve *reserves;
        size_t n_reserves;
        bool released_now;
        bool created_now;
        MonitorRecord record;
        bool changed;
        uint64_t step;
        uint64_t fell_bytes;
        uint64_t now_usec;
        char *state_dir;
} MonitorCheck;

int monitor_check(const MonitorOptions *o, MonitorCheck *ret);
void monitor_check_done(MonitorCheck *c);

/* "ok", "warn", "reject", or "unknown" without a previous state. */
const char *monitor_previous_string(const MonitorState *s);

/* *ret_failed: a reserve could not be released (logged). Reserve.released_now: this call released it. */
int monitor_release_reserves(const MonitorOptions *o, Reserve **ret, size_t *ret_n, bool *ret_failed);
