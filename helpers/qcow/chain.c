/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "macro.h"
#include "qemu-path.h"
#include "utf8.h"

static const char *const chain_error_table[_CHAIN_ERROR_MAX] = {
        [CHAIN_OK] = "ok",
        [CHAIN_MISSING] = "missing",
        [CHAIN_UNREADABLE] = "unreadable",
        [CHAIN_CORRUPT] = "corrupt",
        [CHAIN_UNSUPPORTED] = "unsupported",
        [CHAIN_LOOP] = "loop",
        [CHAIN_TOO_DEEP] = "too-deep",
        [CHAIN_NOT_LOCAL] = "not-local",
};

const char *chain_error_to_string(ChainError e) {
        if (e < 0 || e >= _CHAIN_ERROR_MAX)
                return NULL;
        return chain_error_table[e];
}

static void chain_layer_done(ChainLayer *l) {
        free(l->filename);
        free(l->path);
        free(l->format);
        qcow_header_done(&l->hdr);
        free(l->full_backing_filename);
        free(l->data_file_path);
}

Chain *chain_free(Chain *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_layers; i++)
                chain_layer_done(&c->layers[i]);
        free(c->layers);
        free(c->error_filename);
        free(c->error_reason);
        free(c);
        return NULL;
}

const char *chain_name_key(char **buf, size_t *allocated, const char *name, const char *declared_format,
                           size_t *ret_len) {
        const char *f = strempty(declared_format);
        size_t fl = strlen(f), nl = strlen(name), need = fl + 1 + nl + 1;

        if (need > *allocated) {
                size_t a = MAX(need, (size_t) 256);
                char *k = realloc(*buf, a);

                if (!k)
                        return NULL;
                *buf = k;
                *allocated = a;
        }
        memcpy(*buf, f, fl);
        (*buf)[fl] = '\n';
        memcpy(*buf + fl + 1, name, nl + 1);
        *ret_len = fl + 1 + nl;
        return *buf;
}

void chain_shrink(Chain *c) {
        ChainLayer *l;

        for (size_t i = 0; i < c->n_layers; i++) {
                l = &c->layers[i];
                l->path = mfree(l->path);
                qcow_header_done(&l->hdr);
                l->hdr = (QcowHeader) {};
                l->has_header = false;
                l->full_backing_filename = mfree(l->full_backing_filename);
        }
        if (c->n_layers > 0) {
                l = realloc(c->layers, c->n_layers * sizeof(ChainLayer));
                if (l)
                        c->layers = l;
        }
}

/* Records why the chain stops. Returns 0, or -ENOMEM. */
_printf_(5, 6) static int chain_set_error(Chain *c, ChainError e, int error, const char *filename, const char *format,
                                          ...) {
        va_list ap;
        char *s = NULL;

        va_start(ap, format);
        if (vasprintf(&s, format, ap) < 0)
                s = NULL;
        va_end(ap);
        if (!s)
                return -ENOMEM;

        c->error = e;
        c->error_errno = error;
        c->error_reason = s;
        c->error_filename = strdup(filename);
        if (!c->error_filename)
                return -ENOMEM;
        return 0;
}

static ChainError chain_error_from_errno(int error) {
        switch (error) {
        case -ENOENT:
        case -ENOTDIR:
                return CHAIN_MISSING;
        case -EOPNOTSUPP:
                return CHAIN_UNSUPPORTED;
        case -EBADMSG:
        case -EMEDIUMTYPE:
                return CHAIN_CORRUPT;
        default:
                return CHAIN_UNREADABLE;
        }
}

/* Opens a layer without following surprises: no blocking on FIFOs, no controlling tty, regular files only. */
static int open_layer(const char *path, struct stat *ret_st, const char **ret_reason) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                *ret_reason = NULL;
                return -errno;
        }
        if (fstat(fd, &st) < 0) {
                *ret_reason = NULL;
                return -errno;
        }
        if (!S_ISREG(st.st_mode)) {
                *ret_reason = S_ISDIR(st.st_mode) ? "is a directory, not an image file" :
                              "is not a regular file (FIFO, socket or device)";
                return -EBADFD;
        }
        *ret_st = st;
        return TAKE_FD(fd);
}

