/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "idset.h"

static size_t id_hash(FileId id, size_t mask) {
        uint64_t h = (uint64_t) id.ino * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t) id.dev * UINT64_C(0xc2b2ae3d27d4eb4f);
        return (size_t) (h ^ (h >> 29)) & mask;
}

static int idset_grow(IdSet *s) {
        IdSet n = {};
        size_t a = s->allocated ? s->allocated * 2 : 1024;

        n.slots = calloc(a, sizeof(FileId));
        n.used = calloc(a, sizeof(bool));
        if (!n.slots || !n.used) {
                free(n.slots);
                free(n.used);
                return -ENOMEM;
        }
        n.allocated = a;
        for (size_t i = 0; i < s->allocated; i++)
                if (s->used[i])
                        (void) idset_add(&n, s->slots[i].dev, s->slots[i].ino);
        free(s->slots);
        free(s->used);
        *s = n;
        return 0;
}

int idset_add(IdSet *s, dev_t dev, ino_t ino) {
        FileId id = { dev, ino };
        size_t i;

        if ((s->n + 1) * 2 > s->allocated) {
                int r = idset_grow(s);
                if (r < 0)
                        return r;
        }
        for (i = id_hash(id, s->allocated - 1); s->used[i]; i = (i + 1) & (s->allocated - 1))
                if (s->slots[i].dev == dev && s->slots[i].ino == ino)
                        return 0;
        s->used[i] = true;
        s->slots[i] = id;
        s->n++;
        return 1;
}

bool idset_contains(const IdSet *s, dev_t dev, ino_t ino) {
        FileId id = { dev, ino };

        if (s->allocated == 0)
                return false;
        for (size_t i = id_hash(id, s->allocated - 1); s->used[i]; i = (i + 1) & (s->allocated - 1))
                if (s->slots[i].dev == dev && s->slots[i].ino == ino)
                        return true;
        return false;
}

void idset_done(IdSet *s) {
        free(s->slots);
        free(s->used);
        *s = (IdSet) {};
}
