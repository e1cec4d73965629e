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

/* The slot of a non-zero identity, taken for it if it was not there; the set has room. */
static size_t slot_insert(IdSet *s, FileId id, bool *ret_new) {
        size_t i;

        for (i = id_hash(id, s->allocated - 1); !id_empty(s->slots[i]); i = (i + 1) & (s->allocated - 1))
                if (s->slots[i].dev == id.dev && s->slots[i].ino == id.ino) {
                        *ret_new = false;
                        return i;
                }
        s->slots[i] = id;
        s->n++;
        *ret_new = true;
        return i;
}

static int idset_grow(IdSet *s) {
        IdSet n = { .with_owners = s->with_owners, .has_zero = s->has_zero, .zero_owner = s->zero_owner };
        size_t a = s->allocated ? s->allocated * 2 : 1024;

        n.slots = calloc(a, sizeof(FileId));
        n.owners = s->with_owners ? calloc(a, sizeof(unsigned)) : NULL;
        if (!n.slots || (s->with_owners && !n.owners)) {
                free(n.slots);
                free(n.owners);
                return -ENOMEM;
        }
        n.allocated = a;
        for (size_t i = 0; i < s->allocated; i++)
                if (!id_empty(s->slots[i])) {
                        bool added;
                        size_t j = slot_insert(&n, s->slots[i], &added);

                        if (n.owners)
                                n.owners[j] = s->owners[i];
                }
        n.n = s->n;
        free(s->slots);
        free(s->owners);
        *s = n;
        return 0;
}

/* Finds or adds id: its owner slot (NULL for a set without owners), with *ret_new; -ENOMEM in *ret_r. */
static unsigned *slot_find_or_add(IdSet *s, FileId id, bool *ret_new, int *ret_r) {
        static unsigned no_owner;
        size_t i;

        *ret_r = 0;
        if (id_empty(id)) {
                *ret_new = !s->has_zero;
                if (!s->has_zero) {
                        s->has_zero = true;
                        s->zero_owner = 0;
                        s->n++;
                }
                return &s->zero_owner;
        }
        if ((s->n + 1) * 4 > s->allocated * 3) {
                *ret_r = idset_grow(s);
                if (*ret_r < 0)
                        return NULL;
        }
        i = slot_insert(s, id, ret_new);
        if (!s->owners)
                return &no_owner;
        if (*ret_new)
                s->owners[i] = 0;
        return &s->owners[i];
}

int idset_add(IdSet *s, dev_t dev, ino_t ino) {
        bool added;
        int r;

        (void) slot_find_or_add(s, (FileId) { dev, ino }, &added, &r);
        return r < 0 ? r : added;
}

int idset_claim(IdSet *s, dev_t dev, ino_t ino, unsigned owner, bool (*released)(unsigned owner, const void *userdata),
                const void *userdata, unsigned *ret_holder) {
        unsigned *o;
        bool added;
        int r;

        if (s->n == 0)
                s->with_owners = true;
        else if (!s->with_owners)
                return -EINVAL; /* added to without owners */
        o = slot_find_or_add(s, (FileId) { dev, ino }, &added, &r);
        if (!o)
                return r;
        if (!added && !(released && released(*o, userdata))) {
                if (ret_holder)
                        *ret_holder = *o;
                return 0;
        }
        *o = owner;
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
        free(s->owners);
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
