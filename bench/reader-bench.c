/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * reader-bench [--rounds N] LIST: what the choice of qcow2 header reader
 * costs, per layer, in one process. LIST names qcow2 files, one per line.
 *
 * For every file it checks that both readers agree (version, virtual size,
 * backing name), then, in each round, times over all files:
 *   open   open(), fstat(), pread() of 4 KiB, close(): the I/O any reader needs;
 *   builtin  qcow_header_read() on an open file (the strict built-in reader);
 *   libqcow  qcow_libqcow_read() on an open file (libqcow opens, reads, closes);
 *   walk-builtin, walk-libqcow, walk-auto  chain_walk() of the file with each
 *            --reader setting: the whole chain, as boxlite-chainwalk walks it.
 * The readers' rounds alternate, so drifting load hits both alike.
 *
 * Prints one line of key=value pairs: layers, rounds, and the median over the
 * rounds of the mean per file, in nanoseconds, of each measurement.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "macro.h"
#include "qcow.h"

typedef enum Measure {
        MEASURE_OPEN,
        MEASURE_BUILTIN,
        MEASURE_LIBQCOW,
        MEASURE_WALK_BUILTIN,
        MEASURE_WALK_LIBQCOW,
        MEASURE_WALK_AUTO,
        _MEASURE_MAX,
} Measure;

static const char *const measure_name[_MEASURE_MAX] = {
        [MEASURE_OPEN] = "open_ns",
        [MEASURE_BUILTIN] = "builtin_ns",
        [MEASURE_LIBQCOW] = "libqcow_ns",
        [MEASURE_WALK_BUILTIN] = "walk_builtin_ns",
        [MEASURE_WALK_LIBQCOW] = "walk_libqcow_ns",
        [MEASURE_WALK_AUTO] = "walk_auto_ns",
};

typedef struct Layer {
        char *path;
        int fd;
        uint64_t size;
} Layer;

