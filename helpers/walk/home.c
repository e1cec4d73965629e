/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "home.h"
#include "macro.h"
#include "strset.h"

static HomeFormat format_code(const char *f) {
        if (!f)
                return HOME_FORMAT_NONE;
        if (streq(f, "qcow2"))
                return HOME_FORMAT_QCOW2;
        if (streq(f, "qcow"))
                return HOME_FORMAT_QCOW;
        if (streq(f, "raw"))
                return HOME_FORMAT_RAW;
        return HOME_FORMAT_OTHER;
}

static const char *format_name(uint8_t code, const char *other) {
        static const char *const names[] = {
                [HOME_FORMAT_QCOW2] = "qcow2",
                [HOME_FORMAT_QCOW] = "qcow",
                [HOME_FORMAT_RAW] = "raw",
        };

        if (code == HOME_FORMAT_OTHER)
                return other;
        return code < ELEMENTSOF(names) ? names[code] : NULL;
}

const char *home_layer_format(const HomeLayer *l) {
        return format_name(l->format, l->extra ? l->extra->format : NULL);
}

const char *home_layer_backing_format(const HomeLayer *l) {
        return format_name(l->backing_format, l->extra ? l->extra->backing_format : NULL);
}

const char *home_layer_full_backing(const HomeLayer *l) {
        return l->full_backing ?: l->next ? l->next->filename : NULL;
}

const char *home_layer_backing_file(const HomeLayer *l) {
        return l->backing_is_full ? home_layer_full_backing(l) : l->backing_file;
}

static void layer_done(HomeLayer *l) {
        free(l->backing_file);
        free(l->full_backing);
        if (l->extra) {
                free(l->extra->format);
                free(l->extra->backing_format);
                free(l->extra->data_file);
                free(l->extra->data_file_path);
                free(l->extra);
        }
}

static int strdup_opt(char **dst, const char *s) {
        if (!s)
                return 0;
        *dst = strdup(s);
        return *dst ? 0 : -ENOMEM;
}

static HomeLayerExtra *layer_extra(HomeLayer *l) {
        if (!l->extra)
                l->extra = calloc(1, sizeof(HomeLayerExtra));
        return l->extra;
}

/*
 * The facts of a chain's layer that the views print or sum. The full backing name is kept only
 * where the next layer's filename (next_filename) is not the same. The filename is left to the caller.
 */
