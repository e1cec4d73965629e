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
#include "child.h"
#include "log.h"
#include "macro.h"
#include "message-ids.h"
#include "parse-util.h"

static void fs_judgement_done(FsJudgement *f) {
        f->path = mfree(f->path);
        f->source = mfree(f->source);
        f->reason = mfree(f->reason);
}

void judgement_done(Judgement *j) {
        j->reason = mfree(j->reason);
        for (size_t i = 0; i < j->n_filesystems; i++)
                fs_judgement_done(&j->filesystems[i]);
        j->filesystems = mfree(j->filesystems);
        j->n_filesystems = 0;
}

static char *strdup_null(const char *s, bool *oom) {
        char *c;

        if (!s)
                return NULL;
        c = strdup(s);
        if (!c)
                *oom = true;
        return c;
}

int judgement_copy(const Judgement *j, Judgement *ret) {
        Judgement c = *j;
        bool oom = false;

        c.reason = strdup_null(j->reason, &oom);
        c.filesystems = j->n_filesystems > 0 ? calloc(j->n_filesystems, sizeof(FsJudgement)) : NULL;
        if (j->n_filesystems > 0 && !c.filesystems)
                oom = true;
        for (size_t i = 0; c.filesystems && i < j->n_filesystems; i++) {
                c.filesystems[i] = j->filesystems[i];
                c.filesystems[i].path = strdup_null(j->filesystems[i].path, &oom);
                c.filesystems[i].source = strdup_null(j->filesystems[i].source, &oom);
                c.filesystems[i].reason = strdup_null(j->filesystems[i].reason, &oom);
        }
        if (!c.filesystems)
                c.n_filesystems = 0;
        if (oom) {
                judgement_done(&c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

/* "/dev/sdb1", or "tmpfs at '/mnt/boxes'" for a source that is not a device, or NULL. */
static char *fs_source(const PartProbe *p) {
        char *s = NULL;

        if (!p->source)
                return NULL;
        if (p->source[0] == '/' || !p->mount_point)
                return strdup(p->source);
        if (asprintf(&s, "%s at '%s'", p->source, p->mount_point) < 0)
                return NULL;
        return s;
}

static int judge_part(const AdmitLimits *limits, const HomeProbe *probe, HomePart part, uint64_t probe_timeout_usec,
                      FsJudgement *ret) {
        const PartProbe *p = &probe->part[part];
        const char *path = probe->path[part];
        FsJudgement f = { .part = part, .parts = 1U << part };
        int k = 0;

        f.path = strdup(path);
        if (!f.path)
                return -ENOMEM;
        if (p->answered && !p->error) {
                f.source = fs_source(p);
                if (p->source && !f.source) {
                        fs_judgement_done(&f);
                        return -ENOMEM;
                }
        }

        if (!p->answered) {
                /* The first part without an answer is the one that hung. */
                f.probe_error = -ETIMEDOUT;
                k = asprintf(&f.reason, "free space could not be read: statvfs('%s') did not answer within "
                             "%" PRIu64 " ms", path, probe_timeout_usec / 1000);
        } else if (p->error < 0) {
                f.probe_error = p->error;
                k = asprintf(&f.reason, "free space could not be read: %s('%s'): %s",
                             p->stat_failed ? "stat" : "statvfs", path, strerror(-p->error));
        } else if (p->space.total_bytes == 0) {
                /* /proc, /sys and their kind: no space to judge, and no place for boxes. */
                f.probe_error = -EMEDIUMTYPE;
                k = asprintf(&f.reason, "'%s' is not a%s home filesystem: it reports no size (0 blocks)", path,
                             part == HOME_PART_HOME ? "" : " usable");
        } else {
                f.readable = true;
                f.space = p->space;
                f.verdict = classify(limits, &f.space, &f.limit);
                f.reason = classify_reason(limits, &f.space, f.limit);
        }
        if (!f.readable) {
                f.verdict = VERDICT_WARN;
                f.limit = ADMIT_LIMIT_UNREADABLE;
        }
        if (k < 0 || !f.reason) {
                fs_judgement_done(&f);
                return -ENOMEM;
        }
        *ret = f;
        return 0;
}

int admission_judge_probe(const AdmitLimits *limits, const HomeProbe *probe, uint64_t probe_timeout_usec,
                          Judgement *ret) {
        _cleanup_(judgement_done) Judgement j = {};
        const FsJudgement *w;
        int index[_HOME_PART_MAX];
        int r;

        j.filesystems = calloc(_HOME_PART_MAX, sizeof(FsJudgement));
        if (!j.filesystems)
                return -ENOMEM;

        for (int i = 0; i < _HOME_PART_MAX; i++) {
                const PartProbe *p = &probe->part[i];

                index[i] = -1;
                if (p->answered && p->absent)
                        continue;
                if (p->answered && p->same_as >= 0 && p->same_as < i && index[p->same_as] >= 0) {
                        index[i] = index[p->same_as];
                        j.filesystems[index[i]].parts |= 1U << i;
                        continue;
                }
                if (!p->answered && !probe->timed_out)
                        break; /* the child stopped early: no home, nothing below it */
                r = judge_part(limits, probe, (HomePart) i, probe_timeout_usec, &j.filesystems[j.n_filesystems]);
                if (r < 0)
                        return r;
                index[i] = (int) j.n_filesystems++;
                if (!p->answered || (i == HOME_PART_HOME && p->error < 0))
                        break;
        }
        if (j.n_filesystems == 0) {
                /* The child died without a word. */
                HomeProbe none = *probe;

                none.part[HOME_PART_HOME] = (PartProbe) { .answered = true, .error = -EIO, .same_as = -1 };
                r = judge_part(limits, &none, HOME_PART_HOME, probe_timeout_usec, &j.filesystems[0]);
                if (r < 0)
                        return r;
                j.n_filesystems = 1;
        }

        for (size_t i = 1; i < j.n_filesystems; i++)
                if (j.filesystems[i].verdict > j.filesystems[j.worst].verdict)
                        j.worst = i;
        w = &j.filesystems[j.worst];
        j.verdict = w->verdict;
        j.limit = w->limit;
        j.readable = w->readable;
        j.probe_error = w->probe_error;
        j.space = w->space;
        j.part = w->part;
        if (probe->mounts_missing) {
                /* Every box on a missing disk is out of sight: nothing to start onto. */
                j.verdict = VERDICT_REJECT;
                j.limit = ADMIT_LIMIT_MOUNT_MISSING;
                r = (j.reason = strdup(strna(probe->mounts_why))) ? 0 : -1;
        } else if (j.n_filesystems > 1)
                r = asprintf(&j.reason, "%s on %s: %s%s%s", home_part_to_string(w->part), w->source ?: w->path,
                             w->reason, probe->mounts_error < 0 ? "; the mounts could not be checked: " : "",
                             probe->mounts_error < 0 ? strna(probe->mounts_why) : "");
        else
                r = asprintf(&j.reason, "%s%s%s", w->reason,
                             probe->mounts_error < 0 ? "; the mounts could not be checked: " : "",
                             probe->mounts_error < 0 ? strna(probe->mounts_why) : "");
        if (r < 0)
                return -ENOMEM;

        *ret = j;
        j = (Judgement) {};
        return 0;
}

int admission_judge(const AdmitLimits *limits, const char *home, uint64_t probe_timeout_usec, Judgement *ret) {
        _cleanup_(home_probe_done) HomeProbe probe = {};
        int r;

        r = home_probe_run(home, probe_timeout_usec, &probe);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                /* The probe could not even start (fork, pipe): warn and say so, never block. */
                Judgement j = {};

                j.filesystems = calloc(1, sizeof(FsJudgement));
                if (!j.filesystems)
                        return -ENOMEM;
                j.n_filesystems = 1;
                j.filesystems[0] = (FsJudgement) {
                        .parts = 1U << HOME_PART_HOME,
                        .verdict = VERDICT_WARN,
                        .limit = ADMIT_LIMIT_UNREADABLE,
                        .probe_error = r,
                };
                j.filesystems[0].path = strdup(home);
                if (asprintf(&j.filesystems[0].reason, "free space could not be read: the probe of '%s' could "
                             "not start: %s", home, strerror(-r)) < 0)
                        j.filesystems[0].reason = NULL;
                j.reason = j.filesystems[0].reason ? strdup(j.filesystems[0].reason) : NULL;
                j.verdict = VERDICT_WARN;
                j.limit = ADMIT_LIMIT_UNREADABLE;
                j.probe_error = r;
                if (!j.filesystems[0].path || !j.reason) {
                        judgement_done(&j);
                        return -ENOMEM;
                }
                *ret = j;
                return 0;
        }
        return admission_judge_probe(limits, &probe, probe_timeout_usec, ret);
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
        free(d->gc_skipped);
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

/*
 * The GC under a deadline. The child runs the same gc_run() as boxlite-gc and sends the result back; the
 * parent rebuilds a GcResult from it (what the report, the journal and the JSON use). A child killed at the
 * deadline may have left images aside (.boxlite-gc-*): the next GC run puts them back.
 */
typedef struct GcChild {
        const GcOptions *options;
        const char *images;
} GcChild;

static void wire_put_entry(Wire *w, const GcEntry *e) {
        wire_put_str(w, e->path); /* the name is its last component */
        wire_put_str(w, e->detail);
        wire_put_u64(w, (uint64_t) e->reason);
        wire_put_u64(w, e->size);
        wire_put_u64(w, e->allocated);
        wire_put_u64(w, (uint64_t) e->nlink);
}

static int gc_child(int fd, void *userdata) {
        const GcChild *g = userdata;
        _cleanup_(gc_result_freep) GcResult *res = NULL;
        _cleanup_(wire_done) Wire w = {};
        int r;

        r = gc_run(g->options, &res);
        if (r < 0) {
                wire_put_u64(&w, (uint64_t) -r);
                return wire_write(fd, &w);
        }
        if (res->n_reclaimed > 0 && !res->dry_run) {
                /* ext4 and others account freed blocks at journal commit; make statvfs see what the GC freed. */
                _cleanup_close_ int dfd = open(g->images, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);

                if (dfd >= 0)
                        (void) syncfs(dfd);
        }

        wire_put_u64(&w, 0);
        wire_put_u64(&w, res->dry_run);
        wire_put_u64(&w, res->fail_closed);
        wire_put_u64(&w, res->n_restored);
        wire_put_u64(&w, res->n_put_back);
        wire_put_u64(&w, res->n_overlays);
        wire_put_u64(&w, res->reclaimed_bytes);
        wire_put_u64(&w, res->reclaimed_allocated);
        wire_put_u64(&w, res->available_before);
        wire_put_u64(&w, res->available_after);
        wire_put_u64(&w, res->target_free);
        wire_put_u64(&w, res->duration_usec);
        wire_put_u64(&w, res->finished_realtime_usec);
        wire_put_u64(&w, res->n_reclaimed);
        for (size_t i = 0; i < res->n_reclaimed; i++)
                wire_put_entry(&w, &res->reclaimed[i]);
        wire_put_u64(&w, res->n_kept);
        for (size_t i = 0; i < res->n_kept; i++)
                wire_put_entry(&w, &res->kept[i]);
        wire_put_u64(&w, res->n_errors);
        for (size_t i = 0; i < res->n_errors; i++) {
                wire_put_str(&w, res->errors[i].path);
                wire_put_str(&w, res->errors[i].error);
        }
        return wire_write(fd, &w);
}

static int wire_get_entry(WireReader *rd, GcEntry *e) {
        uint64_t reason, nlink;
        int r;

        if ((r = wire_get_str(rd, &e->path)) < 0 || (r = wire_get_str(rd, &e->detail)) < 0 || (r = wire_get_u64(rd, &reason)) < 0 ||
            (r = wire_get_u64(rd, &e->size)) < 0 || (r = wire_get_u64(rd, &e->allocated)) < 0 ||
            (r = wire_get_u64(rd, &nlink)) < 0)
                return r;
        e->nlink = (nlink_t) nlink;
        if (reason >= _GC_KEEP_REASON_MAX || !e->path || !strchr(e->path, '/'))
                return -EBADMSG;
        e->name = strrchr(e->path, '/') + 1;
        e->reason = (GcKeepReason) reason;
        return 0;
}

/* Counts come from the child; each must fit in what is left of the data before anything is allocated. */
static int wire_get_count(WireReader *rd, size_t *ret) {
        uint64_t n;
        int r;

        r = wire_get_u64(rd, &n);
        if (r < 0)
                return r;
        if (n > (rd->size - rd->offset) / sizeof(uint64_t))
                return -EBADMSG;
        *ret = (size_t) n;
        return 0;
}

static int gc_result_parse(const char *home, const ChildOutput *o, GcResult **ret) {
        _cleanup_(gc_result_freep) GcResult *res = NULL;
        WireReader rd = { .data = o->data, .size = o->size };
        uint64_t error, v[13];
        size_t n;
        int r;

        r = wire_get_u64(&rd, &error);
        if (r < 0)
                return r;
        if (error > 0)
                return error < 4096 ? -(int) error : -EIO;
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                r = wire_get_u64(&rd, &v[i]);
                if (r < 0)
                        return r;
        }
        res = calloc(1, sizeof(GcResult));
        if (!res)
                return -ENOMEM;
        res->home = strdup(home);
        if (!res->home)
                return -ENOMEM;
        res->dry_run = v[0];
        res->fail_closed = v[1];
        res->n_restored = v[2];
        res->n_put_back = v[3];
        res->n_overlays = v[4];
        res->reclaimed_bytes = v[5];
        res->reclaimed_allocated = v[6];
        res->available_before = v[7];
        res->available_after = v[8];
        res->target_free = v[9];
        res->duration_usec = v[10];
        res->finished_realtime_usec = v[11];

        n = v[12];
        if (n > (rd.size - rd.offset) / sizeof(uint64_t))
                return -EBADMSG;
        res->reclaimed = calloc(MAX(n, (size_t) 1), sizeof(GcEntry));
        if (!res->reclaimed)
                return -ENOMEM;
        for (; res->n_reclaimed < n; res->n_reclaimed++) {
                r = wire_get_entry(&rd, &res->reclaimed[res->n_reclaimed]);
                if (r < 0) {
                        res->n_reclaimed++;
                        return r;
                }
        }
        r = wire_get_count(&rd, &n);
        if (r < 0)
                return r;
        res->kept = calloc(MAX(n, (size_t) 1), sizeof(GcEntry));
        if (!res->kept)
                return -ENOMEM;
        for (; res->n_kept < n; res->n_kept++) {
                r = wire_get_entry(&rd, &res->kept[res->n_kept]);
                if (r < 0) {
                        res->n_kept++;
                        return r;
                }
        }
        r = wire_get_count(&rd, &n);
        if (r < 0)
                return r;
        res->errors = calloc(MAX(n, (size_t) 1), sizeof(GcError));
        if (!res->errors)
                return -ENOMEM;
        for (; res->n_errors < n; res->n_errors++) {
                GcError *e = &res->errors[res->n_errors];

                if ((r = wire_get_str(&rd, &e->path)) < 0 || (r = wire_get_str(&rd, &e->error)) < 0) {
                        res->n_errors++;
                        return r;
                }
        }
        *ret = TAKE_PTR(res);
        return 0;
}

/* Bound on the GC's answer: GC_MAX_FILES entries with their names. */
#define GC_CHILD_MAX_BYTES (UINT64_C(1) << 30)

int admission_gc_run_bounded(const GcOptions *o, const char *images, uint64_t timeout_usec, GcResult **ret) {
        _cleanup_(child_output_done) ChildOutput out = {};
        GcChild g = { .options = o, .images = images };
        pid_t pid;
        int fd, r;

        r = child_start(gc_child, &g, &pid, &fd);
        if (r < 0)
                return r;
        r = child_collect(pid, fd, timeout_usec, GC_CHILD_MAX_BYTES, &out);
        (void) close(fd);
        if (r < 0)
                return r;
        return gc_result_parse(o->home, &out, ret);
}

static const FsJudgement *images_filesystem(const Judgement *j) {
        for (size_t i = 0; i < j->n_filesystems; i++)
                if (j->filesystems[i].parts & (1U << HOME_PART_IMAGES))
                        return &j->filesystems[i];
        /* No images/: the GC would look under the home's. */
        return j->n_filesystems > 0 ? &j->filesystems[0] : NULL;
}

int admission_decide(const AdmitRequest *req, Decision **ret) {
        _cleanup_(decision_freep) Decision *d = NULL;
        _cleanup_free_ char *images = NULL;
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
        d->gc_timeout_usec = req->gc_timeout_usec ?: ADMIT_GC_TIMEOUT_DEFAULT_USEC;
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        d->realtime_usec = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;

        r = admission_judge(&req->limits, req->home, req->probe_timeout_usec, &d->final);
        if (r < 0)
                return r;

        if (req->gc_on_pressure && d->final.verdict != VERDICT_OK && d->final.readable &&
            d->final.limit != ADMIT_LIMIT_MOUNT_MISSING) {
                const FsJudgement *fs = images_filesystem(&d->final);
                GcOptions o = {
                        .home = req->home,
                        .grace_usec = req->gc_grace_usec,
                        .jobs = req->gc_jobs,
                        .allow_no_boxes = req->gc_allow_no_boxes,
                        /* A box start waits briefly for a collection already running, not a minute, and
                         * never longer than half its deadline. */
                        .lock_timeout_usec = MIN(UINT64_C(5) * 1000000, d->gc_timeout_usec / 2),
                };
                bool bytes_short;

                if (!fs || !fs->readable || fs->verdict == VERDICT_OK) {
                        /* The GC frees images/ only: collecting cannot help another filesystem. */
                        if (!fs || !fs->readable)
                                r = asprintf(&d->gc_skipped, "garbage collection skipped: the free space of "
                                             "images/ could not be read");
                        else
                                r = asprintf(&d->gc_skipped, "garbage collection skipped: it frees only "
                                             "images/%s%s, which is not short", fs->source ? " on " : "",
                                             strempty(fs->source));
                        if (r < 0)
                                return -ENOMEM;
                        goto done;
                }
                bytes_short = fs->limit == ADMIT_LIMIT_HARD_FLOOR || fs->limit == ADMIT_LIMIT_SOFT_FLOOR ||
                              fs->limit == ADMIT_LIMIT_SOFT_PERCENT;

                /* Free what makes the verdict ok and keep the rest of the cache warm; inode pressure
                 * frees one inode per image, so then every eligible orphan goes. */
                if (bytes_short)
                        o.target_free = classify_ok_bytes(&req->limits, fs->space.total_bytes);
                gc_options_from_env(&o);
                d->gc_target_free = o.target_free;
                if (asprintf(&images, "%s/images", req->home) < 0)
                        return -ENOMEM;

                d->first = d->final;
                d->final = (Judgement) {};
                d->gc_ran = true;
                r = admission_gc_run_bounded(&o, images, d->gc_timeout_usec, &d->gc);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        d->gc_error = r;

                if (r == -ETIMEDOUT) {
                        /* Past the deadline the first verdict decides; probing again could hang the same way. */
                        _cleanup_free_ char *reason = NULL;

                        r = judgement_copy(&d->first, &d->final);
                        if (r < 0)
                                return r;
                        if (asprintf(&reason, "%s; garbage collection did not finish within %" PRIu64 " ms, "
                                     "judged on the first verdict", d->final.reason,
                                     d->gc_timeout_usec / 1000) < 0)
                                return -ENOMEM;
                        free(d->final.reason);
                        d->final.reason = TAKE_PTR(reason);
                } else {
                        r = admission_judge(&req->limits, req->home, req->probe_timeout_usec, &d->final);
                        if (r < 0)
                                return r;
                }
        }

done:
        if (d->gc_skipped) {
                _cleanup_free_ char *reason = NULL;

                if (asprintf(&reason, "%s; %s", d->final.reason, d->gc_skipped) < 0)
                        return -ENOMEM;
                free(d->final.reason);
                d->final.reason = TAKE_PTR(reason);
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

#define N_FIELDS 32

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
        FIELD("BOXLITE_PART=%s", home_part_to_string(j->part));
        FIELD("BOXLITE_FILESYSTEM_COUNT=%zu", j->n_filesystems);
        if (j->n_filesystems > j->worst) {
                FIELD("BOXLITE_PART_PATH=%s", j->filesystems[j->worst].path);
                if (j->filesystems[j->worst].source)
                        FIELD("BOXLITE_PART_SOURCE=%s", j->filesystems[j->worst].source);
        }
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
                if (d->gc_error == -ETIMEDOUT)
                        FIELD("BOXLITE_GC_TIMED_OUT=1");
                if (d->gc) {
                        FIELD("BOXLITE_RECLAIMED_COUNT=%zu", d->gc->n_reclaimed);
                        FIELD("BOXLITE_RECLAIMED_BYTES=%" PRIu64, d->gc->reclaimed_bytes);
                }
        }
        if (d->gc_skipped)
                FIELD("BOXLITE_GC_SKIPPED=%s", d->gc_skipped);
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
