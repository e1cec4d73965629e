/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "monitor.h"
#include "parse-util.h"
#include "state-file.h"

#define STATE_MAGIC "boxlite-monitor-state 1"

static const char *const record_names[_MONITOR_RECORD_MAX] = {
        [MONITOR_RECORD_NONE] = "none",
        [MONITOR_RECORD_RAISED] = "raised",
        [MONITOR_RECORD_CHANGED] = "changed",
        [MONITOR_RECORD_FELL] = "fell",
        [MONITOR_RECORD_CLEARED] = "cleared",
};

const char *monitor_record_to_string(MonitorRecord r) {
        if (r < 0 || r >= _MONITOR_RECORD_MAX)
                return NULL;
        return record_names[r];
}

uint64_t monitor_default_step(const AdmitLimits *limits) {
        uint64_t base = limits->soft_floor_bytes > 0 ? limits->soft_floor_bytes : limits->hard_floor_bytes;

        return MAX(base / 10, UINT64_C(1) << 20);
}

bool monitor_changed(const MonitorState *previous, Verdict verdict) {
        if (!previous->known)
                return verdict != VERDICT_OK;
        return previous->verdict != verdict;
}

MonitorRecord monitor_decide(const MonitorState *previous, Verdict verdict, uint64_t available, uint64_t step) {
        if (!previous->known || previous->verdict == VERDICT_OK)
                /* No state (after a boot /run is empty) and ok is not news; pressure always is. */
                return verdict == VERDICT_OK ? MONITOR_RECORD_NONE : MONITOR_RECORD_RAISED;
        if (verdict == VERDICT_OK)
                return MONITOR_RECORD_CLEARED;
        if (verdict != previous->verdict)
                return MONITOR_RECORD_CHANGED;
        /* The same pressure: news only when it got markedly worse since the last entry. */
        if (step == 0)
                step = 1;
        if (previous->recorded_available >= step && available <= previous->recorded_available - step)
                return MONITOR_RECORD_FELL;
        return MONITOR_RECORD_NONE;
}

static int parse_verdict(const char *s, Verdict *ret) {
        Verdict v = verdict_from_string(s);

        if (v < 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

MonitorState monitor_state_parse(const char *text, size_t size, const char *home) {
        _cleanup_free_ char *copy = NULL, *want_home = NULL;
        MonitorState s = {}, unknown = {};
        bool have_magic = false, have_home = false, have_verdict = false, have_avail = false;
        char *line, *next;

        if (!text || size == 0 || size > MONITOR_STATE_MAX_BYTES || memchr(text, 0, size))
                return unknown;
        copy = strndup(text, size);
        want_home = state_escape_path(home);
        if (!copy || !want_home)
                return unknown;

        for (line = copy; line && *line; line = next) {
                char *eq;
                uint64_t u;

                next = strchr(line, '\n');
                if (!next)
                        /* A state is written whole with its final newline: a cut one is not trusted. */
                        return unknown;
                *next++ = 0;

                if (!have_magic) {
                        if (!streq(line, STATE_MAGIC))
                                return unknown;
                        have_magic = true;
                        continue;
                }
                eq = strchr(line, '=');
                if (!eq)
                        return unknown;
                *eq++ = 0;
                if (streq(line, "home")) {
                        if (!streq(eq, want_home))
                                return unknown;
                        have_home = true;
                } else if (streq(line, "verdict")) {
                        if (parse_verdict(eq, &s.verdict) < 0)
                                return unknown;
                        have_verdict = true;
                } else if (streq(line, "recorded_available_bytes")) {
                        if (parse_uint64(eq, &u) < 0)
                                return unknown;
                        s.recorded_available = u;
                        have_avail = true;
                } else if (streq(line, "recorded_usec")) {
                        if (parse_uint64(eq, &u) < 0)
                                return unknown;
                        s.recorded_usec = u;
                } else if (streq(line, "reserve_released")) {
                        int b = parse_boolean(eq);

                        if (b < 0)
                                return unknown;
                        s.reserve_released = b;
                }
                /* Unknown keys are left for a newer version. */
        }

        if (!have_magic || !have_home || !have_verdict || !have_avail)
                return unknown;
        s.known = true;
        return s;
}

char *monitor_state_format(const MonitorState *s, const char *home) {
        _cleanup_free_ char *h = NULL;
        char *out = NULL;

        h = state_escape_path(home);
        if (!h)
                return NULL;
        if (asprintf(&out,
                     STATE_MAGIC "\n"
                     "home=%s\n"
                     "verdict=%s\n"
                     "recorded_available_bytes=%" PRIu64 "\n"
                     "recorded_usec=%" PRIu64 "\n"
                     "reserve_released=%s\n",
                     h, verdict_to_string(s->verdict), s->recorded_available, s->recorded_usec,
                     s->reserve_released ? "yes" : "no") < 0)
                return NULL;
        return out;
}

int monitor_state_dir(const char *dir, char **ret) {
        const char *e;
        char *d;

        if (dir && dir[0])
                d = strdup(dir);
        else if (geteuid() == 0)
                d = strdup("/run/boxlite");
        else {
                e = getenv("XDG_RUNTIME_DIR");
                if (!e || e[0] != '/')
                        return -ENXIO;
                if (asprintf(&d, "%s/boxlite", e) < 0)
                        d = NULL;
        }
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}

static int state_name(const char *home, char **ret) {
        *ret = state_file_name("monitor", home);
        return *ret ? 0 : -ENOMEM;
}

int monitor_state_load(const char *dir, const char *home, MonitorState *ret) {
        _cleanup_free_ char *name = NULL, *buf = NULL;
        size_t n;
        int r;

        *ret = (MonitorState) {};
        r = state_name(home, &name);
        if (r < 0)
                return r;
        r = state_file_read(dir, name, MONITOR_STATE_MAX_BYTES, &buf, &n);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0; /* no state, or none to trust: an unknown previous verdict */
        *ret = monitor_state_parse(buf, n, home);
        return 0;
}

int monitor_state_save(const char *dir, const char *home, const MonitorState *s) {
        _cleanup_free_ char *name = NULL, *text = NULL;
        int r;

        r = state_name(home, &name);
        if (r < 0)
                return r;
        text = monitor_state_format(s, home);
        if (!text)
                return -ENOMEM;
        return state_file_write(dir, name, text);
}
