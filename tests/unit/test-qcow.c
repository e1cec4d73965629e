/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <check.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "qcow.h"

/*
 * Header field offsets, qcow2.txt "Header" (version 2 up to byte 71,
 * version 3 up to byte 103, then the optional compression type at 104).
 */
#define OFF_MAGIC 0
#define OFF_VERSION 4
#define OFF_BACKING_OFFSET 8
#define OFF_BACKING_SIZE 16
#define OFF_CLUSTER_BITS 20
#define OFF_SIZE 24
#define OFF_CRYPT 32
#define OFF_L1_SIZE 36
#define OFF_L1_OFFSET 40
#define OFF_REFCOUNT_OFFSET 48
#define OFF_REFCOUNT_CLUSTERS 56
#define OFF_NB_SNAPSHOTS 60
#define OFF_SNAPSHOTS_OFFSET 64
#define OFF_INCOMPAT 72
#define OFF_COMPAT 80
#define OFF_AUTOCLEAR 88
#define OFF_REFCOUNT_ORDER 96
#define OFF_HEADER_LENGTH 100
#define OFF_COMPRESSION 104

/* qcow version 1 (QEMU block/qcow.c QCowHeader): 48 bytes. */
#define V1_OFF_MTIME 20
#define V1_OFF_SIZE 24
#define V1_OFF_CLUSTER_BITS 32
#define V1_OFF_L2_BITS 33
#define V1_OFF_CRYPT 36
#define V1_OFF_L1_OFFSET 40
#define V1_HEADER_SIZE 48

#define GIB (UINT64_C(1) << 30)
#define MIB (UINT64_C(1) << 20)
#define VIRTUAL_SIZE GIB
#define DEFAULT_FILE_SIZE 4096U

#define INCOMPAT_BIT(n) (UINT64_C(1) << (n))

#define EXT_MAGIC_UNKNOWN UINT32_C(0x12345678)

/* Raw field writes applied after the header is laid out, to corrupt anything. */
typedef struct Patch {
        uint32_t offset;
        unsigned width; /* 1, 4 or 8 bytes; 0 ends the list */
        uint64_t value;
} Patch;

#define P8(o, v) { .offset = (o), .width = 1, .value = (v) }
#define P32(o, v) { .offset = (o), .width = 4, .value = (v) }
#define P64(o, v) { .offset = (o), .width = 8, .value = (v) }

typedef struct Extension {
        uint32_t magic; /* 0 ends the list */
        uint32_t len;   /* the stored length */
        const char *data;
        size_t data_len; /* bytes of data written; the area is advanced by len padded to 8 */
} Extension;

#define EXT_STR(m, s) { .magic = (m), .len = sizeof(s) - 1, .data = (s), .data_len = sizeof(s) - 1 }
#define EXT_LEN(m, l) { .magic = (m), .len = (l) }

#define BACKING(s) .backing = (s), .backing_len = sizeof(s) - 1

typedef struct ImageSpec {
        uint32_t version;
        uint32_t cluster_bits;  /* 0: 16 for qcow2, 12 for qcow */
        uint32_t header_length; /* versions other than 1 and 2; 0: 104 */
        uint64_t incompatible;
        uint8_t compression_type; /* written at byte 104 when header_length > 104 */
        Extension ext[4];
        const char *backing; /* backing_len bytes, may hold NUL */
        size_t backing_len;
        uint64_t backing_offset; /* 0: after the end-of-extensions marker (qcow2) or the header (qcow) */
        size_t file_size;        /* 0: DEFAULT_FILE_SIZE */
        Patch patch[4];
} ImageSpec;

typedef struct Image {
        uint8_t *data;
        size_t size; /* the file size */
        size_t allocated;
} Image;

static void image_put(Image *img, uint64_t offset, unsigned width, uint64_t value) {
        ck_assert_msg(offset <= img->allocated && width <= img->allocated - offset,
                      "builder write of %u bytes at %" PRIu64 " outside %zu bytes", width, offset,
                      img->allocated);
        switch (width) {
        case 1:
                img->data[offset] = (uint8_t) value;
                break;
        case 4: {
                uint32_t v = htobe32((uint32_t) value);
                memcpy(img->data + offset, &v, sizeof(v));
                break;
        }
        case 8: {
                uint64_t v = htobe64(value);
                memcpy(img->data + offset, &v, sizeof(v));
                break;
        }
        default:
                ck_abort_msg("bad field width %u", width);
        }
}

static void image_put_bytes(Image *img, uint64_t offset, const void *p, size_t len) {
        ck_assert_msg(offset <= img->allocated && len <= img->allocated - offset,
                      "builder write of %zu bytes at %" PRIu64 " outside %zu bytes", len, offset,
                      img->allocated);
        memcpy(img->data + offset, p, len);
}

static uint64_t pad8(uint64_t n) {
        return (n + 7) & ~(uint64_t) 7;
}

static void image_layout_v1(const ImageSpec *s, Image *img) {
        image_put(img, OFF_MAGIC, 4, QCOW_MAGIC);
        image_put(img, OFF_VERSION, 4, 1);
        image_put(img, V1_OFF_MTIME, 4, 0);
        image_put(img, V1_OFF_SIZE, 8, VIRTUAL_SIZE);
        image_put(img, V1_OFF_CLUSTER_BITS, 1, s->cluster_bits ?: 12);
        image_put(img, V1_OFF_L2_BITS, 1, 9);
        image_put(img, V1_OFF_CRYPT, 4, 0);
        image_put(img, V1_OFF_L1_OFFSET, 8, 4096);

        if (s->backing) {
                uint64_t offset = s->backing_offset ?: V1_HEADER_SIZE;

                if (offset + s->backing_len <= img->allocated)
                        image_put_bytes(img, offset, s->backing, s->backing_len);
                image_put(img, OFF_BACKING_OFFSET, 8, offset);
                image_put(img, OFF_BACKING_SIZE, 4, s->backing_len);
        }
}

