/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

/* Chunks of 64 KiB: a walk of a large home needs a few hundred, a small one one. */
#define ARENA_CHUNK_SIZE ((size_t) 64 * 1024)
#define ARENA_ALIGN alignof(max_align_t)

struct ArenaChunk {
        ArenaChunk *next;
        alignas(max_align_t) char data[];
};

static size_t align_up(size_t n) {
        return (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
}

void *arena_alloc(Arena *a, size_t size) {
        ArenaChunk *c;
        size_t n;

        if (size == 0 || size > SIZE_MAX / 2)
                return NULL;
        n = align_up(size);
        if (a->next) {
                /* After packed strings the free part may start unaligned. */
                char *p = a->next + (align_up((uintptr_t) a->next) - (uintptr_t) a->next);

                if (p <= a->end && (size_t) (a->end - p) >= n) {
                        a->next = p + n;
                        a->used += n;
                        return p;
                }
        }
        /* A large request gets a chunk of its own, behind the current one, which keeps its free part. */
        if (n > ARENA_CHUNK_SIZE / 4) {
                c = malloc(sizeof(ArenaChunk) + n);
                if (!c)
                        return NULL;
                if (a->chunks) {
                        c->next = a->chunks->next;
                        a->chunks->next = c;
                } else {
                        c->next = NULL;
                        a->chunks = c;
                        a->next = a->end = c->data + n;
                }
                a->used += n;
                return c->data;
        }
        c = malloc(sizeof(ArenaChunk) + ARENA_CHUNK_SIZE);
        if (!c)
                return NULL;
        c->next = a->chunks;
        a->chunks = c;
        a->next = c->data + n;
        a->end = c->data + ARENA_CHUNK_SIZE;
        a->used += n;
        return c->data;
}

void *arena_alloc0(Arena *a, size_t size) {
        void *p = arena_alloc(a, size);

        if (p)
                memset(p, 0, size);
        return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
        char *p;

        if (!s)
                return NULL;
        /* Strings need no alignment: they are packed byte after byte in the current chunk. */
        if (a->next && (size_t) (a->end - a->next) > n) {
                p = a->next;
                a->next += n + 1;
                a->used += n + 1;
        } else {
                p = arena_alloc(a, n + 1);
                if (!p)
                        return NULL;
        }
        memcpy(p, s, n);
        p[n] = 0;
        return p;
}

char *arena_strdup(Arena *a, const char *s) {
        return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

void arena_move(Arena *dst, Arena *src) {
        ArenaChunk *last;

        if (!src->chunks)
                return;
        /* src's chunks go behind dst's newest, which keeps its free part. */
        for (last = src->chunks; last->next; last = last->next)
                ;
        if (dst->chunks) {
                last->next = dst->chunks->next;
                dst->chunks->next = src->chunks;
        } else {
                dst->chunks = src->chunks;
                dst->next = src->next;
                dst->end = src->end;
        }
        dst->used += src->used;
        *src = (Arena) {};
}

void arena_done(Arena *a) {
        while (a->chunks) {
                ArenaChunk *c = a->chunks;

                a->chunks = c->next;
                free(c);
        }
        *a = (Arena) {};
}
