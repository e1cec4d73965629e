/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "macro.h"
#include "time-util.h"

void child_output_done(ChildOutput *o) {
        o->data = mfree(o->data);
        o->size = 0;
}

void child_reap_stale(void) {
        /* Only children that have already died: never blocks. */
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
}

int child_start(ChildFunc fn, void *userdata, pid_t *ret_pid, int *ret_fd) {
        _cleanup_close_ int rfd = -1, wfd = -1;
        int fds[2];
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        rfd = fds[0], wfd = fds[1];

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                /* The child writes blocking; the parent's end stays non-blocking. */
                (void) fcntl(wfd, F_SETFL, 0);
                if (null >= 0) {
                        (void) dup2(null, STDIN_FILENO);
                        (void) dup2(null, STDOUT_FILENO);
                        (void) dup2(null, STDERR_FILENO);
                }
                /* Keep nothing of the parent's but the pipe: a child stuck in the kernel must not hold
                 * the caller's bus connection or other files open. */
                if (wfd != 3 && dup2(wfd, 3) >= 0)
                        wfd = 3;
                if (wfd == 3)
                        (void) close_range(4, ~0U, 0);
                (void) signal(SIGPIPE, SIG_IGN);
                _exit(fn(wfd, userdata) >= 0 ? 0 : 1);
        }

        *ret_pid = pid;
        *ret_fd = TAKE_FD(rfd);
        return 0;
}

int child_read_some(int fd, size_t max_bytes, ChildOutput *o) {
        for (;;) {
                uint8_t buf[16384];
                ssize_t n;
                uint8_t *p;

                n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 1;
                if (o->size + (size_t) n > max_bytes)
                        return -EMSGSIZE;
                p = realloc(o->data, o->size + (size_t) n);
                if (!p)
                        return -ENOMEM;
                memcpy(p + o->size, buf, (size_t) n);
                o->data = p;
                o->size += (size_t) n;
        }
}

int child_collect(pid_t pid, int fd, uint64_t timeout_usec, size_t max_bytes, ChildOutput *ret) {
        ChildOutput o = {};
        uint64_t deadline, now = now_monotonic_usec();
        int r;

        deadline = timeout_usec > UINT64_MAX - now ? UINT64_MAX : now + timeout_usec;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int k;

                r = child_read_some(fd, max_bytes, &o);
                if (r != 0)
                        break;

                now = now_monotonic_usec();
                if (now >= deadline) {
                        r = -ETIMEDOUT;
                        break;
                }
                k = poll(&p, 1, (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT32_MAX));
                if (k < 0 && errno != EINTR) {
                        r = -errno;
                        break;
                }
        }

        if (r == 1) {
                /* End of file: the child has written everything and is exiting. */
                (void) waitpid(pid, NULL, 0);
                *ret = o;
                return 0;
        }

        /* A child stuck in an uninterruptible wait may not die at once; do not wait for it. */
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, WNOHANG);
        if (r == -ETIMEDOUT) {
                *ret = o;
                return r;
        }
        child_output_done(&o);
        return r;
}

void wire_done(Wire *w) {
        w->data = mfree(w->data);
        w->size = w->allocated = 0;
}

static void wire_put(Wire *w, const void *p, size_t n) {
        if (w->oom)
                return;
        if (w->size + n > w->allocated) {
                size_t a = MAX(w->allocated * 2, w->size + n + 256);
                uint8_t *d = realloc(w->data, a);

                if (!d) {
                        w->oom = true;
                        return;
                }
                w->data = d;
                w->allocated = a;
        }
        memcpy(w->data + w->size, p, n);
        w->size += n;
}

void wire_put_u64(Wire *w, uint64_t v) {
        wire_put(w, &v, sizeof(v));
}

void wire_put_str(Wire *w, const char *s) {
        wire_put_u64(w, s ? (uint64_t) strlen(s) : UINT64_MAX);
        if (s)
                wire_put(w, s, strlen(s));
}

int wire_write(int fd, const Wire *w) {
        size_t off = 0;

        if (w->oom)
                return -ENOMEM;
        while (off < w->size) {
                ssize_t n = write(fd, w->data + off, w->size - off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                off += (size_t) n;
        }
        return 0;
}

int wire_get_u64(WireReader *r, uint64_t *ret) {
        if (r->offset > r->size || r->size - r->offset < sizeof(uint64_t))
                return -EBADMSG;
        memcpy(ret, r->data + r->offset, sizeof(uint64_t));
        r->offset += sizeof(uint64_t);
        return 0;
}

int wire_get_str(WireReader *r, char **ret) {
        uint64_t n;
        char *s;
        int k;

        k = wire_get_u64(r, &n);
        if (k < 0)
                return k;
        if (n == UINT64_MAX) {
                *ret = NULL;
                return 0;
        }
        if (n > r->size - r->offset)
                return -EBADMSG;
        s = strndup((const char *) r->data + r->offset, (size_t) n);
        if (!s)
                return -ENOMEM;
        r->offset += (size_t) n;
        *ret = s;
        return 0;
}
