/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Where a home's overlay space goes, for the monitor's metrics: per box the
 * allocated bytes (st_blocks * 512) of its overlays, every *.qcow2 in
 * boxes/<id>/disks/ and boxes/<id>/snapshots/<name>/, and over the home the
 * committed growth, the sum of virtual size minus allocated bytes of those
 * overlays (from the qcow2 header, built-in reader). Hard links and one file
 * reached twice count once (st_dev, st_ino). Hidden entries (staged clones
 * boxes/.tmp*, the reserve) are not boxes.
 *
 * Directories are opened relative to their parent and may be symlinks (an
 * operator moves a box to another disk); files are opened O_NONBLOCK and
 * must be regular, so a FIFO never blocks. Each directory is read up to
 * BOX_USAGE_MAX_ENTRIES entries. An overlay that cannot be read is counted
 * in n_unreadable and left out of the sums.
 *
 * home_usage_read() returns 0 (an absent boxes/ is an empty home), or a
 * negative errno.
 */

#include <stddef.h>
#include <stdint.h>

#define BOX_USAGE_MAX_ENTRIES 100000U

typedef struct BoxUsage {
        char *box;
        uint64_t allocated_bytes;
        uint64_t virtual_bytes;
        size_t n_overlays;
} BoxUsage;

typedef struct HomeUsage {
        BoxUsage *boxes;  /* sorted by allocated bytes, largest first */
        size_t n_boxes;
        uint64_t allocated_bytes;
        uint64_t committed_growth_bytes;
        size_t n_unreadable;
} HomeUsage;

int home_usage_read(const char *home, HomeUsage *ret);
void home_usage_done(HomeUsage *u);
