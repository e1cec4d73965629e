/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * json-c helpers. Strings are passed through utf8_sanitize() so that file
 * names with arbitrary bytes always produce valid JSON; '/' is not escaped.
 */

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#define JSON_OUTPUT_PRETTY (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)
#define JSON_OUTPUT_PLAIN (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* A string holding s with invalid UTF-8 replaced; NULL on allocation failure. */
json_object *json_new_string_sanitized(const char *s);
/* Adds key: s (or null when s is NULL). Returns 0 or -ENOMEM. */
int json_add_string(json_object *o, const char *key, const char *s);

static inline void json_object_putp(json_object **o) {
        if (*o)
                (void) json_object_put(*o);
}

/*
 * A JSON object written member by member, so that a document with large
 * arrays never exists in memory at once: each member (or array element) is
 * a small json_object serialized and released as it is written. Members sit
 * one per line, array elements one per line within their array.
 */
typedef struct JsonStream {
        FILE *f;
        bool need_comma; /* a member (or element) was written at the current level */
} JsonStream;

void json_stream_begin(JsonStream *s, FILE *f);
/* Writes key: v and releases v (NULL writes null). */
void json_stream_member(JsonStream *s, const char *key, json_object *v);
void json_stream_array_begin(JsonStream *s, const char *key);
/* Writes one element of the open array and releases it. */
void json_stream_element(JsonStream *s, json_object *v);
void json_stream_array_end(JsonStream *s);
/* Closes the object; returns 0, or -EIO when a write failed (the stream is not flushed). */
int json_stream_end(JsonStream *s);
