/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* An error of a GC run or of its walk: the path it is about and what was wrong. */

#include <stddef.h>

typedef struct GcError {
        char *path;
        char *error;
        unsigned unit;       /* the walk's unit it was found in (WalkOverlay.unit); UINT_MAX none */
} GcError;

/* Appends {path, message} to an error list; takes the message (NULL: OOM). */
int gc_errors_add(GcError **errors, size_t *n, const char *path, char *message);
void gc_errors_free(GcError *errors, size_t n);
