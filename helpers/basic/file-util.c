/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file-util.h"
#include "macro.h"

const char *inode_type_to_string(mode_t mode) {
        if (S_ISREG(mode))
                return "a regular file";
        if (S_ISDIR(mode))
                return "a directory";
        if (S_ISLNK(mode))
                return "a symbolic link";
        if (S_ISFIFO(mode))
                return "a FIFO";
        if (S_ISCHR(mode))
                return "a character device";
        if (S_ISBLK(mode))
                return "a block device";
        if (S_ISSOCK(mode))
                return "a socket";
        return "not a regular file";
}

int file_check_replaceable(const char *path, const char **ret_what) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISREG(st.st_mode))
                return 0;
        if (ret_what)
                *ret_what = inode_type_to_string(st.st_mode);
        return -EEXIST;
}

int read_fd_whole(int fd, size_t max_size, char **ret_data, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, allocated;
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t) st.st_size > max_size)
                return -EFBIG;

        /* The size may change while we read: read until EOF, but never past max_size. */
        allocated = (size_t) st.st_size + 1;
        buf = malloc(allocated);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k;

                if (n + 1 >= allocated) {
                        size_t a = MIN(allocated * 2, max_size + 2);
                        char *p;

                        if (a <= allocated)
                                return -EFBIG;
                        p = realloc(buf, a);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated = a;
                }
                k = read(fd, buf + n, allocated - 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max_size)
                        return -EFBIG;
        }
        buf[n] = 0;
        *ret_data = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

int read_regular_file(const char *path, size_t max_size, char **ret_data, size_t *ret_size,
                      const char **ret_what) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode)) {
                if (ret_what)
                        *ret_what = inode_type_to_string(st.st_mode);
                return -EBADFD;
        }
        return read_fd_whole(fd, max_size, ret_data, ret_size);
}
