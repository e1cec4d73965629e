/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "macro.h"

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define TIB (UINT64_C(1) << 40)

static AdmitLimits limits;

static void setup(void) {
        limits = ADMIT_LIMITS_DEFAULT;
}

static Verdict judge(uint64_t avail, uint64_t total, uint64_t iavail, uint64_t itotal, AdmitLimit *ret_limit) {
        SpaceInfo s = {
                .available_bytes = avail,
                .total_bytes = total,
                .inodes_available = iavail,
                .inodes_total = itotal,
        };
        return classify(&limits, &s, ret_limit);
}

typedef struct Case {
        uint64_t avail, total, iavail, itotal;
        Verdict verdict;
        AdmitLimit limit;
} Case;

START_TEST(test_transitions) {
        /* Totals large enough that 10 % never decides unless a case says so. */
        static const Case cases[] = {
                /* hard floor: 1 byte either side */
                { GIB - 1, 100 * GIB, 0, 0, VERDICT_REJECT, ADMIT_LIMIT_HARD_FLOOR },
                { GIB, 100 * GIB, 0, 0, VERDICT_WARN, ADMIT_LIMIT_SOFT_FLOOR },
                { GIB + 1, 100 * GIB, 0, 0, VERDICT_WARN, ADMIT_LIMIT_SOFT_FLOOR },
                { 0, 100 * GIB, 0, 0, VERDICT_REJECT, ADMIT_LIMIT_HARD_FLOOR },
                /* soft floor: 1 byte either side, total small enough for the percentage to pass */
                { 5 * GIB - 1, 20 * GIB, 0, 0, VERDICT_WARN, ADMIT_LIMIT_SOFT_FLOOR },
                { 5 * GIB, 20 * GIB, 0, 0, VERDICT_OK, ADMIT_LIMIT_NONE },
                { 5 * GIB + 1, 20 * GIB, 0, 0, VERDICT_OK, ADMIT_LIMIT_NONE },
                /* soft percent: exactly 10 % of 100 GiB is ok, one byte less warns */
                { 10 * GIB - 1, 100 * GIB, 0, 0, VERDICT_WARN, ADMIT_LIMIT_SOFT_PERCENT },
                { 10 * GIB, 100 * GIB, 0, 0, VERDICT_OK, ADMIT_LIMIT_NONE },
                /* percent only ever warns: 100 TiB at 9 % free */
                { 9 * TIB, 100 * TIB, 0, 0, VERDICT_WARN, ADMIT_LIMIT_SOFT_PERCENT },
                { 1 * TIB, 100 * TIB, 0, 0, VERDICT_WARN, ADMIT_LIMIT_SOFT_PERCENT },
                { 10 * TIB, 100 * TIB, 0, 0, VERDICT_OK, ADMIT_LIMIT_NONE },
                /* inodes: hard floor 10000, 5 % of total */
                { 50 * GIB, 100 * GIB, 9999, 1000000, VERDICT_REJECT, ADMIT_LIMIT_INODE_HARD_FLOOR },
                { 50 * GIB, 100 * GIB, 10000, 1000000, VERDICT_WARN, ADMIT_LIMIT_INODE_SOFT_PERCENT },
                { 50 * GIB, 100 * GIB, 49999, 1000000, VERDICT_WARN, ADMIT_LIMIT_INODE_SOFT_PERCENT },
                { 50 * GIB, 100 * GIB, 50000, 1000000, VERDICT_OK, ADMIT_LIMIT_NONE },
                /* f_files == 0: no inode limit, bytes alone */
                { 50 * GIB, 100 * GIB, 0, 0, VERDICT_OK, ADMIT_LIMIT_NONE },
                /* bytes decide before inodes */
                { GIB - 1, 100 * GIB, 0, 1000000, VERDICT_REJECT, ADMIT_LIMIT_HARD_FLOOR },
                /* a filesystem smaller than the hard floor can never admit */
                { 512 * MIB, 512 * MIB, 0, 0, VERDICT_REJECT, ADMIT_LIMIT_HARD_FLOOR },
                /* extremes do not overflow */
                { UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, VERDICT_OK, ADMIT_LIMIT_NONE },
                { UINT64_MAX / 10, UINT64_MAX, UINT64_MAX, UINT64_MAX, VERDICT_WARN, ADMIT_LIMIT_SOFT_PERCENT },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *c = &cases[i];
                AdmitLimit l = _ADMIT_LIMIT_INVALID;
                Verdict v = judge(c->avail, c->total, c->iavail, c->itotal, &l);

                ck_assert_msg(v == c->verdict && l == c->limit,
                              "case %zu: avail=%" PRIu64 " total=%" PRIu64 " iavail=%" PRIu64 " itotal=%" PRIu64
                              ": got %s/%s, expected %s/%s",
                              i, c->avail, c->total, c->iavail, c->itotal, verdict_to_string(v),
                              admit_limit_to_string(l), verdict_to_string(c->verdict),
                              admit_limit_to_string(c->limit));
        }
}
END_TEST

