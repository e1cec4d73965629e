/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admission.h"
#include "log.h"
#include "macro.h"
#include "message-ids.h"
#include "parse-util.h"

void judgement_done(Judgement *j) {
        j->reason = mfree(j->reason);
}

int admission_judge(const AdmitLimits *limits, const char *home, uint64_t probe_timeout_usec, Judgement *ret) {
        Judgement j = {};
        int r;

        r = space_probe(home, probe_timeout_usec, &j.space);
        if (r < 0) {
                /* A broken probe never blocks a box: warn, and say why. */
                j.verdict = VERDICT_WARN;
                j.limit = ADMIT_LIMIT_UNREADABLE;
                j.probe_error = r;
                if (r == -ETIMEDOUT)
                        r = asprintf(&j.reason, "free space could not be read: statvfs('%s') did not answer within "
                                     "%" PRIu64 " ms", home, probe_timeout_usec / 1000);
                else
                        r = asprintf(&j.reason, "free space could not be read: statvfs('%s'): %s", home,
                                     strerror(-r));
                if (r < 0)
                        return -ENOMEM;
        } else {
                j.readable = true;
                j.verdict = classify(limits, &j.space, &j.limit);
                j.reason = classify_reason(limits, &j.space, j.limit);
                if (!j.reason)
                        return -ENOMEM;
        }
        *ret = j;
        return 0;
}

Decision *decision_free(Decision *d) {
        if (!d)
                return NULL;
        free(d->home);
        free(d->box);
        free(d->unit);
        judgement_done(&d->final);
        judgement_done(&d->first);
        gc_result_free(d->gc);
        free(d);
        return NULL;
}

static char *strdup_or_null(const char *s, bool *oom) {
        char *c;

        if (!s || !s[0])
                return NULL;
        c = strdup(s);
        if (!c)
                *oom = true;
        return c;
}

/* ext4 and others account freed blocks at journal commit; make statvfs see what the GC freed. */
static void sync_home(const char *home) {
        _cleanup_close_ int fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);

        if (fd >= 0)
                (void) syncfs(fd);
}

