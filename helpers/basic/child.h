/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Bounded child processes, and the small wire format they answer in.
 *
 * Anything that may touch a filesystem that never answers (a hung NFS or
 * FUSE mount) runs in a forked child: the admission probes and the GC under
 * admission. The parent waits at most a deadline and SIGKILLs the child past
 * it; a child stuck in an uninterruptible wait is not waited for.
 *
 * child_start() forks. The child has /dev/null as stdin, stdout and stderr
 * (so that a child stuck in the kernel keeps no caller's pipe open), no other
 * file descriptor of the parent's but its pipe, runs fn(fd, userdata) and
 * _exit()s: 0 when fn returned 0 or more, 1 otherwise.
 * The parent gets the child's pid and the read end of its pipe, non-blocking
 * and close-on-exec. Returns 0 or a negative errno.
 *
 * child_collect() reads what the child writes until end of file, then reaps
 * it. Past timeout_usec it SIGKILLs the child and returns -ETIMEDOUT; *ret
 * then holds what had arrived so far (answers are written in records, so a
 * partial answer tells how far the child got). At most max_bytes are kept:
 * more is -EMSGSIZE. *ret is set on 0 and on -ETIMEDOUT only.
 *
 * Wire: u64 values little-endian as in memory (same host), strings as a u64
 * length (UINT64_MAX for NULL) then the bytes. wire_get_*() return
 * -EBADMSG when the data is short, and never read past its end.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ChildOutput {
        uint8_t *data;
        size_t size;
} ChildOutput;

void child_output_done(ChildOutput *o);

typedef int (*ChildFunc)(int fd, void *userdata);

int child_start(ChildFunc fn, void *userdata, pid_t *ret_pid, int *ret_fd);

/* Reads from the child's non-blocking fd what is there now; 1 on end of file, 0 when more may come. */
int child_read_some(int fd, size_t max_bytes, ChildOutput *o);

int child_collect(pid_t pid, int fd, uint64_t timeout_usec, size_t max_bytes, ChildOutput *ret);

/* Reaps children of earlier timed-out probes that have since died (long-lived callers). */
void child_reap_stale(void);

typedef struct Wire {
        uint8_t *data;
        size_t size, allocated;
        bool oom;
} Wire;

void wire_done(Wire *w);
void wire_put_u64(Wire *w, uint64_t v);
void wire_put_str(Wire *w, const char *s);
/* Writes all of w to fd; -ENOMEM when an earlier put failed. */
int wire_write(int fd, const Wire *w);

typedef struct WireReader {
        const uint8_t *data;
        size_t size, offset;
} WireReader;

static inline bool wire_at_end(const WireReader *r) {
        return r->offset >= r->size;
}
int wire_get_u64(WireReader *r, uint64_t *ret);
/* *ret is a new string, or NULL for a NULL string. */
int wire_get_str(WireReader *r, char **ret);
