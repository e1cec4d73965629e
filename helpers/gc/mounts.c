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
#include "state-file.h"

#define MEMORY_MAGIC "boxlite-gc-mounts 1"
#define MEMORY_PREFIX "mounts"
#define MEMORY_MAX_BYTES (UINT64_C(1) << 20)

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

static struct libmnt_table *mount_table(void) {
        struct libmnt_table *t = mnt_new_table();

        if (t && mnt_table_parse_file(t, "/proc/self/mountinfo") < 0) {
                mnt_unref_table(t);
                return NULL;
        }
        return t;
}

/* Compared by name only: libmount canonicalises (stats every mount) only with a cache, and none is set. */
static bool is_mounted(struct libmnt_table *mounted, const char *target) {
        return mnt_table_find_target(mounted, target, MNT_ITER_BACKWARD);
}

int mounts_state_dir(char **ret) {
        const char *e = getenv("BOXLITE_STATE_DIRECTORY");
        char *d = NULL;

        if (e && e[0] == '/')
                d = strdup(e);
        else if (geteuid() == 0)
                d = strdup("/var/lib/boxlite-host");
        else if ((e = getenv("XDG_STATE_HOME")) && e[0] == '/') {
                if (asprintf(&d, "%s/boxlite-host", e) < 0)
                        d = NULL;
        } else if ((e = getenv("HOME")) && e[0] == '/') {
                if (asprintf(&d, "%s/.local/state/boxlite-host", e) < 0)
                        d = NULL;
        } else
                return -ENXIO;
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}

