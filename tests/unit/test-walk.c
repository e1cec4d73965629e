/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The walk of a home (walk.h) on real directory trees in a temporary
 * directory. The overlay callback moves directories in the middle of a pass,
 * at exactly the point a race with the runtime would: deterministic renames,
 * exchanges and removals, each in the same timestamp tick as the listing.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "walk.h"

static char home[] = "/tmp/boxlite-test-walk.XXXXXX";

static void run(const char *cmd) {
        ck_assert_msg(system(cmd) == 0, "'%s' failed", cmd);
}

/* Runs a command in which every "@" stands for the home. */
static void sh(const char *cmd, const char *h) {
        char *c = malloc(strlen(cmd) * (strlen(h) + 1) + 1), *p = c;

        ck_assert_ptr_nonnull(c);
        for (; *cmd; cmd++)
                p = *cmd == '@' ? stpcpy(p, h) : (*p = *cmd, p + 1);
        *p = 0;
        run(c);
        free(c);
}

/* An "overlay": any file with a qcow-like name (the walk does not read it). */
static void setup(void) {
        ck_assert_ptr_nonnull(mkdtemp(home));
        sh("mkdir -p @/boxes/a/disks @/boxes/b/disks @/boxes/c/disks @/bases", home);
        sh("touch @/boxes/a/disks/disk.qcow2 @/boxes/b/disks/disk.qcow2 @/boxes/c/disks/disk.qcow2", home);
}

static void teardown(void) {
        sh("rm -rf %s", home);
        strcpy(home, "/tmp/boxlite-test-walk.XXXXXX");
}

typedef enum Action {
        ACTION_NONE,
        ACTION_RENAME_LATER_BOX,  /* rename a box not walked yet, X -> 0X */
        ACTION_EXCHANGE,          /* exchange the two boxes not walked yet */
        ACTION_REMOVE_LATER_BOX,  /* remove a box not walked yet */
        ACTION_ALWAYS_RENAME,     /* rename back and forth on every pass: never holds still */
        ACTION_RENAME_IN_LATER_BOX, /* rename the overlay inside a box not walked yet, X/disks/disk -> disk2 */
} Action;

typedef struct Seen {
        Action action;
        unsigned pass;
        unsigned acted;           /* passes in which the action ran */
        size_t n;
        char paths[16][512];
        unsigned units[16];
        unsigned n_forgotten;
        size_t n_errors;
        char errors[8][512];
} Seen;

static int seen_begin(unsigned pass, void *userdata) {
        Seen *s = userdata;

        s->pass = pass;
        s->n = 0;
        s->n_errors = 0;
        return 0;
}

/* The boxes not being walked now: the race moves those the walk has not reached yet. */
static void others(const char *current, const char **x, const char **y) {
        static const char *const boxes[] = { "a", "b", "c" };
        const char *v[2];
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(boxes); i++)
                if (!current || !streq(boxes[i], current))
                        if (n < 2)
                                v[n++] = boxes[i];
        *x = v[0];
        *y = v[1];
}

static void act(Seen *s, const char *current) {
        char a[600], b[600];
        const char *x, *y;

        others(current, &x, &y);

        switch (s->action) {
        case ACTION_RENAME_LATER_BOX:
                if (s->acted)
                        return;
                snprintf(a, sizeof(a), "%s/boxes/%s", home, x);
                snprintf(b, sizeof(b), "%s/boxes/0%s", home, x);
                ck_assert_int_eq(rename(a, b), 0);
                break;
        case ACTION_EXCHANGE:
                if (s->acted)
                        return;
                snprintf(a, sizeof(a), "%s/boxes/%s", home, x);
                snprintf(b, sizeof(b), "%s/boxes/%s", home, y);
                ck_assert_int_eq(renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE), 0);
                break;
        case ACTION_REMOVE_LATER_BOX:
                if (s->acted)
                        return;
                snprintf(a, sizeof(a), "rm -rf %s/boxes/%s", home, x);
                run(a);
                break;
        case ACTION_RENAME_IN_LATER_BOX:
                if (s->acted)
                        return;
                snprintf(a, sizeof(a), "%s/boxes/%s/disks/disk.qcow2", home, x);
                snprintf(b, sizeof(b), "%s/boxes/%s/disks/disk2.qcow2", home, x);
                ck_assert_int_eq(rename(a, b), 0);
                break;
        case ACTION_ALWAYS_RENAME:
                snprintf(a, sizeof(a), "%s/boxes/%s", home, s->acted % 2 ? "0c" : "c");
                snprintf(b, sizeof(b), "%s/boxes/%s", home, s->acted % 2 ? "c" : "0c");
                ck_assert_int_eq(rename(a, b), 0);
                break;
        default:
                return;
        }
        s->acted++;
}

