/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * An arena: many small allocations that live and die together (the records
 * of one walk of a home), carved from large chunks without a header each.
 * Nothing is freed alone; arena_done() frees everything, arena_move() hands
 * one arena's chunks to another. An all-zero Arena is empty and valid. Not
 * thread-safe: each thread keeps its own.
 */

#include <stddef.h>

typedef struct ArenaChunk ArenaChunk;

typedef struct Arena {
        ArenaChunk *chunks;     /* the newest first */
        char *next, *end;       /* the free part of the newest chunk */
        size_t used;            /* bytes handed out, for the statistics */
} Arena;

/* size bytes aligned for any object; NULL when out of memory (or size 0). */
void *arena_alloc(Arena *a, size_t size);
/* The same, zeroed. */
void *arena_alloc0(Arena *a, size_t size);
/* Copies of s (NULL for NULL) and of its first n bytes, NUL-terminated. */
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
/* Moves src's chunks into dst: what src handed out stays valid, now dst's. */
void arena_move(Arena *dst, Arena *src);
void arena_done(Arena *a);
