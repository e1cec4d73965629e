/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Internals shared by the GC's modules: gc.c (the run), gc-delete.c (the
 * delete protocol) and gc-candidates.c (the scan of images/disk-images/ and
 * the judgement of each file). Not for the programs.
 *
 * A candidate's sidecar (<image>.digest, DESIGN.md section 1) travels inside
 * its GcEntry (GcEntry.sidecar): it is moved aside, put back, unlinked and
 * counted with its image. A sidecar whose image is gone is a candidate of its
 * own. gc_run() lists sidecars as entries of their own in its result.
 */

#include <stdbool.h>
#include <sys/stat.h>

#include "gc-refs.h"
#include "gc.h"
#include "macro.h"

#define GC_SIDECAR_SUFFIX ".digest"

typedef struct EntryList {
        GcEntry *v;
        size_t n, allocated;
} EntryList;

typedef struct Run {
        const GcOptions *o;
        GcResult *res;
        int dfd;
        char *images;
        EntryList kept, reclaimed;
        char **superseded;   /* aside files whose original name was re-created meanwhile */
        size_t n_superseded;
        int64_t now;         /* the file clock at the scan, for the grace window */
} Run;

void gc_entry_done(GcEntry *e);
int entry_list_push(EntryList *l, const GcEntry *e);
void entry_list_done(EntryList *l);
int entry_init(GcEntry *e, const char *images, const char *name, const struct statx *sx);
int entry_set_detail(GcEntry *e, const char *detail);
int gc_statx(int dfd, const char *name, struct statx *ret);
bool entry_same_file(const struct statx *sx, const GcEntry *e);
bool image_in_use(int dfd, const char *name);
bool gc_honour_test_hooks(void);

_printf_(3, 4) int run_error(Run *run, const char *path, const char *format, ...);
/* Records e as kept (with its sidecar), taking its contents. */
int run_keep(Run *run, GcEntry *e, GcKeepReason reason, const char *detail);
/* Counts e (and its sidecar) as reclaimed, taking its contents. */
int run_reclaimed(Run *run, GcEntry *e);

/* The aside name of an image or sidecar name; NULL on OOM. */
char *gc_aside_name(const char *name);
/* True for the names the GC itself makes: .boxlite-gc-<image>.ext4 and their sidecars. */
bool gc_is_aside_name(const char *name);
bool gc_is_candidate_name(const char *name);

/* Lists images/disk-images/: candidates (with their sidecars) into *ret, everything else kept. */
int gc_scan_candidates(Run *run, EntryList *ret);
/* Sorts candidates into kept and orphans; *ret_orphans are those eligible for deletion, in order. */
int gc_classify_candidates(Run *run, EntryList *cands, const GcRefs *refs, EntryList *ret_orphans);

/* The walk a run makes (gc.c): its options, and its errors moved into the run's result. */
WalkOptions gc_walk_options(const Run *run);
int gc_move_refs_errors(Run *run, GcRefs *refs);

/* The delete protocol (gc-delete.c), named after the steps of tests/model/gc.pml. */
int lock_images(int dfd, uint64_t timeout_usec);
int recover_aside(Run *run);
int reclaim_superseded(Run *run, const GcRefs *refs);
int move_aside(Run *run, EntryList *sel, EntryList *ret_moved);
int recheck_and_unlink(Run *run, const GcRefs *first, EntryList *moved);
