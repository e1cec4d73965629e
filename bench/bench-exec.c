/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * bench-exec [OPTIONS] -- COMMAND [ARG...]: runs COMMAND repeatedly and
 * reports its wall time (fork to reaped), peak RSS and CPU time, per run, as
 * the kernel accounts them to the child (wait4()). No shell sits between: the
 * figures are the program's own.
 *
 *   --runs N         measured runs (default 10); with --each, passes over the list
 *   --warmup N       runs before measuring, not reported (default 1)
 *   --each FILE      run COMMAND once per line of FILE, with every "{}" argument replaced by
 *                    the line; each such run is one sample
 *   --times FILE     append one line per sample: wall_ns maxrss_kib user_us sys_us status
 *   --allow-fail     do not treat a non-zero exit status as an error
 *   --show-output    keep the command's stdout and stderr (default: /dev/null)
 *
 * Prints one line of key=value pairs: n, median_us, min_us, mean_us, max_us,
 * maxrss_kib (largest), median_rss_kib, user_us and sys_us (means per sample),
 * failed. Exits 1 if a run failed (unless --allow-fail).
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct Sample {
        uint64_t wall_ns;
        long maxrss_kib;
        uint64_t user_us;
        uint64_t sys_us;
        int status;
} Sample;

static unsigned arg_runs = 10;
static unsigned arg_warmup = 1;
static const char *arg_each = NULL;
static const char *arg_times = NULL;
static bool arg_allow_fail = false;
static bool arg_show_output = false;

