/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>

#include "json-util.h"
#include "macro.h"
#include "utf8.h"

json_object *json_new_string_sanitized(const char *s) {
        _cleanup_free_ char *clean = utf8_sanitize(s);

        return clean ? json_object_new_string(clean) : NULL;
}

int json_add_string(json_object *o, const char *key, const char *s) {
        json_object *v = NULL;

        if (!o)
                return -EINVAL;
        if (s) {
                v = json_new_string_sanitized(s);
                if (!v)
                        return -ENOMEM;
        }
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

void json_stream_begin(JsonStream *s, FILE *f) {
        *s = (JsonStream) { .f = f };
        fputs("{", f);
}

/* Keys are the program's own literals: they need no escaping. */
static void stream_key(JsonStream *s, const char *key) {
        fprintf(s->f, "%s\n  \"%s\": ", s->need_comma ? "," : "", key);
        s->need_comma = true;
}

static void stream_value(JsonStream *s, json_object *v) {
        fputs(v ? json_object_to_json_string_ext(v, JSON_OUTPUT_PLAIN) : "null", s->f);
        json_object_put(v);
}

void json_stream_member(JsonStream *s, const char *key, json_object *v) {
        stream_key(s, key);
        stream_value(s, v);
}

void json_stream_array_begin(JsonStream *s, const char *key) {
        stream_key(s, key);
        fputs("[", s->f);
        s->need_comma = false;
}

void json_stream_element(JsonStream *s, json_object *v) {
        fputs(s->need_comma ? ",\n    " : "\n    ", s->f);
        s->need_comma = true;
        stream_value(s, v);
}

void json_stream_array_end(JsonStream *s) {
        fputs(s->need_comma ? "\n  ]" : "]", s->f);
        s->need_comma = true;
}

int json_stream_end(JsonStream *s) {
        fputs("\n}\n", s->f);
        return ferror(s->f) ? -EIO : 0;
}
