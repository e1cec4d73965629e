/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A part of the home that is not mounted looks like an empty directory, and
 * every image under a bare boxes/ looks unreferenced. Two checks catch it,
 * neither of which stats a mount (a hung one would hang the caller):
 *
 * - fstab: every file system fstab declares at or under the home (read with
 *   util-linux's libmount, which honours LIBMOUNT_FSTAB) must be mounted;
 * - memory: every clean deleting GC run records the mount points its walk
 *   crossed (a directory on another device than the one above it: boxes/, a
 *   symlinked box's disk, ...) as the mounts that hold them, in a state file
 *   of its own (state-file.h) in the GC's state directory; each recorded
 *   mount must still be mounted. A deliberate change is accepted with
 *   mounts_forget() (boxlite-gc --forget-mounts).
 *
 * mounts_check() returns 0 when both hold, 1 with *ret_why naming the mount
 * point, where it was declared or remembered and how to accept a deliberate
 * change, or a negative errno with *ret_why saying what could not be read
 * (fstab, the mount table, the memory).
 */

/* The GC's state directory: $BOXLITE_STATE_DIRECTORY, else /var/lib/boxlite-host for root and
 * $XDG_STATE_HOME/boxlite-host (~/.local/state/boxlite-host) for users. */
int mounts_state_dir(char **ret);

int mounts_check(const char *home, char **ret_why);

/* Records the mounts that hold walked (NULL-terminated paths of directories the walk found on
 * another device than their parent) as home's memory, replacing the old one. */
int mounts_remember(const char *home, char *const *walked);

/* Removes home's memory; 0 also when there was none. */
int mounts_forget(const char *home);

/* fstab alone: 0, 1 with *ret_why, or a negative errno. */
int mounts_check_fstab(const char *home, char **ret_why);
