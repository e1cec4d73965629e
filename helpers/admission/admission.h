/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One admission decision (DESIGN.md sections 4 and 5): probe every filesystem
 * a box writes to (the home, boxes/ and images/, probe.h), classify each,
 * take the worst, optionally run the GC under a deadline and judge again, and
 * record the result in the journal.
 *
 * admission_judge_probe() is pure: it turns a HomeProbe into a Judgement.
 * Each distinct filesystem is one FsJudgement; the Judgement's own verdict,
 * limit, space and readable flag are the worst one's (reject > warn > ok, the
 * earlier part on a tie), and its reason names that part when more than one
 * filesystem was judged ("boxes/ on /dev/sdb1: 300 MiB available of ...").
 * A filesystem that reports no size (0 blocks: /proc, /sys) is unreadable
 * with probe_error -EMEDIUMTYPE: a warn, and not a home (the D-Bus service
 * answers InvalidHome for it).
 *
 * The GC under admission runs in a child process (child.h) killed at
 * AdmitRequest.gc_timeout_usec; it targets the filesystem of images/, the
 * only one it frees, and is skipped (with a reason) when that filesystem is
 * not short. A GC killed mid-run may leave images aside under
 * images/disk-images/.boxlite-gc-*; the next GC run puts them back.
 *
 * admission_decide() returns 0 with a Decision (also when free space could
 * not be read: that is a warn verdict, never an error), or -ENOMEM. It does
 * not log; admission_log() writes the one structured entry per decision.
 */

#include <stdbool.h>
#include <stdint.h>

#include "classify.h"
#include "gc.h"
#include "probe.h"

typedef struct FsJudgement {
        HomePart part;       /* the first part on this filesystem */
        unsigned parts;      /* every part on it: 1 << HomePart */
        char *path;          /* that part's path */
        char *source;        /* mount source (or mount point), NULL when unknown */
        Verdict verdict;
        AdmitLimit limit;
        char *reason;        /* about this filesystem alone */
        bool readable;
        int probe_error;
        SpaceInfo space;
} FsJudgement;

typedef struct Judgement {
        Verdict verdict;
        AdmitLimit limit;
        char *reason;
        bool readable;       /* false: the probe failed (probe_error), verdict is warn */
        int probe_error;     /* negative errno */
        SpaceInfo space;
        HomePart part;       /* the part whose filesystem decided */
        FsJudgement *filesystems;
        size_t n_filesystems;
        size_t worst;        /* index into filesystems */
} Judgement;

typedef struct Decision {
        char *home;
        char *box;           /* may be NULL */
        char *unit;          /* may be NULL */
        AdmitLimits limits;
        Judgement final;     /* what decides */
        bool gc_ran;
        Judgement first;     /* before the GC, when it ran */
        uint64_t gc_target_free;
        GcResult *gc;        /* NULL if the GC did not run or could not start */
        int gc_error;        /* negative errno when the GC could not start; -ETIMEDOUT past the deadline */
        uint64_t gc_timeout_usec;
        char *gc_skipped;    /* why the GC did not run although the verdict was not ok, or NULL */
        uint64_t realtime_usec;
} Decision;

typedef struct AdmitRequest {
        const char *home;
        const char *box;
        const char *unit;
        AdmitLimits limits;
        uint64_t probe_timeout_usec;
        bool gc_on_pressure;
        uint64_t gc_grace_usec;
        unsigned gc_jobs;            /* [GC] Jobs= (0: automatic) */
        bool gc_allow_no_boxes;      /* [GC] AllowNoBoxes= */
        uint64_t gc_timeout_usec;    /* 0: ADMIT_GC_TIMEOUT_DEFAULT_USEC */
} AdmitRequest;

int admission_judge_probe(const AdmitLimits *limits, const HomeProbe *probe, uint64_t probe_timeout_usec,
                          Judgement *ret);
int admission_judge(const AdmitLimits *limits, const char *home, uint64_t probe_timeout_usec, Judgement *ret);
void judgement_done(Judgement *j);
int judgement_copy(const Judgement *j, Judgement *ret);

/*
 * gc_run() in a child killed after timeout_usec (-ETIMEDOUT): a hung mount under the home costs at most
 * that. The child syncs the filesystem of images (a path) after deleting, so statvfs sees what it freed.
 * The result carries what the reports need (paths, reasons, bytes), not file identities.
 */
int admission_gc_run_bounded(const GcOptions *o, const char *images, uint64_t timeout_usec, GcResult **ret);

int admission_decide(const AdmitRequest *req, Decision **ret);
Decision *decision_free(Decision *d);
static inline void decision_freep(Decision **d) {
        if (*d)
                *d = decision_free(*d);
}

/* Exit status of a one-shot run: 0 for ok and warn, ADMIT_EXIT_REJECT for reject. */
#define ADMIT_EXIT_REJECT 75 /* EX_TEMPFAIL */
int decision_exit_status(const Decision *d);

void admission_log(const Decision *d);
