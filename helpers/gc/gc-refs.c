/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chain.h"
#include "gc-refs.h"
#include "macro.h"
#include "qemu-path.h"

static void refs_layers_done(GcRefs *r) {
        for (size_t i = 0; i < r->n_layers; i++)
                free(r->layers[i].path);
        r->layers = mfree(r->layers);
        r->n_layers = r->allocated_layers = 0;
        strset_done(&r->layer_paths);
}

/* The pinned set and what explains it. */
static void refs_forget_pins(GcRefs *r) {
        idset_done(&r->pinned);
        for (size_t i = 0; i < r->n_unresolved; i++)
                free(r->unresolved[i]);
        r->unresolved = mfree(r->unresolved);
        r->n_unresolved = 0;
        gc_errors_free(r->errors, r->n_errors);
        r->errors = NULL;
        r->n_errors = 0;
}

/* Forgets everything a pass saw; the walk starts (again). */
static void refs_reset(GcRefs *r) {
        refs_layers_done(r);
        refs_forget_pins(r);
        r->n_overlays = 0;
        r->complete = true;
        strset_done(&r->known);
        r->key = mfree(r->key);
        r->key_allocated = 0;
}

void gc_refs_done(GcRefs *r) {
        refs_reset(r);
        walk_log_free(r->log);
        strv_freep(&r->mounts);
        *r = (GcRefs) {};
}

void gc_refs_keep_log_only(GcRefs *r) {
        refs_forget_pins(r);
        strset_done(&r->layer_paths);
}

/* Logs a file a chain reached by name, once per name. */
static int refs_log_layer(GcRefs *r, const char *path, bool present, bool read, dev_t dev, ino_t ino, off_t size,
                          struct timespec mtime, struct timespec ctime) {
        RefsLayer *l;
        int k;

        if (!r->keep_log)
                return 0;
        k = strset_add(&r->layer_paths, path, strlen(path));
        if (k <= 0)
                return k;
        if (greedy_realloc(&r->layers, &r->allocated_layers, r->n_layers + 1, sizeof(RefsLayer), 64) < 0)
                return -ENOMEM;
        l = r->layers;
        l[r->n_layers] = (RefsLayer) {
                .path = strdup(path),
                .present = present,
                .read = read,
                .dev = dev,
                .ino = ino,
                .size = size,
                .mtime = mtime,
                .ctime = ctime,
        };
        if (!l[r->n_layers].path)
                return -ENOMEM;
        r->n_layers++;
        return 0;
}

bool gc_refs_pins(const GcRefs *r, dev_t dev, ino_t ino) {
        return idset_contains(&r->pinned, dev, ino);
}

bool gc_refs_mention(const GcRefs *r, const char *name) {
        for (size_t i = 0; i < r->n_unresolved; i++)
                if (strstr(r->unresolved[i], name))
                        return true;
        return false;
}

_printf_(4, 5) static int refs_error(GcRefs *r, unsigned unit, const char *path, const char *format, ...) {
        va_list ap;
        char *s;
        int q;

        r->complete = false;
        va_start(ap, format);
        if (vasprintf(&s, format, ap) < 0)
                s = NULL;
        va_end(ap);
        q = gc_errors_add(&r->errors, &r->n_errors, path, s);
        if (q >= 0)
                r->errors[r->n_errors - 1].unit = unit;
        return q;
}

/*
 * The walk forgot a unit (it changed, or left boxes/): its errors are void.
 * Its pins stay: a pin the view no longer needs keeps an image one run
 * longer, which is safe; the walk counts the overlays of its view itself.
 */
static int refs_forget(unsigned unit, void *userdata) {
        GcRefs *r = userdata;
        size_t k = 0;

        for (size_t i = 0; i < r->n_errors; i++) {
                if (r->errors[i].unit == unit) {
                        free(r->errors[i].path);
                        free(r->errors[i].error);
                        continue;
                }
                r->errors[k++] = r->errors[i];
        }
        r->n_errors = k;
        r->complete = k == 0;
        return 0;
}

static int refs_add_unresolved(GcRefs *r, const char *name) {
        char **u = realloc(r->unresolved, (r->n_unresolved + 1) * sizeof(char *));

        if (!u)
                return -ENOMEM;
        r->unresolved = u;
        u[r->n_unresolved] = strdup(name);
        if (!u[r->n_unresolved])
                return -ENOMEM;
        r->n_unresolved++;
        return 0;
}

