/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "gc.h"
#include "macro.h"
#include "time-util.h"
#include "path-util.h"

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

/* ---- a set of file identities (st_dev, st_ino), open addressing ---- */

typedef struct FileId {
        dev_t dev;
        ino_t ino;
} FileId;

typedef struct IdSet {
        FileId *slots;
        bool *used;
        size_t n, allocated; /* allocated is a power of two */
} IdSet;

static size_t id_hash(FileId id, size_t mask) {
        uint64_t h = (uint64_t) id.ino * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t) id.dev * UINT64_C(0xc2b2ae3d27d4eb4f);
        return (size_t) (h ^ (h >> 29)) & mask;
}

static int idset_add(IdSet *s, dev_t dev, ino_t ino);

static int idset_grow(IdSet *s) {
        IdSet n = {};
        size_t a = s->allocated ? s->allocated * 2 : 1024;

        n.slots = calloc(a, sizeof(FileId));
        n.used = calloc(a, sizeof(bool));
        if (!n.slots || !n.used) {
                free(n.slots);
                free(n.used);
                return -ENOMEM;
        }
        n.allocated = a;
        for (size_t i = 0; i < s->allocated; i++)
                if (s->used[i])
                        (void) idset_add(&n, s->slots[i].dev, s->slots[i].ino);
        free(s->slots);
        free(s->used);
        *s = n;
        return 0;
}

static int idset_add(IdSet *s, dev_t dev, ino_t ino) {
        FileId id = { dev, ino };
        size_t i;

        if ((s->n + 1) * 2 > s->allocated) {
                int r = idset_grow(s);
                if (r < 0)
                        return r;
        }
        for (i = id_hash(id, s->allocated - 1); s->used[i]; i = (i + 1) & (s->allocated - 1))
                if (s->slots[i].dev == dev && s->slots[i].ino == ino)
                        return 0;
        s->used[i] = true;
        s->slots[i] = id;
        s->n++;
        return 1;
}

static bool idset_contains(const IdSet *s, dev_t dev, ino_t ino) {
        FileId id = { dev, ino };

        if (s->allocated == 0)
                return false;
        for (size_t i = id_hash(id, s->allocated - 1); s->used[i]; i = (i + 1) & (s->allocated - 1))
                if (s->slots[i].dev == dev && s->slots[i].ino == ino)
                        return true;
        return false;
}

static void idset_done(IdSet *s) {
        free(s->slots);
        free(s->used);
        *s = (IdSet) {};
}

/* ---- the references seen by one walk over every overlay ---- */

/* Listing buffer of one directory level; 32 KiB is what glibc's opendir() uses. */
#define GC_DIR_BUF_SIZE (32U * 1024U)

typedef struct Refs {
        IdSet pinned;
        char **unresolved; /* json:/protocol names, matched against candidate names */
        size_t n_unresolved;
        size_t n_overlays;
        bool complete;     /* every overlay walked to its end, every directory listed */
        GcError *errors;
        size_t n_errors;
        uint8_t *dir_buf[GC_MAX_DIR_DEPTH + 1]; /* one per depth: a parent's listing stays valid below it */
        char *path;                             /* the entry being walked, see refs_path_append() */
        size_t path_allocated;
} Refs;

/* The buffers only a walk needs. */
static void refs_walk_buffers_free(Refs *r) {
        for (size_t i = 0; i < ELEMENTSOF(r->dir_buf); i++)
                r->dir_buf[i] = mfree(r->dir_buf[i]);
        r->path = mfree(r->path);
        r->path_allocated = 0;
}

static void refs_done(Refs *r) {
        idset_done(&r->pinned);
        for (size_t i = 0; i < r->n_unresolved; i++)
                free(r->unresolved[i]);
        free(r->unresolved);
        for (size_t i = 0; i < r->n_errors; i++) {
                free(r->errors[i].path);
                free(r->errors[i].error);
        }
        free(r->errors);
        refs_walk_buffers_free(r);
        *r = (Refs) {};
}

/* Appends {path, message} to an error list; takes the message. */
static int errors_add(GcError **errors, size_t *n, const char *path, char *message) {
        GcError *e;
        char *p;

        p = strdup(path);
        e = message && p ? realloc(*errors, (*n + 1) * sizeof(GcError)) : NULL;
        if (!e) {
                free(message);
                free(p);
                return -ENOMEM;
        }
        *errors = e;
        e[(*n)++] = (GcError) { .path = p, .error = message };
        return 0;
}

