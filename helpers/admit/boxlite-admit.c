/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * boxlite-admit: may a box start on this home now? (DESIGN.md sections 4-6)
 *
 * Run as a box unit's ExecStartPre=, it judges the free space of the home's
 * filesystem, writes one journal entry, emits the Decided signal when a bus
 * answers, and exits 0 for ok and warn, 75 for reject. With --serve it is the
 * org.boxlite.Admission1 D-Bus service instead.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "admission-json.h"
#include "admission.h"
#include "admit.h"
#include "bus-util.h"
#include "cli.h"
#include "config.h"
#include "escape.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "path-util.h"

#define IDLE_DEFAULT_USEC (UINT64_C(30) * 1000000)
/* Every timeout becomes now + span; bounded so that no deadline overflows (see parse_timeout()). */
#define IDLE_MAX_USEC (UINT64_C(86400) * 1000000)

static char *arg_home = NULL;
static const char *arg_box = NULL;
static const char *arg_unit = NULL;
static bool arg_json = false;
static unsigned arg_verbosity = 0; /* CliVerbosity */
static bool arg_no_bus = false;
static bool arg_user = false;
static bool arg_serve = false;
static bool arg_monitor = false;
static bool arg_release_reserve = false;
static const char *arg_metrics_file = NULL;
static uint64_t arg_idle_usec = IDLE_DEFAULT_USEC;
static BoxliteConfig arg_config;

/* Command-line values, applied over the configuration files. */
static struct {
        bool hard_floor, soft_floor, soft_percent, inode_hard_floor, inode_soft_percent, gc_on_pressure, grace,
                probe_timeout, bus_timeout, gc_timeout;
        BoxliteConfig v;
} arg_set;

