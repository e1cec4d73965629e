/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Every overlay of a boxlite home with its backing chain, as the one walk of
 * the home (walk.h) sees it: what "boxlite-chainwalk --home" prints and
 * "--usage" sums. The GC sees the same overlays through the same walk
 * (gc-refs.h), and the views walk it as the GC does: boxes/ by workers (one
 * per online CPU, up to GC_JOBS_AUTO_MAX), each backing name resolved once.
 *
 * The records are compact: an overlay holds its own layer and its name below
 * its unit (the home's prefix is kept once); a backing layer is one record
 * shared by every chain that reaches it by the same name (with the same
 * declared format), whichever worker read it first, since what a layer is
 * does not depend on which overlay reached it. A chain is its overlay's
 * layer, then HomeLayer.next. Strings, extras and shared layers live in the
 * scan's arena, without a header each; the views print from these records
 * once the walk has accepted them (a unit it forgot is never shown), writing
 * as they go, never a whole document.
 *
 * home_scan() returns 0 with a HomeScan whose units (the entries of boxes/
 * and bases/ the accepted walk holds) are in path order, as are the overlays
 * of each unit, so reading them in turn gives every overlay in path order
 * (with sums_only: the boxes in name order, each one's overlays in the walk's).
 * It returns 0 also when parts of the home could not be walked (errors[]
 * says which, and why; a home that never held still is one such error), or a
 * negative errno: -ENOENT and the like when the home itself cannot be opened,
 * -ENOMEM.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arena.h"
#include "chain.h"
#include "walk.h"

/* What only a few layers carry. */
typedef struct HomeLayerExtra {
        const char *format;     /* a declared format the walker cannot read */
        const char *backing_format; /* other than "raw" and "qcow2" */
        const char *data_file;
        const char *data_file_path;
        const char *full_backing; /* where the next layer's filename is not the same */
} HomeLayerExtra;

/*
 * One layer. Its strings, its extra and the shared records themselves live
 * in the scan's arena (HomeScan.arena): they go with the scan, never alone.
 */
typedef struct HomeLayer {
        const char *filename;   /* as ChainLayer.filename; an overlay's: see home_overlay_path() */
        const char *backing_file; /* as stored in the header; NULL: none, or backing_is_full */
        struct HomeLayer *next; /* the layer below, NULL at the chain's end */
        HomeLayerExtra *extra;
        uint64_t virtual_size;
        uint64_t actual_size;
        dev_t dev;
        ino_t ino;
        uint16_t below;         /* layers from this one to the chain's end */
        uint8_t format;         /* HomeFormat */
        uint8_t backing_format; /* HomeFormat, HOME_FORMAT_NONE when not declared */
        uint8_t declared;       /* HomeFormat the layer above declared for this one (shared layers) */
        uint8_t version, cluster_bits, refcount_order, compression_type;
        uint8_t reader;         /* QcowReader */
        bool has_header:1;
        bool libqcow_refused:1;
        bool backing_is_full:1;
        bool backing_truncated:1;
        bool encrypted:1;
        bool dirty:1;
        bool lazy_refcounts:1;
        bool corrupt:1;
        bool extended_l2:1;
        bool has_data_file:1;   /* the data-file feature bit with a data file name */
        bool data_file_raw:1;
        bool live:1;            /* an overlay under <box>/disks/: a layer a VM writes */
        bool whole_path:1;      /* an overlay whose filename is its whole path */
        bool linked:1;          /* an overlay with other names: hard links, or reached through a symbolic link */
} HomeLayer;

typedef enum HomeFormat {
        HOME_FORMAT_NONE,
        HOME_FORMAT_QCOW2,
        HOME_FORMAT_QCOW,
        HOME_FORMAT_RAW,
        HOME_FORMAT_OTHER,      /* extra->format, or extra->backing_format */
} HomeFormat;

const char *home_layer_format(const HomeLayer *l);
const char *home_layer_backing_format(const HomeLayer *l);
const char *home_layer_full_backing(const HomeLayer *l);
const char *home_layer_backing_file(const HomeLayer *l);

/* Why a chain is incomplete. */
typedef struct HomeChainError {
        ChainError kind;
        const char *filename;
        const char *reason;
} HomeChainError;

/*
 * An overlay: top is its own layer; top.format HOME_FORMAT_NONE: not even it could be read (top.dev,
 * ino and actual_size are then its stat's). Its filename is its path below its unit's directory
 * <home>/<part>/<entry>/ ("" when the unit is the overlay itself), or NULL when only sums are kept
 * (then kept under bases/ and for errors); home_overlay_path() gives the whole path.
 */
typedef struct HomeOverlay {
        HomeLayer top;
        HomeChainError *error;  /* NULL: the chain is complete */
} HomeOverlay;

typedef struct HomeUnit {
        const char *entry;      /* its name in <home>/<part>/ */
        const char *box;        /* the same under boxes/, NULL under bases/ */
        HomeOverlay *overlays;
        uint32_t n_overlays, allocated;
        unsigned unit;          /* WalkOverlay.unit */
        WalkPart part;
} HomeUnit;

typedef struct HomeError {
        char *path;
        char *message;
        unsigned unit;
} HomeError;

typedef struct HomeScan {
        HomeUnit *units;
        size_t n_units;
        HomeError *errors;
        size_t n_errors;
        unsigned passes;
        Arena arena;            /* every record's strings, extras and shared layers */
        char *prefix[_WALK_PART_MAX]; /* "<home>/boxes/", "<home>/bases/" */
        char *path;             /* home_overlay_path()'s buffer */
        size_t path_allocated;
} HomeScan;

/*
 * The whole path of an overlay of unit u (NULL when only sums were kept for it, or out of memory),
 * in a buffer of the scan's that the next call overwrites.
 */
const char *home_overlay_path(HomeScan *s, const HomeUnit *u, const HomeOverlay *o);

/*
 * sums_only: overlays keep no path (except under bases/ and where the chain is incomplete).
 * jobs: the walk's workers (WalkOptions.jobs), the GC's choice (gc_jobs(0)) for the programs.
 */
int home_scan(const char *home, const ChainOptions *chain_options, bool sums_only, unsigned jobs, HomeScan *ret);
/* One image's chain as the same records: one unit, one overlay. Returns 0, -ENOMEM or -EINVAL. */
int home_scan_image(const char *image, const ChainOptions *chain_options, HomeScan *ret);
void home_scan_done(HomeScan *s);

