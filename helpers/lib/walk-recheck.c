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

int walk_log_recheck(const WalkLog *l, const WalkCallbacks *cb, void *userdata, size_t *ret_reread, char **ret_why) {
        static const WalkOptions no_log = {};
        _cleanup_close_ int home_fd = -1;
        int stack_fd[WALK_MAX_DEPTH + 2];
        size_t stack_dir[WALK_MAX_DEPTH + 2], depth = 0, n_reread = 0;
        Walk w = {
                .o = &no_log,
                .cb = cb,
                .userdata = userdata,
                .home = l->home,
                .home_fd = -1,
        };
        int r = 0;

        *ret_why = NULL;
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
        /* The walk's callbacks see records of a directory list; the log's are read-only, so give them a copy's view. */
        w.dirs = l->dirs;
        w.n_dirs = l->n_dirs;

        for (size_t i = 0; i < l->n_dirs && r == 0; i++) {
                const DirRecord *d = &l->dirs[i];
                struct stat st;
                int base, fd;

                /* Leave the levels that are not this directory's ancestors. */
                while (depth > 0 && stack_dir[depth - 1] != d->parent)
                        safe_close(stack_fd[--depth]);
                if (d->parent != UINT_MAX && depth == 0) {
                        r = -EINVAL;   /* not in pre-order: cannot happen */
                        break;
                }
                if (depth >= ELEMENTSOF(stack_fd)) {
                        r = -E2BIG;
                        break;
                }
                base = depth > 0 ? stack_fd[depth - 1] : home_fd;
                fd = openat(base, d->name, O_PATH | O_DIRECTORY | O_CLOEXEC | (d->via_link ? 0 : O_NOFOLLOW));
                if (fd < 0 || fstat(fd, &st) < 0 || !dir_same(l, d, &st)) {
                        _cleanup_free_ char *path = NULL;

                        safe_close(fd);
                        r = record_path(l, i, NULL, &path);
                        if (r >= 0)
                                r = changed(ret_why, 0, "directory '%s' changed since the first walk, or its times "
                                            "are too recent to prove it did not", path);
                        break;
                }
                stack_fd[depth] = fd;
                stack_dir[depth++] = i;

                for (unsigned k = d->first_file; k != UINT_MAX && r == 0; k = l->files[k].next) {
                        const WalkFile *f = &l->files[k];

                        if (fstatat(fd, f->name, &st, f->via_link ? 0 : AT_SYMLINK_NOFOLLOW) >= 0 && file_same(l, f, &st))
                                continue;
                        n_reread++;
                        /* Read through a real descriptor: O_PATH ones cannot be read. */
                        {
                                _cleanup_close_ int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                                if (dfd < 0)
                                        r = changed(ret_why, 0, "a directory cannot be opened again: %s", strerror(errno));
                                else
                                        r = reread(l, &w, dfd, i, f, ret_why);
                        }
                }
        }
        while (depth > 0)
                safe_close(stack_fd[--depth]);
        free(w.changed);
        if (ret_reread)
                *ret_reread = n_reread;
        return r;
}
