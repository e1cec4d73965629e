/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "macro.h"

#define GIB (UINT64_C(1) << 30)
#define MIB (UINT64_C(1) << 20)

static char dir[] = "/tmp/boxlite-test-config.XXXXXX";
static BoxliteConfig cfg;
static char warnings[4096];

static void on_warn(const char *m) {
        strncat(warnings, m, sizeof(warnings) - strlen(warnings) - 2);
        strcat(warnings, "\n");
}

static void write_file(const char *name, const char *text) {
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
}

static void write_bytes(const char *name, const char *data, size_t n) {
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(data, 1, n, f), n);
        fclose(f);
}

static char *path_in_dir(const char *name) {
        char *p;

        ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
        return p;
}

/* Loads and expects an error that names the directory and contains expect. */
static void expect_error(const char *expect) {
        char *error = NULL;
        BoxliteConfig c;

        config_init(&c);
        ck_assert_int_eq(config_load(&c, on_warn, &error), -EINVAL);
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, expect) && strstr(error, dir), "error '%s' lacks '%s' or the file name", error,
                      expect);
        free(error);
        config_done(&c);
}

static void setup(void) {
        strcpy(dir, "/tmp/boxlite-test-config.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(mkdir(strcat(strcpy((char[512]) {}, dir), "/boxlite.conf.d"), 0755), 0);
        setenv("BOXLITE_CONF_DIR", dir, 1);
        /* Root reads only the system directory; tests also run as other users. */
        setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
        config_init(&cfg);
        warnings[0] = 0;
}

static void teardown(void) {
        char cmd[600];

        config_done(&cfg);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_defaults) {
        char *error = NULL;

        ck_assert_int_eq(config_load(&cfg, on_warn, &error), 0);
        ck_assert_uint_eq(cfg.limits.hard_floor_bytes, GIB);
        ck_assert_uint_eq(cfg.limits.soft_floor_bytes, 5 * GIB);
        ck_assert_uint_eq(cfg.limits.soft_floor_percent, 10);
        ck_assert_uint_eq(cfg.limits.inode_hard_floor, 10000);
        ck_assert_uint_eq(cfg.limits.inode_soft_percent, 5);
        ck_assert_uint_eq(cfg.gc_grace_usec, 600 * UINT64_C(1000000));
        ck_assert(!cfg.gc_on_pressure);
}
END_TEST

START_TEST(test_precedence) {
        char *error = NULL;

        write_file("boxlite.conf", "[Admission]\nHardFloor=2G\nSoftFloor=8G\nSoftFloorPercent=20\n"
                                   "[GC]\nGrace=5min\nMetricsFile=/var/lib/prom/boxlite.prom\n");
        write_file("boxlite.conf.d/10-a.conf", "[Admission]\nSoftFloor=6G\nGCOnPressure=yes\n");
        write_file("boxlite.conf.d/20-b.conf", "; later drop-ins win\n[Admission]\nSoftFloor=7G\n");
        write_file("boxlite.conf.d/30-c.conf.disabled", "[Admission]\nSoftFloor=1T\n");
        write_file("boxlite.conf.d/.hidden.conf", "[Admission]\nSoftFloor=1T\n");

        ck_assert_int_eq(config_load(&cfg, on_warn, &error), 0);
        ck_assert_uint_eq(cfg.limits.hard_floor_bytes, 2 * GIB);
        ck_assert_uint_eq(cfg.limits.soft_floor_bytes, 7 * GIB);
        ck_assert_uint_eq(cfg.limits.soft_floor_percent, 20);
        ck_assert(cfg.gc_on_pressure);
        ck_assert_uint_eq(cfg.gc_grace_usec, 300 * UINT64_C(1000000));
        ck_assert_str_eq(cfg.gc_metrics_file, "/var/lib/prom/boxlite.prom");
        ck_assert_str_eq(warnings, "");
}
END_TEST

typedef struct BadCase {
        const char *text;
        const char *expect; /* substring of the error, after the directory */
} BadCase;

START_TEST(test_bad_values) {
        static const BadCase cases[] = {
                { "[Admission]\nHardFloor=lots\n", "boxlite.conf:2: invalid value 'lots' for HardFloor= in [Admission]" },
                { "[Admission]\n\n# c\nSoftFloor=5Q\n", "boxlite.conf:4: invalid value '5Q' for SoftFloor=" },
                { "[Admission]\nSoftFloorPercent=101\n", "boxlite.conf:2: invalid value '101' for SoftFloorPercent=" },
                { "[Admission]\nSoftFloorPercent=-1\n", ":2: invalid value '-1' for SoftFloorPercent=" },
                { "[Admission]\nInodeHardFloor=1k\n", ":2: invalid value '1k' for InodeHardFloor=" },
                { "[Admission]\nInodeSoftPercent=x\n", ":2: invalid value 'x' for InodeSoftPercent=" },
                { "[Admission]\nGCOnPressure=perhaps\n", ":2: invalid value 'perhaps' for GCOnPressure=" },
                { "[Admission]\nProbeTimeoutSec=soon\n", ":2: invalid value 'soon' for ProbeTimeoutSec=" },
                { "[Admission]\nProbeTimeoutSec=0\n", ":2: invalid value '0' for ProbeTimeoutSec=" },
                /* A deadline of now + 2^64-1 us wraps around: every probe would time out at once. */
                { "[Admission]\nProbeTimeoutSec=18446744073709551615us\n",
                  ":2: invalid value '18446744073709551615us' for ProbeTimeoutSec=" },
                { "[Admission]\nProbeTimeoutSec=1h 1us\n", ":2: invalid value '1h 1us' for ProbeTimeoutSec=" },
                { "[Admission]\nBusTimeoutSec=18446744073709551615us\n", ":2: invalid value" },
                { "[Admission]\nBusTimeoutSec=2h\n", ":2: invalid value '2h' for BusTimeoutSec=" },
                { "[GC]\nGrace=10parsecs\n", ":2: invalid value '10parsecs' for Grace= in [GC]" },
                { "[GC]\nTargetFree=99999999999999999999\n", ":2: invalid value '99999999999999999999' for TargetFree=" },
                { "[GC]\nMetricsFile=relative.prom\n", ":2: invalid value 'relative.prom' for MetricsFile=" },
                { "[Admission]\nHardFloor=1G\nthis line has no equals sign\n", "boxlite.conf:3: syntax error" },
                { "[Admission\nHardFloor=1G\n", "boxlite.conf:1: syntax error" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *error = NULL;
                BoxliteConfig c;
                int r;

                config_init(&c);
                write_file("boxlite.conf", cases[i].text);
                r = config_load(&c, on_warn, &error);
                ck_assert_msg(r == -EINVAL, "case %zu: returned %d", i, r);
                ck_assert_ptr_nonnull(error);
                ck_assert_msg(strstr(error, cases[i].expect) && strstr(error, dir),
                              "case %zu: error '%s' lacks '%s' or the file name", i, error, cases[i].expect);
                free(error);
                config_done(&c);
        }
}
END_TEST

START_TEST(test_bad_dropin_named) {
        char *error = NULL;

        write_file("boxlite.conf", "[Admission]\nHardFloor=1G\n");
        write_file("boxlite.conf.d/50-bad.conf", "[Admission]\nSoftFloor=huge\n");
        ck_assert_int_eq(config_load(&cfg, on_warn, &error), -EINVAL);
        ck_assert_msg(strstr(error, "boxlite.conf.d/50-bad.conf:2:"), "error '%s'", error);
        free(error);
}
END_TEST

START_TEST(test_unknown_keys_warn) {
        char *error = NULL;

        write_file("boxlite.conf", "[Admission]\nHardFloor=3G\nFrobnicate=yes\n[Future]\nKey=1\n");
        ck_assert_int_eq(config_load(&cfg, on_warn, &error), 0);
        ck_assert_uint_eq(cfg.limits.hard_floor_bytes, 3 * GIB);
        ck_assert_msg(strstr(warnings, "boxlite.conf:3: unknown key 'Frobnicate' in section [Admission]"), "%s",
                      warnings);
        ck_assert_msg(strstr(warnings, "boxlite.conf:5: unknown section [Future]"), "%s", warnings);
}
END_TEST

START_TEST(test_values) {
        char *error = NULL;

        write_file("boxlite.conf", "[Admission]\nHardFloor=1536M\nSoftFloor=4294967296\nSoftFloorPercent=0%\n"
                                   "GCOnPressure=off\nProbeTimeoutSec=1500ms\nBusTimeoutSec=1s\n"
                                   "[GC]\nGrace=1h 30min\nTargetFree=20G\nMetricsFile=\n");
        ck_assert_int_eq(config_load(&cfg, on_warn, &error), 0);
        ck_assert_uint_eq(cfg.limits.hard_floor_bytes, 1536 * MIB);
        ck_assert_uint_eq(cfg.limits.soft_floor_bytes, 4 * GIB);
        ck_assert_uint_eq(cfg.limits.soft_floor_percent, 0);
        ck_assert(!cfg.gc_on_pressure);
        ck_assert_uint_eq(cfg.probe_timeout_usec, 1500000);
        ck_assert_uint_eq(cfg.bus_timeout_usec, 1000000);
        ck_assert_uint_eq(cfg.gc_grace_usec, UINT64_C(5400) * 1000000);
        ck_assert_uint_eq(cfg.gc_target_free, 20 * GIB);
        ck_assert_ptr_null(cfg.gc_metrics_file);
}
END_TEST

START_TEST(test_monitor_section) {
        char *error = NULL;

        ck_assert_uint_eq(cfg.monitor_reserve_size, 64 * MIB);
        ck_assert(cfg.monitor_gc);
        ck_assert_uint_eq(cfg.monitor_metrics_top_boxes, 20);
        write_file("boxlite.conf", "[Monitor]\nReserveSize=0\nRecordStep=256M\nGC=no\nMetricsTopBoxes=0\n"
                                   "MetricsFile=/var/lib/prometheus/node-exporter/boxlite-monitor.prom\n"
                                   "StateDirectory=/run/boxlite-test\n");
        write_file("boxlite.conf.d/50-reserve.conf", "[Monitor]\nReserveSize=128M\n");
        ck_assert_int_eq(config_load(&cfg, on_warn, &error), 0);
        ck_assert_uint_eq(cfg.monitor_reserve_size, 128 * MIB);
        ck_assert_uint_eq(cfg.monitor_record_step, 256 * MIB);
        ck_assert(!cfg.monitor_gc);
        ck_assert_str_eq(cfg.monitor_metrics_file, "/var/lib/prometheus/node-exporter/boxlite-monitor.prom");
        ck_assert_str_eq(cfg.monitor_state_dir, "/run/boxlite-test");
        ck_assert_uint_eq(cfg.monitor_metrics_top_boxes, 0);
        ck_assert_str_eq(warnings, "");

        write_file("boxlite.conf.d/60-bad.conf", "[Monitor]\nReserveSize=lots\n");
        ck_assert_int_eq(config_load(&cfg, on_warn, &error), -EINVAL);
        ck_assert_ptr_nonnull(strstr(error, "ReserveSize= in [Monitor]"));
        free(error);
}
END_TEST

START_TEST(test_empty_resets) {
        char *error = NULL;

        write_file("boxlite.conf", "[Admission]\nHardFloor=3G\nSoftFloorPercent=50\nGCOnPressure=yes\n"
                                   "[GC]\nTargetFree=10G\nGrace=1h\n");
        write_file("boxlite.conf.d/10-reset.conf", "[Admission]\nHardFloor=\nSoftFloorPercent=\nGCOnPressure=\n"
                                                   "[GC]\nTargetFree=\nGrace=\n");
        ck_assert_int_eq(config_load(&cfg, on_warn, &error), 0);
        ck_assert_uint_eq(cfg.limits.hard_floor_bytes, GIB);
        ck_assert_uint_eq(cfg.limits.soft_floor_percent, 10);
        ck_assert(!cfg.gc_on_pressure);
        ck_assert_uint_eq(cfg.gc_target_free, 0);
        ck_assert_uint_eq(cfg.gc_grace_usec, 600 * UINT64_C(1000000));
}
END_TEST

START_TEST(test_timeout_bounds) {
        char *error = NULL;

        write_file("boxlite.conf", "[Admission]\nProbeTimeoutSec=1h\nBusTimeoutSec=60min\n");
        ck_assert_int_eq(config_load(&cfg, on_warn, &error), 0);
        ck_assert_uint_eq(cfg.probe_timeout_usec, UINT64_C(3600) * 1000000);
        ck_assert_uint_eq(cfg.bus_timeout_usec, UINT64_C(3600) * 1000000);
}
END_TEST

/* libinih's own reader splits lines at 199 bytes; the tail of a comment then parsed as a setting. */
START_TEST(test_long_comment_not_split) {
        char line[12000], *error = NULL, *text;

        memset(line, 'x', sizeof(line));
        line[0] = '#';
        line[199] = 0; /* exactly the issue's case: '#' and 198 bytes, then "HardFloor=0 ; off" */
        ck_assert_int_ge(asprintf(&text, "[Admission]\nHardFloor=500G\n%sHardFloor=0 ; off\n", line), 0);
        write_file("boxlite.conf", text);
        free(text);

        line[199] = 'x';
        line[sizeof(line) - 1] = 0;
        line[0] = ';';
        line[5000] = '\t';
        ck_assert_int_ge(asprintf(&text, "[Admission]\n  %sSoftFloor=1K\n%s\n", line, line), 0);
        write_file("boxlite.conf.d/10-long.conf", text);
        free(text);

        ck_assert_int_eq(config_load(&cfg, on_warn, &error), 0);
        ck_assert_uint_eq(cfg.limits.hard_floor_bytes, 500 * GIB);
        ck_assert_uint_eq(cfg.limits.soft_floor_bytes, 5 * GIB);
        ck_assert_str_eq(warnings, "");
}
END_TEST

START_TEST(test_long_setting_rejected) {
        char path[400], *text;

        memset(path, 'p', sizeof(path));
        path[0] = '/';
        path[sizeof(path) - 1] = 0;
        ck_assert_int_ge(asprintf(&text, "[GC]\nGrace=1min\nMetricsFile=%s\nGrace=0\n", path), 0);
        write_file("boxlite.conf", text);
        free(text);
        expect_error("boxlite.conf:3: line of 411 bytes is too long");
        ck_assert_uint_eq(cfg.gc_grace_usec, 600 * UINT64_C(1000000));

        /* The longest setting line libinih takes whole: 199 bytes. */
        path[199 - strlen("MetricsFile=")] = 0;
        ck_assert_int_ge(asprintf(&text, "[GC]\nMetricsFile=%s\n", path), 0);
        write_file("boxlite.conf", text);
        free(text);
        {
                char *error = NULL;
                ck_assert_int_eq(config_load(&cfg, on_warn, &error), 0);
                ck_assert_str_eq(cfg.gc_metrics_file, path);
        }
}
END_TEST

/* boxlite.conf(5): ";" after white space starts a comment, "#" inside a value does not. */
START_TEST(test_inline_comments) {
        char *error = NULL;

        write_file("boxlite.conf", "[Admission]\nHardFloor=2G ; two\nSoftFloor=3G\t; three\n"
                                   "[GC]\nMetricsFile=/a;b #c\n");
        ck_assert_int_eq(config_load(&cfg, on_warn, &error), 0);
        ck_assert_uint_eq(cfg.limits.hard_floor_bytes, 2 * GIB);
        ck_assert_uint_eq(cfg.limits.soft_floor_bytes, 3 * GIB);
        ck_assert_str_eq(cfg.gc_metrics_file, "/a;b #c");
}
END_TEST

START_TEST(test_nul_rejected) {
        static const char text[] = "[Admission]\nHardFloor=5G\0 trailing\n";

        write_bytes("boxlite.conf", text, sizeof(text) - 1);
        expect_error("boxlite.conf:2: line contains a NUL byte");
        ck_assert_uint_eq(cfg.limits.hard_floor_bytes, GIB);
}
END_TEST

START_TEST(test_fifo_rejected) {
        _cleanup_free_ char *p = path_in_dir("boxlite.conf");

        /* Opening a FIFO without O_NONBLOCK blocks until a writer comes: the test would time out. */
        ck_assert_int_eq(mkfifo(p, 0644), 0);
        expect_error("boxlite.conf: is a FIFO, not a regular file");
}
END_TEST

START_TEST(test_device_rejected) {
        _cleanup_free_ char *p = path_in_dir("boxlite.conf.d/50-null.conf");

        write_file("boxlite.conf", "[Admission]\nHardFloor=2G\n");
        ck_assert_int_eq(symlink("/dev/null", p), 0);
        expect_error("boxlite.conf.d/50-null.conf: is a character device, not a regular file");
}
END_TEST

START_TEST(test_directory_rejected) {
        _cleanup_free_ char *p = path_in_dir("boxlite.conf.d/50-dir.conf"), *q = path_in_dir("boxlite.conf.d");

        ck_assert_int_eq(mkdir(p, 0755), 0);
        expect_error("boxlite.conf.d/50-dir.conf: is a directory, not a regular file");

        ck_assert_int_eq(rmdir(p), 0);
        ck_assert_int_eq(rmdir(q), 0);
        write_file("boxlite.conf.d", "[Admission]\nHardFloor=2G\n");
        expect_error("boxlite.conf.d: is not a directory");
}
END_TEST

START_TEST(test_size_bounded) {
        size_t n = CONFIG_FILE_SIZE_MAX + 1;
        char *text = malloc(n);

        ck_assert_ptr_nonnull(text);
        memset(text, '\n', n);
        text[0] = '#';
        write_bytes("boxlite.conf", text, n);
        free(text);
        expect_error("boxlite.conf: larger than 1024 KiB");
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("files");

        /* A FIFO opened in blocking mode would hang: fail after a few seconds instead of the default 4 s x N. */
        tcase_set_timeout(tc, 10);

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_precedence);
        tcase_add_test(tc, test_bad_values);
        tcase_add_test(tc, test_bad_dropin_named);
        tcase_add_test(tc, test_unknown_keys_warn);
        tcase_add_test(tc, test_values);
        tcase_add_test(tc, test_empty_resets);
        tcase_add_test(tc, test_timeout_bounds);
        tcase_add_test(tc, test_long_comment_not_split);
        tcase_add_test(tc, test_long_setting_rejected);
        tcase_add_test(tc, test_inline_comments);
        tcase_add_test(tc, test_nul_rejected);
        tcase_add_test(tc, test_fifo_rejected);
        tcase_add_test(tc, test_device_rejected);
        tcase_add_test(tc, test_directory_rejected);
        tcase_add_test(tc, test_size_bounded);
        tcase_add_test(tc, test_monitor_section);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(config_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
