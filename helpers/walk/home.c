/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "home-internal.h"
#include "macro.h"
#include "strset.h"

/* One walker's records: the main thread's, or a worker's. */
typedef struct Scan {
        HomeScan s;
        size_t allocated_units, allocated_errors;
        const ChainOptions *chain_options;
        bool sums_only;
        Known *known;           /* the main walker's, shared by the workers */
        HomeLayer *stop;        /* the known layer the last chain stopped before */
        StrSet names;           /* the overlays' names below their units, each kept once (in the arena) */
} Scan;

/* What a unit holds outside the arena. */
static void unit_done(HomeUnit *u) {
        free(u->overlays);
}

static void error_done(HomeError *e) {
        free(e->path);
        free(e->message);
}

static void scan_reset(HomeScan *s) {
        for (size_t i = 0; i < s->n_units; i++)
                unit_done(&s->units[i]);
        s->units = mfree(s->units);
        s->n_units = 0;
        for (size_t i = 0; i < s->n_errors; i++)
                error_done(&s->errors[i]);
        s->errors = mfree(s->errors);
        s->n_errors = 0;
        arena_done(&s->arena);
}

void home_scan_done(HomeScan *s) {
        scan_reset(s);
        for (size_t p = 0; p < _WALK_PART_MAX; p++)
                free(s->prefix[p]);
        free(s->path);
        *s = (HomeScan) {};
}

static int scan_begin(unsigned pass, void *userdata) {
        Scan *sc = userdata;

        scan_reset(&sc->s);
        sc->allocated_units = sc->allocated_errors = 0;
        /* Every walker's begin runs before the pass does: the set is empty when it starts. */
        known_clear(sc->known);
        strset_done(&sc->names);
        sc->s.passes = pass;
        return 0;
}

/*
 * A name is known with the format declared for it when it was learnt: a name reached with another
 * declared format (or one the records keep no code for) is walked in full.
 */
static bool scan_known(const char *name, const char *declared_format, void *userdata) {
        Scan *sc = userdata;
        HomeFormat f = home_format_code(declared_format);
        HomeLayer *l;

        if (f == HOME_FORMAT_OTHER)
                return false;
        l = known_get(sc->known, name);
        if (!l || l->declared != f)
                return false;
        sc->stop = l;
        return true;
}

/* The part of path below <home>/<part>/, or NULL when path is not under it. */
static const char *part_relative(const HomeScan *s, WalkPart part, const char *path) {
        const char *prefix = part >= 0 && part < _WALK_PART_MAX ? s->prefix[part] : NULL;
        size_t n = prefix ? strlen(prefix) : 0;

        return prefix && strncmp(path, prefix, n) == 0 && path[n] ? path + n : NULL;
}

static HomeUnit *scan_unit(Scan *sc, const WalkOverlay *o) {
        HomeScan *s = &sc->s;
        const char *rel;
        HomeUnit *u;

        if (s->n_units > 0 && s->units[s->n_units - 1].unit == o->unit && s->units[s->n_units - 1].part == o->part)
                return &s->units[s->n_units - 1];
        if (greedy_realloc(&s->units, &sc->allocated_units, s->n_units + 1, sizeof(HomeUnit), 64) < 0)
                return NULL;
        u = &s->units[s->n_units++];
        *u = (HomeUnit) { .part = o->part, .unit = o->unit };
        rel = part_relative(s, o->part, o->path);
        if (rel) {
                u->entry = arena_strndup(&s->arena, rel, strcspn(rel, "/"));
                if (!u->entry)
                        return NULL;
        }
        if (o->box) {
                u->box = u->entry && streq(u->entry, o->box) ? u->entry : arena_strdup(&s->arena, o->box);
                if (!u->box)
                        return NULL;
        }
        return u;
}

/* The filename of the layer below layer i of c, where the records will have one. */
static const char *next_filename(const Scan *sc, const Chain *c, size_t i) {
        if (i + 1 < c->n_layers)
                return c->layers[i + 1].filename;
        return c->stopped_at_known && sc->stop ? sc->stop->filename : NULL;
}

