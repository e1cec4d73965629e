/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Logging for the boxlite helpers.
 *
 * Messages go to the journal (sd-journal, structured) in every run, from a unit
 * or from a terminal; a journal that cannot be reached is said once on stderr.
 * Unless stderr is the journal already (under systemd, $JOURNAL_STREAM), they
 * also go to stderr as plain text: warnings and errors by default, since the
 * program's report on stdout says the rest; log_set_stderr_max_level() (for
 * --quiet and --verbose) changes that. $BOXLITE_LOG_TARGET=journal|stderr|both
 * overrides the targets. $BOXLITE_LOG_LEVEL or log_set_max_level() sets the
 * threshold (default: info), on stderr too when given.
 *
 * log_*_errno() return -abs(error) so that "return log_error_errno(r, ...)"
 * works; "%m" in the format expands to strerror(error).
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,
        LOG_TARGET_STDERR,
        LOG_TARGET_JOURNAL,
        LOG_TARGET_BOTH,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

void log_setup(const char *program);
void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_target(LogTarget target);
void log_set_stderr_max_level(int level);
bool log_to_journal(void);
bool log_to_stderr(void);
/* The journal gets the log and stderr does not: the human report would only repeat it there. */
bool log_journal_only(void);

int log_internal(int level, int error, const char *format, ...) _printf_(3, 4);

/*
 * A structured entry: MESSAGE from the format, MESSAGE_ID and PRIORITY, plus
 * n_fields "KEY=value" strings (NULL entries are skipped). On stderr only the
 * message is printed.
 */
int log_struct_fields(int level, const char *message_id, char *const *fields, size_t n_fields,
                      const char *format, ...) _printf_(5, 6);

/* Formats one "KEY=value" field into buf (a _cleanup_free_ char *) and yields it, or NULL on OOM (skipped). */
#define LOG_FIELD(buf, ...) (asprintf(&(buf), __VA_ARGS__) < 0 ? ((buf) = NULL) : (buf))

#define log_full_errno(level, error, ...) log_internal((level), (error), __VA_ARGS__)
#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)

#define log_debug(...) (void) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) (void) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) (void) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) (void) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) (void) log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")
