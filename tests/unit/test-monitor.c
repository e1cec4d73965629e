/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "monitor.h"
#include "state-file.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

static const char *const home = "/var/lib/boxlite";

/* ------------------------------------------------------------ the record decision */

static const struct {
        bool known;
        Verdict previous;
        uint64_t recorded;
        Verdict verdict;
        uint64_t available;
        MonitorRecord want;
        bool changed;
} decide_table[] = {
        /* No state: pressure is news, ok is not. */
        { false, VERDICT_OK, 0, VERDICT_OK, 10 * GIB, MONITOR_RECORD_NONE, false },
        { false, VERDICT_OK, 0, VERDICT_WARN, 4 * GIB, MONITOR_RECORD_RAISED, true },
        { false, VERDICT_OK, 0, VERDICT_REJECT, 1 * MIB, MONITOR_RECORD_RAISED, true },
        /* Transitions. */
        { true, VERDICT_OK, 10 * GIB, VERDICT_OK, 1 * GIB, MONITOR_RECORD_NONE, false },
        { true, VERDICT_OK, 10 * GIB, VERDICT_WARN, 4 * GIB, MONITOR_RECORD_RAISED, true },
        { true, VERDICT_OK, 10 * GIB, VERDICT_REJECT, 1 * MIB, MONITOR_RECORD_RAISED, true },
        { true, VERDICT_WARN, 4 * GIB, VERDICT_REJECT, 900 * MIB, MONITOR_RECORD_CHANGED, true },
        { true, VERDICT_REJECT, 900 * MIB, VERDICT_WARN, 2 * GIB, MONITOR_RECORD_CHANGED, true },
        { true, VERDICT_WARN, 4 * GIB, VERDICT_OK, 6 * GIB, MONITOR_RECORD_CLEARED, true },
        { true, VERDICT_REJECT, 1 * MIB, VERDICT_OK, 6 * GIB, MONITOR_RECORD_CLEARED, true },
        /* Persisting pressure: only a further step (512 MiB here) is news. */
        { true, VERDICT_WARN, 4 * GIB, VERDICT_WARN, 4 * GIB, MONITOR_RECORD_NONE, false },
        { true, VERDICT_WARN, 4 * GIB, VERDICT_WARN, 4 * GIB - 511 * MIB, MONITOR_RECORD_NONE, false },
        { true, VERDICT_WARN, 4 * GIB, VERDICT_WARN, 4 * GIB - 512 * MIB, MONITOR_RECORD_FELL, false },
        { true, VERDICT_WARN, 4 * GIB, VERDICT_WARN, 1 * GIB, MONITOR_RECORD_FELL, false },
        { true, VERDICT_WARN, 4 * GIB, VERDICT_WARN, 5 * GIB, MONITOR_RECORD_NONE, false },
        { true, VERDICT_REJECT, 600 * MIB, VERDICT_REJECT, 88 * MIB, MONITOR_RECORD_FELL, false },
        { true, VERDICT_REJECT, 600 * MIB, VERDICT_REJECT, 89 * MIB, MONITOR_RECORD_NONE, false },
        /* Less than a step left: nothing further to fall to is reported. */
        { true, VERDICT_REJECT, 100 * MIB, VERDICT_REJECT, 0, MONITOR_RECORD_NONE, false },
};

START_TEST(test_decide) {
        MonitorState s = {
                .known = decide_table[_i].known,
                .verdict = decide_table[_i].previous,
                .recorded_available = decide_table[_i].recorded,
        };

        ck_assert_int_eq(monitor_decide(&s, decide_table[_i].verdict, decide_table[_i].available, 512 * MIB),
                         decide_table[_i].want);
        ck_assert_int_eq(monitor_changed(&s, decide_table[_i].verdict), decide_table[_i].changed);
}
END_TEST

