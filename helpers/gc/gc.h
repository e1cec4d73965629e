/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The disk-image garbage collector (DESIGN.md section 3).
 *
 * gc_run() deletes regular, single-named-or-not, non-hidden *.ext4 files
 * directly in <home>/images/disk-images/ that no backing chain of any
 * overlay under <home>/boxes/ or <home>/bases/ references, compared by
 * (st_dev, st_ino), with their <name>.digest sidecars; a sidecar whose image
 * is gone goes once out of grace. The references come from one consistent
 * walk of the home (walk.h, gc-refs.h). It fails closed: when any overlay
 * cannot be read or resolved completely, a directory or link cannot be
 * followed, or the home never held still, every candidate is kept (reason
 * "unsafe") and GcResult.fail_closed is set. So it does when a file system
 * fstab declares in the home, or one a clean run crossed, is not mounted
 * (mounts.h), and when boxes/ holds no box unless allow_no_boxes says that
 * is real: a disk that is not mounted looks exactly like an empty one.
 *
 * Deletion is two-phase: orphans are renamed aside to a hidden name in the
 * same directory, the home is looked at again (the first walk's log
 * rechecked, gc_refs_recheck(); walked again in full where it does not
 * hold), anything that became referenced (or anything at all, if that look
 * is not clean) is put back, and only then are the aside files unlinked. A run first recovers
 * aside files a crashed run left behind by putting them back. Real runs of
 * one home exclude each other with flock() on the image directory (a second
 * run would take the first one's aside files for a crashed run's), waiting
 * up to lock_timeout_usec, then failing with -EBUSY; dry runs take no lock.
 *
 * gc_run() returns 0 with a result (even when it kept everything), or a
 * negative errno when the home's image directory cannot be opened; it never
 * logs (gc_result_log() does, for the binaries).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config-defaults.h"
#include "gc-error.h"

#define GC_LOCK_TIMEOUT_DEFAULT_USEC (UINT64_C(60) * 1000000)
#define GC_ASIDE_PREFIX ".boxlite-gc-"
#define GC_MAX_FILES 1000000U

typedef enum GcKeepReason {
        GC_KEEP_PINNED,     /* referenced by a backing chain (or in use by a running VM) */
        GC_KEEP_GRACE,      /* changed within the grace window, or dated in the future */
        GC_KEEP_NOT_EXT4,   /* not a candidate: not a regular *.ext4 file, hidden, symlink, directory */
        GC_KEEP_UNSAFE,     /* the run could not see every reference, or the file changed under it */
        GC_KEEP_TARGET_MET, /* --target-free was reached before this one */
        GC_KEEP_NOT_IN_PLAN,/* --apply-plan: not in the plan, or changed since */
        _GC_KEEP_REASON_MAX,
        _GC_KEEP_REASON_INVALID = -22,
} GcKeepReason;

const char *gc_keep_reason_to_string(GcKeepReason r);

typedef struct GcEntry {
        struct GcEntry *sidecar;  /* the image's <name>.digest, moved and counted with it (or NULL) */
        char *path;
        const char *name;         /* file name in images/disk-images/: the end of path */
        char *detail;             /* kept entries: why, in words (may be NULL) */
        GcKeepReason reason;      /* kept entries */
        bool is_sidecar;          /* this entry is a sidecar (listed after its image, or alone) */
        bool counted;             /* a candidate: counted in the byte accounting */
        dev_t dev;
        ino_t ino;
        nlink_t nlink;
        uint64_t size;            /* st_size */
        uint64_t allocated;       /* st_blocks * 512 */
        int64_t mtime_nsec;
        int64_t newest_nsec;      /* newest of mtime, ctime, birth time */
        int64_t lru_nsec;         /* atime, or mtime where atime is older */
} GcEntry;

/* What deleting the entry frees: nothing when other hard links keep the inode. */
static inline uint64_t gc_entry_freed_bytes(const GcEntry *e) {
        return e->nlink == 1 ? e->size : 0;
}
static inline uint64_t gc_entry_freed_allocated(const GcEntry *e) {
        return e->nlink == 1 ? e->allocated : 0;
}

typedef struct GcPlanEntry {
        char *path;
        const char *name;   /* the file name: the part of path after its last '/' */
        size_t index;       /* position in the plan file (orders entries of one name) */
        dev_t dev;
        ino_t ino;
        uint64_t size;
        int64_t mtime_nsec;
} GcPlanEntry;