static void help(void) {
        printf("%s [OPTIONS...]\n"
               "%s --serve [--user] [--idle-timeout SPAN]\n"
               "%s --monitor [--home PATH] [--json] [--metrics-file FILE] [--no-bus]\n"
               "%s --release-reserve [--home PATH]\n\n"
               "Decide whether a box may start, from the free space of the filesystems of its home,\n"
               "boxes/ and images/.\n\n"
               "  -h --help                 Show this help\n"
               "     --version              Show the version\n"
               "     --home PATH            The boxlite home (default: $BOXLITE_HOME, /var/lib/boxlite\n"
               "                            for root, ~/.boxlite otherwise)\n"
               "     --box ID               Label the decision with the box (a drop-in passes %%i)\n"
               "     --unit NAME            Label the decision with the unit (a drop-in passes %%n)\n"
               "     --hard-floor SIZE      Reject below this many available bytes (default 1G)\n"
               "     --soft-floor SIZE      Warn below this many available bytes (default 5G)\n"
               "     --soft-percent N       Warn below N%% of the filesystem available (default 10)\n"
               "     --inode-hard-floor N   Reject below N available inodes (default 10000)\n"
               "     --inode-soft-percent N Warn below N%% of the inodes available (default 5)\n"
               "     --gc-on-pressure       On warn or reject, collect unreferenced disk-images and judge again\n"
               "     --grace SPAN           Grace window of that collection (default 10min)\n"
               "     --gc-timeout SPAN      Stop that collection after SPAN (default 10s): the first verdict decides\n"
               "     --probe-timeout SPAN   Give up reading free space after SPAN (default 2s): warn\n"
               "     --json                 Print the decision as JSON\n"
               "  -q --quiet                Print no report; only errors on stderr (the exit status says it)\n"
               "  -v --verbose              Also log each decision on stderr\n"
               "     --no-bus               Do not emit the Decided D-Bus signal\n"
               "     --bus-timeout SPAN     Wait at most SPAN for the bus to take the signal (default 500ms)\n"
               "     --serve                Serve org.boxlite.Admission1 on the system bus\n"
               "     --user                 Use the session bus instead of the system bus\n"
               "     --idle-timeout SPAN    With --serve, exit after SPAN without calls (default 30s)\n"
               "     --monitor              One pressure check of the home (what boxlite-monitor@.timer runs)\n"
               "     --metrics-file FILE    With --monitor, write a Prometheus textfile\n"
               "     --release-reserve      Release the home's reserve files now (a full disk's first step)\n\n"
               "Exit status: 0 ok or warn, 75 reject (EX_TEMPFAIL), 2 usage error, 1 internal error.\n"
               "Defaults come from /etc/boxlite/boxlite.conf and boxlite.conf.d/*.conf; see boxlite.conf(5).\n",
               program_invocation_short_name, program_invocation_short_name, program_invocation_short_name,
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_HOME,
                ARG_BOX,
                ARG_UNIT,
                ARG_HARD_FLOOR,
                ARG_SOFT_FLOOR,
                ARG_SOFT_PERCENT,
                ARG_INODE_HARD_FLOOR,
                ARG_INODE_SOFT_PERCENT,
                ARG_GC_ON_PRESSURE,
                ARG_GRACE,
                ARG_GC_TIMEOUT,
                ARG_PROBE_TIMEOUT,
                ARG_JSON,
                ARG_NO_BUS,
                ARG_BUS_TIMEOUT,
                ARG_SERVE,
                ARG_USER,
                ARG_IDLE_TIMEOUT,
                ARG_MONITOR,
                ARG_METRICS_FILE,
                ARG_RELEASE_RESERVE,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "home", required_argument, NULL, ARG_HOME },
                { "box", required_argument, NULL, ARG_BOX },
                { "unit", required_argument, NULL, ARG_UNIT },
                { "hard-floor", required_argument, NULL, ARG_HARD_FLOOR },
                { "soft-floor", required_argument, NULL, ARG_SOFT_FLOOR },
                { "soft-percent", required_argument, NULL, ARG_SOFT_PERCENT },
                { "inode-hard-floor", required_argument, NULL, ARG_INODE_HARD_FLOOR },
                { "inode-soft-percent", required_argument, NULL, ARG_INODE_SOFT_PERCENT },
                { "gc-on-pressure", no_argument, NULL, ARG_GC_ON_PRESSURE },
                { "grace", required_argument, NULL, ARG_GRACE },
                { "gc-timeout", required_argument, NULL, ARG_GC_TIMEOUT },
                { "probe-timeout", required_argument, NULL, ARG_PROBE_TIMEOUT },
                { "json", no_argument, NULL, ARG_JSON },
                { "quiet", no_argument, NULL, 'q' },
                { "verbose", no_argument, NULL, 'v' },
                { "no-bus", no_argument, NULL, ARG_NO_BUS },
                { "bus-timeout", required_argument, NULL, ARG_BUS_TIMEOUT },
                { "serve", no_argument, NULL, ARG_SERVE },
                { "user", no_argument, NULL, ARG_USER },
                { "idle-timeout", required_argument, NULL, ARG_IDLE_TIMEOUT },
                { "monitor", no_argument, NULL, ARG_MONITOR },
                { "metrics-file", required_argument, NULL, ARG_METRICS_FILE },
                { "release-reserve", no_argument, NULL, ARG_RELEASE_RESERVE },
                {}
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "hqv", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("boxlite-admit %s\n", PROJECT_VERSION);
                        return 0;
                case ARG_HOME:
                        if (!optarg[0])
                                return cli_usage_error("--home needs a path");
                        free(arg_home);
                        arg_home = strdup(optarg);
                        if (!arg_home)
                                return log_oom();
                        break;
                case ARG_BOX:
                        arg_box = optarg;
                        break;
                case ARG_UNIT:
                        arg_unit = optarg;
                        break;
                case ARG_HARD_FLOOR:
                        if (parse_size(optarg, &arg_set.v.limits.hard_floor_bytes) < 0)
                                return cli_usage_error("invalid --hard-floor '%s': expected a size such as 1G, "
                                                       "512M or bytes", optarg);
                        arg_set.hard_floor = true;
                        break;
                case ARG_SOFT_FLOOR:
                        if (parse_size(optarg, &arg_set.v.limits.soft_floor_bytes) < 0)
                                return cli_usage_error("invalid --soft-floor '%s': expected a size such as 5G, "
                                                       "512M or bytes", optarg);
                        arg_set.soft_floor = true;
                        break;
                case ARG_SOFT_PERCENT:
                        if (parse_percent(optarg, &arg_set.v.limits.soft_floor_percent) < 0)
                                return cli_usage_error("invalid --soft-percent '%s': expected a number from 0 "
                                                       "to 100", optarg);
                        arg_set.soft_percent = true;
                        break;
                case ARG_INODE_HARD_FLOOR:
                        if (parse_uint64(optarg, &arg_set.v.limits.inode_hard_floor) < 0)
                                return cli_usage_error("invalid --inode-hard-floor '%s': expected a number of "
                                                       "inodes", optarg);
                        arg_set.inode_hard_floor = true;
                        break;
                case ARG_INODE_SOFT_PERCENT:
                        if (parse_percent(optarg, &arg_set.v.limits.inode_soft_percent) < 0)
                                return cli_usage_error("invalid --inode-soft-percent '%s': expected a number "
                                                       "from 0 to 100", optarg);
                        arg_set.inode_soft_percent = true;
                        break;
                case ARG_GC_ON_PRESSURE:
                        arg_set.v.gc_on_pressure = arg_set.gc_on_pressure = true;
                        break;
                case ARG_GRACE:
                        if (parse_timespan(optarg, &arg_set.v.gc_grace_usec) < 0)
                                return cli_usage_error("invalid --grace '%s': expected a time span such as "
                                                       "10min, 30s or 1h", optarg);
                        arg_set.grace = true;
                        break;
                case ARG_GC_TIMEOUT:
                        if (parse_timeout(optarg, TIMEOUT_MAX_USEC, &arg_set.v.gc_timeout_usec) < 0 ||
                            arg_set.v.gc_timeout_usec == 0)
                                return cli_usage_error("invalid --gc-timeout '%s': expected a non-zero time "
                                                       "span of at most 1h, such as 10s", optarg);
                        arg_set.gc_timeout = true;
                        break;
                case ARG_PROBE_TIMEOUT:
                        if (parse_timeout(optarg, TIMEOUT_MAX_USEC, &arg_set.v.probe_timeout_usec) < 0 ||
                            arg_set.v.probe_timeout_usec == 0)
                                return cli_usage_error("invalid --probe-timeout '%s': expected a non-zero time "
                                                       "span of at most 1h, such as 2s", optarg);
                        arg_set.probe_timeout = true;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case 'q':
                case 'v':
                        arg_verbosity |= CLI_VERBOSITY_FLAG(c);
                        break;
                case ARG_NO_BUS:
                        arg_no_bus = true;
                        break;
                case ARG_BUS_TIMEOUT:
                        if (parse_timeout(optarg, TIMEOUT_MAX_USEC, &arg_set.v.bus_timeout_usec) < 0)
                                return cli_usage_error("invalid --bus-timeout '%s': expected a time span of at "
                                                       "most 1h, such as 500ms", optarg);
                        arg_set.bus_timeout = true;
                        break;
                case ARG_SERVE:
                        arg_serve = true;
                        break;
                case ARG_USER:
                        arg_user = true;
                        break;
                case ARG_IDLE_TIMEOUT:
                        if (parse_timeout(optarg, IDLE_MAX_USEC, &arg_idle_usec) < 0 || arg_idle_usec == 0)
                                return cli_usage_error("invalid --idle-timeout '%s': expected a non-zero time "
                                                       "span of at most 1d, such as 30s", optarg);
                        break;
                case ARG_MONITOR:
                        arg_monitor = true;
                        break;
                case ARG_METRICS_FILE:
                        if (optarg[0] != '/')
                                return cli_usage_error("invalid --metrics-file '%s': expected an absolute path",
                                                       optarg);
                        arg_metrics_file = optarg;
                        break;
                case ARG_RELEASE_RESERVE:
                        arg_release_reserve = true;
                        break;
                case '?':
                        return cli_bad_option(argv, options, "hqv");
                default:
                        return -EINVAL;
                }

        if (optind < argc)
                return cli_usage_error("unexpected argument '%s'", argv[optind]);
        if (arg_serve + arg_monitor + arg_release_reserve > 1)
                return cli_usage_error("--serve, --monitor and --release-reserve exclude each other");
        if (arg_metrics_file && !arg_monitor)
                return cli_usage_error("--metrics-file needs --monitor");
        if (cli_set_verbosity(arg_verbosity) < 0)
                return -EINVAL;
        return 1;
}