#define FD_BORROWED INT_MIN /* the caller's fd: read, never closed; not an errno */

static bool names_equal(const char *a, const char *b) {
        return (!a && !b) || (a && b && streq(a, b));
}

/*
 * Reads a qcow/qcow2 layer with the configured reader(s). In auto mode the
 * strict reader always validates first (it is how QEMU would judge the file),
 * then libqcow supplies the facts; where libqcow refuses a valid image the
 * strict reader's facts are used. Where both read the image they must agree.
 */
static int read_qcow_layer(Chain *c, ChainLayer *l, int fd, const void *prefix, size_t prefix_size,
                           const ChainOptions *o) {
        _cleanup_free_ char *reason = NULL, *lq_reason = NULL;
        QcowHeader lq = {};
        int r;

        if (o->reader != QCOW_READER_LIBQCOW) {
                r = qcow_header_read(fd, l->file_size, prefix, prefix_size, &l->hdr, &reason);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return chain_set_error(c, chain_error_from_errno(r), r, l->filename, "%s",
                                               reason ?: strerror(-r));
                l->has_header = true;
                l->reader = QCOW_READER_BUILTIN;
                if (o->reader == QCOW_READER_BUILTIN)
                        return 0;
        }

        r = qcow_libqcow_read(fd, l->path, &lq, &lq_reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (o->reader == QCOW_READER_LIBQCOW)
                        return chain_set_error(c, CHAIN_UNSUPPORTED, r, l->filename, "%s",
                                               lq_reason ?: strerror(-r));
                /* auto: a valid image libqcow cannot read (data file, zstd, extended L2, qcow v1 quirks, ...). */
                l->libqcow_refused = true;
                return 0;
        }

        if (o->reader == QCOW_READER_LIBQCOW) {
                l->hdr = lq;
                l->reader = QCOW_READER_LIBQCOW;
                return 0;
        }

        /* libqcow converts names to UTF-8; a name that is not valid UTF-8 can only be compared byte-wise by us. */
        if (l->hdr.backing_file && !utf8_is_valid(l->hdr.backing_file)) {
                qcow_header_done(&lq);
                return 0;
        }

        if (lq.version != l->hdr.version || lq.virtual_size != l->hdr.virtual_size ||
            !names_equal(lq.backing_file, l->hdr.backing_file)) {
                r = chain_set_error(c, CHAIN_CORRUPT, -EBADMSG, l->filename,
                                    "readers disagree: libqcow reads version %u, size %llu, backing '%s'; "
                                    "the header says version %u, size %llu, backing '%s'",
                                    lq.version, (unsigned long long) lq.virtual_size, strempty(lq.backing_file),
                                    l->hdr.version, (unsigned long long) l->hdr.virtual_size,
                                    strempty(l->hdr.backing_file));
                qcow_header_done(&lq);
                return r;
        }

        qcow_header_done(&lq);
        l->reader = QCOW_READER_LIBQCOW;
        return 0;
}

/* Resolves and checks an external data file, which is a reference like a backing file. */
static int resolve_data_file(Chain *c, ChainLayer *l) {
        _cleanup_free_ char *full = NULL;
        const char *local;
        struct stat st;

        if (!l->hdr.data_file || !(l->hdr.incompatible_features & QCOW2_INCOMPAT_DATA_FILE))
                return 0;

        full = path_full_backing_name(l->filename, l->hdr.data_file);
        if (!full)
                return -ENOMEM;

        local = path_strip_file_protocol(full) ?: full;
        if (path_has_protocol(local))
                return chain_set_error(c, CHAIN_NOT_LOCAL, -EPROTONOSUPPORT, full,
                                       "data file '%s' of '%s' is not a local file", full, l->filename);

        if (stat(local, &st) < 0) {
                int r = -errno;
                return chain_set_error(c, chain_error_from_errno(r), r, full, "data file '%s' of '%s': %s", full,
                                       l->filename, strerror(-r));
        }
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return chain_set_error(c, CHAIN_UNREADABLE, -EBADFD, full,
                                       "data file '%s' of '%s' is not a regular file or block device", full,
                                       l->filename);

        l->data_file_path = strdup(local);
        if (!l->data_file_path)
                return -ENOMEM;
        l->data_dev = st.st_dev;
        l->data_ino = st.st_ino;
        return 0;
}

