/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A set of byte strings (open addressing, grown at three-quarter load). Keys are
 * copied (unless borrow_keys: then the caller keeps each key's bytes alive and
 * unchanged until strset_done()); a key is (data, len), so it may hold NULs. strset_add() returns 1
 * when the key was new, 0 when it was there, -ENOMEM. An all-zero StrSet is
 * empty and valid.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct StrSetSlot {
        char *key;
        size_t len;
        uint64_t hash;
        uint64_t value;
} StrSetSlot;

typedef struct StrSet {
        StrSetSlot *slots;
        size_t n, allocated;
        bool borrow_keys;
} StrSet;

uint64_t strset_hash(const void *data, size_t len);
int strset_add(StrSet *s, const void *key, size_t len);
bool strset_contains(const StrSet *s, const void *key, size_t len);
/* The same, with a value per key: strset_put() keeps the first value of a key. */
int strset_put(StrSet *s, const void *key, size_t len, uint64_t value);
bool strset_get(const StrSet *s, const void *key, size_t len, uint64_t *ret_value);
void strset_done(StrSet *s);