START_TEST(test_decide_sequence) {
        /* A home filling slowly under warn for a "day" of checks: one entry per step, not per check. */
        MonitorState s = { .known = true, .verdict = VERDICT_OK, .recorded_available = 6 * GIB };
        uint64_t step = 512 * MIB;
        unsigned entries = 0;

        for (uint64_t avail = 5 * GIB - 1; avail > 2 * GIB; avail -= 4 * MIB) {
                MonitorRecord r = monitor_decide(&s, VERDICT_WARN, avail, step);

                if (r != MONITOR_RECORD_NONE) {
                        entries++;
                        s.recorded_available = avail;
                }
                s.verdict = VERDICT_WARN;
        }
        /* The raise at ~5 GiB, then one per 512 MiB down to 2 GiB: 5 further steps. */
        ck_assert_uint_eq(entries, 6);
}
END_TEST

START_TEST(test_default_step) {
        AdmitLimits l = ADMIT_LIMITS_DEFAULT;

        ck_assert_uint_eq(monitor_default_step(&l), 512 * MIB);
        l.soft_floor_bytes = 0;
        ck_assert_uint_eq(monitor_default_step(&l), GIB / 10);
        l.hard_floor_bytes = 0;
        ck_assert_uint_eq(monitor_default_step(&l), MIB);
}
END_TEST

/* ------------------------------------------------------------ the state file */

START_TEST(test_state_roundtrip) {
        static const MonitorState states[] = {
                { true, VERDICT_OK, 0, 0, false },
                { true, VERDICT_WARN, 4 * GIB, 1700000000000000, false },
                { true, VERDICT_REJECT, UINT64_MAX, UINT64_MAX, true },
        };

        for (size_t i = 0; i < ELEMENTSOF(states); i++) {
                _cleanup_free_ char *t = monitor_state_format(&states[i], home);
                MonitorState p;

                ck_assert_ptr_nonnull(t);
                p = monitor_state_parse(t, strlen(t), home);
                ck_assert(p.known);
                ck_assert_int_eq(p.verdict, states[i].verdict);
                ck_assert_uint_eq(p.recorded_available, states[i].recorded_available);
                ck_assert_uint_eq(p.recorded_usec, states[i].recorded_usec);
                ck_assert_int_eq(p.reserve_released, states[i].reserve_released);
                /* Another home's state is not this home's. */
                ck_assert(!monitor_state_parse(t, strlen(t), "/srv/boxlite").known);
        }
}
END_TEST

static const char *const bad_states[] = {
        "",
        "\n",
        "garbage",
        "boxlite-monitor-state 2\nhome=var-lib-boxlite\nverdict=ok\nrecorded_available_bytes=1\n",
        "boxlite-monitor-state 1\nhome=var-lib-boxlite\nverdict=maybe\nrecorded_available_bytes=1\n",
        "boxlite-monitor-state 1\nhome=var-lib-boxlite\nverdict=ok\nrecorded_available_bytes=-1\n",
        "boxlite-monitor-state 1\nhome=var-lib-boxlite\nverdict=ok\nrecorded_available_bytes=99999999999999999999\n",
        "boxlite-monitor-state 1\nhome=var-lib-boxlite\nverdict=ok\n",
        "boxlite-monitor-state 1\nverdict=ok\nrecorded_available_bytes=1\n",
        /* Cut in the middle of the last line (no final newline). */
        "boxlite-monitor-state 1\nhome=var-lib-boxlite\nverdict=ok\nrecorded_available_bytes=1",
        "boxlite-monitor-state 1\nhome=var-lib-boxlite\nverdict=ok\nrecorded_available_bytes=1\nno equals sign\n",
        "boxlite-monitor-state 1\nhome=var-lib-boxlite\nverdict=ok\nrecorded_available_bytes=1\nreserve_released=perhaps\n",
};

START_TEST(test_state_bad) {
        ck_assert(!monitor_state_parse(bad_states[_i], strlen(bad_states[_i]), home).known);
}
END_TEST

START_TEST(test_state_unknown_keys) {
        const char *t = "boxlite-monitor-state 1\nhome=var-lib-boxlite\nverdict=warn\nrecorded_available_bytes=7\n"
                        "a_newer_key=whatever\n";
        MonitorState s = monitor_state_parse(t, strlen(t), home);

        ck_assert(s.known);
        ck_assert_int_eq(s.verdict, VERDICT_WARN);
        ck_assert_uint_eq(s.recorded_available, 7);
}
END_TEST