static int layer_from_chain(HomeLayer *l, const ChainLayer *c, const char *next_filename) {
        const QcowHeader *h = &c->hdr;
        const char *full = c->full_backing_filename;

        *l = (HomeLayer) {
                .virtual_size = c->virtual_size,
                .actual_size = c->actual_size,
                .dev = c->dev,
                .ino = c->ino,
                .format = format_code(c->format),
                .backing_format = format_code(h->backing_format),
                .version = (uint8_t) MIN(h->version, 255U),
                .cluster_bits = (uint8_t) MIN(h->cluster_bits, 255U),
                .refcount_order = (uint8_t) MIN(h->refcount_order, 255U),
                .compression_type = h->compression_type,
                .reader = (uint8_t) c->reader,
                .has_header = c->has_header,
                .libqcow_refused = c->libqcow_refused,
                .backing_truncated = h->backing_file_has_nul,
                .encrypted = h->crypt_method != 0,
                .dirty = h->incompatible_features & QCOW2_INCOMPAT_DIRTY,
                .lazy_refcounts = h->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS,
                .corrupt = h->incompatible_features & QCOW2_INCOMPAT_CORRUPT,
                .extended_l2 = h->incompatible_features & QCOW2_INCOMPAT_EXTL2,
                .has_data_file = h->data_file && (h->incompatible_features & QCOW2_INCOMPAT_DATA_FILE),
                .data_file_raw = h->autoclear_features & QCOW2_AUTOCLEAR_DATA_FILE_RAW,
        };
        if (full && (!next_filename || !streq(full, next_filename)) && strdup_opt(&l->full_backing, full) < 0)
                return -ENOMEM;
        if (h->backing_file && full && streq(h->backing_file, full))
                l->backing_is_full = true;
        else if (strdup_opt(&l->backing_file, h->backing_file) < 0)
                return -ENOMEM;
        if (l->format == HOME_FORMAT_OTHER || l->backing_format == HOME_FORMAT_OTHER || h->data_file ||
            c->data_file_path) {
                HomeLayerExtra *x = layer_extra(l);

                if (!x)
                        return -ENOMEM;
                if ((l->format == HOME_FORMAT_OTHER && strdup_opt(&x->format, c->format) < 0) ||
                    (l->backing_format == HOME_FORMAT_OTHER && strdup_opt(&x->backing_format, h->backing_format) < 0) ||
                    strdup_opt(&x->data_file, h->data_file) < 0 || strdup_opt(&x->data_file_path, c->data_file_path) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* One walker's records: the main thread's, or a worker's. */
typedef struct Scan {
        HomeScan s;
        size_t allocated_units, allocated_errors, allocated_layers;
        const ChainOptions *chain_options;
        bool sums_only;
        StrSet known;           /* "<declared format>\n<name>" -> the HomeLayer that name reached */
        char *key;
        size_t key_allocated;
        HomeLayer *stop;        /* the known layer the last chain stopped before */
} Scan;

static void unit_done(HomeUnit *u) {
        for (size_t i = 0; i < u->n_overlays; i++) {
                HomeOverlay *o = &u->overlays[i];

                layer_done(&o->top);
                free(o->path);
                if (o->error) {
                        free(o->error->filename);
                        free(o->error->reason);
                        free(o->error);
                }
        }
        free(u->overlays);
        free(u->box);
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
        for (size_t i = 0; i < s->n_layers; i++) {
                layer_done(s->layers[i]);
                free(s->layers[i]->filename);
                free(s->layers[i]);
        }
        s->layers = mfree(s->layers);
        s->n_layers = 0;
}

void home_scan_done(HomeScan *s) {
        scan_reset(s);
        *s = (HomeScan) {};
}

static int scan_begin(unsigned pass, void *userdata) {
        Scan *sc = userdata;

        scan_reset(&sc->s);
        sc->allocated_units = sc->allocated_errors = sc->allocated_layers = 0;
        strset_done(&sc->known);
        sc->s.passes = pass;
        return 0;
}

static bool scan_known(const char *name, const char *declared_format, void *userdata) {
        Scan *sc = userdata;
        const char *k;
        uint64_t v;
        size_t len;

        k = chain_name_key(&sc->key, &sc->key_allocated, name, declared_format, &len);
        if (!k || !strset_get(&sc->known, k, len, &v))
                return false;
        sc->stop = (HomeLayer *) (uintptr_t) v;
        return true;
}

static HomeUnit *scan_unit(Scan *sc, const WalkOverlay *o) {
        HomeScan *s = &sc->s;
        HomeUnit *u;

        if (s->n_units > 0 && s->units[s->n_units - 1].unit == o->unit && s->units[s->n_units - 1].part == o->part)
                return &s->units[s->n_units - 1];
        if (greedy_realloc(&s->units, &sc->allocated_units, s->n_units + 1, sizeof(HomeUnit), 64) < 0)
                return NULL;
        u = &s->units[s->n_units++];
        *u = (HomeUnit) { .part = o->part, .unit = o->unit };
        if (o->box && !(u->box = strdup(o->box)))
                return NULL;
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
                HomeLayer *l;

                if (greedy_realloc(&s->layers, &sc->allocated_layers, s->n_layers + 1, sizeof(HomeLayer *), 64) < 0)
                        return -ENOMEM;
                l = malloc(sizeof(HomeLayer));
                if (!l)
                        return -ENOMEM;
                s->layers[s->n_layers++] = l;
                if (layer_from_chain(l, &c->layers[i], next_filename(sc, c, i)) < 0 ||
                    !(l->filename = strdup(c->layers[i].filename)))
                        return -ENOMEM;
                above->next = l;
                above = l;
                if (chain_complete(c) && i <= 0xffff) {
                        const char *k;
                        size_t len;

                        k = chain_name_key(&sc->key, &sc->key_allocated, c->layers[i].filename,
                                           chain_declared_format(c, i), &len);
                        if (!k || strset_put(&sc->known, k, len, (uint64_t) (uintptr_t) l) < 0)
                                return -ENOMEM;
                }
        }
        if (c->stopped_at_known)
                above->next = sc->stop;
        /* The depths, from the top down. */
        size_t total = c->n_layers + (c->stopped_at_known && sc->stop ? sc->stop->below : 0);
        above = top;
        for (size_t i = 0; i < c->n_layers; i++, above = above->next)
                above->below = (uint16_t) MIN(total - i, (size_t) UINT16_MAX);
        return 0;
}

static bool path_is_live(const char *path, WalkPart part) {
        /* The layers a VM writes: <box>/disks/<name>, not snapshots or bases. */
        const char *slash = strrchr(path, '/');

        return part == WALK_PART_BOXES && slash && slash - path >= 6 && strncmp(slash - 6, "/disks", 6) == 0;
}

/* What an overlay's walked chain is, as compact records. */
static int scan_record(Scan *sc, HomeOverlay *h, const Chain *c, const char *path, WalkPart part) {
        int r;

        if (c->n_layers > 0) {
                r = layer_from_chain(&h->top, &c->layers[0], next_filename(sc, c, 0));
                if (r >= 0)
                        r = scan_add_layers(sc, c, &h->top);
                if (r < 0)
                        return r;
        }
        if (!chain_complete(c)) {
                h->error = calloc(1, sizeof(HomeChainError));
                if (!h->error || strdup_opt(&h->error->filename, c->error_filename) < 0 ||
                    strdup_opt(&h->error->reason, c->error_reason) < 0)
                        return -ENOMEM;
                h->error->kind = c->error;
        }
        if (!sc->sums_only || part == WALK_PART_BASES || h->error) {
                h->path = strdup(path);
                if (!h->path)
                        return -ENOMEM;
        }
        h->top.filename = h->path;
        return 0;
}

/* Hands out the records (r >= 0) or frees them; returns r. */
static int scan_finish(Scan *sc, int r, HomeScan *ret) {
        strset_done(&sc->known);
        free(sc->key);
        if (r < 0) {
                home_scan_done(&sc->s);
                return r;
        }
        *ret = sc->s;
        return 0;
}

static HomeOverlay *unit_add_overlay(HomeUnit *u) {
        if (!u || greedy_realloc(&u->overlays, &u->allocated, u->n_overlays + 1, sizeof(HomeOverlay), 2) < 0)
                return NULL;
        u->overlays[u->n_overlays] = (HomeOverlay) {};
        return &u->overlays[u->n_overlays++];
}

static int scan_overlay(const WalkOverlay *o, void *userdata) {
        Scan *sc = userdata;
        _cleanup_(chain_freep) Chain *c = NULL;
        ChainOptions co = *sc->chain_options;
        unsigned max_depth = co.max_depth ?: CHAIN_MAX_DEPTH_DEFAULT;
        HomeOverlay *h;
        int r;

        h = unit_add_overlay(scan_unit(sc, o));
        if (!h)
                return -ENOMEM;
        h->top = (HomeLayer) { .dev = o->st->st_dev, .ino = o->st->st_ino, .actual_size = (uint64_t) o->st->st_blocks * 512 };
        h->live = path_is_live(o->path, o->part);

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
        return scan_record(sc, h, c, o->path, o->part);
}

int home_scan_image(const char *image, const ChainOptions *chain_options, HomeScan *ret) {
        _cleanup_(chain_freep) Chain *c = NULL;
        Scan sc = { .chain_options = chain_options };
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
        r = h ? scan_record(&sc, h, c, image, WALK_PART_BOXES) : -ENOMEM;
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
            greedy_realloc(&d->errors, &dst->allocated_errors, d->n_errors + s->n_errors, sizeof(HomeError), 8) < 0 ||
            greedy_realloc(&d->layers, &dst->allocated_layers, d->n_layers + s->n_layers, sizeof(HomeLayer *), 64) < 0)
                return -ENOMEM;
        if (s->n_units > 0)
                memcpy(d->units + d->n_units, s->units, s->n_units * sizeof(HomeUnit));
        if (s->n_errors > 0)
                memcpy(d->errors + d->n_errors, s->errors, s->n_errors * sizeof(HomeError));
        if (s->n_layers > 0)
                memcpy(d->layers + d->n_layers, s->layers, s->n_layers * sizeof(HomeLayer *));
        d->n_units += s->n_units;
        d->n_errors += s->n_errors;
        d->n_layers += s->n_layers;
        s->n_units = s->n_errors = s->n_layers = 0;
        return 0;
}

static int cmp_overlay(const void *a, const void *b) {
        const HomeOverlay *x = a, *y = b;

        return strcmp(strempty(x->path), strempty(y->path));
}

/* A unit's overlays share the prefix <part>/<entry>, so units by their first path give the path order. */
static int cmp_unit(const void *a, const void *b) {
        const HomeUnit *x = a, *y = b;

        if (x->part != y->part)
                return x->part == WALK_PART_BASES ? -1 : 1;
        return strcmp(strempty(x->overlays[0].path), strempty(y->overlays[0].path));
}

/* Sums only: boxes by name (their overlays keep no path), bases/ as above. */
static int cmp_unit_sums(const void *a, const void *b) {
        const HomeUnit *x = a, *y = b;

        if (x->part == WALK_PART_BOXES && y->part == WALK_PART_BOXES)
                return strcmp(strempty(x->box), strempty(y->box));
        return cmp_unit(a, b);
}

static int cmp_error(const void *a, const void *b) {
        return strcmp(((const HomeError *) a)->path, ((const HomeError *) b)->path);
}

static void scan_sort(HomeScan *s, bool sums_only) {
        for (size_t i = 0; !sums_only && i < s->n_units; i++)
                if (s->units[i].n_overlays > 1)
                        qsort(s->units[i].overlays, s->units[i].n_overlays, sizeof(HomeOverlay), cmp_overlay);
        if (s->n_units > 1)
                qsort(s->units, s->n_units, sizeof(HomeUnit), sums_only ? cmp_unit_sums : cmp_unit);
        if (s->n_errors > 1)
                qsort(s->errors, s->n_errors, sizeof(HomeError), cmp_error);
}

static void scan_free(Scan *sc) {
        home_scan_done(&sc->s);
        strset_done(&sc->known);
        free(sc->key);
}

int home_scan(const char *home, const ChainOptions *chain_options, bool sums_only, unsigned jobs, HomeScan *ret) {
        static const WalkCallbacks callbacks = {
                .begin = scan_begin,
                .overlay = scan_overlay,
                .error = scan_error,
                .forget = scan_forget,
        };
        static const ChainOptions default_options = {};
        Scan sc = { .chain_options = chain_options ?: &default_options, .sums_only = sums_only };
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
                for (unsigned i = 0; i < wo.jobs; i++) {
                        workers[i] = (Scan) { .chain_options = sc.chain_options, .sums_only = sums_only };
                        userdata[i] = &workers[i];
                }
                wo.worker_userdata = userdata;
        }

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
                scan_free(&workers[i]);
        }
        if (r >= 0 || r == -EAGAIN)
                scan_sort(&sc.s, sums_only);
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