static void image_layout_v2(const ImageSpec *s, Image *img) {
        uint32_t cluster_bits = s->cluster_bits ?: 16;
        /* Table offsets for a sane cluster size even when cluster_bits itself is bogus. */
        uint64_t cluster_size = UINT64_C(1) << (cluster_bits >= 9 && cluster_bits <= 21 ? cluster_bits : 16);
        uint64_t l2_entries = cluster_size / ((s->incompatible & QCOW2_INCOMPAT_EXTL2) ? 16 : 8);
        uint64_t l1_coverage = cluster_size * l2_entries;
        uint64_t pos;

        image_put(img, OFF_MAGIC, 4, QCOW_MAGIC);
        image_put(img, OFF_VERSION, 4, s->version);
        image_put(img, OFF_CLUSTER_BITS, 4, cluster_bits);
        image_put(img, OFF_SIZE, 8, VIRTUAL_SIZE);
        image_put(img, OFF_CRYPT, 4, 0);
        /* An L1 table big enough for the virtual size and a one-cluster refcount table, as qemu-img
         * writes them. */
        image_put(img, OFF_L1_SIZE, 4, (VIRTUAL_SIZE + l1_coverage - 1) / l1_coverage);
        image_put(img, OFF_L1_OFFSET, 8, 3 * cluster_size);
        image_put(img, OFF_REFCOUNT_OFFSET, 8, cluster_size);
        image_put(img, OFF_REFCOUNT_CLUSTERS, 4, 1);
        image_put(img, OFF_NB_SNAPSHOTS, 4, 0);
        image_put(img, OFF_SNAPSHOTS_OFFSET, 8, 0);

        if (s->version == 2)
                pos = 72;
        else {
                uint32_t header_length = s->header_length ?: 104;

                image_put(img, OFF_INCOMPAT, 8, s->incompatible);
                image_put(img, OFF_COMPAT, 8, 0);
                image_put(img, OFF_AUTOCLEAR, 8, 0);
                image_put(img, OFF_REFCOUNT_ORDER, 4, 4);
                image_put(img, OFF_HEADER_LENGTH, 4, header_length);
                if (header_length > OFF_COMPRESSION)
                        image_put(img, OFF_COMPRESSION, 1, s->compression_type);
                pos = header_length;
        }

        /* Header extensions: {be32 magic, be32 length, data padded to 8}, ended by magic 0. */
        for (size_t i = 0; i < ELEMENTSOF(s->ext) && s->ext[i].magic != 0; i++) {
                const Extension *e = &s->ext[i];

                image_put(img, pos, 4, e->magic);
                image_put(img, pos + 4, 4, e->len);
                if (e->data)
                        image_put_bytes(img, pos + 8, e->data, e->data_len);
                pos += 8 + pad8(MAX((uint64_t) e->len, (uint64_t) e->data_len));
        }
        /* The end marker is 8 zero bytes, already there. */
        pos += 8;

        if (s->backing) {
                uint64_t offset = s->backing_offset ?: pos;

                if (offset + s->backing_len <= img->allocated)
                        image_put_bytes(img, offset, s->backing, s->backing_len);
                image_put(img, OFF_BACKING_OFFSET, 8, offset);
                image_put(img, OFF_BACKING_SIZE, 4, s->backing_len);
        }
}

static void image_build(const ImageSpec *s, Image *ret) {
        Image img = {
                .size = s->file_size ?: DEFAULT_FILE_SIZE,
        };

        img.allocated = MAX(img.size, (size_t) DEFAULT_FILE_SIZE);
        if (s->backing && s->backing_offset != 0 && s->backing_offset + s->backing_len <= 4 * MIB)
                img.allocated = MAX(img.allocated, (size_t) (s->backing_offset + s->backing_len));
        img.data = calloc(1, img.allocated);
        ck_assert_ptr_nonnull(img.data);

        if (s->version == 1)
                image_layout_v1(s, &img);
        else
                image_layout_v2(s, &img);

        for (size_t i = 0; i < ELEMENTSOF(s->patch) && s->patch[i].width != 0; i++)
                image_put(&img, s->patch[i].offset, s->patch[i].width, s->patch[i].value);

        *ret = img;
}

static void image_done(Image *img) {
        free(img->data);
        *img = (Image) {};
}

static int image_parse(const Image *img, QcowHeader *ret, char **ret_reason) {
        return qcow_header_parse(img->data, img->size, img->size, ret, ret_reason);
}

static bool streq_ptr(const char *a, const char *b) {
        return (!a && !b) || (a && b && streq(a, b));
}

typedef struct ValidCase {
        const char *name;
        ImageSpec image;
        uint32_t refcount_order; /* 0: 4 for qcow2 */
        const char *backing_file;
        bool backing_file_has_nul;
        const char *backing_format;
        const char *data_file;
} ValidCase;

static const ValidCase valid_cases[] = {
        {
                .name = "v2 without backing file",
                .image = { .version = 2 },
        },
        {
                .name = "v2 with backing file",
                .image = { .version = 2, BACKING("base.qcow2") },
                .backing_file = "base.qcow2",
        },
        {
                .name = "v3 without backing file",
                .image = { .version = 3 },
        },
        {
                .name = "v3 with backing format extension and backing file",
                .image = { .version = 3, .ext = { EXT_STR(QCOW2_EXT_BACKING_FORMAT, "qcow2") },
                           BACKING("base.qcow2") },
                .backing_file = "base.qcow2",
                .backing_format = "qcow2",
        },
        {
                .name = "v3 zstd compression",
                .image = { .version = 3, .header_length = 112, .compression_type = 1,
                           .incompatible = QCOW2_INCOMPAT_COMPRESSION },
        },
        {
                .name = "v3 header_length 112 with zlib",
                .image = { .version = 3, .header_length = 112 },
        },
        {
                .name = "v3 extended L2 entries with cluster_bits 16",
                .image = { .version = 3, .cluster_bits = 16, .incompatible = QCOW2_INCOMPAT_EXTL2 },
        },
        {
                .name = "v3 extended L2 entries with cluster_bits 14",
                .image = { .version = 3, .cluster_bits = 14, .incompatible = QCOW2_INCOMPAT_EXTL2 },
        },
        {
                .name = "v3 external data file",
                .image = { .version = 3, .incompatible = QCOW2_INCOMPAT_DATA_FILE,
                           .ext = { EXT_STR(QCOW2_EXT_DATA_FILE, "data.raw") } },
                .data_file = "data.raw",
        },
        {
                .name = "v3 data file, backing format and backing file",
                .image = { .version = 3, .incompatible = QCOW2_INCOMPAT_DATA_FILE,
                           .ext = { EXT_STR(QCOW2_EXT_BACKING_FORMAT, "raw"),
                                    EXT_STR(QCOW2_EXT_DATA_FILE, "/srv/data.raw") },
                           BACKING("../base.raw") },
                .backing_file = "../base.raw",
                .backing_format = "raw",
                .data_file = "/srv/data.raw",
        },
        {
                .name = "v3 dirty and corrupt bits",
                .image = { .version = 3, .incompatible = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT },
        },
        {
                .name = "v3 unknown and feature table extensions are skipped",
                .image = { .version = 3, .ext = { EXT_STR(EXT_MAGIC_UNKNOWN, "hello"),
                                                  EXT_LEN(QCOW2_EXT_FEATURE_TABLE, 48),
                                                  EXT_LEN(QCOW2_EXT_BITMAPS, 0),
                                                  EXT_STR(QCOW2_EXT_BACKING_FORMAT, "qcow2") },
                           BACKING("base.qcow2") },
                .backing_file = "base.qcow2",
                .backing_format = "qcow2",
        },
        {
                .name = "backing format extension of 15 bytes",
                .image = { .version = 3, .ext = { EXT_STR(QCOW2_EXT_BACKING_FORMAT, "abcdefghijklmno") } },
                .backing_format = "abcdefghijklmno",
        },
        /* An empty backing format is no format: QEMU probes the backing file, as without the extension. */
        {
                .name = "backing format extension of 0 bytes",
                .image = { .version = 3, .ext = { EXT_LEN(QCOW2_EXT_BACKING_FORMAT, 0) }, BACKING("base.qcow2") },
                .backing_file = "base.qcow2",
                .backing_format = NULL,
        },
        {
                .name = "backing format extension starting with NUL",
                .image = { .version = 3, .ext = { EXT_STR(QCOW2_EXT_BACKING_FORMAT, "\0raw") },
                           BACKING("base.qcow2") },
                .backing_file = "base.qcow2",
                .backing_format = NULL,
        },
        {
                .name = "embedded NUL in backing name",
                .image = { .version = 3, BACKING("abc\0def") },
                .backing_file = "abc",
                .backing_file_has_nul = true,
        },
        {
                .name = "backing name starting with NUL",
                .image = { .version = 2, BACKING("\0abc") },
                .backing_file = NULL,
                .backing_file_has_nul = true,
        },
        {
                .name = "backing offset 0 means no backing file",
                .image = { .version = 2, .patch = { P32(OFF_BACKING_SIZE, 10) } },
        },
        {
                .name = "backing size 0 means no backing file",
                .image = { .version = 2, .patch = { P64(OFF_BACKING_OFFSET, 200) } },
        },
        {
                .name = "backing name ending exactly at the end of cluster 0",
                .image = { .version = 3, .cluster_bits = 9, BACKING("0123456789"), .backing_offset = 502 },
                .backing_file = "0123456789",
        },
        {
                .name = "backing name ending exactly at the end of the file",
                .image = { .version = 2, BACKING("0123456789"), .backing_offset = DEFAULT_FILE_SIZE - 10 },
                .backing_file = "0123456789",
        },
        {
                .name = "cluster_bits 9",
                .image = { .version = 3, .cluster_bits = 9 },
        },
        {
                .name = "cluster_bits 21",
                .image = { .version = 2, .cluster_bits = 21 },
        },
        {
                .name = "refcount_order 6",
                .image = { .version = 3, .patch = { P32(OFF_REFCOUNT_ORDER, 6) } },
                .refcount_order = 6,
        },
        {
                .name = "header_length equal to the cluster size",
                .image = { .version = 3, .cluster_bits = 9, .header_length = 512, .file_size = 1024 },
        },
        {
                .name = "qcow v1 without backing file",
                .image = { .version = 1 },
        },
        {
                .name = "qcow v1 with backing file",
                .image = { .version = 1, BACKING("base.img") },
                .backing_file = "base.img",
        },
        {
                .name = "qcow v1 with cluster_bits 16 and a backing name far in the file",
                .image = { .version = 1, .cluster_bits = 16, BACKING("far.img"), .backing_offset = 100000,
                           .file_size = 100007 },
                .backing_file = "far.img",
        },
        {
                .name = "qcow v1 embedded NUL in backing name",
                .image = { .version = 1, BACKING("ab\0c") },
                .backing_file = "ab",
                .backing_file_has_nul = true,
        },
};

