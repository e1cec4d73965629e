/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <libmount.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "mounts.h"

/* path is home or below it (both canonical). */
static bool path_at_or_under(const char *path, const char *home) {
        size_t n = strlen(home);

        if (n == 1 && home[0] == '/')
                return true;
        return strncmp(path, home, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* A canonical form of a target that may not exist (a mount point left out): its longest existing prefix resolved. */
static char *canonical(const char *path) {
        char *r = realpath(path, NULL);

        return r ?: strdup(path);
}

int mounts_check_home(const char *home, char **ret_why) {
        struct libmnt_table *fstab = NULL, *mounted = NULL;
        struct libmnt_iter *it = NULL;
        struct libmnt_fs *fs;
        _cleanup_free_ char *h = NULL;
        const char *fstab_path;
        int r;

        *ret_why = NULL;
        h = realpath(home, NULL);
        if (!h)
                return -errno;
        fstab_path = mnt_get_fstab_path();
        if (access(fstab_path, F_OK) < 0)
                return errno == ENOENT ? 0 : -errno;

        fstab = mnt_new_table();
        mounted = mnt_new_table();
        it = mnt_new_iter(MNT_ITER_FORWARD);
        if (!fstab || !mounted || !it) {
                r = -ENOMEM;
                goto finish;
        }
        r = mnt_table_parse_fstab(fstab, NULL);
        if (r < 0)
                goto finish;
        r = mnt_table_parse_file(mounted, "/proc/self/mountinfo");
        if (r < 0)
                goto finish;

        r = 0;
        while (mnt_table_next_fs(fstab, it, &fs) == 0) {
                const char *target = mnt_fs_get_target(fs);
                _cleanup_free_ char *t = NULL;

                if (!target || target[0] != '/' || mnt_fs_is_swaparea(fs))
                        continue;
                t = canonical(target);
                if (!t) {
                        r = -ENOMEM;
                        break;
                }
                if (!path_at_or_under(t, h) && !path_at_or_under(target, home))
                        continue;
                if (mnt_table_find_target(mounted, t, MNT_ITER_BACKWARD) ||
                    mnt_table_find_target(mounted, target, MNT_ITER_BACKWARD))
                        continue;
                if (asprintf(ret_why, "'%s' is declared in %s (%s, type %s) but nothing is mounted there: its boxes "
                             "or images would look gone", target, fstab_path, strna(mnt_fs_get_source(fs)),
                             strna(mnt_fs_get_fstype(fs))) < 0)
                        r = -ENOMEM;
                else
                        r = 1;
                break;
        }

finish:
        mnt_free_iter(it);
        mnt_unref_table(fstab);
        mnt_unref_table(mounted);
        return r;
}