/* The backing layers of c (1 and on) as shared records, each chained to the one below; learnt if complete. */
static int scan_add_layers(Scan *sc, const Chain *c, HomeLayer *top) {
        HomeScan *s = &sc->s;
        HomeLayer *above = top;

        for (size_t i = 1; i < c->n_layers; i++) {
                HomeLayer *l = arena_alloc(&s->arena, sizeof(HomeLayer));

                if (!l)
                        return -ENOMEM;
                if (home_layer_from_chain(&s->arena, l, &c->layers[i], next_filename(sc, c, i)) < 0 ||
                    !(l->filename = arena_strdup(&s->arena, c->layers[i].filename)))
                        return -ENOMEM;
                l->declared = home_format_code(chain_declared_format(c, i));
                above->next = l;
                above = l;
        }
        if (c->stopped_at_known)
                above->next = sc->stop;
        /* The depths, from the top down. */
        size_t total = c->n_layers + (c->stopped_at_known && sc->stop ? sc->stop->below : 0);
        above = top;
        for (size_t i = 0; i < c->n_layers; i++, above = above->next)
                above->below = (uint16_t) MIN(total - i, (size_t) UINT16_MAX);
        /* Now complete, the layers of a complete chain are learnt. */
        if (!chain_complete(c))
                return 0;
        above = top->next;
        for (size_t i = 1; i < c->n_layers && i <= 0xffff; i++, above = above->next)
                if (above->declared != HOME_FORMAT_OTHER && known_put(sc->known, above) < 0)
                        return -ENOMEM;
        return 0;
}

static bool path_is_live(const char *path, WalkPart part) {
        /* The layers a VM writes: <box>/disks/<name>, not snapshots or bases. */
        const char *slash = strrchr(path, '/');

        return part == WALK_PART_BOXES && slash && slash - path >= 6 && strncmp(slash - 6, "/disks", 6) == 0;
}

/* An overlay's name in the records: its path below its unit's directory, or its whole path. */
static int scan_name(Scan *sc, const HomeUnit *u, HomeOverlay *h, const char *path) {
        const char *rel = u ? part_relative(&sc->s, u->part, path) : NULL;
        size_t n = u && u->entry ? strlen(u->entry) : 0;

        uint64_t v;

        if (!rel || n == 0 || strncmp(rel, u->entry, n) != 0 || (rel[n] != '/' && rel[n] != 0)) {
                h->top.whole_path = true;
                h->top.filename = arena_strdup(&sc->s.arena, path);
                return h->top.filename ? 0 : -ENOMEM;
        }
        /* Boxes hold the same few names (disks/disk.qcow2): one copy each. */
        path = rel + n + (rel[n] == '/');
        if (strset_get(&sc->names, path, strlen(path), &v)) {
                h->top.filename = (const char *) (uintptr_t) v;
                return 0;
        }
        h->top.filename = arena_strdup(&sc->s.arena, path);
        if (!h->top.filename ||
            strset_put(&sc->names, h->top.filename, strlen(h->top.filename), (uint64_t) (uintptr_t) h->top.filename) < 0)
                return -ENOMEM;
        return 0;
}

/* What an overlay's walked chain is, as compact records. */
static int scan_record(Scan *sc, const HomeUnit *u, HomeOverlay *h, const Chain *c, const char *path) {
        HomeLayer stat_only = h->top;
        Arena *a = &sc->s.arena;
        int r;

        if (c->n_layers > 0) {
                r = home_layer_from_chain(a, &h->top, &c->layers[0], next_filename(sc, c, 0));
                if (r >= 0)
                        r = scan_add_layers(sc, c, &h->top);
                if (r < 0)
                        return r;
        }
        h->top.live = stat_only.live;
        h->top.linked = stat_only.linked;
        if (!chain_complete(c)) {
                h->error = arena_alloc0(a, sizeof(HomeChainError));
                if (!h->error || home_dup(a, &h->error->filename, c->error_filename) < 0 ||
                    home_dup(a, &h->error->reason, c->error_reason) < 0)
                        return -ENOMEM;
                h->error->kind = c->error;
        }
        if (!sc->sums_only || !u || u->part == WALK_PART_BASES || h->error)
                return scan_name(sc, u, h, path);
        return 0;
}

const char *home_overlay_path(HomeScan *s, const HomeUnit *u, const HomeOverlay *o) {
        const char *prefix = u->part >= 0 && u->part < _WALK_PART_MAX ? s->prefix[u->part] : NULL;
        size_t pl, el, nl;

        if (!o->top.filename)
                return NULL;
        if (o->top.whole_path || !prefix || !u->entry)
                return o->top.filename;
        pl = strlen(prefix);
        el = strlen(u->entry);
        nl = strlen(o->top.filename);
        if (greedy_realloc(&s->path, &s->path_allocated, pl + el + 1 + nl + 1, 1, 256) < 0)
                return NULL;
        memcpy(s->path, prefix, pl);
        memcpy(s->path + pl, u->entry, el);
        s->path[pl + el] = 0;
        if (nl > 0) {
                s->path[pl + el] = '/';
                memcpy(s->path + pl + el + 1, o->top.filename, nl + 1);
        }
        return s->path;
}

