/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Admission verdicts (DESIGN.md section 4).
 *
 * classify() is pure: it judges a SpaceInfo against AdmitLimits and never
 * touches the system. Bytes and inodes are judged the same way:
 *
 *   reject  available bytes < hard_floor_bytes, or (when the filesystem
 *           reports an inode limit) available inodes < inode_hard_floor;
 *   warn    available bytes < soft_floor_bytes, or < soft_floor_percent of
 *           total bytes, or available inodes < inode_soft_percent of total;
 *   ok      otherwise.
 *
 * Percentages only ever warn. Every test is "available < limit" with limits
 * fixed for a given filesystem, so the verdict never gets stricter as free
 * space rises (monotonic). A soft floor below the hard floor simply leaves no
 * warn band.
 *
 * space_probe() reads statvfs() in a child process bounded by a timeout, so a
 * dead hard-mounted network home cannot hang a box start. It returns 0 or a
 * negative errno (-ETIMEDOUT when the child did not answer in time).
 */

#include <stdbool.h>
#include <stdint.h>

#include "config-defaults.h"

typedef enum Verdict {
        VERDICT_OK,
        VERDICT_WARN,
        VERDICT_REJECT,
        _VERDICT_MAX,
        _VERDICT_INVALID = -22,
} Verdict;

/* The limit that decided a verdict. */
typedef enum AdmitLimit {
        ADMIT_LIMIT_NONE,          /* ok: every limit met */
        ADMIT_LIMIT_HARD_FLOOR,
        ADMIT_LIMIT_INODE_HARD_FLOOR,
        ADMIT_LIMIT_SOFT_FLOOR,
        ADMIT_LIMIT_SOFT_PERCENT,
        ADMIT_LIMIT_INODE_SOFT_PERCENT,
        ADMIT_LIMIT_UNREADABLE,    /* free space could not be read: warn, never block */
        ADMIT_LIMIT_MOUNT_MISSING, /* a mount fstab declares or a clean GC run crossed is missing: reject */
        _ADMIT_LIMIT_MAX,
        _ADMIT_LIMIT_INVALID = -22,
} AdmitLimit;

typedef struct SpaceInfo {
        uint64_t available_bytes;   /* f_bavail * f_frsize */
        uint64_t total_bytes;       /* f_blocks * f_frsize */
        uint64_t inodes_available;  /* f_favail */
        uint64_t inodes_total;      /* f_files; 0: no inode limit, judged on bytes alone */
} SpaceInfo;

const char *verdict_to_string(Verdict v);
Verdict verdict_from_string(const char *s);
const char *admit_limit_to_string(AdmitLimit l);

Verdict classify(const AdmitLimits *limits, const SpaceInfo *space, AdmitLimit *ret_limit);

/* A sentence naming the values and the limit that decided; NULL on OOM. */
char *classify_reason(const AdmitLimits *limits, const SpaceInfo *space, AdmitLimit limit);

/*
 * Free bytes at which classify() gives ok for this filesystem's total: the
 * larger of the soft floor and the soft percentage of total (rounded up).
 */
uint64_t classify_ok_bytes(const AdmitLimits *limits, uint64_t total_bytes);

/* Fills *ret from struct statvfs values, overflow-checked (saturating). */
void space_info_from_statvfs(SpaceInfo *ret, uint64_t bavail, uint64_t blocks, uint64_t frsize, uint64_t bsize,
                             uint64_t favail, uint64_t files);

int space_probe(const char *path, uint64_t timeout_usec, SpaceInfo *ret);