static bool refs_known(const char *name, const char *declared_format, void *userdata) {
        GcRefs *r = userdata;
        const char *k;
        size_t len;

        k = chain_name_key(&r->key, &r->key_allocated, name, declared_format, &len);
        return k && strset_contains(&r->known, k, len);
}

/*
 * Pins every layer of a chain; the overlay itself (layer 0) only where it
 * could be a candidate: a candidate is a name in the image directory, and an
 * overlay whose one name is the one the walk listed, in another directory,
 * has no name there. (A hard link made there later frees nothing when the
 * GC removes it: the overlay keeps its name in the box.)
 */
static bool overlay_could_be_candidate(const GcRefs *r, const WalkOverlay *o) {
        if (r->images.ino == 0)
                return true;
        return o->via_link || o->st->st_nlink != 1 || (o->dir_dev == r->images.dev && o->dir_ino == r->images.ino);
}

static int refs_pin_chain(GcRefs *r, const Chain *c, bool pin_overlay) {
        int k;

        for (size_t i = 0; i < c->n_layers; i++) {
                const ChainLayer *l = &c->layers[i];
                const char *backing = l->hdr.backing_file ? path_strip_file_protocol(l->hdr.backing_file) : NULL;

                k = i > 0 || pin_overlay ? idset_add(&r->pinned, l->dev, l->ino) : 0;
                if (k < 0)
                        return k;
                /* Layer 0 is the overlay, which the walk's log holds. */
                if (i > 0) {
                        k = refs_log_layer(r, l->path, true, !(l->format && streq(l->format, "raw")), l->dev, l->ino,
                                           (off_t) l->file_size, l->mtime, l->ctime);
                        if (k < 0)
                                return k;
                }
                if (l->data_file_path) {
                        k = idset_add(&r->pinned, l->data_dev, l->data_ino);
                        if (k >= 0)
                                k = refs_log_layer(r, l->data_file_path, true, false, l->data_dev, l->data_ino, 0,
                                                   (struct timespec) {}, (struct timespec) {});
                        if (k < 0)
                                return k;
                }

                /*
                 * QEMU resolves a relative "file:" name against its working directory, which the GC
                 * cannot know; pin the name relative to the image's directory too.
                 */
                if (backing && backing[0] != '/') {
                        _cleanup_free_ char *alt = path_combine(l->filename, backing);
                        struct stat st;

                        if (!alt)
                                return -ENOMEM;
                        if (stat(alt, &st) >= 0) {
                                k = idset_add(&r->pinned, st.st_dev, st.st_ino);
                                if (k < 0)
                                        return k;
                        } else
                                st = (struct stat) {};
                        k = refs_log_layer(r, alt, st.st_ino != 0, false, st.st_dev, st.st_ino, 0, (struct timespec) {},
                                           (struct timespec) {});
                        if (k < 0)
                                return k;
                }
        }
        return 0;
}

/* Every backing layer of a complete chain ends a complete chain itself. */
static int refs_learn_chain(GcRefs *r, const Chain *c) {
        for (size_t i = 1; i < c->n_layers; i++) {
                const char *k;
                size_t len;
                int q;

                k = chain_name_key(&r->key, &r->key_allocated, c->layers[i].filename, chain_declared_format(c, i),
                                   &len);
                if (!k)
                        return -ENOMEM;
                q = strset_add(&r->known, k, len);
                if (q < 0)
                        return q;
        }
        return 0;
}

static int refs_begin(unsigned pass, void *userdata) {
        GcRefs *r = userdata;

        refs_reset(r);
        r->passes = pass;
        return 0;
}

