/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file-util.h"
#include "macro.h"
#include "state-file.h"

#define ESCAPED_MAX 200U

static bool escape_keep(char c, bool first) {
        if (c >= 'a' && c <= 'z')
                return true;
        if (c >= 'A' && c <= 'Z')
                return true;
        if (c >= '0' && c <= '9')
                return true;
        if (c == ':' || c == '_')
                return true;
        return c == '.' && !first;
}

static uint64_t fnv1a(const char *s) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (; *s; s++) {
                h ^= (uint8_t) *s;
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

char *state_escape_path(const char *path) {
        _cleanup_free_ char *out = NULL;
        size_t k = 0;
        bool slash = true; /* collapses repeated and leading slashes */

        out = malloc(strlen(path) * 4 + 2);
        if (!out)
                return NULL;
        for (const char *p = path; *p; p++) {
                if (*p == '/') {
                        slash = true;
                        continue;
                }
                if (slash && k > 0)
                        out[k++] = '-';
                slash = false;
                if (escape_keep(*p, k == 0))
                        out[k++] = *p;
                else
                        k += (size_t) sprintf(out + k, "\\x%02x", (uint8_t) *p);
        }
        if (k == 0)
                out[k++] = '-';
        out[k] = 0;

        if (k > ESCAPED_MAX) {
                /* Keep the file name within NAME_MAX: a prefix stays readable, the hash keeps it unique. */
                uint64_t h = fnv1a(path);

                (void) sprintf(out + ESCAPED_MAX - 17, "-%016" PRIx64, h);
        }
        return TAKE_PTR(out);
}

char *state_file_name(const char *prefix, const char *home) {
        _cleanup_free_ char *e = state_escape_path(home);
        char *name;

        if (!e || asprintf(&name, "%s-%s.state", prefix, e) < 0)
                return NULL;
        return name;
}

/* The directory must be ours or root's and not writable by others, or its files could be anyone's. */
static bool state_dir_safe(const struct stat *st) {
        return (st->st_uid == geteuid() || st->st_uid == 0) && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

int state_dir_open(const char *dir) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!state_dir_safe(&st))
                return -EPERM;
        return TAKE_FD(fd);
}

char *state_dir_problem(const char *dir) {
        const char *wrong;
        struct stat st;
        char *s;

        if (stat(dir, &st) < 0 || state_dir_safe(&st))
                return NULL;
        wrong = st.st_uid != geteuid() && st.st_uid != 0 ? "is owned by another user" :
                st.st_mode & S_IWOTH ? "is writable by others" : "is writable by its group";
        if (asprintf(&s, "'%s' %s (owner uid %u, mode %04o); accepted: owned by root or uid %u, writable only by "
                     "its owner (mode 0755 or 0700)",
                     dir, wrong, (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777), (unsigned) geteuid()) < 0)
                return NULL;
        return s;
}

int state_file_read(const char *dir, const char *name, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int dfd = -1, fd = -1;
        struct stat st;

        dfd = state_dir_open(dir);
        if (dfd < 0)
                return dfd;
        /* No symlink, no FIFO that would block, nothing written by another user. */
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return errno == ELOOP ? -EPERM : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
                return -EPERM;

        return read_fd_whole(fd, max, ret, ret_size);
}

static int write_all(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, s, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                s += k;
                n -= (size_t) k;
        }
        return 0;
}

int state_file_write(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int dfd = -1, fd = -1;
        uint64_t rnd;
        int r;

        if (mkdir(dir, geteuid() == 0 ? 0755 : 0700) < 0 && errno != EEXIST)
                return -errno;
        dfd = state_dir_open(dir);
        if (dfd < 0)
                return dfd;

        for (unsigned i = 0;; i++) {
                if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                        return -EIO;
                tmp = mfree(tmp);
                if (asprintf(&tmp, ".%s.%016" PRIx64, name, rnd) < 0)
                        return -ENOMEM;
                fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || i >= 16)
                        return -errno;
        }
        r = write_all(fd, text, strlen(text));
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dfd, tmp, 0);
                return r;
        }
        (void) fsync(dfd);
        return 0;
}

int state_file_remove(const char *dir, const char *name) {
        _cleanup_close_ int dfd = -1;

        dfd = state_dir_open(dir);
        if (dfd == -ENOENT)
                return 0;
        if (dfd < 0)
                return dfd;
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}
