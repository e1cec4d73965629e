/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * gen-home [OPTIONS] TEMPLATE HOME BOXES IMAGES: writes a synthetic boxlite
 * home fast.
 *
 * TEMPLATE is a real qcow2 overlay made by qemu-img whose backing name is
 * HOME/images/disk-images/sha256-<64 x 0>.ext4 (format raw); every generated
 * overlay is a byte copy of it with the 64 hex digits replaced, so each header
 * is exactly what qemu-img writes. With --base-template (an overlay made by
 * qemu-img whose backing name is HOME/bases/base-<16 x 0>.qcow2, format
 * qcow2) and --bases N, the home also gets bases/base-<n>.qcow2, each a copy of
 * TEMPLATE backing onto a disk-image, and --via-base PCT of the boxes get a
 * disk.qcow2 that backs onto a base: overlay -> base -> disk-image.
 *
 * The first IMAGES - IMAGES * ORPHANS / 100 disk-images are live, the rest
 * are orphans. Box i gets boxes/box-<i>/disks/guest-rootfs.qcow2 backing onto
 * live image i % LIVE and disks/disk.qcow2 backing onto live image
 * (i * 7) % LIVE, or onto a base (the bases in turn, when box i % 100 < PCT);
 * base b backs onto live image b % LIVE. A live image that nothing happens to
 * reference (fewer boxes than live images) is an orphan too: the counts
 * printed and the --orphan-list are exact. Images are sparse 1 MiB files whose
 * mtime is a day back (their ctime is now).
 *
 * Options:
 *   --base-template FILE  see above
 *   --bases N             number of bases (default 0)
 *   --via-base PCT        share of boxes whose disk.qcow2 backs onto a base (default 0)
 *   --orphans PCT         share of disk-images no chain references (default 50)
 *   --orphan-list FILE    write the path of every orphan, one per line
 *   --sample N            with --sample-list: how many overlays to draw (default 200)
 *   --sample-list FILE    write the paths of a random sample of overlays (fixed seed)
 *   --seed N              seed of the sample (default 1)
 *   --images-only         (re)write the disk-images only, e.g. orphans a real GC run deleted
 *
 * Prints one line: boxes, overlays, bases, boxes through a base, images, orphans.
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct Template {
        uint8_t *data;
        size_t size;
        char *digits; /* where the variable part of the backing name starts */
        size_t width;
} Template;

static void die(const char *what) {
        perror(what);
        exit(EXIT_FAILURE);
}

static void write_file(const char *path, const void *buf, size_t n) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, buf, n) != (ssize_t) n || close(fd) < 0)
                die(path);
}

static void make_dir(const char *path) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                die(path);
}

/* Loads a qemu-img-made overlay and finds MARKER followed by WIDTH digits in its backing name. */
static void template_load(Template *t, const char *path, const char *marker, size_t width) {
        struct stat st;
        uint64_t off;
        uint32_t len;
        char *name, *p;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                die(path);
        t->size = (size_t) st.st_size;
        t->data = malloc(t->size);
        if (!t->data || read(fd, t->data, t->size) != (ssize_t) t->size)
                die(path);
        close(fd);
        if (t->size < 20)
                die("template too short");

        memcpy(&off, t->data + 8, 8);
        memcpy(&len, t->data + 16, 4);
        off = be64toh(off);
        len = be32toh(len);
        if (off == 0 || off + len > t->size) {
                fprintf(stderr, "%s: no backing name\n", path);
                exit(EXIT_FAILURE);
        }
        name = (char *) t->data + off;
        p = memmem(name, len, marker, strlen(marker));
        if (!p || (size_t) (name + len - p) < strlen(marker) + width) {
                fprintf(stderr, "%s: backing name has no %s followed by %zu digits\n", path, marker, width);
                exit(EXIT_FAILURE);
        }
        t->digits = p + strlen(marker);
        t->width = width;
}

