/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * libFuzzer harness for the strict qcow/qcow2 header reader. The input is the
 * beginning of an image file; the reader must never read out of bounds, loop,
 * leak, or accept a header with an out-of-range field.
 */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qcow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        QcowHeader h = {};
        char *reason = NULL;
        int r;

        r = qcow_header_parse(data, size, size, &h, &reason);
        if (r >= 0) {
                assert(h.version >= 1 && h.version <= 3);
                assert(h.cluster_bits >= 9 && h.cluster_bits <= 21);
                assert(!h.backing_file || strlen(h.backing_file) <= QCOW_BACKING_NAME_MAX);
                assert(!h.backing_format || strlen(h.backing_format) <= QCOW_BACKING_FORMAT_MAX);
                assert(h.header_length <= size);
                assert(!reason);
                qcow_header_done(&h);
        } else
                assert(reason);
        free(reason);
        return 0;
}
