/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Test hook (WalkOptions.test_churn): renames at fixed points of a walk, so
 * that a test of the walk under churn is deterministic. The specification is
 * a list of hooks separated by ';', each
 *
 *     ROUND,POINT,ACTION,PATH[,PATH]
 *
 * ROUND is a round of the pass (1 the first) or '*' for every round; POINT is
 * before=NAME or after=NAME (just before or after the entry NAME of boxes/ or
 * bases/ is walked as a unit) or verify (before the round's records are
 * verified); ACTION is rename A B, exchange A B (renameat2(RENAME_EXCHANGE)),
 * or toggle A B (rename A to B if A exists, else B to A). Paths are relative
 * to the home. Each hook acts at most once a round; what it did (or why it
 * could not) is written to stderr, prefixed "walk test hook:".
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "walk-internal.h"

static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;

static bool hook_field(const char **p, char *buf, size_t size) {
        size_t n = strcspn(*p, ",;");

        if (n >= size)
                return false;
        memcpy(buf, *p, n);
        buf[n] = 0;
        *p += n;
        if (**p == ',')
                (*p)++;
        return true;
}

static void hook_act(Walk *w, const char *action, const char *a, const char *b) {
        struct stat st;
        int r = -EINVAL;

        if (streq(action, "rename"))
                r = renameat(w->home_fd, a, w->home_fd, b) < 0 ? -errno : 0;
        else if (streq(action, "exchange"))
                r = renameat2(w->home_fd, a, w->home_fd, b, RENAME_EXCHANGE) < 0 ? -errno : 0;
        else if (streq(action, "toggle"))
                r = fstatat(w->home_fd, a, &st, AT_SYMLINK_NOFOLLOW) >= 0 ?
                            (renameat(w->home_fd, a, w->home_fd, b) < 0 ? -errno : 0) :
                            (renameat(w->home_fd, b, w->home_fd, a) < 0 ? -errno : 0);
        fprintf(stderr, "walk test hook: round %u: %s %s %s: %s\n", w->root->round, action, a, b,
                r < 0 ? strerror(-r) : "done");
}

/* Runs the hooks of this point of the round (name: the unit, for before= and after=). */
void walk_test_hook(Walk *w, const char *point, const char *name) {
        const char *spec = w->o->test_churn, *p;
        unsigned index = 0;

        if (!spec)
                return;
        pthread_mutex_lock(&hook_lock);
        for (p = spec; *p; index++) {
                char round[16], where[NAME_MAX + 16], action[16], a[PATH_MAX], b[PATH_MAX];
                unsigned round_n = 0;
                bool match;

                a[0] = b[0] = 0;
                if (!hook_field(&p, round, sizeof(round)) || !hook_field(&p, where, sizeof(where)) ||
                    !hook_field(&p, action, sizeof(action)) || !hook_field(&p, a, sizeof(a)))
                        break;
                if (*p && *p != ';')
                        (void) hook_field(&p, b, sizeof(b));
                while (*p && *p != ';')
                        p++;
                if (*p == ';')
                        p++;
                if (!streq(round, "*") && (sscanf(round, "%u", &round_n) != 1 || round_n != w->root->round))
                        continue;
                if (streq(point, "verify"))
                        match = streq(where, "verify");
                else
                        match = name && strncmp(where, point, strlen(point)) == 0 && where[strlen(point)] == '=' &&
                                streq(where + strlen(point) + 1, name);
                if (!match || index >= 64 || (w->root->hooks_fired & (UINT64_C(1) << index)))
                        continue;
                w->root->hooks_fired |= UINT64_C(1) << index;
                hook_act(w, action, a, b);
        }
        pthread_mutex_unlock(&hook_lock);
}
