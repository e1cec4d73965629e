/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "idset.h"
#include "macro.h"
#include "path-util.h"
#include "qcow.h"
#include "time-util.h"
#include "walk-internal.h"
#include "walk.h"

static const char *const walk_part_table[_WALK_PART_MAX] = {
        [WALK_PART_BOXES] = "boxes",
        [WALK_PART_BASES] = "bases",
};

const char *walk_part_to_string(WalkPart p) {
        if (p < 0 || p >= _WALK_PART_MAX)
                return NULL;
        return walk_part_table[p];
}



/*
 * Filesystems that stamp a change with this host's clock. A network
 * filesystem's server may run behind it, so a change made during the pass
 * could carry times from before it: there every directory is stat'ed before
 * it is listed and compared after the pass.
 */
bool walk_local_times(Walk *w, int fd, dev_t dev) {
        static const unsigned long local[] = {
                0xEF53UL,     /* ext2/3/4 */
                0x58465342UL, /* xfs */
                0x9123683EUL, /* btrfs */
                0x01021994UL, /* tmpfs */
                0xF2F52010UL, /* f2fs */
                0x794C7630UL, /* overlayfs */
                0x2FC12FC1UL, /* zfs */
                0x858458F6UL, /* ramfs */
        };
        struct statfs sf;
        bool ok = false;

        for (unsigned i = 0; i < w->n_fs_cache; i++)
                if (w->fs_cache[i].dev == dev)
                        return w->fs_cache[i].local;
        if (fstatfs(fd, &sf) >= 0)
                for (size_t i = 0; i < ELEMENTSOF(local); i++)
                        ok = ok || (unsigned long) sf.f_type == local[i];
        if (w->n_fs_cache < ELEMENTSOF(w->fs_cache))
                w->fs_cache[w->n_fs_cache++] = (typeof(w->fs_cache[0])) { dev, ok };
        return ok;
}

bool walk_ts_ge(struct timespec a, struct timespec b) {
        return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec >= b.tv_nsec);
}

bool walk_ts_eq(struct timespec a, struct timespec b) {
        return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* One 64-bit mix per listing entry (splitmix64 over FNV-1a of the name). */
static uint64_t entry_hash(const char *name, uint64_t ino, unsigned char type) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (const unsigned char *p = (const unsigned char *) name; *p; p++)
                h = (h ^ *p) * UINT64_C(0x100000001b3);
        h ^= ino * UINT64_C(0x9e3779b97f4a7c15) + type;
        h ^= h >> 30;
        h *= UINT64_C(0xbf58476d1ce4e5b9);
        h ^= h >> 27;
        h *= UINT64_C(0x94d049bb133111eb);
        return h ^ (h >> 31);
}

_printf_(2, 3) static int walk_changed(Walk *w, const char *format, ...) {
        va_list ap;

        /* Test hook: today's walk, where an entry that vanished references nothing. */
        if (w->changed || w->o->test_no_consistency)
                return 0;
        va_start(ap, format);
        if (vasprintf(&w->changed, format, ap) < 0)
                w->changed = NULL;
        va_end(ap);
        return w->changed ? 0 : -ENOMEM;
}

_printf_(3, 4) static int walk_error(Walk *w, const char *path, const char *format, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        if (!w->cb->error)
                return 0;
        return w->cb->error(path, s, w->userdata);
}

/*
 * w->path holds the path of the entry being walked. Each level appends
 * "/name" and cuts it off again, so the walk builds no string per entry; a
 * level keeps only the length of its own path, since appending may move the
 * buffer.
 */
static int path_append(Walk *w, size_t len, const char *name, size_t *ret_len) {
        size_t n = strlen(name), need = len + 1 + n + 1;

        if (need > w->path_allocated) {
                size_t a = MAX(need, MAX(w->path_allocated * 2, (size_t) 256));
                char *p = realloc(w->path, a);

                if (!p)
                        return -ENOMEM;
                w->path = p;
                w->path_allocated = a;
        }
        w->path[len] = '/';
        memcpy(w->path + len + 1, name, n + 1);
        *ret_len = len + 1 + n;
        return 0;
}

