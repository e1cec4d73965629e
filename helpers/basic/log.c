/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "escape.h"
#include "log.h"

static const char *log_program = "boxlite";
static int log_max_level = LOG_INFO;
static int log_stderr_max_level = -1; /* -1: follows the target, see stderr_max_level() */
static bool log_level_from_env = false;
static LogTarget log_target = LOG_TARGET_AUTO;
static int log_auto_journal = -1;
static bool log_journal_checked = false, log_journal_noticed = false;
static int log_journal_error = 0; /* why the journal cannot be reached, once it could not */

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static int level_from_string(const char *s) {
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "err",
                [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(s, names[i]))
                        return (int) i;
        return -EINVAL;
}

void log_setup(const char *program) {
        const char *e;

        if (program)
                log_program = program;

        e = getenv("BOXLITE_LOG_LEVEL");
        if (e && level_from_string(e) >= 0) {
                log_max_level = level_from_string(e);
                log_level_from_env = true;
        }

        e = getenv("BOXLITE_LOG_TARGET");
        if (e) {
                if (streq(e, "journal"))
                        log_target = LOG_TARGET_JOURNAL;
                else if (streq(e, "stderr"))
                        log_target = LOG_TARGET_STDERR;
                else if (streq(e, "both"))
                        log_target = LOG_TARGET_BOTH;
        }
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

void log_set_stderr_max_level(int level) {
        log_stderr_max_level = level;
}

/*
 * At a terminal the report on stdout says what was decided, so stderr gets warnings and errors only;
 * an explicit choice (--quiet, --verbose, $BOXLITE_LOG_LEVEL, $BOXLITE_LOG_TARGET=stderr|both) gets
 * what it asked for.
 */
static int stderr_max_level(void) {
        if (log_stderr_max_level >= 0)
                return log_stderr_max_level;
        if (log_level_from_env || log_target != LOG_TARGET_AUTO)
                return log_max_level;
        return LOG_WARNING;
}

void log_set_target(LogTarget target) {
        log_target = target;
}

/* $JOURNAL_STREAM is "dev:ino" of the stream systemd connected; it only counts if stderr is still that stream. */
static bool stderr_is_journal(void) {
        unsigned long long dev, ino;
        const char *e;
        struct stat st;

        if (log_auto_journal >= 0)
                return log_auto_journal;

        log_auto_journal = false;
        e = getenv("JOURNAL_STREAM");
        if (e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) >= 0 &&
            (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino)
                log_auto_journal = true;

        return log_auto_journal;
}

/* Every run is on record in the journal, from a unit or from a terminal, unless stderr was asked for alone. */
bool log_to_journal(void) {
        return log_target != LOG_TARGET_STDERR;
}

bool log_journal_only(void) {
        return log_to_journal() && !log_to_stderr();
}

bool log_to_stderr(void) {
        switch (log_target) {
        case LOG_TARGET_STDERR:
        case LOG_TARGET_BOTH:
                return true;
        case LOG_TARGET_AUTO:
                return !stderr_is_journal();
        default:
                return false;
        }
}

/* Expands %m to strerror(error) ourselves, since errno may have moved on by the time we format. */
static char *format_message(int error, const char *format, va_list ap) {
        _cleanup_free_ char *fmt = NULL;
        char *msg = NULL;
        const char *m;

        m = strstr(format, "%m");
        if (m && error != 0) {
                const char *e = strerror(abs(error));
                size_t n = 0, k = 0;

                /* Count how many "%m" there are to size the copy; "%%m" is left alone. */
                for (const char *p = format; *p; p++)
                        if (p[0] == '%' && p[1] == 'm')
                                n++;
                fmt = malloc(strlen(format) + n * (strlen(e) * 2 + 1) + 1);
                if (!fmt)
                        return NULL;
                for (const char *p = format; *p; p++) {
                        if (p[0] == '%' && p[1] == '%') {
                                fmt[k++] = '%';
                                fmt[k++] = '%';
                                p++;
                        } else if (p[0] == '%' && p[1] == 'm') {
                                for (const char *q = e; *q; q++) {
                                        if (*q == '%')
                                                fmt[k++] = '%';
                                        fmt[k++] = *q;
                                }
                                p++;
                        } else
                                fmt[k++] = *p;
                }
                fmt[k] = 0;
                format = fmt;
        }

        /* The format was checked at the log_*() call site; only "%m" was expanded here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        if (vasprintf(&msg, format, ap) < 0)
                return NULL;
#pragma GCC diagnostic pop
        return msg;
}

/* The journal stores the message as data; on stderr a name with a newline or an escape sequence would forge lines. */
static void write_stderr(int level, const char *msg) {
        _cleanup_free_ char *escaped = cescape(msg);

        (void) level;
        /* One write per line, so that lines of concurrent writers do not interleave. */
        (void) fprintf(stderr, "%s: %s\n", log_program, escaped ?: "out of memory");
}

/* sd_journal_sendv() quietly drops what it cannot send when the socket is missing: look once. */
static bool journal_reachable(void) {
        if (log_journal_error == 0 && !log_journal_checked) {
                log_journal_checked = true;
                if (access(JOURNAL_SOCKET, F_OK) < 0)
                        log_journal_error = -errno;
        }
        return log_journal_error == 0;
}

/*
 * Said once per run, on stderr, before the first decision (an entry with a MESSAGE_ID) that is not on
 * record: the run carries on. A plain error line is on stderr anyway and needs no such preface.
 */
static void journal_unreachable_notice(void) {
        if (log_journal_noticed)
                return;
        log_journal_noticed = true;
        if (LOG_WARNING <= stderr_max_level() || !log_to_stderr())
                (void) fprintf(stderr, "%s: No journal reachable at '%s' (%s): this run's decisions and "
                               "deletions are not recorded in the journal.\n",
                               log_program, JOURNAL_SOCKET, strerror(abs(log_journal_error)));
}

static int journal_send(int level, int error, const char *message_id, char *const *fields, size_t n_fields,
                        const char *msg) {
        _cleanup_free_ struct iovec *iov = NULL;
        _cleanup_free_ char *m = NULL, *p = NULL, *mid = NULL, *ident = NULL, *err = NULL;
        size_t n = 0;

        iov = calloc(n_fields + 5, sizeof(struct iovec));
        if (!iov)
                return -ENOMEM;
        if (asprintf(&m, "MESSAGE=%s", msg) < 0 || asprintf(&p, "PRIORITY=%i", level) < 0 ||
            asprintf(&ident, "SYSLOG_IDENTIFIER=%s", log_program) < 0)
                return -ENOMEM;
        iov[n++] = (struct iovec) { m, strlen(m) };
        iov[n++] = (struct iovec) { p, strlen(p) };
        iov[n++] = (struct iovec) { ident, strlen(ident) };
        if (message_id) {
                if (asprintf(&mid, "MESSAGE_ID=%s", message_id) < 0)
                        return -ENOMEM;
                iov[n++] = (struct iovec) { mid, strlen(mid) };
        }
        if (error != 0) {
                if (asprintf(&err, "ERRNO=%i", abs(error)) < 0)
                        return -ENOMEM;
                iov[n++] = (struct iovec) { err, strlen(err) };
        }
        for (size_t i = 0; i < n_fields; i++)
                if (fields[i])
                        iov[n++] = (struct iovec) { fields[i], strlen(fields[i]) };
        return sd_journal_sendv(iov, (int) n);
}

static int log_dispatch(int level, int error, const char *message_id, char *const *fields, size_t n_fields,
                        const char *msg) {
        int r;

        if (log_to_journal() && level <= log_max_level) {
                if (journal_reachable()) {
                        r = journal_send(level, error, message_id, fields, n_fields, msg);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                log_journal_error = r;
                }
                if (log_journal_error < 0 && message_id)
                        journal_unreachable_notice();
        }

        if (log_to_stderr() && level <= stderr_max_level())
                write_stderr(level, msg);
        return 0;
}

static bool level_enabled(int level) {
        return (log_to_journal() && level <= log_max_level) || (log_to_stderr() && level <= stderr_max_level());
}

int log_internal(int level, int error, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (!level_enabled(level))
                return -abs(error);

        va_start(ap, format);
        msg = format_message(error, format, ap);
        va_end(ap);
        if (msg)
                (void) log_dispatch(level, error, NULL, NULL, 0, msg);

        return -abs(error);
}

int log_struct_fields(int level, const char *message_id, char *const *fields, size_t n_fields,
                      const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (!level_enabled(level))
                return 0;

        va_start(ap, format);
        msg = format_message(0, format, ap);
        va_end(ap);
        if (!msg)
                return -ENOMEM;

        return log_dispatch(level, 0, message_id, fields, n_fields, msg);
}
