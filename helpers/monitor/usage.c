/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "idset.h"
#include "macro.h"
#include "path-util.h"
#include "usage.h"

void usage_done(Usage *u) {
        free(u->boxes);
        free(u->image_refs);
        free(u->images);
        free(u->bases);
        free(u->unreferenced);
        arena_done(&u->arena);
        *u = (Usage) {};
}

/* One file (chain end or base) while counting: its identity and which boxes use it. */
typedef struct Tally {
        UsageImage img;
        dev_t dev;
        ino_t ino;
        size_t last_box;        /* index + 1 of the last box counted: a box's overlays come together */
} Tally;

typedef struct TallyList {
        Tally *v;
        size_t n, allocated;
        size_t *index;          /* open addressing over v: slot -> position + 1 */
        size_t index_size;      /* a power of two, at least twice n */
} TallyList;

static size_t tally_slot(const TallyList *l, dev_t dev, ino_t ino) {
        uint64_t h = (uint64_t) ino * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t) dev * UINT64_C(0xc2b2ae3d27d4eb4f);
        size_t mask = l->index_size - 1;

        for (size_t i = (size_t) (h ^ (h >> 29)) & mask;; i = (i + 1) & mask)
                if (l->index[i] == 0 || (l->v[l->index[i] - 1].dev == dev && l->v[l->index[i] - 1].ino == ino))
                        return i;
}

static int tally_reindex(TallyList *l) {
        size_t size = MAX(l->index_size * 2, (size_t) 64);

        free(l->index);
        l->index = calloc(size, sizeof(size_t));
        if (!l->index)
                return -ENOMEM;
        l->index_size = size;
        for (size_t i = 0; i < l->n; i++)
                l->index[tally_slot(l, l->v[i].dev, l->v[i].ino)] = i + 1;
        return 0;
}

/*
 * Shown by its canonical name: chains may reach it as "disks/../../../bases/x.ext4". A name that is
 * canonical already is borrowed from the scan; NULL when out of memory.
 */
static const char *canonical_path(Arena *a, const char *path) {
        _cleanup_free_ char *real = NULL;

        if (!strstr(path, "/.") && !strstr(path, "//"))
                return path;
        real = realpath(path, NULL);
        return arena_strdup(a, real ?: path);
}

/* path: the layer's, or an overlay's whole path (a copy: home_overlay_path()'s buffer is reused). */
static Tally *tally_get(TallyList *l, Arena *a, const HomeLayer *layer, const char *path, bool base) {
        size_t slot;

        if ((l->n + 1) * 2 > l->index_size && tally_reindex(l) < 0)
                return NULL;
        slot = tally_slot(l, layer->dev, layer->ino);
        if (l->index[slot] != 0)
                return &l->v[l->index[slot] - 1];
        l->index[slot] = l->n + 1;
        if (l->n >= l->allocated) {
                size_t n = MAX(l->allocated * 2, (size_t) 16);
                Tally *v = realloc(l->v, n * sizeof(Tally));

                if (!v)
                        return NULL;
                l->v = v;
                l->allocated = n;
        }
        l->v[l->n] = (Tally) {
                .img = { .path = canonical_path(a, path),
                         .allocated_bytes = layer->actual_size,
                         .base = base },
                .dev = layer->dev,
                .ino = layer->ino,
        };
        if (!l->v[l->n].img.path)
                return NULL;
        return &l->v[l->n++];
}

static int tally_finish(TallyList *l, UsageImage **ret, size_t *ret_n, uint64_t *ret_total);

static int cmp_image(const void *a, const void *b) {
        const UsageImage *x = a, *y = b;

        if (x->allocated_bytes != y->allocated_bytes)
                return x->allocated_bytes > y->allocated_bytes ? -1 : 1;
        return strcmp(x->path, y->path);
}

static int cmp_box(const void *a, const void *b) {
        const UsageBox *x = a, *y = b;

        if (x->allocated_bytes != y->allocated_bytes)
                return x->allocated_bytes > y->allocated_bytes ? -1 : 1;
        return strcmp(x->box, y->box);
}

static int tally_finish(TallyList *l, UsageImage **ret, size_t *ret_n, uint64_t *ret_total) {
        UsageImage *v = calloc(MAX(l->n, (size_t) 1), sizeof(UsageImage));
        uint64_t total = 0;

        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < l->n; i++) {
                v[i] = l->v[i].img;
                total += v[i].allocated_bytes;
        }
        if (l->n > 1)
                qsort(v, l->n, sizeof(UsageImage), cmp_image);
        *ret = v;
        *ret_n = l->n;
        *ret_total = total;
        free(l->v);
        free(l->index);
        *l = (TallyList) {};
        return 0;
}

