/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The one walk of a boxlite home (DESIGN.md sections 1 and 3): every overlay
 * under <home>/boxes/ and <home>/bases/. The GC's pinned set,
 * "boxlite-chainwalk --home" and "--usage" all see a home through it.
 *
 * What it visits:
 *   - under boxes/, every regular file named *.qcow2 or *.qcow, and any other
 *     regular file that starts with the qcow magic (a box may keep overlays
 *     under other names); under bases/, files named like qcow images;
 *   - hidden entries too (boxes/.tmpXXXXXX is a clone being staged), except
 *     the monitor's reserve file (.boxlite-reserve);
 *   - symbolic links are followed anywhere, absolute or relative, to
 *     directories and to files, boxes/ and bases/ included. A link that cannot
 *     be followed (dangling, permission, ELOOP) is an error, never "nothing":
 *     the caller fails closed. A directory reached again through one of its
 *     own descendants is a loop (an error); a directory reached twice by other
 *     names (two links to one box) is walked once.
 *
 * Consistency: a pass counts only if nothing it listed changed while it ran.
 *   1. Each directory is fstat'ed before it is listed, and the listing is
 *      hashed (names, inode numbers, types).
 *   2. Every entry is opened relative to the listed directory's fd, and the
 *      inode opened must be the one the listing named: an entry that vanished,
 *      changed type or was replaced (renameat2(RENAME_EXCHANGE)) ends the pass.
 *   3. Directory fds stay open (up to a budget below RLIMIT_NOFILE, beyond
 *      which a finished directory is opened again by name from its parent,
 *      itself proven unchanged); after the pass each directory is fstat'ed
 *      again and must be unchanged (inode, size, link count, mtime, ctime).
 *      A directory whose times lie within WALK_RACY_WINDOW_NSEC of the pass's
 *      start is "racy": a change in the same timestamp tick leaves its times
 *      equal, so it is also listed again and its hash must be equal. Symbolic
 *      links to directories are followed again and must reach the same
 *      directory.
 *   4. On a filesystem that stamps changes with this host's clock (ext4, xfs,
 *      btrfs, tmpfs, ...; not a network filesystem), a directory below a top
 *      is not stat'ed before it is listed: it is proven when its own walk
 *      ends, by one fstat(): it must be the inode the listing named, and its
 *      mtime and ctime must predate the pass by the racy window. Then it held
 *      still from before the pass began until then, as every directory so
 *      proven did, so the pass saw them all as they were when it began; such
 *      a directory gives its fd back at once and is not checked again. One
 *      that proves nothing (too recent, another inode, a mount point) is
 *      stat'ed before listing, as in 1-3, when the pass is walked again; that
 *      pass does not count against WALK_MAX_PASSES, but after
 *      WALK_MAX_UNPROVEN such passes, or if the file clock stepped back while
 *      a pass ran, every directory is. (tests/model: walk-post-proof-*.)
 *
 * Rounds (walk-units.c, walk-tops.c): every entry of boxes/ and bases/ is a
 * unit, and what the walk finds (records, overlays, errors) belongs to the
 * unit it was found under. A change these checks see marks only its unit
 * changed (boxes/ or bases/ themselves: their top), and the round goes on.
 * At the round's end the changed units are forgotten (cb->forget: the caller
 * drops what it got for them) and the next round walks again only them: a
 * top that changed is listed again, its entries that are units of the view
 * with the same name, inode and type kept, every other entry walked as a new
 * unit, units it no longer lists forgotten; a top that held has its changed
 * units walked again by name. Rounds after the first stat every directory
 * before listing it, and each round's end checks every careful directory of
 * the view again. The first round that sees no change is the view. At most
 * WALK_MAX_ROUNDS rounds, and none begun after WALK_ROUNDS_TIME_FACTOR times
 * the first round's time (at least WALK_ROUNDS_MIN_USEC): then home_walk()
 * returns -EAGAIN (a home that never holds still; WalkStats.unstable names
 * the last change) and the caller fails closed. A top that appeared,
 * vanished or was replaced, a file clock that stepped back, or a caller
 * without a forget callback throws the whole pass away instead (the begin
 * callback tells the caller to forget it), at most WALK_MAX_PASSES times.
 *
 * Workers (WalkOptions.jobs > 1, walk-jobs.c): boxes/ is listed by the
 * calling thread and its entries are walked by that many workers, threads
 * that each have their own records and callbacks' userdata
 * (WalkOptions.worker_userdata[i]; the begin callback is called for each),
 * sharing only the set of directories walked, so each directory is still
 * walked once. The pass ends when all have finished, and every record is
 * checked as above; bases/ is walked by the calling thread after them. The
 * log of a pass (keep_log) is one list, in the order one walk would make.
 *
 * Errors that are about the home, not the race (a directory that cannot be
 * listed, a link that cannot be followed, a loop, the depth limit) go to the
 * error callback and the walk goes on: the caller decides (the GC keeps).
 *
 * home_walk() returns 0 after a consistent round, -EAGAIN as above, a callback's
 * negative errno, or -ENOMEM. A home directory that does not exist is -ENOENT;
 * a home without boxes/ or bases/ walks as empty.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define WALK_MAX_PASSES 4U
#define WALK_MAX_ROUNDS 64U
#define WALK_ROUNDS_TIME_FACTOR 8U
#define WALK_ROUNDS_MIN_USEC (UINT64_C(100) * 1000)
#define WALK_JOBS_MAX 16U
#define WALK_MAX_UNPROVEN 2U
#define WALK_MAX_DEPTH 16U
#define WALK_MAX_DIRS 1000000U
#define WALK_RACY_WINDOW_NSEC (INT64_C(2) * 1000000000)
#define WALK_RESERVE_NAME ".boxlite-reserve"