/* Hands out the records (r >= 0) or frees them; returns r. */
static int scan_finish(Scan *sc, int r, HomeScan *ret) {
        known_clear(sc->known);
        strset_done(&sc->names);
        if (r < 0) {
                home_scan_done(&sc->s);
                return r;
        }
        *ret = sc->s;
        return 0;
}

static HomeOverlay *unit_add_overlay(HomeUnit *u) {
        size_t allocated;

        if (!u || u->n_overlays == UINT32_MAX)
                return NULL;
        allocated = u->allocated;
        if (greedy_realloc(&u->overlays, &allocated, (size_t) u->n_overlays + 1, sizeof(HomeOverlay), 2) < 0)
                return NULL;
        u->allocated = (uint32_t) MIN(allocated, (size_t) UINT32_MAX);
        u->overlays[u->n_overlays] = (HomeOverlay) {};
        return &u->overlays[u->n_overlays++];
}

static int scan_overlay(const WalkOverlay *o, void *userdata) {
        Scan *sc = userdata;
        _cleanup_(chain_freep) Chain *c = NULL;
        ChainOptions co = *sc->chain_options;
        unsigned max_depth = co.max_depth ?: CHAIN_MAX_DEPTH_DEFAULT;
        HomeUnit *u;
        HomeOverlay *h;
        int r;

        u = scan_unit(sc, o);
        h = unit_add_overlay(u);
        if (!h)
                return -ENOMEM;
        h->top = (HomeLayer) {
                .dev = o->st->st_dev,
                .ino = o->st->st_ino,
                .actual_size = (uint64_t) o->st->st_blocks * 512,
                .live = path_is_live(o->path, o->part),
                .linked = o->via_link || o->st->st_nlink > 1,
        };

        co.known = scan_known;
        co.userdata = sc;
        sc->stop = NULL;
        r = chain_walk_fd(o->fd, o->st, o->path, &co, &c);
        /* A chain that goes on in a known one may pass the depth limit there: walked in full, it says so. */
        if (r >= 0 && c->stopped_at_known && sc->stop && c->n_layers + sc->stop->below >= max_depth) {
                c = chain_free(c);
                r = chain_walk_fd(o->fd, o->st, o->path, sc->chain_options, &c);
        }
        if (r < 0)
                return r;
        return scan_record(sc, u, h, c, o->path);
}

int home_scan_image(const char *image, const ChainOptions *chain_options, HomeScan *ret) {
        _cleanup_(chain_freep) Chain *c = NULL;
        Known known = KNOWN_INIT;
        Scan sc = { .chain_options = chain_options, .known = &known, .names.borrow_keys = true };
        HomeOverlay *h;
        int r;

        r = chain_walk(image, chain_options, &c);
        if (r < 0)
                return r;
        sc.s.units = calloc(1, sizeof(HomeUnit));
        if (!sc.s.units)
                return -ENOMEM;
        sc.s.n_units = 1;
        h = unit_add_overlay(&sc.s.units[0]);
        r = h ? scan_record(&sc, NULL, h, c, image) : -ENOMEM;
        return scan_finish(&sc, r, ret);
}

static int scan_add_error(Scan *sc, const char *path, const char *message, unsigned unit) {
        HomeScan *s = &sc->s;
        HomeError *e;

        if (greedy_realloc(&s->errors, &sc->allocated_errors, s->n_errors + 1, sizeof(HomeError), 8) < 0)
                return -ENOMEM;
        e = &s->errors[s->n_errors++];
        *e = (HomeError) { .path = strdup(path), .message = strdup(message), .unit = unit };
        return e->path && e->message ? 0 : -ENOMEM;
}

static int scan_error(const char *path, const char *message, unsigned unit, void *userdata) {
        return scan_add_error(userdata, path, message, unit);
}

/*
 * The walk forgot a unit: its overlays and errors go. The backing layers its chains reached stay,
 * as where later chains that reach the same names go on.
 */
static int scan_forget(unsigned unit, void *userdata) {
        HomeScan *s = &((Scan *) userdata)->s;
        size_t k = 0;

        for (size_t i = 0; i < s->n_errors; i++) {
                if (s->errors[i].unit == unit) {
                        error_done(&s->errors[i]);
                        continue;
                }
                s->errors[k++] = s->errors[i];
        }
        s->n_errors = k;

        k = 0;
        for (size_t i = 0; i < s->n_units; i++) {
                if (s->units[i].unit == unit) {
                        unit_done(&s->units[i]);
                        continue;
                }
                s->units[k++] = s->units[i];
        }
        s->n_units = k;
        return 0;
}

