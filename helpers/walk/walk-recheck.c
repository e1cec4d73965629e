/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The recheck of a logged pass (walk.h). The pass's directory records are in
 * pre-order (a directory before everything under it), so one stack of
 * O_PATH descriptors, one per level, reaches every directory with one
 * lookup. Each is proven as the pass proved a directory by its times
 * (walk.c, post_prove()): unchanged from racy_since, before the pass began,
 * until it is stat'ed now, after the GC moved its orphans aside. All of them
 * then showed the same tree at the instant the recheck began; so did the
 * files proven by their times, and the others are read as they are now.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "walk-internal.h"
#include "walk.h"

WalkLog *walk_log_free(WalkLog *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_dirs; i++)
                free(l->dirs[i].name);
        for (size_t i = 0; i < l->n_files; i++)
                free(l->files[i].name);
        free(l->dirs);
        free(l->files);
        free(l->home);
        free(l);
        return NULL;
}

struct timespec walk_log_racy_since(const WalkLog *l) {
        return l->racy_since;
}

static bool old_enough(const WalkLog *l, const struct stat *st) {
        return !walk_ts_ge(st->st_mtim, l->racy_since) && !walk_ts_ge(st->st_ctim, l->racy_since);
}

static bool dir_same(const WalkLog *l, const DirRecord *d, const struct stat *st) {
        return d->local_times && !d->racy && st->st_dev == d->dev && st->st_ino == d->ino && st->st_nlink == d->nlink &&
               st->st_size == d->size && walk_ts_eq(st->st_mtim, d->mtime) && walk_ts_eq(st->st_ctim, d->ctime) &&
               old_enough(l, st);
}

static bool file_same(const WalkLog *l, const WalkFile *f, const struct stat *st) {
        return S_ISREG(st->st_mode) && st->st_dev == f->dev && st->st_ino == f->ino && st->st_size == f->size &&
               walk_ts_eq(st->st_mtim, f->mtime) && walk_ts_eq(st->st_ctim, f->ctime) && old_enough(l, st);
}

static int record_path(const WalkLog *l, size_t i, const char *leaf, char **ret) {
        *ret = walk_record_path(l->home, l->dirs, i, leaf);
        return *ret ? 0 : -ENOMEM;
}

_printf_(3, 4) static int changed(char **ret_why, int r, const char *format, ...) {
        va_list ap;

        if (r < 0)
                return r;
        va_start(ap, format);
        if (vasprintf(ret_why, format, ap) < 0)
                *ret_why = NULL;
        va_end(ap);
        return *ret_why ? WALK_CHANGED : -ENOMEM;
}

/* A file that its times cannot prove unchanged: read again, as the walk reads a listed file. */
static int reread(const WalkLog *l, Walk *w, int dir_fd, size_t dir_index, const WalkFile *f, char **ret_why) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        r = record_path(l, dir_index, f->name, &path);
        if (r < 0)
                return r;
        fd = openat(dir_fd, f->name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | (f->via_link ? 0 : O_NOFOLLOW));
        if (fd < 0)
                return changed(ret_why, 0, "'%s' cannot be opened again: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != f->dev || st.st_ino != f->ino)
                return changed(ret_why, 0, "'%s' was replaced since the first walk", path);

        w->path = path;
        w->part = l->dirs[dir_index].part;
        r = walk_file(w, dir_fd, dir_index, f->name, f->via_link, fd, &st);
        w->path = NULL;
        if (r >= 0 && w->changed)
                return changed(ret_why, 0, "%s", w->changed);
        return r;
}

/* One thread's position in the tree: a stack of O_PATH descriptors, one per level. */
typedef struct Recheck {
        const WalkLog *log;
        Walk w;
        int stack_fd[WALK_MAX_DEPTH + 2];
        size_t stack_dir[WALK_MAX_DEPTH + 2];
        size_t depth, base_depth;   /* levels below base_depth are borrowed, never closed */
        size_t n_reread;
        char *why;
        int r;
} Recheck;

static void recheck_pop_to(Recheck *c, size_t depth) {
        while (c->depth > MAX(depth, c->base_depth))
                safe_close(c->stack_fd[--c->depth]);
}

