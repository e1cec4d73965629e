/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One check of the pressure monitor (DESIGN.md section 10); see monitor-check.h.
 *
 * Reserve hysteresis. The reserve is used space, so creating it lowers the
 * available bytes by its size, and releasing it raises them. Released at
 * reject, it could be created again at once and push the home back to
 * reject, a minute later released again: a flapping reserve. So a reserve is
 * created only where its filesystem has at least twice its size available
 * and would still not be at reject with it; and once the monitor has
 * released it, only where that filesystem would judge ok with it in place.
 * Between release and re-creation lies the whole warn band.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admission.h"
#include "monitor-check.h"
#include "bus-util.h"
#include "gc.h"
#include "log.h"
#include "macro.h"
#include "message-ids.h"
#include "monitor.h"
#include "parse-util.h"
#include "reserve.h"
#include "state-file.h"
#include "usage.h"


void monitor_check_done(MonitorCheck *r) {
        judgement_done(&r->first);
        judgement_done(&r->final);
        gc_result_free(r->gc);
        reserve_list_free(r->reserves, r->n_reserves);
        free(r->state_dir);
}

/* The monitor keeps watching without its state; an unsafe directory is named with what is wrong with it. */
static void log_state_save_failed(int error, const char *dir) {
        _cleanup_free_ char *problem = error == -EPERM ? state_dir_problem(dir) : NULL;

        if (problem)
                log_warning("Refusing the monitor state directory %s. Until it is fixed or [Monitor] "
                            "StateDirectory= names another, each check starts from an unknown verdict, ignoring.",
                            problem);
        else
                log_warning_errno(error, "Could not save the monitor state in '%s', ignoring: %m", dir);
}

static uint64_t now_realtime_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/*
 * The one place the monitor judges a home, with admission's classify() and
 * configuration and no box. When admission judges every filesystem of a home
 * (home, boxes/, images/), this is the call to switch.
 */
static int monitor_judge(const MonitorCheck *r, Judgement *ret) {
        return admission_judge(r->limits, r->o->home, r->o->config->probe_timeout_usec, ret);
}

static int judge_again(MonitorCheck *r) {
        judgement_done(&r->final);
        return monitor_judge(r, &r->final);
}

static void sync_dir(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);

        if (fd >= 0)
                (void) syncfs(fd);
}

static bool bytes_short(AdmitLimit l) {
        return l == ADMIT_LIMIT_HARD_FLOOR || l == ADMIT_LIMIT_SOFT_FLOOR || l == ADMIT_LIMIT_SOFT_PERCENT;
}

/* Under pressure: collect toward what makes the home ok, grace kept, least recently used first. */
static int collect(MonitorCheck *r) {
        GcOptions g = {
                .home = r->o->home,
                .grace_usec = r->o->config->gc_grace_usec,
                .jobs = (unsigned) r->o->config->gc_jobs,
                .allow_no_boxes = r->o->config->gc_allow_no_boxes,
                /* A run already collecting is the relief we would bring; do not queue behind it for long. */
                .lock_timeout_usec = UINT64_C(5) * 1000000,
        };
        _cleanup_free_ char *images = NULL;
        int k;

        if (bytes_short(r->final.limit))
                g.target_free = classify_ok_bytes(r->limits, r->final.space.total_bytes);
        gc_options_from_env(&g);
        r->gc_target_free = g.target_free;
        r->gc_ran = true;
        r->first = r->final;
        r->final = (Judgement) {};
        if (asprintf(&images, "%s/images", r->o->home) < 0)
                return log_oom();
        /* Bounded as under the admission gate: a hung mount costs a check GcTimeoutSec= at most. */
        k = admission_gc_run_bounded(&g, images, r->o->config->gc_timeout_usec ?: ADMIT_GC_TIMEOUT_DEFAULT_USEC,
                                     &r->gc);
        if (k < 0)
                r->gc_error = k;
        if (r->gc) {
                gc_result_log(r->gc);
                if (r->gc->n_reclaimed > 0)
                        sync_dir(r->o->home);
        } else
                log_warning_errno(r->gc_error, "Garbage collection of '%s' could not run, ignoring: %m", r->o->home);
        return judge_again(r);
}

