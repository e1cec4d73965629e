/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "macro.h"

static const struct {
        const char *in;
        const char *out;
} cases[] = {
        { "", "" },
        { "/var/lib/boxlite", "/var/lib/boxlite" },
        { "/x\nVerdict: ok", "/x\\nVerdict: ok" },
        { "\e[2J", "\\x1b[2J" },
        { "a\tb\rc\ad\be\ff\vg", "a\\tb\\rc\\ad\\be\\ff\\vg" },
        { "back\\slash", "back\\\\slash" },
        { "\x01\x1f\x7f", "\\x01\\x1f\\x7f" },
        { "bäse ☃.ext4", "bäse ☃.ext4" },                /* printable UTF-8 is kept */
        { "csi\xc2\x9b" "2J", "csi\\xc2\\x9b2J" },       /* C1 control U+009B */
        { "nbsp\xc2\xa0.", "nbsp\xc2\xa0." },            /* U+00A0 is printable */
        { "bad\xff\xfe", "bad\\xff\\xfe" },              /* not UTF-8 */
        { "cut\xe2\x98", "cut\\xe2\\x98" },              /* a truncated sequence */
};

START_TEST(test_cescape) {
        _cleanup_free_ char *s = cescape(cases[_i].in);
        char *buf = NULL;
        size_t n = 0;
        FILE *f;

        ck_assert_ptr_nonnull(s);
        ck_assert_msg(streq(s, cases[_i].out), "case %d: '%s', expected '%s'", _i, s, cases[_i].out);

        f = open_memstream(&buf, &n);
        ck_assert_ptr_nonnull(f);
        ck_assert_int_ge(fputs_escaped(cases[_i].in, f), 0);
        fclose(f);
        ck_assert_str_eq(buf, cases[_i].out);
        free(buf);
}
END_TEST

START_TEST(test_cescape_worst_case) {
        char in[257];
        _cleanup_free_ char *s = NULL;

        for (int i = 0; i < 256; i++)
                in[i] = (char) (i == 0 ? 0x80 : i);
        in[256] = 0;
        s = cescape(in);
        ck_assert_ptr_nonnull(s);
        ck_assert(!strchr(s, '\n') && !strchr(s, '\e') && !strchr(s, 0x7f));
        ck_assert_ptr_null(cescape(NULL));
}
END_TEST

static Suite *escape_suite(void) {
        Suite *s = suite_create("escape");
        TCase *tc = tcase_create("cescape");

        tcase_add_loop_test(tc, test_cescape, 0, (int) ELEMENTSOF(cases));
        tcase_add_test(tc, test_cescape_worst_case);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(escape_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
