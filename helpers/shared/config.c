/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "macro.h"
#include "parse-util.h"
#include "path-util.h"

#define CONFIG_MAX_DROPINS 1024U

void config_init(BoxliteConfig *c) {
        *c = (BoxliteConfig) {
                .limits = ADMIT_LIMITS_DEFAULT,
                .probe_timeout_usec = ADMIT_PROBE_TIMEOUT_DEFAULT_USEC,
                .bus_timeout_usec = CONFIG_BUS_TIMEOUT_DEFAULT_USEC,
                .gc_grace_usec = GC_GRACE_DEFAULT_USEC,
                .gc_timeout_usec = ADMIT_GC_TIMEOUT_DEFAULT_USEC,
                .monitor_reserve_size = CONFIG_RESERVE_SIZE_DEFAULT,
                .monitor_metrics_top_boxes = CONFIG_METRICS_TOP_BOXES_DEFAULT,
                .monitor_gc = true,
        };
}

void config_done(BoxliteConfig *c) {
        c->gc_metrics_file = mfree(c->gc_metrics_file);
        c->monitor_metrics_file = mfree(c->monitor_metrics_file);
        c->monitor_state_dir = mfree(c->monitor_state_dir);
}

typedef enum ValueType {
        VALUE_SIZE,
        VALUE_PERCENT,
        VALUE_COUNT,
        VALUE_JOBS,            /* 0 (automatic) to GC_JOBS_MAX */
        VALUE_SPAN,
        VALUE_SPAN_NONZERO,
        VALUE_TIMEOUT,         /* a span added to now: at most TIMEOUT_MAX_USEC */
        VALUE_TIMEOUT_NONZERO,
        VALUE_BOOL,
        VALUE_PATH,
} ValueType;

typedef struct ConfigKey {
        const char *section;
        const char *key;
        ValueType type;
        size_t offset;
        const char *expected;
} ConfigKey;

#define KEY(s, k, t, field, e) { s, k, t, offsetof(BoxliteConfig, field), e }

static const ConfigKey config_keys[] = {
        KEY("Admission", "HardFloor", VALUE_SIZE, limits.hard_floor_bytes, "a size such as 1G"),
        KEY("Admission", "SoftFloor", VALUE_SIZE, limits.soft_floor_bytes, "a size such as 5G"),
        KEY("Admission", "SoftFloorPercent", VALUE_PERCENT, limits.soft_floor_percent, "a percentage 0-100"),
        KEY("Admission", "InodeHardFloor", VALUE_COUNT, limits.inode_hard_floor, "a number of inodes"),
        KEY("Admission", "InodeSoftPercent", VALUE_PERCENT, limits.inode_soft_percent, "a percentage 0-100"),
        KEY("Admission", "GCOnPressure", VALUE_BOOL, gc_on_pressure, "yes or no"),
        KEY("Admission", "ProbeTimeoutSec", VALUE_TIMEOUT_NONZERO, probe_timeout_usec,
            "a non-zero time span of at most 1h, such as 2s"),
        KEY("Admission", "GcTimeoutSec", VALUE_TIMEOUT_NONZERO, gc_timeout_usec,
            "a non-zero time span of at most 1h, such as 10s"),
        KEY("Admission", "BusTimeoutSec", VALUE_TIMEOUT, bus_timeout_usec,
            "a time span of at most 1h, such as 500ms"),
        KEY("GC", "Grace", VALUE_SPAN, gc_grace_usec, "a time span such as 10min"),
        KEY("GC", "TargetFree", VALUE_SIZE, gc_target_free, "a size such as 20G"),
        KEY("GC", "MetricsFile", VALUE_PATH, gc_metrics_file, "an absolute path"),
        KEY("GC", "AllowNoBoxes", VALUE_BOOL, gc_allow_no_boxes, "yes or no"),
        KEY("GC", "Jobs", VALUE_JOBS, gc_jobs, "a number of workers from 1 to 16, or 0 for one per CPU up to 4"),
        KEY("Monitor", "ReserveSize", VALUE_SIZE, monitor_reserve_size, "a size such as 64M, or 0"),
        KEY("Monitor", "RecordStep", VALUE_SIZE, monitor_record_step, "a size such as 512M, or 0"),
        KEY("Monitor", "GC", VALUE_BOOL, monitor_gc, "yes or no"),
        KEY("Monitor", "MetricsFile", VALUE_PATH, monitor_metrics_file, "an absolute path"),
        KEY("Monitor", "MetricsTopBoxes", VALUE_COUNT, monitor_metrics_top_boxes, "a number of boxes, or 0"),
        KEY("Monitor", "StateDirectory", VALUE_PATH, monitor_state_dir, "an absolute path"),
};

