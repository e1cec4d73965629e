/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Clock helpers. CLOCK_MONOTONIC for durations and deadlines: it never jumps. */

#include <stdint.h>
#include <time.h>

static inline uint64_t now_monotonic_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static inline int64_t timespec_nsec(struct timespec ts) {
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The clock file timestamps are taken from: the kernel's current time as it
 * stamps a new inode (a new pipe's ctime), or CLOCK_REALTIME if that is
 * earlier. A process whose own clock runs ahead (a skewed container clock,
 * libfaketime) would otherwise make a fresh file look old; an earlier "now"
 * only ever makes callers more careful.
 */
int64_t now_file_clock_nsec(void);
