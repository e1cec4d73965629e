/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>

#include "json-util.h"
#include "macro.h"
#include "utf8.h"

int json_add_string(json_object *o, const char *key, const char *s) {
        _cleanup_free_ char *clean = NULL;
        json_object *v = NULL;

        if (!o)
                return -EINVAL;
        if (s) {
                clean = utf8_sanitize(s);
                if (!clean)
                        return -ENOMEM;
                v = json_object_new_string(clean);
                if (!v)
                        return -ENOMEM;
        }
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}