_printf_(1, 0) static char *vformat(const char *format, va_list ap) {
        char *s;

        if (vasprintf(&s, format, ap) < 0)
                return NULL;
        return s;
}

_printf_(3, 4) static int refs_error(Refs *refs, const char *path, const char *format, ...) {
        va_list ap;
        char *s;

        refs->complete = false;
        va_start(ap, format);
        s = vformat(format, ap);
        va_end(ap);
        return errors_add(&refs->errors, &refs->n_errors, path, s);
}

static int refs_add_unresolved(Refs *refs, const char *name) {
        char **u = realloc(refs->unresolved, (refs->n_unresolved + 1) * sizeof(char *));

        if (!u)
                return -ENOMEM;
        refs->unresolved = u;
        u[refs->n_unresolved] = strdup(name);
        if (!u[refs->n_unresolved])
                return -ENOMEM;
        refs->n_unresolved++;
        return 0;
}

/* Pins every layer (and data file) of one overlay's chain; an incomplete chain makes the walk unsafe. */
static int refs_walk_overlay(Refs *refs, const char *path) {
        _cleanup_(chain_freep) Chain *c = NULL;
        ChainOptions o = { .reader = QCOW_READER_BUILTIN };
        int r;

        refs->n_overlays++;
        r = chain_walk(path, &o, &c);
        if (r < 0)
                return r;

        for (size_t i = 0; i < c->n_layers; i++) {
                const ChainLayer *l = &c->layers[i];

                r = idset_add(&refs->pinned, l->dev, l->ino);
                if (r < 0)
                        return r;
                if (l->data_file_path) {
                        r = idset_add(&refs->pinned, l->data_dev, l->data_ino);
                        if (r < 0)
                                return r;
                }

                /*
                 * QEMU resolves a relative "file:" name against its working directory, which the GC
                 * cannot know; pin the name relative to the image's directory too.
                 */
                if (l->hdr.backing_file && path_strip_file_protocol(l->hdr.backing_file) &&
                    path_strip_file_protocol(l->hdr.backing_file)[0] != '/') {
                        _cleanup_free_ char *alt = path_combine(l->filename, path_strip_file_protocol(l->hdr.backing_file));
                        struct stat st;

                        if (!alt)
                                return -ENOMEM;
                        if (stat(alt, &st) >= 0) {
                                r = idset_add(&refs->pinned, st.st_dev, st.st_ino);
                                if (r < 0)
                                        return r;
                        }
                }
        }

        if (!chain_complete(c)) {
                if (c->error == CHAIN_NOT_LOCAL) {
                        r = refs_add_unresolved(refs, c->error_filename);
                        if (r < 0)
                                return r;
                }
                return refs_error(refs, path, "backing chain incomplete (%s): %s", chain_error_to_string(c->error),
                                  c->error_reason);
        }
        return 0;
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static bool is_overlay_name(const char *name) {
        return endswith(name, ".qcow2") || endswith(name, ".qcow");
}

/*
 * refs->path holds the path of the entry being walked. Each level appends
 * "/name" and cuts it off again, so the walk builds no string per entry; a
 * level keeps only the length of its own path, since appending may move the
 * buffer.
 */
static int refs_path_append(Refs *refs, size_t len, const char *name, size_t *ret_len) {
        size_t n = strlen(name), need = len + 1 + n + 1;

        if (need > refs->path_allocated) {
                size_t a = MAX(need, MAX(refs->path_allocated * 2, (size_t) 256));
                char *p = realloc(refs->path, a);

                if (!p)
                        return -ENOMEM;
                refs->path = p;
                refs->path_allocated = a;
        }
        refs->path[len] = '/';
        memcpy(refs->path + len + 1, name, n + 1);
        *ret_len = len + 1 + n;
        return 0;
}

static int refs_walk_dir(Refs *refs, int parent_fd, const char *name, size_t len, unsigned depth,
                         bool probe_all);

/*
 * One entry of a directory under boxes/ or bases/; refs->path is its path.
 * The type comes from the listing (d_type), which saves an fstatat() per
 * entry; a filesystem that does not fill it in gets one. Overlays are opened
 * by chain_walk(), which checks what it opened with fstat() on the open file,
 * so a type that changed since the listing cannot fool it.
 */
static int refs_walk_entry(Refs *refs, int dir_fd, const char *name, size_t len, unsigned char type,
                           unsigned depth, bool probe_all) {
        if (type == DT_UNKNOWN) {
                struct stat st;

                if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                return 0; /* removed while we looked: it references nothing now */
                        return refs_error(refs, refs->path, "cannot stat: %s", strerror(errno));
                }
                type = IFTODT(st.st_mode);
        }

        if (type == DT_DIR)
                return refs_walk_dir(refs, dir_fd, name, len, depth + 1, probe_all);

        if (is_overlay_name(name))
                return refs_walk_overlay(refs, refs->path);

        if (probe_all && type == DT_REG) {
                _cleanup_close_ int fd = -1;
                uint8_t magic[4];
                ssize_t n;

                fd = openat(dir_fd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0) {
                        if (errno == ENOENT)
                                return 0;
                        return refs_error(refs, refs->path, "cannot read: %s", strerror(errno));
                }
                do
                        n = pread(fd, magic, sizeof(magic), 0);
                while (n < 0 && errno == EINTR);
                if (n < 0)
                        return refs_error(refs, refs->path, "cannot read: %s", strerror(errno));
                /* Fewer than 4 bytes cannot be a qcow image. */
                if ((size_t) n == sizeof(magic) && qcow_has_magic(magic, sizeof(magic)))
                        return refs_walk_overlay(refs, refs->path);
        }
        return 0;
}

