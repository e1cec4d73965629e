/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "child.h"
#include "macro.h"
#include "mounts.h"
#include "path-util.h"
#include "probe.h"

static const char *const part_table[_HOME_PART_MAX] = {
        [HOME_PART_HOME] = "home",
        [HOME_PART_BOXES] = "boxes/",
        [HOME_PART_IMAGES] = "images/",
};

static const char *const part_dir[_HOME_PART_MAX] = {
        [HOME_PART_HOME] = NULL,
        [HOME_PART_BOXES] = "boxes",
        [HOME_PART_IMAGES] = "images",
};

const char *home_part_to_string(HomePart p) {
        return p >= 0 && p < _HOME_PART_MAX ? part_table[p] : NULL;
}

void home_probe_done(HomeProbe *p) {
        for (int i = 0; i < _HOME_PART_MAX; i++) {
                p->path[i] = mfree(p->path[i]);
                p->part[i].source = mfree(p->part[i].source);
                p->part[i].mount_point = mfree(p->part[i].mount_point);
        }
        p->mounts_why = mfree(p->mounts_why);
}

static int part_paths(const char *home, char *ret[static _HOME_PART_MAX]) {
        for (int i = 0; i < _HOME_PART_MAX; i++) {
                int k;

                if (part_dir[i])
                        k = asprintf(&ret[i], "%s%s%s", home, endswith(home, "/") ? "" : "/", part_dir[i]);
                else {
                        ret[i] = strdup(home);
                        k = ret[i] ? 0 : -1;
                }
                if (k < 0) {
                        for (int j = 0; j < i; j++)
                                ret[j] = mfree(ret[j]);
                        return -ENOMEM;
                }
        }
        return 0;
}

/* The mount source and mount point of a device, from the child's /proc/self/mountinfo (proc(5)). */
static void mount_lookup(uint64_t dev, char **ret_source, char **ret_mount_point) {
        _cleanup_free_ char *line = NULL;
        size_t allocated = 0;
        FILE *f;

        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return;
        while (getline(&line, &allocated, f) > 0) {
                unsigned major, minor;
                char *sep, *mp, *fstype, *source;

                if (sscanf(line, "%*u %*u %u:%u", &major, &minor) != 2)
                        continue;
                if (makedev(major, minor) != (dev_t) dev)
                        continue;
                sep = strstr(line, " - ");
                if (!sep)
                        continue;
                *sep = 0;
                /* Fields: id parent major:minor root mount-point ... */
                mp = line;
                for (int i = 0; i < 4 && mp; i++) {
                        mp = strchr(mp, ' ');
                        if (mp)
                                mp++;
                }
                if (!mp)
                        continue;
                mp[strcspn(mp, " ")] = 0;
                fstype = sep + 3;
                source = strchr(fstype, ' ');
                if (!source)
                        continue;
                source++;
                source[strcspn(source, " \n")] = 0;
                *ret_source = strdup(source);
                *ret_mount_point = strdup(mp);
                break;
        }
        fclose(f);
}

/* The record of the mounts check: part index _HOME_PART_MAX, the errno, whether one is missing, and why. */
static int put_mounts(int fd, const char *home) {
        _cleanup_(wire_done) Wire w = {};
        _cleanup_free_ char *why = NULL;
        int r = mounts_check(home, &why);

        wire_put_u64(&w, (uint64_t) _HOME_PART_MAX);
        wire_put_u64(&w, (uint64_t) (r < 0 ? -r : 0));
        wire_put_u64(&w, r > 0);
        for (int i = 3; i < 12; i++)
                wire_put_u64(&w, 0);
        wire_put_str(&w, why);
        wire_put_str(&w, NULL);
        return wire_write(fd, &w) < 0 ? -EIO : 0;
}

