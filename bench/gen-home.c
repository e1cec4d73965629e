/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * gen-home TEMPLATE HOME BOXES IMAGES: writes a synthetic boxlite home fast.
 *
 * TEMPLATE is a real qcow2 overlay made by qemu-img whose backing name is
 * HOME/images/disk-images/sha256-<64 x 0>.ext4; every generated overlay is a
 * byte copy of it with the 64 hex digits replaced, so each header is exactly
 * what qemu-img writes. Box i gets boxes/box-<i>/disks/{disk,guest-rootfs}.qcow2
 * backing onto image (i % (IMAGES/2)) and (i*7 % (IMAGES/2)); images
 * IMAGES/2 .. IMAGES-1 are orphans. Images are sparse 1 MiB files dated a day
 * back (mtime; their ctime is now).
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
        perror(what);
        exit(EXIT_FAILURE);
}

static void write_file(const char *path, const void *buf, size_t n) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, buf, n) != (ssize_t) n || close(fd) < 0)
                die(path);
}

static void hexname(char out[65], unsigned long i) {
        snprintf(out, 65, "%064lx", i);
}

int main(int argc, char *argv[]) {
        unsigned long boxes, images, half;
        char path[4096], hex[65];
        uint8_t *tmpl;
        uint64_t off;
        uint32_t len;
        struct stat st;
        char *name, *needle;
        int fd;

        if (argc != 5) {
                fprintf(stderr, "usage: gen-home TEMPLATE HOME BOXES IMAGES\n");
                return 2;
        }
        boxes = strtoul(argv[3], NULL, 10);
        images = strtoul(argv[4], NULL, 10);
        half = images / 2 ?: 1;

        fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                die(argv[1]);
        tmpl = malloc((size_t) st.st_size);
        if (!tmpl || read(fd, tmpl, (size_t) st.st_size) != st.st_size)
                die("read template");
        close(fd);

        memcpy(&off, tmpl + 8, 8);
        memcpy(&len, tmpl + 16, 4);
        off = be64toh(off);
        len = be32toh(len);
        name = (char *) tmpl + off;
        needle = memmem(name, len, "sha256-", 7);
        if (!needle || (size_t) (name + len - needle) < 7 + 64)
                die("template backing name");
        needle += 7;

        snprintf(path, sizeof(path), "%s/images/disk-images", argv[2]);
        for (unsigned long i = 0; i < images; i++) {
                struct timespec ts[2] = { { time(NULL) - 86400, 0 }, { time(NULL) - 86400, 0 } };

                hexname(hex, i);
                snprintf(path, sizeof(path), "%s/images/disk-images/sha256-%s.ext4", argv[2], hex);
                fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0 || ftruncate(fd, 1 << 20) < 0 || futimens(fd, ts) < 0 || close(fd) < 0)
                        die(path);
        }

        for (unsigned long i = 0; i < boxes; i++) {
                snprintf(path, sizeof(path), "%s/boxes/box-%lu", argv[2], i);
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        die(path);
                snprintf(path, sizeof(path), "%s/boxes/box-%lu/disks", argv[2], i);
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        die(path);

                hexname(hex, i % half);
                memcpy(needle, hex, 64);
                snprintf(path, sizeof(path), "%s/boxes/box-%lu/disks/disk.qcow2", argv[2], i);
                write_file(path, tmpl, (size_t) st.st_size);

                hexname(hex, (i * 7) % half);
                memcpy(needle, hex, 64);
                snprintf(path, sizeof(path), "%s/boxes/box-%lu/disks/guest-rootfs.qcow2", argv[2], i);
                write_file(path, tmpl, (size_t) st.st_size);
        }
        free(tmpl);
        return 0;
}