typedef struct InvalidCase {
        const char *name;
        ImageSpec image;
        int error;
        const char *reason; /* a word the reason must contain, or NULL */
} InvalidCase;

static const InvalidCase invalid_cases[] = {
        { "bad magic", { .version = 2, .patch = { P32(OFF_MAGIC, 0x514649fa) } }, -EMEDIUMTYPE, "magic" },
        { "zero magic", { .version = 3, .patch = { P32(OFF_MAGIC, 0) } }, -EMEDIUMTYPE, "magic" },
        { "file of 7 bytes", { .version = 2, .file_size = 7 }, -EMEDIUMTYPE, "short" },
        { "file of 1 byte", { .version = 2, .file_size = 1 }, -EMEDIUMTYPE, "short" },
        { "version 0", { .version = 0 }, -EOPNOTSUPP, "version" },
        { "version 4", { .version = 4 }, -EOPNOTSUPP, "version" },
        { "version 0xffffffff", { .version = UINT32_MAX }, -EOPNOTSUPP, "version" },
        { "cluster_bits 0",
          { .version = 3, .patch = { P32(OFF_CLUSTER_BITS, 0) } },
          -EBADMSG,
          "cluster_bits" },
        { "cluster_bits 8", { .version = 3, .cluster_bits = 8 }, -EBADMSG, "cluster_bits" },
        { "cluster_bits 22", { .version = 3, .cluster_bits = 22 }, -EBADMSG, "cluster_bits" },
        { "cluster_bits 22 in v2", { .version = 2, .cluster_bits = 22 }, -EBADMSG, "cluster_bits" },
        { "cluster_bits 64", { .version = 3, .cluster_bits = 64 }, -EBADMSG, "cluster_bits" },
        { "cluster_bits 255", { .version = 3, .cluster_bits = 255 }, -EBADMSG, "cluster_bits" },
        { "cluster_bits 0xffffffff",
          { .version = 2, .cluster_bits = UINT32_MAX },
          -EBADMSG,
          "cluster_bits" },
        { "header_length 0",
          { .version = 3, .patch = { P32(OFF_HEADER_LENGTH, 0) } },
          -EBADMSG,
          "header_length" },
        { "header_length 100", { .version = 3, .header_length = 100 }, -EBADMSG, "header_length" },
        { "header_length 108", { .version = 3, .header_length = 108 }, -EBADMSG, "multiple of 8" },
        { "header_length 0xfffffff8",
          { .version = 3, .patch = { P32(OFF_HEADER_LENGTH, 0xfffffff8) } },
          -EBADMSG,
          "cluster size" },
        { "header_length above the cluster size",
          { .version = 3, .cluster_bits = 9, .header_length = 520 },
          -EBADMSG,
          "cluster size" },
        { "header_length past the end of the file",
          { .version = 3, .header_length = 112, .file_size = 108 },
          -EBADMSG,
          "header_length" },
        { "truncated v2 header", { .version = 2, .file_size = 71 }, -EBADMSG, "truncated" },
        { "truncated v2 header of 8 bytes", { .version = 2, .file_size = 8 }, -EBADMSG, "truncated" },
        { "truncated v3 header", { .version = 3, .file_size = 103 }, -EBADMSG, "truncated" },
        { "truncated v3 header of 72 bytes", { .version = 3, .file_size = 72 }, -EBADMSG, "truncated" },
        { "backing_file_size 1024",
          { .version = 2, BACKING("base"), .patch = { P32(OFF_BACKING_SIZE, 1024) } },
          -EBADMSG,
          "backing_file_size" },
        { "backing_file_size 0xffffffff",
          { .version = 3, BACKING("base"), .patch = { P32(OFF_BACKING_SIZE, UINT32_MAX) } },
          -EBADMSG,
          "backing_file_size" },
        { "backing offset past cluster 0",
          { .version = 3, .patch = { P64(OFF_BACKING_OFFSET, 65537), P32(OFF_BACKING_SIZE, 4) } },
          -EBADMSG,
          "cluster 0" },
        { "backing offset at the end of cluster 0",
          { .version = 2, .patch = { P64(OFF_BACKING_OFFSET, 65536), P32(OFF_BACKING_SIZE, 1) } },
          -EBADMSG,
          "cluster 0" },
        { "backing name crossing the end of cluster 0",
          { .version = 3, .cluster_bits = 9, BACKING("12345678"), .backing_offset = 508 },
          -EBADMSG,
          "cluster 0" },
        { "backing name past the end of the file",
          { .version = 2, BACKING("base.qcow2"), .backing_offset = DEFAULT_FILE_SIZE - 6 },
          -EBADMSG,
          "end of the file" },
        { "backing name in a file cut after the header",
          { .version = 2, BACKING("base.qcow2"), .backing_offset = 80, .file_size = 84 },
          -EBADMSG,
          "end of the file" },
        { "backing offset 2^64 - 4",
          { .version = 3, .patch = { P64(OFF_BACKING_OFFSET, UINT64_MAX - 3), P32(OFF_BACKING_SIZE, 8) } },
          -EBADMSG,
          "cluster 0" },
        { "backing offset 2^64 - 1",
          { .version = 2, .patch = { P64(OFF_BACKING_OFFSET, UINT64_MAX), P32(OFF_BACKING_SIZE, 1) } },
          -EBADMSG,
          "cluster 0" },
        { "incompatible bit 5",
          { .version = 3, .incompatible = INCOMPAT_BIT(5) },
          -EOPNOTSUPP,
          "incompatible" },
        { "incompatible bit 63",
          { .version = 3, .incompatible = INCOMPAT_BIT(63) },
          -EOPNOTSUPP,
          "incompatible" },
        { "extension overrunning the header area",
          { .version = 3,
            .ext = { EXT_LEN(EXT_MAGIC_UNKNOWN, 1000) },
            BACKING("base"),
            .backing_offset = 200 },
          -EBADMSG,
          "overruns" },
        { "extension overrunning cluster 0",
          { .version = 3, .cluster_bits = 9, .ext = { EXT_LEN(EXT_MAGIC_UNKNOWN, 512) } },
          -EBADMSG,
          "overruns" },
        { "extension length 0xffffffff",
          { .version = 3, .patch = { P32(104, EXT_MAGIC_UNKNOWN), P32(108, UINT32_MAX) } },
          -EBADMSG,
          "overruns" },
        { "backing format extension overrunning the header area",
          { .version = 3,
            .ext = { EXT_STR(QCOW2_EXT_BACKING_FORMAT, "qcow2") },
            BACKING("base"),
            .backing_offset = 116 },
          -EBADMSG,
          "overruns" },
        { "duplicate extension",
          { .version = 3, .ext = { EXT_STR(EXT_MAGIC_UNKNOWN, "a"), EXT_STR(EXT_MAGIC_UNKNOWN, "b") } },
          -EBADMSG,
          "duplicate" },
        { "duplicate backing format extension",
          { .version = 3,
            .ext = { EXT_STR(QCOW2_EXT_BACKING_FORMAT, "qcow2"),
                     EXT_STR(QCOW2_EXT_BACKING_FORMAT, "raw") } },
          -EBADMSG,
          "duplicate" },
        { "backing format extension of 16 bytes",
          { .version = 3, .ext = { EXT_STR(QCOW2_EXT_BACKING_FORMAT, "0123456789abcdef") } },
          -EBADMSG,
          "backing format" },
        { "extension header cut off by the end of the file",
          { .version = 3, .file_size = 108 },
          -EBADMSG,
          "end of the file" },
        { "extension header cut off by the end of a v2 file",
          { .version = 2, .file_size = 72 },
          -EBADMSG,
          "end of the file" },
        { "extension header cut off by the backing name",
          { .version = 3, BACKING("base"), .backing_offset = 108 },
          -EBADMSG,
          "cut off" },
        { "backing format data past the end of the file",
          { .version = 3, .ext = { EXT_STR(QCOW2_EXT_BACKING_FORMAT, "qcow2xxxxx") }, .file_size = 116 },
          -EBADMSG,
          "end of the file" },
        { "compression type 2",
          { .version = 3,
            .header_length = 112,
            .compression_type = 2,
            .incompatible = QCOW2_INCOMPAT_COMPRESSION },
          -EOPNOTSUPP,
          "compression type" },
        { "compression type 255",
          { .version = 3,
            .header_length = 112,
            .compression_type = 255,
            .incompatible = QCOW2_INCOMPAT_COMPRESSION },
          -EOPNOTSUPP,
          "compression type" },
        { "zstd without the compression bit",
          { .version = 3, .header_length = 112, .compression_type = 1 },
          -EBADMSG,
          "compression" },
        { "compression bit with zlib",
          { .version = 3, .header_length = 112, .incompatible = QCOW2_INCOMPAT_COMPRESSION },
          -EBADMSG,
          "compression" },
        { "compression bit with a 104-byte header",
          { .version = 3, .incompatible = QCOW2_INCOMPAT_COMPRESSION },
          -EBADMSG,
          "compression" },
        { "extended L2 with cluster_bits 12",
          { .version = 3, .cluster_bits = 12, .incompatible = QCOW2_INCOMPAT_EXTL2 },
          -EBADMSG,
          "xtended L2" },
        { "extended L2 with cluster_bits 13",
          { .version = 3, .cluster_bits = 13, .incompatible = QCOW2_INCOMPAT_EXTL2 },
          -EBADMSG,
          "xtended L2" },
        { "data file bit without extension",
          { .version = 3, .incompatible = QCOW2_INCOMPAT_DATA_FILE },
          -EBADMSG,
          "data file" },
        { "refcount_order 7",
          { .version = 3, .patch = { P32(OFF_REFCOUNT_ORDER, 7) } },
          -EBADMSG,
          "refcount_order" },
        { "refcount_order 0xffffffff",
          { .version = 3, .patch = { P32(OFF_REFCOUNT_ORDER, UINT32_MAX) } },
          -EBADMSG,
          "refcount_order" },
        { "encryption method 3",
          { .version = 2, .patch = { P32(OFF_CRYPT, 3) } },
          -EOPNOTSUPP,
          "encryption" },
        { "virtual size 2^62",
          { .version = 3, .patch = { P64(OFF_SIZE, UINT64_C(1) << 62) } },
          -EBADMSG,
          "virtual size" },
        { "L1 table of 4 Mi + 1 entries",
          { .version = 3, .patch = { P32(OFF_L1_SIZE, (4U << 20) + 1) } },
          -EBADMSG,
          "L1" },
        { "unaligned L1 table",
          { .version = 3, .patch = { P64(OFF_L1_OFFSET, 3 * 65536 + 512) } },
          -EBADMSG,
          "L1 table" },
        { "L1 table past 2^63",
          { .version = 2,
            .patch = { P64(OFF_L1_OFFSET, UINT64_C(0x7fffffffffff0000)), P32(OFF_L1_SIZE, 8193) } },
          -EBADMSG,
          "L1 table" },
        { "unaligned reference count table",
          { .version = 3, .patch = { P64(OFF_REFCOUNT_OFFSET, 65536 + 8) } },
          -EBADMSG,
          "reference count table" },
        { "reference count table past 2^63",
          { .version = 3,
            .patch = { P64(OFF_REFCOUNT_OFFSET, UINT64_C(0x7fffffffffff0000)),
                       P32(OFF_REFCOUNT_CLUSTERS, 2) } },
          -EBADMSG,
          "reference count table" },
        { "unaligned snapshot table",
          { .version = 3, .patch = { P32(OFF_NB_SNAPSHOTS, 1), P64(OFF_SNAPSHOTS_OFFSET, 65536 + 4) } },
          -EBADMSG,
          "snapshot table" },
        { "snapshot table past 2^63",
          { .version = 3,
            .patch = { P32(OFF_NB_SNAPSHOTS, 65536),
                       P64(OFF_SNAPSHOTS_OFFSET, UINT64_C(0x7fffffffffff0000)) } },
          -EBADMSG,
          "snapshot table" },
        { "qcow v1 truncated header", { .version = 1, .file_size = 47 }, -EBADMSG, "truncated" },
        { "qcow v1 cluster_bits 0",
          { .version = 1, .patch = { P8(V1_OFF_CLUSTER_BITS, 0) } },
          -EBADMSG,
          "cluster_bits" },
        { "qcow v1 cluster_bits 8", { .version = 1, .cluster_bits = 8 }, -EBADMSG, "cluster_bits" },
        { "qcow v1 cluster_bits 17", { .version = 1, .cluster_bits = 17 }, -EBADMSG, "cluster_bits" },
        { "qcow v1 cluster_bits 255", { .version = 1, .cluster_bits = 255 }, -EBADMSG, "cluster_bits" },
        { "qcow v1 l2_bits 5", { .version = 1, .patch = { P8(V1_OFF_L2_BITS, 5) } }, -EBADMSG, "l2_bits" },
        { "qcow v1 l2_bits 255",
          { .version = 1, .patch = { P8(V1_OFF_L2_BITS, 255) } },
          -EBADMSG,
          "l2_bits" },
        { "qcow v1 encryption method 2",
          { .version = 1, .patch = { P32(V1_OFF_CRYPT, 2) } },
          -EOPNOTSUPP,
          "encryption" },
        { "qcow v1 virtual size 2^62",
          { .version = 1, .patch = { P64(V1_OFF_SIZE, UINT64_C(1) << 62) } },
          -EBADMSG,
          "virtual size" },
        { "qcow v1 backing_file_size 1024",
          { .version = 1, BACKING("base"), .patch = { P32(OFF_BACKING_SIZE, 1024) } },
          -EBADMSG,
          "backing_file_size" },
        { "qcow v1 backing name past the end of the file",
          { .version = 1, BACKING("base.img"), .backing_offset = DEFAULT_FILE_SIZE - 4 },
          -EBADMSG,
          "end of the file" },
        { "qcow v1 backing offset 2^64 - 1",
          { .version = 1, .patch = { P64(OFF_BACKING_OFFSET, UINT64_MAX), P32(OFF_BACKING_SIZE, 4) } },
          -EBADMSG,
          "end of the file" },
};

