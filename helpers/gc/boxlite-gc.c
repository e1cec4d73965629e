/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* boxlite-gc: delete disk-images that no box overlay's backing chain references. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "config.h"
#include "escape.h"
#include "file-util.h"
#include "gc.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "path-util.h"
#include "time-util.h"

static char *arg_home = NULL;
static bool arg_dry_run = false;
static bool arg_json = false;
static unsigned arg_verbosity = 0; /* CliVerbosity */
static uint64_t arg_grace_usec = GC_GRACE_DEFAULT_USEC;
static uint64_t arg_target_free = 0;
static const char *arg_metrics_file = NULL;
static bool arg_grace_set = false, arg_target_free_set = false, arg_metrics_file_set = false;
static BoxliteConfig arg_config;
static const char *arg_apply_plan = NULL;
static unsigned arg_jobs = 0;
static bool arg_jobs_set = false;
static bool arg_allow_no_boxes = false;
static bool arg_forget_mounts = false;

/* The errors that mean the home itself is wrong, not the run. */
#define IN_SET_ERRNO_HOME(r) ((r) == -ENOENT || (r) == -ENOTDIR || (r) == -EACCES)

static void help(void) {
        printf("Usage: %s [OPTIONS]\n"
               "\n"
               "Delete cached disk-images (HOME/images/disk-images/*.ext4) that no backing chain of\n"
               "any overlay under HOME/boxes/ or HOME/bases/ references. When any overlay cannot be\n"
               "read completely, nothing is deleted.\n"
               "\n"
               "Options:\n"
               "  -h --help              Show this help and exit\n"
               "     --version           Show the version and exit\n"
               "     --home PATH         The boxlite home (default: $BOXLITE_HOME, /var/lib/boxlite\n"
               "                         for root, ~/.boxlite otherwise)\n"
               "  -n --dry-run           Report what a real run would reclaim; change nothing\n"
               "     --json              Print the report as JSON\n"
               "  -q --quiet             Print no report; only errors on stderr\n"
               "  -v --verbose           Also log each decision on stderr\n"
               "     --grace SPAN        Keep images changed within SPAN (default: 10min)\n"
               "     --target-free SIZE  Stop once SIZE bytes are available on the home's filesystem,\n"
               "                         reclaiming least recently used images first (K, M, G, T)\n"
               "     --metrics-file FILE Write a Prometheus textfile (atomically) for node_exporter\n"
               "     --apply-plan FILE   Delete only the images in FILE (saved --dry-run --json output)\n"
               "                         that are unchanged and still unreferenced\n"
               "     --jobs N            Walk boxes/ with N workers (default: one per CPU, up to 4)\n"
               "     --allow-no-boxes    Collect a home whose boxes/ holds no box (by default nothing\n"
               "                         is deleted then: an unmounted disk looks the same)\n"
               "     --forget-mounts     Forget the mount points remembered for this home, after a\n"
               "                         disk was removed on purpose; the run remembers them anew\n"
               "\n"
               "Exit status: 0 success, 1 an error (the run kept what it could not prove unreferenced),\n"
               "2 usage error. Defaults come from the [GC] section of /etc/boxlite/boxlite.conf and\n"
               "boxlite.conf.d/*.conf. See boxlite-gc(8) and boxlite.conf(5).\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_HOME,
                ARG_JSON,
                ARG_GRACE,
                ARG_TARGET_FREE,
                ARG_METRICS_FILE,
                ARG_APPLY_PLAN,
                ARG_ALLOW_NO_BOXES,
                ARG_FORGET_MOUNTS,
                ARG_JOBS,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "home", required_argument, NULL, ARG_HOME },
                { "dry-run", no_argument, NULL, 'n' },
                { "json", no_argument, NULL, ARG_JSON },
                { "quiet", no_argument, NULL, 'q' },
                { "verbose", no_argument, NULL, 'v' },
                { "grace", required_argument, NULL, ARG_GRACE },
                { "target-free", required_argument, NULL, ARG_TARGET_FREE },
                { "metrics-file", required_argument, NULL, ARG_METRICS_FILE },
                { "apply-plan", required_argument, NULL, ARG_APPLY_PLAN },
                { "jobs", required_argument, NULL, ARG_JOBS },
                { "allow-no-boxes", no_argument, NULL, ARG_ALLOW_NO_BOXES },
                { "forget-mounts", no_argument, NULL, ARG_FORGET_MOUNTS },
                {}
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "hnqv", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("%s %s\n", program_invocation_short_name, PROJECT_VERSION);
                        return 0;
                case ARG_HOME:
                        if (!optarg[0])
                                return cli_usage_error("--home needs a path");
                        free(arg_home);
                        arg_home = strdup(optarg);
                        if (!arg_home)
                                return log_oom();
                        break;
                case 'n':
                        arg_dry_run = true;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case 'q':
                case 'v':
                        arg_verbosity |= CLI_VERBOSITY_FLAG(c);
                        break;
                case ARG_GRACE:
                        arg_grace_set = true;
                        if (parse_timespan(optarg, &arg_grace_usec) < 0)
                                return cli_usage_error("invalid --grace '%s': expected a time span such as 10min, "
                                                   "30s or 1h",
                                                   optarg);
                        break;
                case ARG_TARGET_FREE:
                        arg_target_free_set = true;
                        if (parse_size(optarg, &arg_target_free) < 0 || arg_target_free == 0)
                                return cli_usage_error("invalid --target-free '%s': expected a size such as 20G, "
                                                   "512M or bytes",
                                                   optarg);
                        break;
                case ARG_METRICS_FILE:
                        if (!optarg[0])
                                return cli_usage_error("--metrics-file needs a path");
                        arg_metrics_file = optarg;
                        arg_metrics_file_set = true;
                        break;
                case ARG_APPLY_PLAN:
                        arg_apply_plan = optarg;
                        break;
                case ARG_JOBS: {
                        uint64_t n;

                        if (parse_uint64(optarg, &n) < 0 || n < 1 || n > GC_JOBS_MAX)
                                return cli_usage_error("invalid --jobs '%s': expected a number from 1 to %u", optarg,
                                                       GC_JOBS_MAX);
                        arg_jobs = (unsigned) n;
                        arg_jobs_set = true;
                        break;
                }
                case ARG_ALLOW_NO_BOXES:
                        arg_allow_no_boxes = true;
                        break;
                case ARG_FORGET_MOUNTS:
                        arg_forget_mounts = true;
                        break;
                case '?':
                        return cli_bad_option(argv, options, "hnqv");
                default:
                        return -EINVAL;
                }

        if (optind < argc)
                return cli_usage_error("unexpected argument '%s'", argv[optind]);
        if (cli_set_verbosity(arg_verbosity) < 0)
                return -EINVAL;
        if (arg_apply_plan && arg_dry_run)
                return cli_usage_error("--apply-plan and --dry-run are mutually exclusive");
        if (arg_apply_plan && arg_target_free)
                return cli_usage_error("--apply-plan and --target-free are mutually exclusive");
        return 1;
}

