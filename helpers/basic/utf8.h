/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * UTF-8 validation. File names are bytes; JSON strings are Unicode. Names
 * that are not valid UTF-8 are emitted with each invalid byte replaced by
 * U+FFFD, as QEMU's JSON writer does, so the output always parses.
 */

#include <stdbool.h>
#include <stddef.h>

bool utf8_is_valid(const char *s);

/* Length in bytes of the valid UTF-8 character at s (1 for ASCII, also for NUL), or 0 if s is not one. */
size_t utf8_char_length(const char *s);

/* Returns a malloc'ed copy with invalid sequences replaced by U+FFFD, or NULL on OOM. */
char *utf8_sanitize(const char *s);
