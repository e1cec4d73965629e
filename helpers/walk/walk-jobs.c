/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The walk of boxes/ by several workers (WalkOptions.jobs). The main walk
 * lists boxes/ and each worker, a Walk of its own (records, careful set,
 * callbacks' userdata, path buffer, fd budget), takes the next entry of that
 * listing until none is left. They share two things: the set of directories
 * walked in the pass, under a lock, so a directory that two workers reach (two
 * links to one box) is walked by one of them, as it is walked once by a single
 * walk; and boxes/ itself, whose record each worker copies (its own fd, a dup)
 * and the main walk alone verifies.
 *
 * The consistency argument is the single walk's, directory by directory: a
 * post-proven directory proves itself when its own walk ends (its times
 * predate the pass), a careful one is verified after the pass, and the pass
 * ends only when every worker has finished, so the workers' records are
 * verified with the main walk's, after all listing is done. A change a worker
 * sees stops the others and throws the pass away, as it would in one walk.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "walk-internal.h"

struct WalkShared {
        pthread_mutex_t lock;
        IdSet *seen;                 /* the main walk's */
        const WalkEntry *entries;
        size_t n_entries;
        size_t len;                  /* length of "<home>/boxes" in the paths */
        atomic_size_t next;
        atomic_bool stop;            /* a worker failed: the others stop taking entries */
};

typedef struct Worker {
        Walk *w;
        WalkShared *shared;
        int r;
} Worker;

/*
 * Runs fn(args + i * size) for i < n, each on a thread of its own, the first
 * on the calling thread; one whose thread cannot start runs on the calling
 * thread after the others (the work is taken from a shared queue, so it
 * finds what is left). Returns when all have.
 */
void walk_jobs_spawn(unsigned n, void *(*fn)(void *), void *args, size_t size) {
        pthread_t threads[WALK_JOBS_MAX];
        bool started[WALK_JOBS_MAX] = {};

        n = MIN(n, WALK_JOBS_MAX);
        for (unsigned i = 1; i < n; i++)
                started[i] = pthread_create(&threads[i], NULL, fn, (uint8_t *) args + i * size) == 0;
        (void) fn(args);
        for (unsigned i = 1; i < n; i++) {
                if (started[i])
                        (void) pthread_join(threads[i], NULL);
                else
                        (void) fn((uint8_t *) args + i * size);
        }
}

/*
 * A directory is walked once, by the unit that claims it first. A unit that
 * finds it claimed by another depends on that one: if it is forgotten, so is
 * this one (walk_units_settle()), since what it skipped was never walked.
 */
static int claim(Walk *w, IdSet *seen, FileId id) {
        unsigned holder = UINT_MAX;
        Walk *root = w->root;
        int r;

        r = idset_claim(seen, id.dev, id.ino, w->unit, walk_unit_released, root, &holder);
        if (r != 0 || holder == UINT_MAX || holder == w->unit || w->unit == UINT_MAX)
                return r;
        if (greedy_realloc(&root->deps, &root->allocated_deps, root->n_deps + 1, sizeof(root->deps[0]), 16) < 0)
                return -ENOMEM;
        root->deps[root->n_deps++] = (struct WalkDep) { w->unit, holder };
        return 0;
}

int walk_claim_dir(Walk *w, FileId id) {
        int r;

        if (!w->shared)
                return claim(w, &w->seen, id);
        pthread_mutex_lock(&w->shared->lock);
        r = claim(w, w->shared->seen, id);
        pthread_mutex_unlock(&w->shared->lock);
        return r;
}

/* A worker's pass starts where the main walk stands: inside boxes/ (record top_index), path "<home>/boxes". */
static int worker_begin(Walk *wk, Walk *w, size_t top_index, size_t len, WalkShared *shared) {
        const DirRecord *top = &w->dirs[top_index];
        DirRecord *d;

        walk_pass_done(wk);
        wk->shared = shared;
        wk->root = w;
        wk->unit = UINT_MAX;
        wk->racy_since = w->racy_since;
        wk->clock0 = w->clock0;
        wk->mono0 = w->mono0;
        wk->all_careful = w->all_careful;
        wk->part = WALK_PART_BOXES;
        idset_done(&wk->careful);
        if (idset_merge(&wk->careful, &w->careful) < 0)
                return -ENOMEM;

        if (greedy_realloc(&wk->dirs, &wk->allocated_dirs, 1, sizeof(DirRecord), 64) < 0)
                return -ENOMEM;
        d = &wk->dirs[0];
        *d = *top;
        d->first_file = UINT_MAX;
        d->name = strdup(top->name);
        d->fd = d->name ? fcntl(top->fd, F_DUPFD_CLOEXEC, 3) : -1;
        if (d->fd < 0) {
                d->name = mfree(d->name);
                return -errno ?: -ENOMEM;
        }
        wk->n_dirs = 1;
        wk->n_open = 1;

        if (len + 1 > wk->path_allocated) {
                char *p = realloc(wk->path, MAX(len + 1, (size_t) 256));

                if (!p)
                        return -ENOMEM;
                wk->path = p;
                wk->path_allocated = MAX(len + 1, (size_t) 256);
        }
        memcpy(wk->path, w->path, len);
        wk->path[len] = 0;
        memcpy(wk->ancestors, w->ancestors, sizeof(w->ancestors));
        wk->n_ancestors = w->n_ancestors;
        return 0;
}

static void *worker_run(void *userdata) {
        Worker *k = userdata;
        Walk *wk = k->w;
        WalkShared *sh = k->shared;
        int r = 0;

        while (!atomic_load(&sh->stop)) {
                size_t i = atomic_fetch_add(&sh->next, 1);

                if (i >= sh->n_entries)
                        break;
                r = walk_unit_entry(wk, wk->dirs[0].fd, 0, &sh->entries[i], sh->len, 0, /* top= */ true);
                if (r < 0) {
                        atomic_store(&sh->stop, true);
                        break;
                }
        }
        k->r = MIN(r, 0);
        return NULL;
}

int walk_jobs_run(Walk *w, size_t top_index, size_t len, const WalkEntry *entries, size_t n) {
        Worker *k;
        WalkShared sh = {
                .seen = &w->seen,
                .entries = entries,
                .n_entries = n,
                .len = len,
        };
        int r = 0;

        k = calloc(w->n_workers, sizeof(Worker));
        if (!k)
                return -ENOMEM;
        if (pthread_mutex_init(&sh.lock, NULL) != 0) {
                free(k);
                return -ENOMEM;
        }
        atomic_init(&sh.next, 0);
        atomic_init(&sh.stop, false);

        for (unsigned i = 0; i < w->n_workers && r >= 0; i++) {
                k[i] = (Worker) { .w = &w->workers[i], .shared = &sh };
                r = worker_begin(&w->workers[i], w, top_index, len, &sh);
        }
        if (r >= 0)
                walk_jobs_spawn(w->n_workers, worker_run, k, sizeof(Worker));

        for (unsigned i = 0; i < w->n_workers; i++) {
                Walk *wk = &w->workers[i];

                wk->shared = NULL;
                if (r >= 0 && k[i].r < 0)
                        r = k[i].r;
                if (wk->round_why && !w->round_why)
                        w->round_why = TAKE_PTR(wk->round_why);
                wk->round_why = mfree(wk->round_why);
                w->unproven = w->unproven || wk->unproven;
                if (r >= 0 && idset_merge(&w->careful, &wk->careful) < 0)
                        r = -ENOMEM;
        }
        pthread_mutex_destroy(&sh.lock);
        free(k);
        return r;
}

/* After the pass, with the main walk's: every worker's directories must still be what it listed. */
int walk_jobs_verify(Walk *w) {
        for (unsigned i = 0; i < w->n_workers; i++) {
                Walk *wk = &w->workers[i];
                int r;

                if (wk->n_dirs <= 1)
                        continue;
                r = walk_verify(wk);
                if (r < 0)
                        return r;
                if (wk->round_why && !w->round_why)
                        w->round_why = TAKE_PTR(wk->round_why);
                wk->round_why = mfree(wk->round_why);
        }
        return 0;
}

/*
 * One record list for the log, in the order one walk would have made it:
 * boxes/, the workers' box subtrees (each contiguous, in pre-order), then the
 * main walk's other records (bases/). Indices are renumbered, files follow
 * their directories, and each directory's file list is linked again.
 */
int walk_jobs_merge_records(Walk *w) {
        size_t n_extra = 0, n_extra_files = 0, off, foff;
        DirRecord *dirs;
        WalkFile *files;

        for (unsigned i = 0; i < w->n_workers; i++) {
                if (w->workers[i].n_dirs > 0)
                        n_extra += w->workers[i].n_dirs - 1;
                n_extra_files += w->workers[i].n_files;
        }
        if (n_extra == 0 && n_extra_files == 0)
                return 0;
        if (w->n_dirs == 0)
                return -EINVAL; /* workers walked, so boxes/ is record 0 */

        dirs = malloc((w->n_dirs + n_extra) * sizeof(DirRecord));
        files = malloc(MAX(w->n_files + n_extra_files, (size_t) 1) * sizeof(WalkFile));
        if (!dirs || !files) {
                free(dirs);
                free(files);
                return -ENOMEM;
        }

#define MAIN_INDEX(i) ((i) == 0 || (i) == UINT_MAX ? (i) : (unsigned) ((i) + n_extra))
        dirs[0] = w->dirs[0];
        for (size_t i = 1; i < w->n_dirs; i++) {
                dirs[i + n_extra] = w->dirs[i];
                dirs[i + n_extra].parent = MAIN_INDEX(w->dirs[i].parent);
        }
        for (size_t i = 0; i < w->n_files; i++) {
                files[i] = w->files[i];
                files[i].dir = MAIN_INDEX(w->files[i].dir);
        }
#undef MAIN_INDEX

        off = 1;
        foff = w->n_files;
        for (unsigned k = 0; k < w->n_workers; k++) {
                Walk *wk = &w->workers[k];

#define WORKER_INDEX(j) ((j) == 0 ? 0 : (unsigned) (off + (j) - 1))
                for (size_t j = 1; j < wk->n_dirs; j++) {
                        /* Its fd, if still open, is the main walk's to close now. */
                        w->n_open += wk->dirs[j].fd >= 0;
                        dirs[off + j - 1] = wk->dirs[j];
                        dirs[off + j - 1].parent = WORKER_INDEX(wk->dirs[j].parent);
                        wk->dirs[j] = (DirRecord) { .fd = -1 };
                }
                for (size_t j = 0; j < wk->n_files; j++) {
                        files[foff + j] = wk->files[j];
                        files[foff + j].dir = WORKER_INDEX(wk->files[j].dir);
                        wk->files[j].name = NULL;
                }
#undef WORKER_INDEX
                if (wk->n_dirs > 0) {
                        off += wk->n_dirs - 1;
                        wk->n_open = 1;
                        wk->n_dirs = 1;
                }
                foff += wk->n_files;
                wk->n_files = 0;
        }

        w->n_dirs += n_extra;
        w->n_files += n_extra_files;
        for (size_t i = 0; i < w->n_dirs; i++)
                dirs[i].first_file = UINT_MAX;
        for (size_t i = 0; i < w->n_files; i++) {
                files[i].next = dirs[files[i].dir].first_file;
                dirs[files[i].dir].first_file = (unsigned) i;
        }
        free(w->dirs);
        free(w->files);
        w->dirs = dirs;
        w->allocated_dirs = w->n_dirs;
        w->files = files;
        w->allocated_files = MAX(w->n_files, (size_t) 1);
        return 0;
}

int walk_jobs_init(Walk *w, unsigned jobs, void *const *userdata) {
        if (jobs <= 1)
                return 0;
        if (jobs > WALK_JOBS_MAX)
                return -EINVAL;
        w->workers = calloc(jobs, sizeof(Walk));
        if (!w->workers)
                return -ENOMEM;
        w->n_workers = jobs;
        for (unsigned i = 0; i < jobs; i++)
                w->workers[i] = (Walk) {
                        .o = w->o,
                        .cb = w->cb,
                        .userdata = userdata[i],
                        .home = w->home,
                        .home_fd = -1,
                        .fd_budget = MAX(w->fd_budget / (jobs + 1), (size_t) 16),
                        .borrowed_top = true,
                };
        for (unsigned i = 0; i < jobs; i++) {
                w->workers[i].home_fd = fcntl(w->home_fd, F_DUPFD_CLOEXEC, 3);
                if (w->workers[i].home_fd < 0)
                        return -errno;
        }
        return 0;
}

void walk_jobs_pass_done(Walk *w) {
        for (unsigned i = 0; i < w->n_workers; i++)
                walk_pass_done(&w->workers[i]);
}

void walk_jobs_done(Walk *w) {
        for (unsigned i = 0; i < w->n_workers; i++)
                walk_done(&w->workers[i]);
        w->workers = mfree(w->workers);
        w->n_workers = 0;
}
