/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "monitor.h"
#include "parse-util.h"

#define STATE_MAGIC "boxlite-monitor-state 1"
#define ESCAPED_MAX 200U

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

static bool escape_keep(char c, bool first) {
        if (c >= 'a' && c <= 'z')
                return true;
        if (c >= 'A' && c <= 'Z')
                return true;
        if (c >= '0' && c <= '9')
                return true;
        if (c == ':' || c == '_')
                return true;
        return c == '.' && !first;
}

static uint64_t fnv1a(const char *s) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (; *s; s++) {
                h ^= (uint8_t) *s;
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

char *monitor_escape_path(const char *path) {
        _cleanup_free_ char *out = NULL;
        size_t k = 0;
        bool slash = true; /* collapses repeated and leading slashes */

        out = malloc(strlen(path) * 4 + 2);
        if (!out)
                return NULL;
        for (const char *p = path; *p; p++) {
                if (*p == '/') {
                        slash = true;
                        continue;
                }
                if (slash && k > 0)
                        out[k++] = '-';
                slash = false;
                if (escape_keep(*p, k == 0))
                        out[k++] = *p;
                else
                        k += (size_t) sprintf(out + k, "\\x%02x", (uint8_t) *p);
        }
        if (k == 0)
                out[k++] = '-';
        out[k] = 0;

        if (k > ESCAPED_MAX) {
                /* Keep the file name within NAME_MAX: a prefix stays readable, the hash keeps it unique. */
                uint64_t h = fnv1a(path);

                (void) sprintf(out + ESCAPED_MAX - 17, "-%016" PRIx64, h);
        }
        return TAKE_PTR(out);
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
        want_home = monitor_escape_path(home);
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

        h = monitor_escape_path(home);
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
        _cleanup_free_ char *e = monitor_escape_path(home);

        if (!e || asprintf(ret, "monitor-%s.state", e) < 0)
                return -ENOMEM;
        return 0;
}

/* The directory must be ours or root's and not writable by others, or its files could be anyone's. */
static bool state_dir_safe(const struct stat *st) {
        return (st->st_uid == geteuid() || st->st_uid == 0) && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

static int open_state_dir(const char *dir) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!state_dir_safe(&st))
                return -EPERM;
        return TAKE_FD(fd);
}

char *monitor_state_dir_problem(const char *dir) {
        const char *wrong;
        struct stat st;
        char *s;

        if (stat(dir, &st) < 0 || state_dir_safe(&st))
                return NULL;
        wrong = st.st_uid != geteuid() && st.st_uid != 0 ? "is owned by another user" :
                st.st_mode & S_IWOTH ? "is writable by others" : "is writable by its group";
        if (asprintf(&s, "'%s' %s (owner uid %u, mode %04o); accepted: owned by root or uid %u, writable only by "
                     "its owner (mode 0755 or 0700)",
                     dir, wrong, (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777), (unsigned) geteuid()) < 0)
                return NULL;
        return s;
}

int monitor_state_load(const char *dir, const char *home, MonitorState *ret) {
        _cleanup_free_ char *name = NULL, *buf = NULL;
        _cleanup_close_ int dfd = -1, fd = -1;
        struct stat st;
        size_t n = 0;
        int r;

        *ret = (MonitorState) {};
        r = state_name(home, &name);
        if (r < 0)
                return r;
        dfd = open_state_dir(dir);
        if (dfd < 0)
                return 0;
        /* No symlink, no FIFO that would block, nothing written by another user. */
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())
                return 0;

        buf = malloc(MONITOR_STATE_MAX_BYTES + 1);
        if (!buf)
                return -ENOMEM;
        while (n <= MONITOR_STATE_MAX_BYTES) {
                ssize_t k = read(fd, buf + n, MONITOR_STATE_MAX_BYTES + 1 - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return 0;
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        *ret = monitor_state_parse(buf, n, home);
        return 0;
}

static int write_all(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, s, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                s += k;
                n -= (size_t) k;
        }
        return 0;
}

int monitor_state_save(const char *dir, const char *home, const MonitorState *s) {
        _cleanup_free_ char *name = NULL, *text = NULL, *tmp = NULL;
        _cleanup_close_ int dfd = -1, fd = -1;
        uint64_t rnd;
        int r;

        r = state_name(home, &name);
        if (r < 0)
                return r;
        text = monitor_state_format(s, home);
        if (!text)
                return -ENOMEM;

        if (mkdir(dir, geteuid() == 0 ? 0755 : 0700) < 0 && errno != EEXIST)
                return -errno;
        dfd = open_state_dir(dir);
        if (dfd < 0)
                return dfd;

        for (unsigned i = 0;; i++) {
                if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                        return -EIO;
                tmp = mfree(tmp);
                if (asprintf(&tmp, ".%s.%016" PRIx64, name, rnd) < 0)
                        return -ENOMEM;
                fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || i >= 16)
                        return -errno;
        }
        r = write_all(fd, text, strlen(text));
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dfd, tmp, 0);
                return r;
        }
        (void) fsync(dfd);
        return 0;
}