/* Rechecks records [from, to) and their files; 0, WALK_CHANGED (with c->why) or a negative errno. */
static int recheck_range(Recheck *c, int home_fd, size_t from, size_t to) {
        const WalkLog *l = c->log;

        for (size_t i = from; i < to; i++) {
                const DirRecord *d = &l->dirs[i];
                struct stat st;
                int base, fd, r;

                /* Leave the levels that are not this directory's ancestors. */
                while (c->depth > c->base_depth && c->stack_dir[c->depth - 1] != d->parent)
                        safe_close(c->stack_fd[--c->depth]);
                if (d->parent != UINT_MAX && (c->depth == 0 || c->stack_dir[c->depth - 1] != d->parent))
                        return -EINVAL;   /* not in pre-order: cannot happen */
                if (d->parent == UINT_MAX)
                        recheck_pop_to(c, 0);
                if (c->depth >= ELEMENTSOF(c->stack_fd))
                        return -E2BIG;
                base = c->depth > 0 ? c->stack_fd[c->depth - 1] : home_fd;
                fd = openat(base, d->name, O_PATH | O_DIRECTORY | O_CLOEXEC | (d->via_link ? 0 : O_NOFOLLOW));
                if (fd < 0 || fstat(fd, &st) < 0 || !dir_same(l, d, &st)) {
                        _cleanup_free_ char *path = NULL;

                        safe_close(fd);
                        r = record_path(l, i, NULL, &path);
                        return changed(&c->why, r, "directory '%s' changed since the first walk, or its times "
                                       "are too recent to prove it did not", path);
                }
                c->stack_fd[c->depth] = fd;
                c->stack_dir[c->depth++] = i;

                for (unsigned k = d->first_file; k != UINT_MAX; k = l->files[k].next) {
                        const WalkFile *f = &l->files[k];
                        _cleanup_close_ int dfd = -1;

                        if (fstatat(fd, f->name, &st, f->via_link ? 0 : AT_SYMLINK_NOFOLLOW) >= 0 && file_same(l, f, &st))
                                continue;
                        c->n_reread++;
                        /* Read through a real descriptor: O_PATH ones cannot be read. */
                        dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        r = dfd < 0 ? changed(&c->why, 0, "a directory cannot be opened again: %s", strerror(errno)) :
                                      reread(l, &c->w, dfd, i, f, &c->why);
                        if (r != 0)
                                return r;
                }
        }
        return 0;
}

/* The subtrees of boxes/ (record 0) handed out to the workers. */
typedef struct RecheckQueue {
        const size_t *starts;        /* first record of each box, and the end of the last as starts[n] */
        size_t n;
        atomic_size_t next;
        atomic_bool stop;
        int home_fd;
} RecheckQueue;

typedef struct RecheckWorker {
        Recheck c;
        RecheckQueue *q;
} RecheckWorker;

static void *recheck_worker_run(void *userdata) {
        RecheckWorker *k = userdata;

        while (!atomic_load(&k->q->stop)) {
                size_t i = atomic_fetch_add(&k->q->next, 1);

                if (i >= k->q->n)
                        break;
                k->c.r = recheck_range(&k->c, k->q->home_fd, k->q->starts[i], k->q->starts[i + 1]);
                if (k->c.r != 0) {
                        atomic_store(&k->q->stop, true);
                        break;
                }
        }
        recheck_pop_to(&k->c, 0);
        return NULL;
}

static void recheck_init(Recheck *c, const WalkLog *l, const WalkCallbacks *cb, void *userdata) {
        static const WalkOptions no_log = {};

        *c = (Recheck) {
                .log = l,
                .w = {
                        .o = &no_log,
                        .cb = cb,
                        .userdata = userdata,
                        .home = l->home,
                        .home_fd = -1,
                        .unit = UINT_MAX,
                        /* The walk's callbacks see records of a directory list: the log's, read only. */
                        .dirs = l->dirs,
                        .n_dirs = l->n_dirs,
                },
        };
}