/* Garbage, NULs, huge lines and every cut of a valid state: never a crash, never a wrong "known". */
START_TEST(test_state_fuzz) {
        MonitorState good = { true, VERDICT_WARN, 123456789, 42, true };
        _cleanup_free_ char *t = monitor_state_format(&good, home), *buf = NULL;
        size_t n = strlen(t);
        unsigned seed = 1;

        for (size_t cut = 0; cut < n; cut++) {
                MonitorState s = monitor_state_parse(t, cut, home);

                /* Only cuts that end at the end of a line after every required key may parse. */
                if (s.known) {
                        ck_assert_int_eq(s.verdict, VERDICT_WARN);
                        ck_assert_uint_eq(s.recorded_available, 123456789);
                }
        }
        for (size_t at = 0; at < n; at++) {
                _cleanup_free_ char *c = strdup(t);

                c[at] = 0;
                ck_assert(!monitor_state_parse(c, n, home).known);
        }

        buf = malloc(1 << 20);
        ck_assert_ptr_nonnull(buf);
        for (unsigned round = 0; round < 2000; round++) {
                size_t len = (size_t) rand_r(&seed) % (MONITOR_STATE_MAX_BYTES * 2);

                for (size_t i = 0; i < len; i++) {
                        unsigned k = (unsigned) rand_r(&seed);
                        /* Mostly text from the state's own alphabet, to reach deep into the parser. */
                        buf[i] = (k & 7) == 0 ? (char) (k >> 8) : "boxlite-monitor-state 1\n=verdictwarnok0123"[(k >> 8) % 41];
                }
                (void) monitor_state_parse(buf, len, home);
        }
        /* A huge single line, and the same after a valid prefix. */
        memset(buf, 'A', 1 << 20);
        ck_assert(!monitor_state_parse(buf, 1 << 20, home).known);
        memcpy(buf, t, n);
        ck_assert(!monitor_state_parse(buf, 1 << 20, home).known);
}
END_TEST

/* ------------------------------------------------------------ escaping */

static const struct {
        const char *path;
        const char *want;
} escape_table[] = {
        { "/var/lib/boxlite", "var-lib-boxlite" },
        { "/", "-" },
        { "//srv//box lite/", "srv-box\\x20lite" },
        { "/home/a-b/.boxlite", "home-a\\x2db-.boxlite" },
        { "/.hidden", "\\x2ehidden" },
        { "/a\nb", "a\\x0ab" },
};

START_TEST(test_escape) {
        _cleanup_free_ char *e = state_escape_path(escape_table[_i].path);

        ck_assert_str_eq(e, escape_table[_i].want);
}
END_TEST

START_TEST(test_escape_long) {
        _cleanup_free_ char *p = malloc(4100), *e = NULL, *e2 = NULL;

        memset(p, 'x', 4099);
        p[0] = '/';
        p[4099] = 0;
        e = state_escape_path(p);
        p[4098] = 'y';
        e2 = state_escape_path(p);
        ck_assert_uint_le(strlen(e), 200);
        ck_assert_str_ne(e, e2);
}
END_TEST

/* ------------------------------------------------------------ load and save */

static char dir[] = "/tmp/boxlite-test-monitor.XXXXXX";

