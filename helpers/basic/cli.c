/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "escape.h"
#include "log.h"
#include "path-util.h"

int cli_usage_error(const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        r = vasprintf(&msg, format, ap);
#pragma GCC diagnostic pop
        va_end(ap);

        fprintf(stderr, "%s: ", program_invocation_short_name);
        (void) fputs_escaped(r < 0 ? "out of memory" : msg, stderr);
        fprintf(stderr, "\nTry '%s --help' for more information.\n", program_invocation_short_name);
        return -EINVAL;
}

int cli_bad_option(char *const *argv, const struct option *options, const char *optstring) {
        const char *arg = optind > 0 ? argv[optind - 1] : NULL;
        const char *p;

        /*
         * getopt_long() sets optopt to the option's value when an argument is missing (for a long option
         * that is our enum value, not a character), and to 0 for an unknown long option.
         */
        if (optopt != 0 && arg && strneq(arg, "--", 2))
                for (const struct option *o = options; o && o->name; o++)
                        if (!o->flag && o->val == optopt && o->has_arg == required_argument)
                                return cli_usage_error("option '--%s' needs an argument", o->name);

        if (optopt > 0 && optopt < 0x100 && optopt != ':' && (p = strchr(optstring, optopt))) {
                if (p[1] == ':')
                        return cli_usage_error("option '-%c' needs an argument", optopt);
        } else if (optopt > 0x20 && optopt < 0x7f && !(arg && strneq(arg, "--", 2)))
                return cli_usage_error("unknown option '-%c'", optopt);

        return cli_usage_error("unknown option '%s'", strna(arg));
}

int cli_flush_stdout(void) {
        int r = 0;

        errno = 0;
        if (fflush(stdout) != 0 || ferror(stdout))
                r = errno > 0 ? -errno : -EIO;
        if (r < 0) {
                fprintf(stderr, "%s: failed to write to standard output: %s\n",
                        program_invocation_short_name, strerror(-r));
                clearerr(stdout);
        }
        return r;
}

int cli_set_verbosity(unsigned flags) {
        if ((flags & CLI_QUIET) && (flags & CLI_VERBOSE))
                return cli_usage_error("--quiet and --verbose are mutually exclusive");
        if (flags & CLI_QUIET)
                log_set_stderr_max_level(LOG_ERR);
        else if (flags & CLI_VERBOSE)
                log_set_stderr_max_level(MAX(log_get_max_level(), LOG_INFO));
        return 0;
}

int cli_default_home(char **ret) {
        int r;

        r = path_default_home(ret);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Cannot determine the boxlite home: $BOXLITE_HOME is not set, $HOME is "
                                       "not an absolute path and uid %u has no home directory in the user "
                                       "database; give --home PATH or set $BOXLITE_HOME.", (unsigned) geteuid());
        return 0;
}
