/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "utf8.h"

/* Printable ASCII other than the backslash stands for itself (the common case, copied without a call). */
static inline bool plain_byte(unsigned char c) {
        return c >= 0x20 && c < 0x7f && c != '\\';
}

/* Escapes one character at p into out (at least 17 bytes); returns how many input bytes it used. */
static size_t escape_one(const unsigned char *p, char *out) {
        static const char hex[] = "0123456789abcdef";
        size_t n = utf8_char_length((const char *) p);
        const char *named = NULL;

        switch (*p) {
        case '\n':
                named = "\\n";
                break;
        case '\t':
                named = "\\t";
                break;
        case '\r':
                named = "\\r";
                break;
        case '\a':
                named = "\\a";
                break;
        case '\b':
                named = "\\b";
                break;
        case '\f':
                named = "\\f";
                break;
        case '\v':
                named = "\\v";
                break;
        case '\\':
                named = "\\\\";
                break;
        }
        if (named) {
                strcpy(out, named);
                return 1;
        }

        /* C0 controls, DEL, bytes that are not UTF-8, and the C1 controls U+0080..U+009F (0xc2 0x80..0x9f). */
        if (*p < 0x20 || *p == 0x7f || n == 0 || (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
                size_t k = n == 2 ? 2 : 1;

                for (size_t i = 0; i < k; i++) {
                        out[i * 4] = '\\';
                        out[i * 4 + 1] = 'x';
                        out[i * 4 + 2] = hex[p[i] >> 4];
                        out[i * 4 + 3] = hex[p[i] & 15];
                }
                out[k * 4] = 0;
                return k;
        }

        memcpy(out, p, n);
        out[n] = 0;
        return n;
}

char *cescape(const char *s) {
        const unsigned char *p = (const unsigned char *) s;
        char *out, *o;

        if (!s)
                return NULL;

        /* Worst case: every byte becomes the four bytes "\xNN". */
        out = malloc(strlen(s) * 4 + 1);
        if (!out)
                return NULL;
        o = out;
        while (*p) {
                char buf[17];

                if (plain_byte(*p)) {
                        *o++ = (char) *p++;
                        continue;
                }
                p += escape_one(p, buf);
                o = stpcpy(o, buf);
        }
        *o = 0;
        return out;
}

/* Escapes into a chunk and writes chunks: stderr is unbuffered, one write per character would be slow. */
int fputs_escaped(const char *s, FILE *f) {
        const unsigned char *p = (const unsigned char *) s;
        char chunk[1024];
        size_t n = 0;

        while (*p) {
                char buf[17];
                size_t k;

                if (plain_byte(*p)) {
                        if (n == sizeof(chunk)) {
                                if (fwrite(chunk, 1, n, f) != n)
                                        return EOF;
                                n = 0;
                        }
                        chunk[n++] = (char) *p++;
                        continue;
                }
                p += escape_one(p, buf);
                k = strlen(buf);
                if (n + k > sizeof(chunk)) {
                        if (fwrite(chunk, 1, n, f) != n)
                                return EOF;
                        n = 0;
                }
                memcpy(chunk + n, buf, k);
                n += k;
        }
        if (n > 0 && fwrite(chunk, 1, n, f) != n)
                return EOF;
        return 0;
}
