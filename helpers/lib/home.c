/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "home.h"
#include "macro.h"
#include "path-util.h"

void strv_free(char **l) {
        strv_freep(&l);
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        while (l && l[n])
                n++;
        return n;
}

typedef struct StrvBuilder {
        char **v;
        size_t n, allocated;
} StrvBuilder;

static int strv_builder_add(StrvBuilder *b, char *s) {
        if (b->n + 2 > b->allocated) {
                size_t a = MAX(b->allocated * 2, (size_t) 16);
                char **v = realloc(b->v, a * sizeof(char *));
                if (!v) {
                        free(s);
                        return -ENOMEM;
                }
                b->v = v;
                b->allocated = a;
        }
        b->v[b->n++] = s;
        b->v[b->n] = NULL;
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

/* Reads the names in a directory; readdir errors are reported, not mistaken for the end. */
static int list_dir(const char *path, char ***ret) {
        _cleanup_(closedirp) DIR *d = NULL;
        StrvBuilder b = {};
        struct dirent *de;
        int r;

        d = opendir(path);
        if (!d)
                return -errno;
        for (;;) {
                char *s;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0) {
                                r = -errno;
                                strv_free(b.v);
                                return r;
                        }
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                s = strdup(de->d_name);
                if (!s || strv_builder_add(&b, s) < 0) {
                        strv_free(b.v);
                        return -ENOMEM;
                }
        }
        if (!b.v) {
                b.v = calloc(1, sizeof(char *));
                if (!b.v)
                        return -ENOMEM;
        }
        if (b.n > 1)
                qsort(b.v, b.n, sizeof(char *), cmp_str);
        *ret = b.v;
        return 0;
}

static int fail_path(char **ret_failed_path, const char *path, int r) {
        if (ret_failed_path)
                *ret_failed_path = strdup(path);
        return r;
}

int home_list_disk_overlays(const char *home, char ***ret, char **ret_failed_path) {
        _cleanup_strv_free_ char **boxes = NULL;
        _cleanup_free_ char *boxes_dir = NULL;
        StrvBuilder b = {};
        int r;

        if (asprintf(&boxes_dir, "%s/boxes", home) < 0)
                return -ENOMEM;

        r = list_dir(boxes_dir, &boxes);
        if (r == -ENOENT) {
                struct stat st;

                /* No boxes/ is an empty home; a missing home is an error. */
                if (stat(home, &st) < 0)
                        return fail_path(ret_failed_path, home, -errno);
                b.v = calloc(1, sizeof(char *));
                if (!b.v)
                        return -ENOMEM;
                *ret = b.v;
                return 0;
        }
        if (r < 0)
                return fail_path(ret_failed_path, boxes_dir, r);

        for (char **box = boxes; *box; box++) {
                _cleanup_strv_free_ char **disks = NULL;
                _cleanup_free_ char *disks_dir = NULL, *box_dir = NULL;
                struct stat st;

                if (filename_is_hidden(*box))
                        continue;
                if (asprintf(&box_dir, "%s/%s", boxes_dir, *box) < 0 ||
                    asprintf(&disks_dir, "%s/disks", box_dir) < 0) {
                        strv_free(b.v);
                        return -ENOMEM;
                }
                if (stat(box_dir, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;

                r = list_dir(disks_dir, &disks);
                if (r == -ENOENT)
                        continue;
                if (r < 0) {
                        strv_free(b.v);
                        return fail_path(ret_failed_path, disks_dir, r);
                }
                for (char **d = disks; *d; d++) {
                        char *p;

                        if (filename_is_hidden(*d) || !endswith(*d, ".qcow2"))
                                continue;
                        if (asprintf(&p, "%s/%s", disks_dir, *d) < 0 || strv_builder_add(&b, p) < 0) {
                                strv_free(b.v);
                                return -ENOMEM;
                        }
                }
        }

        if (!b.v) {
                b.v = calloc(1, sizeof(char *));
                if (!b.v)
                        return -ENOMEM;
        }
        *ret = b.v;
        return 0;
}
