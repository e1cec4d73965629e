/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "home.h"
#include "macro.h"
#include "strset.h"

void strv_free(char **l) {
        strv_freep(&l);
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        while (l && l[n])
                n++;
        return n;
}

typedef struct Scan {
        HomeScan s;
        size_t allocated_overlays;
        const ChainOptions *chain_options;
        bool resolve_once;
        StrSet known;        /* "<declared format>\n<name>" -> overlay << 16 | layer that walked it */
        char *key;
        size_t key_allocated;
} Scan;


static bool scan_known(const char *name, const char *declared_format, void *userdata) {
        Scan *sc = userdata;
        HomeOverlay *h = &sc->s.overlays[sc->s.n_overlays - 1];
        const char *k;
        uint64_t v;
        size_t len;

        k = chain_name_key(&sc->key, &sc->key_allocated, name, declared_format, &len);
        if (!k || !strset_get(&sc->known, k, len, &v))
                return false;
        h->next_overlay = (size_t) (v >> 16);
        h->next_layer = (size_t) (v & 0xffff);
        return true;
}

/* Every backing layer of a complete chain: later chains reaching its name go on from here. */
static int scan_learn(Scan *sc, const Chain *c, size_t index) {
        for (size_t i = 1; i < c->n_layers && i <= 0xffff; i++) {
                const char *k;
                size_t len;

                k = chain_name_key(&sc->key, &sc->key_allocated, c->layers[i].filename, chain_declared_format(c, i),
                                   &len);
                if (!k || strset_put(&sc->known, k, len, (uint64_t) index << 16 | i) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static void overlay_free(HomeOverlay *o) {
        free(o->path);
        free(o->box);
        chain_free(o->chain);
}

static void scan_reset(HomeScan *s) {
        for (size_t i = 0; i < s->n_overlays; i++)
                overlay_free(&s->overlays[i]);
        s->overlays = mfree(s->overlays);
        s->n_overlays = 0;
        for (size_t i = 0; i < s->n_errors; i++) {
                free(s->errors[i].path);
                free(s->errors[i].message);
        }
        s->errors = mfree(s->errors);
        s->n_errors = 0;
}

void home_scan_done(HomeScan *s) {
        scan_reset(s);
        *s = (HomeScan) {};
}

static int scan_begin(unsigned pass, void *userdata) {
        Scan *sc = userdata;

        scan_reset(&sc->s);
        sc->allocated_overlays = 0;
        strset_done(&sc->known);
        sc->s.passes = pass;
        return 0;
}

static int scan_overlay(const WalkOverlay *o, void *userdata) {
        Scan *sc = userdata;
        HomeOverlay *h;
        int r;

        if (sc->s.n_overlays >= sc->allocated_overlays) {
                size_t a = MAX(sc->allocated_overlays * 2, (size_t) 64);

                h = realloc(sc->s.overlays, a * sizeof(HomeOverlay));
                if (!h)
                        return -ENOMEM;
                sc->s.overlays = h;
                sc->allocated_overlays = a;
        }
        h = &sc->s.overlays[sc->s.n_overlays];
        *h = (HomeOverlay) {
                .path = strdup(o->path),
                .box = o->box ? strdup(o->box) : NULL,
                .part = o->part,
                .st = *o->st,
                .unit = o->unit,
        };
        sc->s.n_overlays++;
        if (!h->path || (o->box && !h->box))
                return -ENOMEM;
        if (sc->resolve_once) {
                ChainOptions co = *sc->chain_options;

                co.known = scan_known;
                co.userdata = sc;
                r = chain_walk_fd(o->fd, o->st, o->path, &co, &h->chain);
                if (r >= 0 && chain_complete(h->chain))
                        r = scan_learn(sc, h->chain, sc->s.n_overlays - 1);
                /* Sums need the layers' identities and sizes only; a home of many boxes holds them all. */
                if (r >= 0)
                        chain_shrink(h->chain);
        } else
                r = chain_walk_fd(o->fd, o->st, o->path, sc->chain_options, &h->chain);
        return r < 0 ? r : 0;
}

static int scan_add_error(HomeScan *s, const char *path, const char *message, unsigned unit) {
        HomeError *e = realloc(s->errors, (s->n_errors + 1) * sizeof(HomeError));

        if (!e)
                return -ENOMEM;
        s->errors = e;
        e[s->n_errors] = (HomeError) { .path = strdup(path), .message = strdup(message), .unit = unit };
        s->n_errors++;
        return e[s->n_errors - 1].path && e[s->n_errors - 1].message ? 0 : -ENOMEM;
}

static int scan_error(const char *path, const char *message, unsigned unit, void *userdata) {
        return scan_add_error(&((Scan *) userdata)->s, path, message, unit);
}

/*
 * The walk forgot a unit: its errors go, and so do its overlays; with
 * resolve_once they stay, marked, since a later chain may go on in theirs
 * (what a layer is does not depend on which overlay reached it).
 */
static int scan_forget(unsigned unit, void *userdata) {
        Scan *sc = userdata;
        HomeScan *s = &sc->s;
        size_t k = 0;

        for (size_t i = 0; i < s->n_errors; i++) {
                if (s->errors[i].unit == unit) {
                        free(s->errors[i].path);
                        free(s->errors[i].message);
                        continue;
                }
                s->errors[k++] = s->errors[i];
        }
        s->n_errors = k;

        for (size_t i = 0; i < s->n_overlays; i++)
                if (s->overlays[i].unit == unit)
                        s->overlays[i].forgotten = true;
        if (sc->resolve_once)
                return 0;
        k = 0;
        for (size_t i = 0; i < s->n_overlays; i++) {
                if (s->overlays[i].forgotten) {
                        overlay_free(&s->overlays[i]);
                        continue;
                }
                s->overlays[k++] = s->overlays[i];
        }
        s->n_overlays = k;
        return 0;
}

static int cmp_overlay(const void *a, const void *b) {
        return strcmp(((const HomeOverlay *) a)->path, ((const HomeOverlay *) b)->path);
}

int home_scan(const char *home, const ChainOptions *chain_options, bool resolve_once, HomeScan *ret) {
        static const WalkCallbacks callbacks = {
                .begin = scan_begin,
                .overlay = scan_overlay,
                .error = scan_error,
                .forget = scan_forget,
        };
        static const ChainOptions default_options = {};
        Scan sc = { .chain_options = chain_options ?: &default_options, .resolve_once = resolve_once };
        WalkStats stats = {};
        int r;

        r = home_walk(home, NULL, &callbacks, &sc, &stats);
        if (r == -EAGAIN) {
                _cleanup_free_ char *m = NULL;

                if (asprintf(&m,
                             "the home never held still: it was still changing after %u rounds of walking "
                             "again what changed, within %u pass(es) (the last change: %s)",
                             stats.rounds, stats.passes, strna(stats.unstable)) < 0)
                        r = -ENOMEM;
                else
                        r = scan_add_error(&sc.s, home, m, UINT_MAX);
        }
        walk_stats_done(&stats);
        strset_done(&sc.known);
        free(sc.key);
        if (r < 0) {
                home_scan_done(&sc.s);
                return r;
        }
        /* Sorted for output. Sums take the walk's order, where each box's overlays are adjacent
         * and the continuations stay valid. */
        if (!resolve_once && sc.s.n_overlays > 1)
                qsort(sc.s.overlays, sc.s.n_overlays, sizeof(HomeOverlay), cmp_overlay);
        *ret = sc.s;
        return 0;
}
