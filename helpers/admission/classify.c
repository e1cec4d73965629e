/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "classify.h"
#include "macro.h"
#include "time-util.h"
#include "parse-util.h"

static const char *const verdict_table[_VERDICT_MAX] = {
        [VERDICT_OK] = "ok",
        [VERDICT_WARN] = "warn",
        [VERDICT_REJECT] = "reject",
};

static const char *const limit_table[_ADMIT_LIMIT_MAX] = {
        [ADMIT_LIMIT_NONE] = "none",
        [ADMIT_LIMIT_HARD_FLOOR] = "hard-floor",
        [ADMIT_LIMIT_INODE_HARD_FLOOR] = "inode-hard-floor",
        [ADMIT_LIMIT_SOFT_FLOOR] = "soft-floor",
        [ADMIT_LIMIT_SOFT_PERCENT] = "soft-percent",
        [ADMIT_LIMIT_INODE_SOFT_PERCENT] = "inode-soft-percent",
        [ADMIT_LIMIT_UNREADABLE] = "unreadable",
        [ADMIT_LIMIT_MOUNT_MISSING] = "mount-missing",
};

const char *verdict_to_string(Verdict v) {
        return v >= 0 && v < _VERDICT_MAX ? verdict_table[v] : NULL;
}

Verdict verdict_from_string(const char *s) {
        for (int i = 0; s && i < _VERDICT_MAX; i++)
                if (streq(verdict_table[i], s))
                        return (Verdict) i;
        return _VERDICT_INVALID;
}

const char *admit_limit_to_string(AdmitLimit l) {
        return l >= 0 && l < _ADMIT_LIMIT_MAX ? limit_table[l] : NULL;
}

/* available < percent% of total, exactly (128-bit, no rounding). */
static bool below_percent(uint64_t available, uint64_t total, unsigned percent) {
        if (percent == 0 || total == 0)
                return false;
        return (unsigned __int128) available * 100 < (unsigned __int128) total * MIN(percent, 100U);
}

Verdict classify(const AdmitLimits *limits, const SpaceInfo *space, AdmitLimit *ret_limit) {
        bool inodes = space->inodes_total > 0;
        AdmitLimit l;
        Verdict v;

        if (space->available_bytes < limits->hard_floor_bytes)
                v = VERDICT_REJECT, l = ADMIT_LIMIT_HARD_FLOOR;
        else if (inodes && space->inodes_available < limits->inode_hard_floor)
                v = VERDICT_REJECT, l = ADMIT_LIMIT_INODE_HARD_FLOOR;
        else if (space->available_bytes < limits->soft_floor_bytes)
                v = VERDICT_WARN, l = ADMIT_LIMIT_SOFT_FLOOR;
        else if (below_percent(space->available_bytes, space->total_bytes, limits->soft_floor_percent))
                v = VERDICT_WARN, l = ADMIT_LIMIT_SOFT_PERCENT;
        else if (inodes && below_percent(space->inodes_available, space->inodes_total, limits->inode_soft_percent))
                v = VERDICT_WARN, l = ADMIT_LIMIT_INODE_SOFT_PERCENT;
        else
                v = VERDICT_OK, l = ADMIT_LIMIT_NONE;

        if (ret_limit)
                *ret_limit = l;
        return v;
}

uint64_t classify_ok_bytes(const AdmitLimits *limits, uint64_t total_bytes) {
        unsigned __int128 p = ((unsigned __int128) total_bytes * MIN(limits->soft_floor_percent, 100U) + 99) / 100;
        uint64_t need = MAX(limits->soft_floor_bytes, limits->hard_floor_bytes);

        return MAX(need, (uint64_t) p);
}

/* Human sizes for "available < floor"; exact bytes where rounding would print the two the same. */
static void format_floor_pair(char *a, char *b, uint64_t available, uint64_t floor) {
        format_bytes(a, available);
        format_bytes(b, floor);
        if (streq(a, b)) {
                snprintf(a, FORMAT_BYTES_MAX, "%" PRIu64 " B", available);
                snprintf(b, FORMAT_BYTES_MAX, "%" PRIu64 " B", floor);
        }
}

