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
uint64_t walk_entry_hash(const char *name, uint64_t ino, unsigned char type) {
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

_printf_(2, 3) int walk_changed(Walk *w, const char *format, ...) {
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

_printf_(3, 4) int walk_error(Walk *w, const char *path, const char *format, ...) {
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
        return w->cb->error(path, s, w->unit, w->userdata);
}

/*
 * w->path holds the path of the entry being walked. Each level appends
 * "/name" and cuts it off again, so the walk builds no string per entry; a
 * level keeps only the length of its own path, since appending may move the
 * buffer.
 */
int walk_path_append(Walk *w, size_t len, const char *name, size_t *ret_len) {
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
        w->round_why = mfree(w->round_why);
        w->last_why = mfree(w->last_why);
        w->unproven = false;
        w->restart = false;
        w->unit = UINT_MAX;
        w->round = 1;
        w->n_rewalked = 0;
        walk_units_done(w);
        for (size_t i = 0; i < _WALK_PART_MAX; i++)
                w->top_absent[i] = w->top_changed[i] = false;
}

void walk_done(Walk *w) {
        walk_pass_done(w);
        walk_jobs_done(w);
        idset_done(&w->careful);
        free(w->units);
        free(w->unit_names);
        free(w->deps);
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
                .unit = w->unit,
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
                /*
                 * A unit whose own entry is such a mismatch could as well be an exchange just before
                 * the open: the top is listed again (walk_verify()), and if its listing changed, the
                 * unit is walked again (walk_units_settle()). A worker's top is a copy: the unit says it.
                 */
                if (w->dirs[dir_index].parent == UINT_MAX && w->unit != UINT_MAX)
                        w->root->units[w->unit].mismatch = true;
                else
                        w->dirs[dir_index].racy = true;
                return 0;
        }
        return walk_changed(w, "'%s' was replaced while it was walked", w->path);
}


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
                .unit = w->unit,
                .dev = st->st_dev,
                .ino = st->st_ino,
                .fd = fd,
                .st = st,
        };
        int r;

        r = w->cb->overlay(&o, w->userdata);
        if (r == WALK_CHANGED)
                return walk_changed(w, "'%s' vanished or was replaced while it was walked", w->path);
        if (r >= 0 && w->unit != UINT_MAX && w->root)
                w->root->units[w->unit].n_overlays++;
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
                    w->root->round <= 1 && !idset_contains(&w->careful, listed.dev, listed.ino))
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

        r = walk_path_append(w, len, e->name, &entry_len);
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

/* An entry of a listing; one of a top is a unit of its own, walked with the test hooks around it. */
int walk_unit_entry(Walk *w, int dir_fd, size_t dir_index, const WalkEntry *e, size_t len, unsigned depth, bool top) {
        int r;

        if (!top)
                return walk_listed_entry(w, dir_fd, dir_index, e, len, depth);
        w->unit = e->unit;
        walk_test_hook(w, "before", e->name);
        r = walk_listed_entry(w, dir_fd, dir_index, e, len, depth);
        walk_test_hook(w, "after", e->name);
        walk_unit_end(w);
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
int walk_list_dir(Walk *w, size_t index, size_t len, unsigned depth, uint64_t *ret_hash, uint64_t *ret_n) {
        int fd = w->dirs[index].fd;
        bool top = w->dirs[index].parent == UINT_MAX;
        bool hand_out = w->n_workers > 1 && w->part == WALK_PART_BOXES && top && w->root->round <= 1;
        /* A top listed again: listed whole first, so that the units it no longer holds are known to
         * have left before its new entries are walked (and may take over their directories). */
        bool relist = top && w->root->round > 1;
        size_t first_new = w->root->n_units;
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
                        hash += walk_entry_hash(de->d_name, de->d_ino, de->d_type);
                        if (w->changed)
                                continue;
                        if (top) {
                                /* The monitor's reserve is neither an overlay nor a directory to walk. */
                                if (streq(de->d_name, WALK_RESERVE_NAME))
                                        continue;
                                if (w->part == WALK_PART_BOXES)
                                        w->n_box_entries++;
                                /* Listed again: an entry that is a unit of the view, unchanged, stays as it is. */
                                if (w->root->round > 1 &&
                                    walk_unit_keep(w, w->part, de->d_name, de->d_ino, de->d_type) > 0)
                                        continue;
                                r = walk_unit_add(w, w->part, de->d_name, de->d_ino, de->d_type, &e.unit);
                                if (r < 0)
                                        goto finish;
                        }

                        if (hand_out || relist) {
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
                        r = walk_unit_entry(w, fd, index, &e, len, depth, top);
                        if (r < 0)
                                goto finish;
                }
        }
        if (hand_out && n_out > 0 && !w->changed) {
                r = walk_jobs_run(w, index, len, entries, n_out);
                if (r < 0)
                        goto finish;
        }
        if (relist) {
                walk_units_unlisted(w, w->part, first_new);
                for (size_t i = 0; i < n_out; i++) {
                        r = walk_unit_entry(w, fd, index, &entries[i], len, depth, /* top= */ true);
                        if (r < 0)
                                goto finish;
                }
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
        /* Its unit is walked again next round, every directory stat'ed before it is listed. */
        w->unproven = true;
        if (idset_add(&w->careful, d->dev, d->ino) < 0)
                return -ENOMEM;
        return MIN(walk_note_change(w, w->unit, w->part, NULL), 0);
}

/*
 * Walks one directory (fd is taken) and everything under it. w->path is its
 * path (len bytes); parent and name say how to reach it again.
 */
int walk_dir(Walk *w, int fd, const struct stat *known, FileId listed, unsigned parent, const char *name,
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
        r = walk_list_dir(w, index, len, depth, &hash, &n_entries);
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
