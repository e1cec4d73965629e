/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The walk's units of change (walk.h, "Rounds"): every entry of boxes/ and
 * bases/ is a unit, and every directory record, overlay and error belongs to
 * the unit it was found under. A change seen while a unit is walked, or when
 * its records are verified, marks that unit changed (a top's own record: the
 * top); the round goes on with the next unit. At the round's end the changed
 * units, and those a top's new listing no longer holds, are forgotten: the
 * callbacks drop what they got for them and their records are removed. The
 * next round walks them again, by the names the top lists now.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "walk-internal.h"

int walk_unit_add(Walk *w, WalkPart part, const char *name, uint64_t ino, unsigned char type, unsigned *ret) {
        Walk *root = w->root;
        size_t off, len;

        if (root->n_units >= UINT_MAX - 1)
                return -E2BIG;
        if (name >= root->unit_names && name < root->unit_names + root->n_unit_names)
                /* Another unit's name (one walked again): shared, not copied. */
                off = (size_t) (name - root->unit_names);
        else {
                len = strlen(name) + 1;
                if (root->n_unit_names + len > UINT32_MAX)
                        return -E2BIG;
                if (greedy_realloc(&root->unit_names, &root->allocated_unit_names, root->n_unit_names + len, 1,
                                   4096) < 0)
                        return -ENOMEM;
                off = root->n_unit_names;
                memcpy(root->unit_names + off, name, len);
                root->n_unit_names += len;
        }
        if (greedy_realloc(&root->units, &root->allocated_units, root->n_units + 1, sizeof(WalkUnit), 256) < 0)
                return -ENOMEM;
        root->units[root->n_units] = (WalkUnit) {
                .name = (uint32_t) off,
                .ino = ino,
                .type = type,
                .part = (uint8_t) part,
                .live = true,
        };
        *ret = (unsigned) root->n_units++;
        root->n_rewalked += root->round > 1;
        return 0;
}

/* A directory claimed by a unit that was forgotten may be claimed again (idset_claim()). */
bool walk_unit_released(unsigned unit, const void *userdata) {
        const Walk *root = userdata;

        /* gone is set before a top's new entries are walked, by the thread that walks them. */
        return unit != UINT_MAX && unit < root->n_units && (!root->units[unit].live || root->units[unit].gone);
}

/* Records a change seen this round: in unit (UINT_MAX: the top of part itself). why is taken. */
int walk_note_change(Walk *w, unsigned unit, WalkPart part, const char *why) {
        if (unit == UINT_MAX)
                w->top_changed[part] = true;
        else
                w->root->units[unit].changed = true;
        if (!w->round_why && why) {
                w->round_why = strdup(why);
                if (!w->round_why)
                        return -ENOMEM;
        }
        return 0;
}

/* A unit's walk is over: a change it saw marks it changed, and the walk goes on with the next unit. */
void walk_unit_end(Walk *w) {
        if (w->changed && w->unit != UINT_MAX) {
                /* Without memory for the reason the unit is still marked: the message is all that is lost. */
                (void) walk_note_change(w, w->unit, w->part, w->changed);
                w->changed = mfree(w->changed);
        }
        w->unit = UINT_MAX;
}

/* The unit of part named name, live and unchanged, that is the listed (ino, type). */
static WalkUnit *unit_find(Walk *w, WalkPart part, const char *name, uint64_t ino, unsigned char type) {
        /* Units of a walk are few per round; a home of many boxes lists each once a round. */
        if (!w->unit_index_built) {
                strset_done(&w->unit_index);
                for (size_t i = 0; i < w->n_units; i++) {
                        const WalkUnit *u = &w->units[i];
                        char key[NAME_MAX + 3];
                        int n;

                        if (!u->live || u->changed)
                                continue;
                        n = snprintf(key, sizeof(key), "%c/%s", '0' + (int) u->part, w->unit_names + u->name);
                        if (n < 0 || (size_t) n >= sizeof(key) ||
                            strset_put(&w->unit_index, key, (size_t) n, (uint64_t) i) < 0)
                                return NULL;
                }
                w->unit_index_built = true;
        }
        {
                char key[NAME_MAX + 3];
                uint64_t v;
                int n = snprintf(key, sizeof(key), "%c/%s", '0' + (int) part, name);
                WalkUnit *u;

                if (n < 0 || (size_t) n >= sizeof(key) || !strset_get(&w->unit_index, key, (size_t) n, &v))
                        return NULL;
                u = &w->units[v];
                if (!u->live || u->changed || u->ino != ino || u->type != type)
                        return NULL;
                return u;
        }
}

