/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The GC run (gc.h), in the order of tests/model/gc.pml's gc(): recover what
 * an interrupted run left aside, check the home's mounts, walk its references
 * (refs_collect()), scan and judge the candidates, then the delete protocol
 * of gc-delete.c: lock, move the orphans aside, look again, put back what
 * became referenced, unlink the rest.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "gc-internal.h"
#include "macro.h"
#include "mounts.h"
#include "path-util.h"
#include "time-util.h"

static const char *const gc_keep_reason_table[_GC_KEEP_REASON_MAX] = {
        [GC_KEEP_PINNED] = "pinned",
        [GC_KEEP_GRACE] = "grace",
        [GC_KEEP_NOT_EXT4] = "not-ext4",
        [GC_KEEP_UNSAFE] = "unsafe",
        [GC_KEEP_TARGET_MET] = "target-met",
        [GC_KEEP_NOT_IN_PLAN] = "not-in-plan",
};

const char *gc_keep_reason_to_string(GcKeepReason r) {
        if (r < 0 || r >= _GC_KEEP_REASON_MAX)
                return NULL;
        return gc_keep_reason_table[r];
}

void gc_options_from_env(GcOptions *o) {
        if (!gc_honour_test_hooks())
                return;
        o->test_no_grace = !!getenv("BOXLITE_GC_TEST_NO_GRACE");
        o->test_no_recheck = !!getenv("BOXLITE_GC_TEST_NO_RECHECK");
        o->test_kill_after_aside = !!getenv("BOXLITE_GC_TEST_KILL_AFTER_ASIDE");
        o->test_no_consistency = !!getenv("BOXLITE_GC_TEST_NO_CONSISTENCY");
        o->test_all_careful = !!getenv("BOXLITE_GC_TEST_ALL_CAREFUL");
        o->test_churn = getenv("BOXLITE_GC_TEST_CHURN");
        o->test_no_time_bound = !!getenv("BOXLITE_GC_TEST_NO_TIME_BOUND");
}

unsigned gc_jobs(unsigned jobs) {
        long n;

        if (jobs > 0)
                return MIN(jobs, GC_JOBS_MAX);
        n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : (unsigned) MIN((unsigned long) n, (unsigned long) GC_JOBS_AUTO_MAX);
}

WalkOptions gc_walk_options(const Run *run) {
        return (WalkOptions) {
                .jobs = gc_jobs(run->o->jobs),
                .test_no_consistency = run->o->test_no_consistency,
                .test_all_careful = run->o->test_all_careful,
                .test_churn = run->o->test_churn,
                .test_no_time_bound = run->o->test_no_time_bound,
                /* A deleting run rechecks this walk's log instead of walking again. */
                .keep_log = !run->o->dry_run && !run->o->test_no_recheck,
        };
}

static int refs_collect(Run *run, GcRefs *ret) {
        WalkOptions wo = gc_walk_options(run);
        struct stat st;
        FileId images = {};

        if (fstat(run->dfd, &st) >= 0)
                images = (FileId) { st.st_dev, st.st_ino };
        return gc_refs_collect(run->o->home, images, &wo, ret);
}