/* The path of a record (and of leaf in it, if given), for messages: rebuilt from the parent links. */
char *walk_record_path(const char *home, const DirRecord *dirs, size_t i, const char *leaf) {
        const char *names[WALK_MAX_DEPTH + 3];
        size_t n = 0, len = strlen(home) + (leaf ? 1 + strlen(leaf) : 0);
        char *s, *p;

        for (size_t j = i; j != UINT_MAX && n < ELEMENTSOF(names); j = dirs[j].parent) {
                names[n++] = dirs[j].name;
                len += 1 + strlen(dirs[j].name);
        }
        s = p = malloc(len + 1);
        if (!s)
                return NULL;
        p = stpcpy(p, home);
        while (n > 0) {
                *p++ = '/';
                p = stpcpy(p, names[--n]);
        }
        if (leaf) {
                *p++ = '/';
                p = stpcpy(p, leaf);
        }
        *p = 0;
        return s;
}

void walk_pass_done(Walk *w) {
        walk_jobs_pass_done(w);
        for (size_t i = 0; i < w->n_dirs; i++) {
                safe_close(w->dirs[i].fd);
                free(w->dirs[i].name);
        }
        w->n_dirs = 0;
        w->n_dropped = 0;
        w->n_open = 0;
        for (size_t i = 0; i < w->n_files; i++)
                free(w->files[i].name);
        w->n_files = 0;
        idset_done(&w->seen);
        w->n_ancestors = 0;
        w->n_box_entries = 0;
        w->box = mfree(w->box);
        w->changed = mfree(w->changed);
        w->unproven = false;
        for (size_t i = 0; i < _WALK_PART_MAX; i++)
                w->top_absent[i] = false;
}

void walk_done(Walk *w) {
        walk_pass_done(w);
        walk_jobs_done(w);
        idset_done(&w->careful);
        free(w->dirs);
        free(w->files);
        free(w->path);
        for (size_t i = 0; i < ELEMENTSOF(w->dir_buf); i++)
                free(w->dir_buf[i]);
        safe_close(w->home_fd);
}

static int record_add(Walk *w, int fd, unsigned parent, const char *name, bool via_link, const struct stat *st,
                      FileId id, size_t *ret_index) {
        DirRecord *d;

        if (w->n_dirs >= WALK_MAX_DIRS)
                return -E2BIG;
        if (greedy_realloc(&w->dirs, &w->allocated_dirs, w->n_dirs + 1, sizeof(DirRecord), 64) < 0)
                return -ENOMEM;
        d = &w->dirs[w->n_dirs];
        *d = (DirRecord) {
                .fd = fd,
                .parent = parent,
                .name = strdup(name),
                .via_link = via_link,
                .post = !st,
                .dev = id.dev,
                .ino = id.ino,
        };
        if (!d->name)
                return -ENOMEM;
        d->local_times = st ? walk_local_times(w, fd, st->st_dev) : w->dirs[parent].local_times;
        d->part = w->part;
        d->first_file = UINT_MAX;
        if (st) {
                d->nlink = st->st_nlink;
                d->size = st->st_size;
                d->mtime = st->st_mtim;
                d->ctime = st->st_ctim;
                d->racy = walk_ts_ge(d->mtime, w->racy_since) || walk_ts_ge(d->ctime, w->racy_since);
        }
        *ret_index = w->n_dirs++;
        return 0;
}

/* The inode a listing named must be the one opened. */
static int check_listed_inode(Walk *w, int dir_fd, const char *name, uint64_t d_ino, const struct stat *st,
                              size_t dir_index) {
        struct stat now;

        if ((uint64_t) st->st_ino == d_ino || w->o->test_no_consistency)
                return 0;
        /*
         * Some filesystems (overlayfs without xino) list other inode numbers than stat reports.
         * Then the name must still lead to what was opened, and the directory is listed again at
         * the end like a racy one, where listings compare with listings.
         */
        if (fstatat(dir_fd, name, &now, AT_SYMLINK_NOFOLLOW) >= 0 && now.st_dev == st->st_dev &&
            now.st_ino == st->st_ino) {
                w->dirs[dir_index].racy = true;
                return 0;
        }
        return walk_changed(w, "'%s' was replaced while it was walked", w->path);
}

static int walk_dir(Walk *w, int fd, const struct stat *known, FileId listed, unsigned parent, const char *name,
                    bool via_link, size_t len, unsigned depth);