/*
 * An entry of a top listed again in a later round: 1 when a live unit that
 * saw no change is the very entry (name, inode, type), which is kept and not
 * walked again; 0 when it is to be walked as a new unit.
 */
int walk_unit_keep(Walk *w, WalkPart part, const char *name, uint64_t ino, unsigned char type) {
        WalkUnit *u = unit_find(w, part, name, ino, type);

        if (!u)
                return 0;
        u->listed = true;
        return 1;
}

/* A top was listed again: its units the new listing does not hold leave the view. */
void walk_units_unlisted(Walk *w, WalkPart part, size_t first_new) {
        for (size_t i = 0; i < first_new; i++) {
                WalkUnit *u = &w->units[i];

                if (u->part == part && u->live && !u->listed)
                        u->gone = true;
                /* The new listing says what is walked again: an entry it names that changed was. */
                if (u->part == part)
                        u->rewalk = false;
                u->listed = false;
        }
}

/* A unit of part whose own entry was not the inode listed (the name agreeing). */
bool walk_top_mismatch(const Walk *w, WalkPart part) {
        for (size_t i = 0; i < w->n_units; i++)
                if (w->units[i].live && w->units[i].mismatch && w->units[i].part == part)
                        return true;
        return false;
}

/*
 * Before the round's changed units are forgotten: a unit whose entry was
 * another inode than listed is walked again if its top's listing changed;
 * a unit that skipped a directory because another unit had claimed it goes
 * with that unit, to a fixpoint.
 */
void walk_units_settle(Walk *w) {
        bool again = true;

        for (size_t i = 0; i < w->n_units; i++) {
                WalkUnit *u = &w->units[i];

                if (u->live && u->mismatch && w->top_changed[u->part])
                        u->changed = true;
        }
        while (again) {
                again = false;
                for (size_t i = 0; i < w->n_deps; i++) {
                        WalkUnit *u = &w->units[w->deps[i].unit], *o = &w->units[w->deps[i].owner];

                        if (u->live && !u->changed && !u->gone && (!o->live || o->changed || o->gone)) {
                                u->changed = true;
                                again = true;
                        }
                }
        }
        /* Dependencies of units that leave the view are void. */
        {
                size_t k = 0;

                for (size_t i = 0; i < w->n_deps; i++) {
                        const WalkUnit *u = &w->units[w->deps[i].unit], *o = &w->units[w->deps[i].owner];

                        if (u->live && !u->changed && !u->gone && o->live && !o->changed && !o->gone)
                                w->deps[k++] = w->deps[i];
                }
                w->n_deps = k;
        }
}

/*
 * The records in pre-order again (a directory before everything under it,
 * each subtree contiguous, tops in their order), without those of units that
 * left the view: what the recheck of a log and the next round need. The
 * files follow their directories.
 */
