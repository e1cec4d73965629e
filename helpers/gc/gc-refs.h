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

#include "gc-error.h"
#include "idset.h"
#include "strset.h"
#include "walk.h"

/* A file a chain reached by name (a backing layer, a data file, a relative-name alternative), for the recheck. */
typedef struct RefsLayer {
        char *path;
        bool present;        /* the name resolved (alternatives may not) */
        bool read;           /* a qcow layer whose header was read: its times must prove it unchanged */
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
} RefsLayer;

typedef struct GcRefs {
        FileId images;       /* the image directory ((0, 0): unknown, every overlay is pinned too) */
        IdSet pinned;
        char **unresolved;   /* json:/protocol names, matched against candidate names */
        size_t n_unresolved;
        size_t n_overlays;
        bool complete;       /* every overlay walked to its end, every directory listed, the home held still */
        bool keep_log;
        GcError *errors;
        size_t n_errors;
        unsigned passes;     /* walk passes, see walk.h */
        size_t n_boxes;      /* entries of boxes/ the accepted walk listed (WalkStats.n_boxes) */
        unsigned rounds;     /* rounds of the accepted pass (WalkStats.rounds) */
        size_t n_rewalked;   /* units it walked again */
        char **mounts;       /* the mount points it crossed (WalkStats.mounts), NULL-terminated */
        StrSet known;        /* "<declared format>\n<full backing name>" of names that ended a complete chain */
        char *key;           /* buffer for a key of known */
        size_t key_allocated;

        /* With WalkOptions.keep_log: what the walk saw, for gc_refs_recheck(). */
        WalkLog *log;
        RefsLayer *layers;
        size_t n_layers, allocated_layers;
        StrSet layer_paths;
} GcRefs;

/* The outcome of gc_refs_recheck(). */
typedef struct GcRecheck {
        bool walked;         /* the log did not hold: the home was walked again in full */
        size_t reread;       /* files read again (their times could not prove them unchanged) */
        char *why;           /* walked: what did not hold */
} GcRecheck;

/* images: the image directory's identity, or (0, 0) when unknown. */
int gc_refs_collect(const char *home, FileId images, const WalkOptions *wo, GcRefs *ret);
void gc_refs_done(GcRefs *r);
/* Forgets the pinned set, keeps what a recheck needs. */
void gc_refs_keep_log_only(GcRefs *r);
/*
 * The second look of a deleting run: the first walk's log rechecked (every
 * layer a chain reached by name stat'ed again, then walk_log_recheck()); a
 * file that changed is read again, and ret pins what those reads reach. If
 * the log does not hold, the home is walked again in full (gc_refs_collect()).
 */
int gc_refs_recheck(const char *home, const GcRefs *first, const WalkOptions *wo, GcRefs *ret, GcRecheck *ret_recheck);
bool gc_refs_pins(const GcRefs *r, dev_t dev, ino_t ino);
/* A json:/protocol name that mentions a file name may reference it. */
bool gc_refs_mention(const GcRefs *r, const char *name);