/* Opens a listed entry by name; ENOENT and friends mean the listing is out of date. */
static bool errno_is_changed(int e) {
        return e == ENOENT || e == ENOTDIR || e == ELOOP;
}

/* Appends a file the walk read to the log. */
static int log_file(Walk *w, size_t dir_index, const char *name, bool via_link, const struct stat *st) {
        WalkFile *f;

        if (!w->o->keep_log)
                return 0;
        if (greedy_realloc(&w->files, &w->allocated_files, w->n_files + 1, sizeof(WalkFile), 256) < 0)
                return -ENOMEM;
        f = &w->files[w->n_files];
        *f = (WalkFile) {
                .dir = (unsigned) dir_index,
                .next = w->dirs[dir_index].first_file,
                .name = strdup(name),
                .via_link = via_link,
                .dev = st->st_dev,
                .ino = st->st_ino,
                .size = st->st_size,
                .mtime = st->st_mtim,
                .ctime = st->st_ctim,
        };
        if (!f->name)
                return -ENOMEM;
        w->dirs[dir_index].first_file = (unsigned) w->n_files++;
        return 0;
}

static int walk_overlay(Walk *w, int dir_fd, size_t dir_index, const char *name, bool via_link, int fd,
                        const struct stat *st) {
        WalkOverlay o = {
                .path = w->path,
                .dir_fd = dir_fd,
                .dir_dev = w->dirs[dir_index].dev,
                .dir_ino = w->dirs[dir_index].ino,
                .name = name,
                .via_link = via_link,
                .part = w->part,
                .box = w->box,
                .dev = st->st_dev,
                .ino = st->st_ino,
                .fd = fd,
                .st = st,
        };
        int r;

        r = w->cb->overlay(&o, w->userdata);
        if (r == WALK_CHANGED)
                return walk_changed(w, "'%s' vanished or was replaced while it was walked", w->path);
        return r;
}

