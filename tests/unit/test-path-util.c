/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "path-util.h"
#include "qemu-path.h"

START_TEST(test_path_has_protocol) {
        static const struct {
                const char *path;
                bool expected;
        } cases[] = {
                { "json:{\"file\":{\"driver\":\"file\",\"filename\":\"/a/b.qcow2\"}}", true },
                { "nbd:host", true },
                { "nbd:host:10809", true },
                { "file:x", true },
                { "file:/abs/x", true },
                { "a:", true },
                { ":x", true },
                { "a/b:c", false },
                { "./a:b", false },
                { "/abs", false },
                { "/abs:colon", false },
                { "plain.qcow2", false },
                { "", false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                ck_assert_msg(path_has_protocol(cases[i].path) == cases[i].expected,
                              "path_has_protocol(\"%s\") != %s", cases[i].path,
                              cases[i].expected ? "true" : "false");
}
END_TEST

START_TEST(test_path_strip_file_protocol) {
        static const struct {
                const char *name;
                const char *expected; /* NULL: not a file: name */
        } cases[] = {
                { "file:x", "x" },
                { "file:/a/b.qcow2", "/a/b.qcow2" },
                { "file:", "" },
                { "file:file:x", "file:x" },
                { "File:x", NULL },
                { "file", NULL },
                { "nbd:host", NULL },
                { "/file:x", NULL },
                { "x", NULL },
                { "", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *r = path_strip_file_protocol(cases[i].name);

                ck_assert_msg(cases[i].expected ? r && streq(r, cases[i].expected) : !r,
                              "path_strip_file_protocol(\"%s\") = \"%s\", expected \"%s\"", cases[i].name,
                              strna(r), strna(cases[i].expected));
        }
}
END_TEST

/* QEMU block.c path_combine(): the name is appended to the base's directory, as written. */
START_TEST(test_path_combine) {
        static const struct {
                const char *base;
                const char *name;
                const char *expected;
        } cases[] = {
                { "dir/img.qcow2", "b.ext4", "dir/b.ext4" },
                { "img.qcow2", "b.ext4", "b.ext4" },
                { "/a/b/c.qcow2", "../d", "/a/b/../d" },
                { "/img.qcow2", "x", "/x" },
                { "/a/b/c.qcow2", "/abs/x", "/abs/x" },
                { "dir//img", "x", "dir//x" },
                { "dir/", "x", "dir/x" },
                { "./img", "x", "./x" },
                { "file:dir/img", "x", "file:dir/x" },
                { "file:img", "x", "file:x" },
                { "file:/a/img", "x", "file:/a/x" },
                { "a/b:c/img", "x", "a/b:c/x" },
                { "dir/img", "nbd:host", "dir/nbd:host" },
                { "dir/img", "", "dir/" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *r = path_combine(cases[i].base, cases[i].name);

                ck_assert_ptr_nonnull(r);
                ck_assert_msg(streq(r, cases[i].expected),
                              "path_combine(\"%s\", \"%s\") = \"%s\", expected \"%s\"", cases[i].base,
                              cases[i].name, r, cases[i].expected);
        }
}
END_TEST

/* QEMU block.c bdrv_get_full_backing_filename_from_filename(). */
START_TEST(test_path_full_backing_name) {
        static const struct {
                const char *image;
                const char *name;
                const char *expected;
        } cases[] = {
                { "dir/img.qcow2", "b.ext4", "dir/b.ext4" },
                { "img.qcow2", "b.ext4", "b.ext4" },
                { "/a/b/c.qcow2", "../d", "/a/b/../d" },
                { "/a/b/c.qcow2", "/abs/base.qcow2", "/abs/base.qcow2" },
                { "dir/img.qcow2", "nbd:host:10809", "nbd:host:10809" },
                { "dir/img.qcow2", "json:{\"driver\":\"raw\"}", "json:{\"driver\":\"raw\"}" },
                { "dir/img.qcow2", "file:b.qcow2", "file:b.qcow2" },
                { "file:dir/img", "x", "file:dir/x" },
                { "dir//img", "x", "dir//x" },
                { "dir/img", "sub/dir/x", "dir/sub/dir/x" },
                { "a/b:c/img", "x", "a/b:c/x" },
                { "dir/img", "./b:c", "dir/./b:c" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *r = path_full_backing_name(cases[i].image, cases[i].name);

                ck_assert_ptr_nonnull(r);
                ck_assert_msg(streq(r, cases[i].expected),
                              "path_full_backing_name(\"%s\", \"%s\") = \"%s\", expected \"%s\"",
                              cases[i].image, cases[i].name, r, cases[i].expected);
        }
}
END_TEST

static char *saved_boxlite_home = NULL, *saved_home = NULL;
static bool had_boxlite_home = false, had_home = false;

static void env_save(void) {
        const char *e;

        e = getenv("BOXLITE_HOME");
        had_boxlite_home = e;
        saved_boxlite_home = e ? strdup(e) : NULL;
        e = getenv("HOME");
        had_home = e;
        saved_home = e ? strdup(e) : NULL;
        ck_assert(!had_boxlite_home || saved_boxlite_home);
        ck_assert(!had_home || saved_home);
}

static void env_restore_one(const char *name, bool had, const char *value) {
        if (had)
                ck_assert_int_eq(setenv(name, value, 1), 0);
        else
                ck_assert_int_eq(unsetenv(name), 0);
}

static void env_restore(void) {
        env_restore_one("BOXLITE_HOME", had_boxlite_home, saved_boxlite_home);
        env_restore_one("HOME", had_home, saved_home);
        saved_boxlite_home = mfree(saved_boxlite_home);
        saved_home = mfree(saved_home);
}

START_TEST(test_path_default_home_env) {
        static const char *const values[] = { "/srv/boxlite", "relative/home", "/with space/x" };

        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                _cleanup_free_ char *home = NULL;

                ck_assert_int_eq(setenv("BOXLITE_HOME", values[i], 1), 0);
                ck_assert_int_eq(path_default_home(&home), 0);
                ck_assert_str_eq(home, values[i]);
        }
}
END_TEST

START_TEST(test_path_default_home_unset) {
        /* Unset and empty both fall back to the default. */
        for (int empty = 0; empty <= 1; empty++) {
                _cleanup_free_ char *home = NULL;

                if (empty)
                        ck_assert_int_eq(setenv("BOXLITE_HOME", "", 1), 0);
                else
                        ck_assert_int_eq(unsetenv("BOXLITE_HOME"), 0);
                ck_assert_int_eq(setenv("HOME", "/home/tester", 1), 0);
                ck_assert_int_eq(path_default_home(&home), 0);
                if (geteuid() == 0)
                        ck_assert_str_eq(home, "/var/lib/boxlite");
                else
                        ck_assert_str_eq(home, "/home/tester/.boxlite");
        }
}
END_TEST

START_TEST(test_endswith) {
        static const struct {
                const char *s;
                const char *suffix;
                bool expected;
        } cases[] = {
                { "disk.qcow2", ".qcow2", true },
                { ".qcow2", ".qcow2", true },
                { "qcow2", ".qcow2", false },
                { "disk.qcow2.tmp", ".qcow2", false },
                { "disk.QCOW2", ".qcow2", false },
                { "abc", "", true },
                { "", "", true },
                { "", "a", false },
                { "a", "ba", false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                ck_assert_msg(endswith(cases[i].s, cases[i].suffix) == cases[i].expected,
                              "endswith(\"%s\", \"%s\") != %s", cases[i].s, cases[i].suffix,
                              cases[i].expected ? "true" : "false");
}
END_TEST

START_TEST(test_filename_is_hidden) {
        static const struct {
                const char *name;
                bool expected;
        } cases[] = {
                { ".hidden", true },
                { ".", true },
                { "..", true },
                { ".disk.qcow2.tmp", true },
                { "disk.qcow2", false },
                { "disk.", false },
                { "", false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                ck_assert_msg(filename_is_hidden(cases[i].name) == cases[i].expected,
                              "filename_is_hidden(\"%s\") != %s", cases[i].name,
                              cases[i].expected ? "true" : "false");
}
END_TEST

Suite *path_util_suite(void);

Suite *path_util_suite(void) {
        Suite *s = suite_create("path-util");
        TCase *tc;

        tc = tcase_create("protocol");
        tcase_add_test(tc, test_path_has_protocol);
        tcase_add_test(tc, test_path_strip_file_protocol);
        suite_add_tcase(s, tc);

        tc = tcase_create("combine");
        tcase_add_test(tc, test_path_combine);
        tcase_add_test(tc, test_path_full_backing_name);
        suite_add_tcase(s, tc);

        tc = tcase_create("default-home");
        tcase_add_checked_fixture(tc, env_save, env_restore);
        tcase_add_test(tc, test_path_default_home_env);
        tcase_add_test(tc, test_path_default_home_unset);
        suite_add_tcase(s, tc);

        tc = tcase_create("names");
        tcase_add_test(tc, test_endswith);
        tcase_add_test(tc, test_filename_is_hidden);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(path_util_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
