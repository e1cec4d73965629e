/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * boxes/ and bases/, the tops of a home: walked whole in a pass's first round;
 * in a later one listed again when they changed, or their changed units
 * walked again by name when they held (walk.h, "Rounds").
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "path-util.h"
#include "walk-internal.h"
#include "walk.h"

/* w->path := "<home>/<top>", w->part := part: where the walk of a top stands; *ret_len its length. */
static int top_path(Walk *w, WalkPart part, size_t *ret_len) {
        size_t len = strlen(w->home);

        w->part = part;
        w->unit = UINT_MAX;
        w->box = mfree(w->box);
        if (len + 1 > w->path_allocated) {
                char *p = realloc(w->path, len + 1);

                if (!p)
                        return -ENOMEM;
                w->path = p;
                w->path_allocated = len + 1;
        }
        memcpy(w->path, w->home, len + 1);
        return walk_path_append(w, len, walk_part_to_string(part), ret_len);
}

/* Opens <home>/<top> following links; a link that leads nowhere is an error, a missing top is empty. */
int walk_top(Walk *w, WalkPart part) {
        const char *top = walk_part_to_string(part);
        _cleanup_close_ int fd = -1;
        struct stat lst, st;
        bool via_link;
        size_t len;
        int r;

        r = top_path(w, part, &len);
        if (r < 0)
                return r;

        fd = openat(w->home_fd, top, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;

                if (fstatat(w->home_fd, top, &lst, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT) {
                                w->top_absent[part] = true;
                                return 0;
                        }
                        return walk_error(w, w->path, "cannot stat: %s", strerror(errno));
                }
                if (S_ISLNK(lst.st_mode)) {
                        _cleanup_free_ char *target = NULL;

                        (void) path_readlinkat(w->home_fd, top, &target);
                        return walk_error(w, w->path, "symbolic link to '%s' cannot be followed: %s",
                                          strna(target), strerror(e));
                }
                return walk_error(w, w->path, "cannot list directory: %s", strerror(e));
        }
        r = fstatat(w->home_fd, top, &lst, AT_SYMLINK_NOFOLLOW);
        via_link = r >= 0 && S_ISLNK(lst.st_mode);
        if (fstat(fd, &st) < 0)
                return walk_error(w, w->path, "cannot stat directory: %s", strerror(errno));
        return walk_dir(w, TAKE_FD(fd), &st, (FileId) {}, UINT_MAX, top, via_link, len, 0);
}

static ssize_t top_record(const Walk *w, WalkPart part) {
        for (size_t i = 0; i < w->n_dirs; i++)
                if (w->dirs[i].parent == UINT_MAX && w->dirs[i].part == part)
                        return (ssize_t) i;
        return -1;
}

/* The top of part opened again by its name: it must be the directory its record is. */
static int top_reopen(Walk *w, const DirRecord *d, struct stat *ret_st) {
        _cleanup_close_ int fd = -1;

        fd = openat(w->home_fd, d->name, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC | (d->via_link ? 0 : O_NOFOLLOW));
        if (fd < 0 || fstat(fd, ret_st) < 0 || ret_st->st_dev != d->dev || ret_st->st_ino != d->ino)
                return -ESTALE;
        return TAKE_FD(fd);
}

/*
 * A later round, a top that changed: it is stat'ed and listed again (its
 * record updated in place, still careful), each entry that is a unit of the
 * view unchanged is kept, every other entry is walked as a new unit, and the
 * units the listing no longer holds leave the view. A top that is another
 * directory now (or gone) starts the pass over.
 */
int walk_relist_top(Walk *w, WalkPart part) {
        ssize_t index = top_record(w, part);
        size_t len;
        uint64_t hash = 0, n_entries = 0;
        DirRecord *d;
        struct stat st;
        int fd, r;

        if (index < 0)
                return 0;     /* nothing listed it (it could not be read): the error stands */
        d = &w->dirs[index];
        fd = top_reopen(w, d, &st);
        if (fd < 0) {
                w->restart = true;
                return walk_changed(w, "'%s/%s' was replaced while the home was walked", w->home, d->name);
        }
        if (d->fd >= 0)
                safe_close(d->fd);
        else
                w->n_open++;
        d->fd = fd;
        d->nlink = st.st_nlink;
        d->size = st.st_size;
        d->mtime = st.st_mtim;
        d->ctime = st.st_ctim;
        d->racy = walk_ts_ge(d->mtime, w->racy_since) || walk_ts_ge(d->ctime, w->racy_since);
        if (part == WALK_PART_BOXES)
                w->n_box_entries = 0;

        r = top_path(w, part, &len);
        if (r < 0)
                return r;
        w->ancestors[0] = (FileId) { d->dev, d->ino };
        w->n_ancestors = 1;
        r = walk_list_dir(w, (size_t) index, len, 0, &hash, &n_entries);
        w->n_ancestors = 0;
        if (r < 0)
                return r;
        w->dirs[index].hash = hash;
        w->dirs[index].n_entries = n_entries;
        return 0;
}

/* A later round, a top that held: the units that changed are walked again by their names, as new units. */
int walk_rewalk_units(Walk *w, WalkPart part) {
        ssize_t index = top_record(w, part);
        size_t n = w->n_units, len;
        int fd, r;

        if (index < 0)
                return 0;
        fd = w->dirs[index].fd;
        if (fd < 0) {
                struct stat st;

                fd = top_reopen(w, &w->dirs[index], &st);
                if (fd < 0)
                        return walk_note_change(w, UINT_MAX, part, "the top cannot be opened again");
                w->dirs[index].fd = fd;
                w->n_open++;
        }
        r = top_path(w, part, &len);
        if (r < 0)
                return r;
        w->ancestors[0] = (FileId) { w->dirs[index].dev, w->dirs[index].ino };
        w->n_ancestors = 1;
        for (size_t i = 0; i < n && r >= 0; i++) {
                WalkEntry e;

                if (!w->units[i].rewalk || w->units[i].part != part)
                        continue;
                w->units[i].rewalk = false;
                e = (WalkEntry) { .name = (char *) walk_unit_name(w, (unsigned) i), .ino = w->units[i].ino,
                                  .type = w->units[i].type };
                r = walk_unit_add(w, part, e.name, e.ino, e.type, &e.unit);
                if (r >= 0) {
                        r = walk_unit_entry(w, w->dirs[index].fd, (size_t) index, &e, len, 0, /* top= */ true);
                }
        }
        w->n_ancestors = 0;
        return r;
}

