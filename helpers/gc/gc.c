/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The GC run and its delete protocol (gc.h): recover what an interrupted run
 * left aside, walk the home's references, judge the candidates, move the
 * orphans aside, walk again, put back what became referenced, unlink the rest.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <dirent.h>

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

static WalkOptions walk_options(const Run *run) {
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

static int collect_refs(Run *run, GcRefs *ret) {
        WalkOptions wo = walk_options(run);
        struct stat st;
        FileId images = {};

        if (fstat(run->dfd, &st) >= 0)
                images = (FileId) { st.st_dev, st.st_ino };
        return gc_refs_collect(run->o->home, images, &wo, ret);
}

/* Moves the errors a walk collected into the run's result. */
static int move_refs_errors(Run *run, GcRefs *refs) {
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

/* Real runs of one home exclude each other; the lock goes with the directory fd (and with a killed run). */
static int lock_images(int dfd, uint64_t timeout_usec) {
        uint64_t deadline = now_monotonic_usec() + timeout_usec;

        for (;;) {
                if (flock(dfd, LOCK_EX | LOCK_NB) >= 0)
                        return 0;
                if (errno != EWOULDBLOCK && errno != EINTR)
                        return -errno;
                if (now_monotonic_usec() >= deadline)
                        return -EBUSY;
                (void) usleep(20 * 1000);
        }
}

/* ---- the run ---- */

/*
 * Puts back aside files an interrupted run left behind. Only names the GC
 * makes (.boxlite-gc-<name>.ext4 and their sidecars) that are regular files
 * are touched; anything else that merely starts with the prefix is left alone.
 */
static int recover_aside(Run *run) {
        DIR *d;
        struct dirent *de;
        int fd, r = 0;

        fd = openat(run->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return run_error(run, run->images, "cannot open directory: %s", strerror(errno));
        d = fdopendir(fd);
        if (!d) {
                (void) close(fd);
                return run_error(run, run->images, "cannot open directory: %s", strerror(errno));
        }
        for (;;) {
                const char *orig;
                struct statx sx;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                r = run_error(run, run->images, "cannot read directory: %s", strerror(errno));
                        break;
                }
                if (!gc_is_aside_name(de->d_name))
                        continue;
                if (gc_statx(run->dfd, de->d_name, &sx) < 0 || !S_ISREG(sx.stx_mode))
                        continue;
                orig = de->d_name + strlen(GC_ASIDE_PREFIX);
                if (renameat2(run->dfd, de->d_name, run->dfd, orig, RENAME_NOREPLACE) < 0) {
                        if (errno == EEXIST) {
                                /* A start rebuilt the image under its name while this copy was aside.
                                 * Putting it back is impossible, and leaving it would block that name
                                 * from ever being set aside again: decide after the walk
                                 * (reclaim_superseded()). */
                                char **l = realloc(run->superseded, (run->n_superseded + 1) * sizeof(char *));

                                if (!l) {
                                        r = -ENOMEM;
                                        break;
                                }
                                run->superseded = l;
                                l[run->n_superseded] = strdup(de->d_name);
                                if (!l[run->n_superseded]) {
                                        r = -ENOMEM;
                                        break;
                                }
                                run->n_superseded++;
                                continue;
                        }
                        r = run_error(run, de->d_name,
                                      "cannot put back '%s' left aside by an interrupted run: %s", orig,
                                      strerror(errno));
                        if (r < 0)
                                break;
                        continue;
                }
                run->res->n_restored++;
        }
        (void) closedir(d);
        return r;
}

/*
 * A superseded aside file: no backing name can reach it under its original
 * name, which now holds another file. It is unlinked when the walk was
 * complete, it is a regular file with no other name (or its other
 * name is the file now under the original name), nothing pins its inode (a
 * json: name that mentions it included) and no process holds it locked;
 * otherwise it is kept and reported. The next run decides again.
 */
static int reclaim_superseded(Run *run, const GcRefs *refs) {
        for (size_t i = 0; i < run->n_superseded; i++) {
                const char *name = run->superseded[i], *orig = name + strlen(GC_ASIDE_PREFIX);
                struct statx sx, osx;
                bool alias;
                GcEntry e = {};
                int r;

                if (gc_statx(run->dfd, name, &sx) < 0 || !S_ISREG(sx.stx_mode))
                        continue;
                r = entry_init(&e, run->images, name, &sx);
                if (r < 0) {
                        gc_entry_done(&e);
                        return r;
                }
                e.counted = true;
                alias = gc_statx(run->dfd, orig, &osx) >= 0 && osx.stx_ino == sx.stx_ino &&
                        osx.stx_dev_major == sx.stx_dev_major && osx.stx_dev_minor == sx.stx_dev_minor;

                if (!refs->complete)
                        r = run_keep(run, &e, GC_KEEP_UNSAFE, "left aside by an interrupted run, its name since "
                                     "re-created; not every reference could be read");
                else if (gc_refs_pins(refs, e.dev, e.ino) || gc_refs_mention(refs, orig) || gc_refs_mention(refs, name))
                        r = run_keep(run, &e, GC_KEEP_PINNED, "left aside by an interrupted run and still referenced");
                else if (e.nlink > 1 && !alias)
                        r = run_keep(run, &e, GC_KEEP_UNSAFE, "left aside by an interrupted run; it has other names");
                else if (image_in_use(run->dfd, name))
                        r = run_keep(run, &e, GC_KEEP_PINNED, "left aside by an interrupted run; in use by a process");
                else if (unlinkat(run->dfd, name, 0) < 0) {
                        r = run_error(run, e.path, "cannot remove a superseded copy left aside by an interrupted "
                                      "run: %s", strerror(errno));
                        if (r >= 0)
                                r = run_keep(run, &e, GC_KEEP_UNSAFE, "could not be removed");
                } else {
                        r = entry_set_detail(&e, "superseded copy left aside by an interrupted run");
                        if (r >= 0)
                                r = run_reclaimed(run, &e);
                }
                if (r < 0) {
                        gc_entry_done(&e);
                        return r;
                }
        }
        return 0;
}

/* Renames one file back from aside; false when it could not be (reported; the next run puts it back). */
static int put_back_one(Run *run, const GcEntry *e) {
        _cleanup_free_ char *aside = gc_aside_name(e->name);

        if (!aside)
                return -ENOMEM;
        if (renameat2(run->dfd, aside, run->dfd, e->name, RENAME_NOREPLACE) < 0) {
                int r = run_error(run, e->path, "cannot put back from '%s': %s; the next run puts it back", aside,
                                  strerror(errno));
                return r < 0 ? r : 0;
        }
        return 1;
}

/* Puts an image (and its sidecar, if it is aside) back and keeps it. */
static int put_back(Run *run, GcEntry *e, bool sidecar_aside, GcKeepReason reason, const char *detail) {
        int r, k = 1;

        if (e->sidecar && sidecar_aside) {
                k = put_back_one(run, e->sidecar);
                if (k < 0)
                        return k;
        }
        r = put_back_one(run, e);
        if (r < 0)
                return r;
        if (r == 0 || k == 0)
                return run_keep(run, e, GC_KEEP_UNSAFE, "left aside, could not be put back");
        run->res->n_put_back++;
        return run_keep(run, e, reason, detail);
}

/* Renames one file aside after checking it is still what was judged: 1 moved, 0 not (kept by the caller). */
static int move_one_aside(Run *run, const GcEntry *e, const char **ret_why) {
        _cleanup_free_ char *aside = gc_aside_name(e->name);
        struct statx sx;

        if (!aside)
                return -ENOMEM;
        if (gc_statx(run->dfd, e->name, &sx) < 0 || !entry_same_file(&sx, e)) {
                *ret_why = "changed during the run";
                return 0;
        }
        if (renameat2(run->dfd, e->name, run->dfd, aside, RENAME_NOREPLACE) < 0) {
                int r = run_error(run, e->path, "cannot move aside: %s", strerror(errno));
                *ret_why = "could not be moved aside";
                return r < 0 ? r : 0;
        }
        if (gc_statx(run->dfd, aside, &sx) < 0 || (ino_t) sx.stx_ino != e->ino) {
                /* Replaced between the check and the rename: a new file; it goes back. */
                *ret_why = "replaced during the run";
                return 2;
        }
        return 1;
}

/* Phase 1: rename each selected orphan (and its sidecar) aside; returns those that were moved. */
static int move_aside(Run *run, EntryList *sel, EntryList *ret_moved) {
        EntryList moved = {};
        int r = 0;

        for (size_t i = 0; r >= 0 && i < sel->n; i++) {
                GcEntry *e = &sel->v[i];
                const char *why = NULL;
                int k;

                k = move_one_aside(run, e, &why);
                if (k < 0)
                        r = k;
                else if (k == 0)
                        r = run_keep(run, e, GC_KEEP_UNSAFE, why);
                else if (k == 2)
                        r = put_back(run, e, /* sidecar_aside= */ false, GC_KEEP_UNSAFE, why);
                else if (e->sidecar && (k = move_one_aside(run, e->sidecar, &why)) != 1) {
                        /* The sidecar changed (the runtime rehashed the image: it is in use): all goes back. */
                        if (k < 0)
                                r = k;
                        else
                                r = put_back(run, e, /* sidecar_aside= */ k == 2, GC_KEEP_UNSAFE, why);
                } else {
                        r = entry_list_push(&moved, e);
                        if (r >= 0)
                                *e = (GcEntry) {};
                }
        }
        if (r < 0) {
                entry_list_done(&moved);
                return r;
        }
        sel->n = 0;
        *ret_moved = moved;
        return 0;
}

/* Unlinks one aside file: 1 done, 0 failed (reported). */
static int unlink_aside(Run *run, const GcEntry *e) {
        _cleanup_free_ char *aside = gc_aside_name(e->name);

        if (!aside)
                return -ENOMEM;
        if (unlinkat(run->dfd, aside, 0) < 0) {
                int r = run_error(run, e->path, "cannot delete: %s", strerror(errno));
                return r < 0 ? r : 0;
        }
        return 1;
}

/*
 * Phase 2 and 3: look at every chain again (the first walk's log rechecked, or
 * a second walk where it does not hold), put back what is referenced now,
 * unlink the rest.
 */
static int recheck_and_unlink(Run *run, const GcRefs *first, EntryList *moved) {
        GcRefs refs = {};
        GcRecheck rc = {};
        bool recheck = !run->o->test_no_recheck;
        int r = 0;

        if (recheck) {
                WalkOptions wo = walk_options(run);

                r = gc_refs_recheck(run->o->home, first, &wo, &refs, &rc);
                if (r < 0)
                        return r;
                run->res->rechecked = true;
                run->res->recheck_walked = rc.walked;
                run->res->recheck_reread = rc.reread;
                run->res->recheck_why = TAKE_PTR(rc.why);
                if (!refs.complete) {
                        run->res->fail_closed = true;
                        r = move_refs_errors(run, &refs);
                }
        }

        for (size_t i = 0; r >= 0 && i < moved->n; i++) {
                GcEntry *e = &moved->v[i], *s = e->sidecar;
                int k;

                if (recheck && !refs.complete)
                        r = put_back(run, e, true, GC_KEEP_UNSAFE, "the second look could not read every reference");
                else if (recheck && (gc_refs_pins(&refs, e->dev, e->ino) || (s && gc_refs_pins(&refs, s->dev, s->ino)) ||
                                     gc_refs_mention(&refs, e->name)))
                        r = put_back(run, e, true, GC_KEEP_PINNED, "became referenced during the run");
                else if ((k = unlink_aside(run, e)) <= 0)
                        r = k < 0 ? k : put_back(run, e, true, GC_KEEP_UNSAFE, "delete failed");
                else {
                        /* The image is gone; a sidecar that cannot be unlinked is an orphan the next run takes. */
                        if (s && (k = unlink_aside(run, s)) <= 0) {
                                if (k < 0)
                                        r = k;
                                else if (put_back_one(run, s) < 0)
                                        r = -ENOMEM;
                                gc_entry_done(s);
                                e->sidecar = mfree(e->sidecar);
                        }
                        if (r >= 0)
                                r = run_reclaimed(run, e);
                }
        }
        moved->n = 0;

        (void) fsync(run->dfd);
        gc_refs_done(&refs);
        return r;
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
        r = collect_refs(&run, &refs);
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
                r = move_refs_errors(&run, &refs);
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