static void log_reserve(const MonitorCheck *r, const Reserve *v, bool released, int error) {
        _cleanup_free_ char *f0 = NULL, *f1 = NULL, *f2 = NULL, *f3 = NULL, *f4 = NULL;
        char *f[] = {
                LOG_FIELD(f0, "BOXLITE_HOME=%s", r->o->home),
                LOG_FIELD(f1, "BOXLITE_RESERVE=%s", v->path),
                LOG_FIELD(f2, "BOXLITE_RESERVE_PART=%s", v->part),
                LOG_FIELD(f3, "BOXLITE_RESERVE_BYTES=%" PRIu64, v->bytes),
                LOG_FIELD(f4, "BOXLITE_VERDICT=%s", verdict_to_string(r->final.verdict)),
        };
        char b[FORMAT_BYTES_MAX];

        if (error < 0) {
                log_warning_errno(error, "Could not %s the reserve '%s', ignoring: %m",
                                  released ? "release" : "create", v->path);
                return;
        }
        if (released)
                (void) log_struct_fields(LOG_WARNING, BOXLITE_MESSAGE_RESERVE_RELEASED_STR, f, ELEMENTSOF(f),
                                         "Released the reserve '%s' (%s) on '%s': the home is at %s",
                                         v->path, format_bytes(b, v->bytes), r->o->home,
                                         verdict_to_string(r->final.verdict));
        else
                (void) log_struct_fields(LOG_INFO, BOXLITE_MESSAGE_RESERVE_CREATED_STR, f, ELEMENTSOF(f),
                                         "Created the reserve '%s' (%s) on '%s'", v->path,
                                         format_bytes(b, v->bytes), r->o->home);
}

static void release_all(MonitorCheck *r) {
        for (size_t i = 0; i < r->n_reserves; i++) {
                Reserve *v = &r->reserves[i];
                int k;

                if (v->state != RESERVE_HELD)
                        continue;
                k = reserve_release(v);
                log_reserve(r, v, true, k);
                if (k >= 0)
                        r->released_now = true;
        }
}

static void create_where_room(MonitorCheck *r) {
        uint64_t size = r->o->config->monitor_reserve_size;

        for (size_t i = 0; i < r->n_reserves; i++) {
                Reserve *v = &r->reserves[i];
                SpaceInfo s, with;
                Verdict w;
                int k;

                if (v->state == RESERVE_HELD && v->bytes >= size)
                        continue;
                if (v->state == RESERVE_FOREIGN) {
                        log_warning("%s", v->problem);
                        continue;
                }
                if (space_probe(v->dir, r->o->config->probe_timeout_usec, &s) < 0)
                        continue;
                /* A short reserve of ours is counted as free: replacing it frees its blocks first. */
                if (v->state == RESERVE_HELD)
                        s.available_bytes += v->bytes;
                if (s.available_bytes / 2 < size)
                        continue;
                with = s;
                with.available_bytes -= size;
                w = classify(r->limits, &with, NULL);
                if (w == VERDICT_REJECT || (r->previous.reserve_released && w != VERDICT_OK))
                        continue;
                k = reserve_create(v, size);
                log_reserve(r, v, false, k);
                if (k >= 0)
                        r->created_now = true;
        }
}

