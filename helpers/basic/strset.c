/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strset.h"

/*
 * Eight bytes at a time (keys are paths, a hundred bytes and more): each word
 * is mixed in by a multiply and a rotation, the tail byte-wise, then the
 * length and splitmix64's avalanche.
 */
uint64_t strset_hash(const void *data, size_t len) {
        const unsigned char *p = data;
        uint64_t h = UINT64_C(0xcbf29ce484222325), w;
        size_t i = 0;

        for (; i + 8 <= len; i += 8) {
                memcpy(&w, p + i, 8);
                h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
                h = (h << 31) | (h >> 33);
        }
        for (; i < len; i++)
                h = (h ^ p[i]) * UINT64_C(0x100000001b3);
        h ^= len;
        h ^= h >> 30;
        h *= UINT64_C(0xbf58476d1ce4e5b9);
        h ^= h >> 27;
        h *= UINT64_C(0x94d049bb133111eb);
        return h ^ (h >> 31);
}

static StrSetSlot *strset_find(const StrSet *s, const void *key, size_t len, uint64_t hash) {
        size_t mask = s->allocated - 1;

        for (size_t i = (size_t) hash & mask;; i = (i + 1) & mask) {
                StrSetSlot *slot = &s->slots[i];

                if (!slot->key || (slot->hash == hash && slot->len == len && memcmp(slot->key, key, len) == 0))
                        return slot;
        }
}

static int strset_grow(StrSet *s) {
        size_t a = s->allocated ? s->allocated * 2 : 256;
        StrSet n = { .allocated = a, .borrow_keys = s->borrow_keys };

        n.slots = calloc(a, sizeof(StrSetSlot));
        if (!n.slots)
                return -ENOMEM;
        for (size_t i = 0; i < s->allocated; i++)
                if (s->slots[i].key)
                        *strset_find(&n, s->slots[i].key, s->slots[i].len, s->slots[i].hash) = s->slots[i];
        n.n = s->n;
        free(s->slots);
        *s = n;
        return 0;
}

int strset_add(StrSet *s, const void *key, size_t len) {
        return strset_put(s, key, len, 0);
}

int strset_put(StrSet *s, const void *key, size_t len, uint64_t value) {
        uint64_t hash = strset_hash(key, len);
        StrSetSlot *slot;

        if ((s->n + 1) * 4 > s->allocated * 3) {
                int r = strset_grow(s);
                if (r < 0)
                        return r;
        }
        slot = strset_find(s, key, len, hash);
        if (slot->key)
                return 0;
        if (s->borrow_keys)
                slot->key = (char *) key;
        else {
                slot->key = malloc(len + 1);
                if (!slot->key)
                        return -ENOMEM;
                memcpy(slot->key, key, len);
                slot->key[len] = 0;
        }
        slot->len = len;
        slot->hash = hash;
        slot->value = value;
        s->n++;
        return 1;
}

bool strset_contains(const StrSet *s, const void *key, size_t len) {
        if (s->allocated == 0)
                return false;
        return strset_find(s, key, len, strset_hash(key, len))->key != NULL;
}

void strset_done(StrSet *s) {
        bool borrow = s->borrow_keys;

        for (size_t i = 0; !borrow && i < s->allocated; i++)
                free(s->slots[i].key);
        free(s->slots);
        *s = (StrSet) { .borrow_keys = borrow };
}

bool strset_get(const StrSet *s, const void *key, size_t len, uint64_t *ret_value) {
        const StrSetSlot *slot;

        if (s->allocated == 0)
                return false;
        slot = strset_find(s, key, len, strset_hash(key, len));
        if (!slot->key)
                return false;
        *ret_value = slot->value;
        return true;
}
