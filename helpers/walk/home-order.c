/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The order of a scan's records: units by path (or boxes by name), overlays by path, errors by path. */

#include <stdlib.h>
#include <string.h>

#include "home-internal.h"
#include "macro.h"

/* Within a part, names order as the whole paths do: they share the part's prefix. */
static int cmp_overlay(const void *a, const void *b) {
        const HomeOverlay *x = a, *y = b;

        return strcmp(strempty(x->top.filename), strempty(y->top.filename));
}

/*
 * Units by the path of their first overlay, <entry>/<name> below the part's prefix ("<entry>" for a
 * unit that is the overlay itself), compared without building it.
 */
typedef struct PathCursor {
        const char *p;          /* in the entry, then in the name */
        const char *name;
        bool sep;               /* the '/' between them is still to come */
} PathCursor;

static int path_cursor_next(PathCursor *c) {
        if (*c->p)
                return (unsigned char) *c->p++;
        if (!c->sep)
                return 0;
        c->sep = false;
        c->p = c->name;
        return '/';
}

static int cmp_unit_path(const HomeUnit *x, const HomeUnit *y) {
        PathCursor a = { strempty(x->entry), strempty(x->overlays[0].top.filename) };
        PathCursor b = { strempty(y->entry), strempty(y->overlays[0].top.filename) };

        a.sep = *a.name;
        b.sep = *b.name;
        for (;;) {
                int ca = path_cursor_next(&a), cb = path_cursor_next(&b);

                if (ca != cb || ca == 0)
                        return ca - cb;
        }
}

/* Units by part (bases/ first), then in path order. */
static int cmp_unit(const void *a, const void *b) {
        const HomeUnit *x = a, *y = b;

        if (x->part != y->part)
                return x->part == WALK_PART_BASES ? -1 : 1;
        return cmp_unit_path(x, y);
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

void home_scan_sort(HomeScan *s, bool sums_only) {
        for (size_t i = 0; !sums_only && i < s->n_units; i++)
                if (s->units[i].n_overlays > 1)
                        qsort(s->units[i].overlays, s->units[i].n_overlays, sizeof(HomeOverlay), cmp_overlay);
        if (s->n_units > 1)
                qsort(s->units, s->n_units, sizeof(HomeUnit), sums_only ? cmp_unit_sums : cmp_unit);
        if (s->n_errors > 1)
                qsort(s->errors, s->n_errors, sizeof(HomeError), cmp_error);
}