/* A regular file: an overlay if named like one, or (under boxes/) if it starts with the qcow magic. */
int walk_file(Walk *w, int dir_fd, size_t dir_index, const char *name, bool via_link, int fd, const struct stat *st) {
        uint8_t magic[4];
        ssize_t n;
        int r;

        r = log_file(w, dir_index, name, via_link, st);
        if (r < 0)
                return r;

        if (endswith(name, ".qcow2") || endswith(name, ".qcow"))
                return walk_overlay(w, dir_fd, dir_index, name, via_link, fd, st);
        if (w->part != WALK_PART_BOXES)
                return 0;
        do
                n = pread(fd, magic, sizeof(magic), 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return walk_error(w, w->path, "cannot read: %s", strerror(errno));
        /* Fewer than 4 bytes cannot be a qcow image. */
        if ((size_t) n == sizeof(magic) && qcow_has_magic(magic, sizeof(magic)))
                return walk_overlay(w, dir_fd, dir_index, name, via_link, fd, st);
        return 0;
}

/* A symbolic link: followed; one that cannot be followed is an error, never nothing. */
static int walk_link(Walk *w, int dir_fd, const char *name, size_t len, unsigned depth, size_t dir_index) {
        _cleanup_close_ int pfd = -1, fd = -1;
        struct stat st, lst;

        pfd = openat(dir_fd, name, O_PATH | O_CLOEXEC);
        if (pfd < 0) {
                int e = errno;
                _cleanup_free_ char *target = NULL;

                if (fstatat(dir_fd, name, &lst, AT_SYMLINK_NOFOLLOW) < 0)
                        return walk_changed(w, "'%s' vanished while it was walked", w->path);
                (void) path_readlinkat(dir_fd, name, &target);
                if (!S_ISLNK(lst.st_mode))
                        return walk_changed(w, "'%s' was replaced while it was walked", w->path);
                return walk_error(w, w->path, "symbolic link to '%s' cannot be followed: %s", strna(target),
                                  strerror(e));
        }
        if (fstat(pfd, &st) < 0)
                return walk_error(w, w->path, "cannot stat the target of the symbolic link: %s", strerror(errno));

        if (S_ISDIR(st.st_mode)) {
                fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
                if (fd < 0)
                        return walk_error(w, w->path, "cannot list directory: %s", strerror(errno));
                return walk_dir(w, TAKE_FD(fd), &st, (FileId) {}, (unsigned) dir_index, name, /* via_link= */ true,
                                len, depth + 1);
        }
        if (!S_ISREG(st.st_mode)) {
                if (endswith(name, ".qcow2") || endswith(name, ".qcow"))
                        return walk_error(w, w->path, "is not a regular file (FIFO, socket or device)");
                return 0;
        }

        /* Opened again for reading only now that it is known to be a regular file (never a device). */
        fd = openat(dir_fd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return errno_is_changed(errno) ? walk_changed(w, "'%s' vanished while it was walked", w->path) :
                                                 walk_error(w, w->path, "cannot open: %s", strerror(errno));
        if (fstat(fd, &lst) < 0)
                return walk_error(w, w->path, "cannot stat: %s", strerror(errno));
        if (lst.st_dev != st.st_dev || lst.st_ino != st.st_ino)
                return walk_changed(w, "'%s' was replaced while it was walked", w->path);
        return walk_file(w, dir_fd, dir_index, name, /* via_link= */ true, fd, &st);
}

static int walk_entry(Walk *w, int dir_fd, size_t dir_index, const char *name, uint64_t d_ino,
                      unsigned char type, size_t len, unsigned depth) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        FileId listed;
        int r;

        if (type == DT_UNKNOWN) {
                if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno_is_changed(errno))
                                return walk_changed(w, "'%s' vanished while it was walked", w->path);
                        return walk_error(w, w->path, "cannot stat: %s", strerror(errno));
                }
                type = IFTODT(st.st_mode);
        }

        switch (type) {
        case DT_LNK:
                return walk_link(w, dir_fd, name, len, depth, dir_index);

        case DT_DIR:
                fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
                if (fd < 0) {
                        if (errno_is_changed(errno))
                                return walk_changed(w, "'%s' vanished while it was walked", w->path);
                        return walk_error(w, w->path, "cannot list directory: %s", strerror(errno));
                }
                listed = (FileId) { w->dirs[dir_index].dev, (ino_t) d_ino };
                /* A directory not known to be racy is proven by its times after the pass, unstat'ed now. */
                if (!w->all_careful && !w->o->test_no_consistency && w->dirs[dir_index].local_times &&
                    !idset_contains(&w->careful, listed.dev, listed.ino))
                        return walk_dir(w, TAKE_FD(fd), NULL, listed, (unsigned) dir_index, name,
                                        /* via_link= */ false, len, depth + 1);
                if (fstat(fd, &st) < 0)
                        return walk_error(w, w->path, "cannot stat directory: %s", strerror(errno));
                r = check_listed_inode(w, dir_fd, name, d_ino, &st, dir_index);
                if (r < 0 || w->changed)
                        return r;
                return walk_dir(w, TAKE_FD(fd), &st, listed, (unsigned) dir_index, name, /* via_link= */ false, len,
                                depth + 1);

        case DT_REG:
                fd = openat(dir_fd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        if (errno_is_changed(errno))
                                return walk_changed(w, "'%s' vanished while it was walked", w->path);
                        return walk_error(w, w->path, "cannot open: %s", strerror(errno));
                }
                if (fstat(fd, &st) < 0)
                        return walk_error(w, w->path, "cannot stat: %s", strerror(errno));
                if (!S_ISREG(st.st_mode))
                        return walk_changed(w, "'%s' was replaced while it was walked", w->path);
                r = check_listed_inode(w, dir_fd, name, d_ino, &st, dir_index);
                if (r < 0 || w->changed)
                        return r;
                return walk_file(w, dir_fd, dir_index, name, /* via_link= */ false, fd, &st);

        default:
                /* FIFOs, sockets and devices are neither overlays nor directories; one named like an
                 * overlay may stand where an overlay was, so the walk cannot vouch for it. */
                if (endswith(name, ".qcow2") || endswith(name, ".qcow"))
                        return walk_error(w, w->path, "is not a regular file (FIFO, socket or device)");
                return 0;
        }
}

/* Walks one listed entry of directory dir_index (path length len): the listing's loop, and the workers'. */
int walk_listed_entry(Walk *w, int dir_fd, size_t dir_index, const WalkEntry *e, size_t len, unsigned depth) {
        size_t entry_len;
        int r;

        r = path_append(w, len, e->name, &entry_len);
        if (r < 0)
                return r;
        if (w->part == WALK_PART_BOXES && w->dirs[dir_index].parent == UINT_MAX) {
                free(w->box);
                w->box = strdup(e->name);
                if (!w->box)
                        return -ENOMEM;
        }
        r = walk_entry(w, dir_fd, dir_index, e->name, e->ino, e->type, entry_len, depth);
        w->path[len] = 0;
        return r;
}

