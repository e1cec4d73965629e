/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * JSON written straight to a stream, member by member, with no document in
 * memory: for output that is large and regular (every chain of a home). The
 * bytes are json-c's for the same document (json-util.h's JSON_OUTPUT_PLAIN,
 * or JSON_OUTPUT_PRETTY when pretty), so that both kinds of output read
 * alike: '/' is not escaped, other control characters are, and strings with
 * invalid UTF-8 are written as utf8_sanitize() makes them.
 *
 * Inside an object every value takes a key; inside an array (or at the top)
 * key is NULL. Nesting deeper than JSON_WRITER_MAX_DEPTH is a programming
 * error (the value is dropped). Write errors are the stream's (ferror()).
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_WRITER_MAX_DEPTH 16U

typedef struct JsonWriter {
        FILE *f;
        bool pretty;
        unsigned depth;
        bool has_members[JSON_WRITER_MAX_DEPTH + 1];
} JsonWriter;

void json_writer_init(JsonWriter *w, FILE *f, bool pretty);
void json_writer_object_begin(JsonWriter *w, const char *key);
void json_writer_object_end(JsonWriter *w);
void json_writer_array_begin(JsonWriter *w, const char *key);
void json_writer_array_end(JsonWriter *w);
/* s NULL writes null. */
void json_writer_string(JsonWriter *w, const char *key, const char *s);
void json_writer_int(JsonWriter *w, const char *key, int64_t v);
void json_writer_uint(JsonWriter *w, const char *key, uint64_t v);
void json_writer_bool(JsonWriter *w, const char *key, bool b);
void json_writer_null(JsonWriter *w, const char *key);
