/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "parse-util.h"

int parse_uint64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        for (; *s; s++) {
                if (!isdigit((unsigned char) *s))
                        return -EINVAL;
                if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t) (*s - '0'), &v))
                        return -ERANGE;
        }
        *ret = v;
        return 0;
}

int parse_unsigned(const char *s, unsigned *ret) {
        uint64_t v;
        int r;

        r = parse_uint64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT_MAX)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

int parse_size(const char *s, uint64_t *ret) {
        static const struct {
                const char *suffix;
                uint64_t factor;
        } table[] = {
                { "K", UINT64_C(1) << 10 }, { "KiB", UINT64_C(1) << 10 }, { "KB", UINT64_C(1) << 10 },
                { "M", UINT64_C(1) << 20 }, { "MiB", UINT64_C(1) << 20 }, { "MB", UINT64_C(1) << 20 },
                { "G", UINT64_C(1) << 30 }, { "GiB", UINT64_C(1) << 30 }, { "GB", UINT64_C(1) << 30 },
                { "T", UINT64_C(1) << 40 }, { "TiB", UINT64_C(1) << 40 }, { "TB", UINT64_C(1) << 40 },
                { "B", 1 }, { "", 1 },
        };
        uint64_t v = 0;
        const char *p = s;

        if (!s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        for (; isdigit((unsigned char) *p); p++)
                if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t) (*p - '0'), &v))
                        return -ERANGE;
        while (*p == ' ')
                p++;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strcasecmp(p, table[i].suffix) == 0) {
                        if (__builtin_mul_overflow(v, table[i].factor, &v))
                                return -ERANGE;
                        *ret = v;
                        return 0;
                }
        return -EINVAL;
}

int parse_boolean(const char *s) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

        for (size_t i = 0; s && i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        }
        return -EINVAL;
}

int parse_percent(const char *s, unsigned *ret) {
        uint64_t v = 0;
        const char *p = s;

        if (!s || !isdigit((unsigned char) *p))
                return -EINVAL;
        for (; isdigit((unsigned char) *p); p++)
                if (v <= 100)
                        v = v * 10 + (uint64_t) (*p - '0');
        if (*p == '%')
                p++;
        if (*p)
                return -EINVAL;
        if (v > 100)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

int parse_timespan(const char *s, uint64_t *ret_usec) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } table[] = {
                { "usec", 1 }, { "us", 1 }, { "msec", 1000 }, { "ms", 1000 },
                { "seconds", 1000000 }, { "second", 1000000 }, { "sec", 1000000 }, { "s", 1000000 },
                { "minutes", 60000000 }, { "minute", 60000000 }, { "min", 60000000 }, { "m", 60000000 },
                { "hours", UINT64_C(3600000000) }, { "hour", UINT64_C(3600000000) }, { "hr", UINT64_C(3600000000) },
                { "h", UINT64_C(3600000000) },
                { "days", UINT64_C(86400000000) }, { "day", UINT64_C(86400000000) }, { "d", UINT64_C(86400000000) },
                { "weeks", UINT64_C(604800000000) }, { "week", UINT64_C(604800000000) }, { "w", UINT64_C(604800000000) },
        };
        uint64_t total = 0;
        const char *p = s;
        bool any = false;

        if (!s)
                return -EINVAL;

        for (;;) {
                uint64_t v = 0, factor = 1000000;
                size_t best = 0;

                while (*p == ' ')
                        p++;
                if (!*p)
                        break;
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
                for (; isdigit((unsigned char) *p); p++)
                        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t) (*p - '0'), &v))
                                return -ERANGE;
                while (*p == ' ')
                        p++;
                /* Longest matching unit name that is followed by a digit, a space or the end. */
                for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                        size_t k = strlen(table[i].suffix);
                        if (k > best && strncmp(p, table[i].suffix, k) == 0 &&
                            (p[k] == 0 || p[k] == ' ' || isdigit((unsigned char) p[k]))) {
                                best = k;
                                factor = table[i].usec;
                        }
                }
                if (best == 0 && *p && !isdigit((unsigned char) *p))
                        return -EINVAL;
                p += best;
                if (__builtin_mul_overflow(v, factor, &v) || __builtin_add_overflow(total, v, &total))
                        return -ERANGE;
                any = true;
        }
        if (!any)
                return -EINVAL;
        *ret_usec = total;
        return 0;
}

int parse_timeout(const char *s, uint64_t max_usec, uint64_t *ret_usec) {
        uint64_t u;
        int r;

        r = parse_timespan(s, &u);
        if (r < 0)
                return r;
        if (u > max_usec)
                return -ERANGE;
        *ret_usec = u;
        return 0;
}

char *format_bytes(char *buf, uint64_t bytes) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        size_t i = 0;
        uint64_t whole = bytes, rem = 0;

        while (whole >= 1024 && i + 1 < ELEMENTSOF(units)) {
                rem = whole % 1024;
                whole /= 1024;
                i++;
        }
        if (i == 0)
                snprintf(buf, FORMAT_BYTES_MAX, "%" PRIu64 " B", bytes);
        else if (rem == 0)
                snprintf(buf, FORMAT_BYTES_MAX, "%" PRIu64 " %s", whole, units[i]);
        else
                snprintf(buf, FORMAT_BYTES_MAX, "%" PRIu64 ".%" PRIu64 " %s", whole, rem * 10 / 1024, units[i]);
        return buf;
}

char *format_age(char *buf, uint64_t usec) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } units[] = {
                { "d", UINT64_C(86400) * 1000000 },
                { "h", UINT64_C(3600) * 1000000 },
                { "min", UINT64_C(60) * 1000000 },
                { "s", UINT64_C(1000000) },
        };

        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                uint64_t n = usec / units[i].usec, rest;

                if (n == 0)
                        continue;
                rest = i + 1 < ELEMENTSOF(units) ? (usec % units[i].usec) / units[i + 1].usec : 0;
                if (rest > 0)
                        snprintf(buf, FORMAT_AGE_MAX, "%" PRIu64 "%s %" PRIu64 "%s", n, units[i].suffix, rest,
                                 units[i + 1].suffix);
                else
                        snprintf(buf, FORMAT_AGE_MAX, "%" PRIu64 "%s", n, units[i].suffix);
                return buf;
        }
        snprintf(buf, FORMAT_AGE_MAX, "0s");
        return buf;
}