static int records_rebuild(Walk *w) {
        size_t n = w->n_dirs, m = 0, depth = 0;
        _cleanup_free_ unsigned *first_child = NULL, *next_sibling = NULL, *map = NULL, *stack = NULL;
        _cleanup_free_ DirRecord *dirs = NULL;
        size_t k = 0;

        if (n == 0)
                return 0;
        first_child = malloc(n * sizeof(unsigned));
        next_sibling = malloc(n * sizeof(unsigned));
        map = malloc(n * sizeof(unsigned));
        stack = malloc(n * sizeof(unsigned));
        dirs = malloc(n * sizeof(DirRecord));
        if (!first_child || !next_sibling || !map || !stack || !dirs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                first_child[i] = next_sibling[i] = map[i] = UINT_MAX;
        /* Children linked in reverse, so each list runs in index order. */
        for (size_t i = n; i-- > 0;) {
                const DirRecord *d = &w->dirs[i];

                if (d->parent != UINT_MAX) {
                        next_sibling[i] = first_child[d->parent];
                        first_child[d->parent] = (unsigned) i;
                }
        }
        for (size_t t = 0; t < n; t++) {
                if (w->dirs[t].parent != UINT_MAX)
                        continue;
                stack[depth++] = (unsigned) t;
                while (depth > 0) {
                        unsigned i = stack[--depth];
                        DirRecord *d = &w->dirs[i];
                        size_t total = 0, pos;

                        if (d->unit != UINT_MAX && !w->units[d->unit].live)
                                continue;          /* and its subtree with it */
                        map[i] = (unsigned) m;
                        dirs[m] = *d;
                        dirs[m].parent = d->parent == UINT_MAX ? UINT_MAX : map[d->parent];
                        dirs[m].first_file = UINT_MAX;
                        m++;
                        /* The children onto the stack so that they pop in index order. */
                        for (unsigned c = first_child[i]; c != UINT_MAX; c = next_sibling[c])
                                total++;
                        pos = depth + total;
                        for (unsigned c = first_child[i]; c != UINT_MAX; c = next_sibling[c])
                                stack[--pos] = c;
                        depth += total;
                }
        }

        /* Records that left: their fds closed, names freed. */
        for (size_t i = 0; i < n; i++)
                if (map[i] == UINT_MAX) {
                        if (w->dirs[i].fd >= 0) {
                                w->dirs[i].fd = safe_close(w->dirs[i].fd);
                                w->n_open--;
                        }
                        free(w->dirs[i].name);
                }
        memcpy(w->dirs, dirs, m * sizeof(DirRecord));
        w->n_dirs = m;

        for (size_t i = 0; i < w->n_files; i++) {
                WalkFile *f = &w->files[i];

                if (map[f->dir] == UINT_MAX) {
                        free(f->name);
                        continue;
                }
                w->files[k] = *f;
                w->files[k].dir = map[f->dir];
                k++;
        }
        w->n_files = k;
        for (size_t i = 0; i < w->n_files; i++) {
                w->files[i].next = w->dirs[w->files[i].dir].first_file;
                w->dirs[w->files[i].dir].first_file = (unsigned) i;
        }
        return 0;
}

/*
 * The round is over: the units that changed or left are forgotten (the
 * callbacks told, their records removed); those that changed are walked
 * again next round (rewalk). Returns 0 or a callback's negative errno.
 */
int walk_units_forget(Walk *w) {
        bool any = false;
        int r;

        for (size_t i = 0; i < w->n_units; i++) {
                WalkUnit *u = &w->units[i];

                if (!u->live || (!u->changed && !u->gone))
                        continue;
                u->live = false;
                u->rewalk = u->changed && !u->gone;
                any = true;
                if (w->cb->forget) {
                        r = w->cb->forget((unsigned) i, w->userdata);
                        for (unsigned j = 0; j < w->n_workers && r >= 0; j++)
                                r = w->cb->forget((unsigned) i, w->workers[j].userdata);
                        if (r < 0)
                                return r;
                }
        }
        w->unit_index_built = false;
        if (!any && w->round == 1)
                return 0;
        return records_rebuild(w);
}

void walk_units_done(Walk *w) {
        w->n_units = 0;
        w->n_unit_names = 0;
        w->n_deps = 0;
        strset_done(&w->unit_index);
        w->unit_index_built = false;
}