/*
 * Headers QEMU refuses to open (block/qcow.c qcow_open(), block/qcow2.c
 * qcow2_do_open() and qcow2_validate_table()), so a strict reader that
 * validates "the way QEMU does" must refuse them too.
 */
static const InvalidCase qemu_refuses_cases[] = {
        { "qcow v1 l2_bits 14 (QEMU: 6..13)",
          { .version = 1, .patch = { P8(V1_OFF_L2_BITS, 14) } },
          -EBADMSG,
          NULL },
        { "qcow v1 l2_bits 16 (QEMU: 6..13)",
          { .version = 1, .patch = { P8(V1_OFF_L2_BITS, 16) } },
          -EBADMSG,
          NULL },
        { "qcow v1 virtual size 0 (QEMU: at least 2)",
          { .version = 1, .patch = { P64(V1_OFF_SIZE, 0) } },
          -EBADMSG,
          NULL },
        { "qcow v1 virtual size 1 (QEMU: at least 2)",
          { .version = 1, .patch = { P64(V1_OFF_SIZE, 1) } },
          -EBADMSG,
          NULL },
        { "no reference count table",
          { .version = 3, .patch = { P32(OFF_REFCOUNT_CLUSTERS, 0) } },
          -EBADMSG,
          NULL },
        { "reference count table above 8 MiB",
          { .version = 3, .patch = { P32(OFF_REFCOUNT_CLUSTERS, (8U << 20) / 65536 + 1) } },
          -EBADMSG,
          NULL },
        { "65537 snapshots",
          { .version = 3, .patch = { P32(OFF_NB_SNAPSHOTS, 65537), P64(OFF_SNAPSHOTS_OFFSET, 4 * 65536) } },
          -EBADMSG,
          NULL },
        { "L1 table too small for the virtual size",
          { .version = 3, .patch = { P32(OFF_L1_SIZE, 1) } },
          -EBADMSG,
          NULL },
};

