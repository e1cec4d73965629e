/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The pressure monitor's Prometheus textfile (DESIGN.md section 10); see monitor-metrics.h. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gc.h"
#include "home.h"
#include "macro.h"
#include "monitor-metrics.h"
#include "usage.h"

/* Prometheus label values escape backslash, double quote and newline. */
static char *label_escape(const char *s) {
        char *out = malloc(strlen(s) * 2 + 1), *o = out;

        if (!out)
                return NULL;
        for (; *s; s++) {
                if (*s == '\\' || *s == '"')
                        *o++ = '\\';
                if (*s == '\n') {
                        *o++ = '\\';
                        *o++ = 'n';
                } else
                        *o++ = *s;
        }
        *o = 0;
        return out;
}

/* The series that sums the boxes beyond [Monitor] MetricsTopBoxes=. */
#define METRICS_OTHER_BOX "_other"

static void write_metrics_body(const MonitorCheck *r, FILE *f, const char *home, const Usage *u, bool have_usage) {
        uint64_t top = r->o->config->monitor_metrics_top_boxes;
        _cleanup_free_ SpaceInfo *space = calloc(MAX(r->n_reserves, (size_t) 1), sizeof(SpaceInfo));
        _cleanup_free_ bool *readable = calloc(MAX(r->n_reserves, (size_t) 1), sizeof(bool));

        /* One bounded probe per part, for both families below. */
        for (size_t i = 0; space && readable && i < r->n_reserves; i++)
                readable[i] = space_probe(r->reserves[i].dir, r->o->config->probe_timeout_usec, &space[i]) >= 0;

        fprintf(f, "# HELP boxlite_home_available_bytes Bytes available to an unprivileged writer, per filesystem "
                   "part of the home.\n# TYPE boxlite_home_available_bytes gauge\n");
        for (size_t i = 0; space && readable && i < r->n_reserves; i++)
                if (readable[i])
                        fprintf(f, "boxlite_home_available_bytes{home=\"%s\",part=\"%s\"} %" PRIu64 "\n", home,
                                r->reserves[i].part, space[i].available_bytes);
        fprintf(f, "# HELP boxlite_home_total_bytes Size of the filesystem, per part of the home.\n"
                   "# TYPE boxlite_home_total_bytes gauge\n");
        for (size_t i = 0; space && readable && i < r->n_reserves; i++)
                if (readable[i])
                        fprintf(f, "boxlite_home_total_bytes{home=\"%s\",part=\"%s\"} %" PRIu64 "\n", home,
                                r->reserves[i].part, space[i].total_bytes);
        fprintf(f, "# HELP boxlite_home_verdict The monitor's verdict: 0 ok, 1 warn, 2 reject.\n"
                   "# TYPE boxlite_home_verdict gauge\n"
                   "boxlite_home_verdict{home=\"%s\"} %d\n", home, (int) r->final.verdict);
        fprintf(f, "# HELP boxlite_home_readable 1 when the free space of the home could be read.\n"
                   "# TYPE boxlite_home_readable gauge\n"
                   "boxlite_home_readable{home=\"%s\"} %d\n", home, r->final.readable ? 1 : 0);
        fprintf(f, "# HELP boxlite_reserve_bytes Allocated bytes of the reserve, per filesystem part.\n"
                   "# TYPE boxlite_reserve_bytes gauge\n");
        for (size_t i = 0; i < r->n_reserves; i++)
                fprintf(f, "boxlite_reserve_bytes{home=\"%s\",part=\"%s\"} %" PRIu64 "\n", home,
                        r->reserves[i].part,
                        r->reserves[i].state == RESERVE_HELD ? r->reserves[i].bytes : UINT64_C(0));
        fprintf(f, "# HELP boxlite_reserve_released 1 while the monitor has released the reserve and not "
                   "created it again.\n# TYPE boxlite_reserve_released gauge\n");
        for (size_t i = 0; i < r->n_reserves; i++)
                fprintf(f, "boxlite_reserve_released{home=\"%s\",part=\"%s\"} %d\n", home, r->reserves[i].part,
                        r->reserves[i].state == RESERVE_RELEASED ? 1 : 0);
        if (have_usage) {
                fprintf(f, "# HELP boxlite_box_allocated_bytes Allocated bytes of a box's overlays (disks and "
                           "snapshots).\n# TYPE boxlite_box_allocated_bytes gauge\n");
                /* The largest boxes (usage lists them largest first) one by one, the rest as one "_other". */
                for (size_t i = 0; i < MIN((uint64_t) u->n_boxes, top); i++) {
                        _cleanup_free_ char *box = label_escape(u->boxes[i].box);

                        if (box)
                                fprintf(f, "boxlite_box_allocated_bytes{home=\"%s\",box=\"%s\"} %" PRIu64 "\n",
                                        home, box, u->boxes[i].allocated_bytes);
                }
                if ((uint64_t) u->n_boxes > top) {
                        uint64_t other = 0;

                        for (size_t i = (size_t) top; i < u->n_boxes; i++)
                                other += u->boxes[i].allocated_bytes;
                        fprintf(f, "boxlite_box_allocated_bytes{home=\"%s\",box=\"" METRICS_OTHER_BOX "\"} %" PRIu64
                                "\n", home, other);
                }
                fprintf(f, "# HELP boxlite_home_boxes Boxes of the home, whether or not they have a series of "
                           "their own.\n# TYPE boxlite_home_boxes gauge\n"
                           "boxlite_home_boxes{home=\"%s\"} %zu\n", home, u->n_boxes);
                fprintf(f, "# HELP boxlite_home_committed_growth_bytes What the home's live overlays (in disks/) "
                           "may still grow: virtual size minus allocated bytes.\n# TYPE boxlite_home_committed_growth_bytes gauge\n"
                           "boxlite_home_committed_growth_bytes{home=\"%s\"} %" PRIu64 "\n", home,
                        u->committed_growth_bytes);
        }
        fprintf(f, "# HELP boxlite_monitor_gc_reclaimed_bytes Allocated bytes the monitor's last collection freed.\n"
                   "# TYPE boxlite_monitor_gc_reclaimed_bytes gauge\n"
                   "boxlite_monitor_gc_reclaimed_bytes{home=\"%s\"} %" PRIu64 "\n", home,
                r->gc ? r->gc->reclaimed_allocated : UINT64_C(0));
        fprintf(f, "# HELP boxlite_monitor_last_run_timestamp_seconds When the monitor last checked the home.\n"
                   "# TYPE boxlite_monitor_last_run_timestamp_seconds gauge\n"
                   "boxlite_monitor_last_run_timestamp_seconds{home=\"%s\"} %.3f\n", home,
                (double) r->now_usec / 1e6);
}

