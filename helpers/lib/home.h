/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Every overlay of a boxlite home with its backing chain, as the one walk of
 * the home (walk.h) sees it: what "boxlite-chainwalk --home" prints and
 * "--usage" sums. The GC sees the same overlays through the same walk
 * (gc-refs.h).
 *
 * home_scan() returns 0 with a HomeScan (sorted by path) also when parts of
 * the home could not be walked (errors[] says which, and why; a home that
 * never held still is one such error), or a negative errno: -ENOENT and the
 * like when the home itself cannot be opened, -ENOMEM.
 */

#include <stddef.h>
#include <sys/stat.h>

#include "chain.h"
#include "walk.h"

typedef struct HomeOverlay {
        char *path;
        char *box;        /* NULL under bases/ */
        WalkPart part;
        struct stat st;   /* the overlay file */
        Chain *chain;
} HomeOverlay;

typedef struct HomeError {
        char *path;
        char *message;
} HomeError;

typedef struct HomeScan {
        HomeOverlay *overlays;
        size_t n_overlays;
        HomeError *errors;
        size_t n_errors;
        unsigned passes;
} HomeScan;

int home_scan(const char *home, const ChainOptions *chain_options, HomeScan *ret);
void home_scan_done(HomeScan *s);

void strv_free(char **l);
size_t strv_length(char *const *l);
