/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Path helpers: the boxlite home default, symbolic links, names. Functions
 * returning char* return NULL only on OOM. QEMU's rules for backing file
 * names are in qemu-path.h.
 */

#include <stdbool.h>

/* The default boxlite home: $BOXLITE_HOME, /var/lib/boxlite for root, ~/.boxlite otherwise. */
int path_default_home(char **ret);

/* The target of the symbolic link name in dir_fd (bounded to PATH_MAX). */
int path_readlinkat(int dir_fd, const char *name, char **ret);

bool filename_is_hidden(const char *name);
bool endswith(const char *s, const char *suffix);