/* Moves a worker's records into the main ones. */
static int scan_merge(Scan *dst, Scan *src) {
        HomeScan *d = &dst->s, *s = &src->s;

        if (greedy_realloc(&d->units, &dst->allocated_units, d->n_units + s->n_units, sizeof(HomeUnit), 64) < 0 ||
            greedy_realloc(&d->errors, &dst->allocated_errors, d->n_errors + s->n_errors, sizeof(HomeError), 8) < 0)
                return -ENOMEM;
        if (s->n_units > 0)
                memcpy(d->units + d->n_units, s->units, s->n_units * sizeof(HomeUnit));
        if (s->n_errors > 0)
                memcpy(d->errors + d->n_errors, s->errors, s->n_errors * sizeof(HomeError));
        d->n_units += s->n_units;
        d->n_errors += s->n_errors;
        arena_move(&d->arena, &s->arena);
        s->n_units = s->n_errors = 0;
        return 0;
}

/* A worker's: the known set is the main walker's. */
static void scan_free(Scan *sc) {
        home_scan_done(&sc->s);
        strset_done(&sc->names);
}

int home_scan(const char *home, const ChainOptions *chain_options, bool sums_only, unsigned jobs, HomeScan *ret) {
        static const WalkCallbacks callbacks = {
                .begin = scan_begin,
                .overlay = scan_overlay,
                .error = scan_error,
                .forget = scan_forget,
        };
        static const ChainOptions default_options = {};
        Known known = KNOWN_INIT;
        Scan sc = {
                .chain_options = chain_options ?: &default_options,
                .sums_only = sums_only,
                .known = &known,
                .names.borrow_keys = true,
        };
        _cleanup_free_ Scan *workers = NULL;
        _cleanup_free_ void **userdata = NULL;
        WalkOptions wo = { .jobs = jobs };
        WalkStats stats = {};
        int r;

        /* The GC's test hooks (-Dtest-hooks=true builds): the walk under churn, made deterministic. */
#if BOXLITE_TEST_HOOKS
        wo.test_churn = getenv("BOXLITE_GC_TEST_CHURN");
        wo.test_no_time_bound = !!getenv("BOXLITE_GC_TEST_NO_TIME_BOUND");
#endif
        if (wo.jobs > 1) {
                workers = calloc(wo.jobs, sizeof(Scan));
                userdata = calloc(wo.jobs, sizeof(void *));
                if (!workers || !userdata)
                        return -ENOMEM;
        }
        /* The walk's paths are <home>/<part>/...: the records keep what follows. */
        for (size_t p = 0; p < _WALK_PART_MAX; p++)
                if (asprintf(&sc.s.prefix[p], "%s/%s/", home, walk_part_to_string(p)) < 0) {
                        sc.s.prefix[p] = NULL;
                        return scan_finish(&sc, -ENOMEM, ret);
                }
        for (unsigned i = 0; workers && i < wo.jobs; i++) {
                workers[i] = (Scan) {
                        .chain_options = sc.chain_options,
                        .sums_only = sums_only,
                        .known = &known,
                        .names.borrow_keys = true,
                };
                memcpy(workers[i].s.prefix, sc.s.prefix, sizeof(sc.s.prefix)); /* borrowed */
                userdata[i] = &workers[i];
        }
        wo.worker_userdata = userdata;

        r = home_walk(home, &wo, &callbacks, &sc, &stats);
        if (workers && (r >= 0 || r == -EAGAIN)) {
                /* One allocation of the merged units, not one doubling after another. */
                size_t n = sc.s.n_units;

                for (unsigned i = 0; i < wo.jobs; i++)
                        n += workers[i].s.n_units;
                if (greedy_realloc(&sc.s.units, &sc.allocated_units, n, sizeof(HomeUnit), 1) < 0)
                        r = -ENOMEM;
        }
        for (unsigned i = 0; workers && i < wo.jobs; i++) {
                if (r >= 0 || r == -EAGAIN) {
                        int k = scan_merge(&sc, &workers[i]);
                        if (k < 0)
                                r = k;
                }
                memset(workers[i].s.prefix, 0, sizeof(workers[i].s.prefix));
                scan_free(&workers[i]);
        }
        if (r >= 0 || r == -EAGAIN)
                home_scan_sort(&sc.s, sums_only);
        if (r == -EAGAIN) {
                _cleanup_free_ char *m = NULL;

                if (asprintf(&m,
                             "the home never held still: it was still changing after %u rounds of walking "
                             "again what changed, within %u pass(es) (the last change: %s)",
                             stats.rounds, stats.passes, strna(stats.unstable)) < 0)
                        r = -ENOMEM;
                else
                        r = scan_add_error(&sc, home, m, UINT_MAX);
        }
        walk_stats_done(&stats);
        return scan_finish(&sc, r, ret);
}
