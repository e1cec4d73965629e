/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "gc.h"
#include "home.h"
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
                .monitor_reserve_size = CONFIG_RESERVE_SIZE_DEFAULT,
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
        VALUE_SPAN,
        VALUE_SPAN_NONZERO,
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
        KEY("Admission", "ProbeTimeoutSec", VALUE_SPAN_NONZERO, probe_timeout_usec, "a non-zero time span such as 2s"),
        KEY("Admission", "BusTimeoutSec", VALUE_SPAN, bus_timeout_usec, "a time span such as 500ms"),
        KEY("GC", "Grace", VALUE_SPAN, gc_grace_usec, "a time span such as 10min"),
        KEY("GC", "TargetFree", VALUE_SIZE, gc_target_free, "a size such as 20G"),
        KEY("GC", "MetricsFile", VALUE_PATH, gc_metrics_file, "an absolute path"),
        KEY("Monitor", "ReserveSize", VALUE_SIZE, monitor_reserve_size, "a size such as 64M, or 0"),
        KEY("Monitor", "RecordStep", VALUE_SIZE, monitor_record_step, "a size such as 512M, or 0"),
        KEY("Monitor", "GC", VALUE_BOOL, monitor_gc, "yes or no"),
        KEY("Monitor", "MetricsFile", VALUE_PATH, monitor_metrics_file, "an absolute path"),
        KEY("Monitor", "StateDirectory", VALUE_PATH, monitor_state_dir, "an absolute path"),
};

typedef struct Parser {
        BoxliteConfig *config;
        const char *path;
        ConfigWarn warn;
        FILE *f;
        int line;
        bool at_line_start;
        char *error; /* the first invalid value */
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
        case VALUE_SPAN:
        case VALUE_SPAN_NONZERO:
                r = parse_timespan(value, &u);
                if (r < 0)
                        return r;
                if (u == 0 && k->type == VALUE_SPAN_NONZERO)
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

/* Debian's libinih does not pass line numbers to the handler; count them as lines are read. */
static char *reader(char *str, int num, void *stream) {
        Parser *ps = stream;
        char *s;
        size_t k;

        s = fgets(str, num, ps->f);
        if (!s)
                return NULL;
        if (ps->at_line_start)
                ps->line++;
        k = strlen(s);
        ps->at_line_start = k > 0 && s[k - 1] == '\n';
        return s;
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
                        if (!ps->error)
                                ps->error_line = lineno;
                        if (!ps->error &&
                            asprintf(&ps->error, "%s:%d: invalid value '%s' for %s= in [%s]: expected %s", ps->path,
                                     lineno, value, k->key, k->section, k->expected) < 0)
                                ps->error = NULL;
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

int config_load_file(BoxliteConfig *c, const char *path, ConfigWarn warn, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        Parser ps = { .config = c, .path = path, .warn = warn, .at_line_start = true };
        FILE *f;
        int r;

        f = ps.f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT)
                        return 0;
                r = -errno;
                if (asprintf(&error, "%s: cannot be read: %s", path, strerror(-r)) < 0)
                        return -ENOMEM;
                *ret_error = TAKE_PTR(error);
                return -EINVAL;
        }
        r = ini_parse_stream(reader, &ps, handler, &ps);
        fclose(f);
        error = TAKE_PTR(ps.error);
        if (r == 0)
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
        if (!d)
                return 0;
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