static int probe_child(int fd, void *userdata) {
        char **paths = userdata;
        uint64_t dev[_HOME_PART_MAX] = {};
        bool have[_HOME_PART_MAX] = {};

        for (int i = 0; i < _HOME_PART_MAX; i++) {
                _cleanup_(wire_done) Wire w = {};
                _cleanup_free_ char *source = NULL, *mount_point = NULL;
                struct statvfs sv = {};
                struct stat st;
                int error = 0, same_as = -1;
                bool stat_failed = false, absent = false;

                if (stat(paths[i], &st) < 0) {
                        error = errno ?: EIO;
                        stat_failed = true;
                        /* A missing boxes/ or images/ is not judged; a dangling symlink there is an error. */
                        if (i != HOME_PART_HOME && error == ENOENT && lstat(paths[i], &st) < 0 && errno == ENOENT)
                                absent = true;
                } else if (i == HOME_PART_HOME && !S_ISDIR(st.st_mode)) {
                        error = ENOTDIR;
                        stat_failed = true;
                } else {
                        dev[i] = st.st_dev;
                        have[i] = true;
                        for (int j = 0; j < i; j++)
                                if (have[j] && dev[j] == dev[i]) {
                                        same_as = j;
                                        break;
                                }
                        if (same_as < 0) {
                                if (statvfs(paths[i], &sv) < 0)
                                        error = errno ?: EIO;
                                mount_lookup(dev[i], &source, &mount_point);
                        }
                }

                wire_put_u64(&w, (uint64_t) i);
                wire_put_u64(&w, (uint64_t) error);
                wire_put_u64(&w, stat_failed);
                wire_put_u64(&w, absent);
                wire_put_u64(&w, dev[i]);
                wire_put_u64(&w, (uint64_t) (same_as + 1));
                wire_put_u64(&w, sv.f_bavail);
                wire_put_u64(&w, sv.f_blocks);
                wire_put_u64(&w, sv.f_frsize);
                wire_put_u64(&w, sv.f_bsize);
                wire_put_u64(&w, sv.f_favail);
                wire_put_u64(&w, sv.f_files);
                wire_put_str(&w, source);
                wire_put_str(&w, mount_point);
                if (wire_write(fd, &w) < 0)
                        return -EIO;
                /* Without a home there is nothing below it to judge. */
                if (i == HOME_PART_HOME && error != 0)
                        return 0;
        }
        return put_mounts(fd, paths[HOME_PART_HOME]);
}

int home_probe_start(const char *home, pid_t *ret_pid, int *ret_fd) {
        char *paths[_HOME_PART_MAX] = {};
        int r;

        r = part_paths(home, paths);
        if (r < 0)
                return r;
        child_reap_stale();
        r = child_start(probe_child, paths, ret_pid, ret_fd);
        for (int i = 0; i < _HOME_PART_MAX; i++)
                free(paths[i]);
        return r;
}

static int parse_record(WireReader *rd, HomeProbe *p) {
        uint64_t v[12];
        char *source = NULL, *mount_point = NULL;
        PartProbe *pp;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                r = wire_get_u64(rd, &v[i]);
                if (r < 0)
                        return r;
        }
        r = wire_get_str(rd, &source);
        if (r < 0)
                return r;
        r = wire_get_str(rd, &mount_point);
        if (r < 0) {
                free(source);
                return r;
        }
        if (v[0] == _HOME_PART_MAX && v[1] <= 4095) {
                free(mount_point);
                free(p->mounts_why);
                p->mounts_checked = true;
                p->mounts_error = -(int) v[1];
                p->mounts_missing = v[2] != 0;
                p->mounts_why = source;
                return 0;
        }
        if (v[0] >= _HOME_PART_MAX || v[5] > v[0] || v[1] > 4095) {
                free(source);
                free(mount_point);
                return -EBADMSG;
        }
        pp = &p->part[v[0]];
        free(pp->source);
        free(pp->mount_point);
        *pp = (PartProbe) {
                .answered = true,
                .error = -(int) v[1],
                .stat_failed = v[2],
                .absent = v[3],
                .dev = v[4],
                .same_as = (int) v[5] - 1,
                .source = source,
                .mount_point = mount_point,
        };
        space_info_from_statvfs(&pp->space, v[6], v[7], v[8], v[9], v[10], v[11]);
        return 0;
}

int home_probe_parse(const char *home, const void *data, size_t size, bool timed_out, HomeProbe *ret) {
        HomeProbe p = { .timed_out = timed_out };
        WireReader rd = { .data = data, .size = size };
        int r;

        for (int i = 0; i < _HOME_PART_MAX; i++)
                p.part[i].same_as = -1;
        r = part_paths(home, p.path);
        if (r < 0)
                return r;
        /* A record cut short by the deadline is no record. */
        while (!wire_at_end(&rd))
                if (parse_record(&rd, &p) < 0)
                        break;
        *ret = p;
        return 0;
}

int home_probe_run(const char *home, uint64_t timeout_usec, HomeProbe *ret) {
        ChildOutput o = {};
        pid_t pid;
        int fd, r;

        r = home_probe_start(home, &pid, &fd);
        if (r < 0)
                return r;
        r = child_collect(pid, fd, timeout_usec, HOME_PROBE_MAX_BYTES, &o);
        (void) close(fd);
        if (r < 0 && r != -ETIMEDOUT)
                return r;
        r = home_probe_parse(home, o.data, o.size, r == -ETIMEDOUT, ret);
        child_output_done(&o);
        return r;
}