int mounts_check_fstab(const char *home, char **ret_why) {
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
        it = mnt_new_iter(MNT_ITER_FORWARD);
        if (!fstab || !it) {
                r = -ENOMEM;
                goto finish;
        }
        r = mnt_table_parse_fstab(fstab, NULL);
        if (r < 0) {
                if (asprintf(ret_why, "cannot read %s: %s", fstab_path, strerror(-r)) < 0)
                        *ret_why = NULL;
                goto finish;
        }
        mounted = mount_table();
        if (!mounted) {
                r = -EIO;
                if (asprintf(ret_why, "cannot read the mount table /proc/self/mountinfo") < 0)
                        *ret_why = NULL;
                goto finish;
        }

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
                if (is_mounted(mounted, t) || is_mounted(mounted, target))
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

/* Mount points are written one per line, a backslash and a newline escaped, so that any path reads back. */
static int put_escaped(FILE *f, const char *s) {
        for (; *s; s++)
                if (*s == '\\')
                        fputs("\\\\", f);
                else if (*s == '\n')
                        fputs("\\n", f);
                else
                        fputc(*s, f);
        return fputc('\n', f) == EOF ? -EIO : 0;
}

static int unescape(char *s) {
        char *w = s;

        for (; *s; s++) {
                if (*s != '\\') {
                        *w++ = *s;
                        continue;
                }
                s++;
                if (*s == '\\')
                        *w++ = '\\';
                else if (*s == 'n')
                        *w++ = '\n';
                else
                        return -EBADMSG;
        }
        *w = 0;
        return 0;
}

/* The target of the innermost mount that holds path (canonical), or NULL. */
static const char *holding_mount(struct libmnt_table *mounted, const char *path) {
        struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
        struct libmnt_fs *fs;
        const char *best = NULL;

        if (!it)
                return NULL;
        while (mnt_table_next_fs(mounted, it, &fs) == 0) {
                const char *t = mnt_fs_get_target(fs);

                /* The last of equal length is the one on top. */
                if (t && t[0] == '/' && path_at_or_under(path, t) && (!best || strlen(t) >= strlen(best)))
                        best = t;
        }
        mnt_free_iter(it);
        return best;
}

static int memory_location(const char *home, char **ret_dir, char **ret_name, char **ret_home) {
        _cleanup_free_ char *dir = NULL, *name = NULL, *h = NULL;
        int r;

        h = realpath(home, NULL);
        if (!h)
                return -errno;
        r = mounts_state_dir(&dir);
        if (r < 0)
                return r;
        name = state_file_name(MEMORY_PREFIX, h);
        if (!name)
                return -ENOMEM;
        *ret_dir = TAKE_PTR(dir);
        *ret_name = TAKE_PTR(name);
        if (ret_home)
                *ret_home = TAKE_PTR(h);
        return 0;
}

int mounts_remember(const char *home, char *const *walked) {
        _cleanup_free_ char *dir = NULL, *name = NULL, *h = NULL, *text = NULL, *h_mount = NULL;
        struct libmnt_table *mounted = NULL;
        char **seen = NULL;
        size_t n_seen = 0, size = 0;
        FILE *f = NULL;
        int r;

        r = memory_location(home, &dir, &name, &h);
        if (r < 0)
                return r;
        mounted = mount_table();
        if (!mounted)
                return -EIO;
        {
                const char *m = holding_mount(mounted, h);

                h_mount = m ? strdup(m) : NULL;
        }
        f = open_memstream(&text, &size);
        if (!f) {
                r = -ENOMEM;
                goto finish;
        }
        fprintf(f, MEMORY_MAGIC "\nhome=");
        (void) put_escaped(f, h);
        for (size_t i = 0; walked && walked[i]; i++) {
                _cleanup_free_ char *c = realpath(walked[i], NULL);
                const char *m;
                bool dup = false;
                char **l;

                if (!c)
                        continue; /* gone since the walk: the next run's walk says what holds */
                m = holding_mount(mounted, c);
                /* The root and the home's own file system are there whenever the home is. */
                if (!m || streq(m, "/") || (h_mount && streq(m, h_mount)))
                        continue;
                for (size_t j = 0; j < n_seen; j++)
                        dup = dup || streq(seen[j], m);
                if (dup)
                        continue;
                l = realloc(seen, (n_seen + 1) * sizeof(char *));
                if (!l) {
                        r = -ENOMEM;
                        goto finish;
                }
                seen = l;
                seen[n_seen] = strdup(m);
                if (!seen[n_seen]) {
                        r = -ENOMEM;
                        goto finish;
                }
                n_seen++;
                fputs("mount=", f);
                (void) put_escaped(f, m);
        }
        fputs("end\n", f);
        if (fflush(f) != 0 || ferror(f)) {
                r = -ENOMEM;
                goto finish;
        }
        fclose(f);
        f = NULL;
        r = state_file_write(dir, name, text);

finish:
        if (f)
                fclose(f);
        for (size_t j = 0; j < n_seen; j++)
                free(seen[j]);
        free(seen);
        mnt_unref_table(mounted);
        return r;
}

int mounts_forget(const char *home) {
        _cleanup_free_ char *dir = NULL, *name = NULL;
        int r;

        r = memory_location(home, &dir, &name, NULL);
        if (r < 0)
                return r;
        return state_file_remove(dir, name);
}

static int memory_error(char **ret_why, int r, const char *dir, const char *name, const char *what) {
        _cleanup_free_ char *problem = r == -EPERM ? state_dir_problem(dir) : NULL;

        if (problem)
                r = asprintf(ret_why, "the memory of mount points cannot be trusted: %s", problem);
        else
                r = asprintf(ret_why, "the memory of mount points %s/%s %s; remove it, or run boxlite-gc "
                             "--forget-mounts, to start a new one", dir, name, what);
        if (r < 0)
                *ret_why = NULL;
        return -EBADMSG;
}

/* Checks the memory of home: 0 when every remembered mount is mounted, 1 with *ret_why, or < 0. */
static int check_memory(const char *home, char **ret_why) {
        _cleanup_free_ char *dir = NULL, *name = NULL, *h = NULL, *buf = NULL;
        struct libmnt_table *mounted = NULL;
        bool magic = false, have_home = false, end = false;
        char *line, *next;
        size_t n;
        int r;

        r = memory_location(home, &dir, &name, &h);
        if (r < 0) {
                if (r != -ENOMEM && asprintf(ret_why, "cannot find the GC's state directory for '%s': %s", home,
                                             strerror(-r)) < 0)
                        *ret_why = NULL;
                return r;
        }
        r = state_file_read(dir, name, MEMORY_MAX_BYTES, &buf, &n);
        if (r == -ENOENT)
                return 0; /* no clean deleting run yet (or forgotten): nothing remembered */
        if (r == -ENOMEM)
                return r;
        if (r == -EPERM)
                return memory_error(ret_why, r, dir, name, "is not a regular file of this user");
        if (r < 0) {
                _cleanup_free_ char *what = NULL;

                if (asprintf(&what, "cannot be read (%s)", strerror(-r)) < 0)
                        return -ENOMEM;
                return memory_error(ret_why, r, dir, name, what);
        }
        if (memchr(buf, 0, n))
                return memory_error(ret_why, r, dir, name, "holds a NUL byte");

        mounted = mount_table();
        if (!mounted) {
                if (asprintf(ret_why, "cannot read the mount table /proc/self/mountinfo") < 0)
                        *ret_why = NULL;
                return -EIO;
        }
        r = 0;
        for (line = buf; *line && r == 0; line = next) {
                next = strchr(line, '\n');
                if (!next)
                        break; /* written whole with its final newline: a cut one lacks "end" */
                *next++ = 0;
                if (!magic) {
                        if (!streq(line, MEMORY_MAGIC))
                                break;
                        magic = true;
                } else if (streq(line, "end")) {
                        end = true;
                        break;
                } else if (!have_home) {
                        if (strncmp(line, "home=", 5) != 0 || unescape(line + 5) < 0 || !streq(line + 5, h))
                                break;
                        have_home = true;
                } else if (strncmp(line, "mount=", 6) == 0) {
                        const char *m = line + 6;

                        if (unescape(line + 6) < 0 || m[0] != '/')
                                break;
                        if (is_mounted(mounted, m))
                                continue;
                        if (asprintf(ret_why, "'%s' was a mount point of this home when the GC last ran clean "
                                     "(remembered in %s/%s) and %s: its boxes would look gone. If the change is "
                                     "deliberate, run 'boxlite-gc --home %s --forget-mounts' once",
                                     m, dir, name, access(m, F_OK) < 0 ? "does not exist now" :
                                     "nothing is mounted there now", home) < 0)
                                r = -ENOMEM;
                        else
                                r = 1;
                }
                /* Other keys are left for a newer version. */
        }
        mnt_unref_table(mounted);
        if (r != 0)
                return r;
        if (!magic || !have_home || !end)
                return memory_error(ret_why, -EBADMSG, dir, name, "is not a complete memory of this home");
        return 0;
}

int mounts_check(const char *home, char **ret_why) {
        int r;

        *ret_why = NULL;
        r = mounts_check_fstab(home, ret_why);
        if (r != 0)
                return r;
        return check_memory(home, ret_why);
}
