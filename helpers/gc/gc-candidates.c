/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The GC's candidates: what images/disk-images/ holds, and what each file is judged to be. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "gc-internal.h"
#include "macro.h"
#include "path-util.h"
#include "time-util.h"

static int64_t ts_nsec(struct statx_timestamp t) {
        return (int64_t) t.tv_sec * 1000000000 + t.tv_nsec;
}

bool gc_honour_test_hooks(void) {
#if BOXLITE_TEST_HOOKS
        return true;
#else
        return false;
#endif
}

void gc_entry_done(GcEntry *e) {
        if (e->sidecar) {
                gc_entry_done(e->sidecar);
                e->sidecar = mfree(e->sidecar);
        }
        e->path = mfree(e->path);
        e->name = NULL;
        e->detail = mfree(e->detail);
}

int entry_list_push(EntryList *l, const GcEntry *e) {
        if (greedy_realloc(&l->v, &l->allocated, l->n + 1, sizeof(GcEntry), 64) < 0)
                return -ENOMEM;
        l->v[l->n++] = *e;
        return 0;
}

void entry_list_done(EntryList *l) {
        for (size_t i = 0; i < l->n; i++)
                gc_entry_done(&l->v[i]);
        free(l->v);
        *l = (EntryList) {};
}

int entry_init(GcEntry *e, const char *images, const char *name, const struct statx *sx) {
        size_t dir_len = strlen(images), name_len = strlen(name);

        *e = (GcEntry) {};
        e->path = malloc(dir_len + 1 + name_len + 1);
        if (!e->path)
                return -ENOMEM;
        memcpy(e->path, images, dir_len);
        e->path[dir_len] = '/';
        memcpy(e->path + dir_len + 1, name, name_len + 1);
        e->name = e->path + dir_len + 1;
        if (sx) {
                int64_t m = ts_nsec(sx->stx_mtime), c = ts_nsec(sx->stx_ctime), a = ts_nsec(sx->stx_atime);

                e->dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
                e->ino = (ino_t) sx->stx_ino;
                e->nlink = sx->stx_nlink;
                e->size = sx->stx_size;
                e->allocated = sx->stx_blocks * 512;
                e->mtime_nsec = m;
                e->newest_nsec = MAX(m, c);
                if (sx->stx_mask & STATX_BTIME)
                        e->newest_nsec = MAX(e->newest_nsec, ts_nsec(sx->stx_btime));
                e->lru_nsec = MAX(a, m);
        }
        return 0;
}

int entry_set_detail(GcEntry *e, const char *detail) {
        free(e->detail);
        e->detail = detail ? strdup(detail) : NULL;
        return !detail || e->detail ? 0 : -ENOMEM;
}

int gc_statx(int dfd, const char *name, struct statx *ret) {
        if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS | STATX_BTIME, ret) < 0)
                return -errno;
        return 0;
}

bool entry_same_file(const struct statx *sx, const GcEntry *e) {
        return makedev(sx->stx_dev_major, sx->stx_dev_minor) == e->dev && (ino_t) sx->stx_ino == e->ino &&
               sx->stx_size == e->size && ts_nsec(sx->stx_mtime) == e->mtime_nsec;
}

