/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * gc-floor [--disks-only] HOME: the least work any GC of HOME must do, as a
 * baseline. It lists every directory under boxes/ (a box keeps overlays in
 * disks/ and snapshots/<name>/), opens every file there and in bases/ and
 * reads its first 4 KiB (the qcow2 header and backing name), and stats every
 * entry of images/disk-images/. Each file is read once: a base that many
 * overlays back onto is read once, where following chains reads it per
 * overlay. It resolves nothing, validates nothing and keeps nothing.
 *
 * --disks-only goes straight to boxes/<id>/disks/ without listing
 * boxes/<id>/: it assumes the layout has no snapshots, so it is below what a
 * correct GC can do, and shows what the box-directory listing costs.
 *
 * Directories are read with getdents64() into one buffer (no opendir(), which
 * adds an fstat() per directory). Prints the number of files touched.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_BUF_SIZE (32U * 1024U)
#define MAX_DEPTH 8U

static bool arg_disks_only = false;
static unsigned long n_touched = 0;
static uint8_t dir_buf[MAX_DEPTH + 1][DIR_BUF_SIZE];

typedef void (*EntryFunc)(int dir_fd, const char *name, unsigned char type, unsigned depth);

static void read_header(int dir_fd, const char *name) {
        char buf[4096];
        int fd;

        fd = openat(dir_fd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return;
        if (pread(fd, buf, sizeof(buf), 0) > 0)
                n_touched++;
        (void) close(fd);
}

/* Calls f for every entry of dir_fd/name except "." and "..". */
static void list_dir(int dir_fd, const char *name, unsigned depth, EntryFunc f) {
        int fd;

        if (depth > MAX_DEPTH)
                return;
        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return;
        for (;;) {
                ssize_t n = getdents64(fd, dir_buf[depth], DIR_BUF_SIZE);

                if (n <= 0)
                        break;
                for (size_t off = 0; off < (size_t) n;) {
                        const struct dirent64 *de = (const struct dirent64 *) (dir_buf[depth] + off);

                        off += de->d_reclen;
                        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                                continue;
                        f(fd, de->d_name, de->d_type, depth);
                }
        }
        (void) close(fd);
}

static void box_entry(int dir_fd, const char *name, unsigned char type, unsigned depth) {
        if (type == DT_DIR)
                list_dir(dir_fd, name, depth + 1, box_entry);
        else if (type == DT_REG)
                read_header(dir_fd, name);
}

static void boxes_entry(int dir_fd, const char *name, unsigned char type, unsigned depth) {
        char sub[4096];

        if (type != DT_DIR)
                return;
        if (!arg_disks_only) {
                list_dir(dir_fd, name, depth + 1, box_entry);
                return;
        }
        snprintf(sub, sizeof(sub), "%s/disks", name);
        list_dir(dir_fd, sub, depth + 1, box_entry);
}

static void image_entry(int dir_fd, const char *name, unsigned char type, unsigned depth) {
        struct stat st;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                n_touched++;
}

int main(int argc, char *argv[]) {
        const char *home;
        int home_fd;

        if (argc == 3 && strcmp(argv[1], "--disks-only") == 0)
                arg_disks_only = true;
        else if (argc != 2) {
                fprintf(stderr, "usage: gc-floor [--disks-only] HOME\n");
                return 2;
        }
        home = argv[argc - 1];

        home_fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (home_fd < 0) {
                perror(home);
                return 1;
        }
        list_dir(home_fd, "boxes", 0, boxes_entry);
        list_dir(home_fd, "bases", 0, box_entry);
        list_dir(home_fd, "images/disk-images", 0, image_entry);
        (void) close(home_fd);

        printf("%lu\n", n_touched);
        return 0;
}