static int seen_overlay(const WalkOverlay *o, void *userdata) {
        Seen *s = userdata;

        ck_assert_uint_lt(s->n, ELEMENTSOF(s->paths));
        ck_assert_int_ge(o->fd, 0);
        s->units[s->n] = o->unit;
        snprintf(s->paths[s->n++], sizeof(s->paths[0]), "%s", o->path + strlen(home));
        /* The first overlay of a pass: the race happens while the walk is inside boxes/. */
        if (s->n == 1)
                act(s, o->box);
        return 0;
}

static int seen_error(const char *path, const char *message, unsigned unit, void *userdata) {
        Seen *s = userdata;

        if (s->n_errors < ELEMENTSOF(s->errors))
                snprintf(s->errors[s->n_errors], sizeof(s->errors[0]), "%s: %s", path + strlen(home), message);
        s->n_errors++;
        return 0;
}

static const WalkCallbacks callbacks = {
        .begin = seen_begin,
        .overlay = seen_overlay,
        .error = seen_error,
};

static size_t fd_budget; /* 0: the default; the "fd-budget" cases walk with 2 */

/* A view that forgets the units the walk forgets: the walk goes on in rounds instead of starting over. */
static int seen_forget(unsigned unit, void *userdata) {
        Seen *s = userdata;
        size_t k = 0;

        for (size_t i = 0; i < s->n; i++)
                if (s->units[i] != unit) {
                        s->units[k] = s->units[i];
                        memmove(s->paths[k++], s->paths[i], sizeof(s->paths[0]));
                }
        s->n = k;
        s->n_forgotten++;
        return 0;
}

static const WalkCallbacks round_callbacks = {
        .begin = seen_begin,
        .overlay = seen_overlay,
        .error = seen_error,
        .forget = seen_forget,
};

static int walk_rounds(Seen *s, WalkStats *stats) {
        WalkOptions o = { .test_fd_budget = fd_budget, .test_no_time_bound = true };

        return home_walk(home, &o, &round_callbacks, s, stats);
}

/* The view after a race: one pass, no overlay twice, each box under its name now. */
static void assert_view(const Seen *s, const WalkStats *st, size_t n) {
        ck_assert_uint_eq(st->passes, 1);
        ck_assert_uint_ge(st->rounds, 2);
        ck_assert_uint_eq(s->n, n);
        ck_assert_uint_eq(st->n_overlays, n);
        for (size_t i = 0; i < s->n; i++)
                for (size_t j = i + 1; j < s->n; j++)
                        ck_assert_str_ne(s->paths[i], s->paths[j]);
        for (size_t i = 0; i < s->n; i++) {
                char p[1100];

                snprintf(p, sizeof(p), "%s%s", home, s->paths[i]);
                ck_assert_msg(access(p, F_OK) == 0, "'%s' is in the view but not in the home", p);
        }
}

static bool saw(const Seen *s, const char *path) {
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->paths[i], path))
                        return true;
        return false;
}


static int walk(Seen *s, bool no_consistency, WalkStats *stats) {
        WalkOptions o = { .test_no_consistency = no_consistency, .test_fd_budget = fd_budget };

        return home_walk(home, &o, &callbacks, s, stats);
}