typedef struct GcOptions {
        const char *home;
        uint64_t grace_usec;
        bool dry_run;
        uint64_t target_free; /* 0: reclaim every eligible orphan */
        const GcPlanEntry *plan;
        size_t n_plan;
        bool use_plan;
        uint64_t lock_timeout_usec; /* real runs wait this long for another run to finish (0: 60 s) */
        unsigned jobs;              /* workers walking boxes/ (0: one per online CPU, up to GC_JOBS_AUTO_MAX) */
        bool allow_no_boxes;        /* a home without a box is real: collect it (else keep everything) */
        bool forget_mounts;         /* the remembered mount points are not checked, and forgotten (mounts.h) */
        /* Test hooks, honoured only in builds with -Dtest-hooks=true. */
        bool test_no_grace;
        bool test_no_recheck;
        bool test_kill_after_aside;
        bool test_no_consistency;   /* the walk trusts what it listed (walk.h) */
        bool test_all_careful;      /* the walk stats every directory before listing it (walk.h) */
        const char *test_churn;     /* renames at fixed points of the walk (WalkOptions.test_churn) */
        bool test_no_time_bound;    /* the walk's rounds bounded by their number only */
} GcOptions;

typedef struct GcResult {
        char *home;
        bool dry_run;
        GcEntry *reclaimed;
        size_t n_reclaimed;
        GcEntry *kept;
        size_t n_kept;
        GcError *errors;
        size_t n_errors;
        size_t n_restored;          /* aside files of an earlier run put back */
        size_t n_put_back;          /* orphans put back after the second walk */
        size_t n_overlays;
        unsigned walk_passes;       /* passes of the (first) walk; more than one: the home moved */
        unsigned walk_rounds;       /* rounds of its accepted pass: more than one, what changed was walked again */
        size_t walk_rewalked;       /* entries of boxes/ and bases/ walked again */
        bool rechecked;             /* a deleting run took its second look */
        bool recheck_walked;        /* ... by walking the home again in full (the first walk's log did not hold) */
        size_t recheck_reread;      /* ... files it read again (their times could not prove them unchanged) */
        char *recheck_why;          /* recheck_walked: why */
        bool fail_closed;
        bool mount_missing;         /* ... because a mount declared or remembered for the home is missing */
        bool no_boxes;              /* ... because boxes/ held no box and that was not allowed */
        int remember_error;         /* the mount points crossed could not be remembered: negative errno */
        uint64_t reclaimed_bytes;
        uint64_t reclaimed_allocated;
        uint64_t available_before;  /* f_bavail * f_frsize of the home */
        uint64_t available_after;   /* estimate: before + freed allocated bytes */
        uint64_t target_free;
        uint64_t duration_usec;
        uint64_t finished_realtime_usec;
} GcResult;

void gc_options_from_env(GcOptions *o);
/* The workers a run uses: jobs, or for 0 one per online CPU up to GC_JOBS_AUTO_MAX; at most GC_JOBS_MAX. */
unsigned gc_jobs(unsigned jobs);
int gc_run(const GcOptions *o, GcResult **ret);
GcResult *gc_result_free(GcResult *r);
static inline void gc_result_freep(GcResult **r) {
        if (*r)
                *r = gc_result_free(*r);
}
static inline bool gc_result_ok(const GcResult *r) {
        return !r->fail_closed && r->n_errors == 0;
}

/* Journal/stderr records: one per reclaimed image, one per error, one summary. */
void gc_result_log(const GcResult *r);

/*
 * Writes the Prometheus textfile atomically (temp file, fsync, rename).
 * -EEXIST when something other than a regular file is at path (a symlink, a
 * device, ...): that is never replaced.
 */
int gc_write_metrics(const GcResult *r, const char *path);

/*
 * Reads the reclaimed[] entries of a saved "boxlite-gc --dry-run --json"
 * report: a regular file of at most 256 MiB (opened without blocking). The
 * entries come back sorted by file name, then by their order in the file,
 * for gc_plan_find().
 */
int gc_plan_load(const char *path, GcPlanEntry **ret, size_t *ret_n, char **ret_reason);
void gc_plan_free(GcPlanEntry *p, size_t n);
/* The first entry of a loaded plan whose file name is name, or NULL: a binary search. */
const GcPlanEntry *gc_plan_find(const GcPlanEntry *plan, size_t n, const char *name);
