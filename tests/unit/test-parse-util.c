/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "parse-util.h"

#define SENTINEL64 UINT64_C(0xa5a5a5a5a5a5a5a5)
#define SENTINEL 0xa5a5a5a5U

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define TIB (UINT64_C(1) << 40)
#define PIB (UINT64_C(1) << 50)
#define EIB (UINT64_C(1) << 60)

#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MINUTE (60 * USEC_PER_SEC)
#define USEC_PER_HOUR (60 * USEC_PER_MINUTE)
#define USEC_PER_DAY (24 * USEC_PER_HOUR)
#define USEC_PER_WEEK (7 * USEC_PER_DAY)

typedef struct Case64 {
        const char *input;
        int error;         /* 0 or the expected negative errno */
        uint64_t expected; /* on success */
} Case64;

typedef struct CaseUnsigned {
        const char *input;
        int error;
        unsigned expected;
} CaseUnsigned;

/* Runs a uint64_t parser over a table; the output keeps its old value on failure. */
static void check_cases64(const char *what, int (*parse)(const char *, uint64_t *), const Case64 *cases,
                          size_t n) {
        for (size_t i = 0; i < n; i++) {
                uint64_t v = SENTINEL64;
                int r = parse(cases[i].input, &v);

                ck_assert_msg(r == cases[i].error, "%s(\"%s\") returned %d, expected %d", what,
                              strna(cases[i].input), r, cases[i].error);
                if (r == 0)
                        ck_assert_msg(v == cases[i].expected, "%s(\"%s\") = %" PRIu64 ", expected %" PRIu64,
                                      what, strna(cases[i].input), v, cases[i].expected);
                else
                        ck_assert_msg(v == SENTINEL64, "%s(\"%s\") changed the output on failure", what,
                                      strna(cases[i].input));
        }
}

static void check_cases_unsigned(const char *what, int (*parse)(const char *, unsigned *),
                                 const CaseUnsigned *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                unsigned v = SENTINEL;
                int r = parse(cases[i].input, &v);

                ck_assert_msg(r == cases[i].error, "%s(\"%s\") returned %d, expected %d", what,
                              strna(cases[i].input), r, cases[i].error);
                if (r == 0)
                        ck_assert_msg(v == cases[i].expected, "%s(\"%s\") = %u, expected %u", what,
                                      strna(cases[i].input), v, cases[i].expected);
                else
                        ck_assert_msg(v == SENTINEL, "%s(\"%s\") changed the output on failure", what,
                                      strna(cases[i].input));
        }
}

