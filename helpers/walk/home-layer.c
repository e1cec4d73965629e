/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The records of the layers of a home's chains, and the set of the shared ones learnt so far. */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "home-internal.h"
#include "macro.h"

HomeFormat home_format_code(const char *f) {
        if (!f)
                return HOME_FORMAT_NONE;
        if (streq(f, "qcow2"))
                return HOME_FORMAT_QCOW2;
        if (streq(f, "qcow"))
                return HOME_FORMAT_QCOW;
        if (streq(f, "raw"))
                return HOME_FORMAT_RAW;
        return HOME_FORMAT_OTHER;
}

static const char *format_name(uint8_t code, const char *other) {
        static const char *const names[] = {
                [HOME_FORMAT_QCOW2] = "qcow2",
                [HOME_FORMAT_QCOW] = "qcow",
                [HOME_FORMAT_RAW] = "raw",
        };

        if (code == HOME_FORMAT_OTHER)
                return other;
        return code < ELEMENTSOF(names) ? names[code] : NULL;
}

const char *home_layer_format(const HomeLayer *l) {
        return format_name(l->format, l->extra ? l->extra->format : NULL);
}

const char *home_layer_backing_format(const HomeLayer *l) {
        return format_name(l->backing_format, l->extra ? l->extra->backing_format : NULL);
}

const char *home_layer_full_backing(const HomeLayer *l) {
        if (l->extra && l->extra->full_backing)
                return l->extra->full_backing;
        return l->next ? l->next->filename : NULL;
}

const char *home_layer_backing_file(const HomeLayer *l) {
        return l->backing_is_full ? home_layer_full_backing(l) : l->backing_file;
}

int home_dup(Arena *a, const char **dst, const char *s) {
        if (!s)
                return 0;
        *dst = arena_strdup(a, s);
        return *dst ? 0 : -ENOMEM;
}

int home_layer_from_chain(Arena *a, HomeLayer *l, const ChainLayer *c, const char *next_filename) {
        const QcowHeader *h = &c->hdr;
        const char *full = c->full_backing_filename;

        *l = (HomeLayer) {
                .virtual_size = c->virtual_size,
                .actual_size = c->actual_size,
                .dev = c->dev,
                .ino = c->ino,
                .format = home_format_code(c->format),
                .backing_format = home_format_code(h->backing_format),
                .version = (uint8_t) MIN(h->version, 255U),
                .cluster_bits = (uint8_t) MIN(h->cluster_bits, 255U),
                .refcount_order = (uint8_t) MIN(h->refcount_order, 255U),
                .compression_type = h->compression_type,
                .reader = (uint8_t) c->reader,
                .has_header = c->has_header,
                .libqcow_refused = c->libqcow_refused,
                .backing_truncated = h->backing_file_has_nul,
                .encrypted = h->crypt_method != 0,
                .dirty = h->incompatible_features & QCOW2_INCOMPAT_DIRTY,
                .lazy_refcounts = h->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS,
                .corrupt = h->incompatible_features & QCOW2_INCOMPAT_CORRUPT,
                .extended_l2 = h->incompatible_features & QCOW2_INCOMPAT_EXTL2,
                .has_data_file = h->data_file && (h->incompatible_features & QCOW2_INCOMPAT_DATA_FILE),
                .data_file_raw = h->autoclear_features & QCOW2_AUTOCLEAR_DATA_FILE_RAW,
        };
        bool own_full = full && (!next_filename || !streq(full, next_filename));

        if (h->backing_file && full && streq(h->backing_file, full))
                l->backing_is_full = true;
        else if (home_dup(a, &l->backing_file, h->backing_file) < 0)
                return -ENOMEM;
        if (own_full || l->format == HOME_FORMAT_OTHER || l->backing_format == HOME_FORMAT_OTHER || h->data_file ||
            c->data_file_path) {
                HomeLayerExtra *x = arena_alloc0(a, sizeof(HomeLayerExtra));

                if (!x)
                        return -ENOMEM;
                l->extra = x;
                if ((own_full && home_dup(a, &x->full_backing, full) < 0) ||
                    (l->format == HOME_FORMAT_OTHER && home_dup(a, &x->format, c->format) < 0) ||
                    (l->backing_format == HOME_FORMAT_OTHER && home_dup(a, &x->backing_format, h->backing_format) < 0) ||
                    home_dup(a, &x->data_file, h->data_file) < 0 ||
                    home_dup(a, &x->data_file_path, c->data_file_path) < 0)
                        return -ENOMEM;
        }
        return 0;
}

void known_clear(Known *k) {
        pthread_mutex_lock(&k->lock);
        strset_done(&k->set);
        pthread_mutex_unlock(&k->lock);
}

HomeLayer *known_get(Known *k, const char *name) {
        uint64_t v = 0;
        bool found;

        pthread_mutex_lock(&k->lock);
        found = strset_get(&k->set, name, strlen(name), &v);
        pthread_mutex_unlock(&k->lock);
        return found ? (HomeLayer *) (uintptr_t) v : NULL;
}

int known_put(Known *k, HomeLayer *l) {
        int r;

        pthread_mutex_lock(&k->lock);
        r = strset_put(&k->set, l->filename, strlen(l->filename), (uint64_t) (uintptr_t) l);
        pthread_mutex_unlock(&k->lock);
        return r;
}