static int refs_overlay(const WalkOverlay *o, void *userdata) {
        _cleanup_(chain_freep) Chain *c = NULL;
        GcRefs *r = userdata;
        ChainOptions co = {
                .reader = QCOW_READER_BUILTIN,
                .known = refs_known,
                .userdata = r,
        };
        int q;

        r->n_overlays++;
        q = chain_walk_fd(o->fd, o->st, o->path, &co, &c);
        if (q < 0)
                return q;
        q = refs_pin_chain(r, c, overlay_could_be_candidate(r, o));
        if (q < 0)
                return q;

        if (!chain_complete(c)) {
                if (c->error == CHAIN_NOT_LOCAL) {
                        q = refs_add_unresolved(r, c->error_filename);
                        if (q < 0)
                                return q;
                }
                return refs_error(r, o->unit, o->path, "backing chain incomplete (%s): %s", chain_error_to_string(c->error),
                                  c->error_reason);
        }
        return refs_learn_chain(r, c);
}

static int refs_walk_error(const char *path, const char *message, unsigned unit, void *userdata) {
        return refs_error(userdata, unit, path, "%s", message);
}

/* Appends m elements of size bytes at src to the array *dst of *n; the source's owner gives them up. */
static int array_append(void *dst, size_t *n, size_t *allocated, const void *src, size_t m, size_t size) {
        if (m == 0)
                return 0;
        if (greedy_realloc(dst, allocated, *n + m, size, 1) < 0)
                return -ENOMEM;
        memcpy((uint8_t *) *(void **) dst + *n * size, src, m * size);
        *n += m;
        return 0;
}

/* Moves what a worker's walk found into r. */
static int refs_merge(GcRefs *r, GcRefs *w) {
        size_t allocated;

        /* unresolved and errors grow one at a time elsewhere: their allocation is their length. */
        allocated = r->n_unresolved;
        if (idset_merge(&r->pinned, &w->pinned) < 0 ||
            array_append(&r->unresolved, &r->n_unresolved, &allocated, w->unresolved, w->n_unresolved,
                         sizeof(char *)) < 0)
                return -ENOMEM;
        w->n_unresolved = 0;
        allocated = r->n_errors;
        if (array_append(&r->errors, &r->n_errors, &allocated, w->errors, w->n_errors, sizeof(GcError)) < 0)
                return -ENOMEM;
        w->n_errors = 0;
        if (array_append(&r->layers, &r->n_layers, &r->allocated_layers, w->layers, w->n_layers,
                         sizeof(RefsLayer)) < 0)
                return -ENOMEM;
        w->n_layers = 0;
        r->n_overlays += w->n_overlays;
        r->complete = r->complete && w->complete;
        return 0;
}

/* n workers' GcRefs like proto, and the userdata array that hands them to the walk; n <= 1: none. */
static int refs_workers_new(unsigned n, const GcRefs *proto, GcRefs **ret, void ***ret_userdata) {
        GcRefs *v;
        void **u;

        *ret = NULL;
        *ret_userdata = NULL;
        if (n <= 1)
                return 0;
        v = calloc(n, sizeof(GcRefs));
        u = calloc(n, sizeof(void *));
        if (!v || !u) {
                free(v);
                free(u);
                return -ENOMEM;
        }
        for (unsigned i = 0; i < n; i++) {
                v[i] = (GcRefs) { .complete = true, .keep_log = proto->keep_log, .images = proto->images };
                u[i] = &v[i];
        }
        *ret = v;
        *ret_userdata = u;
        return 0;
}

/* Merges the workers into r (unless q already failed) and frees them; returns q or the merge's error. */
static int refs_workers_merge(GcRefs *r, GcRefs *v, void **u, unsigned n, int q) {
        for (unsigned i = 0; v && i < n; i++) {
                if (q >= 0) {
                        int k = refs_merge(r, &v[i]);
                        if (k < 0)
                                q = k;
                }
                gc_refs_done(&v[i]);
        }
        free(v);
        free(u);
        return q;
}

static int cmp_error(const void *a, const void *b) {
        const GcError *x = a, *y = b;
        int c = strcmp(x->path, y->path);

        return c != 0 ? c : strcmp(strempty(x->error), strempty(y->error));
}

