/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * QEMU's rules for backing file names (block.c: path_has_protocol(),
 * path_combine(), bdrv_get_full_backing_filename_from_filename()).
 * Functions returning char* return NULL only on OOM.
 */

#include <stdbool.h>

/* "proto:..." where no '/' comes before the first ':' (QEMU's test). */
bool path_has_protocol(const char *path);

/* Returns the text after "file:", or NULL if name does not start with it. */
const char *path_strip_file_protocol(const char *name);

/* QEMU's path_combine(): name relative to the directory of base (kept as written, no normalization). */
char *path_combine(const char *base, const char *name);

/*
 * The name QEMU opens for a backing or data file named `name` in the image
 * `image` (its full-backing-filename): absolute or protocol names as is,
 * anything else combined with the image's directory.
 */
char *path_full_backing_name(const char *image, const char *name);
