/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "box-usage.h"
#include "macro.h"
#include "path-util.h"
#include "qcow.h"

typedef struct Seen {
        dev_t dev;
        ino_t ino;
} Seen;

typedef struct Walk {
        HomeUsage *usage;
        Seen *seen;
        size_t n_seen;
} Walk;

void home_usage_done(HomeUsage *u) {
        for (size_t i = 0; i < u->n_boxes; i++)
                free(u->boxes[i].box);
        u->boxes = mfree(u->boxes);
        u->n_boxes = 0;
}

static int open_subdir(int dfd, const char *name) {
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);

        return fd < 0 ? -errno : fd;
}

/* 1 if (dev, ino) was new, 0 if already counted. */
static int seen_add(Walk *w, const struct stat *st) {
        Seen *s;

        for (size_t i = 0; i < w->n_seen; i++)
                if (w->seen[i].dev == st->st_dev && w->seen[i].ino == st->st_ino)
                        return 0;
        s = realloc(w->seen, (w->n_seen + 1) * sizeof(Seen));
        if (!s)
                return -ENOMEM;
        w->seen = s;
        w->seen[w->n_seen++] = (Seen) { st->st_dev, st->st_ino };
        return 1;
}

static int add_overlay(Walk *w, BoxUsage *b, int dfd, const char *name) {
        _cleanup_free_ char *reason = NULL;
        _cleanup_close_ int fd = -1;
        QcowHeader hdr = {};
        struct stat st;
        uint64_t allocated;
        int r;

        fd = openat(dfd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                w->usage->n_unreadable++;
                return 0;
        }
        r = seen_add(w, &st);
        if (r <= 0)
                return r;
        allocated = (uint64_t) st.st_blocks * 512;
        b->allocated_bytes += allocated;
        b->n_overlays++;
        w->usage->allocated_bytes += allocated;

        r = qcow_header_read(fd, (uint64_t) st.st_size, NULL, 0, &hdr, &reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                w->usage->n_unreadable++;
                return 0;
        }
        b->virtual_bytes += hdr.virtual_size;
        if (hdr.virtual_size > allocated)
                w->usage->committed_growth_bytes += hdr.virtual_size - allocated;
        qcow_header_done(&hdr);
        return 0;
}

/* Every non-hidden *.qcow2 directly in dfd; with snapshots, every such file one directory down. */
static int scan_dir(Walk *w, BoxUsage *b, int dfd, bool snapshots) {
        _cleanup_close_ int fd = -1;
        struct dirent *de;
        size_t n = 0;
        DIR *d;
        int r = 0;

        fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        d = fdopendir(TAKE_FD(fd));
        if (!d)
                return 0;
        while (r >= 0 && (de = readdir(d)) && n++ < BOX_USAGE_MAX_ENTRIES) {
                if (filename_is_hidden(de->d_name))
                        continue;
                if (snapshots) {
                        _cleanup_close_ int sfd = open_subdir(dirfd(d), de->d_name);

                        if (sfd >= 0)
                                r = scan_dir(w, b, sfd, false);
                } else if (endswith(de->d_name, ".qcow2"))
                        r = add_overlay(w, b, dirfd(d), de->d_name);
        }
        closedir(d);
        return r;
}

static int cmp_box(const void *a, const void *b) {
        const BoxUsage *x = a, *y = b;

        if (x->allocated_bytes != y->allocated_bytes)
                return x->allocated_bytes > y->allocated_bytes ? -1 : 1;
        return strcmp(x->box, y->box);
}

int home_usage_read(const char *home, HomeUsage *ret) {
        _cleanup_free_ char *boxes = NULL;
        _cleanup_close_ int bfd = -1;
        HomeUsage u = {};
        Walk w = { .usage = &u };
        struct dirent *de;
        size_t n = 0;
        DIR *d;
        int r = 0;

        if (asprintf(&boxes, "%s/boxes", home) < 0)
                return -ENOMEM;
        bfd = open(boxes, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
        if (bfd < 0) {
                if (errno != ENOENT)
                        return -errno;
                *ret = u;
                return 0;
        }
        d = fdopendir(TAKE_FD(bfd));
        if (!d)
                return -errno;
        while (r >= 0 && (de = readdir(d)) && n++ < BOX_USAGE_MAX_ENTRIES) {
                _cleanup_close_ int boxfd = -1, sub = -1;
                BoxUsage b = {}, *l;

                if (filename_is_hidden(de->d_name))
                        continue;
                boxfd = open_subdir(dirfd(d), de->d_name);
                if (boxfd < 0)
                        continue;
                sub = open_subdir(boxfd, "disks");
                if (sub >= 0)
                        r = scan_dir(&w, &b, sub, false);
                sub = safe_close(sub);
                if (r >= 0 && (sub = open_subdir(boxfd, "snapshots")) >= 0)
                        r = scan_dir(&w, &b, sub, true);
                if (r < 0)
                        break;
                b.box = strdup(de->d_name);
                l = b.box ? realloc(u.boxes, (u.n_boxes + 1) * sizeof(BoxUsage)) : NULL;
                if (!l) {
                        free(b.box);
                        r = -ENOMEM;
                        break;
                }
                u.boxes = l;
                u.boxes[u.n_boxes++] = b;
        }
        closedir(d);
        free(w.seen);
        if (r < 0) {
                home_usage_done(&u);
                return r;
        }
        if (u.n_boxes > 1)
                qsort(u.boxes, u.n_boxes, sizeof(BoxUsage), cmp_box);
        *ret = u;
        return 0;
}