int gc_refs_collect(const char *home, FileId images, const WalkOptions *wo, GcRefs *ret) {
        static const WalkCallbacks callbacks = {
                .begin = refs_begin,
                .overlay = refs_overlay,
                .error = refs_walk_error,
                .forget = refs_forget,
        };
        GcRefs r = { .complete = true, .keep_log = wo && wo->keep_log, .images = images };
        WalkOptions o = wo ? *wo : (WalkOptions) {};
        GcRefs *workers;
        void **userdata;
        WalkStats stats = {};
        int q;

        /* With workers, each keeps its own pinned set and name cache; they are merged after the walk. */
        q = refs_workers_new(o.jobs, &r, &workers, &userdata);
        if (q < 0)
                return q;
        o.worker_userdata = userdata;
        q = home_walk(home, &o, &callbacks, &r, &stats);
        q = refs_workers_merge(&r, workers, userdata, o.jobs, q);
        r.log = TAKE_PTR(stats.log);
        r.n_boxes = stats.n_boxes;
        r.n_overlays = stats.n_overlays;
        r.rounds = stats.rounds;
        r.n_rewalked = stats.n_rewalked;
        r.mounts = TAKE_PTR(stats.mounts);
        if (q == -EAGAIN) {
                q = refs_error(&r, UINT_MAX, home,
                               "the home never held still: it was still changing after %u rounds of walking "
                               "again what changed, within %u pass(es) (the last change: %s)",
                               stats.rounds, stats.passes, strna(stats.unstable));
                r.passes = stats.passes;
        }
        walk_stats_done(&stats);
        /* The names only serve the walk that learnt them. */
        strset_done(&r.known);
        r.key = mfree(r.key);
        r.key_allocated = 0;
        if (q < 0) {
                gc_refs_done(&r);
                return q;
        }
        /* In path order, however many workers found them. */
        if (r.n_errors > 1)
                qsort(r.errors, r.n_errors, sizeof(GcError), cmp_error);
        *ret = r;
        return 0;
}

/* A layer named by a chain must still resolve to the file it did; a qcow layer must be unchanged too. */
static bool layer_holds(const RefsLayer *l, struct timespec racy_since) {
        struct stat st;

        if (stat(l->path, &st) < 0)
                return !l->present && errno == ENOENT;
        if (!l->present || st.st_dev != l->dev || st.st_ino != l->ino)
                return false;
        if (!l->read)
                return true;
        return st.st_size == l->size && walk_ts_eq(st.st_mtim, l->mtime) && walk_ts_eq(st.st_ctim, l->ctime) &&
               !walk_ts_ge(st.st_mtim, racy_since) && !walk_ts_ge(st.st_ctim, racy_since);
}

int gc_refs_recheck(const char *home, const GcRefs *first, const WalkOptions *wo, GcRefs *ret, GcRecheck *ret_recheck) {
        static const WalkCallbacks callbacks = {
                .overlay = refs_overlay,
                .error = refs_walk_error,
        };
        GcRecheck rc = {};
        GcRefs r = { .complete = true, .passes = 1, .images = first->images };
        WalkOptions full = wo ? *wo : (WalkOptions) {};
        int q = WALK_CHANGED;

        full.keep_log = false;
        if (!first->log)
                rc.why = strdup("the first walk kept no log");
        else {
                struct timespec racy_since = walk_log_racy_since(first->log);

                for (size_t i = 0; i < first->n_layers && !rc.why; i++)
                        if (!layer_holds(&first->layers[i], racy_since) &&
                            asprintf(&rc.why, "'%s' changed since the first walk, or its times are too recent to "
                                     "prove it did not", first->layers[i].path) < 0)
                                return -ENOMEM;
        }
        if (!rc.why) {
                GcRefs *workers;
                void **userdata;

                q = refs_workers_new(full.jobs, &r, &workers, &userdata);
                if (q < 0)
                        return q;
                q = walk_log_recheck(first->log, &callbacks, &r, userdata, full.jobs, &rc.reread, &rc.why);
                q = refs_workers_merge(&r, workers, userdata, full.jobs, q);
                if (q < 0) {
                        gc_refs_done(&r);
                        free(rc.why);
                        return q;
                }
        }
        if (q == WALK_CHANGED) {
                gc_refs_done(&r);
                rc.walked = true;
                q = gc_refs_collect(home, first->images, &full, &r);
                if (q < 0) {
                        free(rc.why);
                        return q;
                }
        }
        strset_done(&r.known);
        r.key = mfree(r.key);
        r.key_allocated = 0;
        if (r.n_errors > 1)
                qsort(r.errors, r.n_errors, sizeof(GcError), cmp_error);
        *ret = r;
        *ret_recheck = rc;
        return 0;
}
