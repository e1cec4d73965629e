/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Backing chain walking.
 *
 * chain_walk() follows an image's backing chain the way QEMU opens it:
 * names resolve per qemu-path.h, a declared backing format is honoured (a
 * "raw" layer is never probed), otherwise the layer is probed by its magic.
 * The chain ends at a raw layer (complete), or with an error: a missing or
 * unreadable layer, a corrupt header, a loop (by st_dev/st_ino, so aliases
 * through symlinks or "./" are caught), the depth limit, or a name that is
 * not a local file (json:, network protocols).
 *
 * Files are opened O_RDONLY|O_NOCTTY|O_NONBLOCK|O_CLOEXEC and must be regular
 * files, so a FIFO or device planted as an image never blocks the walk.
 *
 * chain_walk() returns 0 and a Chain even when the chain is incomplete (see
 * Chain.error); it fails only on OOM or bad arguments.
 */

#include <stdbool.h>
#include <time.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "qcow.h"

#define CHAIN_MAX_DEPTH_DEFAULT 64U
#define CHAIN_MAX_DEPTH_LIMIT 4096U

typedef enum ChainError {
        CHAIN_OK,
        CHAIN_MISSING,     /* a layer or data file does not exist */
        CHAIN_UNREADABLE,  /* open/read failed (EACCES, EIO, ...) or not a regular file */
        CHAIN_CORRUPT,     /* a header failed validation, or the readers disagree */
        CHAIN_UNSUPPORTED, /* unknown version, feature or format */
        CHAIN_LOOP,        /* a layer appears twice */
        CHAIN_TOO_DEEP,    /* the depth limit was reached */
        CHAIN_NOT_LOCAL,   /* json: or a network protocol: cannot be resolved to a local file */
        _CHAIN_ERROR_MAX,
        _CHAIN_ERROR_INVALID = -22,
} ChainError;

const char *chain_error_to_string(ChainError e);

typedef struct ChainLayer {
        char *filename;          /* as QEMU names it: the image as given, then the previous full-backing-filename */
        char *path;              /* the local path opened (filename with a "file:" prefix stripped) */
        char *format;            /* "qcow2", "qcow", "raw", or a declared format we cannot read */
        QcowReader reader;       /* which reader supplied the facts (qcow layers) */
        bool libqcow_refused;    /* auto mode fell back to the built-in reader */
        bool has_header;         /* hdr holds the strict reader's full header */
        QcowHeader hdr;          /* version, sizes, features, names */
        uint64_t virtual_size;   /* as qemu-img reports it */
        uint64_t actual_size;    /* st_blocks * 512 */
        uint64_t file_size;      /* st_size */
        dev_t dev;
        ino_t ino;
        struct timespec mtime, ctime;
        char *full_backing_filename; /* NULL without a backing file */
        char *data_file_path;    /* resolved external data file, or NULL */
        dev_t data_dev;
        ino_t data_ino;
} ChainLayer;

typedef struct Chain {
        ChainLayer *layers;
        size_t n_layers;

        ChainError error;      /* CHAIN_OK when the chain is complete */
        int error_errno;       /* negative errno behind error */
        char *error_filename;  /* the name that failed (a layer, a data file, or an unresolvable name) */
        char *error_reason;    /* one line: what is wrong */
        bool stopped_at_known; /* complete: ended before a backing name ChainOptions.known() knew */
} Chain;

typedef struct ChainOptions {
        unsigned max_depth; /* 0 means CHAIN_MAX_DEPTH_DEFAULT */
        QcowReader reader;
        /*
         * Optional: true when a backing name (full backing filename, with the format the referring
         * layer declares, NULL to probe) is known to end a complete chain already walked. The chain
         * then stops before it, complete, with Chain.stopped_at_known set. The GC uses this to resolve
         * each backing name once per walk.
         */
        bool (*known)(const char *name, const char *declared_format, void *userdata);
        void *userdata;
} ChainOptions;

int chain_walk(const char *image, const ChainOptions *opts, Chain **ret);
/* The same, with the first layer already open as fd (borrowed: read, never closed), and its stat if known. */
int chain_walk_fd(int fd, const struct stat *st, const char *image, const ChainOptions *opts, Chain **ret);

/*
 * Drops what only a report of the chain needs (headers, full backing names, layer paths), keeping
 * identities, file names, formats and sizes: for callers that hold many chains to sum them.
 */
void chain_shrink(Chain *c);

/*
 * The key a walk resolves a backing name by: "<declared format>\n<full backing name>" (the declared
 * format decides how QEMU opens it), built in *buf (grown as needed, the caller frees it). NULL on OOM.
 */
const char *chain_name_key(char **buf, size_t *allocated, const char *name, const char *declared_format,
                           size_t *ret_len);

/* The format layer i was declared as by layer i - 1 (NULL: probed, and for layer 0). */
const char *chain_declared_format(const Chain *c, size_t i);
Chain *chain_free(Chain *c);
static inline void chain_freep(Chain **c) {
        if (*c)
                *c = chain_free(*c);
}

static inline bool chain_complete(const Chain *c) {
        return c->error == CHAIN_OK;
}
