/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the files of the home's records share (home.c, home-layer.c, home-order.c). */

#include <pthread.h>
#include <stdbool.h>

#include "arena.h"
#include "chain.h"
#include "home.h"
#include "strset.h"

HomeFormat home_format_code(const char *f);
/* A copy of s in the arena (nothing for NULL); 0 or -ENOMEM. */
int home_dup(Arena *a, const char **dst, const char *s);
/*
 * The facts of a chain's layer that the views print or sum, its strings in the arena. The full
 * backing name is kept only where the next layer's filename (next_filename) is not the same. The
 * filename is left to the caller. 0 or -ENOMEM.
 */
int home_layer_from_chain(Arena *a, HomeLayer *l, const ChainLayer *c, const char *next_filename);

/*
 * The shared layers learnt so far, by filename (borrowed from the layer) -> that HomeLayer: one set
 * for every walker, so that a layer two workers reach is one record. A layer is learnt only once
 * its chain's records are complete (below and next set): from then on it is read, never written.
 */
typedef struct Known {
        pthread_mutex_t lock;
        StrSet set;
} Known;

#define KNOWN_INIT { .lock = PTHREAD_MUTEX_INITIALIZER, .set.borrow_keys = true }

void known_clear(Known *k);
/* The layer learnt for name, or NULL. */
HomeLayer *known_get(Known *k, const char *name);
/* Learns l by its filename (borrowed); the first layer of a name stays. 1, 0 or -ENOMEM. */
int known_put(Known *k, HomeLayer *l);

/* Sorts the records: see home_scan(). */
void home_scan_sort(HomeScan *s, bool sums_only);