/*
 * Walks a directory tree under boxes/ or bases/ and every overlay in it:
 * files named like qcow images anywhere, and in boxes/ any regular file with the qcow magic
 * (a box may keep overlays under other names). Symlinked directories are not
 * entered (O_NOFOLLOW below the top); a symlinked overlay is walked.
 * refs->path is the directory's path (len bytes), name is how parent_fd reaches it.
 *
 * The listing is read with getdents64() into a buffer kept per depth rather
 * than with opendir(), which costs an fstat() and a buffer allocation per
 * directory; the tree has two directories per box.
 */
static int refs_walk_dir(Refs *refs, int parent_fd, const char *name, size_t len, unsigned depth,
                         bool probe_all) {
        _cleanup_close_ int fd = -1;
        size_t n_entries = 0;
        uint8_t *buf;
        int r;

        if (depth > GC_MAX_DIR_DEPTH)
                return refs_error(refs, refs->path, "directory tree deeper than %u levels",
                                  GC_MAX_DIR_DEPTH);

        fd = openat(parent_fd, name,
                    O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC | (depth > 0 ? O_NOFOLLOW : 0));
        if (fd < 0) {
                /* No boxes/ or bases/, or a directory removed while we looked: it references nothing. */
                if (errno == ENOENT)
                        return 0;
                return refs_error(refs, refs->path, "cannot list directory: %s", strerror(errno));
        }

        if (!refs->dir_buf[depth]) {
                refs->dir_buf[depth] = malloc(GC_DIR_BUF_SIZE);
                if (!refs->dir_buf[depth])
                        return -ENOMEM;
        }
        buf = refs->dir_buf[depth];

        for (;;) {
                ssize_t n = getdents64(fd, buf, GC_DIR_BUF_SIZE);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return refs_error(refs, refs->path, "cannot read directory: %s", strerror(errno));
                }
                if (n == 0)
                        break;

                for (size_t off = 0; off < (size_t) n;) {
                        const struct dirent64 *de = (const struct dirent64 *) (buf + off);
                        size_t entry_len;

                        off += de->d_reclen;
                        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                                continue;
                        n_entries++;
                        r = refs_path_append(refs, len, de->d_name, &entry_len);
                        if (r < 0)
                                return r;
                        r = refs_walk_entry(refs, fd, de->d_name, entry_len, de->d_type, depth, probe_all);
                        refs->path[len] = 0;
                        if (r < 0)
                                return r;
                }
        }

        /*
         * A listing that came back empty although the link count says there are subdirectories.
         * Only an empty listing needs the link count, so only then is it read.
         */
        if (n_entries == 0) {
                struct stat st;

                if (fstat(fd, &st) < 0)
                        return refs_error(refs, refs->path, "cannot stat directory: %s", strerror(errno));
                if (st.st_nlink > 2)
                        return refs_error(refs, refs->path,
                                          "directory listing is empty but its link count (%lu) says it has "
                                          "subdirectories", (unsigned long) st.st_nlink);
        }
        return 0;
}