static json_object *entry_to_json(const GcEntry *e, bool reclaimed) {
        json_object *o = json_object_new_object();

        json_add_string(o, "path", e->path);
        if (reclaimed) {
                json_object_object_add(o, "bytes", json_object_new_int64((int64_t) gc_entry_freed_bytes(e)));
                json_object_object_add(o, "allocated_bytes", json_object_new_int64((int64_t) gc_entry_freed_allocated(e)));
                json_object_object_add(o, "size", json_object_new_int64((int64_t) e->size));
                json_object_object_add(o, "nlink", json_object_new_int64((int64_t) e->nlink));
                json_object_object_add(o, "dev", json_object_new_int64((int64_t) e->dev));
                json_object_object_add(o, "ino", json_object_new_int64((int64_t) e->ino));
                json_object_object_add(o, "mtime_nsec", json_object_new_int64(e->mtime_nsec));
                if (e->detail)
                        json_add_string(o, "detail", e->detail);
        } else {
                json_add_string(o, "reason", gc_keep_reason_to_string(e->reason));
                if (e->detail)
                        json_add_string(o, "detail", e->detail);
                if (e->counted) {
                        json_object_object_add(o, "bytes", json_object_new_int64((int64_t) e->size));
                        json_object_object_add(o, "allocated_bytes", json_object_new_int64((int64_t) e->allocated));
                }
        }
        return o;
}