/* Moves the errors a walk collected into the run's result. */
int gc_move_refs_errors(Run *run, GcRefs *refs) {
        for (size_t i = 0; i < refs->n_errors; i++) {
                int r = gc_errors_add(&run->res->errors, &run->res->n_errors, refs->errors[i].path,
                                      TAKE_PTR(refs->errors[i].error));
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool is_symlink_at(int dfd, const char *name) {
        struct stat st;

        return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISLNK(st.st_mode);
}

/* HOME/images/disk-images, following a symlinked HOME but neither images/ nor disk-images/ if they are links. */
static int open_images_dir(const char *home, int *ret_fd) {
        _cleanup_close_ int hfd = -1, ifd = -1;
        int fd;

        hfd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (hfd < 0)
                return -errno;
        ifd = openat(hfd, "images", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ifd < 0) {
                int e = -errno;
                return is_symlink_at(hfd, "images") ? -ELOOP : e;
        }
        fd = openat(ifd, "disk-images", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                int e = -errno;
                return is_symlink_at(ifd, "disk-images") ? -ELOOP : e;
        }
        *ret_fd = fd;
        return 0;
}

static int cmp_name(const void *a, const void *b) {
        return strcmp(((const GcEntry *) a)->name, ((const GcEntry *) b)->name);
}

/* Lists each sidecar as an entry of its own, right after its image: in place, from the end backwards. */
static int flatten_sidecars(EntryList *l) {
        size_t n_sidecars = 0, j;

        for (size_t i = 0; i < l->n; i++)
                n_sidecars += !!l->v[i].sidecar;
        if (n_sidecars == 0)
                return 0;
        if (l->n + n_sidecars > l->allocated) {
                GcEntry *v = realloc(l->v, (l->n + n_sidecars) * sizeof(GcEntry));

                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->allocated = l->n + n_sidecars;
        }
        /* Details first: an allocation failure must leave the list as it was. */
        for (size_t i = 0; i < l->n; i++) {
                GcEntry *s = l->v[i].sidecar;
                _cleanup_free_ char *detail = NULL;
                int r;

                if (!s)
                        continue;
                if (asprintf(&detail, "sidecar of '%s'", l->v[i].name) < 0)
                        return -ENOMEM;
                r = entry_set_detail(s, detail);
                if (r < 0)
                        return r;
                s->is_sidecar = true;
                s->reason = l->v[i].reason;
        }
        j = l->n + n_sidecars;
        for (size_t i = l->n; i-- > 0;) {
                GcEntry *s = l->v[i].sidecar;

                if (s) {
                        l->v[--j] = *s;
                        free(s);
                        l->v[i].sidecar = NULL;
                }
                l->v[--j] = l->v[i];
        }
        l->n += n_sidecars;
        return 0;
}

GcResult *gc_result_free(GcResult *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_reclaimed; i++)
                gc_entry_done(&r->reclaimed[i]);
        free(r->reclaimed);
        for (size_t i = 0; i < r->n_kept; i++)
                gc_entry_done(&r->kept[i]);
        free(r->kept);
        for (size_t i = 0; i < r->n_errors; i++) {
                free(r->errors[i].path);
                free(r->errors[i].error);
        }
        free(r->errors);
        free(r->home);
        free(r->recheck_why);
        free(r);
        return NULL;
}

/* fstab and the memory of mount points (mounts.h); a mount missing, or unknown, fails the run closed. */
static int check_mounts(Run *run) {
        _cleanup_free_ char *why = NULL;
        int r;

        if (run->res->mount_missing)
                return 0; /* said once */
        r = run->o->forget_mounts ? mounts_check_fstab(run->o->home, &why) : mounts_check(run->o->home, &why);
        if (r == 0)
                return 0;
        if (r == -ENOMEM)
                return r;
        run->res->fail_closed = true;
        if (r > 0)
                run->res->mount_missing = true;
        return run_error(run, run->o->home, "%s", why ?: "cannot check the mounts of this home");
}

int gc_run(const GcOptions *o, GcResult **ret) {
        _cleanup_(gc_result_freep) GcResult *res = NULL;
        EntryList cands = {}, orphans = {}, sel = {}, moved = {};
        GcRefs refs = {};
        Run run = { .o = o, .dfd = -1 };
        char **mounts = NULL;
        struct statvfs sv;
        uint64_t t0 = now_monotonic_usec(), avail;
        int r;

        if (!o || !o->home || !ret)
                return -EINVAL;

        res = calloc(1, sizeof(GcResult));
        if (!res)
                return -ENOMEM;
        res->home = strdup(o->home);
        if (!res->home)
                return -ENOMEM;
        res->dry_run = o->dry_run;
        res->target_free = o->target_free;
        run.res = res;

        if (asprintf(&run.images, "%s/images/disk-images", o->home) < 0)
                return -ENOMEM;

        r = open_images_dir(o->home, &run.dfd);
        if (r == -ELOOP) {
                /* images/ or disk-images/ is a symlink: deleting through it could reach files outside
                 * the home (the home itself may be a symlink). */
                r = run_error(&run, run.images, "is or lies under a symbolic link; refusing to delete through it");
                res->fail_closed = true;
                goto finish;
        }
        if (r < 0) {
                if (r == -ENOENT && access(o->home, F_OK) >= 0) {
                        /* A home without an image cache: nothing to collect. */
                        r = 0;
                        goto finish;
                }
                free(run.images);
                return r;
        }

        if (!o->dry_run) {
                r = lock_images(run.dfd, o->lock_timeout_usec ?: GC_LOCK_TIMEOUT_DEFAULT_USEC);
                if (r < 0) {
                        if (r == -EBUSY)
                                r = run_error(&run, run.images, "another collection of this home is still "
                                              "running; nothing done");
                        else
                                r = run_error(&run, run.images, "cannot lock the image directory: %s",
                                              strerror(-r));
                        res->fail_closed = true;
                        goto finish;
                }
        }

        if (fstatvfs(run.dfd, &sv) >= 0)
                res->available_before = (uint64_t) sv.f_bavail * (sv.f_frsize ?: sv.f_bsize);

        if (!o->dry_run) {
                r = recover_aside(&run);
                if (r < 0)
                        goto finish;
        }

        /* A file system fstab declares in the home, or one a clean run crossed, that is not mounted now:
         * its boxes look gone. */
        if (o->forget_mounts && !o->dry_run) {
                r = mounts_forget(o->home);
                if (r < 0) {
                        res->fail_closed = true;
                        r = run_error(&run, o->home, "cannot forget the mount points remembered for this home: %s",
                                      strerror(-r));
                        if (r < 0)
                                goto finish;
                }
        }
        r = check_mounts(&run);
        if (r < 0)
                goto finish;

        /* References first, candidates second: an image built meanwhile is new, so the grace keeps it. */
        r = refs_collect(&run, &refs);
        if (r < 0)
                goto finish;
        mounts = TAKE_PTR(refs.mounts);
        /* Once more after the walk: a disk unmounted while it ran leaves a bare directory behind. */
        r = check_mounts(&run);
        if (r < 0)
                goto finish;
        res->n_overlays = refs.n_overlays;
        res->walk_passes = refs.passes;
        res->walk_rounds = refs.rounds;
        res->walk_rewalked = refs.n_rewalked;
        run.now = now_file_clock_nsec();
        if (!refs.complete) {
                res->fail_closed = true;
                r = gc_move_refs_errors(&run, &refs);
                if (r < 0)
                        goto finish;
        }

        /* Before the scan, so that a removed copy is not also listed as a kept hidden file. */
        r = reclaim_superseded(&run, &refs);
        if (r < 0)
                goto finish;

        r = gc_scan_candidates(&run, &cands);
        if (r < 0) {
                r = run_error(&run, run.images, "cannot list: %s", strerror(-r));
                res->fail_closed = true;
                goto finish;
        }
        if (cands.n > 0 && refs.n_boxes == 0 && !o->allow_no_boxes && !res->fail_closed) {
                /* An unmounted boxes/ is an empty directory: no box at all is not taken for a fact. */
                _cleanup_free_ char *boxes = NULL;

                if (asprintf(&boxes, "%s/boxes", o->home) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }
                res->fail_closed = true;
                res->no_boxes = true;
                r = run_error(&run, boxes, "holds no box, which is what a disk that is not mounted looks like: "
                              "nothing is reclaimed; if this home really has no boxes, pass --allow-no-boxes "
                              "(or set AllowNoBoxes=yes in [GC] of boxlite.conf)");
                if (r < 0)
                        goto finish;
        }
        if (res->fail_closed)
                refs.complete = false;

        r = gc_classify_candidates(&run, &cands, &refs, &orphans);
        entry_list_done(&cands);  /* every entry moved on: give back the array now, not at the end */
        if (r < 0)
                goto finish;
        /* The second look needs the first walk's log, not its pinned set. */
        gc_refs_keep_log_only(&refs);

        /* Select, LRU first with a target; the estimate counts the blocks each unlink frees. */
        avail = res->available_before;
        for (size_t i = 0; i < orphans.n; i++) {
                GcEntry *e = &orphans.v[i];

                if (o->target_free > 0 && avail >= o->target_free)
                        r = run_keep(&run, e, GC_KEEP_TARGET_MET, "the free-space target was reached");
                else {
                        avail += gc_entry_freed_allocated(e) + (e->sidecar ? gc_entry_freed_allocated(e->sidecar) : 0);
                        r = entry_list_push(&sel, e);
                        if (r >= 0)
                                *e = (GcEntry) {};
                }
                if (r < 0)
                        goto finish;
        }
        orphans.n = 0;
        entry_list_done(&orphans);

        if (o->dry_run) {
                for (size_t i = 0; i < sel.n; i++) {
                        r = run_reclaimed(&run, &sel.v[i]);
                        if (r < 0)
                                goto finish;
                }
                sel.n = 0;
                entry_list_done(&sel);
        } else if (sel.n > 0) {
                r = move_aside(&run, &sel, &moved);
                if (r < 0)
                        goto finish;
                if (o->test_kill_after_aside && gc_honour_test_hooks())
                        (void) raise(SIGKILL);
                r = recheck_and_unlink(&run, &refs, &moved);
                if (r < 0)
                        goto finish;
        }
        r = 0;

        /* A clean deleting run remembers the mounts it crossed, for the runs after it (mounts.h). */
        if (!o->dry_run && !res->fail_closed && res->n_errors == 0)
                res->remember_error = mounts_remember(o->home, mounts);

finish:
        strv_freep(&mounts);
        if (run.kept.n > 1)
                qsort(run.kept.v, run.kept.n, sizeof(GcEntry), cmp_name);
        if (r >= 0)
                r = flatten_sidecars(&run.kept);
        if (r >= 0)
                r = flatten_sidecars(&run.reclaimed);
        res->available_after = res->available_before + res->reclaimed_allocated;
        res->kept = run.kept.v;
        res->n_kept = run.kept.n;
        run.kept = (EntryList) {};
        res->reclaimed = run.reclaimed.v;
        res->n_reclaimed = run.reclaimed.n;
        run.reclaimed = (EntryList) {};

        entry_list_done(&cands);
        entry_list_done(&orphans);
        entry_list_done(&sel);
        entry_list_done(&moved);
        gc_refs_done(&refs);
        for (size_t i = 0; i < run.n_superseded; i++)
                free(run.superseded[i]);
        free(run.superseded);
        if (run.dfd >= 0)
                (void) close(run.dfd);
        free(run.images);
        if (r < 0)
                return r;

        res->duration_usec = now_monotonic_usec() - t0;
        {
                struct timespec ts;

                (void) clock_gettime(CLOCK_REALTIME, &ts);
                res->finished_realtime_usec = (uint64_t) timespec_nsec(ts) / 1000;
        }
        *ret = TAKE_PTR(res);
        return 0;
}