/* Walks <home>/<top>, boxes or bases. */
static int refs_walk_top(Refs *refs, const char *home, const char *top, bool probe_all) {
        size_t len = strlen(home);
        int r;

        if (len + 1 > refs->path_allocated) {
                char *p = realloc(refs->path, len + 1);

                if (!p)
                        return -ENOMEM;
                refs->path = p;
                refs->path_allocated = len + 1;
        }
        memcpy(refs->path, home, len + 1);
        r = refs_path_append(refs, len, top, &len);
        if (r < 0)
                return r;
        /* The top is opened by its full path, before anything can move the buffer. */
        return refs_walk_dir(refs, AT_FDCWD, refs->path, len, 0, probe_all);
}

static int refs_collect(const char *home, Refs *ret) {
        Refs refs = { .complete = true };
        int r;

        r = refs_walk_top(&refs, home, "boxes", true);
        if (r >= 0)
                r = refs_walk_top(&refs, home, "bases", false);
        refs_walk_buffers_free(&refs);
        if (r < 0) {
                refs_done(&refs);
                return r;
        }
        *ret = refs;
        return 0;
}

/* A json:/protocol name that mentions a candidate's file name may reference it. */
static bool refs_mention(const Refs *refs, const char *name) {
        for (size_t i = 0; i < refs->n_unresolved; i++)
                if (strstr(refs->unresolved[i], name))
                        return true;
        return false;
}

/* ---- candidates ---- */

static int64_t ts_nsec(struct statx_timestamp t) {
        return (int64_t) t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t now_nsec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The clock file timestamps are compared against. File times come from the
 * kernel's clock; a process whose own clock runs ahead (a skewed container
 * clock, libfaketime) would make a fresh image look old. A new pipe's ctime is
 * the kernel's current time, so take whichever of the two is earlier: an
 * earlier "now" only ever keeps more.
 */
static int64_t now_for_grace(void) {
        int64_t now = now_nsec();
        int fds[2];

        if (pipe2(fds, O_CLOEXEC) >= 0) {
                struct statx sx;

                if (statx(fds[0], "", AT_EMPTY_PATH, STATX_CTIME, &sx) >= 0 && (sx.stx_mask & STATX_CTIME))
                        now = MIN(now, ts_nsec(sx.stx_ctime));
                (void) close(fds[0]);
                (void) close(fds[1]);
        }
        return now;
}

static void gc_entry_done(GcEntry *e) {
        free(e->path);
        free(e->name);
        free(e->detail);
}

typedef struct EntryList {
        GcEntry *v;
        size_t n, allocated;
} EntryList;

static int entry_list_push(EntryList *l, const GcEntry *e) {
        if (l->n >= l->allocated) {
                size_t a = MAX(l->allocated * 2, (size_t) 64);
                GcEntry *v = realloc(l->v, a * sizeof(GcEntry));
                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->allocated = a;
        }
        l->v[l->n++] = *e;
        return 0;
}

static void entry_list_done(EntryList *l) {
        for (size_t i = 0; i < l->n; i++)
                gc_entry_done(&l->v[i]);
        free(l->v);
        *l = (EntryList) {};
}

static int entry_init(GcEntry *e, const char *images, const char *name, const struct statx *sx) {
        size_t dir_len = strlen(images), name_len = strlen(name);

        *e = (GcEntry) {};
        e->path = malloc(dir_len + 1 + name_len + 1);
        if (!e->path)
                return -ENOMEM;
        memcpy(e->path, images, dir_len);
        e->path[dir_len] = '/';
        memcpy(e->path + dir_len + 1, name, name_len + 1);
        e->name = strdup(name);
        if (!e->name)
                return -ENOMEM;
        if (sx) {
                int64_t m = ts_nsec(sx->stx_mtime), c = ts_nsec(sx->stx_ctime), a = ts_nsec(sx->stx_atime);

                e->dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
                e->ino = (ino_t) sx->stx_ino;
                e->nlink = sx->stx_nlink;
                e->size = sx->stx_size;
                e->allocated = sx->stx_blocks * 512;
                e->freed_bytes = e->nlink == 1 ? e->size : 0;
                e->freed_allocated = e->nlink == 1 ? e->allocated : 0;
                e->mtime_nsec = m;
                e->newest_nsec = MAX(m, c);
                if (sx->stx_mask & STATX_BTIME)
                        e->newest_nsec = MAX(e->newest_nsec, ts_nsec(sx->stx_btime));
                e->lru_nsec = MAX(a, m);
        }
        return 0;
}

static int set_detail(GcEntry *e, const char *detail) {
        free(e->detail);
        e->detail = detail ? strdup(detail) : NULL;
        return !detail || e->detail ? 0 : -ENOMEM;
}

static int do_statx(int dfd, const char *name, struct statx *ret) {
        if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS | STATX_BTIME, ret) < 0)
                return -errno;
        return 0;
}