typedef struct Parser {
        BoxliteConfig *config;
        const char *path;
        ConfigWarn warn;
        FILE *f;
        int line;
        char *buf; /* getline()'s buffer: a whole line, whatever its length */
        size_t buf_size;
        uint64_t n_read;
        char *error; /* the first invalid value, or why the reader stopped */
        int error_line;
} Parser;

/* Field sizes by type, to restore a default. */
static size_t value_size(ValueType t) {
        switch (t) {
        case VALUE_PERCENT:
                return sizeof(unsigned);
        case VALUE_BOOL:
                return sizeof(bool);
        default:
                return sizeof(uint64_t);
        }
}

static int set_value(BoxliteConfig *c, const ConfigKey *k, const char *value) {
        void *p = (uint8_t *) c + k->offset;
        uint64_t u;
        unsigned pct;
        int r;

        /* An empty value resets the key to its built-in default, as in systemd's unit files. */
        if (value[0] == 0 && k->type != VALUE_PATH) {
                BoxliteConfig d;

                config_init(&d);
                memcpy(p, (const uint8_t *) &d + k->offset, value_size(k->type));
                return 0;
        }

        switch (k->type) {
        case VALUE_SIZE:
                r = parse_size(value, &u);
                if (r < 0)
                        return r;
                *(uint64_t *) p = u;
                return 0;
        case VALUE_COUNT:
                r = parse_uint64(value, &u);
                if (r < 0)
                        return r;
                *(uint64_t *) p = u;
                return 0;
        case VALUE_JOBS:
                r = parse_uint64(value, &u);
                if (r < 0)
                        return r;
                if (u > GC_JOBS_MAX)
                        return -ERANGE;
                *(uint64_t *) p = u;
                return 0;
        case VALUE_SPAN:
        case VALUE_SPAN_NONZERO:
                r = parse_timespan(value, &u);
                if (r < 0)
                        return r;
                if (u == 0 && k->type == VALUE_SPAN_NONZERO)
                        return -ERANGE;
                *(uint64_t *) p = u;
                return 0;
        case VALUE_TIMEOUT:
        case VALUE_TIMEOUT_NONZERO:
                r = parse_timeout(value, TIMEOUT_MAX_USEC, &u);
                if (r < 0)
                        return r;
                if (u == 0 && k->type == VALUE_TIMEOUT_NONZERO)
                        return -ERANGE;
                *(uint64_t *) p = u;
                return 0;
        case VALUE_PERCENT:
                r = parse_percent(value, &pct);
                if (r < 0)
                        return r;
                *(unsigned *) p = pct;
                return 0;
        case VALUE_BOOL:
                r = parse_boolean(value);
                if (r < 0)
                        return r;
                *(bool *) p = r;
                return 0;
        case VALUE_PATH: {
                char *s;

                if (value[0] == 0) {
                        *(char **) p = mfree(*(char **) p);
                        return 0;
                }
                if (value[0] != '/')
                        return -EINVAL;
                s = strdup(value);
                if (!s)
                        return -ENOMEM;
                free(*(char **) p);
                *(char **) p = s;
                return 0;
        }
        }
        return -EINVAL;
}

_printf_(2, 3) static void parser_fail(Parser *ps, const char *format, ...) {
        va_list ap;

        if (ps->error)
                return;
        ps->error_line = ps->line;
        va_start(ap, format);
        if (vasprintf(&ps->error, format, ap) < 0)
                ps->error = NULL;
        va_end(ap);
}

