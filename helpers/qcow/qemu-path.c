/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdlib.h>
#include <string.h>

#include "qemu-path.h"

bool path_has_protocol(const char *path) {
        size_t n = strcspn(path, ":/");

        return path[n] == ':';
}

const char *path_strip_file_protocol(const char *name) {
        return strncmp(name, "file:", 5) == 0 ? name + 5 : NULL;
}

char *path_combine(const char *base, const char *name) {
        const char *slash, *start = base;
        char *r;
        size_t len;

        if (name[0] == '/')
                return strdup(name);

        /* For a protocol base ("file:dir/img"), the directory starts after the protocol. */
        if (path_has_protocol(base))
                start = strchr(base, ':') + 1;
        slash = strrchr(start, '/');
        len = slash ? (size_t) (slash + 1 - base) : (size_t) (start - base);

        r = malloc(len + strlen(name) + 1);
        if (!r)
                return NULL;
        memcpy(r, base, len);
        strcpy(r + len, name);
        return r;
}

char *path_full_backing_name(const char *image, const char *name) {
        if (name[0] == 0 || name[0] == '/' || path_has_protocol(name))
                return strdup(name);
        return path_combine(image, name);
}
