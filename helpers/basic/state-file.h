/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Small state files of the programs (the monitor's last verdict, the GC's
 * memory of a home's mount points): one file per home in a state directory,
 * named after the escaped home path, written whole and atomically (temporary
 * file, fsync, rename) and read back only from a directory and a file that
 * are safe: the directory owned by root or us and writable by no one else,
 * the file a regular file of ours (no symlink, no FIFO), of bounded size.
 */

#include <stdbool.h>
#include <stddef.h>

/* systemd-escape --path; NULL on OOM. Names longer than NAME_MAX allows are cut and given a hash. */
char *state_escape_path(const char *path);

/* "<prefix>-<escaped home>.state" (malloc'ed), or NULL on OOM. */
char *state_file_name(const char *prefix, const char *home);

/*
 * Opens dir (O_DIRECTORY) after checking it is safe: -EPERM when it is owned
 * by another user or writable by its group or others (state_dir_problem()
 * says why), or another negative errno.
 */
int state_dir_open(const char *dir);

/* Why dir is refused as a state directory and what would be accepted, in words (malloc'ed), or NULL. */
char *state_dir_problem(const char *dir);

/*
 * Reads dir/name whole into a NUL-terminated buffer. -ENOENT when there is no
 * such file, -EPERM when the directory is not safe or the file is not a
 * regular file of ours, -EFBIG when it is over max bytes, another negative
 * errno when it cannot be read.
 */
int state_file_read(const char *dir, const char *name, size_t max, char **ret, size_t *ret_size);

/* Creates dir (mode 0755, 0700 for users) if needed and replaces dir/name with text atomically. */
int state_file_write(const char *dir, const char *name, const char *text);

/* Removes dir/name; 0 also when there was none. */
int state_file_remove(const char *dir, const char *name);