int admission_decide(const AdmitRequest *req, Decision **ret) {
        _cleanup_(decision_freep) Decision *d = NULL;
        struct timespec ts;
        bool oom = false;
        int r;

        d = calloc(1, sizeof(Decision));
        if (!d)
                return -ENOMEM;
        d->home = strdup(req->home);
        d->box = strdup_or_null(req->box, &oom);
        d->unit = strdup_or_null(req->unit, &oom);
        if (!d->home || oom)
                return -ENOMEM;
        d->limits = req->limits;
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        d->realtime_usec = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;

        r = admission_judge(&req->limits, req->home, req->probe_timeout_usec, &d->final);
        if (r < 0)
                return r;

        if (req->gc_on_pressure && d->final.verdict != VERDICT_OK && d->final.readable) {
                GcOptions o = {
                        .home = req->home,
                        .grace_usec = req->gc_grace_usec,
                        /* A box start waits briefly for a collection already running, not a minute. */
                        .lock_timeout_usec = UINT64_C(5) * 1000000,
                };
                bool bytes_short = d->final.limit == ADMIT_LIMIT_HARD_FLOOR ||
                                   d->final.limit == ADMIT_LIMIT_SOFT_FLOOR ||
                                   d->final.limit == ADMIT_LIMIT_SOFT_PERCENT;

                /* Free what makes the verdict ok and keep the rest of the cache warm; inode pressure
                 * frees one inode per image, so then every eligible orphan goes. */
                if (bytes_short)
                        o.target_free = classify_ok_bytes(&req->limits, d->final.space.total_bytes);
                gc_options_from_env(&o);
                d->gc_target_free = o.target_free;

                d->first = d->final;
                d->final = (Judgement) {};
                d->gc_ran = true;
                r = gc_run(&o, &d->gc);
                if (r < 0)
                        d->gc_error = r;
                if (d->gc && d->gc->n_reclaimed > 0)
                        sync_home(req->home);

                r = admission_judge(&req->limits, req->home, req->probe_timeout_usec, &d->final);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(d);
        return 0;
}

int decision_exit_status(const Decision *d) {
        return d->final.verdict == VERDICT_REJECT ? ADMIT_EXIT_REJECT : 0;
}

static const char *verdict_message_id(Verdict v) {
        switch (v) {
        case VERDICT_OK:
                return BOXLITE_MESSAGE_ADMIT_OK_STR;
        case VERDICT_WARN:
                return BOXLITE_MESSAGE_ADMIT_WARN_STR;
        default:
                return BOXLITE_MESSAGE_ADMIT_REJECT_STR;
        }
}

static int verdict_priority(Verdict v) {
        return v == VERDICT_OK ? LOG_INFO : v == VERDICT_WARN ? LOG_WARNING : LOG_ERR;
}

#define N_FIELDS 24

void admission_log(const Decision *d) {
        const Judgement *j = &d->final;
        char *f[N_FIELDS] = {};
        _cleanup_free_ char *who = NULL;
        size_t n = 0;
        int k = 0;

#define FIELD(...)                                              \
        do {                                                    \
                if (n < N_FIELDS && asprintf(&f[n], __VA_ARGS__) >= 0) \
                        n++;                                    \
        } while (0)

        FIELD("BOXLITE_HOME=%s", d->home);
        if (d->box)
                FIELD("BOXLITE_BOX=%s", d->box);
        if (d->unit)
                FIELD("BOXLITE_UNIT=%s", d->unit);
        FIELD("BOXLITE_VERDICT=%s", verdict_to_string(j->verdict));
        FIELD("BOXLITE_LIMIT=%s", admit_limit_to_string(j->limit));
        FIELD("BOXLITE_REASON=%s", j->reason);
        if (j->readable) {
                FIELD("BOXLITE_AVAILABLE_BYTES=%" PRIu64, j->space.available_bytes);
                FIELD("BOXLITE_TOTAL_BYTES=%" PRIu64, j->space.total_bytes);
                if (j->space.inodes_total > 0) {
                        FIELD("BOXLITE_AVAILABLE_INODES=%" PRIu64, j->space.inodes_available);
                        FIELD("BOXLITE_TOTAL_INODES=%" PRIu64, j->space.inodes_total);
                }
        }
        FIELD("BOXLITE_HARD_FLOOR_BYTES=%" PRIu64, d->limits.hard_floor_bytes);
        FIELD("BOXLITE_SOFT_FLOOR_BYTES=%" PRIu64, d->limits.soft_floor_bytes);
        FIELD("BOXLITE_SOFT_FLOOR_PERCENT=%u", d->limits.soft_floor_percent);
        FIELD("BOXLITE_INODE_HARD_FLOOR=%" PRIu64, d->limits.inode_hard_floor);
        FIELD("BOXLITE_INODE_SOFT_PERCENT=%u", d->limits.inode_soft_percent);
        FIELD("BOXLITE_DECISION_USEC=%" PRIu64, d->realtime_usec);
        if (d->gc_ran) {
                FIELD("BOXLITE_GC=1");
                FIELD("BOXLITE_FIRST_VERDICT=%s", verdict_to_string(d->first.verdict));
                if (d->first.readable)
                        FIELD("BOXLITE_FIRST_AVAILABLE_BYTES=%" PRIu64, d->first.space.available_bytes);
                if (d->gc) {
                        FIELD("BOXLITE_RECLAIMED_COUNT=%zu", d->gc->n_reclaimed);
                        FIELD("BOXLITE_RECLAIMED_BYTES=%" PRIu64, d->gc->reclaimed_bytes);
                }
        }
#undef FIELD

        if (d->box && d->unit)
                k = asprintf(&who, "box '%s' (%s)", d->box, d->unit);
        else if (d->box || d->unit)
                k = asprintf(&who, "box '%s'", d->box ?: d->unit);
        else
                k = asprintf(&who, "a box");
        if (k < 0)
                who = NULL;

        (void) log_struct_fields(verdict_priority(j->verdict), verdict_message_id(j->verdict), f, n,
                                 "%s %s on '%s'%s: %s%s%s", j->verdict == VERDICT_REJECT ? "Refusing" : "Admitting",
                                 strna(who), d->home, j->verdict == VERDICT_WARN ? " with a warning" : "",
                                 strna(j->reason), d->gc_ran ? "; after garbage collection, first verdict " : "",
                                 d->gc_ran ? verdict_to_string(d->first.verdict) : "");
        for (size_t i = 0; i < n; i++)
                free(f[i]);
}
