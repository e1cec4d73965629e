/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A part of the home that is not mounted looks like an empty directory, and
 * every image under a bare boxes/ looks unreferenced. mounts_check_home()
 * reads fstab with util-linux's libmount (which honours LIBMOUNT_FSTAB) and
 * returns 0 when every file system it declares at or under the home is
 * mounted, 1 with *ret_why (naming the mount point and the fstab) when one is
 * not, or a negative errno when fstab or the mount table cannot be read (an
 * fstab that does not exist declares nothing).
 */

int mounts_check_home(const char *home, char **ret_why);
