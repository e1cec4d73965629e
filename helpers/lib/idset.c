/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "idset.h"

static size_t id_hash(FileId id, size_t mask) {
        uint64_t h = (uint64_t) id.ino * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t) id.dev * UINT64_C(0xc2b2ae3d27d4eb4f);
        return (size_t) (h ^ (h >> 29)) & mask;
}

/* An empty slot is all zero; the identity (0, 0) itself is kept aside in has_zero. One array, one cache miss. */
static bool id_empty(FileId id) {
        return id.dev == 0 && id.ino == 0;
}

static int idset_grow(IdSet *s) {
        IdSet n = { .has_zero = s->has_zero };
        size_t a = s->allocated ? s->allocated * 2 : 1024;

        n.slots = calloc(a, sizeof(FileId));
        if (!n.slots)
                return -ENOMEM;
        n.allocated = a;
        for (size_t i = 0; i < s->allocated; i++)
                if (!id_empty(s->slots[i]))
                        (void) idset_add(&n, s->slots[i].dev, s->slots[i].ino);
        n.n = s->n;
        free(s->slots);
        *s = n;
        return 0;
}

int idset_add(IdSet *s, dev_t dev, ino_t ino) {
        FileId id = { dev, ino };
        size_t i;

        if (id_empty(id)) {
                if (s->has_zero)
                        return 0;
                s->has_zero = true;
                s->n++;
                return 1;
        }
        if ((s->n + 1) * 4 > s->allocated * 3) {
                int r = idset_grow(s);
                if (r < 0)
                        return r;
        }
        for (i = id_hash(id, s->allocated - 1); !id_empty(s->slots[i]); i = (i + 1) & (s->allocated - 1))
                if (s->slots[i].dev == dev && s->slots[i].ino == ino)
                        return 0;
        s->slots[i] = id;
        s->n++;
        return 1;
}

bool idset_contains(const IdSet *s, dev_t dev, ino_t ino) {
        FileId id = { dev, ino };

        if (id_empty(id))
                return s->has_zero;
        if (s->allocated == 0)
                return false;
        for (size_t i = id_hash(id, s->allocated - 1); !id_empty(s->slots[i]); i = (i + 1) & (s->allocated - 1))
                if (s->slots[i].dev == dev && s->slots[i].ino == ino)
                        return true;
        return false;
}

void idset_done(IdSet *s) {
        free(s->slots);
        *s = (IdSet) {};
}

int idset_merge(IdSet *dst, const IdSet *src) {
        if (src->has_zero && idset_add(dst, 0, 0) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < src->allocated; i++)
                if (!id_empty(src->slots[i]) && idset_add(dst, src->slots[i].dev, src->slots[i].ino) < 0)
                        return -ENOMEM;
        return 0;
}