/* True if a process holds a lock on the file: QEMU locks images it has open (OFD lock bytes 100+ and 200+). */
static bool image_in_use(int dfd, const char *name) {
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

typedef struct Run {
        const GcOptions *o;
        GcResult *res;
        int dfd;
        char *images;
        EntryList kept, reclaimed;
        char **superseded;   /* aside files whose original name was re-created meanwhile */
        size_t n_superseded;
} Run;

_printf_(3, 4) static int run_error(Run *run, const char *path, const char *format, ...) {
        va_list ap;
        char *s;

        va_start(ap, format);
        s = vformat(format, ap);
        va_end(ap);
        return errors_add(&run->res->errors, &run->res->n_errors, path, s);
}

static int keep(Run *run, GcEntry *e, GcKeepReason reason, const char *detail) {
        int r;

        e->reason = reason;
        r = set_detail(e, detail);
        if (r < 0)
                return r;
        return entry_list_push(&run->kept, e);
}

/* Moves the errors a walk collected into the run's result. */
static int move_refs_errors(Run *run, Refs *refs) {
        for (size_t i = 0; i < refs->n_errors; i++) {
                int r = errors_add(&run->res->errors, &run->res->n_errors, refs->errors[i].path,
                                   TAKE_PTR(refs->errors[i].error));
                if (r < 0)
                        return r;
        }
        return 0;
}

static char *aside_name(const char *name) {
        char *s;

        if (asprintf(&s, GC_ASIDE_PREFIX "%s", name) < 0)
                return NULL;
        return s;
}

/* Puts back aside files an interrupted run left behind. */
static int recover_aside(Run *run) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int fd, r;

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

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return run_error(run, run->images, "cannot read directory: %s", strerror(errno));
                        break;
                }
                if (strncmp(de->d_name, GC_ASIDE_PREFIX, strlen(GC_ASIDE_PREFIX)) != 0)
                        continue;
                orig = de->d_name + strlen(GC_ASIDE_PREFIX);
                if (!orig[0])
                        continue;
                if (renameat2(run->dfd, de->d_name, run->dfd, orig, RENAME_NOREPLACE) < 0) {
                        if (errno == EEXIST) {
                                /* A start rebuilt the image under its name while this copy was aside.
                                 * Putting it back is impossible, and leaving it would block that name
                                 * from ever being set aside again: decide after the walk
                                 * (reclaim_superseded()). */
                                char **l = realloc(run->superseded, (run->n_superseded + 1) * sizeof(char *));

                                if (!l)
                                        return -ENOMEM;
                                run->superseded = l;
                                l[run->n_superseded] = strdup(de->d_name);
                                if (!l[run->n_superseded])
                                        return -ENOMEM;
                                run->n_superseded++;
                                continue;
                        }
                        r = run_error(run, de->d_name,
                                      "cannot put back '%s' left aside by an interrupted run: %s", orig,
                                      strerror(errno));
                        if (r < 0)
                                return r;
                        continue;
                }
                run->res->n_restored++;
        }
        return 0;
}

/*
 * A superseded aside file: no backing name can reach it under its original
 * name, which now holds another file. It is unlinked when the walk was
 * complete, nothing pins its inode (another hard link, or a json: name that
 * mentions it) and no process holds it locked; otherwise it is kept and
 * reported. The next run decides again.
 */
static int reclaim_superseded(Run *run, const Refs *refs) {
        for (size_t i = 0; i < run->n_superseded; i++) {
                const char *name = run->superseded[i];
                GcEntry e = {};
                struct statx sx;
                int r;

                if (do_statx(run->dfd, name, &sx) < 0 || !S_ISREG(sx.stx_mode))
                        continue;
                r = entry_init(&e, run->images, name, &sx);
                if (r < 0) {
                        gc_entry_done(&e);
                        return r;
                }
                e.counted = true;

                if (!refs->complete)
                        r = keep(run, &e, GC_KEEP_UNSAFE, "left aside by an interrupted run, its name since re-created; "
                                 "not every reference could be read");
                else if (idset_contains(&refs->pinned, e.dev, e.ino) ||
                         refs_mention(refs, name + strlen(GC_ASIDE_PREFIX)) || refs_mention(refs, name))
                        r = keep(run, &e, GC_KEEP_PINNED, "left aside by an interrupted run and still referenced");
                else if (image_in_use(run->dfd, name))
                        r = keep(run, &e, GC_KEEP_PINNED, "left aside by an interrupted run; in use by a process");
                else if (unlinkat(run->dfd, name, 0) < 0) {
                        r = run_error(run, e.path, "cannot remove a superseded copy left aside by an interrupted "
                                      "run: %s", strerror(errno));
                        if (r >= 0)
                                r = keep(run, &e, GC_KEEP_UNSAFE, "could not be removed");
                } else {
                        run->res->reclaimed_bytes += e.freed_bytes;
                        run->res->reclaimed_allocated += e.freed_allocated;
                        r = set_detail(&e, "superseded copy left aside by an interrupted run");
                        if (r >= 0)
                                r = entry_list_push(&run->reclaimed, &e);
                }
                if (r < 0) {
                        gc_entry_done(&e);
                        return r;
                }
        }
        return 0;
}

