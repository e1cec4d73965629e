/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * boxlite.conf (DESIGN.md sections 4 and 10): INI files with [Admission],
 * [GC] and [Monitor] sections, read with libinih in this order, later files overriding earlier:
 *
 *   <confdir>/boxlite.conf
 *   <confdir>/boxlite.conf.d/ *.conf            (sorted by file name)
 *   $XDG_CONFIG_HOME/boxlite/boxlite.conf       (non-root users only; default ~/.config)
 *   $XDG_CONFIG_HOME/boxlite/boxlite.conf.d/ *.conf
 *
 * <confdir> is /etc/boxlite, or $BOXLITE_CONF_DIR when set (containers,
 * tests). Command-line options override every file.
 *
 * config_load() returns 0, or -EINVAL with *ret_error set to a one-line
 * message naming the file, line, section and key of the first invalid value
 * (the caller treats that as a usage error). Unknown sections and keys are
 * reported through the warn callback and ignored, so an older program reads a
 * newer file. A missing file or directory is not an error.
 *
 * Each file must be a regular file of at most CONFIG_FILE_SIZE_MAX bytes
 * (opened without blocking, so a FIFO cannot hang a box start); anything else
 * in its place is an error naming it. Lines are never split: a comment may
 * have any length, a setting line at most libinih's compiled line limit
 * (199 bytes on Debian), and a longer one or a line with a NUL byte is an
 * error naming the file and line. See reader() in config.c.
 */

#include <stdbool.h>
#include <stdint.h>

#include "config-defaults.h"

typedef struct BoxliteConfig {
        AdmitLimits limits;
        bool gc_on_pressure;
        uint64_t probe_timeout_usec;
        uint64_t gc_timeout_usec;    /* [Admission] GcTimeoutSec=: the GC under --gc-on-pressure */
        uint64_t bus_timeout_usec;
        uint64_t gc_grace_usec;
        uint64_t gc_target_free;
        char *gc_metrics_file;
        uint64_t gc_jobs;            /* [GC] Jobs=: workers walking boxes/ (0: automatic) */
        bool gc_allow_no_boxes;      /* [GC] AllowNoBoxes=: a home without a box is real */
        /* [Monitor] (DESIGN.md section 10) */
        uint64_t monitor_reserve_size;
        uint64_t monitor_record_step;  /* 0: a tenth of the soft floor */
        bool monitor_gc;
        char *monitor_metrics_file;
        uint64_t monitor_metrics_top_boxes; /* per-box series for this many boxes, the rest as box="_other" */
        char *monitor_state_dir;       /* NULL: /run/boxlite, $XDG_RUNTIME_DIR/boxlite for users */
} BoxliteConfig;

#define CONFIG_FILE_SIZE_MAX (UINT64_C(1) << 20)
#define CONFIG_BUS_TIMEOUT_DEFAULT_USEC (UINT64_C(500) * 1000)
#define CONFIG_RESERVE_SIZE_DEFAULT (UINT64_C(64) << 20)
#define CONFIG_METRICS_TOP_BOXES_DEFAULT UINT64_C(20)

void config_init(BoxliteConfig *c);
void config_done(BoxliteConfig *c);

typedef void (*ConfigWarn)(const char *message);

/* Reads every file in order into c (which config_init() set up). */
int config_load(BoxliteConfig *c, ConfigWarn warn, char **ret_error);

/* Reads one file; exposed for tests. */
int config_load_file(BoxliteConfig *c, const char *path, ConfigWarn warn, char **ret_error);
