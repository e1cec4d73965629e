/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Where a home's space goes (DESIGN.md section 10, "boxlite-chainwalk --usage"),
 * computed from one walk of the home (home.h), like "docker system df -v":
 *
 *   boxes    per box, its overlays (disks and snapshots): allocated bytes
 *            (st_blocks * 512, each inode once), virtual size, and the images
 *            their chains end at; largest first;
 *   images   every file a chain ends at (disk-images, bases/ *.ext4):
 *            allocated bytes and how many boxes use it; largest first;
 *   bases    qcow layers under bases/ that chains pass through;
 *   unreferenced  regular *.ext4 files in images/disk-images/ no chain reaches;
 *   committed growth: over the live overlays (a box's disks/, the layers a VM
 *            writes), virtual size minus allocated bytes: what they may still
 *            grow by, set against the available bytes of boxes/.
 *
 * Totals count every inode once (hard links, images shared by boxes).
 * usage_compute() returns 0 or -ENOMEM; files it cannot stat are left out.
 * A Usage borrows names from the scan it was computed from (boxes, image
 * paths): the scan must outlive it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "home.h"

typedef struct UsageBox {
        const char *box;        /* borrowed from the scan, which outlives the Usage */
        size_t n_overlays;
        uint64_t allocated_bytes;
        uint64_t virtual_bytes;
        uint64_t committed_growth_bytes;
        const char **images;    /* NULL-terminated, sorted; in Usage.image_refs, paths as in Usage.images */
} UsageBox;

typedef struct UsageImage {
        const char *path;       /* the scan's, or Usage.arena's */
        uint64_t allocated_bytes;
        size_t n_boxes;
        bool base;              /* a qcow layer under bases/, not a chain's end */
} UsageImage;

typedef struct Usage {
        UsageBox *boxes;
        size_t n_boxes;
        UsageImage *images;     /* chain ends */
        size_t n_images;
        UsageImage *bases;
        size_t n_bases;
        UsageImage *unreferenced;
        size_t n_unreferenced;
        uint64_t overlays_allocated_bytes;
        uint64_t images_allocated_bytes;
        uint64_t bases_allocated_bytes;
        uint64_t unreferenced_allocated_bytes;
        uint64_t committed_growth_bytes;
        uint64_t available_bytes;   /* f_bavail * f_frsize of boxes/ (the home without one) */
        bool available_known;
        const char **image_refs;    /* every box's images, one NULL-terminated run each */
        Arena arena;                /* the paths the scan does not hold */
} Usage;

/* scan is not changed but for home_overlay_path()'s buffer. */
int usage_compute(const char *home, HomeScan *scan, Usage *ret);
void usage_done(Usage *u);