static const GcPlanEntry *plan_find(const GcOptions *o, const GcEntry *e) {
        for (size_t i = 0; i < o->n_plan; i++) {
                const GcPlanEntry *p = &o->plan[i];
                const char *slash = strrchr(p->path, '/');
                const char *base = slash ? slash + 1 : p->path;

                if (streq(base, e->name))
                        return p;
        }
        return NULL;
}

static int cmp_lru(const void *a, const void *b) {
        const GcEntry *x = a, *y = b;

        if (x->lru_nsec != y->lru_nsec)
                return x->lru_nsec < y->lru_nsec ? -1 : 1;
        return strcmp(x->name, y->name);
}

static int cmp_name(const void *a, const void *b) {
        return strcmp(((const GcEntry *) a)->name, ((const GcEntry *) b)->name);
}

static bool honour_test_hooks(void) {
#if BOXLITE_TEST_HOOKS
        return true;
#else
        return false;
#endif
}

void gc_options_from_env(GcOptions *o) {
        if (!honour_test_hooks())
                return;
        o->test_no_grace = !!getenv("BOXLITE_GC_TEST_NO_GRACE");
        o->test_no_recheck = !!getenv("BOXLITE_GC_TEST_NO_RECHECK");
        o->test_kill_after_aside = !!getenv("BOXLITE_GC_TEST_KILL_AFTER_ASIDE");
}

/* Sorts candidates into kept and orphans; returns the orphans eligible for deletion. */
static int classify_candidates(Run *run, EntryList *cands, const Refs *refs, EntryList *ret_orphans) {
        const GcOptions *o = run->o;
        int64_t now = now_for_grace(), grace = (int64_t) MIN(o->grace_usec, (uint64_t) INT64_MAX / 1000) * 1000;
        EntryList orphans = {};
        int r;

        for (size_t i = 0; i < cands->n; i++) {
                GcEntry *e = &cands->v[i];
                const GcPlanEntry *p;

                if (o->use_plan) {
                        p = plan_find(o, e);
                        if (!p || p->dev != e->dev || p->ino != e->ino || p->size != e->size ||
                            p->mtime_nsec != e->mtime_nsec) {
                                r = keep(run, e, GC_KEEP_NOT_IN_PLAN,
                                         p ? "changed since the plan was made" : "not in the plan");
                                goto next;
                        }
                }
                if (idset_contains(&refs->pinned, e->dev, e->ino))
                        r = keep(run, e, GC_KEEP_PINNED, "in a backing chain");
                else if (refs_mention(refs, e->name))
                        r = keep(run, e, GC_KEEP_PINNED, "named by a json: or protocol backing name");
                else if (!refs->complete)
                        r = keep(run, e, GC_KEEP_UNSAFE, "not every reference could be read (see errors)");
                else if (e->newest_nsec > now)
                        r = keep(run, e, GC_KEEP_GRACE, "timestamp in the future");
                else if (!o->test_no_grace && now - e->newest_nsec < grace)
                        r = keep(run, e, GC_KEEP_GRACE, "changed within the grace window");
                else if (image_in_use(run->dfd, e->name))
                        r = keep(run, e, GC_KEEP_PINNED, "locked by a running process");
                else
                        r = entry_list_push(&orphans, e);
        next:
                if (r < 0)
                        return r;
                *e = (GcEntry) {};
        }
        cands->n = 0;

        if (orphans.n > 1)
                qsort(orphans.v, orphans.n, sizeof(GcEntry), o->target_free > 0 ? cmp_lru : cmp_name);
        *ret_orphans = orphans;
        return 0;
}

