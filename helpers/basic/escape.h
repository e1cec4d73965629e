/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Escaping of names for human-readable output and for the stderr fallback
 * of the log (the journal and JSON carry names as data and need none).
 *
 * A file, box or home name may hold any byte but NUL. Printed raw, a newline
 * forges an output line ("--home $'/x\nVerdict: ok'") and an escape sequence
 * rewrites the terminal. cescape() makes a name print on one line and as
 * itself: control characters (U+0000..U+001F, U+007F and the C1 controls
 * U+0080..U+009F) become C escapes (\n, \t, \r, \a, \b, \f, \v, otherwise
 * \xNN per byte), bytes that are not valid UTF-8 become \xNN, and a
 * backslash becomes \\ so that an escape cannot be faked by the name itself.
 * Valid printable UTF-8 is kept as is.
 *
 * cescape() returns a malloc'ed string, or NULL on OOM (or when s is NULL).
 */

#include <stdio.h>

char *cescape(const char *s);

/* Writes s escaped as cescape() does, with no allocation. Returns what fputs() returns. */
int fputs_escaped(const char *s, FILE *f);