static void config_warn(const char *message) {
        log_warning("%s", message);
}

/* Configuration files first, then every option given on the command line. */
static int load_config(void) {
        _cleanup_free_ char *error = NULL;
        BoxliteConfig *c = &arg_config;
        int r;

        config_init(c);
        r = config_load(c, config_warn, &error);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                log_error("%s", error);
                return -EINVAL;
        }

        if (arg_set.hard_floor)
                c->limits.hard_floor_bytes = arg_set.v.limits.hard_floor_bytes;
        if (arg_set.soft_floor)
                c->limits.soft_floor_bytes = arg_set.v.limits.soft_floor_bytes;
        if (arg_set.soft_percent)
                c->limits.soft_floor_percent = arg_set.v.limits.soft_floor_percent;
        if (arg_set.inode_hard_floor)
                c->limits.inode_hard_floor = arg_set.v.limits.inode_hard_floor;
        if (arg_set.inode_soft_percent)
                c->limits.inode_soft_percent = arg_set.v.limits.inode_soft_percent;
        if (arg_set.gc_on_pressure)
                c->gc_on_pressure = true;
        if (arg_set.grace)
                c->gc_grace_usec = arg_set.v.gc_grace_usec;
        if (arg_set.probe_timeout)
                c->probe_timeout_usec = arg_set.v.probe_timeout_usec;
        if (arg_set.bus_timeout)
                c->bus_timeout_usec = arg_set.v.bus_timeout_usec;
        if (arg_set.gc_timeout)
                c->gc_timeout_usec = arg_set.v.gc_timeout_usec;
        return 0;
}

