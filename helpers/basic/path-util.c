/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "path-util.h"

int path_default_home(char **ret) {
        const char *e = getenv("BOXLITE_HOME");
        char *s;

        if (e && e[0]) {
                s = strdup(e);
        } else if (geteuid() == 0) {
                s = strdup("/var/lib/boxlite");
        } else {
                const char *home = getenv("HOME");
                struct passwd *pw;

                if (!home || home[0] != '/') {
                        pw = getpwuid(geteuid());
                        if (!pw || !pw->pw_dir)
                                return -ENXIO;
                        home = pw->pw_dir;
                }
                if (asprintf(&s, "%s/.boxlite", home) < 0)
                        s = NULL;
        }
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

bool filename_is_hidden(const char *name) {
        return name[0] == '.';
}

bool endswith(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);

        return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

int path_readlinkat(int dir_fd, const char *name, char **ret) {
        char buf[PATH_MAX];
        ssize_t n;
        char *s;

        n = readlinkat(dir_fd, name, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        s = strdup(buf);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}