static int scan_candidates(Run *run, EntryList *ret) {
        _cleanup_(closedirp) DIR *d = NULL;
        EntryList cands = {};
        struct dirent *de;
        size_t n = 0;
        int fd, r;

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
                        if (errno != 0) {
                                r = -errno;
                                entry_list_done(&cands);
                                return r;
                        }
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;

                r = do_statx(run->dfd, de->d_name, &sx);
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
                                r = keep(run, &e, GC_KEEP_NOT_EXT4,
                                         strncmp(de->d_name, GC_ASIDE_PREFIX, strlen(GC_ASIDE_PREFIX)) == 0 ?
                                                 "left aside by an interrupted run; a real run puts it back" :
                                                 "hidden file");
                        else if (!S_ISREG(sx.stx_mode))
                                r = keep(run, &e, GC_KEEP_NOT_EXT4,
                                         S_ISLNK(sx.stx_mode) ? "symbolic link" : "not a regular file");
                        else if (!endswith(de->d_name, ".ext4"))
                                r = keep(run, &e, GC_KEEP_NOT_EXT4, "not named *.ext4");
                        else if (++n > GC_MAX_FILES)
                                r = keep(run, &e, GC_KEEP_UNSAFE, "more candidates than one run handles");
                        else {
                                e.counted = true;
                                r = entry_list_push(&cands, &e);
                        }
                }
                if (r < 0) {
                        gc_entry_done(&e);
                        entry_list_done(&cands);
                        return r;
                }
        }

        *ret = cands;
        return 0;
}

static bool same_file(const struct statx *sx, const GcEntry *e) {
        return makedev(sx->stx_dev_major, sx->stx_dev_minor) == e->dev && (ino_t) sx->stx_ino == e->ino &&
               sx->stx_size == e->size && ts_nsec(sx->stx_mtime) == e->mtime_nsec;
}

static int put_back(Run *run, GcEntry *e, const char *aside, GcKeepReason reason, const char *detail) {
        if (renameat2(run->dfd, aside, run->dfd, e->name, RENAME_NOREPLACE) < 0) {
                int r = run_error(run, e->path,
                                  "cannot put back from '%s': %s; the next run puts it back", aside,
                                  strerror(errno));
                if (r < 0)
                        return r;
                return keep(run, e, GC_KEEP_UNSAFE, "left aside, could not be put back");
        }
        run->res->n_put_back++;
        return keep(run, e, reason, detail);
}

/* Phase 1: rename each selected orphan aside; returns those that were moved. */
static int move_aside(Run *run, EntryList *sel, EntryList *ret_moved) {
        EntryList moved = {};
        int r;

        for (size_t i = 0; i < sel->n; i++) {
                GcEntry *e = &sel->v[i];
                _cleanup_free_ char *aside = aside_name(e->name);
                struct statx sx;

                if (!aside)
                        return -ENOMEM;

                if (do_statx(run->dfd, e->name, &sx) < 0 || !same_file(&sx, e))
                        r = keep(run, e, GC_KEEP_UNSAFE, "changed during the run");
                else if (renameat2(run->dfd, e->name, run->dfd, aside, RENAME_NOREPLACE) < 0) {
                        r = run_error(run, e->path, "cannot move aside: %s", strerror(errno));
                        if (r >= 0)
                                r = keep(run, e, GC_KEEP_UNSAFE, "could not be moved aside");
                } else if (do_statx(run->dfd, aside, &sx) < 0 || (ino_t) sx.stx_ino != e->ino)
                        /* Replaced between the check and the rename: a new image; put it back. */
                        r = put_back(run, e, aside, GC_KEEP_UNSAFE, "replaced during the run");
                else
                        r = entry_list_push(&moved, e);
                if (r < 0) {
                        entry_list_done(&moved);
                        return r;
                }
                *e = (GcEntry) {};
        }
        sel->n = 0;
        *ret_moved = moved;
        return 0;
}

