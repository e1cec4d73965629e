/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

int cli_usage_error(const char *format, ...) {
        va_list ap;

        fprintf(stderr, "%s: ", program_invocation_short_name);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fprintf(stderr, "\nTry '%s --help' for more information.\n", program_invocation_short_name);
        return -EINVAL;
}

int cli_bad_option(char *const *argv) {
        if (optopt)
                return cli_usage_error("option '-%c' is not known or needs an argument", optopt);
        return cli_usage_error("option '%s' is not known or needs an argument", argv[optind - 1]);
}
