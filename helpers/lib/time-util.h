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