static void handle_reserve(MonitorCheck *r) {
        uint64_t size = r->o->config->monitor_reserve_size;
        bool all_held = true;

        for (size_t i = 0; i < r->n_reserves; i++)
                if (r->previous.reserve_released && r->reserves[i].state == RESERVE_ABSENT)
                        r->reserves[i].state = RESERVE_RELEASED;

        if (r->final.verdict == VERDICT_REJECT) {
                release_all(r);
                if (r->released_now) {
                        sync_dir(r->o->home);
                        (void) judge_again(r);
                }
        } else if (size > 0 && r->final.readable) {
                create_where_room(r);
                if (r->created_now)
                        (void) judge_again(r);
        }

        for (size_t i = 0; i < r->n_reserves; i++)
                if (r->reserves[i].state != RESERVE_HELD)
                        all_held = false;
        r->next.reserve_released = r->released_now || (r->previous.reserve_released && !all_held);
}

static const char *record_message_id(MonitorRecord rec) {
        switch (rec) {
        case MONITOR_RECORD_RAISED:
                return BOXLITE_MESSAGE_PRESSURE_RAISED_STR;
        case MONITOR_RECORD_CLEARED:
                return BOXLITE_MESSAGE_PRESSURE_CLEARED_STR;
        default:
                return BOXLITE_MESSAGE_PRESSURE_CHANGED_STR;
        }
}

const char *monitor_previous_string(const MonitorState *s) {
        return s->known ? verdict_to_string(s->verdict) : "unknown";
}

static void log_record(const MonitorCheck *r) {
        const Judgement *j = &r->final;
        const Reserve *home_reserve = r->n_reserves > 0 ? &r->reserves[0] : NULL;
        _cleanup_free_ char *f0 = NULL, *f1 = NULL, *f2 = NULL, *f3 = NULL, *f4 = NULL, *f5 = NULL, *f6 = NULL,
                            *f7 = NULL, *f8 = NULL, *f9 = NULL, *f10 = NULL, *f11 = NULL, *f12 = NULL, *f13 = NULL,
                            *f14 = NULL, *f15 = NULL, *f16 = NULL, *gc_text = NULL;
        char *f[] = {
                LOG_FIELD(f0, "BOXLITE_HOME=%s", r->o->home),
                LOG_FIELD(f1, "BOXLITE_VERDICT=%s", verdict_to_string(j->verdict)),
                LOG_FIELD(f2, "BOXLITE_PREVIOUS_VERDICT=%s", monitor_previous_string(&r->previous)),
                LOG_FIELD(f3, "BOXLITE_RECORD=%s", monitor_record_to_string(r->record)),
                LOG_FIELD(f4, "BOXLITE_LIMIT=%s", admit_limit_to_string(j->limit)),
                LOG_FIELD(f5, "BOXLITE_REASON=%s", j->reason),
                LOG_FIELD(f6, "BOXLITE_AVAILABLE_BYTES=%" PRIu64, j->space.available_bytes),
                LOG_FIELD(f7, "BOXLITE_TOTAL_BYTES=%" PRIu64, j->space.total_bytes),
                LOG_FIELD(f8, "BOXLITE_STEP_BYTES=%" PRIu64, r->step),
                LOG_FIELD(f9, "BOXLITE_HARD_FLOOR_BYTES=%" PRIu64, r->limits->hard_floor_bytes),
                LOG_FIELD(f10, "BOXLITE_SOFT_FLOOR_BYTES=%" PRIu64, r->limits->soft_floor_bytes),
                r->previous.known ? LOG_FIELD(f11, "BOXLITE_PREVIOUS_AVAILABLE_BYTES=%" PRIu64,
                                              r->previous.recorded_available) : NULL,
                r->record == MONITOR_RECORD_FELL ? LOG_FIELD(f12, "BOXLITE_FELL_BYTES=%" PRIu64, r->fell_bytes) : NULL,
                r->gc_ran ? LOG_FIELD(f13, "BOXLITE_GC=1") : NULL,
                r->gc ? LOG_FIELD(f14, "BOXLITE_RECLAIMED_COUNT=%zu", r->gc->n_reclaimed) : NULL,
                r->gc ? LOG_FIELD(f15, "BOXLITE_RECLAIMED_BYTES=%" PRIu64, r->gc->reclaimed_allocated) : NULL,
                home_reserve ? LOG_FIELD(f16, "BOXLITE_RESERVE_STATE=%s",
                                         reserve_state_to_string(home_reserve->state)) : NULL,
        };
        char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX];
        int level = j->verdict == VERDICT_OK ? LOG_INFO : j->verdict == VERDICT_WARN ? LOG_WARNING : LOG_ERR;
        int k;

        if (r->gc)
                k = asprintf(&gc_text, "; garbage collection reclaimed %zu disk-image%s (%s)", r->gc->n_reclaimed,
                             r->gc->n_reclaimed == 1 ? "" : "s", format_bytes(b, r->gc->reclaimed_allocated));
        else if (r->gc_ran)
                k = asprintf(&gc_text, "; garbage collection could not run: %s", strerror(-r->gc_error));
        else
                k = 0;
        if (k < 0)
                gc_text = NULL;

        switch (r->record) {
        case MONITOR_RECORD_RAISED:
                (void) log_struct_fields(level, record_message_id(r->record), f, ELEMENTSOF(f),
                                         "Disk pressure on '%s': %s, %s available: %s%s", r->o->home,
                                         verdict_to_string(j->verdict), format_bytes(a, j->space.available_bytes),
                                         strna(j->reason), strempty(gc_text));
                break;
        case MONITOR_RECORD_CHANGED:
                (void) log_struct_fields(level, record_message_id(r->record), f, ELEMENTSOF(f),
                                         "Disk pressure on '%s' changed from %s to %s, %s available: %s%s",
                                         r->o->home, monitor_previous_string(&r->previous), verdict_to_string(j->verdict),
                                         format_bytes(a, j->space.available_bytes), strna(j->reason),
                                         strempty(gc_text));
                break;
        case MONITOR_RECORD_FELL:
                (void) log_struct_fields(level, record_message_id(r->record), f, ELEMENTSOF(f),
                                         "Disk pressure on '%s' persists (%s), %s less available since the last "
                                         "entry: %s%s", r->o->home, verdict_to_string(j->verdict),
                                         format_bytes(a, r->fell_bytes), strna(j->reason), strempty(gc_text));
                break;
        case MONITOR_RECORD_CLEARED:
                (void) log_struct_fields(level, record_message_id(r->record), f, ELEMENTSOF(f),
                                         "Disk pressure on '%s' cleared (was %s), %s available%s", r->o->home,
                                         monitor_previous_string(&r->previous), format_bytes(a, j->space.available_bytes),
                                         strempty(gc_text));
                break;
        default:
                break;
        }
}