static uint64_t now_ns(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

static int load_layers(const char *list, Layer **ret, size_t *ret_n) {
        _cleanup_free_ char *line = NULL;
        Layer *v = NULL;
        size_t n = 0, len = 0;
        ssize_t k;
        FILE *f;

        f = fopen(list, "re");
        if (!f)
                return -errno;
        while ((k = getline(&line, &len, f)) >= 0) {
                struct stat st;
                Layer *nv;
                int fd;

                if (k > 0 && line[k - 1] == '\n')
                        line[--k] = 0;
                if (k == 0)
                        continue;
                fd = open(line, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || fstat(fd, &st) < 0) {
                        int r = -errno;

                        fprintf(stderr, "reader-bench: cannot open '%s': %s\n", line, strerror(-r));
                        fclose(f);
                        return r;
                }
                nv = realloc(v, (n + 1) * sizeof(Layer));
                if (!nv)
                        return -ENOMEM;
                v = nv;
                v[n++] = (Layer) { .path = strdup(line), .fd = fd, .size = (uint64_t) st.st_size };
                if (!v[n - 1].path)
                        return -ENOMEM;
        }
        fclose(f);
        *ret = v;
        *ret_n = n;
        return 0;
}

/* Both readers must read the same facts, or the comparison is meaningless. */
static int check_agree(const Layer *l) {
        _cleanup_free_ char *reason = NULL, *lq_reason = NULL;
        QcowHeader b = {}, q = {};
        int r;

        r = qcow_header_read(l->fd, l->size, NULL, 0, &b, &reason);
        if (r < 0) {
                fprintf(stderr, "reader-bench: built-in reader refuses '%s': %s\n", l->path, reason ?: "");
                return r;
        }
        r = qcow_libqcow_read(l->fd, l->path, &q, &lq_reason);
        if (r < 0) {
                fprintf(stderr, "reader-bench: libqcow refuses '%s': %s\n", l->path, lq_reason ?: "");
                qcow_header_done(&b);
                return r;
        }
        if (b.version != q.version || b.virtual_size != q.virtual_size || !b.backing_file ||
            !q.backing_file || !streq(b.backing_file, q.backing_file)) {
                fprintf(stderr, "reader-bench: the readers disagree on '%s'\n", l->path);
                r = -EBADMSG;
        }
        qcow_header_done(&b);
        qcow_header_done(&q);
        return r;
}

static int measure_one(Measure m, const Layer *l) {
        QcowHeader h = {};
        int r = 0;

        switch (m) {
        case MEASURE_OPEN: {
                uint8_t buf[4096];
                struct stat st;
                int fd;

                fd = open(l->path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
                if (fd < 0 || fstat(fd, &st) < 0 || pread(fd, buf, sizeof(buf), 0) <= 0)
                        r = -errno;
                if (fd >= 0)
                        (void) close(fd);
                return r;
        }
        case MEASURE_BUILTIN:
                r = qcow_header_read(l->fd, l->size, NULL, 0, &h, NULL);
                qcow_header_done(&h);
                return r;
        case MEASURE_LIBQCOW:
                r = qcow_libqcow_read(l->fd, l->path, &h, NULL);
                qcow_header_done(&h);
                return r;
        case MEASURE_WALK_BUILTIN:
        case MEASURE_WALK_LIBQCOW:
        case MEASURE_WALK_AUTO: {
                ChainOptions o = {
                        .reader = m == MEASURE_WALK_BUILTIN ? QCOW_READER_BUILTIN :
                                  m == MEASURE_WALK_LIBQCOW ? QCOW_READER_LIBQCOW :
                                                              QCOW_READER_AUTO,
                };
                Chain *c = NULL;

                r = chain_walk(l->path, &o, &c);
                if (r >= 0 && !chain_complete(c))
                        r = -EBADMSG;
                chain_free(c);
                return r;
        }
        default:
                return -EINVAL;
        }
}

int main(int argc, char *argv[]) {
        double *per[_MEASURE_MAX] = {};
        unsigned rounds = 11;
        Layer *layers = NULL;
        size_t n = 0;
        int r;

        if (argc == 4 && streq(argv[1], "--rounds"))
                rounds = (unsigned) strtoul(argv[2], NULL, 10);
        else if (argc != 2) {
                fprintf(stderr, "usage: reader-bench [--rounds N] LIST\n");
                return 2;
        }
        if (rounds == 0)
                rounds = 1;

        r = load_layers(argv[argc - 1], &layers, &n);
        if (r < 0 || n == 0) {
                fprintf(stderr, "reader-bench: no layers in '%s'\n", argv[argc - 1]);
                return EXIT_FAILURE;
        }
        for (size_t i = 0; i < n; i++)
                if (check_agree(&layers[i]) < 0)
                        return EXIT_FAILURE;

        for (Measure m = 0; m < _MEASURE_MAX; m++) {
                per[m] = calloc(rounds, sizeof(double));
                if (!per[m])
                        return EXIT_FAILURE;
        }

        /* One warm-up pass of everything, then the measured rounds, alternating. */
        for (unsigned round = 0; round <= rounds; round++)
                for (Measure m = 0; m < _MEASURE_MAX; m++) {
                        uint64_t t0 = now_ns();

                        for (size_t i = 0; i < n; i++) {
                                r = measure_one(m, &layers[i]);
                                if (r < 0) {
                                        fprintf(stderr, "reader-bench: %s failed on '%s': %s\n",
                                                measure_name[m], layers[i].path, strerror(-r));
                                        return EXIT_FAILURE;
                                }
                        }
                        if (round > 0)
                                per[m][round - 1] = (double) (now_ns() - t0) / (double) n;
                }

        printf("layers=%zu rounds=%u", n, rounds);
        for (Measure m = 0; m < _MEASURE_MAX; m++) {
                qsort(per[m], rounds, sizeof(double), cmp_double);
                printf(" %s=%.0f", measure_name[m],
                       rounds % 2 ? per[m][rounds / 2] : (per[m][rounds / 2 - 1] + per[m][rounds / 2]) / 2);
                free(per[m]);
        }
        printf("\n");

        for (size_t i = 0; i < n; i++) {
                (void) close(layers[i].fd);
                free(layers[i].path);
        }
        free(layers);
        return EXIT_SUCCESS;
}
