/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "utf8.h"

#define FFFD "\xef\xbf\xbd"

typedef struct Utf8Case {
        const char *name;
        const char *input;
        bool valid;
        const char *sanitized; /* what utf8_sanitize() returns */
} Utf8Case;

static const Utf8Case cases[] = {
        { "empty", "", true, "" },
        { "ASCII", "base-image.qcow2", true, "base-image.qcow2" },
        { "ASCII control and DEL", "a\x01\x1f\x7f", true, "a\x01\x1f\x7f" },
        { "two-byte e acute", "caf\xc3\xa9", true, "caf\xc3\xa9" },
        { "lowest two-byte U+0080", "\xc2\x80", true, "\xc2\x80" },
        { "three-byte CJK", "\xe6\x97\xa5\xe6\x9c\xac.img", true, "\xe6\x97\xa5\xe6\x9c\xac.img" },
        { "lowest three-byte U+0800", "\xe0\xa0\x80", true, "\xe0\xa0\x80" },
        { "U+D7FF below the surrogates", "\xed\x9f\xbf", true, "\xed\x9f\xbf" },
        { "U+E000 above the surrogates", "\xee\x80\x80", true, "\xee\x80\x80" },
        { "U+FFFD itself", FFFD, true, FFFD },
        { "four-byte emoji", "\xf0\x9f\x98\x80", true, "\xf0\x9f\x98\x80" },
        { "lowest four-byte U+10000", "\xf0\x90\x80\x80", true, "\xf0\x90\x80\x80" },
        { "highest code point U+10FFFF", "\xf4\x8f\xbf\xbf", true, "\xf4\x8f\xbf\xbf" },
        { "mixed", "a\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80z", true,
          "a\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80z" },

        { "byte 0xff", "a\xff" "b", false, "a" FFFD "b" },
        { "byte 0xfe", "\xfe", false, FFFD },
        { "lone continuation 0x80", "\x80", false, FFFD },
        { "lone continuation 0xbf in text", "ab\xbf" "cd", false, "ab" FFFD "cd" },
        { "two continuations", "\x80\x80", false, FFFD FFFD },
        { "truncated two-byte at end", "a\xc3", false, "a" FFFD },
        { "truncated three-byte at end", "a\xe6\x97", false, "a" FFFD FFFD },
        { "truncated four-byte at end", "\xf0\x9f\x98", false, FFFD FFFD FFFD },
        { "lead byte followed by ASCII", "\xe6" "ab", false, FFFD "ab" },
        { "overlong slash 0xc0 0xaf", "\xc0\xaf", false, FFFD FFFD },
        { "overlong NUL 0xc0 0x80", "\xc0\x80", false, FFFD FFFD },
        { "overlong 0xc1 0xbf", "\xc1\xbf", false, FFFD FFFD },
        { "overlong three-byte 0xe0 0x80 0xaf", "\xe0\x80\xaf", false, FFFD FFFD FFFD },
        { "overlong four-byte 0xf0 0x80 0x80 0xaf", "\xf0\x80\x80\xaf", false, FFFD FFFD FFFD FFFD },
        { "surrogate U+D800", "\xed\xa0\x80", false, FFFD FFFD FFFD },
        { "surrogate U+DFFF", "\xed\xbf\xbf", false, FFFD FFFD FFFD },
        { "above U+10FFFF", "\xf4\x90\x80\x80", false, FFFD FFFD FFFD FFFD },
        { "lead byte 0xf5", "\xf5\x80\x80\x80", false, FFFD FFFD FFFD FFFD },
        { "valid around invalid", "\xc3\xa9\xff\xc3\xa9", false, "\xc3\xa9" FFFD "\xc3\xa9" },
};

START_TEST(test_utf8_is_valid) {
        const Utf8Case *c = &cases[_i];

        ck_assert_msg(utf8_is_valid(c->input) == c->valid, "%s: utf8_is_valid() != %s", c->name,
                      c->valid ? "true" : "false");
}
END_TEST

START_TEST(test_utf8_sanitize) {
        const Utf8Case *c = &cases[_i];
        _cleanup_free_ char *s = NULL;

        s = utf8_sanitize(c->input);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(streq(s, c->sanitized), "%s: utf8_sanitize() returned the wrong string", c->name);
        ck_assert_msg(utf8_is_valid(s), "%s: sanitized string is not valid UTF-8", c->name);
        if (c->valid)
                ck_assert_ptr_ne(s, c->input);
}
END_TEST

START_TEST(test_utf8_sanitize_worst_case) {
        /* Every byte invalid: the output is three times the input. */
        char in[257];
        _cleanup_free_ char *s = NULL;

        for (size_t i = 0; i < sizeof(in) - 1; i++)
                in[i] = (char) (0x80 + i % 0x40);
        in[sizeof(in) - 1] = 0;

        s = utf8_sanitize(in);
        ck_assert_ptr_nonnull(s);
        ck_assert_uint_eq(strlen(s), 3 * (sizeof(in) - 1));
        for (size_t i = 0; i < sizeof(in) - 1; i++)
                ck_assert_msg(memcmp(s + 3 * i, FFFD, 3) == 0, "byte %zu was not replaced", i);
}
END_TEST

Suite *utf8_suite(void);

Suite *utf8_suite(void) {
        Suite *s = suite_create("utf8");
        TCase *tc;

        tc = tcase_create("validate");
        tcase_add_loop_test(tc, test_utf8_is_valid, 0, (int) ELEMENTSOF(cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("sanitize");
        tcase_add_loop_test(tc, test_utf8_sanitize, 0, (int) ELEMENTSOF(cases));
        tcase_add_test(tc, test_utf8_sanitize_worst_case);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(utf8_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