static void decide(MonitorCheck *r) {
        uint64_t avail = r->final.space.available_bytes;

        /* An unreadable probe says nothing about a fall: compare against the last record instead of 0. */
        if (!r->final.readable)
                avail = r->previous.known ? r->previous.recorded_available : 0;
        r->record = monitor_decide(&r->previous, r->final.verdict, avail, r->step);
        r->changed = monitor_changed(&r->previous, r->final.verdict);
        if (r->record == MONITOR_RECORD_FELL)
                r->fell_bytes = r->previous.recorded_available - avail;

        r->next.known = true;
        r->next.verdict = r->final.verdict;
        if (r->record != MONITOR_RECORD_NONE || !r->previous.known) {
                r->next.recorded_available = avail;
                r->next.recorded_usec = r->now_usec;
        } else {
                r->next.recorded_available = r->previous.recorded_available;
                r->next.recorded_usec = r->previous.recorded_usec;
        }
}

int monitor_check(const MonitorOptions *o, MonitorCheck *ret) {
        _cleanup_(monitor_check_done) MonitorCheck r = {
                .o = o,
                .limits = &o->config->limits,
        };
        int k;

        r.now_usec = now_realtime_usec();
        r.step = o->config->monitor_record_step ?: monitor_default_step(r.limits);

        k = monitor_state_dir(o->config->monitor_state_dir, &r.state_dir);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                log_warning_errno(k, "No state directory ($XDG_RUNTIME_DIR is not set), every check starts from "
                                  "an unknown verdict, ignoring: %m");
        else if (monitor_state_load(r.state_dir, o->home, &r.previous) < 0)
                return -ENOMEM;

        k = reserve_list(o->home, &r.reserves, &r.n_reserves);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                log_debug_errno(k, "Cannot open the home '%s' for its reserve: %m", o->home);

        k = monitor_judge(&r, &r.final);
        if (k < 0)
                return k;
        if (r.final.verdict != VERDICT_OK && r.final.readable && r.final.limit != ADMIT_LIMIT_MOUNT_MISSING &&
            o->config->monitor_gc) {
                k = collect(&r);
                if (k < 0)
                        return k;
        }
        handle_reserve(&r);
        if (!r.final.reason)
                return -ENOMEM;

        decide(&r);
        log_record(&r);

        if (r.state_dir) {
                k = monitor_state_save(r.state_dir, o->home, &r.next);
                if (k < 0)
                        log_state_save_failed(k, r.state_dir);
        }

        if (r.changed && !o->no_bus) {
                k = bus_emit_pressure_changed(o->home, r.final.verdict, r.final.space.available_bytes, r.final.reason,
                                              o->user_bus, o->config->bus_timeout_usec);
                if (k < 0)
                        log_debug_errno(k, "Could not emit the PressureChanged signal, ignoring: %m");
        }
        *ret = r;
        r = (MonitorCheck) {};
        return 0;
}