START_TEST(test_still_home) {
        WalkStats st = {};
        Seen s = {};

        ck_assert_int_eq(walk(&s, false, &st), 0);
        ck_assert_uint_eq(st.passes, 1);
        ck_assert_uint_eq(s.n, 3);
        ck_assert_uint_eq(s.n_errors, 0);
        /* boxes/, bases/, three boxes with disks/: 8 directories, all just made: racy. */
        ck_assert_uint_eq(st.n_dirs, 8);
        ck_assert_uint_eq(st.n_racy, 8);
        walk_stats_done(&st);
}
END_TEST

START_TEST(test_rename_restarts) {
        WalkStats st = {};
        Seen s = { .action = ACTION_RENAME_LATER_BOX };

        ck_assert_int_eq(walk(&s, false, &st), 0);
        ck_assert_uint_eq(st.passes, 2);
        ck_assert_msg(saw(&s, "/boxes/0a/disks/disk.qcow2") || saw(&s, "/boxes/0b/disks/disk.qcow2"),
                      "the renamed box was not seen");
        ck_assert_uint_eq(s.n, 3);
        walk_stats_done(&st);
}
END_TEST

START_TEST(test_rename_hides_box_without_checks) {
        WalkStats st = {};
        Seen s = { .action = ACTION_RENAME_LATER_BOX };

        ck_assert_int_eq(walk(&s, true, &st), 0);
        ck_assert_uint_eq(st.passes, 1);
        /* Today's walk: the box vanished after the listing, its new name was never listed. */
        ck_assert_uint_eq(s.n, 2);
        walk_stats_done(&st);
}
END_TEST

START_TEST(test_exchange_restarts) {
        WalkStats st = {};
        Seen s = { .action = ACTION_EXCHANGE };

        ck_assert_int_eq(walk(&s, false, &st), 0);
        ck_assert_uint_eq(st.passes, 2);
        ck_assert_uint_eq(s.n, 3);
        walk_stats_done(&st);
}
END_TEST

START_TEST(test_remove_restarts) {
        WalkStats st = {};
        Seen s = { .action = ACTION_REMOVE_LATER_BOX };

        ck_assert_int_eq(walk(&s, false, &st), 0);
        ck_assert_uint_eq(st.passes, 2);
        ck_assert_uint_eq(s.n, 2);
        ck_assert_uint_eq(s.n_errors, 0);
        walk_stats_done(&st);
}
END_TEST

START_TEST(test_rename_rounds) {
        WalkStats st = {};
        Seen s = { .action = ACTION_RENAME_LATER_BOX };

        ck_assert_int_eq(walk_rounds(&s, &st), 0);
        assert_view(&s, &st, 3);
        ck_assert_msg(saw(&s, "/boxes/0a/disks/disk.qcow2") || saw(&s, "/boxes/0b/disks/disk.qcow2"),
                      "the renamed box was not seen");
        walk_stats_done(&st);
}
END_TEST

START_TEST(test_exchange_rounds) {
        WalkStats st = {};
        Seen s = { .action = ACTION_EXCHANGE };

        ck_assert_int_eq(walk_rounds(&s, &st), 0);
        assert_view(&s, &st, 3);
        ck_assert_uint_ge(st.n_rewalked, 2);
        walk_stats_done(&st);
}
END_TEST

START_TEST(test_remove_rounds) {
        WalkStats st = {};
        Seen s = { .action = ACTION_REMOVE_LATER_BOX };

        ck_assert_int_eq(walk_rounds(&s, &st), 0);
        assert_view(&s, &st, 2);
        ck_assert_uint_eq(s.n_errors, 0);
        walk_stats_done(&st);
}
END_TEST

START_TEST(test_never_still) {
        WalkStats st = {};
        Seen s = { .action = ACTION_ALWAYS_RENAME };

        ck_assert_int_eq(walk(&s, false, &st), -EAGAIN);
        ck_assert_uint_eq(st.passes, WALK_MAX_PASSES);
        ck_assert_ptr_nonnull(st.unstable);
        ck_assert_msg(strstr(st.unstable, "boxes"), "unexpected reason '%s'", st.unstable);
        walk_stats_done(&st);
}
END_TEST

