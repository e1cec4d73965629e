/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The walk's records, shared by the walk (walk.c) and the recheck of its log (walk-recheck.c). */

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "idset.h"
#include "macro.h"
#include "strset.h"
#include "walk.h"

/* Listing buffer of one directory level; 32 KiB is what glibc's opendir() uses. */
#define WALK_DIR_BUF_SIZE (32U * 1024U)

/* A regular file the walk read (an overlay, or a file it read the magic of), for the log. */
typedef struct WalkFile {
        unsigned dir;        /* index of the directory that lists it */
        unsigned next;       /* the next file of that directory, UINT_MAX none */
        char *name;
        bool via_link;       /* a symbolic link to the file */
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
} WalkFile;

/*
 * An entry of boxes/ or bases/ as a listing of that top named it, and all that
 * was walked under it: the walk's unit of change. A change seen in it marks
 * it changed; the next round forgets it and walks its name again.
 */
typedef struct WalkUnit {
        uint64_t ino;
        uint32_t name;       /* offset of its name in the main walk's unit_names */
        uint32_t n_overlays;
        uint8_t type;
        uint8_t part;        /* WalkPart */
        /* Written by the worker walking the unit while others read live: a byte of its own. */
        bool changed;        /* this round saw a change in it (or a directory its times cannot prove) */
        bool mismatch;       /* its entry's inode was not the listed one, the name agreeing (walk.c) */
        bool live:1;         /* in the view; changed between rounds only */
        bool listed:1;       /* in the top's new listing (a round that lists the top again) */
        bool gone:1;         /* not in it: leaves the view */
        bool rewalk:1;       /* forgotten after a change: walked again by its name next round */
} WalkUnit;

/* What a directory looked like when it was listed; checked again after the pass. */
typedef struct DirRecord {
        int fd;              /* kept open until the pass is verified */
        unsigned parent;     /* index of the parent record; UINT_MAX for a top (boxes/, bases/) */
        unsigned unit;       /* the unit it belongs to; UINT_MAX for a top */
        char *name;          /* name in the parent (for a top: "boxes" or "bases") */
        bool via_link;       /* reached by following a symbolic link named name */
        bool racy;           /* times too recent to prove anything: list again */
        bool post;           /* not stat'ed before listing: proven by its times when its walk ends */
        bool local_times;    /* on a filesystem whose timestamps come from this host's clock */
        WalkPart part;
        unsigned first_file; /* the log: its first file (WalkFile), UINT_MAX none */
        dev_t dev;
        ino_t ino;
        nlink_t nlink;
        off_t size;
        struct timespec mtime, ctime;
        uint64_t hash;
        uint64_t n_entries;
} DirRecord;

/* An entry of boxes/, listed by the main walk and walked by one of the workers. */
typedef struct WalkEntry {
        char *name;
        uint64_t ino;
        unsigned char type;
        unsigned unit;
} WalkEntry;

typedef struct WalkShared WalkShared;

typedef struct Walk {
        const WalkOptions *o;
        const WalkCallbacks *cb;
        void *userdata;
        int home_fd;
        const char *home;

        DirRecord *dirs;
        size_t n_dirs, allocated_dirs;
        size_t n_dropped;                    /* post-proven records given back (not keep_log) */
        IdSet seen;                          /* directories walked, each claimed by its unit (idset_claim()) */
        struct Walk *root;                   /* the main walk (a worker's, or itself): it holds the units */
        WalkUnit *units;                     /* the main walk: every unit of the pass, by id */
        size_t n_units, allocated_units;
        char *unit_names;                    /* ... their names, NUL-terminated, one after the other */
        size_t n_unit_names, allocated_unit_names;
        unsigned unit;                       /* the unit being walked, UINT_MAX none */
        unsigned round;                      /* rounds of this pass, 1 the first */
        bool top_changed[_WALK_PART_MAX];    /* boxes/ or bases/ changed: listed again next round */
        bool restart;                        /* a top appeared, vanished or was replaced: the pass starts over */
        char *round_why;                     /* the first change this round saw */
        char *last_why;                      /* ... and the round before's */
        StrSet unit_index;                   /* "<part>/<name>" -> unit, of the live units (walk_unit_keep()) */
        bool unit_index_built;
        size_t n_rewalked;                   /* units walked in rounds after the first */
        struct WalkDep { unsigned unit, owner; } *deps; /* unit skipped a directory owner walked */
        size_t n_deps, allocated_deps;
        uint64_t hooks_fired;                /* test hooks (walk-hooks.c) that acted this round */
        FileId ancestors[WALK_MAX_DEPTH + 2];
        unsigned n_ancestors;
        bool top_absent[_WALK_PART_MAX];     /* boxes/ or bases/ did not exist */
        size_t n_box_entries;                /* entries of boxes/, the reserve not counted */
        dev_t home_dev;

        WalkPart part;
        size_t box_len;                      /* under boxes/: length of "<home>/boxes/<box>" in path */
        char *box;
        char *path;                          /* the entry being walked, see path_append() */
        size_t path_allocated;
        uint8_t *dir_buf[WALK_MAX_DEPTH + 2];/* one per depth: a parent's listing stays valid below it */

        size_t fd_budget;                    /* directory fds kept open at most (RLIMIT_NOFILE) */
        size_t n_open;
        struct timespec racy_since;          /* times at or after this are racy */
        char *changed;                       /* set: the unit being walked is abandoned, and why */

        IdSet careful;                       /* directories (parent's st_dev, listed d_ino) stat'ed before listing */
        bool all_careful;                    /* every directory is */
        bool unproven;                       /* a post-proven directory proved nothing: walk again, carefully */
        struct { dev_t dev; bool local; } fs_cache[8];  /* local_times() by device */
        unsigned n_fs_cache;

        WalkFile *files;                     /* the log (opts->keep_log): every regular file read */
        size_t n_files, allocated_files;
        int64_t clock0;                      /* file clock and monotonic clock when the pass began */
        uint64_t mono0;

        /* Workers (WalkOptions.jobs > 1): the main walk lists boxes/ and hands its entries out. */
        struct Walk *workers;                /* the main walk: one Walk per worker */
        unsigned n_workers;
        WalkShared *shared;                  /* a worker: the seen set and the queue of entries, shared */
        bool borrowed_top;                   /* a worker: record 0 is the main walk's boxes/ (fd not its own) */
} Walk;