static char *tmpdir = NULL;

static void tmpdir_setup(void) {
        const char *base = getenv("TMPDIR");

        ck_assert_int_ge(asprintf(&tmpdir, "%s/test-qcow-XXXXXX", base && base[0] ? base : "/tmp"), 0);
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmpdir_teardown(void) {
        DIR *d;
        struct dirent *de;

        if (!tmpdir)
                return;
        d = opendir(tmpdir);
        if (d) {
                while ((de = readdir(d)))
                        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                                (void) unlinkat(dirfd(d), de->d_name, 0);
                (void) closedir(d);
        }
        (void) rmdir(tmpdir);
        tmpdir = mfree(tmpdir);
}

/*
 * Writes data to a new file in tmpdir (mkstemp), sized max(size, file_size),
 * leaving all-zero blocks as holes, and returns an fd open for reading.
 */
static int write_file(const void *data, size_t size, uint64_t file_size) {
        _cleanup_free_ char *path = NULL;
        const uint8_t *p = data;
        int fd;

        ck_assert_ptr_nonnull(tmpdir);
        ck_assert_int_ge(asprintf(&path, "%s/img-XXXXXX", tmpdir), 0);
        fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, (off_t) MAX((uint64_t) size, file_size)), 0);

        for (size_t start = 0; start < size; start += 4096) {
                size_t len = MIN(size - start, (size_t) 4096), done = 0;
                bool zero = true;

                for (size_t i = 0; i < len && zero; i++)
                        zero = p[start + i] == 0;
                while (!zero && done < len) {
                        ssize_t n = pwrite(fd, p + start + done, len - done, (off_t) (start + done));

                        ck_assert_int_gt(n, 0);
                        done += (size_t) n;
                }
        }
        return fd;
}

static uint64_t fd_size(int fd) {
        struct stat st;

        ck_assert_int_eq(fstat(fd, &st), 0);
        return (uint64_t) st.st_size;
}

/* Bytes this process has read through read(2)-like calls, or false if /proc/self/io is unavailable. */
static bool read_bytes_so_far(uint64_t *ret) {
        FILE *f = fopen("/proc/self/io", "re");
        uint64_t v;
        int n;

        if (!f)
                return false;
        n = fscanf(f, "rchar: %" SCNu64, &v);
        (void) fclose(f);
        if (n != 1)
                return false;
        *ret = v;
        return true;
}

static void assert_headers_equal(const char *name, const QcowHeader *a, const QcowHeader *b) {
        ck_assert_msg(a->version == b->version, "%s: version %u != %u", name, a->version, b->version);
        ck_assert_msg(a->cluster_bits == b->cluster_bits, "%s: cluster_bits differ", name);
        ck_assert_msg(a->header_length == b->header_length, "%s: header_length differs", name);
        ck_assert_msg(a->virtual_size == b->virtual_size, "%s: virtual_size differs", name);
        ck_assert_msg(a->crypt_method == b->crypt_method, "%s: crypt_method differs", name);
        ck_assert_msg(a->incompatible_features == b->incompatible_features, "%s: incompatible differs",
                      name);
        ck_assert_msg(a->compatible_features == b->compatible_features, "%s: compatible differs", name);
        ck_assert_msg(a->autoclear_features == b->autoclear_features, "%s: autoclear differs", name);
        ck_assert_msg(a->refcount_order == b->refcount_order, "%s: refcount_order differs", name);
        ck_assert_msg(a->compression_type == b->compression_type, "%s: compression_type differs", name);
        ck_assert_msg(streq_ptr(a->backing_file, b->backing_file), "%s: backing_file '%s' != '%s'", name,
                      strna(a->backing_file), strna(b->backing_file));
        ck_assert_msg(a->backing_file_has_nul == b->backing_file_has_nul, "%s: backing_file_has_nul differs",
                      name);
        ck_assert_msg(streq_ptr(a->backing_format, b->backing_format), "%s: backing_format differs", name);
        ck_assert_msg(streq_ptr(a->data_file, b->data_file), "%s: data_file differs", name);
        ck_assert_msg(a->data_file_has_nul == b->data_file_has_nul, "%s: data_file_has_nul differs", name);
}

