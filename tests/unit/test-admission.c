/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * admission_judge_probe(): the worst of the filesystems of the home, boxes/
 * and images/ decides, and its reason names the part.
 */

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "macro.h"

#define G (UINT64_C(1) << 30)
#define M (UINT64_C(1) << 20)

static AdmitLimits limits;

static void setup(void) {
        limits = (AdmitLimits) { .hard_floor_bytes = G, .soft_floor_bytes = 5 * G, .soft_floor_percent = 0 };
}

static void part(HomeProbe *p, HomePart i, uint64_t dev, int same_as, uint64_t avail, uint64_t total) {
        p->part[i] = (PartProbe) {
                .answered = true, .dev = dev, .same_as = same_as,
                .space = { .available_bytes = avail, .total_bytes = total },
        };
        if (same_as < 0) {
                p->part[i].source = strdup(i == HOME_PART_BOXES ? "/dev/sdb1" : "/dev/sda1");
                ck_assert_ptr_nonnull(p->part[i].source);
        }
}

static void probe_init(HomeProbe *p) {
        *p = (HomeProbe) {};
        ck_assert_int_eq(home_probe_parse("/h", NULL, 0, false, p), 0);
}

START_TEST(test_one_filesystem) {
        _cleanup_(home_probe_done) HomeProbe p;
        _cleanup_(judgement_done) Judgement j = {};

        probe_init(&p);
        part(&p, HOME_PART_HOME, 1, -1, 64 * G, 100 * G);
        part(&p, HOME_PART_BOXES, 1, 0, 0, 0);
        part(&p, HOME_PART_IMAGES, 1, 0, 0, 0);
        ck_assert_int_eq(admission_judge_probe(&limits, &p, 2000000, &j), 0);
        ck_assert_int_eq(j.verdict, VERDICT_OK);
        ck_assert_uint_eq(j.n_filesystems, 1);
        ck_assert_uint_eq(j.filesystems[0].parts, 7);
        ck_assert_str_eq(j.reason, "64 GiB available of 100 GiB meets every floor");
}
END_TEST

START_TEST(test_boxes_short) {
        _cleanup_(home_probe_done) HomeProbe p;
        _cleanup_(judgement_done) Judgement j = {};

        probe_init(&p);
        part(&p, HOME_PART_HOME, 1, -1, 64 * G, 100 * G);
        part(&p, HOME_PART_BOXES, 2, -1, 300 * M, 100 * G);
        part(&p, HOME_PART_IMAGES, 1, 0, 0, 0);
        ck_assert_int_eq(admission_judge_probe(&limits, &p, 2000000, &j), 0);
        ck_assert_int_eq(j.verdict, VERDICT_REJECT);
        ck_assert_int_eq(j.part, HOME_PART_BOXES);
        ck_assert_uint_eq(j.n_filesystems, 2);
        ck_assert_uint_eq(j.filesystems[0].parts, (1U << HOME_PART_HOME) | (1U << HOME_PART_IMAGES));
        ck_assert_uint_eq(j.space.available_bytes, 300 * M);
        ck_assert_str_eq(j.reason, "boxes/ on /dev/sdb1: 300 MiB available of 100 GiB is below the hard floor of 1 GiB");
}
END_TEST

START_TEST(test_absent_and_zero_size) {
        _cleanup_(home_probe_done) HomeProbe p;
        _cleanup_(judgement_done) Judgement j = {};

        probe_init(&p);
        part(&p, HOME_PART_HOME, 1, -1, 0, 0);
        p.part[HOME_PART_BOXES] = (PartProbe) { .answered = true, .absent = true, .error = -ENOENT, .same_as = -1 };
        p.part[HOME_PART_IMAGES] = (PartProbe) { .answered = true, .absent = true, .error = -ENOENT, .same_as = -1 };
        ck_assert_int_eq(admission_judge_probe(&limits, &p, 2000000, &j), 0);
        ck_assert_uint_eq(j.n_filesystems, 1);
        ck_assert_int_eq(j.verdict, VERDICT_WARN);
        ck_assert_int_eq(j.probe_error, -EMEDIUMTYPE);
        ck_assert(!j.readable);
}
END_TEST

START_TEST(test_timeout_names_part) {
        _cleanup_(home_probe_done) HomeProbe p;
        _cleanup_(judgement_done) Judgement j = {};

        probe_init(&p);
        p.timed_out = true;
        part(&p, HOME_PART_HOME, 1, -1, 64 * G, 100 * G);
        ck_assert_int_eq(admission_judge_probe(&limits, &p, 1000000, &j), 0);
        ck_assert_int_eq(j.verdict, VERDICT_WARN);
        ck_assert_int_eq(j.part, HOME_PART_BOXES);
        ck_assert_uint_eq(j.n_filesystems, 2);
        ck_assert_ptr_nonnull(strstr(j.reason, "boxes/ on /h/boxes: "));
        ck_assert_ptr_nonnull(strstr(j.reason, "did not answer within 1000 ms"));
}
END_TEST

START_TEST(test_reject_beats_unreadable) {
        _cleanup_(home_probe_done) HomeProbe p;
        _cleanup_(judgement_done) Judgement j = {}, c = {};

        probe_init(&p);
        part(&p, HOME_PART_HOME, 1, -1, 64 * G, 100 * G);
        p.part[HOME_PART_BOXES] = (PartProbe) { .answered = true, .error = -EACCES, .stat_failed = true, .same_as = -1 };
        part(&p, HOME_PART_IMAGES, 3, -1, 10 * M, 100 * G);
        ck_assert_int_eq(admission_judge_probe(&limits, &p, 2000000, &j), 0);
        ck_assert_int_eq(j.verdict, VERDICT_REJECT);
        ck_assert_int_eq(j.part, HOME_PART_IMAGES);
        ck_assert_uint_eq(j.n_filesystems, 3);
        ck_assert_int_eq(judgement_copy(&j, &c), 0);
        ck_assert_str_eq(c.reason, j.reason);
        ck_assert_uint_eq(c.n_filesystems, 3);
        ck_assert_str_eq(c.filesystems[1].reason, j.filesystems[1].reason);
}
END_TEST

static Suite *admission_suite(void) {
        Suite *s = suite_create("admission");
        TCase *tc = tcase_create("filesystems");

        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, test_one_filesystem);
        tcase_add_test(tc, test_boxes_short);
        tcase_add_test(tc, test_absent_and_zero_size);
        tcase_add_test(tc, test_timeout_names_part);
        tcase_add_test(tc, test_reject_beats_unreadable);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(admission_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