/*
 * Feeds libinih one whole line at a time.
 *
 * Debian builds libinih with its defaults (INI_MAX_LINE 200, INI_USE_STACK,
 * no INI_ALLOW_REALLOC), and the limit is compiled into the library:
 * defining INI_MAX_LINE when including <ini.h> changes nothing. libinih's own
 * reader (fgets) hands over a longer line in 199-byte pieces and parses each
 * piece as a line of its own, so the tail of a long comment could set a key.
 * So this reader reads the whole line with getline() and never splits it:
 *
 *   - a comment or blank line, of any length, is handed over as an empty
 *     line (libinih ignores both, and a comment does not end a multi-line
 *     value either way);
 *   - any other line that does not fit libinih's buffer (num - 1 bytes) stops
 *     the parse with an error naming the file and line;
 *   - a line with a NUL byte stops the parse with an error (fgets() would
 *     have cut the value at the NUL);
 *   - more than CONFIG_FILE_SIZE_MAX bytes in total stop the parse.
 *
 * This keeps libinih's syntax (sections, "Key=value", ";" inline comments
 * after white space, continuation lines) exactly as boxlite.conf(5) describes
 * it. Returning NULL ends the parse; ps->error tells an error from EOF.
 * Debian's libinih does not pass line numbers to the handler either, so they
 * are counted here.
 */
static char *reader(char *str, int num, void *stream) {
        Parser *ps = stream;
        const char *p;
        ssize_t k;
        size_t len;

        errno = 0;
        k = getline(&ps->buf, &ps->buf_size, ps->f);
        if (k < 0) {
                if (ferror(ps->f))
                        parser_fail(ps, "%s: cannot be read: %s", ps->path, strerror(errno ?: EIO));
                return NULL;
        }
        ps->line++;
        len = (size_t) k;
        ps->n_read += len;
        if (ps->n_read > CONFIG_FILE_SIZE_MAX) {
                parser_fail(ps, "%s: larger than %u KiB", ps->path, (unsigned) (CONFIG_FILE_SIZE_MAX / 1024));
                return NULL;
        }
        if (memchr(ps->buf, 0, len)) {
                parser_fail(ps, "%s:%d: line contains a NUL byte", ps->path, ps->line);
                return NULL;
        }
        if (len > 0 && ps->buf[len - 1] == '\n')
                ps->buf[--len] = 0;

        p = ps->buf;
        if (ps->line == 1 && strneq(p, "\xEF\xBB\xBF", 3)) /* a UTF-8 BOM, which libinih skips too */
                p += 3;
        p += strspn(p, " \t\r\f\v");
        if (*p == 0 || *p == '#' || *p == ';') {
                str[0] = 0;
                return str;
        }

        if (num <= 0 || len >= (size_t) num) {
                parser_fail(ps, "%s:%d: line of %zu bytes is too long (a setting may have at most %d bytes; "
                            "only comments may be longer)", ps->path, ps->line, len, num - 1);
                return NULL;
        }
        memcpy(str, ps->buf, len + 1);
        return str;
}

/* libinih calls this per key; returning 0 makes ini_parse_stream() report an error. */
static int handler(void *user, const char *section, const char *name, const char *value) {
        Parser *ps = user;
        char *msg = NULL;
        bool known_section = false;
        int lineno = ps->line;
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const ConfigKey *k = &config_keys[i];
                int r;

                if (!streq(k->section, section))
                        continue;
                known_section = true;
                if (!streq(k->key, name))
                        continue;

                r = set_value(ps->config, k, value);
                if (r == -ENOMEM)
                        return 0;
                if (r < 0) {
                        parser_fail(ps, "%s:%d: invalid value '%s' for %s= in [%s]: expected %s", ps->path, lineno,
                                    value, k->key, k->section, k->expected);
                        return 0;
                }
                return 1;
        }

        if (ps->warn) {
                if (known_section)
                        (void) asprintf(&msg, "%s:%d: unknown key '%s' in section [%s], ignoring", ps->path, lineno,
                                        name, section);
                else
                        (void) asprintf(&msg, "%s:%d: unknown section [%s], ignoring key '%s'", ps->path, lineno,
                                        section, name);
                if (msg)
                        ps->warn(msg);
                free(msg);
        }
        return 1;
}

static const char *file_type(mode_t m) {
        if (S_ISDIR(m))
                return "a directory";
        if (S_ISFIFO(m))
                return "a FIFO";
        if (S_ISCHR(m))
                return "a character device";
        if (S_ISBLK(m))
                return "a block device";
        if (S_ISSOCK(m))
                return "a socket";
        return "not a regular file";
}

