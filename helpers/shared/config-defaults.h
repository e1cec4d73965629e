/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The defaults of what boxlite.conf sets for the domains: the admission
 * limits, which classify() judges by, and the GC's grace and workers. Kept
 * apart so that the configuration needs no domain's header.
 */

#include <stdint.h>

#define ADMIT_HARD_FLOOR_DEFAULT (UINT64_C(1) << 30)
#define ADMIT_SOFT_FLOOR_DEFAULT (UINT64_C(5) << 30)
#define ADMIT_SOFT_PERCENT_DEFAULT 10U
#define ADMIT_INODE_HARD_FLOOR_DEFAULT UINT64_C(10000)
#define ADMIT_INODE_SOFT_PERCENT_DEFAULT 5U
#define ADMIT_PROBE_TIMEOUT_DEFAULT_USEC (UINT64_C(2) * 1000000)
#define ADMIT_GC_TIMEOUT_DEFAULT_USEC (UINT64_C(10) * 1000000)

typedef struct AdmitLimits {
        uint64_t hard_floor_bytes;
        uint64_t soft_floor_bytes;
        unsigned soft_floor_percent;  /* 0..100 */
        uint64_t inode_hard_floor;
        unsigned inode_soft_percent;  /* 0..100 */
} AdmitLimits;

#define ADMIT_LIMITS_DEFAULT                                            \
        ((AdmitLimits) {                                                \
                .hard_floor_bytes = ADMIT_HARD_FLOOR_DEFAULT,           \
                .soft_floor_bytes = ADMIT_SOFT_FLOOR_DEFAULT,           \
                .soft_floor_percent = ADMIT_SOFT_PERCENT_DEFAULT,       \
                .inode_hard_floor = ADMIT_INODE_HARD_FLOOR_DEFAULT,     \
                .inode_soft_percent = ADMIT_INODE_SOFT_PERCENT_DEFAULT, \
        })

#define GC_GRACE_DEFAULT_USEC (UINT64_C(10) * 60 * 1000000)
#define GC_JOBS_MAX 16U          /* workers walking boxes/ at most */
#define GC_JOBS_AUTO_MAX 4U      /* the automatic choice: one per online CPU, up to this */