static void config_warn(const char *message) {
        log_warning("%s", message);
}

/* [GC] of boxlite.conf supplies what the command line did not. */
static int load_config(void) {
        _cleanup_free_ char *error = NULL;
        int r;

        config_init(&arg_config);
        r = config_load(&arg_config, config_warn, &error);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                log_error("%s", error);
                return -EINVAL;
        }
        if (!arg_grace_set)
                arg_grace_usec = arg_config.gc_grace_usec;
        if (!arg_target_free_set && !arg_apply_plan)
                arg_target_free = arg_config.gc_target_free;
        if (!arg_metrics_file_set)
                arg_metrics_file = arg_config.gc_metrics_file;
        if (!arg_jobs_set)
                arg_jobs = (unsigned) arg_config.gc_jobs;
        arg_allow_no_boxes = arg_allow_no_boxes || arg_config.gc_allow_no_boxes;
        return 0;
}

static json_object *json_u64(uint64_t v) {
        return json_object_new_int64((int64_t) MIN(v, (uint64_t) INT64_MAX));
}

/* The report is written as it is built, entry by entry: a home with 100k images must not need 100k objects. */
static int print_json(const GcResult *r) {
        JsonStream s;

        json_stream_begin(&s, stdout);
        json_stream_member(&s, "home", json_new_string_sanitized(r->home));
        json_stream_member(&s, "dry_run", json_object_new_boolean(r->dry_run));
        json_stream_member(&s, "ok", json_object_new_boolean(gc_result_ok(r)));
        json_stream_member(&s, "fail_closed", json_object_new_boolean(r->fail_closed));
        json_stream_array_begin(&s, "reclaimed");
        for (size_t i = 0; i < r->n_reclaimed; i++)
                json_stream_element(&s, entry_to_json(&r->reclaimed[i], true));
        json_stream_array_end(&s);
        json_stream_member(&s, "reclaimed_count", json_u64(r->n_reclaimed));
        json_stream_member(&s, "reclaimed_bytes", json_u64(r->reclaimed_bytes));
        json_stream_member(&s, "reclaimed_allocated_bytes", json_u64(r->reclaimed_allocated));
        json_stream_array_begin(&s, "kept");
        for (size_t i = 0; i < r->n_kept; i++)
                json_stream_element(&s, entry_to_json(&r->kept[i], false));
        json_stream_array_end(&s);
        json_stream_member(&s, "kept_count", json_u64(r->n_kept));
        json_stream_array_begin(&s, "errors");
        for (size_t i = 0; i < r->n_errors; i++) {
                json_object *e = json_object_new_object();

                json_add_string(e, "path", r->errors[i].path);
                json_add_string(e, "error", r->errors[i].error);
                json_stream_element(&s, e);
        }
        json_stream_array_end(&s);
        json_stream_member(&s, "overlays", json_u64(r->n_overlays));
        json_stream_member(&s, "walk_passes", json_u64(r->walk_passes));
        json_stream_member(&s, "walk_rounds", json_u64(r->walk_rounds));
        json_stream_member(&s, "walk_rewalked", json_u64(r->walk_rewalked));
        if (r->rechecked) {
                json_object *rc = json_object_new_object();

                json_object_object_add(rc, "walked_again", json_object_new_boolean(r->recheck_walked));
                json_object_object_add(rc, "reread", json_u64(r->recheck_reread));
                if (r->recheck_why)
                        (void) json_add_string(rc, "why", r->recheck_why);
                json_stream_member(&s, "recheck", rc);
        }
        json_stream_member(&s, "restored_count", json_u64(r->n_restored));
        json_stream_member(&s, "put_back_count", json_u64(r->n_put_back));
        json_stream_member(&s, "available_bytes_before", json_u64(r->available_before));
        json_stream_member(&s, "available_bytes_after", json_u64(r->available_after));
        if (r->target_free > 0)
                json_stream_member(&s, "target_free_bytes", json_u64(r->target_free));
        json_stream_member(&s, "duration_usec", json_u64(r->duration_usec));
        return json_stream_end(&s);
}

