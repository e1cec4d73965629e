/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libqcow.h>

#include "macro.h"
#include "qcow.h"

static const char *const qcow_reader_table[_QCOW_READER_MAX] = {
        [QCOW_READER_AUTO] = "auto",
        [QCOW_READER_LIBQCOW] = "libqcow",
        [QCOW_READER_BUILTIN] = "builtin",
};

const char *qcow_reader_to_string(QcowReader r) {
        if (r < 0 || r >= _QCOW_READER_MAX)
                return NULL;
        return qcow_reader_table[r];
}

QcowReader qcow_reader_from_string(const char *s) {
        for (int i = 0; i < _QCOW_READER_MAX; i++)
                if (s && streq(s, qcow_reader_table[i]))
                        return (QcowReader) i;
        return _QCOW_READER_INVALID;
}

void qcow_header_done(QcowHeader *h) {
        if (!h)
                return;
        free(h->backing_file);
        free(h->backing_format);
        free(h->data_file);
        *h = (QcowHeader) {};
}

bool qcow_has_magic(const void *buf, size_t size) {
        uint32_t m;

        if (size < 4)
                return false;
        memcpy(&m, buf, 4);
        return be32toh(m) == QCOW_MAGIC;
}

_printf_(3, 4) static int fail(char **ret_reason, int error, const char *format, ...) {
        va_list ap;

        if (ret_reason) {
                char *s = NULL;

                va_start(ap, format);
                if (vasprintf(&s, format, ap) < 0)
                        s = NULL;
                va_end(ap);
                free(*ret_reason);
                *ret_reason = s;
        }
        return error;
}

/*
 * The bytes the parser may look at: either a complete in-memory buffer, or a
 * window over an fd that grows on demand (by pread) up to cluster 0.
 */
typedef struct Source {
        const uint8_t *data;
        size_t size;        /* valid bytes in data */
        uint64_t file_size; /* size of the whole file */
        int fd;             /* -1 for a memory source */
        uint8_t *owned;     /* buffer for an fd source */
        size_t allocated;
        uint8_t *far;       /* a range read on its own, far past the window (qcow v1 names) */
} Source;

/*
 * Makes [offset, offset + len) available and returns a pointer to it. Fails
 * with -EBADMSG if the range runs past the end of the file.
 */
static int source_get(Source *s, uint64_t offset, size_t len, const uint8_t **ret) {
        uint64_t end;

        if (__builtin_add_overflow(offset, (uint64_t) len, &end) || end > s->file_size)
                return -EBADMSG;

        if (end > s->size) {
                size_t want;
                uint8_t *p;
                ssize_t n;

                if (s->fd < 0)
                        return -EBADMSG;

                /* Far beyond the window: read just that range rather than everything before it. */
                if (offset > (uint64_t) s->size + 65536) {
                        ssize_t k;

                        free(s->far);
                        s->far = malloc(len ?: 1);
                        if (!s->far)
                                return -ENOMEM;
                        k = pread(s->fd, s->far, len, (off_t) offset);
                        if (k < 0)
                                return errno > 0 ? -errno : -EIO; /* never 0: callers then read *ret */
                        if ((size_t) k != len)
                                return -EBADMSG;
                        *ret = s->far;
                        return 0;
                }

                /* Grow in 4 KiB steps; everything we read lies in cluster 0 (<= 2 MiB). */
                want = (size_t) MIN((end + 4095) & ~(uint64_t) 4095, s->file_size);
                if (want > s->allocated) {
                        p = realloc(s->owned, want);
                        if (!p)
                                return -ENOMEM;
                        /* The first bytes may be a caller's buffer: copy them over once. */
                        if (!s->owned && s->size > 0)
                                memcpy(p, s->data, s->size);
                        s->owned = p;
                        s->allocated = want;
                        s->data = p;
                }
                while (s->size < want) {
                        n = pread(s->fd, s->owned + s->size, want - s->size, (off_t) s->size);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                return errno > 0 ? -errno : -EIO;
                        }
                        if (n == 0) /* the file shrank under us */
                                return -EBADMSG;
                        s->size += (size_t) n;
                }
        }

        *ret = s->data + offset;
        return 0;
}

static uint32_t get_be32(const uint8_t *p) {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return be32toh(v);
}

static uint64_t get_be64(const uint8_t *p) {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return be64toh(v);
}