const char *chain_declared_format(const Chain *c, size_t i) {
        if (i == 0 || i >= c->n_layers)
                return NULL;
        return c->layers[i - 1].hdr.backing_format;
}

int chain_walk(const char *image, const ChainOptions *opts, Chain **ret) {
        return chain_walk_fd(-1, NULL, image, opts, ret);
}

int chain_walk_fd(int first_fd, const struct stat *first_st, const char *image, const ChainOptions *opts,
                  Chain **ret) {
        static const ChainOptions default_options = {};
        _cleanup_(chain_freep) Chain *c = NULL;
        _cleanup_free_ char *name = NULL, *declared_format = NULL;
        const ChainOptions *o = opts ?: &default_options;
        size_t n_allocated = 0;
        unsigned max_depth;
        int r = 0;

        if (!image || !ret)
                return -EINVAL;

        max_depth = o->max_depth ?: CHAIN_MAX_DEPTH_DEFAULT;
        c = calloc(1, sizeof(Chain));
        if (!c)
                return -ENOMEM;
        name = strdup(image);
        if (!name)
                return -ENOMEM;

        for (;;) {
                _cleanup_close_ int fd = -1;
                const char *local, *why = NULL;
                int rfd;
                ChainLayer *l;
                struct stat st = {};
                uint8_t magic[4096];
                ssize_t n;

                if (c->n_layers >= max_depth) {
                        r = chain_set_error(c, CHAIN_TOO_DEEP, -E2BIG, name,
                                            "backing chain is deeper than %u layers", max_depth);
                        break;
                }

                /* QEMU strips "file:" (then the rest is a plain path); other protocols are not local files. */
                local = path_strip_file_protocol(name) ?: name;
                if (path_has_protocol(local) || streq(local, "")) {
                        r = chain_set_error(c, CHAIN_NOT_LOCAL, -EPROTONOSUPPORT, name,
                                            "'%s' is not a local file name (json: or protocol)", name);
                        break;
                }

                if (c->n_layers > 0 && o->known && o->known(name, declared_format, o->userdata)) {
                        c->stopped_at_known = true;
                        break;
                }

                /*
                 * A layer declared raw is never read (QEMU does not probe it), but QEMU does open it: a raw
                 * layer that cannot be opened (EACCES) makes qemu-img fail, so it is unreadable here too.
                 */
                if (c->n_layers == 0 && first_fd >= 0) {
                        /* The caller opened the overlay (relative to the directory it listed). */
                        if (first_st)
                                st = *first_st;
                        if (!first_st && fstat(first_fd, &st) < 0)
                                fd = -errno;
                        else if (!S_ISREG(st.st_mode)) {
                                why = "is not a regular file (FIFO, socket or device)";
                                fd = -EBADFD;
                        } else
                                fd = FD_BORROWED;
                } else
                        fd = open_layer(local, &st, &why);
                if (fd < 0 && fd != FD_BORROWED) {
                        r = chain_set_error(c, chain_error_from_errno(fd), fd, name, "'%s' %s", name,
                                            why ?: (fd == -ENOENT ? "does not exist" : strerror(-fd)));
                        break;
                }
                rfd = fd == FD_BORROWED ? first_fd : fd;

                for (size_t i = 0; i < c->n_layers; i++)
                        if (c->layers[i].dev == st.st_dev && c->layers[i].ino == st.st_ino) {
                                r = chain_set_error(c, CHAIN_LOOP, -ELOOP, name,
                                                    "backing chain loops: '%s' is the same file as layer %zu ('%s')",
                                                    name, i, c->layers[i].filename);
                                goto done;
                        }

                /* Room for a typical chain (overlay, base, image) at once: the GC walks one per overlay. */
                if (c->n_layers >= n_allocated) {
                        size_t a = MAX(n_allocated * 2, (size_t) 4);

                        l = realloc(c->layers, a * sizeof(ChainLayer));
                        if (!l)
                                return -ENOMEM;
                        c->layers = l;
                        n_allocated = a;
                }
                l = &c->layers[c->n_layers++];
                /* QEMU names a file: layer by its plain path. */
                if (local != name) {
                        char *plain = strdup(local);
                        if (!plain)
                                return -ENOMEM;
                        free(name);
                        name = plain;
                        local = name;
                }
                *l = (ChainLayer) {
                        .filename = TAKE_PTR(name),
                        .path = NULL,
                        .dev = st.st_dev,
                        .ino = st.st_ino,
                        .file_size = (uint64_t) st.st_size,
                        .actual_size = (uint64_t) st.st_blocks * 512,
                        .mtime = st.st_mtim,
                        .ctime = st.st_ctim,
                };
                l->path = strdup(l->filename);
                if (!l->path)
                        return -ENOMEM;

                /* Probe unless the referring image declared the format, as QEMU does. */
                n = 0;
                if (!declared_format || !streq(declared_format, "raw"))
                        do
                                n = pread(rfd, magic, sizeof(magic), 0);
                        while (n < 0 && errno == EINTR);
                if (n < 0) {
                        r = chain_set_error(c, CHAIN_UNREADABLE, -errno, l->filename, "cannot read '%s': %m",
                                            l->filename);
                        break;
                }

                if (declared_format && !streq(declared_format, "qcow2") && !streq(declared_format, "qcow")) {
                        l->format = TAKE_PTR(declared_format);
                        if (!streq(l->format, "raw")) {
                                r = chain_set_error(c, CHAIN_UNSUPPORTED, -EOPNOTSUPP, l->filename,
                                                    "'%s' has format '%s', which cannot be walked", l->filename,
                                                    l->format);
                                break;
                        }
                } else if (!qcow_has_magic(magic, (size_t) n)) {
                        if (declared_format) {
                                r = chain_set_error(c, CHAIN_CORRUPT, -EMEDIUMTYPE, l->filename,
                                                    "'%s' is declared as %s but has no qcow magic", l->filename,
                                                    declared_format);
                                break;
                        }
                        l->format = strdup("raw");
                } else {
                        r = read_qcow_layer(c, l, rfd, magic, (size_t) n, o);
                        if (r < 0)
                                return r;
                        if (c->error != CHAIN_OK)
                                break;
                        l->format = strdup(qcow_format_name(&l->hdr));
                        if (l->format && declared_format && !streq(declared_format, l->format)) {
                                r = chain_set_error(c, CHAIN_CORRUPT, -EMEDIUMTYPE, l->filename,
                                                    "'%s' is declared as %s but is %s", l->filename,
                                                    declared_format, l->format);
                                break;
                        }
                }
                if (!l->format)
                        return -ENOMEM;
                declared_format = mfree(declared_format);

                if (streq(l->format, "raw")) {
                        /* QEMU keeps sizes in 512-byte sectors, rounding a raw file's length up. */
                        l->virtual_size = (l->file_size + 511) & ~UINT64_C(511);
                        break;
                }

                /* qcow and qcow2 keep the size in 512-byte sectors (bs->total_sectors). */
                l->virtual_size = l->hdr.virtual_size & ~UINT64_C(511);

                r = resolve_data_file(c, l);
                if (r < 0)
                        return r;
                if (c->error != CHAIN_OK)
                        break;

                if (!l->hdr.backing_file)
                        break;

                l->full_backing_filename = path_full_backing_name(l->filename, l->hdr.backing_file);
                if (!l->full_backing_filename)
                        return -ENOMEM;
                name = strdup(l->full_backing_filename);
                if (!name)
                        return -ENOMEM;
                if (l->hdr.backing_format) {
                        declared_format = strdup(l->hdr.backing_format);
                        if (!declared_format)
                                return -ENOMEM;
                }
        }
done:
        if (r < 0)
                return r;

        /* A layer that failed before its format was known is described by the error alone. */
        if (c->n_layers > 0 && !c->layers[c->n_layers - 1].format)
                chain_layer_done(&c->layers[--c->n_layers]);

        *ret = TAKE_PTR(c);
        return 0;
}
