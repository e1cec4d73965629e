/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One admission decision (DESIGN.md sections 4 and 5): probe the home's
 * filesystem, classify, optionally run the GC in-process and judge again,
 * and record the result in the journal.
 *
 * admission_decide() returns 0 with a Decision (also when free space could
 * not be read: that is a warn verdict, never an error), or -ENOMEM. It does
 * not log; admission_log() writes the one structured entry per decision.
 */

#include <stdbool.h>
#include <stdint.h>

#include "classify.h"
#include "gc.h"

typedef struct Judgement {
        Verdict verdict;
        AdmitLimit limit;
        char *reason;
        bool readable;       /* false: the probe failed (probe_error), verdict is warn */
        int probe_error;     /* negative errno */
        SpaceInfo space;
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
        int gc_error;        /* negative errno when the GC could not start */
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
} AdmitRequest;

int admission_judge(const AdmitLimits *limits, const char *home, uint64_t probe_timeout_usec, Judgement *ret);
void judgement_done(Judgement *j);

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