static void print_json(const Decision *d) {
        _cleanup_(json_object_putp) json_object *o = admit_judgement_to_json(&d->final);
        json_object *limits = json_object_new_object();

        json_add_string(o, "home", d->home);
        if (d->box)
                json_add_string(o, "box", d->box);
        if (d->unit)
                json_add_string(o, "unit", d->unit);
        json_object_object_add(limits, "hard_floor_bytes", json_object_new_uint64(d->limits.hard_floor_bytes));
        json_object_object_add(limits, "soft_floor_bytes", json_object_new_uint64(d->limits.soft_floor_bytes));
        json_object_object_add(limits, "soft_floor_percent", json_object_new_uint64(d->limits.soft_floor_percent));
        json_object_object_add(limits, "inode_hard_floor", json_object_new_uint64(d->limits.inode_hard_floor));
        json_object_object_add(limits, "inode_soft_percent", json_object_new_uint64(d->limits.inode_soft_percent));
        json_object_object_add(o, "limits", limits);
        json_object_object_add(o, "exit_status", json_object_new_int(decision_exit_status(d)));

        if (d->gc_ran) {
                json_object *gc = admit_gc_to_json(&d->first, d->gc_target_free, d->gc, d->gc_error);

                json_object_object_add(gc, "timeout_usec", json_object_new_uint64(d->gc_timeout_usec));
                json_object_object_add(gc, "timed_out", json_object_new_boolean(d->gc_error == -ETIMEDOUT));
                json_object_object_add(o, "gc", gc);
        }
        if (d->gc_skipped)
                json_add_string(o, "gc_skipped", d->gc_skipped);
        puts(json_object_to_json_string_ext(o, JSON_OUTPUT_PRETTY));
}

static void print_judgement(const char *label, const Judgement *j) {
        char a[FORMAT_BYTES_MAX], t[FORMAT_BYTES_MAX];

        printf("%s%s: %s\n", label, *label ? " verdict" : "Verdict", verdict_to_string(j->verdict));
        if (j->readable) {
                printf("  available: %s of %s", format_bytes(a, j->space.available_bytes),
                       format_bytes(t, j->space.total_bytes));
                if (j->space.inodes_total > 0)
                        printf(", %" PRIu64 " of %" PRIu64 " inodes", j->space.inodes_available,
                               j->space.inodes_total);
                printf("\n");
        }
        if (j->n_filesystems > 1)
                for (size_t i = 0; i < j->n_filesystems; i++) {
                        const FsJudgement *f = &j->filesystems[i];

                        printf("  %s on ", home_part_to_string(f->part));
                        (void) fputs_escaped(f->source ?: f->path, stdout);
                        printf(": %s, ", verdict_to_string(f->verdict));
                        (void) fputs_escaped(f->reason, stdout);
                        printf("\n");
                }
        printf("  reason: ");
        (void) fputs_escaped(j->reason, stdout);
        printf("\n");
}

