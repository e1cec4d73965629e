/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Every overlay of a boxlite home with its backing chain, as the one walk of
 * the home (walk.h) sees it: what "boxlite-chainwalk --home" prints and
 * "--usage" sums. The GC sees the same overlays through the same walk
 * (gc-refs.h).
 *
 * home_scan() returns 0 with a HomeScan (sorted by path, or in the walk's order
 * with resolve_once, where each box's overlays are adjacent) also when parts of
 * the home could not be walked (errors[] says which, and why; a home that
 * never held still is one such error), or a negative errno: -ENOENT and the
 * like when the home itself cannot be opened, -ENOMEM.
 */

#include <stdbool.h>
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
        /* chain->stopped_at_known: the chain goes on as overlays[next_overlay]'s from layer next_layer */
        size_t next_overlay;
        size_t next_layer;
        unsigned unit;    /* the walk's unit (WalkOverlay.unit) */
        bool forgotten;   /* resolve_once: a unit the walk forgot; kept only as where other chains go on */
} HomeOverlay;

typedef struct HomeError {
        char *path;
        char *message;
        unsigned unit;
} HomeError;

typedef struct HomeScan {
        HomeOverlay *overlays;
        size_t n_overlays;
        HomeError *errors;
        size_t n_errors;
        unsigned passes;
} HomeScan;

/*
 * resolve_once: each backing name (with its declared format) is walked once; a later chain that reaches
 * it stops there and names where it goes on (HomeOverlay.next_*), as the GC's walk does. For sums;
 * printing wants whole chains.
 */
int home_scan(const char *home, const ChainOptions *chain_options, bool resolve_once, HomeScan *ret);
void home_scan_done(HomeScan *s);

void strv_free(char **l);
size_t strv_length(char *const *l);
