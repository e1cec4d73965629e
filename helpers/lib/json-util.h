/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * json-c helpers. Strings are passed through utf8_sanitize() so that file
 * names with arbitrary bytes always produce valid JSON; '/' is not escaped.
 */

#include <json-c/json.h>

#define JSON_OUTPUT_PRETTY (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)
#define JSON_OUTPUT_PLAIN (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Adds key: s (or null when s is NULL). Returns 0 or -ENOMEM. */
int json_add_string(json_object *o, const char *key, const char *s);

static inline void json_object_putp(json_object **o) {
        if (*o)
                (void) json_object_put(*o);
}