START_TEST(test_links) {
        WalkStats st = {};
        Seen s = {};

        sh("mkdir -p @/srv/web/disks @/srv/snaps/s1 @/srv/base-dir && touch @/srv/web/disks/disk.qcow2", home);
        sh("touch @/srv/snaps/s1/disk.qcow2 @/srv/base-dir/b.qcow2 && ln -s ../srv/web @/boxes/web", home);
        sh("ln -s @/srv/web @/boxes/web-again && ln -s @/srv/snaps @/boxes/a/snapshots", home);
        sh("ln -s ../srv/base-dir @/bases/moved", home);
        ck_assert_int_eq(walk(&s, false, &st), 0);
        ck_assert_uint_eq(s.n_errors, 0);
        ck_assert(saw(&s, "/boxes/web/disks/disk.qcow2") || saw(&s, "/boxes/web-again/disks/disk.qcow2"));
        ck_assert_msg(!(saw(&s, "/boxes/web/disks/disk.qcow2") && saw(&s, "/boxes/web-again/disks/disk.qcow2")),
                      "a box reached by two links was walked twice");
        ck_assert(saw(&s, "/boxes/a/snapshots/s1/disk.qcow2"));
        ck_assert(saw(&s, "/bases/moved/b.qcow2"));
        walk_stats_done(&st);
}
END_TEST

START_TEST(test_bad_links) {
        WalkStats st = {};
        Seen s = {};

        sh("ln -s @/nowhere @/boxes/gone && ln -s self @/boxes/self", home);
        sh("ln -s .. @/boxes/a/disks/up", home);
        ck_assert_int_eq(walk(&s, false, &st), 0);
        ck_assert_uint_eq(s.n_errors, 3);
        ck_assert_uint_eq(s.n, 3);
        walk_stats_done(&st);
}
END_TEST

START_TEST(test_dangling_top) {
        WalkStats st = {};
        Seen s = {};

        sh("rm -rf @/boxes && ln -s @/unmounted @/boxes", home);
        ck_assert_int_eq(walk(&s, false, &st), 0);
        ck_assert_uint_eq(s.n_errors, 1);
        ck_assert_msg(strstr(s.errors[0], "unmounted"), "'%s'", s.errors[0]);
        walk_stats_done(&st);
}
END_TEST

START_TEST(test_missing_home) {
        Seen s = {};
        char p[600];

        snprintf(p, sizeof(p), "%s/none", home);
        ck_assert_int_eq(home_walk(p, NULL, &callbacks, &s, NULL), -ENOENT);
}
END_TEST

/* A home older than the racy window: its directories below boxes/ are proven by their times alone. */
static void setup_aged(void) {
        setup();
        ck_assert_int_eq(usleep(WALK_RACY_WINDOW_NSEC / 1000 + 200 * 1000), 0);
}

START_TEST(test_aged_still) {
        WalkStats st = {};
        Seen s = {};

        ck_assert_int_eq(walk(&s, false, &st), 0);
        ck_assert_uint_eq(st.passes, 1);
        ck_assert_uint_eq(st.n_unproven, 0);
        ck_assert_uint_eq(s.n, 3);
        /* boxes/ and bases/ are stat'ed before listing; the three boxes and their disks/ are proven after. */
        ck_assert_uint_eq(st.n_dirs, 8);
        ck_assert_uint_eq(st.n_post, 6);
        ck_assert_uint_eq(st.n_racy, 0);
        walk_stats_done(&st);
}
END_TEST

