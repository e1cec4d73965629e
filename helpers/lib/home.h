/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The boxlite home layout (DESIGN.md section 1):
 *
 *   <home>/images/disk-images/sha256-<hex>.ext4
 *   <home>/boxes/<box-id>/disks/<name>.qcow2
 *   <home>/boxes/<box-id>/snapshots/<name>/disk.qcow2
 *   <home>/bases/<name>.qcow2, <home>/bases/<id>.ext4
 *
 * Listing functions return 0 and a NULL-terminated, sorted strv of paths, or
 * a negative errno when a directory that must be read cannot be (a missing
 * boxes/ is an empty home, not an error). On failure *ret_failed_path names
 * the directory that could not be read.
 */

/* Every <home>/boxes/<id>/disks/<name>.qcow2 (hidden entries skipped). */
int home_list_disk_overlays(const char *home, char ***ret, char **ret_failed_path);

void strv_free(char **l);
size_t strv_length(char *const *l);
