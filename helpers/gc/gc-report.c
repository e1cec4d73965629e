/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Reporting for GC runs: journal records, the Prometheus textfile, and plans. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "file-util.h"
#include "gc.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "message-ids.h"
#include "mounts.h"
#include "parse-util.h"


void gc_result_log(const GcResult *r) {
        char size[FORMAT_BYTES_MAX];

        for (size_t i = 0; i < r->n_reclaimed; i++) {
                const GcEntry *e = &r->reclaimed[i];
                _cleanup_free_ char *f1 = NULL, *f2 = NULL, *f3 = NULL, *f4 = NULL, *f5 = NULL;
                char *fields[] = {
                        LOG_FIELD(f1, "BOXLITE_HOME=%s", r->home),
                        LOG_FIELD(f2, "BOXLITE_IMAGE=%s", e->path),
                        LOG_FIELD(f3, "BOXLITE_RECLAIMED_BYTES=%" PRIu64, gc_entry_freed_bytes(e)),
                        LOG_FIELD(f4, "BOXLITE_ALLOCATED_BYTES=%" PRIu64, gc_entry_freed_allocated(e)),
                        LOG_FIELD(f5, "BOXLITE_DRY_RUN=%i", r->dry_run),
                };

                (void) log_struct_fields(LOG_INFO, BOXLITE_MESSAGE_GC_RECLAIMED_STR, fields, ELEMENTSOF(fields),
                                         "%s '%s' (%s)", r->dry_run ? "Would reclaim" : "Reclaimed", e->path,
                                         format_bytes(size, gc_entry_freed_allocated(e)));
        }

        for (size_t i = 0; i < r->n_errors; i++) {
                const GcError *e = &r->errors[i];
                _cleanup_free_ char *f1 = NULL, *f2 = NULL, *f3 = NULL, *f4 = NULL;
                char *fields[] = {
                        LOG_FIELD(f1, "BOXLITE_HOME=%s", r->home),
                        LOG_FIELD(f2, "BOXLITE_OVERLAY=%s", e->path),
                        LOG_FIELD(f3, "BOXLITE_ERROR=%s", e->error),
                        LOG_FIELD(f4, "BOXLITE_DRY_RUN=%i", r->dry_run),
                };

                (void) log_struct_fields(LOG_ERR, BOXLITE_MESSAGE_GC_FAIL_CLOSED_STR, fields, ELEMENTSOF(fields),
                                         "'%s': %s%s", e->path, e->error,
                                         r->fail_closed ? "; keeping every disk-image" : "");
        }

        if (r->remember_error < 0) {
                _cleanup_free_ char *dir = NULL;

                (void) mounts_state_dir(&dir);
                log_warning("Could not remember the mount points of '%s' in %s: %s; a disk that is missing on "
                            "a later run is then caught only if fstab declares it", r->home, strna(dir),
                            strerror(-r->remember_error));
        }

        if (r->n_restored > 0 || r->n_put_back > 0) {
                _cleanup_free_ char *f1 = NULL, *f2 = NULL, *f3 = NULL;
                char *fields[] = {
                        LOG_FIELD(f1, "BOXLITE_HOME=%s", r->home),
                        LOG_FIELD(f2, "BOXLITE_RESTORED_COUNT=%zu", r->n_restored),
                        LOG_FIELD(f3, "BOXLITE_PUT_BACK_COUNT=%zu", r->n_put_back),
                };

                (void) log_struct_fields(LOG_NOTICE, BOXLITE_MESSAGE_GC_RESTORED_STR, fields, ELEMENTSOF(fields),
                                         "Put back %zu disk-image(s) left aside by an interrupted run and %zu "
                                         "that became referenced during this run",
                                         r->n_restored, r->n_put_back);
        }

        {
                _cleanup_free_ char *f1 = NULL, *f2 = NULL, *f3 = NULL, *f4 = NULL, *f5 = NULL, *f6 = NULL,
                                    *f7 = NULL, *f8 = NULL, *f9 = NULL;
                char *fields[] = {
                        LOG_FIELD(f1, "BOXLITE_HOME=%s", r->home),
                        LOG_FIELD(f2, "BOXLITE_RECLAIMED_COUNT=%zu", r->n_reclaimed),
                        LOG_FIELD(f3, "BOXLITE_RECLAIMED_BYTES=%" PRIu64, r->reclaimed_bytes),
                        LOG_FIELD(f4, "BOXLITE_KEPT_COUNT=%zu", r->n_kept),
                        LOG_FIELD(f5, "BOXLITE_ERROR_COUNT=%zu", r->n_errors),
                        LOG_FIELD(f6, "BOXLITE_DRY_RUN=%i", r->dry_run),
                        LOG_FIELD(f7, "BOXLITE_FAIL_CLOSED=%i", r->fail_closed),
                        LOG_FIELD(f8, "BOXLITE_AVAILABLE_BYTES=%" PRIu64, r->available_after),
                        LOG_FIELD(f9, "BOXLITE_OVERLAY_COUNT=%zu", r->n_overlays),
                };

                (void) log_struct_fields(gc_result_ok(r) ? LOG_INFO : LOG_WARNING, BOXLITE_MESSAGE_GC_SUMMARY_STR,
                                         fields, ELEMENTSOF(fields),
                                         "%s %zu disk-image(s), %s, in '%s'; kept %zu; %zu overlay(s) walked%s",
                                         r->dry_run ? "Would reclaim" : "Reclaimed", r->n_reclaimed,
                                         format_bytes(size, r->reclaimed_allocated), r->home, r->n_kept,
                                         r->n_overlays,
                                         r->fail_closed ? "; FAILED CLOSED, nothing deleted that could be referenced" :
                                         r->n_errors > 0 ? "; with errors" : "");
        }
}

