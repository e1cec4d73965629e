/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What a home references: every file (and data file) that the backing chain
 * of any overlay under boxes/ or bases/ reaches, by identity (st_dev,
 * st_ino), collected over one consistent walk of the home (walk.h).
 *
 * gc_refs_collect() returns 0 with refs filled in, also when the home could
 * not be seen completely (then complete is false and errors say why: an
 * overlay that cannot be read or resolved, a directory or link that cannot be
 * followed, a home that never held still); a negative errno on OOM or when the
 * home itself cannot be opened.
 *
 * Each backing name is resolved once per walk: a name (with the format the
 * referring layer declares) that already ended a complete chain ends every
 * later chain that reaches it, since what lies below is pinned already.
 */

#include <stdbool.h>
#include <stddef.h>

#include "gc.h"
#include "idset.h"
#include "strset.h"
#include "walk.h"

typedef struct GcRefs {
        IdSet pinned;
        char **unresolved;   /* json:/protocol names, matched against candidate names */
        size_t n_unresolved;
        size_t n_overlays;
        bool complete;       /* every overlay walked to its end, every directory listed, the home held still */
        GcError *errors;
        size_t n_errors;
        unsigned passes;     /* walk passes, see walk.h */
        StrSet known;        /* "<declared format>\n<full backing name>" of names that ended a complete chain */
        char *key;           /* buffer for a key of known */
        size_t key_allocated;
} GcRefs;

int gc_refs_collect(const char *home, const WalkOptions *wo, GcRefs *ret);
void gc_refs_done(GcRefs *r);
bool gc_refs_pins(const GcRefs *r, dev_t dev, ino_t ino);
/* A json:/protocol name that mentions a file name may reference it. */
bool gc_refs_mention(const GcRefs *r, const char *name);

/* Appends {path, message} to an error list; takes the message (NULL: OOM). */
int gc_errors_add(GcError **errors, size_t *n, const char *path, char *message);
void gc_errors_free(GcError *errors, size_t n);