/* The GC could not start at all (no such home, ...): the same document, with nothing done and the error. */
static void print_json_failed(const char *home, bool dry_run, int error) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *errors = json_object_new_array(), *e = json_object_new_object();

        json_add_string(o, "home", home);
        json_object_object_add(o, "dry_run", json_object_new_boolean(dry_run));
        json_object_object_add(o, "ok", json_object_new_boolean(false));
        json_object_object_add(o, "fail_closed", json_object_new_boolean(true));
        json_object_object_add(o, "reclaimed", json_object_new_array());
        json_object_object_add(o, "reclaimed_count", json_object_new_int64(0));
        json_object_object_add(o, "reclaimed_bytes", json_object_new_int64(0));
        json_object_object_add(o, "reclaimed_allocated_bytes", json_object_new_int64(0));
        json_object_object_add(o, "kept", json_object_new_array());
        json_object_object_add(o, "kept_count", json_object_new_int64(0));
        json_add_string(e, "path", home);
        json_add_string(e, "error", strerror(-error));
        json_object_array_add(errors, e);
        json_object_object_add(o, "errors", errors);
        json_object_object_add(o, "overlays", json_object_new_int64(0));

        puts(json_object_to_json_string_ext(o, JSON_OUTPUT_PRETTY));
}

/* One row of the image table; a name that is not printable is escaped. */
static void print_row(const GcEntry *e, bool show_size, int64_t now_nsec, const char *why, const char *detail) {
        char size[FORMAT_BYTES_MAX], age[FORMAT_AGE_MAX];
        _cleanup_free_ char *name = cescape(e->name ?: e->path);

        printf("%-40s %10s %10s  %s%s%s\n", name ?: "?", show_size ? format_bytes(size, e->size) : "-",
               e->newest_nsec > 0 && now_nsec > e->newest_nsec ?
                       format_age(age, (uint64_t) (now_nsec - e->newest_nsec) / 1000) : "-",
               why, detail ? ": " : "", strempty(detail));
}

static void print_human(const GcResult *r) {
        char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX];
        size_t by_reason[_GC_KEEP_REASON_MAX] = {};
        int64_t now = now_file_clock_nsec();
        const char *sep = " (";

        if (r->n_reclaimed + r->n_kept > 0)
                printf("%-40s %10s %10s  %s\n", "IMAGE", "SIZE", "AGE", "WHY");
        for (size_t i = 0; i < r->n_reclaimed; i++)
                print_row(&r->reclaimed[i], true, now, r->dry_run ? "would reclaim: unreferenced" : "reclaimed: unreferenced",
                          NULL);
        for (size_t i = 0; i < r->n_kept; i++) {
                _cleanup_free_ char *why = NULL;
                const GcEntry *e = &r->kept[i];

                by_reason[e->reason]++;
                if (asprintf(&why, "kept: %s", gc_keep_reason_to_string(e->reason)) < 0)
                        why = NULL;
                print_row(e, e->counted, now, why ?: "kept", e->detail);
        }

        printf("%s %zu disk-image%s, %s apparent, %s allocated; %zu overlay%s walked.\n",
               r->dry_run ? "Would reclaim" : "Reclaimed", r->n_reclaimed, r->n_reclaimed == 1 ? "" : "s",
               format_bytes(a, r->reclaimed_bytes), format_bytes(b, r->reclaimed_allocated), r->n_overlays,
               r->n_overlays == 1 ? "" : "s");
        if (r->n_kept == 0)
                printf("Kept nothing.\n");
        else {
                printf("Kept %zu", r->n_kept);
                for (int i = 0; i < _GC_KEEP_REASON_MAX; i++)
                        if (by_reason[i]) {
                                printf("%s%zu %s", sep, by_reason[i], gc_keep_reason_to_string((GcKeepReason) i));
                                sep = ", ";
                        }
                printf(").\n");
        }
        printf("Available: %s before, %s after.\n", format_bytes(a, r->available_before),
               format_bytes(b, r->available_after));
        if (r->fail_closed)
                printf("FAILED CLOSED: %zu error%s; no image that could be referenced was deleted.\n", r->n_errors,
                       r->n_errors == 1 ? "" : "s");
}