static void setup(void) {
        strcpy(dir, "/tmp/boxlite-test-monitor.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(chmod(dir, 0755), 0);
}

static void teardown(void) {
        char cmd[600];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

static char *state_path(void) {
        char *p;

        ck_assert_int_ge(asprintf(&p, "%s/state/monitor-var-lib-boxlite.state", dir), 0);
        return p;
}

START_TEST(test_save_load) {
        _cleanup_free_ char *sd = NULL;
        MonitorState s = { true, VERDICT_REJECT, 5, 6, true }, l;

        ck_assert_int_ge(asprintf(&sd, "%s/state", dir), 0);
        ck_assert_int_eq(monitor_state_load(sd, home, &l), 0);
        ck_assert(!l.known);
        ck_assert_int_eq(monitor_state_save(sd, home, &s), 0);
        ck_assert_int_eq(monitor_state_load(sd, home, &l), 0);
        ck_assert(l.known);
        ck_assert_int_eq(l.verdict, VERDICT_REJECT);
        ck_assert(l.reserve_released);
        s.verdict = VERDICT_OK;
        ck_assert_int_eq(monitor_state_save(sd, home, &s), 0);
        ck_assert_int_eq(monitor_state_load(sd, home, &l), 0);
        ck_assert_int_eq(l.verdict, VERDICT_OK);
}
END_TEST

START_TEST(test_load_hostile) {
        _cleanup_free_ char *sd = NULL, *p = state_path(), *target = NULL;
        MonitorState s = { true, VERDICT_WARN, 5, 6, false }, l;
        FILE *f;

        ck_assert_int_ge(asprintf(&sd, "%s/state", dir), 0);
        ck_assert_int_ge(asprintf(&target, "%s/elsewhere", dir), 0);
        ck_assert_int_eq(monitor_state_save(sd, home, &s), 0);

        /* A symlink at the name is not followed. */
        ck_assert_int_eq(rename(p, target), 0);
        ck_assert_int_eq(symlink(target, p), 0);
        ck_assert_int_eq(monitor_state_load(sd, home, &l), 0);
        ck_assert(!l.known);
        /* Saving replaces the link, and never writes through it. */
        s.verdict = VERDICT_REJECT;
        ck_assert_int_eq(monitor_state_save(sd, home, &s), 0);
        ck_assert_int_eq(monitor_state_load(sd, home, &l), 0);
        ck_assert_int_eq(l.verdict, VERDICT_REJECT);

        /* A FIFO does not block the load. */
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(mkfifo(p, 0644), 0);
        ck_assert_int_eq(monitor_state_load(sd, home, &l), 0);
        ck_assert(!l.known);

        /* A directory, and a file of garbage. */
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(mkdir(p, 0755), 0);
        ck_assert_int_eq(monitor_state_load(sd, home, &l), 0);
        ck_assert(!l.known);
        ck_assert_int_eq(rmdir(p), 0);
        f = fopen(p, "we");
        ck_assert_ptr_nonnull(f);
        for (int i = 0; i < 100000; i++)
                fputc(i % 251, f);
        fclose(f);
        ck_assert_int_eq(monitor_state_load(sd, home, &l), 0);
        ck_assert(!l.known);

        /* A directory others may write is not trusted. */
        ck_assert_int_eq(chmod(sd, 0777), 0);
        ck_assert_int_eq(monitor_state_load(sd, home, &l), 0);
        ck_assert(!l.known);
        ck_assert_int_eq(monitor_state_save(sd, home, &s), -EPERM);
}
END_TEST

static Suite *monitor_suite(void) {
        Suite *s = suite_create("monitor");
        TCase *tc;

        tc = tcase_create("decide");
        tcase_add_loop_test(tc, test_decide, 0, ELEMENTSOF(decide_table));
        tcase_add_test(tc, test_decide_sequence);
        tcase_add_test(tc, test_default_step);
        suite_add_tcase(s, tc);

        tc = tcase_create("state");
        tcase_add_test(tc, test_state_roundtrip);
        tcase_add_loop_test(tc, test_state_bad, 0, ELEMENTSOF(bad_states));
        tcase_add_test(tc, test_state_unknown_keys);
        tcase_add_test(tc, test_state_fuzz);
        suite_add_tcase(s, tc);

        tc = tcase_create("escape");
        tcase_add_loop_test(tc, test_escape, 0, ELEMENTSOF(escape_table));
        tcase_add_test(tc, test_escape_long);
        suite_add_tcase(s, tc);

        tc = tcase_create("files");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_save_load);
        tcase_add_test(tc, test_load_hostile);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(monitor_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