/* The boxes below boxes/ (record 0 with workers), as ranges of records; *ret_n 0: none to hand out. */
static int box_ranges(const WalkLog *l, size_t **ret, size_t *ret_n) {
        size_t n = 0, end = 1, *v;

        *ret_n = 0;
        if (l->n_dirs < 2 || l->dirs[0].parent != UINT_MAX || l->dirs[0].part != WALK_PART_BOXES)
                return 0;
        while (end < l->n_dirs && l->dirs[end].parent != UINT_MAX)
                n += l->dirs[end++].parent == 0;
        v = malloc((n + 1) * sizeof(size_t));
        if (!v)
                return -ENOMEM;
        n = 0;
        for (size_t i = 1; i < end; i++)
                if (l->dirs[i].parent == 0)
                        v[n++] = i;
        v[n] = end;
        *ret = v;
        *ret_n = n;
        return 0;
}

int walk_log_recheck(const WalkLog *l, const WalkCallbacks *cb, void *userdata, void *const *worker_userdata,
                     unsigned n_workers, size_t *ret_reread, char **ret_why) {
        _cleanup_close_ int home_fd = -1;
        _cleanup_free_ size_t *starts = NULL;
        _cleanup_free_ RecheckWorker *workers = NULL;
        size_t n_boxes = 0, rest;
        Recheck c;
        int r;

        *ret_why = NULL;
        if (ret_reread)
                *ret_reread = 0;
        if (walk_clock_stepped_back(l->clock0, l->mono0))
                return changed(ret_why, 0, "the clock stepped back since the first walk");
        home_fd = open(l->home, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (home_fd < 0)
                return changed(ret_why, 0, "'%s' cannot be opened again: %s", l->home, strerror(errno));
        for (size_t p = 0; p < _WALK_PART_MAX; p++) {
                struct stat st;

                if (l->top_absent[p] && fstatat(home_fd, walk_part_to_string(p), &st, AT_SYMLINK_NOFOLLOW) >= 0)
                        return changed(ret_why, 0, "'%s/%s' appeared since the first walk", l->home,
                                       walk_part_to_string(p));
        }

        if (n_workers > 1 && worker_userdata) {
                r = box_ranges(l, &starts, &n_boxes);
                if (r < 0)
                        return r;
        }
        recheck_init(&c, l, cb, userdata);
        if (n_boxes == 0) {
                r = recheck_range(&c, home_fd, 0, l->n_dirs);
                goto finish;
        }

        /* boxes/ itself here, its boxes by the workers (each from a copy of boxes/' descriptor), then the rest. */
        r = recheck_range(&c, home_fd, 0, 1);
        if (r != 0)
                goto finish;
        workers = calloc(n_workers, sizeof(RecheckWorker));
        if (!workers) {
                r = -ENOMEM;
                goto finish;
        }
        {
                RecheckQueue q = { .starts = starts, .n = n_boxes, .home_fd = home_fd };

                atomic_init(&q.next, 0);
                atomic_init(&q.stop, false);
                for (unsigned i = 0; i < n_workers; i++) {
                        recheck_init(&workers[i].c, l, cb, worker_userdata[i]);
                        workers[i].q = &q;
                        workers[i].c.stack_fd[0] = c.stack_fd[0];
                        workers[i].c.stack_dir[0] = 0;
                        workers[i].c.depth = workers[i].c.base_depth = 1;
                }
                walk_jobs_spawn(n_workers, recheck_worker_run, workers, sizeof(RecheckWorker));
        }
        for (unsigned i = 0; i < n_workers; i++) {
                Recheck *k = &workers[i].c;

                c.n_reread += k->n_reread;
                if (r == 0 && k->r != 0) {
                        r = k->r;
                        c.why = TAKE_PTR(k->why);
                }
                free(k->why);
                free(k->w.changed);
        }
        rest = starts[n_boxes];
        if (r == 0)
                r = recheck_range(&c, home_fd, rest, l->n_dirs);

finish:
        recheck_pop_to(&c, 0);
        free(c.w.changed);
        if (ret_reread)
                *ret_reread = c.n_reread;
        if (r == WALK_CHANGED)
                *ret_why = TAKE_PTR(c.why);
        free(c.why);
        return r;
}