typedef enum WalkPart {
        WALK_PART_BOXES,
        WALK_PART_BASES,
        _WALK_PART_MAX,
        _WALK_PART_INVALID = -22,
} WalkPart;

const char *walk_part_to_string(WalkPart p);

typedef struct WalkOverlay {
        const char *path;   /* as walked from the home, through links by their names */
        int dir_fd;         /* the directory that lists it */
        dev_t dir_dev;      /* ... and its identity */
        ino_t dir_ino;
        const char *name;   /* its name in dir_fd */
        bool via_link;      /* name is a symbolic link to the file */
        WalkPart part;
        const char *box;    /* under boxes/: the box (first component); NULL under bases/ */
        unsigned unit;      /* the entry of boxes/ or bases/ it is under (WalkCallbacks.forget) */
        dev_t dev;          /* the listed file (after following a link) */
        ino_t ino;
        int fd;             /* open O_RDONLY on it; the callback reads, never closes it */
        const struct stat *st;
} WalkOverlay;

/*
 * The overlay callback returns 0 to go on, WALK_CHANGED when the overlay was
 * not the file the listing named (vanished or replaced: the pass is thrown
 * away), or a negative errno to abort the walk.
 */
#define WALK_CHANGED 1

typedef struct WalkLog WalkLog;

typedef struct WalkCallbacks {
        int (*begin)(unsigned pass, void *userdata);
        int (*overlay)(const WalkOverlay *o, void *userdata);
        /* unit: as WalkOverlay.unit; UINT_MAX for boxes/ or bases/ themselves */
        int (*error)(const char *path, const char *message, unsigned unit, void *userdata);
        /*
         * The view no longer holds this unit (it changed, or left its top's listing): what overlay
         * and error reported for it is void. Called for the main and every worker's userdata. A
         * walk without it starts the pass over on any change.
         */
        int (*forget)(unsigned unit, void *userdata);
} WalkCallbacks;

typedef struct WalkOptions {
        unsigned max_passes;        /* 0: WALK_MAX_PASSES */
        bool test_no_consistency;   /* test hook: today's walk (a vanished entry is nothing, no checks) */
        bool test_all_careful;      /* test hook: stat every directory before listing it (no post-proof) */
        bool keep_log;              /* hand out the accepted pass's records (WalkStats.log) for a recheck */
        size_t test_fd_budget;      /* test hook: directory fds kept open at most (0: from RLIMIT_NOFILE) */
        unsigned jobs;              /* > 1: boxes/ is walked by this many workers (threads), see below */
        void *const *worker_userdata; /* jobs > 1: each worker's callbacks get worker_userdata[i] */
        const char *test_churn;     /* test hook: renames at fixed points of the walk (walk-hooks.c) */
        bool test_no_time_bound;    /* test hook: rounds bounded by WALK_MAX_ROUNDS only */
} WalkOptions;

typedef struct WalkStats {
        unsigned passes;            /* passes run, the consistent one included */
        unsigned rounds;            /* rounds of the consistent pass: 1 + re-walks of what changed */
        size_t n_rewalked;          /* units walked again (changed, or new in a top's new listing) */
        size_t n_overlays;          /* overlays in the accepted view */
        size_t n_dirs;              /* directories of the consistent pass */
        size_t n_racy;              /* of those, listed again because their times were too recent */
        size_t n_post;              /* of those, proven by their times after the pass (not stat'ed before) */
        unsigned n_unproven;        /* passes walked again because a post-proven directory proved nothing */
        size_t n_boxes;             /* entries of boxes/ in the accepted view (the reserve not counted) */
        char **mounts;              /* NULL-terminated: directories of the accepted view on another device
                                     * than the directory (or home) above them, boxes/ and bases/ included */
        WalkLog *log;               /* keep_log: what the accepted pass saw */
        char *unstable;             /* -EAGAIN: what changed in the last pass */
} WalkStats;

int home_walk(const char *home, const WalkOptions *opts, const WalkCallbacks *cb, void *userdata,
              WalkStats *ret_stats);

/*
 * The recheck of a logged pass (the GC's second look, after it moved orphans
 * aside). Every directory is stat'ed again (through O_PATH descriptors, one
 * lookup each) and must be what the pass saw: the same inode, size, link
 * count, mtime and ctime, on a filesystem with local times, with times that
 * predate the pass by the racy window (a change in the tick of the first look
 * leaves times equal; this rule counts it as a change). Every file the pass
 * read is stat'ed by name: one proven the same way is not read again; any
 * other is opened and handed to cb->overlay like in a walk (or read for the
 * qcow magic first), so an overlay rewritten in place is read as it is now.
 * Returns 0 when the log held; WALK_CHANGED (with *ret_why) when a directory,
 * a link or the clock changed, and the caller walks the home again in full;
 * a callback's negative errno or -ENOMEM. With n_workers > 1 (and
 * worker_userdata), the boxes under boxes/ are rechecked by that many
 * threads, each file read again handed to its worker's userdata.
 */
int walk_log_recheck(const WalkLog *log, const WalkCallbacks *cb, void *userdata, void *const *worker_userdata,
                     unsigned n_workers, size_t *ret_reread, char **ret_why);
WalkLog *walk_log_free(WalkLog *log);
/* Times at or after this could be a change in the tick of the logged pass. */
struct timespec walk_log_racy_since(const WalkLog *log);
bool walk_ts_ge(struct timespec a, struct timespec b);
bool walk_ts_eq(struct timespec a, struct timespec b);
void walk_stats_done(WalkStats *s);
