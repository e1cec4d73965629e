/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The walk of a home (walk.h): passes of rounds. A round walks what the last
 * one found changed (walk-units.c); a pass ends when a round sees no change,
 * or starts over when a top appeared, vanished or was replaced.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "time-util.h"
#include "walk-internal.h"
#include "walk.h"

/* Every directory of a pass stays open until it is verified: make room for a large home. */
static size_t fd_budget(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return 256;
        if (rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
                (void) getrlimit(RLIMIT_NOFILE, &rl);
        }
        /* Room for the walk's own opens (a chain, the depth of the tree) and the caller's. */
        return rl.rlim_cur > 512 ? (size_t) MIN(rl.rlim_cur - 256, (rlim_t) SIZE_MAX) : 128;
}

/* Adds the directories of w's pass, from record from on, to the stats. */
static void walk_count(const Walk *w, size_t from, WalkStats *s) {
        s->n_dirs += w->n_dropped;
        s->n_post += w->n_dropped;
        for (size_t i = from; i < w->n_dirs; i++) {
                s->n_dirs++;
                s->n_racy += w->dirs[i].racy;
                s->n_post += w->dirs[i].post;
        }
}

/*
 * The mount points of w's records from record from on: a directory on another
 * device than its parent (a top: than the home). A post-proven record carries
 * its parent's device, proven its own; a mount point never proves itself so,
 * it is stat'ed, so the dropped records hold none.
 */
static int walk_mounts(const Walk *w, size_t from, char ***mounts, size_t *n) {
        for (size_t i = from; i < w->n_dirs; i++) {
                const DirRecord *d = &w->dirs[i];
                dev_t above = d->parent == UINT_MAX ? w->home_dev : w->dirs[d->parent].dev;
                char *path, **l;

                if (d->dev == above)
                        continue;
                path = walk_record_path(w->home, w->dirs, i, NULL);
                l = path ? realloc(*mounts, (*n + 2) * sizeof(char *)) : NULL;
                if (!l) {
                        free(path);
                        return -ENOMEM;
                }
                l[(*n)++] = path;
                l[*n] = NULL;
                *mounts = l;
        }
        return 0;
}

bool walk_clock_stepped_back(int64_t clock0, uint64_t mono0) {
        return (now_file_clock_nsec() - clock0) / 1000 + 1000000 < (int64_t) (now_monotonic_usec() - mono0);
}

/* Hands the accepted pass's records to a log (walk-recheck.c). */
static int log_take(Walk *w, WalkLog **ret) {
        WalkLog *l;
        int r;

        r = walk_jobs_merge_records(w);
        if (r < 0)
                return r;
        l = calloc(1, sizeof(WalkLog));
        if (!l)
                return -ENOMEM;
        l->home = strdup(w->home);
        if (!l->home) {
                free(l);
                return -ENOMEM;
        }
        for (size_t i = 0; i < w->n_dirs; i++)
                w->dirs[i].fd = safe_close(w->dirs[i].fd);
        l->dirs = TAKE_PTR(w->dirs);
        l->n_dirs = w->n_dirs;
        l->files = TAKE_PTR(w->files);
        l->n_files = w->n_files;
        w->n_dirs = w->allocated_dirs = w->n_files = w->allocated_files = 0;
        w->n_open = 0;
        for (size_t p = 0; p < _WALK_PART_MAX; p++)
                l->top_absent[p] = w->top_absent[p];
        l->racy_since = w->racy_since;
        l->clock0 = w->clock0;
        l->mono0 = w->mono0;
        *ret = l;
        return 0;
}