/* The textfile, atomically: a temporary file beside it, fsync, rename, fsync of the directory. */
int monitor_write_metrics(const MonitorCheck *r, const char *path) {
        _cleanup_free_ char *tmp = NULL, *home = NULL, *dir = NULL;
        _cleanup_(home_scan_done) HomeScan scan = {};
        _cleanup_(usage_done) Usage u = {};
        ChainOptions co = { .reader = QCOW_READER_BUILTIN };
        _cleanup_close_ int fd = -1;
        bool have_usage;
        char *slash;
        FILE *f;
        int k;

        home = label_escape(r->o->home);
        if (!home || asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        /* The same walk as the GC and "boxlite-chainwalk --usage"; a home that cannot be walked has no
         * per-box figures this time. */
        k = home_scan(r->o->home, &co, /* sums_only= */ true, gc_jobs(0), &scan);
        if (k >= 0)
                k = usage_compute(r->o->home, &scan, &u);
        if (k == -ENOMEM)
                return k;
        have_usage = k >= 0;

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w"))) {
                k = -errno;
                (void) unlink(tmp);
                return k;
        }
        fd = -1;
        write_metrics_body(r, f, home, &u, have_usage);
        if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) < 0) {
                k = errno > 0 ? -errno : -EIO;
                fclose(f);
                (void) unlink(tmp);
                return k;
        }
        if (fclose(f) != 0 || rename(tmp, path) < 0) {
                k = -errno;
                (void) unlink(tmp);
                return k;
        }
        dir = strdup(path);
        if (dir && (slash = strrchr(dir, '/'))) {
                _cleanup_close_ int dfd = -1;

                slash[slash == dir ? 1 : 0] = 0;
                dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0)
                        (void) fsync(dfd);
        }
        return 0;
}

