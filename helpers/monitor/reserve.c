/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "reserve.h"

#define RESERVE_TMP_PREFIX RESERVE_NAME "."

const char *reserve_state_to_string(ReserveState s) {
        switch (s) {
        case RESERVE_HELD:
                return "held";
        case RESERVE_RELEASED:
                return "released";
        default:
                return "absent";
        }
}

void reserve_list_free(Reserve *r, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(r[i].dir);
                free(r[i].path);
                free(r[i].problem);
        }
        free(r);
}

static int open_dir(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);

        return fd < 0 ? -errno : fd;
}

static int set_problem(Reserve *r, const char *format, ...) _printf_(2, 3);
static int set_problem(Reserve *r, const char *format, ...) {
        va_list ap;
        char *s;
        int k;

        va_start(ap, format);
        k = vasprintf(&s, format, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        free(r->problem);
        r->problem = s;
        return 0;
}

/* The reserve's name in dfd: absent, ours (regular, our uid), or foreign. */
static int inspect(int dfd, Reserve *r, struct stat *ret) {
        struct stat st;

        r->problem = mfree(r->problem);
        if (fstatat(dfd, RESERVE_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                        return -errno;
                if (r->state != RESERVE_RELEASED)
                        r->state = RESERVE_ABSENT;
                r->bytes = 0;
                return 0;
        }
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
                r->state = RESERVE_FOREIGN;
                r->bytes = 0;
                return set_problem(r, "'%s' is %s, not a reserve of ours: left alone", r->path,
                                   S_ISLNK(st.st_mode)   ? "a symlink" :
                                   S_ISDIR(st.st_mode)   ? "a directory" :
                                   !S_ISREG(st.st_mode)  ? "not a regular file" :
                                                           "owned by another user");
        }
        r->state = RESERVE_HELD;
        r->bytes = (uint64_t) st.st_blocks * 512;
        if (ret)
                *ret = st;
        return 0;
}

int reserve_refresh(Reserve *r) {
        _cleanup_close_ int dfd = open_dir(r->dir);

        if (dfd < 0)
                return dfd;
        return inspect(dfd, r, NULL);
}

static int add_part(Reserve *list, size_t *n, const char *part, const char *dir, dev_t dev) {
        Reserve *r = &list[*n];

        *r = (Reserve) { .part = part, .dev = dev, .state = RESERVE_ABSENT };
        r->dir = strdup(dir);
        if (!r->dir || asprintf(&r->path, "%s/%s", dir, RESERVE_NAME) < 0) {
                free(r->dir);
                return -ENOMEM;
        }
        (*n)++;
        (void) reserve_refresh(r);
        return 0;
}

int reserve_list(const char *home, Reserve **ret, size_t *ret_n) {
        static const char *const parts[] = { "boxes", "images" };
        Reserve *list = NULL;
        _cleanup_close_ int hfd = -1;
        struct stat hst;
        size_t n = 0;
        int r;

        hfd = open_dir(home);
        if (hfd < 0)
                return hfd;
        if (fstat(hfd, &hst) < 0)
                return -errno;
        list = calloc(RESERVE_MAX_PARTS, sizeof(Reserve));
        if (!list)
                return -ENOMEM;
        r = add_part(list, &n, "home", home, hst.st_dev);
        if (r < 0)
                goto fail;

        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                _cleanup_free_ char *dir = NULL;
                _cleanup_close_ int fd = -1;
                struct stat st;
                bool seen = false;

                if (asprintf(&dir, "%s/%s", home, parts[i]) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                /* Followed: an operator may have moved boxes/ to another disk with a symlink. */
                fd = open_dir(dir);
                if (fd < 0 || fstat(fd, &st) < 0)
                        continue;
                for (size_t j = 0; j < n; j++)
                        if (list[j].dev == st.st_dev)
                                seen = true;
                if (seen || st.st_uid != hst.st_uid)
                        continue;
                r = add_part(list, &n, parts[i], dir, st.st_dev);
                if (r < 0)
                        goto fail;
        }
        *ret = list;
        *ret_n = n;
        return 0;

fail:
        reserve_list_free(list, n);
        return r;
}

/* Temporary files of a run that died between allocating and linking. */
static void remove_stale(int dfd) {
        _cleanup_close_ int fd = -1;
        struct dirent *de;
        DIR *d;

        fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return;
        d = fdopendir(TAKE_FD(fd));
        if (!d)
                return;
        while ((de = readdir(d))) {
                struct stat st;

                if (strncmp(de->d_name, RESERVE_TMP_PREFIX, strlen(RESERVE_TMP_PREFIX)) != 0)
                        continue;
                if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISREG(st.st_mode) && st.st_uid == geteuid())
                        (void) unlinkat(dfd, de->d_name, 0);
        }
        closedir(d);
}