/* One round: the first walks both tops; a later one lists a changed top again, or walks a held top's changed units. */
static int walk_round(Walk *w) {
        bool relist[_WALK_PART_MAX];
        int r = 0;

        for (size_t p = 0; p < _WALK_PART_MAX; p++) {
                relist[p] = w->top_changed[p];
                w->top_changed[p] = false;
        }
        for (size_t p = 0; p < _WALK_PART_MAX && r >= 0 && !w->restart; p++) {
                if (w->round == 1)
                        r = walk_top(w, (WalkPart) p);
                else if (relist[p])
                        r = walk_relist_top(w, (WalkPart) p);
                else
                        r = walk_rewalk_units(w, (WalkPart) p);
        }
        if (r < 0)
                return r;
        /* A change outside any unit (a top that appeared or was replaced) starts the pass over. */
        if (w->changed) {
                r = walk_note_change(w, UINT_MAX, w->part, w->changed);
                w->changed = mfree(w->changed);
                if (r < 0)
                        return r;
        }
        if (w->o->test_no_consistency)
                return 0;
        walk_test_hook(w, "verify", NULL);
        r = walk_verify(w);
        if (r >= 0)
                r = walk_jobs_verify(w);
        if (r >= 0 && w->changed) {
                r = walk_note_change(w, UINT_MAX, w->part, w->changed);
                w->changed = mfree(w->changed);
        }
        /* The workers' records join the main walk's: later rounds are walked by the calling thread. */
        if (r >= 0)
                r = walk_jobs_merge_records(w);
        return r;
}

static bool any_top_changed(const Walk *w) {
        for (size_t p = 0; p < _WALK_PART_MAX; p++)
                if (w->top_changed[p])
                        return true;
        return false;
}

static bool round_saw_change(const Walk *w) {
        if (any_top_changed(w))
                return true;
        for (size_t i = 0; i < w->n_units; i++)
                if (w->units[i].live && w->units[i].changed)
                        return true;
        return false;
}

/* The accepted view's figures. */
static int walk_accept(Walk *w, WalkStats *stats) {
        size_t n_mounts = 0;
        int r;

        walk_count(w, 0, stats);
        /* A worker's record 0 is its copy of boxes/, counted once, here. */
        for (unsigned i = 0; i < w->n_workers; i++)
                walk_count(&w->workers[i], 1, stats);
        stats->n_boxes = w->n_box_entries;
        stats->rounds = w->round;
        stats->n_rewalked = w->n_rewalked;
        for (size_t i = 0; i < w->n_units; i++)
                if (w->units[i].live)
                        stats->n_overlays += w->units[i].n_overlays;
        r = walk_mounts(w, 0, &stats->mounts, &n_mounts);
        if (r < 0)
                return r;
        if (w->o->keep_log)
                return log_take(w, &stats->log);
        return 0;
}

/*
 * One pass: rounds until one sees no change. Returns 0 when accepted, 1 when
 * the pass is to start over (*ret_counts: whether that counts as a pass),
 * -EAGAIN when its rounds did not settle within their bounds, or a negative
 * errno.
 */
static int walk_pass(Walk *w, WalkStats *stats, bool *ret_counts) {
        uint64_t start = now_monotonic_usec(), first = 0;

        for (w->round = 1;; w->round++) {
                bool clean;
                int r;

                w->hooks_fired = 0;
                r = walk_round(w);
                if (r < 0)
                        return r;
                if (w->o->test_no_consistency) {
                        for (size_t i = 0; i < w->n_units; i++)
                                w->units[i].changed = false;
                        for (size_t p = 0; p < _WALK_PART_MAX; p++)
                                w->top_changed[p] = false;
                }
                walk_units_settle(w);
                clean = !round_saw_change(w);
                if (w->cb->forget)
                        stats->n_unproven += w->unproven;
                w->unproven = false;
                /*
                 * Without a way to forget a unit, a change throws the pass away; a directory that only
                 * proved nothing walks the pass again, not counted, that directory stat'ed first.
                 */
                if (!clean && !w->cb->forget && !w->restart) {
                        if (!w->round_why && !any_top_changed(w)) {
                                if (++stats->n_unproven >= WALK_MAX_UNPROVEN)
                                        w->all_careful = true;
                                *ret_counts = false;
                                return 1;
                        }
                        w->restart = true;
                }
                /*
                 * Times prove a directory unchanged only on a clock that did not step back meanwhile:
                 * the file clock must have advanced at least as far as the monotonic one (less 1 s).
                 */
                if (!w->restart && !w->all_careful && walk_clock_stepped_back(w->clock0, w->mono0)) {
                        w->all_careful = true;
                        *ret_counts = false;
                        return 1;
                }
                if (w->restart) {
                        *ret_counts = true;
                        return 1;
                }
                r = walk_units_forget(w);
                if (r < 0)
                        return r;
                if (clean)
                        return walk_accept(w, stats);

                if (w->round == 1)
                        first = now_monotonic_usec() - start;
                if (w->round >= WALK_MAX_ROUNDS ||
                    (!w->o->test_no_time_bound &&
                     now_monotonic_usec() - start > MAX(first * WALK_ROUNDS_TIME_FACTOR, WALK_ROUNDS_MIN_USEC))) {
                        stats->rounds = w->round;
                        stats->n_rewalked = w->n_rewalked;
                        free(w->last_why);
                        w->last_why = TAKE_PTR(w->round_why);
                        return -EAGAIN;
                }
                free(w->last_why);
                w->last_why = TAKE_PTR(w->round_why);
        }
}