START_TEST(test_custom_limits) {
        AdmitLimit l;

        /* A soft floor below the hard floor leaves no warn band from the byte floors. */
        limits.hard_floor_bytes = 2 * GIB;
        limits.soft_floor_bytes = GIB;
        limits.soft_floor_percent = 0;
        ck_assert_int_eq(judge(2 * GIB - 1, 100 * GIB, 0, 0, &l), VERDICT_REJECT);
        ck_assert_int_eq(judge(2 * GIB, 100 * GIB, 0, 0, &l), VERDICT_OK);
        /* Percent 0 disables the percentage, 100 warns on anything short of an empty filesystem. */
        limits.soft_floor_percent = 100;
        ck_assert_int_eq(judge(100 * GIB - 1, 100 * GIB, 0, 0, &l), VERDICT_WARN);
        ck_assert_int_eq(l, ADMIT_LIMIT_SOFT_PERCENT);
        ck_assert_int_eq(judge(100 * GIB, 100 * GIB, 0, 0, &l), VERDICT_OK);
        /* Floors of zero never reject. */
        limits = (AdmitLimits) {};
        ck_assert_int_eq(judge(0, 100 * GIB, 0, 1000, &l), VERDICT_OK);
}
END_TEST

static int severity(Verdict v) {
        return v == VERDICT_OK ? 0 : v == VERDICT_WARN ? 1 : 2;
}

START_TEST(test_monotonic_bytes) {
        static const uint64_t totals[] = { 512 * MIB, 3 * GIB, 8 * GIB, 20 * GIB, 100 * GIB, 100 * TIB };

        for (size_t t = 0; t < ELEMENTSOF(totals); t++) {
                uint64_t total = totals[t], step = MAX(total / 4096, UINT64_C(1));
                int last = 3;
                bool seen_ok = false;

                for (uint64_t a = 0; a <= total; a += step) {
                        int s = severity(judge(a, total, 0, 0, NULL));

                        ck_assert_msg(s <= last, "total %" PRIu64 ": verdict got stricter at %" PRIu64, total, a);
                        last = s;
                        seen_ok = seen_ok || s == 0;
                }
                /* Every transition point, and a byte either side of it. */
                for (int k = -1; k <= 1; k++) {
                        uint64_t points[] = { limits.hard_floor_bytes + k, limits.soft_floor_bytes + k,
                                              total / 10 + k };
                        for (size_t p = 0; p < ELEMENTSOF(points); p++)
                                ck_assert(severity(judge(points[p], total, 0, 0, NULL)) >=
                                          severity(judge(points[p] + 1, total, 0, 0, NULL)));
                }
                if (total >= 50 * GIB)
                        ck_assert_msg(seen_ok, "total %" PRIu64 " never reached ok", total);
        }
}
END_TEST

START_TEST(test_monotonic_inodes) {
        static const uint64_t totals[] = { 5000, 65536, 1000000, 100000000 };

        for (size_t t = 0; t < ELEMENTSOF(totals); t++) {
                uint64_t total = totals[t], step = MAX(total / 4096, UINT64_C(1));
                int last = 3;

                for (uint64_t a = 0; a <= total; a += step) {
                        int s = severity(judge(50 * GIB, 100 * GIB, a, total, NULL));

                        ck_assert_msg(s <= last, "inodes %" PRIu64 ": verdict got stricter at %" PRIu64, total, a);
                        last = s;
                }
        }
}
END_TEST

START_TEST(test_ok_bytes) {
        /* classify_ok_bytes() is the least free space that classifies ok. */
        static const uint64_t totals[] = { 20 * GIB, 50 * GIB, 100 * GIB + 7, 100 * TIB };

        for (size_t t = 0; t < ELEMENTSOF(totals); t++) {
                uint64_t need = classify_ok_bytes(&limits, totals[t]);

                ck_assert_int_eq(judge(need, totals[t], 0, 0, NULL), VERDICT_OK);
                ck_assert_int_ne(judge(need - 1, totals[t], 0, 0, NULL), VERDICT_OK);
        }
}
END_TEST