START_TEST(test_parse_uint64) {
        static const Case64 cases[] = {
                { "0", 0, 0 },
                { "7", 0, 7 },
                { "007", 0, 7 },
                { "4096", 0, 4096 },
                { "18446744073709551615", 0, UINT64_MAX },
                { "18446744073709551616", -ERANGE, 0 },
                { "99999999999999999999999", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { NULL, -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 ", -EINVAL, 0 },
                { "1K", -EINVAL, 0 },
                { "0x10", -EINVAL, 0 },
                { "1.0", -EINVAL, 0 },
        };

        check_cases64("parse_uint64", parse_uint64, cases, ELEMENTSOF(cases));
}
END_TEST

START_TEST(test_parse_unsigned) {
        static const CaseUnsigned cases[] = {
                { "0", 0, 0 },
                { "1", 0, 1 },
                { "64", 0, 64 },
                { "4294967295", 0, UINT_MAX },
                { "4294967296", -ERANGE, 0 },
                { "18446744073709551616", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { NULL, -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "abc", -EINVAL, 0 },
                { "12abc", -EINVAL, 0 },
                { " 12", -EINVAL, 0 },
        };

        check_cases_unsigned("parse_unsigned", parse_unsigned, cases, ELEMENTSOF(cases));
}
END_TEST

START_TEST(test_parse_size) {
        static const Case64 cases[] = {
                { "0", 0, 0 },
                { "4096", 0, 4096 },
                { "1K", 0, KIB },
                { "1k", 0, KIB },
                { "1KiB", 0, KIB },
                { "1KB", 0, KIB },
                { "1M", 0, MIB },
                { "512M", 0, 512 * MIB },
                { "1G", 0, GIB },
                { "1T", 0, TIB },
                { "2GiB", 0, 2 * GIB },
                { "2gib", 0, 2 * GIB },
                { "10 G", 0, 10 * GIB },
                { "10   MiB", 0, 10 * MIB },
                { "1B", 0, 1 },
                { "16777215T", 0, 16777215 * TIB },
                { "18446744073709551615", 0, UINT64_MAX },
                { "16777216T", -ERANGE, 0 },
                { "99999999999T", -ERANGE, 0 },
                { "18446744073709551616", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { NULL, -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "1X", -EINVAL, 0 },
                { "1.5G", -EINVAL, 0 },
                { "G", -EINVAL, 0 },
                { " 1G", -EINVAL, 0 },
                { "1GG", -EINVAL, 0 },
                { "1P", -EINVAL, 0 },
        };

        check_cases64("parse_size", parse_size, cases, ELEMENTSOF(cases));
}
END_TEST

START_TEST(test_parse_percent) {
        static const CaseUnsigned cases[] = {
                { "0", 0, 0 },
                { "10", 0, 10 },
                { "10%", 0, 10 },
                { "0%", 0, 0 },
                { "100", 0, 100 },
                { "100%", 0, 100 },
                { "101", -ERANGE, 0 },
                { "101%", -ERANGE, 0 },
                { "1000", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { NULL, -EINVAL, 0 },
                { "%", -EINVAL, 0 },
                { "abc", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "10%%", -EINVAL, 0 },
                { "%10", -EINVAL, 0 },
                { "1.5", -EINVAL, 0 },
                { " 10", -EINVAL, 0 },
        };

        check_cases_unsigned("parse_percent", parse_percent, cases, ELEMENTSOF(cases));
}
END_TEST

START_TEST(test_parse_percent_long_out_of_range) {
        /* Any number above 100 is out of range, however many digits it has. */
        static const CaseUnsigned cases[] = {
                { "1000000", -ERANGE, 0 },
                { "10000000", -ERANGE, 0 },
                { "99999999999", -ERANGE, 0 },
                { "99999999999999999999999%", -ERANGE, 0 },
        };

        check_cases_unsigned("parse_percent", parse_percent, cases, ELEMENTSOF(cases));
}
END_TEST

START_TEST(test_parse_timespan) {
        static const Case64 cases[] = {
                { "10min", 0, 10 * USEC_PER_MINUTE },
                { "30s", 0, 30 * USEC_PER_SEC },
                { "1h", 0, USEC_PER_HOUR },
                { "1h 30min", 0, USEC_PER_HOUR + 30 * USEC_PER_MINUTE },
                { "1h30min", 0, USEC_PER_HOUR + 30 * USEC_PER_MINUTE },
                { "500ms", 0, 500 * USEC_PER_MSEC },
                { "10", 0, 10 * USEC_PER_SEC },
                { "0", 0, 0 },
                { "250us", 0, 250 },
                { "250usec", 0, 250 },
                { "2msec", 0, 2 * USEC_PER_MSEC },
                { "5sec", 0, 5 * USEC_PER_SEC },
                { "5 seconds", 0, 5 * USEC_PER_SEC },
                { "1second", 0, USEC_PER_SEC },
                { "2m", 0, 2 * USEC_PER_MINUTE },
                { "2minutes", 0, 2 * USEC_PER_MINUTE },
                { "3hr", 0, 3 * USEC_PER_HOUR },
                { "1d", 0, USEC_PER_DAY },
                { "2days", 0, 2 * USEC_PER_DAY },
                { "1w", 0, USEC_PER_WEEK },
                { "1w 1d 1h 1min 1s 1ms 1us", 0,
                  USEC_PER_WEEK + USEC_PER_DAY + USEC_PER_HOUR + USEC_PER_MINUTE + USEC_PER_SEC +
                          USEC_PER_MSEC + 1 },
                { "  10s  ", 0, 10 * USEC_PER_SEC },
                { "", -EINVAL, 0 },
                { NULL, -EINVAL, 0 },
                { "   ", -EINVAL, 0 },
                { "10 parsecs", -EINVAL, 0 },
                { "-1s", -EINVAL, 0 },
                { "s", -EINVAL, 0 },
                { "1x", -EINVAL, 0 },
                { "1.5s", -EINVAL, 0 },
                { "10mins", -EINVAL, 0 },
                { "10S", -EINVAL, 0 },
                { "18446744073709551616", -ERANGE, 0 },
                { "18446744073709551615s", -ERANGE, 0 },
                { "99999999999999w", -ERANGE, 0 },
        };

        check_cases64("parse_timespan", parse_timespan, cases, ELEMENTSOF(cases));
}
END_TEST

static int parse_timeout_max(const char *s, uint64_t *ret) {
        return parse_timeout(s, TIMEOUT_MAX_USEC, ret);
}

/* Timeouts become now + span: a span that would overflow the deadline is out of range. */
START_TEST(test_parse_timeout) {
        static const Case64 cases[] = {
                { "2s", 0, 2 * USEC_PER_SEC },
                { "0", 0, 0 },
                { "1h", 0, USEC_PER_HOUR },
                { "59min 60s", 0, USEC_PER_HOUR },
                { "3600000000us", 0, USEC_PER_HOUR },
                { "3600000001us", -ERANGE, 0 },
                { "1h 1us", -ERANGE, 0 },
                { "1d", -ERANGE, 0 },
                { "18446744073709551615us", -ERANGE, 0 },
                { "18446744073709551616us", -ERANGE, 0 },
                { "soon", -EINVAL, 0 },
                { NULL, -EINVAL, 0 },
        };

        check_cases64("parse_timeout", parse_timeout_max, cases, ELEMENTSOF(cases));
}
END_TEST

START_TEST(test_format_bytes) {
        static const struct {
                uint64_t bytes;
                const char *expected;
        } cases[] = {
                { 0, "0 B" },
                { 1, "1 B" },
                { 1023, "1023 B" },
                { KIB, "1 KiB" },
                { KIB + 512, "1.5 KiB" },
                { 4096, "4 KiB" },
                { MIB, "1 MiB" },
                { 512 * MIB, "512 MiB" },
                { GIB + GIB / 2, "1.5 GiB" },
                { 10 * GIB, "10 GiB" },
                { TIB, "1 TiB" },
                { PIB, "1 PiB" },
                { EIB, "1 EiB" },
                { UINT64_MAX, "15.9 EiB" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char buf[FORMAT_BYTES_MAX];
                char *r = format_bytes(buf, cases[i].bytes);

                ck_assert_ptr_eq(r, buf);
                ck_assert_msg(streq(r, cases[i].expected),
                              "format_bytes(%" PRIu64 ") = \"%s\", expected \"%s\"", cases[i].bytes, r,
                              cases[i].expected);
        }
}
END_TEST

START_TEST(test_format_age) {
        static const struct {
                uint64_t usec;
                const char *expected;
        } cases[] = {
                { 0, "0s" },
                { 999999, "0s" },
                { 40 * USEC_PER_SEC, "40s" },
                { 60 * USEC_PER_SEC, "1min" },
                { 125 * USEC_PER_SEC, "2min 5s" },
                { 3600 * USEC_PER_SEC, "1h" },
                { (2 * 3600 + 5 * 60 + 7) * USEC_PER_SEC, "2h 5min" },
                { (3 * 86400 + 4 * 3600 + 59) * USEC_PER_SEC, "3d 4h" },
                { 400 * 86400 * USEC_PER_SEC, "400d" },
                { UINT64_MAX, "213503982d 8h" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char buf[FORMAT_AGE_MAX];
                char *r = format_age(buf, cases[i].usec);

                ck_assert_ptr_eq(r, buf);
                ck_assert_msg(streq(r, cases[i].expected), "format_age(%" PRIu64 ") = \"%s\", expected \"%s\"",
                              cases[i].usec, r, cases[i].expected);
        }
}
END_TEST

START_TEST(test_format_bytes_round_trip) {
        /* What format_bytes() writes for whole units, parse_size() reads back. */
        static const uint64_t values[] = { 0, 1, 1023, KIB, 7 * MIB, 3 * GIB, 2 * TIB };

        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                char buf[FORMAT_BYTES_MAX];
                uint64_t v = SENTINEL64;

                ck_assert_int_eq(parse_size(format_bytes(buf, values[i]), &v), 0);
                ck_assert_msg(v == values[i], "\"%s\" parsed as %" PRIu64, buf, v);
        }
}
END_TEST

Suite *parse_util_suite(void);

Suite *parse_util_suite(void) {
        Suite *s = suite_create("parse-util");
        TCase *tc;

        tc = tcase_create("integers");
        tcase_add_test(tc, test_parse_uint64);
        tcase_add_test(tc, test_parse_unsigned);
        suite_add_tcase(s, tc);

        tc = tcase_create("size");
        tcase_add_test(tc, test_parse_size);
        suite_add_tcase(s, tc);

        tc = tcase_create("percent");
        tcase_add_test(tc, test_parse_percent);
        tcase_add_test(tc, test_parse_percent_long_out_of_range);
        suite_add_tcase(s, tc);

        tc = tcase_create("timespan");
        tcase_add_test(tc, test_parse_timespan);
        tcase_add_test(tc, test_parse_timeout);
        suite_add_tcase(s, tc);

        tc = tcase_create("format-bytes");
        tcase_add_test(tc, test_format_bytes);
        tcase_add_test(tc, test_format_age);
        tcase_add_test(tc, test_format_bytes_round_trip);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(parse_util_suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