/* A rename inside a box the walk has not reached: that box's disks/ proves nothing, and is walked again. */
START_TEST(test_aged_rename_inside_box) {
        WalkStats st = {};
        Seen s = { .action = ACTION_RENAME_IN_LATER_BOX };

        ck_assert_int_eq(walk(&s, false, &st), 0);
        ck_assert_uint_eq(s.acted, 1);
        ck_assert_uint_eq(st.passes, 1);
        ck_assert_uint_eq(st.n_unproven, 1);
        ck_assert_uint_eq(s.n, 3);
        ck_assert_msg(saw(&s, "/boxes/b/disks/disk2.qcow2") || saw(&s, "/boxes/c/disks/disk2.qcow2") ||
                      saw(&s, "/boxes/a/disks/disk2.qcow2"), "the renamed overlay was not seen");
        /* The directory that changed is stat'ed before listing now; the others are still proven after. */
        ck_assert_uint_eq(st.n_post, 5);
        walk_stats_done(&st);
}
END_TEST

/* A rename in boxes/ itself (stat'ed before listing) restarts the walk as in a fresh home. */
START_TEST(test_aged_rename_restarts) {
        WalkStats st = {};
        Seen s = { .action = ACTION_RENAME_LATER_BOX };

        ck_assert_int_eq(walk(&s, false, &st), 0);
        ck_assert_uint_eq(st.passes, 2);
        ck_assert_msg(saw(&s, "/boxes/0a/disks/disk.qcow2") || saw(&s, "/boxes/0b/disks/disk.qcow2") ||
                      saw(&s, "/boxes/0c/disks/disk.qcow2"), "the renamed box was not seen");
        ck_assert_uint_eq(s.n, 3);
        walk_stats_done(&st);
}
END_TEST

START_TEST(test_aged_exchange_restarts) {
        WalkStats st = {};
        Seen s = { .action = ACTION_EXCHANGE };

        ck_assert_int_eq(walk(&s, false, &st), 0);
        ck_assert_uint_eq(st.passes, 2);
        ck_assert_uint_eq(s.n, 3);
        walk_stats_done(&st);
}
END_TEST

static void setup_small_budget(void) {
        setup();
        fd_budget = 2;
}

static void teardown_small_budget(void) {
        fd_budget = 0;
        teardown();
}

static Suite *walk_suite(void) {
        Suite *s = suite_create("walk");
        TCase *tc;

        tc = tcase_create("still");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_still_home);
        tcase_add_test(tc, test_missing_home);
        suite_add_tcase(s, tc);

        tc = tcase_create("moves");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_rename_restarts);
        tcase_add_test(tc, test_rename_hides_box_without_checks);
        tcase_add_test(tc, test_exchange_restarts);
        tcase_add_test(tc, test_remove_restarts);
        tcase_add_test(tc, test_never_still);
        suite_add_tcase(s, tc);

        /* The same races, the units that changed forgotten and walked again (one pass of rounds). */
        tc = tcase_create("rounds");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_rename_rounds);
        tcase_add_test(tc, test_exchange_rounds);
        tcase_add_test(tc, test_remove_rounds);
        suite_add_tcase(s, tc);

        /* The same races when directories give their fds back and are checked by name. */
        tc = tcase_create("fd-budget");
        tcase_add_checked_fixture(tc, setup_small_budget, teardown_small_budget);
        tcase_add_test(tc, test_still_home);
        tcase_add_test(tc, test_rename_restarts);
        tcase_add_test(tc, test_exchange_restarts);
        tcase_add_test(tc, test_remove_restarts);
        tcase_add_test(tc, test_never_still);
        tcase_add_test(tc, test_links);
        tcase_add_test(tc, test_rename_rounds);
        tcase_add_test(tc, test_exchange_rounds);
        tcase_add_test(tc, test_remove_rounds);
        suite_add_tcase(s, tc);

        tc = tcase_create("aged");
        tcase_add_checked_fixture(tc, setup_aged, teardown);
        tcase_set_timeout(tc, 10);
        tcase_add_test(tc, test_aged_still);
        tcase_add_test(tc, test_aged_rename_inside_box);
        tcase_add_test(tc, test_aged_rename_restarts);
        tcase_add_test(tc, test_aged_exchange_restarts);
        suite_add_tcase(s, tc);

        tc = tcase_create("links");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_links);
        tcase_add_test(tc, test_bad_links);
        tcase_add_test(tc, test_dangling_top);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(walk_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