struct WalkLog {
        char *home;
        DirRecord *dirs;
        size_t n_dirs;
        WalkFile *files;
        size_t n_files;
        bool top_absent[_WALK_PART_MAX];
        struct timespec racy_since;
        int64_t clock0;
        uint64_t mono0;
};

bool walk_local_times(Walk *w, int fd, dev_t dev);
/* walk.c, for the tops (walk-tops.c) and the check (walk-verify.c). */
uint64_t walk_entry_hash(const char *name, uint64_t ino, unsigned char type);
_printf_(2, 3) int walk_changed(Walk *w, const char *format, ...);
_printf_(3, 4) int walk_error(Walk *w, const char *path, const char *format, ...);
int walk_path_append(Walk *w, size_t len, const char *name, size_t *ret_len);
int walk_list_dir(Walk *w, size_t index, size_t len, unsigned depth, uint64_t *ret_hash, uint64_t *ret_n);
int walk_dir(Walk *w, int fd, const struct stat *known, FileId listed, unsigned parent, const char *name,
             bool via_link, size_t len, unsigned depth);
/* walk.c, for the workers (walk-jobs.c). */
int walk_listed_entry(Walk *w, int dir_fd, size_t dir_index, const WalkEntry *e, size_t len, unsigned depth);
int walk_unit_entry(Walk *w, int dir_fd, size_t dir_index, const WalkEntry *e, size_t len, unsigned depth, bool top);
int walk_claim_dir(Walk *w, FileId id);
void walk_pass_done(Walk *w);
void walk_done(Walk *w);
int walk_verify(Walk *w);
int walk_top(Walk *w, WalkPart part);
int walk_relist_top(Walk *w, WalkPart part);
void walk_unit_end(Walk *w);
int walk_note_change(Walk *w, unsigned unit, WalkPart part, const char *why);
int walk_unit_add(Walk *w, WalkPart part, const char *name, uint64_t ino, unsigned char type, unsigned *ret);
static inline const char *walk_unit_name(const Walk *w, unsigned unit) {
        return w->root->unit_names + w->root->units[unit].name;
}
bool walk_unit_released(unsigned unit, const void *userdata);
int walk_unit_keep(Walk *w, WalkPart part, const char *name, uint64_t ino, unsigned char type);
void walk_units_unlisted(Walk *w, WalkPart part, size_t first_new);
void walk_units_settle(Walk *w);
int walk_units_forget(Walk *w);
bool walk_top_mismatch(const Walk *w, WalkPart part);
void walk_units_done(Walk *w);
int walk_rewalk_units(Walk *w, WalkPart part);
void walk_test_hook(Walk *w, const char *point, const char *name);
/* walk-jobs.c: walks the listed entries of boxes/ (record top_index, path length len) with w's workers. */
int walk_jobs_init(Walk *w, unsigned jobs, void *const *userdata);
int walk_jobs_run(Walk *w, size_t top_index, size_t len, const WalkEntry *entries, size_t n);
int walk_jobs_verify(Walk *w);
int walk_jobs_merge_records(Walk *w);
void walk_jobs_pass_done(Walk *w);
void walk_jobs_spawn(unsigned n, void *(*fn)(void *), void *args, size_t size);
void walk_jobs_done(Walk *w);
int walk_file(Walk *w, int dir_fd, size_t dir_index, const char *name, bool via_link, int fd, const struct stat *st);
char *walk_record_path(const char *home, const DirRecord *dirs, size_t i, const char *leaf);
bool walk_clock_stepped_back(int64_t clock0, uint64_t mono0);