char *classify_reason(const AdmitLimits *limits, const SpaceInfo *s, AdmitLimit limit) {
        char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX], c[FORMAT_BYTES_MAX];
        char *m = NULL;
        int k;

        format_bytes(a, s->available_bytes);
        format_bytes(c, s->total_bytes);
        switch (limit) {
        case ADMIT_LIMIT_HARD_FLOOR:
                format_floor_pair(a, b, s->available_bytes, limits->hard_floor_bytes);
                k = asprintf(&m, "%s available of %s is below the hard floor of %s", a, c, b);
                break;
        case ADMIT_LIMIT_INODE_HARD_FLOOR:
                k = asprintf(&m, "%" PRIu64 " inodes available of %" PRIu64 " is below the inode hard floor of %" PRIu64,
                             s->inodes_available, s->inodes_total, limits->inode_hard_floor);
                break;
        case ADMIT_LIMIT_SOFT_FLOOR:
                format_floor_pair(a, b, s->available_bytes, limits->soft_floor_bytes);
                k = asprintf(&m, "%s available of %s is below the soft floor of %s", a, c, b);
                break;
        case ADMIT_LIMIT_SOFT_PERCENT:
                k = asprintf(&m, "%s available of %s is below the soft floor of %u%% of the filesystem", a, c,
                             limits->soft_floor_percent);
                break;
        case ADMIT_LIMIT_INODE_SOFT_PERCENT:
                k = asprintf(&m, "%" PRIu64 " inodes available of %" PRIu64 " is below the inode soft floor of %u%%",
                             s->inodes_available, s->inodes_total, limits->inode_soft_percent);
                break;
        case ADMIT_LIMIT_NONE:
                k = asprintf(&m, "%s available of %s meets every floor", a, c);
                break;
        default:
                k = asprintf(&m, "free space could not be read");
                break;
        }
        return k < 0 ? NULL : m;
}

static uint64_t mul_sat(uint64_t a, uint64_t b) {
        uint64_t r;

        return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

void space_info_from_statvfs(SpaceInfo *ret, uint64_t bavail, uint64_t blocks, uint64_t frsize, uint64_t bsize,
                             uint64_t favail, uint64_t files) {
        uint64_t unit = frsize ?: bsize;

        *ret = (SpaceInfo) {
                .available_bytes = mul_sat(bavail, unit),
                .total_bytes = mul_sat(blocks, unit),
                .inodes_available = files > 0 ? favail : 0,
                .inodes_total = files,
        };
}

typedef struct ProbeReply {
        int error; /* positive errno, or 0 */
        uint64_t bavail, blocks, frsize, bsize, favail, files;
} ProbeReply;

int space_probe(const char *path, uint64_t timeout_usec, SpaceInfo *ret) {
        _cleanup_close_ int rfd = -1, wfd = -1;
        ProbeReply reply = {};
        uint64_t deadline;
        int fds[2], status;
        ssize_t n;
        pid_t pid;

        /* Reap children of earlier probes that timed out and have since returned (long-lived callers). */
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        rfd = fds[0], wfd = fds[1];

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                struct statvfs sv;

                /* A child stuck in statfs must not keep the caller's output open (a pipe reader would wait). */
                (void) close(STDIN_FILENO);
                (void) close(STDOUT_FILENO);
                (void) close(STDERR_FILENO);
                if (statvfs(path, &sv) < 0)
                        reply.error = errno ?: EIO;
                else
                        reply = (ProbeReply) {
                                .bavail = sv.f_bavail, .blocks = sv.f_blocks, .frsize = sv.f_frsize,
                                .bsize = sv.f_bsize, .favail = sv.f_favail, .files = sv.f_files,
                        };
                _exit(write(wfd, &reply, sizeof(reply)) == (ssize_t) sizeof(reply) ? 0 : 1);
        }
        wfd = safe_close(wfd);

        deadline = now_monotonic_usec() + timeout_usec;
        for (;;) {
                struct pollfd p = { .fd = rfd, .events = POLLIN };
                uint64_t now = now_monotonic_usec();
                int k;

                if (now >= deadline) {
                        /* A child stuck in an uninterruptible statfs may not die at once; do not wait for it. */
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, WNOHANG);
                        return -ETIMEDOUT;
                }
                k = poll(&p, 1, (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT32_MAX));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int e = -errno;
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, WNOHANG);
                        return e;
                }
                if (k > 0)
                        break;
        }

        do
                n = read(rfd, &reply, sizeof(reply));
        while (n < 0 && errno == EINTR);
        (void) waitpid(pid, &status, 0);
        if (n != (ssize_t) sizeof(reply))
                return -EIO;
        if (reply.error > 0)
                return -reply.error;

        space_info_from_statvfs(ret, reply.bavail, reply.blocks, reply.frsize, reply.bsize, reply.favail,
                                reply.files);
        return 0;
}