int home_walk(const char *home, const WalkOptions *opts, const WalkCallbacks *cb, void *userdata,
              WalkStats *ret_stats) {
        static const WalkOptions default_options = {};
        const WalkOptions *o = opts ?: &default_options;
        unsigned max_passes = o->max_passes ?: WALK_MAX_PASSES;
        Walk w = {
                .o = o,
                .cb = cb,
                .userdata = userdata,
                .home = home,
                .home_fd = -1,
                .unit = UINT_MAX,
        };
        WalkStats stats = {};
        struct stat home_st;
        int r = 0;

        if (!home || !cb || !cb->overlay)
                return -EINVAL;
        w.root = &w;

        w.home_fd = open(home, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
        if (w.home_fd < 0)
                return -errno;
        if (fstat(w.home_fd, &home_st) < 0) {
                r = -errno;
                walk_done(&w);
                return r;
        }
        w.home_dev = home_st.st_dev;
        w.fd_budget = fd_budget();
        if (o->test_fd_budget > 0)
                w.fd_budget = o->test_fd_budget;

        if (o->jobs > 1) {
                if (!o->worker_userdata) {
                        walk_done(&w);
                        return -EINVAL;
                }
                r = walk_jobs_init(&w, o->jobs, o->worker_userdata);
                if (r < 0) {
                        walk_done(&w);
                        return r;
                }
        }

        w.all_careful = o->test_all_careful;
        for (stats.passes = 1;; stats.passes++) {
                int64_t clock0 = now_file_clock_nsec(), start = clock0 - WALK_RACY_WINDOW_NSEC;
                bool counts = true;

                walk_pass_done(&w);
                w.clock0 = clock0;
                w.mono0 = now_monotonic_usec();
                w.racy_since = (struct timespec) { .tv_sec = start / 1000000000, .tv_nsec = start % 1000000000 };
                if (cb->begin) {
                        r = cb->begin(stats.passes, userdata);
                        for (unsigned i = 0; i < w.n_workers && r >= 0; i++)
                                r = cb->begin(stats.passes, w.workers[i].userdata);
                        if (r < 0)
                                break;
                }

                r = walk_pass(&w, &stats, &counts);
                if (r == -EAGAIN) {
                        stats.unstable = TAKE_PTR(w.last_why);
                        break;
                }
                if (r <= 0)
                        break;
                if (!counts) {
                        /* Not a change: the same pass again, every directory stat'ed first. */
                        stats.passes--;
                        continue;
                }
                if (stats.passes >= max_passes) {
                        stats.unstable = TAKE_PTR(w.round_why);
                        stats.rounds = w.round;
                        r = -EAGAIN;
                        break;
                }
        }

        walk_done(&w);
        if (ret_stats)
                *ret_stats = stats;
        else
                walk_stats_done(&stats);
        return r;
}

void walk_stats_done(WalkStats *s) {
        s->unstable = mfree(s->unstable);
        strv_freep(&s->mounts);
        s->mounts = NULL;
        s->log = walk_log_free(s->log);
}