static void tally_list_done(TallyList *l) {
        free(l->v);
        free(l->index);
        *l = (TallyList) {};
}

/* Adds s to the run of refs that starts at start, unless the run has it. */
static int refs_add_unique(const char ***refs, size_t *n, size_t *allocated, size_t start, const char *s) {
        for (size_t i = start; i < *n; i++)
                if (streq((*refs)[i], s))
                        return 0;
        if (greedy_realloc(refs, allocated, *n + 1, sizeof(char *), 1024) < 0)
                return -ENOMEM;
        (*refs)[(*n)++] = s;
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int scan_unreferenced(const char *home, const IdSet *reached, Usage *u) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ char *dir = NULL;
        struct dirent *de;
        size_t allocated = 0;
        DIR *d;
        int fd;

        if (asprintf(&dir, "%s/images/disk-images", home) < 0)
                return -ENOMEM;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return 0;
        d = fdopendir(fd);
        if (!d) {
                (void) close(fd);
                return 0;
        }
        while ((de = readdir(d))) {
                struct stat st;
                UsageImage *v;

                if (filename_is_hidden(de->d_name) || !endswith(de->d_name, ".ext4"))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
                    idset_contains(reached, st.st_dev, st.st_ino))
                        continue;
                if (u->n_unreferenced >= allocated) {
                        allocated = MAX(allocated * 2, (size_t) 16);
                        v = realloc(u->unreferenced, allocated * sizeof(UsageImage));
                        if (!v) {
                                (void) closedir(d);
                                return -ENOMEM;
                        }
                        u->unreferenced = v;
                }
                v = &u->unreferenced[u->n_unreferenced];
                *v = (UsageImage) { .allocated_bytes = (uint64_t) st.st_blocks * 512 };
                path = mfree(path);
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0 || !(v->path = arena_strdup(&u->arena, path))) {
                        (void) closedir(d);
                        return -ENOMEM;
                }
                u->n_unreferenced++;
                u->unreferenced_allocated_bytes += v->allocated_bytes;
        }
        (void) closedir(d);
        if (u->n_unreferenced > 1)
                qsort(u->unreferenced, u->n_unreferenced, sizeof(UsageImage), cmp_image);
        return 0;
}

