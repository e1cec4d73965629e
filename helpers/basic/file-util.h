/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Files named by an operator (a plan to apply, a metrics file to replace)
 * must be what they claim to be: a FIFO must not hang a run, a device must
 * not be read without end or replaced by a regular file.
 *
 * Functions return 0 or a negative errno, and set their ret_ parameters only
 * on success, except ret_what, which names what was found instead when the
 * call fails with -EBADFD or -EEXIST.
 */

#include <stddef.h>
#include <sys/types.h>

/* "a directory", "a FIFO", "a character device", ... for messages ("'x' is a FIFO"). */
const char *inode_type_to_string(mode_t mode);

/*
 * May path be replaced by a rename(2) onto it? Only when nothing is there or
 * it is a regular file: -EEXIST (ret_what set) for a symlink, a device, a
 * directory, a FIFO or a socket; another negative errno if lstat() fails.
 */
int file_check_replaceable(const char *path, const char **ret_what);

/*
 * Reads a whole regular file of at most max_size bytes into a NUL-terminated
 * malloc'ed buffer. Opens with O_NONBLOCK|O_NOCTTY|O_CLOEXEC, so a FIFO does
 * not block; -EBADFD (ret_what set) when it is not a regular file, -EFBIG
 * when it is (or grows while read) larger than max_size.
 */
int read_regular_file(const char *path, size_t max_size, char **ret_data, size_t *ret_size,
                      const char **ret_what);

/* Reads fd (a regular file) from its offset to the end, as read_regular_file() does. */
int read_fd_whole(int fd, size_t max_size, char **ret_data, size_t *ret_size);