START_TEST(test_reason) {
        SpaceInfo s = { .available_bytes = GIB - 1, .total_bytes = 100 * GIB };
        AdmitLimit l;
        char *m;

        (void) classify(&limits, &s, &l);
        m = classify_reason(&limits, &s, l);
        ck_assert_ptr_nonnull(m);
        ck_assert_msg(strstr(m, "hard floor of 1 GiB"), "reason '%s' does not name the hard floor", m);
        free(m);

        /* Values that round to the same text are given in bytes. */
        s.available_bytes = 80 * GIB + 1;
        limits.hard_floor_bytes = 80 * GIB + 2;
        (void) classify(&limits, &s, &l);
        m = classify_reason(&limits, &s, l);
        ck_assert_msg(strstr(m, "85899345921 B available") && strstr(m, "hard floor of 85899345922 B"),
                      "reason '%s' does not tell the values apart", m);
        free(m);
        limits = ADMIT_LIMITS_DEFAULT;

        s.available_bytes = 9 * GIB;
        (void) classify(&limits, &s, &l);
        m = classify_reason(&limits, &s, l);
        ck_assert_msg(strstr(m, "10%"), "reason '%s' does not name the percentage", m);
        free(m);

        s = (SpaceInfo) { .available_bytes = 50 * GIB, .total_bytes = 100 * GIB, .inodes_available = 5,
                          .inodes_total = 100000 };
        (void) classify(&limits, &s, &l);
        m = classify_reason(&limits, &s, l);
        ck_assert_msg(strstr(m, "inode hard floor of 10000"), "reason '%s' does not name the inode floor", m);
        free(m);
}
END_TEST

START_TEST(test_statvfs_values) {
        SpaceInfo s;

        space_info_from_statvfs(&s, 10, 100, 4096, 1024, 7, 9);
        ck_assert_uint_eq(s.available_bytes, 40960);
        ck_assert_uint_eq(s.total_bytes, 409600);
        ck_assert_uint_eq(s.inodes_available, 7);
        ck_assert_uint_eq(s.inodes_total, 9);
        /* f_frsize 0: f_bsize is the unit */
        space_info_from_statvfs(&s, 10, 100, 0, 512, 7, 9);
        ck_assert_uint_eq(s.available_bytes, 5120);
        /* overflow saturates instead of wrapping to a small number */
        space_info_from_statvfs(&s, UINT64_MAX / 2, UINT64_MAX / 2, 4096, 4096, 0, 0);
        ck_assert_uint_eq(s.available_bytes, UINT64_MAX);
        ck_assert_uint_eq(s.inodes_total, 0);
}
END_TEST

START_TEST(test_probe) {
        SpaceInfo s;

        ck_assert_int_eq(space_probe("/", 2000000, &s), 0);
        ck_assert_uint_gt(s.total_bytes, 0);
        ck_assert_uint_le(s.available_bytes, s.total_bytes);
        ck_assert_int_eq(space_probe("/nonexistent/boxlite", 2000000, &s), -ENOENT);
}
END_TEST

START_TEST(test_strings) {
        for (int v = 0; v < _VERDICT_MAX; v++)
                ck_assert_int_eq(verdict_from_string(verdict_to_string((Verdict) v)), v);
        ck_assert_int_eq(verdict_from_string("maybe"), _VERDICT_INVALID);
        ck_assert_ptr_null(verdict_to_string(_VERDICT_MAX));
}
END_TEST

static Suite *classify_suite(void) {
        Suite *s = suite_create("classify");
        TCase *tc;

        tc = tcase_create("verdicts");
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, test_transitions);
        tcase_add_test(tc, test_custom_limits);
        tcase_add_test(tc, test_ok_bytes);
        tcase_add_test(tc, test_reason);
        tcase_add_test(tc, test_strings);
        suite_add_tcase(s, tc);

        tc = tcase_create("monotonic");
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, test_monotonic_bytes);
        tcase_add_test(tc, test_monotonic_inodes);
        suite_add_tcase(s, tc);

        tc = tcase_create("statvfs");
        tcase_add_test(tc, test_statvfs_values);
        tcase_add_test(tc, test_probe);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(classify_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