/* Prometheus label values escape backslash, double quote and newline. */
static char *label_escape(const char *s) {
        char *out = malloc(strlen(s) * 2 + 1), *o = out;

        if (!out)
                return NULL;
        for (; *s; s++) {
                if (*s == '\\' || *s == '"') {
                        *o++ = '\\';
                        *o++ = *s;
                } else if (*s == '\n') {
                        *o++ = '\\';
                        *o++ = 'n';
                } else
                        *o++ = *s;
        }
        *o = 0;
        return out;
}

/* The previous last-success timestamp, carried over when this run did not succeed. */
static double previous_success(const char *path) {
        _cleanup_free_ char *line = NULL;
        size_t n = 0;
        double v = 0;
        FILE *f;

        f = fopen(path, "re");
        if (!f)
                return 0;
        while (getline(&line, &n, f) > 0)
                if (strncmp(line, "boxlite_gc_last_success_timestamp_seconds{", 42) == 0) {
                        const char *sp = strrchr(line, ' ');
                        if (sp)
                                v = strtod(sp + 1, NULL);
                }
        fclose(f);
        return v;
}

int gc_write_metrics(const GcResult *r, const char *path) {
        static const GcKeepReason reasons[] = { GC_KEEP_PINNED, GC_KEEP_GRACE, GC_KEEP_NOT_EXT4, GC_KEEP_UNSAFE,
                                                GC_KEEP_TARGET_MET, GC_KEEP_NOT_IN_PLAN };
        _cleanup_free_ char *tmp = NULL, *home = NULL, *dir = NULL;
        _cleanup_close_ int fd = -1;
        double last_success;
        FILE *f;
        int r2;

        home = label_escape(r->home);
        if (!home || asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;

        /* The rename would replace a device node or a symlink with a regular file: only a file or a new name. */
        r2 = file_check_replaceable(path, NULL);
        if (r2 < 0)
                return r2;

        last_success = gc_result_ok(r) ? (double) r->finished_realtime_usec / 1e6 : previous_success(path);

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, 0644) < 0) {
                r2 = -errno;
                goto fail;
        }
        f = fdopen(fd, "w");
        if (!f) {
                r2 = -errno;
                goto fail;
        }
        fd = -1;

        fprintf(f, "# HELP boxlite_gc_reclaimed_bytes Bytes (apparent size) the last GC run reclaimed.\n"
                   "# TYPE boxlite_gc_reclaimed_bytes gauge\n"
                   "boxlite_gc_reclaimed_bytes{home=\"%s\",dry_run=\"%i\"} %" PRIu64 "\n",
                home, r->dry_run, r->reclaimed_bytes);
        fprintf(f, "# HELP boxlite_gc_reclaimed_allocated_bytes Allocated bytes the last GC run freed.\n"
                   "# TYPE boxlite_gc_reclaimed_allocated_bytes gauge\n"
                   "boxlite_gc_reclaimed_allocated_bytes{home=\"%s\",dry_run=\"%i\"} %" PRIu64 "\n",
                home, r->dry_run, r->reclaimed_allocated);
        fprintf(f, "# HELP boxlite_gc_reclaimed_files Disk-images the last GC run reclaimed.\n"
                   "# TYPE boxlite_gc_reclaimed_files gauge\n"
                   "boxlite_gc_reclaimed_files{home=\"%s\",dry_run=\"%i\"} %zu\n",
                home, r->dry_run, r->n_reclaimed);
        fprintf(f, "# HELP boxlite_gc_kept_files Files the last GC run kept, by reason.\n"
                   "# TYPE boxlite_gc_kept_files gauge\n");
        for (size_t i = 0; i < ELEMENTSOF(reasons); i++) {
                size_t n = 0;
                for (size_t j = 0; j < r->n_kept; j++)
                        if (r->kept[j].reason == reasons[i])
                                n++;
                fprintf(f, "boxlite_gc_kept_files{home=\"%s\",reason=\"%s\"} %zu\n", home,
                        gc_keep_reason_to_string(reasons[i]), n);
        }
        fprintf(f, "# HELP boxlite_gc_errors Errors in the last GC run (a non-zero value means it failed closed).\n"
                   "# TYPE boxlite_gc_errors gauge\n"
                   "boxlite_gc_errors{home=\"%s\"} %zu\n",
                home, r->n_errors);
        fprintf(f, "# HELP boxlite_gc_duration_seconds Wall-clock duration of the last GC run.\n"
                   "# TYPE boxlite_gc_duration_seconds gauge\n"
                   "boxlite_gc_duration_seconds{home=\"%s\"} %.6f\n",
                home, (double) r->duration_usec / 1e6);
        fprintf(f, "# HELP boxlite_gc_last_success_timestamp_seconds When a GC run last finished without errors.\n"
                   "# TYPE boxlite_gc_last_success_timestamp_seconds gauge\n"
                   "boxlite_gc_last_success_timestamp_seconds{home=\"%s\"} %.3f\n",
                home, last_success);

        if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) < 0) {
                r2 = -errno ?: -EIO;
                fclose(f);
                goto fail;
        }
        if (fclose(f) != 0) {
                r2 = -errno;
                goto fail;
        }
        /* Again right before the rename: something may have been put there while we wrote. */
        r2 = file_check_replaceable(path, NULL);
        if (r2 < 0)
                goto fail;
        if (rename(tmp, path) < 0) {
                r2 = -errno;
                goto fail;
        }

        /* Make the rename itself durable. */
        dir = strdup(path);
        if (dir) {
                char *slash = strrchr(dir, '/');
                int dfd;

                if (slash == dir)
                        slash[1] = 0;
                else if (slash)
                        *slash = 0;
                dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0) {
                        (void) fsync(dfd);
                        (void) close(dfd);
                }
        }
        return 0;