int monitor_release_reserves(const MonitorOptions *o, Reserve **ret, size_t *ret_n, bool *ret_failed) {
        _cleanup_free_ char *state_dir = NULL;
        Reserve *reserves = NULL;
        size_t n = 0;
        bool failed = false;
        char b[FORMAT_BYTES_MAX];
        int k;

        k = reserve_list(o->home, &reserves, &n);
        if (k < 0)
                return k;

        for (size_t i = 0; i < n; i++) {
                Reserve *v = &reserves[i];
                bool held = v->state == RESERVE_HELD;

                v->released_now = false;
                k = reserve_release(v);
                if (k < 0) {
                        failed = true;
                        if (k == -EEXIST)
                                log_warning("%s", strna(v->problem));
                        else
                                log_error_errno(k, "Could not release the reserve '%s': %m", v->path);
                } else if (held) {
                        _cleanup_free_ char *f0 = NULL, *f1 = NULL, *f2 = NULL, *f3 = NULL;
                        char *f[] = {
                                LOG_FIELD(f0, "BOXLITE_HOME=%s", o->home),
                                LOG_FIELD(f1, "BOXLITE_RESERVE=%s", v->path),
                                LOG_FIELD(f2, "BOXLITE_RESERVE_PART=%s", v->part),
                                LOG_FIELD(f3, "BOXLITE_RESERVE_BYTES=%" PRIu64, v->bytes),
                        };

                        (void) log_struct_fields(LOG_WARNING, BOXLITE_MESSAGE_RESERVE_RELEASED_STR, f, ELEMENTSOF(f),
                                                 "Released the reserve '%s' (%s) on '%s' by hand", v->path,
                                                 format_bytes(b, v->bytes), o->home);
                        v->released_now = true;
                }
        }

        /* Remember it, so that the monitor does not create it again before the home is ok. */
        if (monitor_state_dir(o->config->monitor_state_dir, &state_dir) >= 0) {
                MonitorState s;

                if (monitor_state_load(state_dir, o->home, &s) >= 0) {
                        /* Without a state, the next check records pressure as news and ok as none. */
                        if (!s.known)
                                s = (MonitorState) { .known = true, .verdict = VERDICT_OK };
                        s.reserve_released = true;
                        k = monitor_state_save(state_dir, o->home, &s);
                        if (k < 0)
                                log_state_save_failed(k, state_dir);
                }
        }
        *ret = reserves;
        *ret_n = n;
        *ret_failed = failed;
        return 0;
}