static void print_human(const Decision *d) {
        char a[FORMAT_BYTES_MAX];

        if (d->gc_ran) {
                print_judgement("First", &d->first);
                if (d->gc)
                        printf("Garbage collection: reclaimed %zu disk-image%s, %s%s\n", d->gc->n_reclaimed,
                               d->gc->n_reclaimed == 1 ? "" : "s", format_bytes(a, d->gc->reclaimed_allocated),
                               gc_result_ok(d->gc) ? "" : " (failed closed: see the errors above)");
                else if (d->gc_error == -ETIMEDOUT)
                        printf("Garbage collection: did not finish within %" PRIu64 " ms, stopped; the first "
                               "verdict decides\n", d->gc_timeout_usec / 1000);
                else
                        printf("Garbage collection: could not run: %s\n", strerror(-d->gc_error));
                print_judgement("Final", &d->final);
        } else
                print_judgement("", &d->final);
}

static int run_once(void) {
        _cleanup_(decision_freep) Decision *d = NULL;
        AdmitRequest req = {
                .home = arg_home,
                .box = arg_box,
                .unit = arg_unit,
                .limits = arg_config.limits,
                .probe_timeout_usec = arg_config.probe_timeout_usec,
                .gc_on_pressure = arg_config.gc_on_pressure,
                .gc_grace_usec = arg_config.gc_grace_usec,
                .gc_jobs = (unsigned) arg_config.gc_jobs,
                .gc_allow_no_boxes = arg_config.gc_allow_no_boxes,
                .gc_timeout_usec = arg_config.gc_timeout_usec,
        };
        int r;

        r = admission_decide(&req, &d);
        if (r < 0) {
                log_oom();
                return EXIT_FAILURE;
        }

        if (d->gc) {
                gc_result_log(d->gc);
        } else if (d->gc_ran)
                log_warning_errno(d->gc_error, "Garbage collection of '%s' could not run, ignoring: %m", d->home);

        admission_log(d);

        if (!arg_no_bus) {
                r = bus_emit_decided(d, arg_user, arg_config.bus_timeout_usec);
                if (r < 0)
                        log_debug_errno(r, "Could not emit the Decided signal, ignoring: %m");
        }

        if (arg_json)
                print_json(d);
        else if (!(arg_verbosity & CLI_QUIET) && !log_journal_only())
                print_human(d);

        /*
         * A gate keeps its verdict's exit status only when the report it was asked for was written: a reject
         * stays 75 (the box must not start either way), but an ok or warn whose report was lost is 1, so
         * that a caller reading the report never takes silence for a verdict.
         */
        r = decision_exit_status(d);
        if (cli_flush_stdout() < 0 && r == EXIT_SUCCESS)
                return EXIT_FAILURE;
        return r;
}

int main(int argc, char *argv[]) {
        int r, ret;

        log_setup("boxlite-admit");

        r = parse_argv(argc, argv);
        if (r <= 0) {
                free(arg_home);
                return r < 0 ? EXIT_USAGE : cli_flush_stdout() < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        r = load_config();
        if (r < 0) {
                free(arg_home);
                return r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE;
        }

        if (!arg_home) {
                r = cli_default_home(&arg_home);
                if (r < 0) {
                        config_done(&arg_config);
                        return EXIT_FAILURE;
                }
        }

        if (arg_serve) {
                ServeOptions o = {
                        .config = &arg_config,
                        .default_home = arg_home,
                        .user = arg_user,
                        .idle_usec = arg_idle_usec,
                };
                ret = admit_serve(&o) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        } else if (arg_monitor || arg_release_reserve) {
                AdmitMonitorOptions o = {
                        .options = {
                                .config = &arg_config,
                                .home = arg_home,
                                .metrics_file = arg_metrics_file,
                                .no_bus = arg_no_bus,
                                .user_bus = arg_user || geteuid() != 0,
                        },
                        .json = arg_json,
                        .quiet = (arg_verbosity & CLI_QUIET),
                };
                ret = arg_monitor ? admit_monitor(&o) : admit_release_reserve(&o);
        } else
                ret = run_once();

        config_done(&arg_config);
        free(arg_home);
        return ret;
}