/* Phase 2 and 3: walk every chain again, put back what is referenced now, unlink the rest. */
static int recheck_and_unlink(Run *run, EntryList *moved) {
        Refs refs = {};
        bool recheck = !run->o->test_no_recheck;
        int r = 0;

        if (recheck) {
                r = refs_collect(run->o->home, &refs);
                if (r < 0)
                        return r;
                if (!refs.complete) {
                        run->res->fail_closed = true;
                        r = move_refs_errors(run, &refs);
                }
        }

        for (size_t i = 0; r >= 0 && i < moved->n; i++) {
                GcEntry *e = &moved->v[i];
                _cleanup_free_ char *aside = aside_name(e->name);

                if (!aside) {
                        r = -ENOMEM;
                        break;
                }
                if (recheck && !refs.complete)
                        r = put_back(run, e, aside, GC_KEEP_UNSAFE, "the second walk could not read every reference");
                else if (recheck && (idset_contains(&refs.pinned, e->dev, e->ino) || refs_mention(&refs, e->name)))
                        r = put_back(run, e, aside, GC_KEEP_PINNED, "became referenced during the run");
                else if (unlinkat(run->dfd, aside, 0) < 0) {
                        r = run_error(run, e->path, "cannot delete: %s", strerror(errno));
                        if (r >= 0)
                                r = put_back(run, e, aside, GC_KEEP_UNSAFE, "delete failed");
                } else {
                        run->res->reclaimed_bytes += e->freed_bytes;
                        run->res->reclaimed_allocated += e->freed_allocated;
                        r = entry_list_push(&run->reclaimed, e);
                }
                if (r >= 0)
                        *e = (GcEntry) {};
        }
        moved->n = 0;

        (void) fsync(run->dfd);
        refs_done(&refs);
        return r;
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
        free(r);
        return NULL;
}

int gc_run(const GcOptions *o, GcResult **ret) {
        _cleanup_(gc_result_freep) GcResult *res = NULL;
        EntryList cands = {}, orphans = {}, sel = {}, moved = {};
        Refs refs = {};
        Run run = { .o = o, .dfd = -1 };
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

        /* References first, candidates second: an image built meanwhile is new, so the grace keeps it. */
        r = refs_collect(o->home, &refs);
        if (r < 0)
                goto finish;
        res->n_overlays = refs.n_overlays;
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

        r = scan_candidates(&run, &cands);
        if (r < 0) {
                r = run_error(&run, run.images, "cannot list: %s", strerror(-r));
                res->fail_closed = true;
                goto finish;
        }
        if (res->fail_closed)
                refs.complete = false;

        r = classify_candidates(&run, &cands, &refs, &orphans);
        if (r < 0)
                goto finish;
        /* The second walk collects its own references: free the first walk's before it starts. */
        refs_done(&refs);

        /* Select, LRU first with a target; the estimate counts the blocks each unlink frees. */
        avail = res->available_before;
        for (size_t i = 0; i < orphans.n; i++) {
                GcEntry *e = &orphans.v[i];

                if (o->target_free > 0 && avail >= o->target_free)
                        r = keep(&run, e, GC_KEEP_TARGET_MET, "the free-space target was reached");
                else {
                        avail += e->freed_allocated;
                        r = entry_list_push(&sel, e);
                }
                if (r < 0)
                        goto finish;
                *e = (GcEntry) {};
        }
        orphans.n = 0;

        if (o->dry_run) {
                for (size_t i = 0; i < sel.n; i++) {
                        res->reclaimed_bytes += sel.v[i].freed_bytes;
                        res->reclaimed_allocated += sel.v[i].freed_allocated;
                        r = entry_list_push(&run.reclaimed, &sel.v[i]);
                        if (r < 0)
                                goto finish;
                        sel.v[i] = (GcEntry) {};
                }
                sel.n = 0;
        } else if (sel.n > 0) {
                r = move_aside(&run, &sel, &moved);
                if (r < 0)
                        goto finish;
                if (o->test_kill_after_aside && honour_test_hooks())
                        (void) raise(SIGKILL);
                r = recheck_and_unlink(&run, &moved);
                if (r < 0)
                        goto finish;
        }
        r = 0;

finish:
        res->available_after = res->available_before + res->reclaimed_allocated;
        res->kept = run.kept.v;
        res->n_kept = run.kept.n;
        run.kept = (EntryList) {};
        res->reclaimed = run.reclaimed.v;
        res->n_reclaimed = run.reclaimed.n;
        run.reclaimed = (EntryList) {};
        if (res->n_kept > 1)
                qsort(res->kept, res->n_kept, sizeof(GcEntry), cmp_name);

        entry_list_done(&cands);
        entry_list_done(&orphans);
        entry_list_done(&sel);
        entry_list_done(&moved);
        refs_done(&refs);
        for (size_t i = 0; i < run.n_superseded; i++)
                free(run.superseded[i]);
        free(run.superseded);
        if (run.dfd >= 0)
                (void) close(run.dfd);
        free(run.images);
        if (r < 0)
                return r;

        res->duration_usec = now_monotonic_usec() - t0;
        res->finished_realtime_usec = (uint64_t) now_nsec() / 1000;
        *ret = TAKE_PTR(res);
        return 0;
}
