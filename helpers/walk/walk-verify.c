/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The check at a round's end (walk.h, "Consistency", 3): every careful
 * directory is stat'ed again and must be what was listed; one whose times are
 * racy is listed again, in one getdents64() call.
 */

#include <dirent.h>
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

/*
 * Lists a racy directory again in one getdents64() call. One call runs under
 * the directory's lock, so no rename can tear it; a listing read in several
 * calls could be torn the same way twice and match a torn first listing (the
 * model's "torn re-list", docs/gc-protocol-model.md). A listing that does not
 * fit one call counts as changed.
 */
static int relist_dir(const DirRecord *d, int fd, uint64_t *ret_hash, uint64_t *ret_n) {
        /* The largest record: 19 header bytes, a 255-byte name and its NUL, 8-byte aligned. */
        size_t size = (size_t) (d->n_entries + 64) * 280;
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t hash = 0, n_entries = 0;
        ssize_t n;

        buf = malloc(size);
        if (!buf)
                return -ENOMEM;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        do
                n = getdents64(fd, buf, size);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        for (size_t off = 0; off < (size_t) n;) {
                const struct dirent64 *de = (const struct dirent64 *) (buf + off);

                off += de->d_reclen;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                n_entries++;
                hash += walk_entry_hash(de->d_name, de->d_ino, de->d_type);
        }
        /* Something left for a second call: the directory grew, it cannot be proven unchanged. */
        if (getdents64(fd, buf, size) != 0)
                return -ESTALE;
        *ret_hash = hash;
        *ret_n = n_entries;
        return 0;
}

/*
 * An fd on a record's directory: its own, or (when it gave its fd back) opened
 * again by name from its parent, recursively; *ret_owned holds what the
 * caller must close.
 */
static int record_fd(Walk *w, size_t i, int *ret_owned) {
        const DirRecord *d = &w->dirs[i];
        _cleanup_close_ int parent_owned = -1;
        int base = w->home_fd, fd;

        if (d->fd >= 0)
                return d->fd;
        if (d->parent != UINT_MAX) {
                base = record_fd(w, d->parent, &parent_owned);
                if (base < 0)
                        return base;
        }
        fd = openat(base, d->name, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC | (d->via_link ? 0 : O_NOFOLLOW));
        if (fd < 0)
                return -errno;
        *ret_owned = fd;
        return fd;
}

/* After the pass: every directory must still be what was listed. */
int walk_verify(Walk *w) {
        for (size_t p = 0; p < _WALK_PART_MAX; p++) {
                struct stat st;

                if (w->top_absent[p] && fstatat(w->home_fd, walk_part_to_string(p), &st, AT_SYMLINK_NOFOLLOW) >= 0) {
                        w->restart = true;
                        return walk_changed(w, "'%s/%s' appeared while the home was walked", w->home,
                                            walk_part_to_string(p));
                }
        }

        for (size_t i = 0; i < w->n_dirs; i++) {
                DirRecord *d = &w->dirs[i];
                _cleanup_free_ char *path = NULL, *why = NULL;
                _cleanup_close_ int reopened = -1, parent_reopened = -1;
                int fd = d->fd, base = w->home_fd;
                struct stat st;
                bool same;
                int r;

                if (d->post)
                        continue;     /* proven when its walk ended (post_prove()) */
                if (i == 0 && w->borrowed_top)
                        continue;     /* a worker's copy of boxes/: the main walk verifies it */
                if (d->unit != UINT_MAX && (!w->root->units[d->unit].live || w->root->units[d->unit].changed))
                        continue;     /* left the view, or walked again next round anyway */
                if (d->unit == UINT_MAX && w->top_changed[d->part])
                        continue;
                if (d->parent != UINT_MAX) {
                        base = record_fd(w, d->parent, &parent_reopened);
                        if (base < 0 && base != -ENOENT && base != -ENOTDIR && base != -ELOOP)
                                return base;
                }
                if (fd < 0 && base >= 0)
                        fd = reopened = openat(base, d->name, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC |
                                                              (d->via_link ? 0 : O_NOFOLLOW));

                same = fd >= 0 && fstat(fd, &st) >= 0 && st.st_dev == d->dev && st.st_ino == d->ino &&
                       st.st_nlink == d->nlink && st.st_size == d->size && walk_ts_eq(st.st_mtim, d->mtime) &&
                       walk_ts_eq(st.st_ctim, d->ctime);
                if (same && (d->via_link || d->parent == UINT_MAX))
                        same = base >= 0 && fstatat(base, d->name, &st, 0) >= 0 && st.st_dev == d->dev &&
                               st.st_ino == d->ino;
                if (d->parent == UINT_MAX && walk_top_mismatch(w, d->part))
                        d->racy = true;
                if (same && d->racy) {
                        uint64_t hash = 0, n = 0;

                        r = relist_dir(d, fd, &hash, &n);
                        if (r == -ENOMEM)
                                return r;
                        same = r >= 0 && hash == d->hash && n == d->n_entries;
                }
                if (same)
                        continue;

                path = walk_record_path(w->home, w->dirs, i, NULL);
                if (!path || asprintf(&why, "directory '%s' changed while it was walked", path) < 0)
                        return -ENOMEM;
                r = walk_note_change(w, d->unit, d->part, why);
                if (r < 0)
                        return r;
        }
        return 0;
}