/* Copies a name of len bytes, cutting it at an embedded NUL as QEMU's C strings do. */
static int copy_name(const uint8_t *p, size_t len, char **ret, bool *ret_has_nul) {
        const uint8_t *nul = memchr(p, 0, len);
        char *s;

        *ret_has_nul = !!nul;
        if (nul)
                len = (size_t) (nul - p);
        s = strndup((const char *) p, len);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int read_backing_name(Source *src, uint64_t offset, uint32_t size, uint64_t cluster_size,
                             QcowHeader *h, char **ret_reason) {
        const uint8_t *p;
        int r;

        if (offset == 0 || size == 0) /* QEMU: no backing file */
                return 0;

        if (size > QCOW_BACKING_NAME_MAX)
                return fail(ret_reason, -EBADMSG, "backing_file_size %u exceeds the limit of %u bytes", size,
                            QCOW_BACKING_NAME_MAX);
        if (offset > cluster_size || size > cluster_size - offset)
                return fail(ret_reason, -EBADMSG,
                            "backing file name (offset %" PRIu64 ", %u bytes) lies outside cluster 0 (%" PRIu64
                            " bytes)",
                            offset, size, cluster_size);

        r = source_get(src, offset, size, &p);
        if (r == -EBADMSG)
                return fail(ret_reason, r,
                            "backing file name (offset %" PRIu64 ", %u bytes) lies past the end of the file (%" PRIu64
                            " bytes)",
                            offset, size, src->file_size);
        if (r < 0)
                return fail(ret_reason, r, "cannot read backing file name: %s", strerror(-r));

        r = copy_name(p, size, &h->backing_file, &h->backing_file_has_nul);
        if (r < 0)
                return fail(ret_reason, r, "out of memory");
        if (h->backing_file[0] == 0) {
                /* A name that starts with NUL is an empty name: QEMU treats it as no backing file. */
                h->backing_file = mfree(h->backing_file);
        }
        return 0;
}

static const char *extension_name(uint32_t magic) {
        switch (magic) {
        case QCOW2_EXT_BACKING_FORMAT:
                return "backing format";
        case QCOW2_EXT_FEATURE_TABLE:
                return "feature name table";
        case QCOW2_EXT_CRYPTO:
                return "full disk encryption header";
        case QCOW2_EXT_BITMAPS:
                return "bitmaps";
        case QCOW2_EXT_DATA_FILE:
                return "external data file name";
        default:
                return "unknown";
        }
}

/*
 * Walks the header extensions between the end of the header and either the
 * backing file name or the end of cluster 0, as qcow2_read_extensions() does.
 */
static int read_extensions(Source *src, uint64_t start, uint64_t end, QcowHeader *h, char **ret_reason) {
        uint32_t seen[QCOW_MAX_EXTENSIONS];
        size_t n_seen = 0;
        uint64_t offset = start;
        int r;

        while (offset < end) {
                const uint8_t *p;
                uint32_t magic, len;

                if (end - offset < 8)
                        return fail(ret_reason, -EBADMSG,
                                    "header extension at offset %" PRIu64 " is cut off by the end of the header area",
                                    offset);
                r = source_get(src, offset, 8, &p);
                if (r == -EBADMSG)
                        return fail(ret_reason, r, "header extension at offset %" PRIu64 " lies past the end of the file",
                                    offset);
                if (r < 0)
                        return fail(ret_reason, r, "cannot read header extension: %s", strerror(-r));

                magic = get_be32(p);
                len = get_be32(p + 4);
                offset += 8;

                if (magic == QCOW2_EXT_END)
                        return 0;

                if (len > end - offset)
                        return fail(ret_reason, -EBADMSG,
                                    "header extension 0x%08x (%s) of %u bytes at offset %" PRIu64
                                    " overruns the header area ending at %" PRIu64,
                                    magic, extension_name(magic), len, offset - 8, end);

                for (size_t i = 0; i < n_seen; i++)
                        if (seen[i] == magic)
                                return fail(ret_reason, -EBADMSG, "duplicate header extension 0x%08x (%s)", magic,
                                            extension_name(magic));
                if (n_seen >= QCOW_MAX_EXTENSIONS)
                        return fail(ret_reason, -EBADMSG, "more than %u header extensions", QCOW_MAX_EXTENSIONS);
                seen[n_seen++] = magic;

                if (magic == QCOW2_EXT_BACKING_FORMAT || magic == QCOW2_EXT_DATA_FILE) {
                        bool has_nul = false;

                        if (magic == QCOW2_EXT_BACKING_FORMAT && len > QCOW_BACKING_FORMAT_MAX)
                                return fail(ret_reason, -EBADMSG,
                                            "backing format extension of %u bytes is too long (at most %u)", len,
                                            QCOW_BACKING_FORMAT_MAX);
                        r = source_get(src, offset, len, &p);
                        if (r == -EBADMSG)
                                return fail(ret_reason, r, "header extension 0x%08x lies past the end of the file",
                                            magic);
                        if (r < 0)
                                return fail(ret_reason, r, "cannot read header extension: %s", strerror(-r));

                        if (magic == QCOW2_EXT_BACKING_FORMAT)
                                r = copy_name(p, len, &h->backing_format, &has_nul);
                        else
                                r = copy_name(p, len, &h->data_file, &h->data_file_has_nul);
                        if (r < 0)
                                return fail(ret_reason, r, "out of memory");

                        /*
                         * qcow2_read_extensions() copies the extension into bs->backing_format as a string,
                         * and bdrv_open_backing_file() passes it as the driver only when it is not empty:
                         * an empty backing format (length 0, or starting with NUL) means "probe", exactly as
                         * if the extension were absent.
                         */
                        if (magic == QCOW2_EXT_BACKING_FORMAT && h->backing_format && h->backing_format[0] == 0)
                                h->backing_format = mfree(h->backing_format);
                }

                /* Extension data is padded to a multiple of 8 bytes. */
                offset += ((uint64_t) len + 7) & ~(uint64_t) 7;
        }

        return 0;
}

/* qcow (version 1), QEMU block/qcow.c: a 48-byte header. */
static int parse_v1(Source *src, QcowHeader *h, char **ret_reason) {
        uint64_t backing_offset, size;
        uint32_t backing_size;
        const uint8_t *p;
        uint8_t cluster_bits, l2_bits;
        int r;

        r = source_get(src, 0, 48, &p);
        if (r == -EBADMSG)
                return fail(ret_reason, r, "truncated qcow header: file has %" PRIu64 " bytes, the header needs 48",
                            src->file_size);
        if (r < 0)
                return fail(ret_reason, r, "cannot read header: %s", strerror(-r));

        backing_offset = get_be64(p + 8);
        backing_size = get_be32(p + 16);
        size = get_be64(p + 24);
        cluster_bits = p[32];
        l2_bits = p[33];
        h->crypt_method = get_be32(p + 36);
        h->header_length = 48;

        if (cluster_bits < 9 || cluster_bits > 16)
                return fail(ret_reason, -EBADMSG, "invalid qcow cluster_bits %u (must be 9..16)", cluster_bits);
        if (l2_bits < 6 || l2_bits > 13)
                return fail(ret_reason, -EBADMSG, "invalid qcow l2_bits %u (must be 6..13)", l2_bits);
        if (h->crypt_method > 1)
                return fail(ret_reason, -EOPNOTSUPP, "unsupported qcow encryption method %u", h->crypt_method);
        if (size <= 1 || size > INT64_MAX / 2)
                return fail(ret_reason, -EBADMSG, "invalid virtual size %" PRIu64, size);

        h->cluster_bits = cluster_bits;
        h->virtual_size = size;

        if (backing_offset != 0 && backing_size != 0) {
                if (backing_size > QCOW_BACKING_NAME_MAX)
                        return fail(ret_reason, -EBADMSG, "backing_file_size %u exceeds the limit of %u bytes",
                                    backing_size, QCOW_BACKING_NAME_MAX);
                r = source_get(src, backing_offset, backing_size, &p);
                if (r == -EBADMSG)
                        return fail(ret_reason, r,
                                    "backing file name (offset %" PRIu64 ", %u bytes) lies past the end of the file "
                                    "(%" PRIu64 " bytes)",
                                    backing_offset, backing_size, src->file_size);
                if (r < 0)
                        return fail(ret_reason, r, "cannot read backing file name: %s", strerror(-r));
                r = copy_name(p, backing_size, &h->backing_file, &h->backing_file_has_nul);
                if (r < 0)
                        return fail(ret_reason, r, "out of memory");
                if (h->backing_file[0] == 0)
                        h->backing_file = mfree(h->backing_file);
        }
        return 0;
}

static int validate_table_offset(uint64_t offset, uint64_t entries, uint64_t entry_size, uint64_t cluster_size,
                                 const char *what, char **ret_reason) {
        uint64_t bytes, end;

        if (entries == 0)
                return 0;
        if (offset & (cluster_size - 1))
                return fail(ret_reason, -EBADMSG, "invalid %s offset %" PRIu64 " (not cluster aligned)", what, offset);
        if (__builtin_mul_overflow(entries, entry_size, &bytes) || __builtin_add_overflow(offset, bytes, &end) ||
            end > INT64_MAX)
                return fail(ret_reason, -EBADMSG, "invalid %s offset %" PRIu64 " (table ends past 2^63)", what,
                            offset);
        return 0;
}

/* qcow2 versions 2 and 3, following qcow2_do_open(). */
static int parse_v2_v3(Source *src, uint32_t version, QcowHeader *h, char **ret_reason) {
        uint64_t backing_offset, cluster_size, l1_offset, refcount_offset, snapshots_offset, ext_end;
        uint32_t backing_size, l1_size, refcount_clusters, nb_snapshots;
        size_t need = version == 2 ? 72 : 104;
        const uint8_t *p;
        int r;

        r = source_get(src, 0, need, &p);
        if (r == -EBADMSG)
                return fail(ret_reason, r,
                            "truncated qcow2 header: file has %" PRIu64 " bytes, a version %u header needs %zu",
                            src->file_size, version, need);
        if (r < 0)
                return fail(ret_reason, r, "cannot read header: %s", strerror(-r));

        backing_offset = get_be64(p + 8);
        backing_size = get_be32(p + 16);
        h->cluster_bits = get_be32(p + 20);
        h->virtual_size = get_be64(p + 24);
        h->crypt_method = get_be32(p + 32);
        l1_size = get_be32(p + 36);
        l1_offset = get_be64(p + 40);
        refcount_offset = get_be64(p + 48);
        refcount_clusters = get_be32(p + 56);
        nb_snapshots = get_be32(p + 60);
        snapshots_offset = get_be64(p + 64);

        /* Checked before any shift by it. */
        if (h->cluster_bits < QCOW_MIN_CLUSTER_BITS || h->cluster_bits > QCOW_MAX_CLUSTER_BITS)
                return fail(ret_reason, -EBADMSG, "unsupported cluster_bits %u (must be %u..%u)", h->cluster_bits,
                            QCOW_MIN_CLUSTER_BITS, QCOW_MAX_CLUSTER_BITS);
        cluster_size = UINT64_C(1) << h->cluster_bits;

        if (version == 2) {
                h->header_length = 72;
                h->refcount_order = 4;
        } else {
                h->incompatible_features = get_be64(p + 72);
                h->compatible_features = get_be64(p + 80);
                h->autoclear_features = get_be64(p + 88);
                h->refcount_order = get_be32(p + 96);
                h->header_length = get_be32(p + 100);

                if (h->header_length < 104)
                        return fail(ret_reason, -EBADMSG, "header_length %u is shorter than 104 bytes",
                                    h->header_length);
                if (h->header_length % 8 != 0)
                        return fail(ret_reason, -EBADMSG, "header_length %u is not a multiple of 8",
                                    h->header_length);
                if (h->header_length > cluster_size)
                        return fail(ret_reason, -EBADMSG, "header_length %u exceeds the cluster size %" PRIu64,
                                    h->header_length, cluster_size);
                if (h->header_length > src->file_size)
                        return fail(ret_reason, -EBADMSG,
                                    "truncated qcow2 header: header_length %u but the file has %" PRIu64 " bytes",
                                    h->header_length, src->file_size);

                if (h->header_length > 104) {
                        r = source_get(src, 104, 1, &p);
                        if (r < 0)
                                return fail(ret_reason, r, "cannot read compression type: %s", strerror(-r));
                        h->compression_type = p[0];
                }
        }

        if (h->incompatible_features & ~(uint64_t) QCOW2_INCOMPAT_KNOWN)
                return fail(ret_reason, -EOPNOTSUPP, "unknown incompatible feature bits 0x%" PRIx64,
                            h->incompatible_features & ~(uint64_t) QCOW2_INCOMPAT_KNOWN);

        if (h->refcount_order > 6)
                return fail(ret_reason, -EBADMSG, "refcount_order %u is larger than 6", h->refcount_order);

        if (h->compression_type > 1)
                return fail(ret_reason, -EOPNOTSUPP, "unknown compression type %u", h->compression_type);
        if (h->compression_type != 0 && !(h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION))
                return fail(ret_reason, -EBADMSG,
                            "compression type %u without the compression type incompatible feature bit",
                            h->compression_type);
        if (h->compression_type == 0 && (h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION))
                return fail(ret_reason, -EBADMSG,
                            "compression type incompatible feature bit set for the default (zlib) compression");

        if ((h->incompatible_features & QCOW2_INCOMPAT_EXTL2) && h->cluster_bits < 14)
                return fail(ret_reason, -EBADMSG, "extended L2 entries need clusters of at least 16 KiB, not %" PRIu64,
                            cluster_size);

        if (h->crypt_method > 2)
                return fail(ret_reason, -EOPNOTSUPP, "unknown encryption method %u", h->crypt_method);

        if (h->virtual_size > INT64_MAX / 2)
                return fail(ret_reason, -EBADMSG, "invalid virtual size %" PRIu64, h->virtual_size);

        /* QCOW_MAX_L1_SIZE is 32 MiB, i.e. 4 Mi entries of 8 bytes. */
        if (l1_size > (32U << 20) / 8)
                return fail(ret_reason, -EBADMSG, "active L1 table of %u entries is too large", l1_size);
        {
                /* The L1 table must cover the virtual size (QEMU: "L1 table is too small"). */
                uint64_t l2_entries = cluster_size / ((h->incompatible_features & QCOW2_INCOMPAT_EXTL2) ? 16 : 8);
                uint64_t per_l1 = cluster_size * l2_entries;
                uint64_t l1_need = h->virtual_size / per_l1 + (h->virtual_size % per_l1 != 0);

                if (l1_need > l1_size)
                        return fail(ret_reason, -EBADMSG, "L1 table of %u entries is too small for %" PRIu64 " bytes",
                                    l1_size, h->virtual_size);
        }
        if (refcount_clusters == 0)
                return fail(ret_reason, -EBADMSG, "image has no reference count table");
        /* QCOW_MAX_REFTABLE_SIZE is 8 MiB. */
        if ((uint64_t) refcount_clusters > (UINT64_C(8) << 20) / cluster_size)
                return fail(ret_reason, -EBADMSG, "reference count table of %u clusters is too large",
                            refcount_clusters);
        /* QCOW_MAX_SNAPSHOTS */
        if (nb_snapshots > 65536)
                return fail(ret_reason, -EBADMSG, "%u snapshots are too many", nb_snapshots);
        r = validate_table_offset(l1_offset, l1_size, 8, cluster_size, "L1 table", ret_reason);
        if (r < 0)
                return r;
        r = validate_table_offset(refcount_offset, refcount_clusters, cluster_size, cluster_size,
                                  "reference count table", ret_reason);
        if (r < 0)
                return r;
        r = validate_table_offset(snapshots_offset, nb_snapshots, 1, cluster_size, "snapshot table", ret_reason);
        if (r < 0)
                return r;

        if (backing_offset != 0 && backing_offset > cluster_size)
                return fail(ret_reason, -EBADMSG, "backing_file_offset %" PRIu64 " lies outside cluster 0 (%" PRIu64
                            " bytes)", backing_offset, cluster_size);

        /* Extensions run from the end of the header to the backing name, or to the end of cluster 0. */
        ext_end = backing_offset != 0 ? backing_offset : cluster_size;
        if (ext_end > h->header_length) {
                r = read_extensions(src, h->header_length, ext_end, h, ret_reason);
                if (r < 0)
                        return r;
        }

        if ((h->incompatible_features & QCOW2_INCOMPAT_DATA_FILE) && !h->data_file)
                return fail(ret_reason, -EBADMSG,
                            "external data file feature bit set but the image names no data file");

        return read_backing_name(src, backing_offset, backing_size, cluster_size, h, ret_reason);
}

static int parse(Source *src, QcowHeader *ret, char **ret_reason) {
        QcowHeader h = {};
        const uint8_t *p;
        uint32_t version;
        int r;

        r = source_get(src, 0, 8, &p);
        if (r == -EBADMSG)
                return fail(ret_reason, -EMEDIUMTYPE, "file of %" PRIu64 " bytes is too short to be a qcow image",
                            src->file_size);
        if (r < 0)
                return fail(ret_reason, r, "cannot read header: %s", strerror(-r));
        if (get_be32(p) != QCOW_MAGIC)
                return fail(ret_reason, -EMEDIUMTYPE, "no qcow magic");

        version = get_be32(p + 4);
        if (version == 1)
                r = parse_v1(src, &h, ret_reason);
        else if (version == 2 || version == 3)
                r = parse_v2_v3(src, version, &h, ret_reason);
        else
                r = fail(ret_reason, -EOPNOTSUPP, "unsupported qcow version %u", version);
        if (r < 0) {
                qcow_header_done(&h);
                return r;
        }

        h.version = version;
        *ret = h;
        return 0;
}

int qcow_header_parse(const void *buf, size_t size, uint64_t file_size, QcowHeader *ret, char **ret_reason) {
        Source src = {
                .data = buf,
                .size = size,
                .file_size = MAX(file_size, (uint64_t) size),
                .fd = -1,
        };

        return parse(&src, ret, ret_reason);
}

int qcow_header_read(int fd, uint64_t file_size, const void *prefix, size_t prefix_size, QcowHeader *ret,
                     char **ret_reason) {
        Source src = {
                .data = prefix,
                .size = prefix ? MIN(prefix_size, file_size) : 0,
                .file_size = file_size,
                .fd = fd,
        };
        int r;

        r = parse(&src, ret, ret_reason);
        free(src.owned);
        free(src.far);
        return r;
}

/* libqcow: 1 success, 0 "not set"/no value, -1 error with *error filled. */
static int libqcow_fail(libqcow_error_t **error, char **ret_reason, const char *what) {
        char buf[512] = "";

        if (*error) {
                (void) libqcow_error_sprint(*error, buf, sizeof(buf));
                libqcow_error_free(error);
        }
        /* libqcow's text ends with a period and may span lines; keep the first line. */
        buf[strcspn(buf, "\n")] = 0;
        return fail(ret_reason, -EBADMSG, "libqcow: %s: %s", what, buf[0] ? buf : "unknown error");
}

int qcow_libqcow_read(int fd, const char *path, QcowHeader *ret, char **ret_reason) {
        libqcow_error_t *error = NULL;
        libqcow_file_t *file = NULL;
        _cleanup_free_ char *proc = NULL;
        QcowHeader h = {};
        uint32_t version = 0;
        size64_t size = 0;
        size_t name_size = 0;
        int r;

        if (fd >= 0 && asprintf(&proc, "/proc/self/fd/%i", fd) < 0)
                return fail(ret_reason, -ENOMEM, "out of memory");
        if (proc && access(proc, F_OK) < 0)
                proc = mfree(proc);

        if (libqcow_file_initialize(&file, &error) != 1)
                return libqcow_fail(&error, ret_reason, "cannot initialize");

        if (libqcow_file_open(file, proc ?: path, LIBQCOW_OPEN_READ, &error) != 1) {
                r = libqcow_fail(&error, ret_reason, "refused to open the image");
                goto finish;
        }

        if (libqcow_file_get_format_version(file, &version, &error) != 1) {
                r = libqcow_fail(&error, ret_reason, "cannot read the format version");
                goto close;
        }
        if (libqcow_file_get_media_size(file, &size, &error) != 1) {
                r = libqcow_fail(&error, ret_reason, "cannot read the virtual size");
                goto close;
        }

        r = libqcow_file_get_utf8_backing_filename_size(file, &name_size, &error);
        if (r < 0) {
                r = libqcow_fail(&error, ret_reason, "cannot read the backing file name");
                goto close;
        }
        if (r == 1 && name_size > 1) {
                uint8_t *name;

                /* name_size includes the terminating NUL; the name is at most 1023 bytes, in UTF-8 up to 3x. */
                if (name_size > QCOW_BACKING_NAME_MAX * 4) {
                        r = fail(ret_reason, -EBADMSG, "libqcow: backing file name of %zu bytes is too long",
                                 name_size);
                        goto close;
                }
                name = calloc(1, name_size + 1);
                if (!name) {
                        r = fail(ret_reason, -ENOMEM, "out of memory");
                        goto close;
                }
                if (libqcow_file_get_utf8_backing_filename(file, name, name_size, &error) != 1) {
                        free(name);
                        r = libqcow_fail(&error, ret_reason, "cannot read the backing file name");
                        goto close;
                }
                h.backing_file_has_nul = strlen((char *) name) + 1 < name_size;
                h.backing_file = (char *) name;
                if (h.backing_file[0] == 0)
                        h.backing_file = mfree(h.backing_file);
        }

        h.version = version;
        h.virtual_size = size;
        *ret = h;
        h = (QcowHeader) {};
        r = 0;

close:
        (void) libqcow_file_close(file, NULL);
finish:
        (void) libqcow_file_free(&file, NULL);
        qcow_header_done(&h);
        return r;
}