static void entries_free(WalkEntry *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i].name);
        free(v);
}

/*
 * Reads a directory's listing, hashes it, and walks each entry; boxes/ with
 * workers is listed whole first, and the workers walk its entries.
 */
static int list_dir(Walk *w, size_t index, size_t len, unsigned depth, uint64_t *ret_hash, uint64_t *ret_n) {
        int fd = w->dirs[index].fd;
        bool hand_out = w->n_workers > 1 && w->part == WALK_PART_BOXES && w->dirs[index].parent == UINT_MAX;
        uint64_t hash = 0, n_entries = 0;
        WalkEntry *entries = NULL;
        size_t n_out = 0, allocated_out = 0;
        uint8_t *buf;
        int r = 0;

        if (!w->dir_buf[depth]) {
                w->dir_buf[depth] = malloc(WALK_DIR_BUF_SIZE);
                if (!w->dir_buf[depth])
                        return -ENOMEM;
        }
        buf = w->dir_buf[depth];

        for (;;) {
                ssize_t n = getdents64(fd, buf, WALK_DIR_BUF_SIZE);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = walk_error(w, w->path, "cannot read directory: %s", strerror(errno));
                        if (r < 0)
                                goto finish;
                        break;
                }
                if (n == 0)
                        break;

                for (size_t off = 0; off < (size_t) n;) {
                        const struct dirent64 *de = (const struct dirent64 *) (buf + off);
                        WalkEntry e = { .name = (char *) de->d_name, .ino = de->d_ino, .type = de->d_type };

                        off += de->d_reclen;
                        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                                continue;
                        n_entries++;
                        hash += entry_hash(de->d_name, de->d_ino, de->d_type);
                        if (w->changed)
                                continue;
                        /* The monitor's reserve is neither an overlay nor a directory to walk. */
                        if (w->dirs[index].parent == UINT_MAX && streq(de->d_name, WALK_RESERVE_NAME))
                                continue;
                        if (w->dirs[index].parent == UINT_MAX && w->part == WALK_PART_BOXES)
                                w->n_box_entries++;

                        if (hand_out) {
                                if (greedy_realloc(&entries, &allocated_out, n_out + 1, sizeof(WalkEntry), 256) < 0) {
                                        r = -ENOMEM;
                                        goto finish;
                                }
                                e.name = strdup(de->d_name);
                                if (!e.name) {
                                        r = -ENOMEM;
                                        goto finish;
                                }
                                entries[n_out++] = e;
                                continue;
                        }
                        r = walk_listed_entry(w, fd, index, &e, len, depth);
                        if (r < 0)
                                goto finish;
                }
        }
        if (hand_out && n_out > 0 && !w->changed) {
                r = walk_jobs_run(w, index, len, entries, n_out);
                if (r < 0)
                        goto finish;
        }
        *ret_hash = hash;
        *ret_n = n_entries;
        r = 0;
finish:
        entries_free(entries, n_out);
        return r;
}

/*
 * A directory that was not stat'ed before it was listed is proven when its
 * walk ends: it must be the directory the listing named (the parent's device,
 * the listed inode), on a filesystem whose timestamps come from this host's
 * clock, and its times must lie before racy_since, i.e. before the pass began
 * (less the racy window): any change to it stamps them with the file clock.
 * Then it held still from before the pass to now, as every such directory
 * did, so all of them show the home as it was when the pass began, and the
 * directory needs no check after the pass (nor its fd). Otherwise it proves
 * nothing: the pass is walked again with the directory stat'ed before listing.
 * Returns 1 when proven, 0 when not (or reported as an error), or -ENOMEM.
 */
