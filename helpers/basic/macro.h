/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Small cleanup helpers in the style of systemd and kmod.
 *
 * _cleanup_(f) runs f(&var) when var leaves scope; f must accept a pointer
 * to a NULL/-1 value and do nothing then. TAKE_PTR()/TAKE_FD() hand
 * ownership out of a cleanup variable.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _pure_ __attribute__((pure))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/*
 * Makes room for need elements of size bytes in the array *p of *allocated,
 * doubling (at least min_alloc): 0 or -ENOMEM (the array is then unchanged).
 */
static inline int greedy_realloc(void *p, size_t *allocated, size_t need, size_t size, size_t min_alloc) {
        void **v = p, *q;
        size_t a;

        if (need <= *allocated)
                return 0;
        a = need > *allocated * 2 ? need : *allocated * 2;
        a = a > min_alloc ? a : min_alloc;
        if (a > SIZE_MAX / size)
                return -ENOMEM;
        q = realloc(*v, a * size);
        if (!q)
                return -ENOMEM;
        *v = q;
        *allocated = a;
        return 0;
}

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* Closes fd if valid, keeping errno, and returns -1 for "fd = safe_close(fd);". */
static inline int safe_close(int fd) {
        closep(&fd);
        return -1;
}

static inline void strv_freep(char ***p) {
        if (!*p)
                return;
        for (char **i = *p; *i; i++)
                free(*i);
        free(*p);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

static inline size_t strv_length(char *const *l) {
        size_t n = 0;

        while (l && l[n])
                n++;
        return n;
}

#define TAKE_PTR(p)                                     \
        ({                                              \
                __typeof__(p) _p_ = (p);                \
                (p) = NULL;                             \
                _p_;                                    \
        })

#define TAKE_FD(fd)                                     \
        ({                                              \
                int _fd_ = (fd);                        \
                (fd) = -1;                              \
                _fd_;                                   \
        })

/* Turns a positive errno, or a failing libc result, into a negative errno. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

static inline const char *strempty(const char *s) {
        return s ? s : "";
}

static inline const char *strna(const char *s) {
        return s ? s : "n/a";
}

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)
