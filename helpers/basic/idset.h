/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A set of file identities (st_dev, st_ino): open addressing, linear probing,
 * grown at three-quarter load (16 bytes a slot: 21 to 43 bytes an identity). idset_add() returns 1 when the identity was new, 0 when
 * it was already there, -ENOMEM. An all-zero IdSet is empty and valid.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct FileId {
        dev_t dev;
        ino_t ino;
} FileId;

typedef struct IdSet {
        FileId *slots;       /* (0, 0): empty */
        unsigned *owners;    /* idset_claim(): who claimed each slot's identity; NULL until then */
        bool with_owners;    /* claimed into while empty: owners kept */
        bool has_zero;       /* the identity (0, 0) is in the set */
        unsigned zero_owner;
        size_t n, allocated; /* allocated is a power of two */
} IdSet;

int idset_add(IdSet *s, dev_t dev, ino_t ino);
bool idset_contains(const IdSet *s, dev_t dev, ino_t ino);
/* Adds every identity of src to dst: 0 or -ENOMEM. */
int idset_merge(IdSet *dst, const IdSet *src);
void idset_done(IdSet *s);
/*
 * Claims an identity for owner: 1 when it was new, or its owner is one that
 * released(owner, userdata) says gave its claims up (then owner takes it over);
 * 0 when another owner holds it (*ret_holder, if given); -ENOMEM. A set claimed into holds owners for
 * every identity (idset_add() gives them owner 0).
 */
int idset_claim(IdSet *s, dev_t dev, ino_t ino, unsigned owner, bool (*released)(unsigned owner, const void *userdata),
                const void *userdata, unsigned *ret_holder);
