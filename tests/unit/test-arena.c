/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The arena of the walk's records, and the string set that borrows its keys from it. */

#include <check.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "strset.h"

START_TEST(test_arena_aligned_after_strings) {
        Arena a = {};

        for (size_t i = 0; i < 5000; i++) {
                char name[32];
                char *s;
                uint64_t *p;

                snprintf(name, sizeof(name), "name-%zu", i);
                s = arena_strndup(&a, name, i % 7);
                ck_assert_ptr_nonnull(s);
                ck_assert_int_eq(strncmp(s, name, i % 7), 0);
                ck_assert_int_eq(s[i % 7], 0);
                p = arena_alloc0(&a, sizeof(uint64_t) * (i % 5 + 1));
                ck_assert_ptr_nonnull(p);
                ck_assert_uint_eq((uintptr_t) p % alignof(max_align_t), 0);
                ck_assert_uint_eq(p[0], 0);
                p[0] = i;
        }
        ck_assert_ptr_null(arena_alloc(&a, 0));
        ck_assert_ptr_null(arena_strdup(&a, NULL));
        arena_done(&a);
        ck_assert_ptr_null(a.chunks);
}
END_TEST

/* Large requests get a chunk of their own; what was handed out before stays where it is. */
START_TEST(test_arena_large_and_move) {
        Arena a = {}, b = {};
        char *small = arena_strdup(&a, "small"), *big, *other;

        big = arena_alloc(&a, 1024 * 1024);
        ck_assert_ptr_nonnull(big);
        memset(big, 'x', 1024 * 1024);
        other = arena_strdup(&a, "after");
        ck_assert_str_eq(small, "small");
        ck_assert_str_eq(other, "after");
        ck_assert_ptr_null(arena_alloc(&a, SIZE_MAX));

        arena_move(&b, &a);
        ck_assert_ptr_null(a.chunks);
        ck_assert_str_eq(small, "small");
        ck_assert_str_eq(other, "after");
        ck_assert_ptr_nonnull(arena_strdup(&a, "a again"));
        arena_move(&b, &a);
        ck_assert_str_eq(arena_strdup(&b, "into b"), "into b");
        arena_done(&a);
        arena_done(&b);
}
END_TEST

START_TEST(test_strset_borrowed_keys) {
        StrSet s = { .borrow_keys = true };
        Arena a = {};
        char *keys[3000];
        uint64_t v;

        for (size_t i = 0; i < (sizeof(keys) / sizeof(keys[0])); i++) {
                char name[32];

                snprintf(name, sizeof(name), "/images/sha256-%zu.ext4", i);
                keys[i] = arena_strdup(&a, name);
                ck_assert_int_eq(strset_put(&s, keys[i], strlen(keys[i]), i), 1);
        }
        for (size_t i = 0; i < (sizeof(keys) / sizeof(keys[0])); i++) {
                ck_assert(strset_get(&s, keys[i], strlen(keys[i]), &v));
                ck_assert_uint_eq(v, i);
        }
        /* The first value stays; the set keeps the caller's bytes, not a copy. */
        ck_assert_int_eq(strset_put(&s, keys[7], strlen(keys[7]), 99), 0);
        ck_assert(strset_get(&s, keys[7], strlen(keys[7]), &v));
        ck_assert_uint_eq(v, 7);
        strset_done(&s);
        ck_assert(s.borrow_keys);
        ck_assert(!strset_contains(&s, keys[7], strlen(keys[7])));
        arena_done(&a);
}
END_TEST

static Suite *arena_suite(void) {
        Suite *s = suite_create("arena");
        TCase *tc = tcase_create("arena");

        tcase_add_test(tc, test_arena_aligned_after_strings);
        tcase_add_test(tc, test_arena_large_and_move);
        tcase_add_test(tc, test_strset_borrowed_keys);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(arena_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