/* Writes a copy of the template whose backing name carries number i. */
static void template_write(Template *t, const char *path, unsigned long i) {
        char hex[72];

        snprintf(hex, sizeof(hex), "%0*lx", (int) t->width, i);
        memcpy(t->digits, hex, t->width);
        write_file(path, t->data, t->size);
}

static unsigned long parse_ul(const char *s, const char *what) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end) {
                fprintf(stderr, "invalid %s '%s'\n", what, s);
                exit(2);
        }
        return v;
}

/* xorshift64*: a fixed, portable sequence for the sample. */
static uint64_t next_random(uint64_t *s) {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * UINT64_C(2685821657736338717);
}

static void overlay_path(char *buf, size_t size, const char *home, unsigned long k) {
        snprintf(buf, size, "%s/boxes/box-%lu/disks/%s", home, k / 2,
                 k % 2 == 0 ? "disk.qcow2" : "guest-rootfs.qcow2");
}

int main(int argc, char *argv[]) {
        enum {
                ARG_BASE_TEMPLATE = 0x100,
                ARG_BASES,
                ARG_VIA_BASE,
                ARG_ORPHANS,
                ARG_ORPHAN_LIST,
                ARG_SAMPLE,
                ARG_SAMPLE_LIST,
                ARG_SEED,
                ARG_IMAGES_ONLY,
        };
        static const struct option options[] = {
                { "base-template", required_argument, NULL, ARG_BASE_TEMPLATE },
                { "bases", required_argument, NULL, ARG_BASES },
                { "via-base", required_argument, NULL, ARG_VIA_BASE },
                { "orphans", required_argument, NULL, ARG_ORPHANS },
                { "orphan-list", required_argument, NULL, ARG_ORPHAN_LIST },
                { "sample", required_argument, NULL, ARG_SAMPLE },
                { "sample-list", required_argument, NULL, ARG_SAMPLE_LIST },
                { "seed", required_argument, NULL, ARG_SEED },
                { "images-only", no_argument, NULL, ARG_IMAGES_ONLY },
                {}
        };
        const char *base_template = NULL, *orphan_list = NULL, *sample_list = NULL, *home;
        unsigned long boxes, images, live, n_bases = 0, via_pct = 0, orphan_pct = 50, n_sample = 200;
        unsigned long n_via = 0, n_orphans = 0, next_base = 0;
        uint64_t seed = 1;
        bool images_only = false;
        Template disk = {}, via = {};
        char path[4096];
        bool *referenced;
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case ARG_BASE_TEMPLATE:
                        base_template = optarg;
                        break;
                case ARG_BASES:
                        n_bases = parse_ul(optarg, "--bases");
                        break;
                case ARG_VIA_BASE:
                        via_pct = parse_ul(optarg, "--via-base");
                        break;
                case ARG_ORPHANS:
                        orphan_pct = parse_ul(optarg, "--orphans");
                        break;
                case ARG_ORPHAN_LIST:
                        orphan_list = optarg;
                        break;
                case ARG_SAMPLE:
                        n_sample = parse_ul(optarg, "--sample");
                        break;
                case ARG_SAMPLE_LIST:
                        sample_list = optarg;
                        break;
                case ARG_SEED:
                        seed = parse_ul(optarg, "--seed");
                        break;
                case ARG_IMAGES_ONLY:
                        images_only = true;
                        break;
                default:
                        return 2;
                }

        if (argc - optind != 4 || via_pct > 100 || orphan_pct > 100 || (n_bases > 0 && !base_template) ||
            (via_pct > 0 && n_bases == 0)) {
                fprintf(stderr,
                        "usage: gen-home [--base-template FILE --bases N --via-base PCT] [--orphans PCT]\n"
                        "                [--orphan-list FILE] [--sample N --sample-list FILE --seed N]\n"
                        "                [--images-only] TEMPLATE HOME BOXES IMAGES\n");
                return 2;
        }
        home = argv[optind + 1];
        boxes = parse_ul(argv[optind + 2], "BOXES");
        images = parse_ul(argv[optind + 3], "IMAGES");
        live = images - images * orphan_pct / 100;
        if (live == 0 && images > 0)
                live = 1;

        template_load(&disk, argv[optind], "sha256-", 64);
        if (base_template)
                template_load(&via, base_template, "base-", 16);

        referenced = calloc(images ?: 1, sizeof(bool));
        if (!referenced)
                die("calloc");

        for (unsigned long i = 0; i < images; i++) {
                time_t day_ago = time(NULL) - 86400;
                struct timespec ts[2] = { { day_ago, 0 }, { day_ago, 0 } };
                int fd;

                snprintf(path, sizeof(path), "%s/images/disk-images/sha256-%064lx.ext4", home, i);
                fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0 || ftruncate(fd, 1 << 20) < 0 || futimens(fd, ts) < 0 || close(fd) < 0)
                        die(path);
        }

        for (unsigned long b = 0; b < n_bases && live > 0; b++) {
                referenced[b % live] = true;
                if (images_only)
                        continue;
                snprintf(path, sizeof(path), "%s/bases/base-%016lx.qcow2", home, b);
                template_write(&disk, path, b % live);
        }

        for (unsigned long i = 0; i < boxes && live > 0; i++) {
                bool through_base = n_bases > 0 && i % 100 < via_pct;

                referenced[i % live] = true;
                if (through_base)
                        n_via++;
                else
                        referenced[(i * 7) % live] = true;
                if (images_only) {
                        if (through_base)
                                next_base++;
                        continue;
                }

                snprintf(path, sizeof(path), "%s/boxes/box-%lu", home, i);
                make_dir(path);
                snprintf(path, sizeof(path), "%s/boxes/box-%lu/disks", home, i);
                make_dir(path);

                overlay_path(path, sizeof(path), home, 2 * i);
                if (through_base)
                        template_write(&via, path, next_base++ % n_bases);
                else
                        template_write(&disk, path, (i * 7) % live);
                overlay_path(path, sizeof(path), home, 2 * i + 1);
                template_write(&disk, path, i % live);
        }

        if (orphan_list) {
                FILE *f = fopen(orphan_list, "we");

                if (!f)
                        die(orphan_list);
                for (unsigned long i = 0; i < images; i++)
                        if (!referenced[i])
                                fprintf(f, "%s/images/disk-images/sha256-%064lx.ext4\n", home, i);
                if (fclose(f) != 0)
                        die(orphan_list);
        }
        for (unsigned long i = 0; i < images; i++)
                n_orphans += !referenced[i];

        if (sample_list) {
                unsigned long n_overlays = 2 * boxes, *idx;
                uint64_t s = seed ?: 1;
                FILE *f;

                if (n_sample > n_overlays)
                        n_sample = n_overlays;
                idx = malloc((n_overlays ?: 1) * sizeof(unsigned long));
                f = fopen(sample_list, "we");
                if (!idx || !f)
                        die(sample_list);
                for (unsigned long k = 0; k < n_overlays; k++)
                        idx[k] = k;
                /* A partial Fisher-Yates shuffle: the first n_sample entries are the sample. */
                for (unsigned long k = 0; k < n_sample; k++) {
                        unsigned long j = k + (unsigned long) (next_random(&s) % (n_overlays - k));
                        unsigned long t = idx[k];

                        idx[k] = idx[j];
                        idx[j] = t;
                        overlay_path(path, sizeof(path), home, idx[k]);
                        fprintf(f, "%s\n", path);
                }
                if (fclose(f) != 0)
                        die(sample_list);
                free(idx);
        }

        printf("boxes %lu overlays %lu bases %lu via-base %lu images %lu orphans %lu\n", boxes, 2 * boxes,
               n_bases, n_via, images, n_orphans);
        free(referenced);
        free(disk.data);
        free(via.data);
        return 0;
}