int reserve_create(Reserve *r, uint64_t size) {
        _cleanup_close_ int dfd = -1, fd = -1;
        char tmp[sizeof(RESERVE_TMP_PREFIX) + 16];
        struct stat st = {};
        uint64_t rnd;
        int k;

        if (size == 0)
                return 0;
        dfd = open_dir(r->dir);
        if (dfd < 0)
                return dfd;
        k = inspect(dfd, r, &st);
        if (k < 0)
                return k;
        if (r->state == RESERVE_FOREIGN)
                return -EEXIST;
        if (r->state == RESERVE_HELD && r->bytes >= size)
                return 0;
        remove_stale(dfd);

        for (unsigned i = 0;; i++) {
                if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                        return -EIO;
                (void) snprintf(tmp, sizeof(tmp), RESERVE_TMP_PREFIX "%016" PRIx64, rnd);
                fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || i >= 16)
                        return -errno;
        }

        /* Real blocks: a sparse file would free nothing when it is unlinked. */
        if (fallocate(fd, 0, 0, (off_t) size) < 0) {
                k = errno == EOPNOTSUPP ? -EOPNOTSUPP : -errno;
                goto fail;
        }
        if (fsync(fd) < 0 || fstat(fd, &st) < 0) {
                k = -errno;
                goto fail;
        }
        if ((uint64_t) st.st_blocks * 512 < size) {
                k = -EOPNOTSUPP;
                goto fail;
        }

        /* A short reserve of ours (a smaller ReserveSize= before) is replaced. */
        if (r->state == RESERVE_HELD) {
                k = inspect(dfd, r, NULL);
                if (k < 0)
                        goto fail;
                if (r->state == RESERVE_HELD && unlinkat(dfd, RESERVE_NAME, 0) < 0 && errno != ENOENT) {
                        k = -errno;
                        goto fail;
                }
        }
        /* linkat() never replaces: whatever took the name meanwhile stays, and so does the error. */
        if (linkat(dfd, tmp, dfd, RESERVE_NAME, 0) < 0) {
                k = -errno;
                goto fail;
        }
        (void) unlinkat(dfd, tmp, 0);
        (void) fsync(dfd);
        r->state = RESERVE_HELD;
        r->bytes = (uint64_t) st.st_blocks * 512;
        r->problem = mfree(r->problem);
        return 0;

fail:
        (void) unlinkat(dfd, tmp, 0);
        return k;
}

int reserve_release(Reserve *r) {
        _cleanup_close_ int dfd = -1;
        struct stat st;
        int k;

        dfd = open_dir(r->dir);
        if (dfd < 0)
                return dfd;
        k = inspect(dfd, r, &st);
        if (k < 0)
                return k;
        if (r->state == RESERVE_FOREIGN)
                return -EEXIST;
        if (r->state != RESERVE_HELD) {
                r->bytes = 0;
                return 0;
        }
        if (unlinkat(dfd, RESERVE_NAME, 0) < 0)
                return -errno;
        /* Another name for the same inode keeps its blocks. */
        r->bytes = st.st_nlink == 1 ? (uint64_t) st.st_blocks * 512 : 0;
        r->state = RESERVE_RELEASED;
        remove_stale(dfd);
        /* Make statvfs show the freed blocks now (ext4 frees them at journal commit). */
        (void) syncfs(dfd);
        return 0;
}