static void assert_valid(const ValidCase *c, const QcowHeader *h) {
        uint32_t version = c->image.version;
        uint32_t cluster_bits = c->image.cluster_bits ?: (version == 1 ? 12 : 16);
        uint32_t header_length = version == 1 ? 48 : version == 2 ? 72 : (c->image.header_length ?: 104);
        uint32_t refcount_order = version == 1 ? 0 : (c->refcount_order ?: 4);

        ck_assert_msg(h->version == version, "%s: version %u", c->name, h->version);
        ck_assert_str_eq(qcow_format_name(h), version == 1 ? "qcow" : "qcow2");
        ck_assert_msg(h->cluster_bits == cluster_bits, "%s: cluster_bits %u, expected %u", c->name,
                      h->cluster_bits, cluster_bits);
        ck_assert_msg(h->header_length == header_length, "%s: header_length %u, expected %u", c->name,
                      h->header_length, header_length);
        ck_assert_msg(h->virtual_size == VIRTUAL_SIZE, "%s: virtual_size %" PRIu64, c->name,
                      h->virtual_size);
        ck_assert_msg(h->crypt_method == 0, "%s: crypt_method %u", c->name, h->crypt_method);
        ck_assert_msg(h->incompatible_features == c->image.incompatible, "%s: incompatible 0x%" PRIx64,
                      c->name, h->incompatible_features);
        ck_assert_msg(h->compression_type == c->image.compression_type, "%s: compression_type %u", c->name,
                      h->compression_type);
        ck_assert_msg(h->refcount_order == refcount_order, "%s: refcount_order %u, expected %u", c->name,
                      h->refcount_order, refcount_order);
        ck_assert_msg(streq_ptr(h->backing_file, c->backing_file), "%s: backing_file '%s', expected '%s'",
                      c->name, strna(h->backing_file), strna(c->backing_file));
        ck_assert_msg(h->backing_file_has_nul == c->backing_file_has_nul, "%s: backing_file_has_nul %d",
                      c->name, h->backing_file_has_nul);
        ck_assert_msg(streq_ptr(h->backing_format, c->backing_format),
                      "%s: backing_format '%s', expected '%s'", c->name, strna(h->backing_format),
                      strna(c->backing_format));
        ck_assert_msg(streq_ptr(h->data_file, c->data_file), "%s: data_file '%s', expected '%s'", c->name,
                      strna(h->data_file), strna(c->data_file));
        ck_assert_msg(!h->data_file_has_nul, "%s: data_file_has_nul", c->name);
}

/* A failure returns the errno, a one-line reason naming the problem, and leaves the output as it was. */
static void assert_invalid(const InvalidCase *c, int r, const QcowHeader *h, const QcowHeader *sentinel,
                           const char *reason) {
        ck_assert_msg(r == c->error, "%s: returned %d (%s), expected %d; reason: %s", c->name, r,
                      r < 0 ? strerror(-r) : "success", c->error, strna(reason));
        ck_assert_msg(reason, "%s: no reason given", c->name);
        if (c->reason)
                ck_assert_msg(strstr(reason, c->reason), "%s: reason '%s' does not mention '%s'", c->name,
                              reason, c->reason);
        ck_assert_msg(!strchr(reason, '\n'), "%s: reason spans lines: '%s'", c->name, reason);
        ck_assert_msg(memcmp(h, sentinel, sizeof(*h)) == 0, "%s: output header changed on failure", c->name);
}

static void sentinel_init(QcowHeader *sentinel, QcowHeader *h) {
        memset(sentinel, 0xa5, sizeof(*sentinel));
        memcpy(h, sentinel, sizeof(*h));
}