static int post_prove(Walk *w, size_t index) {
        DirRecord *d = &w->dirs[index];
        struct stat st;

        if (fstat(d->fd, &st) < 0)
                return MIN(walk_error(w, w->path, "cannot stat directory: %s", strerror(errno)), 0);
        if (d->local_times && st.st_dev == d->dev && st.st_ino == d->ino && !d->racy &&
            !walk_ts_ge(st.st_mtim, w->racy_since) && !walk_ts_ge(st.st_ctim, w->racy_since)) {
                d->nlink = st.st_nlink;
                d->size = st.st_size;
                d->mtime = st.st_mtim;
                d->ctime = st.st_ctim;
                if (d->n_entries == 0 && st.st_nlink > 2)
                        return MIN(walk_error(w, w->path,
                                              "directory listing is empty but its link count (%lu) says it has "
                                              "subdirectories",
                                              (unsigned long) st.st_nlink),
                                   0);
                return 1;
        }
        w->unproven = true;
        return idset_add(&w->careful, d->dev, d->ino) < 0 ? -ENOMEM : 0;
}

/*
 * Walks one directory (fd is taken) and everything under it. w->path is its
 * path (len bytes); parent and name say how to reach it again.
 */
static int walk_dir(Walk *w, int fd, const struct stat *known, FileId listed, unsigned parent, const char *name,
                    bool via_link, size_t len, unsigned depth) {
        _cleanup_close_ int owned = fd;
        uint64_t hash = 0, n_entries = 0;
        size_t index;
        FileId id = listed;
        int r;

        if (depth > WALK_MAX_DEPTH)
                return walk_error(w, w->path, "directory tree deeper than %u levels", WALK_MAX_DEPTH);
        if (known)
                id = (FileId) { known->st_dev, known->st_ino };

        /*
         * A post-proven directory's identity is the listing's (its parent's device, the listed inode);
         * the check after the pass proves it is the directory's own, or the pass counts for nothing.
         */
        for (unsigned i = 0; i < w->n_ancestors; i++)
                if (w->ancestors[i].dev == id.dev && w->ancestors[i].ino == id.ino)
                        return walk_error(w, w->path, "directory loop: the link leads back to '%s' above it",
                                          w->path);
        /* Reached again under another name (two links to one box): it is walked once. */
        r = walk_claim_dir(w, id);
        if (r <= 0)
                return r;

        r = record_add(w, fd, parent, name, via_link, known, id, &index);
        if (r == -E2BIG)
                return walk_error(w, w->path, "more than %u directories in one walk", WALK_MAX_DIRS);
        if (r < 0)
                return r;
        TAKE_FD(owned);
        w->n_open++;

        w->ancestors[w->n_ancestors++] = id;
        /* Not straight into w->dirs[index]: walking below may move w->dirs. */
        r = list_dir(w, index, len, depth, &hash, &n_entries);
        w->n_ancestors--;
        if (r < 0)
                return r;
        w->dirs[index].hash = hash;
        w->dirs[index].n_entries = n_entries;

        if (w->dirs[index].post) {
                r = post_prove(w, index);
                w->dirs[index].fd = safe_close(w->dirs[index].fd);
                w->n_open--;
                /*
                 * Proven, with every record below it dropped the same way, and no log to keep: nothing
                 * needs the record again (no check after the pass, no child to reopen through it), so a
                 * dry run holds only the records of the directories still open and the careful ones.
                 */
                if (r > 0 && !w->o->keep_log && index + 1 == w->n_dirs) {
                        free(w->dirs[index].name);
                        w->n_dirs--;
                        w->n_dropped++;
                }
                return MIN(r, 0);
        }

        /*
         * Past the fd budget, a directory whose subtree is done gives its fd back; the check after the
         * pass opens it again by name from its parent, which by then is proven unchanged, so the name
         * still leads to the directory that was listed.
         */
        if (w->n_open > w->fd_budget) {
                w->dirs[index].fd = safe_close(w->dirs[index].fd);
                w->n_open--;
        }

        /* A listing that came back empty although the link count says there are subdirectories. */
        if (known && n_entries == 0 && known->st_nlink > 2)
                return walk_error(w, w->path,
                                  "directory listing is empty but its link count (%lu) says it has subdirectories",
                                  (unsigned long) known->st_nlink);
        return 0;
}

