/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Command-line helpers shared by the programs. Usage errors print one line
 * naming the problem plus a pointer to --help on stderr, and return -EINVAL
 * (main() maps that to exit status 2).
 */

#include "macro.h"

#define EXIT_USAGE 2

int cli_usage_error(const char *format, ...) _printf_(1, 2);

/* For getopt_long()'s '?': an unknown option, or one missing its argument. */
int cli_bad_option(char *const *argv);
