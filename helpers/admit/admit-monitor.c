/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* boxlite-admit --monitor and --release-reserve: the reports of the monitor's checks (monitor-check.h). */

#include <stdio.h>
#include <stdlib.h>

#include <json-c/json.h>

#include "admission-json.h"
#include "admit.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "monitor-check.h"
#include "monitor-metrics.h"
#include "parse-util.h"

static json_object *reserve_json(const Reserve *v) {
        json_object *o = json_object_new_object();

        json_add_string(o, "part", v->part);
        json_add_string(o, "path", v->path);
        json_object_object_add(o, "bytes", json_object_new_uint64(v->bytes));
        json_add_string(o, "state", reserve_state_to_string(v->state));
        if (v->problem)
                json_add_string(o, "problem", v->problem);
        return o;
}

static void print_json(const MonitorCheck *r, const char *metrics_file) {
        _cleanup_(json_object_putp) json_object *o = admit_judgement_to_json(&r->final);
        json_object *reserves = json_object_new_array();

        json_add_string(o, "home", r->o->home);
        json_add_string(o, "previous_verdict", monitor_previous_string(&r->previous));
        json_object_object_add(o, "changed", json_object_new_boolean(r->changed));
        json_add_string(o, "recorded", monitor_record_to_string(r->record));
        json_object_object_add(o, "step_bytes", json_object_new_uint64(r->step));
        if (r->previous.known)
                json_object_object_add(o, "previous_available_bytes",
                                       json_object_new_uint64(r->previous.recorded_available));
        if (r->n_reserves > 0)
                json_object_object_add(o, "reserve", reserve_json(&r->reserves[0]));
        else {
                json_object *v = json_object_new_object();

                json_add_string(v, "path", NULL);
                json_object_object_add(v, "bytes", json_object_new_uint64(0));
                json_add_string(v, "state", "absent");
                json_object_object_add(o, "reserve", v);
        }
        for (size_t i = 0; i < r->n_reserves; i++)
                json_object_array_add(reserves, reserve_json(&r->reserves[i]));
        json_object_object_add(o, "reserves", reserves);
        json_object_object_add(o, "reserve_released", json_object_new_boolean(r->released_now));
        json_object_object_add(o, "reserve_created", json_object_new_boolean(r->created_now));
        if (r->gc_ran) {
                json_object *gc = admit_gc_to_json(&r->first, r->gc_target_free, r->gc, r->gc_error);

                json_object_object_add(o, "gc", gc);
        }
        json_add_string(o, "state_directory", r->state_dir);
        json_add_string(o, "metrics_file", metrics_file);
        puts(json_object_to_json_string_ext(o, JSON_OUTPUT_PRETTY));
}

static void print_human(const MonitorCheck *r) {
        char a[FORMAT_BYTES_MAX], t[FORMAT_BYTES_MAX];

        printf("Verdict: %s (previously %s%s)\n", verdict_to_string(r->final.verdict), monitor_previous_string(&r->previous),
               r->changed ? ", changed" : "");
        if (r->final.readable)
                printf("  available: %s of %s\n", format_bytes(a, r->final.space.available_bytes),
                       format_bytes(t, r->final.space.total_bytes));
        printf("  reason: %s\n", strna(r->final.reason));
        if (r->gc)
                printf("  garbage collection: reclaimed %zu disk-image%s, %s\n", r->gc->n_reclaimed,
                       r->gc->n_reclaimed == 1 ? "" : "s", format_bytes(a, r->gc->reclaimed_allocated));
        for (size_t i = 0; i < r->n_reserves; i++)
                printf("  reserve %s: %s, %s%s%s\n", r->reserves[i].path, reserve_state_to_string(r->reserves[i].state),
                       format_bytes(a, r->reserves[i].bytes), r->reserves[i].problem ? "; " : "",
                       strempty(r->reserves[i].problem));
}

int admit_monitor(const AdmitMonitorOptions *a) {
        _cleanup_(monitor_check_done) MonitorCheck r = {};
        const char *metrics_file = a->options.metrics_file ?: a->options.config->monitor_metrics_file;
        int k;

        if (monitor_check(&a->options, &r) < 0)
                return log_oom(), EXIT_FAILURE;
        if (metrics_file) {
                k = monitor_write_metrics(&r, metrics_file);
                if (k < 0)
                        log_warning_errno(k, "Could not write the metrics file '%s', ignoring: %m", metrics_file);
        }
        if (a->json)
                print_json(&r, metrics_file);
        else if (!a->quiet && !log_journal_only())
                print_human(&r);
        return EXIT_SUCCESS;
}

int admit_release_reserve(const AdmitMonitorOptions *a) {
        const MonitorOptions *o = &a->options;
        _cleanup_(json_object_putp) json_object *list = json_object_new_array();
        Reserve *reserves = NULL;
        size_t n = 0;
        bool failed = false;
        char b[FORMAT_BYTES_MAX];
        int k;

        k = monitor_release_reserves(o, &reserves, &n, &failed);
        if (k == -ENOMEM)
                return log_oom(), EXIT_FAILURE;
        if (k < 0)
                return log_error_errno(k, "Cannot open the home '%s': %m", o->home), EXIT_FAILURE;

        for (size_t i = 0; i < n; i++) {
                if (reserves[i].released_now && !a->json && !a->quiet && !log_journal_only())
                        printf("Released %s (%s)\n", reserves[i].path, format_bytes(b, reserves[i].bytes));
                json_object_array_add(list, reserve_json(&reserves[i]));
        }
        if (a->json) {
                _cleanup_(json_object_putp) json_object *obj = json_object_new_object();

                json_add_string(obj, "home", o->home);
                json_object_object_add(obj, "reserves", json_object_get(list));
                puts(json_object_to_json_string_ext(obj, JSON_OUTPUT_PRETTY));
        }
        reserve_list_free(reserves, n);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
