/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "gc-error.h"

int gc_errors_add(GcError **errors, size_t *n, const char *path, char *message) {
        GcError *e;
        char *p;

        p = strdup(path);
        e = message && p ? realloc(*errors, (*n + 1) * sizeof(GcError)) : NULL;
        if (!e) {
                free(message);
                free(p);
                return -ENOMEM;
        }
        *errors = e;
        e[(*n)++] = (GcError) { .path = p, .error = message, .unit = UINT_MAX };
        return 0;
}

void gc_errors_free(GcError *errors, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(errors[i].path);
                free(errors[i].error);
        }
        free(errors);
}