/* True if a process holds a lock on the file: QEMU locks images it has open (OFD lock bytes 100+ and 200+). */
bool image_in_use(int dfd, const char *name) {
        _cleanup_close_ int fd = -1;
        struct flock fl = {
                .l_type = F_WRLCK,
                .l_whence = SEEK_SET,
        };

        fd = openat(dfd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return false;
        if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
                return false;
        return fl.l_type != F_UNLCK;
}

int run_error(Run *run, const char *path, const char *format, ...) {
        va_list ap;
        char *s;

        va_start(ap, format);
        if (vasprintf(&s, format, ap) < 0)
                s = NULL;
        va_end(ap);
        return gc_errors_add(&run->res->errors, &run->res->n_errors, path, s);
}

int run_keep(Run *run, GcEntry *e, GcKeepReason reason, const char *detail) {
        int r;

        e->reason = reason;
        r = entry_set_detail(e, detail);
        if (r < 0)
                return r;
        if (e->sidecar)
                e->sidecar->reason = reason;
        r = entry_list_push(&run->kept, e);
        if (r < 0)
                return r;
        *e = (GcEntry) {};
        return 0;
}

int run_reclaimed(Run *run, GcEntry *e) {
        int r;

        run->res->reclaimed_bytes += gc_entry_freed_bytes(e);
        run->res->reclaimed_allocated += gc_entry_freed_allocated(e);
        if (e->sidecar) {
                run->res->reclaimed_bytes += gc_entry_freed_bytes(e->sidecar);
                run->res->reclaimed_allocated += gc_entry_freed_allocated(e->sidecar);
        }
        r = entry_list_push(&run->reclaimed, e);
        if (r < 0)
                return r;
        *e = (GcEntry) {};
        return 0;
}

char *gc_aside_name(const char *name) {
        char *s;

        if (asprintf(&s, GC_ASIDE_PREFIX "%s", name) < 0)
                return NULL;
        return s;
}

bool gc_is_candidate_name(const char *name) {
        return !filename_is_hidden(name) && endswith(name, ".ext4") && strlen(name) > strlen(".ext4");
}

bool gc_is_aside_name(const char *name) {
        const char *orig;
        size_t n;

        if (strncmp(name, GC_ASIDE_PREFIX, strlen(GC_ASIDE_PREFIX)) != 0)
                return false;
        orig = name + strlen(GC_ASIDE_PREFIX);
        if (gc_is_candidate_name(orig))
                return true;
        n = strlen(orig);
        if (n <= strlen(GC_SIDECAR_SUFFIX) || !endswith(orig, GC_SIDECAR_SUFFIX))
                return false;
        {
                _cleanup_free_ char *image = strndup(orig, n - strlen(GC_SIDECAR_SUFFIX));

                return image && gc_is_candidate_name(image);
        }
}

static int cmp_name(const void *a, const void *b) {
        return strcmp(((const GcEntry *) a)->name, ((const GcEntry *) b)->name);
}

static int cmp_lru(const void *a, const void *b) {
        const GcEntry *x = a, *y = b;

        if (x->lru_nsec != y->lru_nsec)
                return x->lru_nsec < y->lru_nsec ? -1 : 1;
        return strcmp(x->name, y->name);
}

/* Gives each sidecar to its image; a sidecar whose image is gone becomes a candidate of its own. */
static int pair_sidecars(Run *run, EntryList *cands, EntryList *sidecars) {
        size_t n_images = cands->n;

        if (cands->n > 1)
                qsort(cands->v, cands->n, sizeof(GcEntry), cmp_name);

        for (size_t i = 0; i < sidecars->n; i++) {
                GcEntry *s = &sidecars->v[i];
                _cleanup_free_ char *image = strndup(s->name, strlen(s->name) - strlen(GC_SIDECAR_SUFFIX));
                GcEntry key = { .name = image }, *owner;
                int r;

                if (!image)
                        return -ENOMEM;
                /* Orphan sidecars are appended behind the sorted images; only those are searched. */
                owner = bsearch(&key, cands->v, n_images, sizeof(GcEntry), cmp_name);
                if (owner && !owner->sidecar) {
                        owner->sidecar = malloc(sizeof(GcEntry));
                        if (!owner->sidecar)
                                return -ENOMEM;
                        *owner->sidecar = *s;
                        *s = (GcEntry) {};
                        r = entry_set_detail(owner->sidecar, "sidecar of its image");
                } else if (fstatat(run->dfd, image, &(struct stat) {}, AT_SYMLINK_NOFOLLOW) >= 0 || errno != ENOENT)
                        /* Its image is there but not a candidate (a symlink, a directory): kept with it. */
                        r = run_keep(run, s, GC_KEEP_NOT_EXT4, "sidecar of a file that is not a candidate");
                else {
                        r = entry_set_detail(s, "sidecar whose image is gone");
                        if (r >= 0)
                                r = entry_list_push(cands, s);
                        if (r >= 0)
                                *s = (GcEntry) {};
                }
                if (r < 0)
                        return r;
        }
        sidecars->n = 0;
        return 0;
}

int gc_scan_candidates(Run *run, EntryList *ret) {
        DIR *d = NULL;
        EntryList cands = {}, sidecars = {};
        struct dirent *de;
        size_t n = 0;
        int fd, r = 0;

        fd = openat(run->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                (void) close(fd);
                return r;
        }

        for (;;) {
                struct statx sx;
                GcEntry e;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        r = -errno;
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;

                r = gc_statx(run->dfd, de->d_name, &sx);
                if (r == -ENOENT)
                        continue;
                if (r < 0) {
                        r = run_error(run, de->d_name, "cannot stat: %s", strerror(-r));
                        if (r < 0)
                                break;
                        run->res->fail_closed = true;
                        continue;
                }
                r = entry_init(&e, run->images, de->d_name, &sx);
                if (r >= 0) {
                        if (filename_is_hidden(de->d_name))
                                r = run_keep(run, &e, GC_KEEP_NOT_EXT4,
                                             gc_is_aside_name(de->d_name) ?
                                                     "left aside by an interrupted run; a real run puts it back" :
                                                     "hidden file");
                        else if (!S_ISREG(sx.stx_mode))
                                r = run_keep(run, &e, GC_KEEP_NOT_EXT4,
                                             S_ISLNK(sx.stx_mode) ? "symbolic link" : "not a regular file");
                        else if (endswith(de->d_name, ".ext4" GC_SIDECAR_SUFFIX)) {
                                e.is_sidecar = true;
                                e.counted = true;
                                r = entry_list_push(&sidecars, &e);
                        } else if (!gc_is_candidate_name(de->d_name))
                                r = run_keep(run, &e, GC_KEEP_NOT_EXT4, "not named *.ext4");
                        else if (++n > GC_MAX_FILES)
                                r = run_keep(run, &e, GC_KEEP_UNSAFE, "more candidates than one run handles");
                        else {
                                e.counted = true;
                                r = entry_list_push(&cands, &e);
                        }
                }
                if (r < 0) {
                        gc_entry_done(&e);
                        break;
                }
        }
        (void) closedir(d);

        if (r >= 0)
                r = pair_sidecars(run, &cands, &sidecars);
        entry_list_done(&sidecars);
        if (r < 0) {
                entry_list_done(&cands);
                return r;
        }
        /* Grown by doubling: give back what the list will never use. */
        if (cands.n > 0 && cands.n < cands.allocated) {
                GcEntry *v = realloc(cands.v, cands.n * sizeof(GcEntry));

                if (v) {
                        cands.v = v;
                        cands.allocated = cands.n;
                }
        }
        *ret = cands;
        return 0;
}

static bool plan_matches(const GcOptions *o, const GcEntry *e, const char **ret_detail) {
        const GcPlanEntry *p = gc_plan_find(o->plan, o->n_plan, e->name);

        if (!p || p->dev != e->dev || p->ino != e->ino || p->size != e->size || p->mtime_nsec != e->mtime_nsec) {
                *ret_detail = p ? "changed since the plan was made" : "not in the plan";
                return false;
        }
        return true;
}

/* Why a candidate is kept, or _GC_KEEP_REASON_INVALID for an orphan. */
static GcKeepReason classify_one(Run *run, const GcEntry *e, const GcRefs *refs, const char **ret_detail) {
        const GcOptions *o = run->o;
        const GcEntry *s = e->sidecar;
        int64_t now = run->now, grace = (int64_t) MIN(o->grace_usec, (uint64_t) INT64_MAX / 1000) * 1000;
        int64_t newest = s ? MAX(e->newest_nsec, s->newest_nsec) : e->newest_nsec;

        if (o->use_plan && (!plan_matches(o, e, ret_detail) || (s && !plan_matches(o, s, ret_detail))))
                return GC_KEEP_NOT_IN_PLAN;
        *ret_detail = "in a backing chain";
        if (gc_refs_pins(refs, e->dev, e->ino) || (s && gc_refs_pins(refs, s->dev, s->ino)))
                return GC_KEEP_PINNED;
        *ret_detail = "named by a json: or protocol backing name";
        if (gc_refs_mention(refs, e->name))
                return GC_KEEP_PINNED;
        *ret_detail = "not every reference could be read (see errors)";
        if (!refs->complete)
                return GC_KEEP_UNSAFE;
        *ret_detail = "timestamp in the future";
        if (newest > now)
                return GC_KEEP_GRACE;
        *ret_detail = s && s->newest_nsec > e->newest_nsec ? "its sidecar changed within the grace window" :
                                                             "changed within the grace window";
        if (!o->test_no_grace && now - newest < grace)
                return GC_KEEP_GRACE;
        *ret_detail = "locked by a running process";
        if (image_in_use(run->dfd, e->name))
                return GC_KEEP_PINNED;
        *ret_detail = NULL;
        return _GC_KEEP_REASON_INVALID;
}

/*
 * Decides each candidate: the kept ones go to run->kept (grown once, by what
 * they need), the orphans stay in cands' own array, which becomes the orphan
 * list: a home of 100,000 images needs no second array of them.
 */
int gc_classify_candidates(Run *run, EntryList *cands, const GcRefs *refs, EntryList *ret_orphans) {
        const GcOptions *o = run->o;
        _cleanup_free_ GcKeepReason *reasons = NULL;
        _cleanup_free_ const char **details = NULL;
        EntryList orphans;
        size_t n_kept = 0, n = 0;
        int r;

        if (cands->n > 0) {
                reasons = malloc(cands->n * sizeof(GcKeepReason));
                details = malloc(cands->n * sizeof(const char *));
                if (!reasons || !details)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < cands->n; i++) {
                reasons[i] = classify_one(run, &cands->v[i], refs, &details[i]);
                n_kept += reasons[i] != _GC_KEEP_REASON_INVALID;
        }
        if (run->kept.n + n_kept > run->kept.allocated) {
                GcEntry *v = realloc(run->kept.v, (run->kept.n + n_kept) * sizeof(GcEntry));

                if (!v)
                        return -ENOMEM;
                run->kept.v = v;
                run->kept.allocated = run->kept.n + n_kept;
        }
        for (size_t i = 0; i < cands->n; i++) {
                GcEntry *e = &cands->v[i];

                if (reasons[i] == _GC_KEEP_REASON_INVALID) {
                        if (n != i)
                                cands->v[n] = *e;
                        n++;
                        continue;
                }
                r = run_keep(run, e, reasons[i], details[i]);
                if (r < 0) {
                        /* Not moved: the rest stays in cands, which the caller frees. */
                        memmove(&cands->v[n], e, (cands->n - i) * sizeof(GcEntry));
                        cands->n = n + cands->n - i;
                        return r;
                }
        }
        orphans = (EntryList) { .v = cands->v, .n = n, .allocated = cands->allocated };
        *cands = (EntryList) {};

        if (orphans.n > 1)
                qsort(orphans.v, orphans.n, sizeof(GcEntry), o->target_free > 0 ? cmp_lru : cmp_name);
        *ret_orphans = orphans;
        return 0;
}
