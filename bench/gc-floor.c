/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * gc-floor HOME: the least work any GC of HOME must do, as a baseline: open
 * and read the first 4 KiB of every boxes/<id>/disks/<name> and stat every
 * images/disk-images/<name>. Prints the number of files touched.
 */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        char path[4096], buf[4096];
        unsigned long n = 0;
        struct dirent *de, *de2;
        DIR *d, *d2;

        if (argc != 2)
                return 2;

        snprintf(path, sizeof(path), "%s/boxes", argv[1]);
        d = opendir(path);
        if (!d)
                return 1;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/boxes/%s/disks", argv[1], de->d_name);
                d2 = opendir(path);
                if (!d2)
                        continue;
                while ((de2 = readdir(d2))) {
                        int fd;

                        if (de2->d_name[0] == '.')
                                continue;
                        fd = openat(dirfd(d2), de2->d_name, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                continue;
                        if (pread(fd, buf, sizeof(buf), 0) > 0)
                                n++;
                        close(fd);
                }
                closedir(d2);
        }
        closedir(d);

        snprintf(path, sizeof(path), "%s/images/disk-images", argv[1]);
        d = opendir(path);
        if (!d)
                return 1;
        while ((de = readdir(d))) {
                struct stat st;

                if (de->d_name[0] != '.' && fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                        n++;
        }
        closedir(d);
        printf("%lu\n", n);
        return 0;
}
