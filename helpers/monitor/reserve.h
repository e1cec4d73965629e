/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The recovery reserve (DESIGN.md section 10): a file of real, allocated
 * blocks named .boxlite-reserve in the home, and in boxes/ or images/ where
 * that part has a filesystem of its own (a distinct st_dev). Unlinking it on
 * a full disk gives the runtime and the operator room to work.
 *
 * Every access goes through a descriptor of the part's directory: the name
 * is never followed as a symlink (AT_SYMLINK_NOFOLLOW, O_NOFOLLOW), a reserve
 * that is not a regular file owned by the caller is reported as foreign and
 * left alone, and a new reserve is allocated under a temporary name
 * (fallocate(), then st_blocks checked, then fsync) and linked into place
 * only if nothing took the name meanwhile. A part directory reached through a
 * symlink (an operator moved boxes/) is used only when it belongs to the
 * owner of the home, so a symlink planted by another user cannot point the
 * reserve at a directory of theirs.
 *
 * Functions return 0 or a negative errno; they do not log.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define RESERVE_NAME ".boxlite-reserve"
#define RESERVE_MAX_PARTS 3U

typedef enum ReserveState {
        RESERVE_ABSENT,
        RESERVE_HELD,
        RESERVE_RELEASED, /* released by the monitor (or by this run) and not yet created again */
        RESERVE_FOREIGN,  /* something else has the name: reported, left alone */
        _RESERVE_STATE_MAX,
        _RESERVE_STATE_INVALID = -22,
} ReserveState;

/* "held", "released", "absent" (a foreign file is "absent": it is not our reserve). */
const char *reserve_state_to_string(ReserveState s);

typedef struct Reserve {
        const char *part;   /* "home", "boxes", "images" (static) */
        char *dir;          /* the directory that holds it */
        char *path;         /* dir/.boxlite-reserve */
        dev_t dev;
        ReserveState state;
        uint64_t bytes;     /* allocated bytes held, or freed when released */
        char *problem;      /* why it is foreign, or could not be created; NULL otherwise */
        bool released_now;  /* monitor_release_reserves() released it (it was held) */
} Reserve;

/* The home and each part with a filesystem of its own, with their current state. */
int reserve_list(const char *home, Reserve **ret, size_t *ret_n);
void reserve_list_free(Reserve *r, size_t n);

/* Reads the state of r again. */
int reserve_refresh(Reserve *r);

/*
 * Allocates size bytes at r->path unless a complete reserve is there.
 * -EEXIST when a foreign file has the name, -ENOSPC, -EOPNOTSUPP when the
 * filesystem does not allocate real blocks.
 */
int reserve_create(Reserve *r, uint64_t size);

/* Unlinks our reserve; sets r->bytes to what that freed. 0 also when there was none. */
int reserve_release(Reserve *r);
