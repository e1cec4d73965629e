/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json-writer.h"
#include "utf8.h"

void json_writer_init(JsonWriter *w, FILE *f, bool pretty) {
        *w = (JsonWriter) { .f = f, .pretty = pretty };
}

static void indent(JsonWriter *w, unsigned level) {
        for (unsigned i = 0; i < level; i++)
                fputs_unlocked("  ", w->f);
}

/* Characters that need no escape, in one run. */
static size_t plain_run(const char *s) {
        size_t n = 0;

        while (s[n] && (unsigned char) s[n] >= 0x20 && s[n] != '"' && s[n] != '\\')
                n++;
        return n;
}

static void write_escaped(FILE *f, const char *s) {
        static const char hex[] = "0123456789abcdef";

        putc_unlocked('"', f);
        for (;;) {
                size_t n = plain_run(s);
                unsigned char c;

                if (n > 0)
                        fwrite_unlocked(s, 1, n, f);
                s += n;
                c = (unsigned char) *s;
                if (!c)
                        break;
                s++;
                switch (c) {
                case '"':
                        fputs_unlocked("\\\"", f);
                        break;
                case '\\':
                        fputs_unlocked("\\\\", f);
                        break;
                case '\b':
                        fputs_unlocked("\\b", f);
                        break;
                case '\f':
                        fputs_unlocked("\\f", f);
                        break;
                case '\n':
                        fputs_unlocked("\\n", f);
                        break;
                case '\r':
                        fputs_unlocked("\\r", f);
                        break;
                case '\t':
                        fputs_unlocked("\\t", f);
                        break;
                default:
                        fputs_unlocked("\\u00", f);
                        putc_unlocked(hex[c >> 4], f);
                        putc_unlocked(hex[c & 0xf], f);
                }
        }
        putc_unlocked('"', f);
}

static void write_string(FILE *f, const char *s) {
        char *clean;

        if (utf8_is_valid(s)) {
                write_escaped(f, s);
                return;
        }
        clean = utf8_sanitize(s);
        /* Out of memory: the string is still escaped, its invalid bytes as they are. */
        write_escaped(f, clean ?: s);
        free(clean);
}

/* What comes before a value: the comma, the line and indent, the key. False: too deep. */
static bool value_begin(JsonWriter *w, const char *key) {
        if (w->depth > JSON_WRITER_MAX_DEPTH)
                return false;
        if (w->depth > 0) {
                if (w->has_members[w->depth])
                        putc_unlocked(',', w->f);
                w->has_members[w->depth] = true;
                if (w->pretty) {
                        putc_unlocked('\n', w->f);
                        indent(w, w->depth);
                }
        }
        if (key) {
                write_escaped(w->f, key);
                fputs_unlocked(w->pretty ? ": " : ":", w->f);
        }
        return true;
}

static void container_begin(JsonWriter *w, const char *key, char open) {
        if (!value_begin(w, key) || w->depth >= JSON_WRITER_MAX_DEPTH)
                return;
        putc_unlocked(open, w->f);
        w->depth++;
        w->has_members[w->depth] = false;
}

static void container_end(JsonWriter *w, char close) {
        if (w->depth == 0)
                return;
        if (w->pretty && w->has_members[w->depth]) {
                putc_unlocked('\n', w->f);
                indent(w, w->depth - 1);
        }
        w->depth--;
        putc_unlocked(close, w->f);
}

void json_writer_object_begin(JsonWriter *w, const char *key) {
        container_begin(w, key, '{');
}

void json_writer_object_end(JsonWriter *w) {
        container_end(w, '}');
}

void json_writer_array_begin(JsonWriter *w, const char *key) {
        container_begin(w, key, '[');
}

void json_writer_array_end(JsonWriter *w) {
        container_end(w, ']');
}

void json_writer_string(JsonWriter *w, const char *key, const char *s) {
        if (!value_begin(w, key))
                return;
        if (s)
                write_string(w->f, s);
        else
                fputs_unlocked("null", w->f);
}

void json_writer_int(JsonWriter *w, const char *key, int64_t v) {
        if (value_begin(w, key))
                fprintf(w->f, "%" PRId64, v);
}

void json_writer_uint(JsonWriter *w, const char *key, uint64_t v) {
        if (value_begin(w, key))
                fprintf(w->f, "%" PRIu64, v);
}

void json_writer_bool(JsonWriter *w, const char *key, bool b) {
        if (value_begin(w, key))
                fputs_unlocked(b ? "true" : "false", w->f);
}

void json_writer_null(JsonWriter *w, const char *key) {
        if (value_begin(w, key))
                fputs_unlocked("null", w->f);
}