int main(int argc, char *argv[]) {
        _cleanup_(gc_result_freep) GcResult *res = NULL;
        GcPlanEntry *plan = NULL;
        size_t n_plan = 0;
        GcOptions o = {};
        int r, ret = EXIT_FAILURE;

        log_setup("boxlite-gc");

        r = parse_argv(argc, argv);
        if (r <= 0) {
                free(arg_home);
                return r < 0 ? EXIT_USAGE : cli_flush_stdout() < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        r = load_config();
        if (r < 0) {
                free(arg_home);
                config_done(&arg_config);
                return r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE;
        }

        if (!arg_home) {
                r = cli_default_home(&arg_home);
                if (r < 0) {
                        config_done(&arg_config);
                        return EXIT_FAILURE;
                }
        }

        if (arg_metrics_file) {
                const char *what = NULL;

                /* Refuse before collecting anything: the report could not be written anyway. */
                r = file_check_replaceable(arg_metrics_file, &what);
                if (r == -EEXIST) {
                        log_error("invalid --metrics-file '%s': it is %s; only a regular file or a new name is "
                                  "replaced", arg_metrics_file, what);
                        free(arg_home);
                        config_done(&arg_config);
                        return EXIT_USAGE;
                }
        }

        if (arg_apply_plan) {
                _cleanup_free_ char *reason = NULL;

                r = gc_plan_load(arg_apply_plan, &plan, &n_plan, &reason);
                if (r < 0) {
                        log_error("invalid --apply-plan '%s': %s", arg_apply_plan, reason ?: strerror(-r));
                        free(arg_home);
                        config_done(&arg_config);
                        return EXIT_USAGE;
                }
        }

        o = (GcOptions) {
                .home = arg_home,
                .grace_usec = arg_grace_usec,
                .dry_run = arg_dry_run,
                .target_free = arg_target_free,
                .plan = plan,
                .n_plan = n_plan,
                .use_plan = !!arg_apply_plan,
                .jobs = arg_jobs,
                .allow_no_boxes = arg_allow_no_boxes,
                .forget_mounts = arg_forget_mounts,
        };
        gc_options_from_env(&o);

        r = gc_run(&o, &res);
        if (r < 0) {
                if (IN_SET_ERRNO_HOME(r))
                        log_error_errno(r, "Cannot collect garbage in '%s': %s (%m); give the home with --home "
                                        "PATH or $BOXLITE_HOME, and run as its owner or root.", arg_home,
                                        r == -ENOENT ? "the home does not exist" :
                                        r == -ENOTDIR ? "the home is not a directory" : "the home cannot be read");
                else
                        log_error_errno(r, "Failed to collect garbage in '%s': %m", arg_home);
                if (arg_json)
                        print_json_failed(arg_home, arg_dry_run, r);
                goto finish;
        }

        gc_result_log(res);
        if (arg_json)
                (void) print_json(res); /* a write error shows in cli_flush_stdout() below */
        else if (!(arg_verbosity & CLI_QUIET) && !log_journal_only())
                /* Under systemd the structured entries already say all of this. */
                print_human(res);

        ret = gc_result_ok(res) ? EXIT_SUCCESS : EXIT_FAILURE;

        if (arg_metrics_file) {
                r = gc_write_metrics(res, arg_metrics_file);
                if (r < 0) {
                        log_error_errno(r, "Failed to write metrics file '%s': %m", arg_metrics_file);
                        ret = EXIT_FAILURE;
                }
        }

finish:
        /* A report that could not be written is a failed run, whatever it says. */
        if (cli_flush_stdout() < 0)
                ret = EXIT_FAILURE;
        gc_plan_free(plan, n_plan);
        config_done(&arg_config);
        free(arg_home);
        return ret;
}