/* Opens <home>/<top> following links; a link that leads nowhere is an error, a missing top is empty. */
static int walk_top(Walk *w, WalkPart part) {
        const char *top = walk_part_to_string(part);
        _cleanup_close_ int fd = -1;
        size_t len = strlen(w->home);
        struct stat lst, st;
        bool via_link;
        int r;

        w->part = part;
        w->box = mfree(w->box);
        if (len + 1 > w->path_allocated) {
                char *p = realloc(w->path, len + 1);

                if (!p)
                        return -ENOMEM;
                w->path = p;
                w->path_allocated = len + 1;
        }
        memcpy(w->path, w->home, len + 1);
        r = path_append(w, len, top, &len);
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
                hash += entry_hash(de->d_name, de->d_ino, de->d_type);
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

                if (w->top_absent[p] && fstatat(w->home_fd, walk_part_to_string(p), &st, AT_SYMLINK_NOFOLLOW) >= 0)
                        return walk_changed(w, "'%s/%s' appeared while the home was walked", w->home,
                                            walk_part_to_string(p));
        }

        for (size_t i = 0; i < w->n_dirs && !w->changed; i++) {
                DirRecord *d = &w->dirs[i];
                _cleanup_free_ char *path = NULL;
                _cleanup_close_ int reopened = -1, parent_reopened = -1;
                int fd = d->fd, base = w->home_fd;
                struct stat st;
                bool same;
                int r;

                if (d->post)
                        continue;     /* proven when its walk ended (post_prove()) */
                if (i == 0 && w->borrowed_top)
                        continue;     /* a worker's copy of boxes/: the main walk verifies it */
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
                if (!path)
                        return -ENOMEM;
                r = walk_changed(w, "directory '%s' changed while it was walked", path);
                if (r < 0)
                        return r;
        }
        return 0;
}

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
        };
        WalkStats stats = {};
        struct stat home_st;
        size_t n_mounts = 0;
        int r = 0;

        if (!home || !cb || !cb->overlay)
                return -EINVAL;

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
                uint64_t mono0 = now_monotonic_usec();

                w.clock0 = clock0;
                w.mono0 = mono0;
                walk_pass_done(&w);
                w.racy_since = (struct timespec) { .tv_sec = start / 1000000000, .tv_nsec = start % 1000000000 };
                if (cb->begin) {
                        r = cb->begin(stats.passes, userdata);
                        for (unsigned i = 0; i < w.n_workers && r >= 0; i++)
                                r = cb->begin(stats.passes, w.workers[i].userdata);
                        if (r < 0)
                                break;
                }

                r = walk_top(&w, WALK_PART_BOXES);
                if (r >= 0 && !w.changed)
                        r = walk_top(&w, WALK_PART_BASES);
                if (r >= 0 && !w.changed && !o->test_no_consistency)
                        r = walk_verify(&w);
                if (r >= 0 && !w.changed && !o->test_no_consistency)
                        r = walk_jobs_verify(&w);
                if (r < 0)
                        break;
                if (o->test_no_consistency)
                        w.changed = mfree(w.changed);
                /*
                 * Times prove a directory unchanged only on a clock that did not step back meanwhile:
                 * the file clock must have advanced at least as far as the monotonic one (less 1 s).
                 */
                if (!w.changed && !w.all_careful && walk_clock_stepped_back(clock0, mono0)) {
                        w.all_careful = true;
                        w.unproven = true;
                }
                if (!w.changed && w.unproven) {
                        /* Not a change: the same pass again, the unproven directories stat'ed first. */
                        if (++stats.n_unproven >= WALK_MAX_UNPROVEN)
                                w.all_careful = true;
                        stats.passes--;
                        continue;
                }
                if (!w.changed) {
                        walk_count(&w, 0, &stats);
                        /* A worker's record 0 is its copy of boxes/, counted once, here. */
                        for (unsigned i = 0; i < w.n_workers; i++)
                                walk_count(&w.workers[i], 1, &stats);
                        stats.n_boxes = w.n_box_entries;
                        r = walk_mounts(&w, 0, &stats.mounts, &n_mounts);
                        for (unsigned i = 0; i < w.n_workers && r >= 0; i++)
                                r = walk_mounts(&w.workers[i], 1, &stats.mounts, &n_mounts);
                        if (r < 0)
                                break;
                        if (o->keep_log) {
                                r = log_take(&w, &stats.log);
                                if (r < 0)
                                        break;
                        }
                        break;
                }
                if (stats.passes >= max_passes) {
                        stats.unstable = TAKE_PTR(w.changed);
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