fail:
        (void) unlink(tmp);
        return r2;
}

/* A plan lists each reclaimable image in a few hundred bytes: 256 MiB is far beyond any real home. */
#define GC_PLAN_SIZE_MAX ((size_t) 256 << 20)

void gc_plan_free(GcPlanEntry *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(p[i].path);
        free(p);
}

static int plan_fail(char **ret_reason, const char *reason, int r) {
        if (ret_reason)
                *ret_reason = strdup(reason);
        return r;
}

static const char *plan_name(const char *path) {
        const char *slash = strrchr(path, '/');

        return slash ? slash + 1 : path;
}

static int plan_cmp(const void *a, const void *b) {
        const GcPlanEntry *x = a, *y = b;
        int c = strcmp(x->name, y->name);

        return c != 0 ? c : (x->index > y->index) - (x->index < y->index);
}

const GcPlanEntry *gc_plan_find(const GcPlanEntry *plan, size_t n, const char *name) {
        size_t lo = 0, hi = n;

        /* The lower bound of name: the entry listed first in the file when several share it. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (strcmp(plan[mid].name, name) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < n && streq(plan[lo].name, name) ? &plan[lo] : NULL;
}

static bool get_u64(json_object *o, const char *key, uint64_t *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return false;
        if (json_object_is_type(v, json_type_int)) {
                int64_t i = json_object_get_int64(v);
                if (i < 0)
                        return false;
                *ret = (uint64_t) i;
                return true;
        }
        if (json_object_is_type(v, json_type_string))
                return parse_uint64(json_object_get_string(v), ret) >= 0;
        return false;
}

int gc_plan_load(const char *path, GcPlanEntry **ret, size_t *ret_n, char **ret_reason) {
        _cleanup_(json_object_putp) json_object *root = NULL;
        json_object *arr;
        GcPlanEntry *plan;
        size_t n;

        _cleanup_free_ char *data = NULL;
        const char *what = NULL;
        json_tokener *tok;
        size_t data_size;
        int r;

        /* A FIFO would block and /dev/zero would never end: a regular file of bounded size only. */
        r = read_regular_file(path, GC_PLAN_SIZE_MAX, &data, &data_size, &what);
        if (r == -ENOMEM)
                return r;
        if (r == -EBADFD) {
                if (ret_reason && asprintf(ret_reason, "is %s, not a regular file", what) < 0)
                        *ret_reason = NULL;
                return -EINVAL;
        }
        if (r == -EFBIG)
                return plan_fail(ret_reason, "larger than 256 MiB, which no plan is", -EINVAL);
        if (r < 0) {
                if (ret_reason && asprintf(ret_reason, "cannot be read: %s", strerror(-r)) < 0)
                        *ret_reason = NULL;
                return -EINVAL;
        }

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        root = json_tokener_parse_ex(tok, data, (int) data_size);
        if (json_tokener_get_error(tok) != json_tokener_success && root) {
                (void) json_object_put(root);
                root = NULL;
        }
        json_tokener_free(tok);
        if (!root)
                return plan_fail(ret_reason, "not a JSON document", -EINVAL);
        if (!json_object_object_get_ex(root, "reclaimed", &arr) || !json_object_is_type(arr, json_type_array))
                return plan_fail(ret_reason, "no \"reclaimed\" array (expected the output of boxlite-gc --dry-run --json)",
                                 -EINVAL);

        n = json_object_array_length(arr);
        plan = calloc(n + 1, sizeof(GcPlanEntry));
        if (!plan)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(arr, i), *p;
                uint64_t dev, ino, size, mtime;

                if (!json_object_object_get_ex(e, "path", &p) || !json_object_is_type(p, json_type_string) ||
                    !get_u64(e, "dev", &dev) || !get_u64(e, "ino", &ino) || !get_u64(e, "size", &size) ||
                    !get_u64(e, "mtime_nsec", &mtime)) {
                        gc_plan_free(plan, i);
                        return plan_fail(ret_reason,
                                         "a reclaimed entry lacks path, dev, ino, size or mtime_nsec", -EINVAL);
                }
                plan[i] = (GcPlanEntry) {
                        .path = strdup(json_object_get_string(p)),
                        .index = i,
                        .dev = (dev_t) dev,
                        .ino = (ino_t) ino,
                        .size = size,
                        .mtime_nsec = (int64_t) mtime,
                };
                if (!plan[i].path) {
                        gc_plan_free(plan, i);
                        return -ENOMEM;
                }
                plan[i].name = plan_name(plan[i].path);
        }
        /* Matching the candidates is then n log n, not n * m. */
        if (n > 1)
                qsort(plan, n, sizeof(GcPlanEntry), plan_cmp);
        *ret = plan;
        *ret_n = n;
        return 0;
}
