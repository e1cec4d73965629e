/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The walk's records, shared by the walk (walk.c) and the recheck of its log (walk-recheck.c). */

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "idset.h"
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

/* What a directory looked like when it was listed; checked again after the pass. */
typedef struct DirRecord {
        int fd;              /* kept open until the pass is verified */
        unsigned parent;     /* index of the parent record; UINT_MAX for a top (boxes/, bases/) */
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
        IdSet seen;                          /* directories walked in this pass */
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
        char *changed;                       /* set: the pass is thrown away, and why */

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
/* walk.c, for the workers (walk-jobs.c). */
int walk_listed_entry(Walk *w, int dir_fd, size_t dir_index, const WalkEntry *e, size_t len, unsigned depth);
int walk_claim_dir(Walk *w, FileId id);
void walk_pass_done(Walk *w);
void walk_done(Walk *w);
int walk_verify(Walk *w);
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
