/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The memory of mount points (mounts.h) without root: the mount table of the
 * test's own mount namespace is real; the memory files are written by hand.
 * /proc is always a mount point, a directory of the test's is never one.
 */

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "mounts.h"
#include "state-file.h"

static char tmp[] = "/tmp/boxlite-test-mounts.XXXXXX";
static char home[PATH_MAX], state[PATH_MAX], memory[2 * PATH_MAX + 8], fstab[PATH_MAX];

static void setup(void) {
        _cleanup_free_ char *name = NULL, *real = NULL;

        strcpy(tmp, "/tmp/boxlite-test-mounts.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmp));
        snprintf(home, sizeof(home), "%s/home", tmp);
        snprintf(state, sizeof(state), "%s/state", tmp);
        snprintf(fstab, sizeof(fstab), "%s/fstab", tmp);
        ck_assert_int_eq(mkdir(home, 0755), 0);
        ck_assert_int_eq(mkdir(state, 0755), 0);
        real = realpath(home, NULL);
        name = state_file_name("mounts", real);
        snprintf(memory, sizeof(memory), "%s/%s", state, name);
        setenv("BOXLITE_STATE_DIRECTORY", state, 1);
        setenv("LIBMOUNT_FSTAB", fstab, 1);
}

static void teardown(void) {
        char cmd[PATH_MAX + 16];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

static void write_memory(const char *mount, bool end) {
        _cleanup_free_ char *real = realpath(home, NULL), *text = NULL;

        ck_assert_int_ge(asprintf(&text, "boxlite-gc-mounts 1\nhome=%s\n%s%s%s%s", real, mount ? "mount=" : "",
                                  mount ?: "", mount ? "\n" : "", end ? "end\n" : ""), 0);
        write_file(memory, text);
}

static int check(char **why) {
        *why = NULL;
        return mounts_check(home, why);
}

START_TEST(test_nothing_remembered) {
        _cleanup_free_ char *why = NULL;

        ck_assert_int_eq(check(&why), 0);
        ck_assert_ptr_null(why);
}
END_TEST

START_TEST(test_remembered_present) {
        _cleanup_free_ char *why = NULL;

        write_memory("/proc", true);
        ck_assert_int_eq(check(&why), 0);
}
END_TEST

START_TEST(test_remembered_missing) {
        _cleanup_free_ char *why = NULL, *gone = NULL;

        ck_assert_int_ge(asprintf(&gone, "%s/disk", tmp), 0);
        ck_assert_int_eq(mkdir(gone, 0755), 0);
        write_memory(gone, true);
        ck_assert_int_eq(check(&why), 1);
        ck_assert_ptr_nonnull(strstr(why, gone));
        ck_assert_ptr_nonnull(strstr(why, "nothing is mounted there now"));
        ck_assert_ptr_nonnull(strstr(why, "--forget-mounts"));
        ck_assert_ptr_nonnull(strstr(why, memory));
        free(why);
        ck_assert_int_eq(rmdir(gone), 0);
        ck_assert_int_eq(check(&why), 1);
        ck_assert_ptr_nonnull(strstr(why, "does not exist now"));
}
END_TEST

START_TEST(test_forget) {
        _cleanup_free_ char *why = NULL;

        write_memory("/nonexistent-mount", true);
        ck_assert_int_eq(check(&why), 1);
        ck_assert_int_eq(mounts_forget(home), 0);
        ck_assert_int_eq(access(memory, F_OK), -1);
        free(why);
        ck_assert_int_eq(check(&why), 0);
        ck_assert_int_eq(mounts_forget(home), 0); /* nothing to forget: fine */
}
END_TEST

/* A memory that cannot be trusted is not a memory of nothing: the check fails with the reason. */
static const struct {
        const char *text;   /* NULL: see the test */
        const char *why;
} bad_memories[] = {
        { "boxlite-gc-mounts 1\nhome=/elsewhere\nend\n", "not a complete memory" },
        { "boxlite-gc-mounts 2\nhome=HOME\nend\n", "not a complete memory" },
        { "boxlite-gc-mounts 1\nhome=HOME\nmount=/proc\n", "not a complete memory" },
        { "boxlite-gc-mounts 1\nhome=HOME\nmount=relative\nend\n", "not a complete memory" },
        { "boxlite-gc-mounts 1\nhome=HOME\nmount=/pro\\c\nend\n", "not a complete memory" },
        { "boxlite-gc-mounts 1\nmount=/proc\nhome=HOME\nend\n", "not a complete memory" },
        { "", "not a complete memory" },
};

START_TEST(test_bad_memory) {
        _cleanup_free_ char *why = NULL, *real = realpath(home, NULL), *text = strdup(bad_memories[_i].text);
        char *p = strstr(text, "HOME");

        if (p) {
                char *t = NULL;

                *p = 0;
                ck_assert_int_ge(asprintf(&t, "%s%s%s", text, real, p + 4), 0);
                free(text);
                text = t;
        }
        write_file(memory, text);
        ck_assert_int_lt(check(&why), 0);
        ck_assert_ptr_nonnull(why);
        ck_assert_ptr_nonnull(strstr(why, bad_memories[_i].why));
}
END_TEST

START_TEST(test_unsafe_memory) {
        _cleanup_free_ char *why = NULL, *target = NULL;

        /* A link, a FIFO, a NUL, a state directory others may write. */
        ck_assert_int_ge(asprintf(&target, "%s/elsewhere", tmp), 0);
        write_file(target, "boxlite-gc-mounts 1\n");
        ck_assert_int_eq(symlink(target, memory), 0);
        ck_assert_int_lt(check(&why), 0);
        ck_assert_ptr_nonnull(strstr(why, "is not a regular file of this user"));
        ck_assert_int_eq(unlink(memory), 0);

        ck_assert_int_eq(mkfifo(memory, 0600), 0);
        why = mfree(why);
        ck_assert_int_lt(check(&why), 0);
        ck_assert_ptr_nonnull(strstr(why, "is not a regular file of this user"));
        ck_assert_int_eq(unlink(memory), 0);

        {
                FILE *f = fopen(memory, "we");

                ck_assert_ptr_nonnull(f);
                fwrite("boxlite-gc-mounts 1\n\0end\n", 1, 25, f);
                ck_assert_int_eq(fclose(f), 0);
        }
        why = mfree(why);
        ck_assert_int_lt(check(&why), 0);
        ck_assert_ptr_nonnull(strstr(why, "NUL"));
        ck_assert_int_eq(unlink(memory), 0);

        write_memory("/proc", true);
        ck_assert_int_eq(chmod(state, 0777), 0);
        why = mfree(why);
        ck_assert_int_lt(check(&why), 0);
        ck_assert_ptr_nonnull(strstr(why, "writable by others"));
        ck_assert_ptr_nonnull(strstr(why, state));
        ck_assert_int_eq(chmod(state, 0755), 0);
}
END_TEST

START_TEST(test_remember_roundtrip) {
        _cleanup_free_ char *why = NULL, *text = NULL, *odd = NULL;
        char *walked[] = { (char *) "/proc", (char *) "/proc/self", NULL, NULL };
        size_t n;

        /* A directory with a newline and a backslash in its name, on the test's own file system. */
        ck_assert_int_ge(asprintf(&odd, "%s/a\nb\\c", home), 0);
        ck_assert_int_eq(mkdir(odd, 0755), 0);
        walked[2] = odd;
        ck_assert_int_eq(mounts_remember(home, walked), 0);
        ck_assert_int_eq(state_file_read(state, strrchr(memory, '/') + 1, 1 << 20, &text, &n), 0);
        /* /proc once (the mount that holds both), the home's own file system not at all. */
        ck_assert_ptr_nonnull(strstr(text, "\nmount=/proc\n"));
        ck_assert_ptr_null(strstr(strstr(text, "\nmount=/proc\n") + 2, "\nmount=/proc\n"));
        ck_assert_ptr_null(strstr(text, "a\nb"));
        ck_assert_ptr_nonnull(strstr(text, "\nend\n"));
        ck_assert_int_eq(check(&why), 0);
}
END_TEST

START_TEST(test_fstab) {
        _cleanup_free_ char *why = NULL, *text = NULL, *real = realpath(home, NULL);

        ck_assert_int_ge(asprintf(&text, "tmpfs %s/boxes tmpfs defaults 0 0\nproc /proc proc defaults 0 0\n", real), 0);
        write_file(fstab, text);
        ck_assert_int_eq(check(&why), 1);
        ck_assert_ptr_nonnull(strstr(why, "/boxes' is declared in"));
        ck_assert_ptr_nonnull(strstr(why, fstab));
        free(text);
        ck_assert_int_ge(asprintf(&text, "tmpfs %s-other/boxes tmpfs defaults 0 0\n", real), 0);
        write_file(fstab, text);
        why = mfree(why);
        ck_assert_int_eq(check(&why), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("mounts");
        TCase *tc = tcase_create("memory");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_nothing_remembered);
        tcase_add_test(tc, test_remembered_present);
        tcase_add_test(tc, test_remembered_missing);
        tcase_add_test(tc, test_forget);
        tcase_add_loop_test(tc, test_bad_memory, 0, ELEMENTSOF(bad_memories));
        tcase_add_test(tc, test_unsafe_memory);
        tcase_add_test(tc, test_remember_roundtrip);
        tcase_add_test(tc, test_fstab);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
