/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * qcow/qcow2 header readers.
 *
 * qcow_header_read() is the strict built-in reader: it validates the header
 * the way QEMU's qcow2_do_open()/qcow_open() do before trusting any field
 * (https://gitlab.com/qemu-project/qemu/-/blob/master/docs/interop/qcow2.txt),
 * with every offset and length bounds- and overflow-checked against cluster 0
 * and the file size. It reads only what it needs (a few KiB in practice) and
 * never more than cluster 0 (at most 2 MiB).
 *
 * qcow_libqcow_read() reads the same facts through libqcow; it is the only
 * place that includes <libqcow.h>.
 *
 * Both return 0 or a negative errno: -EBADMSG for a corrupt or truncated
 * header, -EOPNOTSUPP for an unknown version or feature, -EMEDIUMTYPE when the
 * data is not qcow at all, -ENOMEM. On failure *ret_reason (if non-NULL)
 * receives a malloc'ed one-line explanation; on success the header is filled
 * and must be released with qcow_header_done().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define QCOW_MAGIC UINT32_C(0x514649fb) /* "QFI\xfb" */
#define QCOW_BACKING_NAME_MAX 1023U      /* QEMU refuses longer backing names */
#define QCOW_BACKING_FORMAT_MAX 15U      /* QEMU's backing_format[16] */
#define QCOW_MIN_CLUSTER_BITS 9U
#define QCOW_MAX_CLUSTER_BITS 21U
#define QCOW_MAX_EXTENSIONS 1024U

/* Incompatible feature bits (qcow2 v3), qcow2.txt "incompatible_features". */
enum {
        QCOW2_INCOMPAT_DIRTY = 1ULL << 0,
        QCOW2_INCOMPAT_CORRUPT = 1ULL << 1,
        QCOW2_INCOMPAT_DATA_FILE = 1ULL << 2,
        QCOW2_INCOMPAT_COMPRESSION = 1ULL << 3,
        QCOW2_INCOMPAT_EXTL2 = 1ULL << 4,
        QCOW2_INCOMPAT_KNOWN = (1ULL << 5) - 1,
};

enum {
        QCOW2_COMPAT_LAZY_REFCOUNTS = 1ULL << 0,
        QCOW2_AUTOCLEAR_DATA_FILE_RAW = 1ULL << 1,
};

/* Header extension types, qcow2.txt "Header extensions". */
enum {
        QCOW2_EXT_END = 0x00000000,
        QCOW2_EXT_BACKING_FORMAT = 0xe2792aca,
        QCOW2_EXT_FEATURE_TABLE = 0x6803f857,
        QCOW2_EXT_CRYPTO = 0x0537be77,
        QCOW2_EXT_BITMAPS = 0x23852875,
        QCOW2_EXT_DATA_FILE = 0x44415441,
};

typedef enum QcowReader {
        QCOW_READER_AUTO,    /* libqcow, the built-in reader where libqcow refuses a valid image */
        QCOW_READER_LIBQCOW, /* libqcow only */
        QCOW_READER_BUILTIN, /* the built-in strict reader only */
        _QCOW_READER_MAX,
        _QCOW_READER_INVALID = -22,
} QcowReader;

const char *qcow_reader_to_string(QcowReader r);
QcowReader qcow_reader_from_string(const char *s);

typedef struct QcowHeader {
        uint32_t version; /* 1 (qcow), 2 or 3 (qcow2) */
        uint32_t cluster_bits;
        uint32_t header_length;
        uint64_t virtual_size;
        uint32_t crypt_method;
        uint64_t incompatible_features;
        uint64_t compatible_features;
        uint64_t autoclear_features;
        uint32_t refcount_order;
        uint8_t compression_type; /* 0 zlib, 1 zstd */

        char *backing_file;        /* NULL when the image has no backing file */
        bool backing_file_has_nul; /* the stored name had an embedded NUL and was cut there, as QEMU does */
        char *backing_format;      /* from the backing format extension, or NULL */
        char *data_file;           /* external data file name (extension 0x44415441), or NULL */
        bool data_file_has_nul;
} QcowHeader;

void qcow_header_done(QcowHeader *h);

static inline const char *qcow_format_name(const QcowHeader *h) {
        return h->version == 1 ? "qcow" : "qcow2";
}

/* True if the first bytes carry the qcow magic; size is the number of bytes available. */
bool qcow_has_magic(const void *buf, size_t size);

/* Parses a header from memory; file_size is the size of the whole file (>= size). */
int qcow_header_parse(const void *buf, size_t size, uint64_t file_size, QcowHeader *ret, char **ret_reason);

/*
 * Reads and parses the header of an open regular file, reading only what it
 * needs. prefix/prefix_size, if given, are the file's first bytes already read.
 */
int qcow_header_read(int fd, uint64_t file_size, const void *prefix, size_t prefix_size, QcowHeader *ret,
                     char **ret_reason);

/*
 * Reads version, virtual size and backing file name through libqcow. fd is an
 * open descriptor of the image (libqcow reopens it through /proc/self/fd so the
 * same inode is read); path is used only when /proc is unavailable. Only
 * version, virtual_size and backing_file (and backing_file_has_nul) are set.
 */
int qcow_libqcow_read(int fd, const char *path, QcowHeader *ret, char **ret_reason);