static uint64_t now_ns(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

static uint64_t tv_us(struct timeval tv) {
        return (uint64_t) tv.tv_sec * 1000000 + (uint64_t) tv.tv_usec;
}

static int run_once(char **argv, Sample *ret) {
        posix_spawn_file_actions_t fa;
        struct rusage ru;
        uint64_t t0, t1;
        pid_t pid;
        int status, r;

        posix_spawn_file_actions_init(&fa);
        if (!arg_show_output) {
                posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
                posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        }
        t0 = now_ns();
        r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0) {
                fprintf(stderr, "bench-exec: cannot run '%s': %s\n", argv[0], strerror(r));
                return -r;
        }
        while (wait4(pid, &status, 0, &ru) < 0)
                if (errno != EINTR)
                        return -errno;
        t1 = now_ns();

        *ret = (Sample) {
                .wall_ns = t1 - t0,
                .maxrss_kib = ru.ru_maxrss,
                .user_us = tv_us(ru.ru_utime),
                .sys_us = tv_us(ru.ru_stime),
                .status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
        };
        return 0;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

static double median_u64(uint64_t *v, size_t n) {
        qsort(v, n, sizeof(uint64_t), cmp_u64);
        return n % 2 ? (double) v[n / 2] : ((double) v[n / 2 - 1] + (double) v[n / 2]) / 2;
}

/* Reads the lines of a file into a NULL-terminated array. */
static char **read_lines(const char *path, size_t *ret_n) {
        char **v = NULL, *line = NULL;
        size_t n = 0, allocated = 0, len = 0;
        ssize_t k;
        FILE *f;

        f = fopen(path, "re");
        if (!f)
                return NULL;
        while ((k = getline(&line, &len, f)) >= 0) {
                if (k > 0 && line[k - 1] == '\n')
                        line[--k] = 0;
                if (k == 0)
                        continue;
                if (n + 2 > allocated) {
                        allocated = allocated ? allocated * 2 : 256;
                        v = realloc(v, allocated * sizeof(char *));
                        if (!v)
                                exit(EXIT_FAILURE);
                }
                v[n] = strdup(line);
                if (!v[n])
                        exit(EXIT_FAILURE);
                v[++n] = NULL;
        }
        free(line);
        fclose(f);
        *ret_n = n;
        return v;
}

/* argv with every "{}" replaced by item (the strings are shared, not copied). */
static void substitute(char **dst, char *const *src, int n, char *item) {
        for (int i = 0; i < n; i++)
                dst[i] = item && strcmp(src[i], "{}") == 0 ? item : src[i];
        dst[n] = NULL;
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_RUNS = 0x100,
                ARG_WARMUP,
                ARG_EACH,
                ARG_TIMES,
                ARG_ALLOW_FAIL,
                ARG_SHOW_OUTPUT,
        };
        static const struct option options[] = {
                { "runs", required_argument, NULL, ARG_RUNS },
                { "warmup", required_argument, NULL, ARG_WARMUP },
                { "each", required_argument, NULL, ARG_EACH },
                { "times", required_argument, NULL, ARG_TIMES },
                { "allow-fail", no_argument, NULL, ARG_ALLOW_FAIL },
                { "show-output", no_argument, NULL, ARG_SHOW_OUTPUT },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "+", options, NULL)) >= 0)
                switch (c) {
                case ARG_RUNS:
                        arg_runs = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case ARG_WARMUP:
                        arg_warmup = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case ARG_EACH:
                        arg_each = optarg;
                        break;
                case ARG_TIMES:
                        arg_times = optarg;
                        break;
                case ARG_ALLOW_FAIL:
                        arg_allow_fail = true;
                        break;
                case ARG_SHOW_OUTPUT:
                        arg_show_output = true;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind >= argc || arg_runs == 0) {
                fprintf(stderr, "usage: bench-exec [--runs N] [--warmup N] [--each FILE] [--times FILE] "
                                "[--allow-fail] [--show-output] -- COMMAND [ARG...]\n");
                return -EINVAL;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        char **items = NULL, **cmd, *no_item[] = { NULL, NULL };
        size_t n_items = 1, n_samples, k = 0, failed = 0;
        uint64_t *wall, *rss, user = 0, sys = 0, sum = 0;
        double median_wall, median_rss;
        long max_rss = 0;
        Sample *s;
        FILE *times = NULL;
        int n_cmd;

        if (parse_argv(argc, argv) < 0)
                return 2;
        n_cmd = argc - optind;

        if (arg_each) {
                items = read_lines(arg_each, &n_items);
                if (!items || n_items == 0) {
                        fprintf(stderr, "bench-exec: '%s' is unreadable or empty\n", arg_each);
                        return 2;
                }
        } else
                items = no_item;
        if (arg_times) {
                times = fopen(arg_times, "ae");
                if (!times) {
                        perror(arg_times);
                        return 2;
                }
        }

        n_samples = (size_t) arg_runs * n_items;
        cmd = calloc((size_t) n_cmd + 1, sizeof(char *));
        s = calloc(n_samples, sizeof(Sample));
        wall = calloc(n_samples, sizeof(uint64_t));
        rss = calloc(n_samples, sizeof(uint64_t));
        if (!cmd || !s || !wall || !rss)
                return EXIT_FAILURE;

        for (unsigned w = 0; w < arg_warmup; w++) {
                Sample ignored;

                substitute(cmd, argv + optind, n_cmd, items[w % n_items]);
                if (run_once(cmd, &ignored) < 0)
                        return EXIT_FAILURE;
        }

        for (unsigned run = 0; run < arg_runs; run++)
                for (size_t i = 0; i < n_items; i++, k++) {
                        substitute(cmd, argv + optind, n_cmd, items[i]);
                        if (run_once(cmd, &s[k]) < 0)
                                return EXIT_FAILURE;
                        if (s[k].status != 0) {
                                failed++;
                                if (!arg_allow_fail)
                                        fprintf(stderr, "bench-exec: '%s%s%s' exited with status %i\n",
                                                argv[optind], items[i] ? " " : "", items[i] ?: "",
                                                s[k].status);
                        }
                }

        for (size_t i = 0; i < n_samples; i++) {
                wall[i] = s[i].wall_ns;
                rss[i] = (uint64_t) s[i].maxrss_kib;
                sum += s[i].wall_ns;
                user += s[i].user_us;
                sys += s[i].sys_us;
                if (s[i].maxrss_kib > max_rss)
                        max_rss = s[i].maxrss_kib;
                if (times)
                        fprintf(times, "%llu %ld %llu %llu %i\n", (unsigned long long) s[i].wall_ns,
                                s[i].maxrss_kib, (unsigned long long) s[i].user_us,
                                (unsigned long long) s[i].sys_us, s[i].status);
        }
        if (times)
                fclose(times);

        /* Both sort their array: wall[0] is the fastest run after this. */
        median_wall = median_u64(wall, n_samples);
        median_rss = median_u64(rss, n_samples);
        printf("n=%zu median_us=%.3f min_us=%.3f mean_us=%.3f max_us=%.3f maxrss_kib=%ld "
               "median_rss_kib=%.0f user_us=%.3f sys_us=%.3f failed=%zu\n",
               n_samples, median_wall / 1000.0, (double) wall[0] / 1000.0,
               (double) sum / (double) n_samples / 1000.0, (double) wall[n_samples - 1] / 1000.0, max_rss,
               median_rss, (double) user / (double) n_samples, (double) sys / (double) n_samples,
               failed);

        if (arg_each) {
                for (size_t i = 0; i < n_items; i++)
                        free(items[i]);
                free(items);
        }
        free(cmd);
        free(s);
        free(wall);
        free(rss);
        return failed > 0 && !arg_allow_fail ? EXIT_FAILURE : EXIT_SUCCESS;
}
