/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Command-line helpers shared by the programs. Usage errors print one line
 * naming the problem plus a pointer to --help on stderr, and return -EINVAL
 * (main() maps that to exit status 2). The line is escaped (escape.h), so a
 * value with a newline or an escape sequence cannot forge output.
 */

#include <getopt.h>
#include <stdio.h>

#include "macro.h"

#define EXIT_USAGE 2

int cli_usage_error(const char *format, ...) _printf_(1, 2);

/*
 * The home when --home was not given (path_default_home()); says why there is none, and how to give
 * one, when it cannot be determined. Returns 0, or a negative errno (logged).
 */
int cli_default_home(char **ret);

/* -q --quiet (no report, errors only on stderr) and -v --verbose (each decision on stderr too). */
typedef enum CliVerbosity {
        CLI_QUIET = 1 << 0,
        CLI_VERBOSE = 1 << 1,
} CliVerbosity;

#define CLI_VERBOSITY_FLAG(c) ((c) == 'q' ? CLI_QUIET : CLI_VERBOSE)

/* Sets the log's stderr threshold from the flags. Returns 0, or the usage error when both were given. */
int cli_set_verbosity(unsigned flags);

/*
 * For getopt_long()'s '?' (opterr = 0): names the option that is not known,
 * or the one that lacks its argument ("option '--home' needs an argument").
 * options and optstring are what getopt_long() was given.
 */
int cli_bad_option(char *const *argv, const struct option *options, const char *optstring);

/*
 * Flushes stdout and reports a write error on it (a full disk, a closed pipe,
 * /dev/full) once on stderr. Returns 0, or a negative errno.
 */
int cli_flush_stdout(void);
