/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The delete protocol of the GC, step by step as tests/model/gc.pml models
 * it (docs/gc-protocol-model.md); each function is named after the step of
 * the model's gc() it implements:
 *
 *   recover_aside()       RECOVER: put back what a killed run left aside
 *   reclaim_superseded()  an aside copy whose name was made again meanwhile
 *   lock_images()         GC_LOCK: real runs of one home exclude each other
 *   move_aside()          MOVE_ASIDE, phase 1: statx, rename aside, statx the aside name
 *   recheck_and_unlink()  phase 2, the second look (WALK_HOME(2)), and phase 3,
 *                         UNLINK_OR_PUT_BACK: put back what is referenced now, unlink the rest
 *
 * A run killed between steps (the model's CRASH_POINT; the test hook
 * test_kill_after_aside) leaves aside files that the next run's
 * recover_aside() puts back.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include "gc-internal.h"
#include "macro.h"
#include "time-util.h"

/* Real runs of one home exclude each other; the lock goes with the directory fd (and with a killed run). */
int lock_images(int dfd, uint64_t timeout_usec) {
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

/*
 * Puts back aside files an interrupted run left behind. Only names the GC
 * makes (.boxlite-gc-<name>.ext4 and their sidecars) that are regular files
 * are touched; anything else that merely starts with the prefix is left alone.
 */
int recover_aside(Run *run) {
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
int reclaim_superseded(Run *run, const GcRefs *refs) {
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
int move_aside(Run *run, EntryList *sel, EntryList *ret_moved) {
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
int recheck_and_unlink(Run *run, const GcRefs *first, EntryList *moved) {
        GcRefs refs = {};
        GcRecheck rc = {};
        bool recheck = !run->o->test_no_recheck;
        int r = 0;

        if (recheck) {
                WalkOptions wo = gc_walk_options(run);

                r = gc_refs_recheck(run->o->home, first, &wo, &refs, &rc);
                if (r < 0)
                        return r;
                run->res->rechecked = true;
                run->res->recheck_walked = rc.walked;
                run->res->recheck_reread = rc.reread;
                run->res->recheck_why = TAKE_PTR(rc.why);
                if (!refs.complete) {
                        run->res->fail_closed = true;
                        r = gc_move_refs_errors(run, &refs);
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