START_TEST(test_has_magic) {
        static const struct {
                const char *data;
                size_t size;
                bool expected;
        } cases[] = {
                { "QFI\xfb", 4, true },
                { "QFI\xfb\x00\x00\x00\x03", 8, true },
                { "QFI\xfb", 3, false },
                { "QFI\xfb", 0, false },
                { "QFI\xfa", 4, false },
                { "\xfbIFQ", 4, false },
                { "\0\0\0\0", 4, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                ck_assert_msg(qcow_has_magic(cases[i].data, cases[i].size) == cases[i].expected, "case %zu",
                              i);
}
END_TEST

START_TEST(test_reader_names) {
        static const struct {
                QcowReader reader;
                const char *name;
        } cases[] = {
                { QCOW_READER_AUTO, "auto" },
                { QCOW_READER_LIBQCOW, "libqcow" },
                { QCOW_READER_BUILTIN, "builtin" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ck_assert_str_eq(qcow_reader_to_string(cases[i].reader), cases[i].name);
                ck_assert_int_eq(qcow_reader_from_string(cases[i].name), cases[i].reader);
        }
        ck_assert_ptr_null(qcow_reader_to_string(_QCOW_READER_MAX));
        ck_assert_ptr_null(qcow_reader_to_string(_QCOW_READER_INVALID));
        ck_assert_int_eq(qcow_reader_from_string("Auto"), _QCOW_READER_INVALID);
        ck_assert_int_eq(qcow_reader_from_string(""), _QCOW_READER_INVALID);
        ck_assert_int_eq(qcow_reader_from_string(NULL), _QCOW_READER_INVALID);
}
END_TEST

START_TEST(test_parse_valid) {
        const ValidCase *c = &valid_cases[_i];
        _cleanup_free_ char *reason = NULL;
        Image img;
        QcowHeader h;
        int r;

        image_build(&c->image, &img);
        memset(&h, 0xa5, sizeof(h));
        r = image_parse(&img, &h, &reason);
        ck_assert_msg(r == 0, "%s: returned %d (%s): %s", c->name, r, strerror(-r), strna(reason));
        ck_assert_msg(!reason, "%s: reason set on success", c->name);
        assert_valid(c, &h);
        qcow_header_done(&h);
        image_done(&img);
}
END_TEST

START_TEST(test_parse_invalid) {
        const InvalidCase *c = &invalid_cases[_i];
        _cleanup_free_ char *reason = NULL;
        QcowHeader h, sentinel;
        Image img;
        int r;

        image_build(&c->image, &img);
        sentinel_init(&sentinel, &h);
        r = image_parse(&img, &h, &reason);
        assert_invalid(c, r, &h, &sentinel, reason);

        /* The reason is optional. */
        r = image_parse(&img, &h, NULL);
        ck_assert_msg(r == c->error, "%s: without a reason pointer returned %d", c->name, r);
        ck_assert_msg(memcmp(&h, &sentinel, sizeof(h)) == 0, "%s: output header changed on failure",
                      c->name);
        image_done(&img);
}
END_TEST

START_TEST(test_parse_rejects_what_qemu_rejects) {
        const InvalidCase *c = &qemu_refuses_cases[_i];
        _cleanup_free_ char *reason = NULL;
        QcowHeader h, sentinel;
        Image img;
        int r;

        image_build(&c->image, &img);
        sentinel_init(&sentinel, &h);
        r = image_parse(&img, &h, &reason);
        if (r == 0)
                qcow_header_done(&h);
        image_done(&img);
        assert_invalid(c, r, &h, &sentinel, reason);
}
END_TEST

START_TEST(test_parse_empty) {
        static const uint8_t nothing[1] = {};
        _cleanup_free_ char *reason = NULL;
        QcowHeader h, sentinel;
        int r;

        sentinel_init(&sentinel, &h);
        r = qcow_header_parse(nothing, 0, 0, &h, &reason);
        ck_assert_int_eq(r, -EMEDIUMTYPE);
        ck_assert_ptr_nonnull(reason);
        ck_assert_mem_eq(&h, &sentinel, sizeof(h));
}
END_TEST

START_TEST(test_parse_valid_without_reason) {
        const ImageSpec spec = { .version = 3, BACKING("base.qcow2") };
        QcowHeader h = {};
        Image img;

        image_build(&spec, &img);
        ck_assert_int_eq(image_parse(&img, &h, NULL), 0);
        ck_assert_str_eq(h.backing_file, "base.qcow2");
        qcow_header_done(&h);
        image_done(&img);
}
END_TEST

START_TEST(test_parse_backing_name_limit) {
        static const size_t lengths[] = { 1, 1022, 1023 };

        for (size_t i = 0; i < ELEMENTSOF(lengths); i++) {
                _cleanup_free_ char *name = NULL, *reason = NULL;
                QcowHeader h = {};
                ImageSpec spec = { .version = i == 1 ? 1 : 3 };
                Image img;
                int r;

                name = malloc(lengths[i] + 1);
                ck_assert_ptr_nonnull(name);
                memset(name, 'n', lengths[i]);
                name[lengths[i]] = 0;
                spec.backing = name;
                spec.backing_len = lengths[i];

                image_build(&spec, &img);
                r = image_parse(&img, &h, &reason);
                ck_assert_msg(r == 0, "length %zu: %d %s", lengths[i], r, strna(reason));
                ck_assert_str_eq(h.backing_file, name);
                ck_assert(!h.backing_file_has_nul);
                qcow_header_done(&h);
                image_done(&img);
        }
}
END_TEST

START_TEST(test_parse_extension_limit) {
        /* QCOW_MAX_EXTENSIONS distinct extensions are read; one more is refused. */
        for (unsigned extra = 0; extra <= 1; extra++) {
                _cleanup_free_ char *reason = NULL;
                const ImageSpec spec = { .version = 3, .cluster_bits = 16, .file_size = 65536 };
                unsigned n = QCOW_MAX_EXTENSIONS + extra;
                QcowHeader h = {};
                Image img;
                int r;

                image_build(&spec, &img);
                for (unsigned i = 0; i < n; i++) {
                        image_put(&img, 104 + 8 * (uint64_t) i, 4, 0x10000000U + i);
                        image_put(&img, 104 + 8 * (uint64_t) i + 4, 4, 0);
                }
                r = image_parse(&img, &h, &reason);
                if (extra == 0) {
                        ck_assert_msg(r == 0, "%u extensions: %d %s", n, r, strna(reason));
                        qcow_header_done(&h);
                } else {
                        ck_assert_int_eq(r, -EBADMSG);
                        ck_assert_ptr_nonnull(reason);
                        ck_assert_ptr_nonnull(strstr(reason, "extensions"));
                }
                image_done(&img);
        }
}
END_TEST

START_TEST(test_header_done) {
        const ImageSpec spec = {
                .version = 3,
                .incompatible = QCOW2_INCOMPAT_DATA_FILE,
                .ext = { EXT_STR(QCOW2_EXT_BACKING_FORMAT, "qcow2"), EXT_STR(QCOW2_EXT_DATA_FILE, "d.raw") },
                BACKING("b.qcow2"),
        };
        static const QcowHeader zero = {};
        QcowHeader h;
        Image img;

        image_build(&spec, &img);
        ck_assert_int_eq(image_parse(&img, &h, NULL), 0);
        ck_assert_str_eq(h.backing_file, "b.qcow2");
        ck_assert_str_eq(h.backing_format, "qcow2");
        ck_assert_str_eq(h.data_file, "d.raw");

        qcow_header_done(&h);
        ck_assert_mem_eq(&h, &zero, sizeof(h));
        /* Idempotent, and NULL is accepted. */
        qcow_header_done(&h);
        qcow_header_done(NULL);
        image_done(&img);
}
END_TEST

/*
 * Prefixes a caller may hand to qcow_header_read(): none, the magic a prober
 * read, part of the header, and the first block (more than the file may hold).
 */
static const size_t prefix_sizes[] = { 0, 4, 100, 4096 };

/* Reads the image behind fd, with its first prefix_size bytes (if any) passed in from data. */
static int read_with_prefix(int fd, const Image *img, size_t prefix_size, QcowHeader *ret,
                            char **ret_reason) {
        if (prefix_size == 0)
                return qcow_header_read(fd, fd_size(fd), NULL, 0, ret, ret_reason);
        return qcow_header_read(fd, fd_size(fd), img->data, MIN(prefix_size, img->allocated), ret,
                                ret_reason);
}

START_TEST(test_read_valid_matches_parse) {
        const ValidCase *c = &valid_cases[_i];
        _cleanup_close_ int fd = -1;
        QcowHeader from_mem = {};
        Image img;

        image_build(&c->image, &img);
        fd = write_file(img.data, img.size, img.size);
        ck_assert_int_eq(image_parse(&img, &from_mem, NULL), 0);

        for (size_t i = 0; i < ELEMENTSOF(prefix_sizes); i++) {
                _cleanup_free_ char *reason = NULL;
                QcowHeader from_fd = {};
                int r;

                r = read_with_prefix(fd, &img, prefix_sizes[i], &from_fd, &reason);
                ck_assert_msg(r == 0, "%s (prefix %zu): read returned %d: %s", c->name, prefix_sizes[i], r,
                              strna(reason));
                assert_headers_equal(c->name, &from_fd, &from_mem);
                assert_valid(c, &from_fd);
                qcow_header_done(&from_fd);
        }
        qcow_header_done(&from_mem);
        image_done(&img);
}
END_TEST

START_TEST(test_read_invalid_matches_parse) {
        const InvalidCase *c = &invalid_cases[_i];
        _cleanup_free_ char *reason_mem = NULL;
        _cleanup_close_ int fd = -1;
        QcowHeader h, sentinel;
        Image img;

        image_build(&c->image, &img);
        fd = write_file(img.data, img.size, img.size);
        sentinel_init(&sentinel, &h);
        ck_assert_int_eq(image_parse(&img, &h, &reason_mem), c->error);

        for (size_t i = 0; i < ELEMENTSOF(prefix_sizes); i++) {
                _cleanup_free_ char *reason = NULL;
                int r;

                r = read_with_prefix(fd, &img, prefix_sizes[i], &h, &reason);
                assert_invalid(c, r, &h, &sentinel, reason);
                ck_assert_msg(streq(reason, reason_mem), "%s (prefix %zu): reasons differ: '%s' vs '%s'",
                              c->name, prefix_sizes[i], reason, reason_mem);
        }
        image_done(&img);
}
END_TEST

/*
 * Reads an image whose backing name lies at name_offset, with and without a
 * prefix, and checks what was read and how many bytes were read for it.
 */
static void check_read_far_name(uint32_t version, uint32_t cluster_bits, uint64_t name_offset,
                                uint64_t file_size, uint64_t max_read) {
        static const char name[] = "far-away-base.qcow2";
        _cleanup_close_ int fd = -1;
        const ImageSpec spec = {
                .version = version,
                .cluster_bits = cluster_bits,
                BACKING(name),
                .backing_offset = name_offset,
                .file_size = (size_t) (name_offset + sizeof(name) - 1),
        };
        QcowHeader from_mem = {};
        uint64_t worst = 0;
        bool have_io = true;
        Image img;

        image_build(&spec, &img);
        ck_assert_int_eq(image_parse(&img, &from_mem, NULL), 0);
        ck_assert_str_eq(from_mem.backing_file, name);
        fd = write_file(img.data, img.size, file_size);

        for (size_t i = 0; i < ELEMENTSOF(prefix_sizes); i++) {
                _cleanup_free_ char *reason = NULL;
                QcowHeader from_fd = {};
                uint64_t before = 0, after = 0;
                int r;

                have_io = have_io && read_bytes_so_far(&before);
                r = read_with_prefix(fd, &img, prefix_sizes[i], &from_fd, &reason);
                have_io = have_io && read_bytes_so_far(&after);
                worst = MAX(worst, after - before);
                if (r < 0) {
                        qcow_header_done(&from_mem);
                        image_done(&img);
                }
                ck_assert_msg(r == 0, "prefix %zu: read returned %d: %s", prefix_sizes[i], r, strna(reason));
                assert_headers_equal("far backing name", &from_fd, &from_mem);
                qcow_header_done(&from_fd);
        }
        qcow_header_done(&from_mem);
        image_done(&img);

        /* Allow a page for reading /proc/self/io itself. */
        if (have_io)
                ck_assert_msg(worst <= max_read + 4096,
                              "reading the header of a %" PRIu64 "-byte file read %" PRIu64
                              " bytes (limit %" PRIu64 ")",
                              file_size, worst, max_read);
}

START_TEST(test_read_name_beyond_first_window) {
        /* Offset 40000 of a 64 KiB cluster: the reader must grow its window past 4 KiB, but not past
         * cluster 0. */
        check_read_far_name(2, 16, 40000, 65536, 65536);
        check_read_far_name(3, 16, 40000, 4 * MIB, 65536);
}
END_TEST

START_TEST(test_read_name_at_end_of_2mib_cluster) {
        check_read_far_name(3, 21, 2 * MIB - 32, 8 * MIB, 2 * MIB);
}
END_TEST

START_TEST(test_read_v1_far_backing_name_reads_little) {
        /*
         * qcow v1 places no bound on the backing name offset. The reader's
         * contract is to read what it needs and never more than cluster 0
         * (at most 2 MiB), whatever the file size.
         */
        check_read_far_name(1, 16, 64 * MIB - 32, 64 * MIB, 2 * MIB);
}
END_TEST

START_TEST(test_read_file_shorter_than_stated) {
        const ImageSpec spec = {
                .version = 2, BACKING("base.qcow2"), .backing_offset = 40000, .file_size = 40010
        };
        _cleanup_free_ char *reason = NULL;
        _cleanup_close_ int fd = -1;
        QcowHeader h, sentinel;
        Image img;
        int r;

        image_build(&spec, &img);
        fd = write_file(img.data, 4096, 4096);
        sentinel_init(&sentinel, &h);
        r = qcow_header_read(fd, 40010, NULL, 0, &h, &reason);
        ck_assert_int_eq(r, -EBADMSG);
        ck_assert_ptr_nonnull(reason);
        ck_assert_mem_eq(&h, &sentinel, sizeof(h));

        /* A prefix of what the file did hold does not stand in for the missing rest. */
        reason = mfree(reason);
        r = qcow_header_read(fd, 40010, img.data, 4096, &h, &reason);
        ck_assert_int_eq(r, -EBADMSG);
        ck_assert_ptr_nonnull(reason);
        ck_assert_mem_eq(&h, &sentinel, sizeof(h));
        image_done(&img);
}
END_TEST

START_TEST(test_read_truncated_by_file_size) {
        /* The stated file size bounds the read even when the file is longer. */
        const ImageSpec spec = { .version = 3 };
        _cleanup_free_ char *reason = NULL;
        _cleanup_close_ int fd = -1;
        QcowHeader h = {};
        Image img;

        image_build(&spec, &img);
        fd = write_file(img.data, img.size, img.size);
        ck_assert_int_eq(qcow_header_read(fd, 100, NULL, 0, &h, &reason), -EBADMSG);
        ck_assert_ptr_nonnull(strstr(reason, "truncated"));
        reason = mfree(reason);
        ck_assert_int_eq(qcow_header_read(fd, 0, NULL, 0, &h, &reason), -EMEDIUMTYPE);

        /* So does it when a longer prefix is passed in. */
        reason = mfree(reason);
        ck_assert_int_eq(qcow_header_read(fd, 100, img.data, img.size, &h, &reason), -EBADMSG);
        ck_assert_ptr_nonnull(strstr(reason, "truncated"));
        reason = mfree(reason);
        ck_assert_int_eq(qcow_header_read(fd, 0, img.data, img.size, &h, &reason), -EMEDIUMTYPE);
        image_done(&img);
}
END_TEST

Suite *qcow_suite(void);

Suite *qcow_suite(void) {
        Suite *s = suite_create("qcow");
        TCase *tc;

        tc = tcase_create("magic");
        tcase_add_test(tc, test_has_magic);
        tcase_add_test(tc, test_reader_names);
        suite_add_tcase(s, tc);

        tc = tcase_create("parse-valid");
        tcase_add_loop_test(tc, test_parse_valid, 0, (int) ELEMENTSOF(valid_cases));
        tcase_add_test(tc, test_parse_valid_without_reason);
        tcase_add_test(tc, test_parse_backing_name_limit);
        suite_add_tcase(s, tc);

        tc = tcase_create("parse-invalid");
        tcase_add_loop_test(tc, test_parse_invalid, 0, (int) ELEMENTSOF(invalid_cases));
        tcase_add_test(tc, test_parse_empty);
        tcase_add_test(tc, test_parse_extension_limit);
        suite_add_tcase(s, tc);

        tc = tcase_create("parse-qemu-limits");
        tcase_add_loop_test(tc, test_parse_rejects_what_qemu_rejects, 0,
                            (int) ELEMENTSOF(qemu_refuses_cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("header-done");
        tcase_add_test(tc, test_header_done);
        suite_add_tcase(s, tc);

        tc = tcase_create("read");
        tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
        tcase_add_loop_test(tc, test_read_valid_matches_parse, 0, (int) ELEMENTSOF(valid_cases));
        tcase_add_loop_test(tc, test_read_invalid_matches_parse, 0, (int) ELEMENTSOF(invalid_cases));
        tcase_add_test(tc, test_read_name_beyond_first_window);
        tcase_add_test(tc, test_read_name_at_end_of_2mib_cluster);
        tcase_add_test(tc, test_read_file_shorter_than_stated);
        tcase_add_test(tc, test_read_truncated_by_file_size);
        suite_add_tcase(s, tc);

        tc = tcase_create("read-bounded");
        tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
        tcase_add_test(tc, test_read_v1_far_backing_name_reads_little);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(qcow_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
