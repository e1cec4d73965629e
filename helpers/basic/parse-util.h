/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Parsing and formatting of the values on command lines and in boxlite.conf.
 * Parsers return 0 or -EINVAL/-ERANGE and set *ret only on success.
 */

#include <stdint.h>

/* Decimal unsigned integer, no sign, no suffix. */
int parse_uint64(const char *s, uint64_t *ret);
int parse_unsigned(const char *s, unsigned *ret);

/* Bytes with an optional K, M, G, T (base 1024, optional "iB"/"B") suffix: "1G", "512M", "4096". */
int parse_size(const char *s, uint64_t *ret);

/* yes/no, true/false, on/off, 1/0 (case-insensitive): returns 1 or 0, or -EINVAL. */
int parse_boolean(const char *s);

/* A percentage 0..100, "10" or "10%". */
int parse_percent(const char *s, unsigned *ret);

/* A systemd-style time span in microseconds: "10min", "30s", "1h 30min", "500ms", a bare number is seconds. */
int parse_timespan(const char *s, uint64_t *ret_usec);

/*
 * A time span for a timeout that is added to the current time to make a
 * deadline: parse_timespan() bounded by max_usec, so that no deadline can
 * overflow. -ERANGE above max_usec.
 */
#define TIMEOUT_MAX_USEC (UINT64_C(3600) * 1000000) /* 1h: probe, bus and lock timeouts */
int parse_timeout(const char *s, uint64_t max_usec, uint64_t *ret_usec);

/* "1.5 GiB" style, into buf of at least FORMAT_BYTES_MAX. */
#define FORMAT_BYTES_MAX 32
char *format_bytes(char *buf, uint64_t bytes);

/* An age in its two largest units, "3d 4h", "2h 5min", "40s", into buf of at least FORMAT_AGE_MAX. */
#define FORMAT_AGE_MAX 32
char *format_age(char *buf, uint64_t usec);