int config_load_file(BoxliteConfig *c, const char *path, ConfigWarn warn, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int fd = -1;
        Parser ps = { .config = c, .path = path, .warn = warn };
        struct stat st;
        int r;

        /*
         * Never block: a FIFO would hang the open (and a box start with it), a tty could become the
         * controlling terminal. Then accept only a regular file of bounded size.
         */
        fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                r = -errno;
                if (asprintf(&error, "%s: cannot be read: %s", path, strerror(-r)) < 0)
                        return -ENOMEM;
                *ret_error = TAKE_PTR(error);
                return -EINVAL;
        }
        if (fstat(fd, &st) < 0)
                r = asprintf(&error, "%s: cannot be read: %s", path, strerror(errno));
        else if (!S_ISREG(st.st_mode))
                r = asprintf(&error, "%s: is %s, not a regular file", path, file_type(st.st_mode));
        else if ((uint64_t) st.st_size > CONFIG_FILE_SIZE_MAX)
                r = asprintf(&error, "%s: larger than %u KiB", path, (unsigned) (CONFIG_FILE_SIZE_MAX / 1024));
        else
                r = 0;
        if (r < 0)
                return -ENOMEM;
        if (error) {
                *ret_error = TAKE_PTR(error);
                return -EINVAL;
        }

        ps.f = fdopen(fd, "re");
        if (!ps.f)
                return -errno;
        TAKE_FD(fd);
        r = ini_parse_stream(reader, &ps, handler, &ps);
        fclose(ps.f);
        free(ps.buf);
        error = TAKE_PTR(ps.error);
        if (r == 0 && !error)
                return 0;
        if (r > 0 && error && r < ps.error_line)
                error = mfree(error);
        if (!error) {
                /* A syntax error (no '=', an unterminated section header), or OOM in the handler. */
                if (r > 0 && asprintf(&error, "%s:%d: syntax error, expected 'Key=value' or '[Section]'", path,
                                      r) < 0)
                        return -ENOMEM;
                if (!error)
                        return -ENOMEM;
        }
        *ret_error = TAKE_PTR(error);
        return -EINVAL;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int load_dir(BoxliteConfig *c, const char *dir, ConfigWarn warn, char **ret_error) {
        _cleanup_free_ char *main_path = NULL, *dropin = NULL;
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0;
        DIR *d;
        int r;

        if (asprintf(&main_path, "%s/boxlite.conf", dir) < 0 || asprintf(&dropin, "%s/boxlite.conf.d", dir) < 0)
                return -ENOMEM;
        r = config_load_file(c, main_path, warn, ret_error);
        if (r < 0)
                return r;

        d = opendir(dropin);
        if (!d) {
                /* Something other than a directory in its place is a mistake worth naming. */
                if (errno == ENOTDIR) {
                        if (asprintf(ret_error, "%s: is not a directory", dropin) < 0)
                                return -ENOMEM;
                        return -EINVAL;
                }
                return 0;
        }
        names = calloc(1, sizeof(char *));
        if (!names) {
                closedir(d);
                return -ENOMEM;
        }
        for (struct dirent *de; (de = readdir(d));) {
                char **l;

                if (filename_is_hidden(de->d_name) || !endswith(de->d_name, ".conf"))
                        continue;
                if (n >= CONFIG_MAX_DROPINS)
                        break;
                l = realloc(names, (n + 2) * sizeof(char *));
                if (!l) {
                        closedir(d);
                        return -ENOMEM;
                }
                names = l;
                names[n] = strdup(de->d_name);
                names[n + 1] = NULL;
                if (!names[n]) {
                        closedir(d);
                        return -ENOMEM;
                }
                n++;
        }
        closedir(d);
        if (n > 0)
                qsort(names, n, sizeof(char *), cmp_str);

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s/%s", dropin, names[i]) < 0)
                        return -ENOMEM;
                r = config_load_file(c, p, warn, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int config_load(BoxliteConfig *c, ConfigWarn warn, char **ret_error) {
        _cleanup_free_ char *user_dir = NULL;
        const char *e;
        int r;

        e = getenv("BOXLITE_CONF_DIR");
        r = load_dir(c, e && e[0] ? e : "/etc/boxlite", warn, ret_error);
        if (r < 0)
                return r;

        if (geteuid() == 0)
                return 0;
        e = getenv("XDG_CONFIG_HOME");
        if (e && e[0] == '/')
                r = asprintf(&user_dir, "%s/boxlite", e);
        else if ((e = getenv("HOME")) && e[0] == '/')
                r = asprintf(&user_dir, "%s/.config/boxlite", e);
        else
                return 0;
        if (r < 0)
                return -ENOMEM;
        return load_dir(c, user_dir, warn, ret_error);
}