int usage_compute(const char *home, HomeScan *scan, Usage *ret) {
        _cleanup_free_ char *boxes_dir = NULL;
        TallyList ends = {}, bases = {};
        IdSet overlays_seen = {}, linked = {}, reached = {}, base_ids = {};
        Usage u = {};
        size_t *first_image = NULL, n_refs = 0, allocated_refs = 0;
        struct statvfs sv;
        int r = -ENOMEM;

        u.boxes = calloc(MAX(scan->n_units, (size_t) 1), sizeof(UsageBox));
        first_image = calloc(MAX(scan->n_units, (size_t) 1), sizeof(size_t));
        if (!u.boxes || !first_image)
                goto fail;

        /* Overlays under bases/ are bases, used by no box until a chain passes through them. */
        for (size_t i = 0; i < scan->n_units; i++)
                for (size_t j = 0; scan->units[i].part == WALK_PART_BASES && j < scan->units[i].n_overlays; j++) {
                        const HomeOverlay *o = &scan->units[i].overlays[j];
                        const char *path;

                        if (o->top.format == HOME_FORMAT_NONE || !o->top.filename)
                                continue;
                        path = arena_strdup(&u.arena, home_overlay_path(scan, &scan->units[i], o));
                        if (!path || !tally_get(&bases, &u.arena, &o->top, path, true) || idset_add(&base_ids, o->top.dev, o->top.ino) < 0)
                                goto fail;
                        /* What a base backs onto is referenced (the GC pins it), even if no box uses it yet. */
                        for (const HomeLayer *layer = o->top.next; layer; layer = layer->next) {
                                if (idset_add(&reached, layer->dev, layer->ino) < 0)
                                        goto fail;
                                if (!layer->next && layer->format == HOME_FORMAT_RAW && !tally_get(&ends, &u.arena, layer, layer->filename, false))
                                        goto fail;
                        }
                }

        /*
         * An inode is counted once: an overlay with no other name is counted where it is, unless another
         * overlay reached it through a link; the others (the identities in linked) on the first unit
         * that reaches them.
         */
        for (size_t i = 0; i < scan->n_units; i++)
                for (size_t j = 0; scan->units[i].part == WALK_PART_BOXES && j < scan->units[i].n_overlays; j++) {
                        const HomeLayer *t = &scan->units[i].overlays[j].top;

                        if (t->linked && idset_add(&linked, t->dev, t->ino) < 0)
                                goto fail;
                }

        /* Each box is one unit; the units come in name order, which decides who counts a hard link. */
        for (size_t i = 0; i < scan->n_units; i++) {
                const HomeUnit *unit = &scan->units[i];
                UsageBox *b;
                size_t bi;

                if (unit->part != WALK_PART_BOXES || !unit->box)
                        continue;
                bi = u.n_boxes++;
                b = &u.boxes[bi];
                b->box = unit->box;
                first_image[bi] = n_refs;

                for (size_t j = 0; j < unit->n_overlays; j++) {
                        const HomeOverlay *o = &unit->overlays[j];
                        int fresh;

                        b->n_overlays++;
                        fresh = !o->top.linked && !idset_contains(&linked, o->top.dev, o->top.ino) ?
                                        1 :
                                        idset_add(&overlays_seen, o->top.dev, o->top.ino);
                        if (fresh < 0)
                                goto fail;
                        if (fresh) {
                                uint64_t allocated = o->top.actual_size, virt = o->top.virtual_size;

                                b->allocated_bytes += allocated;
                                b->virtual_bytes += virt;
                                u.overlays_allocated_bytes += allocated;
                                if (o->top.live && virt > allocated) {
                                        b->committed_growth_bytes += virt - allocated;
                                        u.committed_growth_bytes += virt - allocated;
                                }
                        }

                        for (const HomeLayer *layer = o->top.next; layer; layer = layer->next) {
                                bool end = !layer->next && layer->format == HOME_FORMAT_RAW;
                                Tally *t;

                                if (idset_add(&reached, layer->dev, layer->ino) < 0)
                                        goto fail;
                                /* A snapshot inside a box is counted with the box; only bases and ends are shared. */
                                if (!end && !idset_contains(&base_ids, layer->dev, layer->ino))
                                        continue;
                                t = tally_get(end ? &ends : &bases, &u.arena, layer, layer->filename, !end);
                                if (!t)
                                        goto fail;
                                if (t->last_box != bi + 1) {
                                        t->last_box = bi + 1;
                                        t->img.n_boxes++;
                                }
                                if (end && refs_add_unique(&u.image_refs, &n_refs, &allocated_refs, first_image[bi],
                                                           t->img.path) < 0)
                                        goto fail;
                        }
                }
                if (n_refs - first_image[bi] > 1)
                        qsort(u.image_refs + first_image[bi], n_refs - first_image[bi], sizeof(char *), cmp_str);
                /* The run's end. */
                if (greedy_realloc(&u.image_refs, &allocated_refs, n_refs + 1, sizeof(char *), 1024) < 0)
                        goto fail;
                u.image_refs[n_refs++] = NULL;
        }
        /* The runs do not move any more. */
        for (size_t i = 0; i < u.n_boxes; i++)
                u.boxes[i].images = u.image_refs + first_image[i];

        r = tally_finish(&ends, &u.images, &u.n_images, &u.images_allocated_bytes);
        if (r >= 0)
                r = tally_finish(&bases, &u.bases, &u.n_bases, &u.bases_allocated_bytes);
        if (r >= 0)
                r = scan_unreferenced(home, &reached, &u);
        if (r < 0)
                goto fail;
        if (u.n_boxes > 1)
                qsort(u.boxes, u.n_boxes, sizeof(UsageBox), cmp_box);

        /* Overlays grow on the filesystem of boxes/. */
        if (asprintf(&boxes_dir, "%s/boxes", home) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        if (statvfs(boxes_dir, &sv) >= 0 || statvfs(home, &sv) >= 0) {
                u.available_bytes = (uint64_t) sv.f_bavail * (sv.f_frsize ?: sv.f_bsize);
                u.available_known = true;
        }

        free(first_image);
        idset_done(&overlays_seen);
        idset_done(&linked);
        idset_done(&reached);
        idset_done(&base_ids);
        *ret = u;
        return 0;

fail:
        free(first_image);
        tally_list_done(&ends);
        tally_list_done(&bases);
        idset_done(&overlays_seen);
        idset_done(&linked);
        idset_done(&reached);
        idset_done(&base_ids);
        usage_done(&u);
        return r < 0 ? r : -ENOMEM;
}
