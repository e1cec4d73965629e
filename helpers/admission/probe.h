/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The free-space probe of a home (DESIGN.md section 4): the home, boxes/ and
 * images/, symlinks followed, each distinct filesystem (st_dev) read once.
 *
 * Everything that touches the paths (stat, statvfs, and the look-up of the
 * mount source in /proc/self/mountinfo) runs in one child process
 * (child.h), so a filesystem that never answers costs the caller at most the
 * timeout. The child answers one record per part, in the order of HomePart,
 * as soon as it has it: after a timeout, the first part without a record is
 * the one that did not answer.
 *
 * home_probe_start() starts the child (for event loops, which read its fd and
 * call home_probe_parse() at end of file or at their deadline);
 * home_probe_run() starts, waits at most timeout_usec and parses. Both return
 * 0 or a negative errno for a probe that could not run at all; a probe that
 * timed out is 0 with HomeProbe.timed_out set.
 *
 * After the parts, the child checks the mounts of the home (mounts.h: fstab
 * and the GC's memory, neither stat'ing a mount) and answers that too.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "classify.h"

typedef enum HomePart {
        HOME_PART_HOME,
        HOME_PART_BOXES,
        HOME_PART_IMAGES,
        _HOME_PART_MAX,
        _HOME_PART_INVALID = -22,
} HomePart;

/* "home", "boxes/", "images/" */
const char *home_part_to_string(HomePart p);

typedef struct PartProbe {
        bool answered;      /* false: the child did not get this far */
        bool absent;        /* boxes/ or images/ does not exist (no symlink either): not judged */
        int error;          /* negative errno of stat() or statvfs(), or 0 */
        bool stat_failed;   /* error came from stat() */
        uint64_t dev;
        int same_as;        /* an earlier part on the same filesystem, or -1 */
        SpaceInfo space;
        char *source;       /* mount source from mountinfo, or NULL */
        char *mount_point;  /* likewise */
} PartProbe;

typedef struct HomeProbe {
        char *path[_HOME_PART_MAX];
        PartProbe part[_HOME_PART_MAX];
        bool timed_out;
        bool mounts_checked;  /* the child answered the check of the mounts */
        bool mounts_missing;  /* ... a mount is missing: mounts_why names it */
        int mounts_error;     /* ... it could not tell (negative errno): mounts_why says why */
        char *mounts_why;
} HomeProbe;

void home_probe_done(HomeProbe *p);

/* Bound on one probe's answer (three records with two mountinfo strings each). */
#define HOME_PROBE_MAX_BYTES (UINT64_C(1) << 20)

int home_probe_start(const char *home, pid_t *ret_pid, int *ret_fd);
int home_probe_parse(const char *home, const void *data, size_t size, bool timed_out, HomeProbe *ret);
int home_probe_run(const char *home, uint64_t timeout_usec, HomeProbe *ret);
