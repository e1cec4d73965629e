/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* boxlite-chainwalk: read qcow2 backing chains and print them. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "chain.h"
#include "cli.h"
#include "escape.h"
#include "gc.h"
#include "home.h"
#include "json-util.h"
#include "json-writer.h"
#include "log.h"
#include "macro.h"
#include "message-ids.h"
#include "parse-util.h"
#include "path-util.h"
#include "usage.h"
#include "utf8.h"

static bool arg_json = false;
static bool arg_quiet = false;
static unsigned arg_verbosity = 0; /* CliVerbosity */
static unsigned arg_max_depth = CHAIN_MAX_DEPTH_DEFAULT;
static QcowReader arg_reader = QCOW_READER_AUTO;
static bool arg_reader_set = false;
static char *arg_home = NULL;
static bool arg_usage = false;

static void help(void) {
        printf("Usage: %1$s [OPTIONS] IMAGE...\n"
               "       %1$s [OPTIONS] --home PATH\n"
               "\n"
               "Read qcow2 backing chains and print every layer.\n"
               "\n"
               "Options:\n"
               "  -h --help             Show this help and exit\n"
               "     --version          Show the version and exit\n"
               "     --home PATH        Walk every overlay of the home, as the GC sees them: under\n"
               "                        PATH/boxes/ (disks, snapshots, staged clones) and PATH/bases/,\n"
               "                        symbolic links followed (default without IMAGE: $BOXLITE_HOME,\n"
               "                        /var/lib/boxlite for root, ~/.boxlite otherwise)\n"
               "     --json             Print each chain as a JSON array of layers, with the fields of\n"
               "                        'qemu-img info --backing-chain --output=json' (one array per line\n"
               "                        when several chains are walked)\n"
               "     --max-depth N      Stop at N layers (default %2$u, at most %3$u)\n"
               "     --reader READER    auto (libqcow, the built-in reader where libqcow refuses a\n"
               "                        valid image), libqcow or builtin (default: auto; with --home,\n"
               "                        builtin, as the GC reads)\n"
               "     --usage            With --home: where the space goes, per box and per image, and\n"
               "                        the overlays' committed growth against the available space\n"
               "  -q --quiet            Print nothing; report through the exit status only\n"
               "  -v --verbose          Also log each finding on stderr\n"
               "\n"
               "Exit status: 0 every chain complete, 1 a chain is incomplete (missing, unreadable,\n"
               "corrupt, looping or too deep), 2 usage error.\n"
               "See boxlite-chainwalk(1).\n",
               program_invocation_short_name, CHAIN_MAX_DEPTH_DEFAULT, CHAIN_MAX_DEPTH_LIMIT);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_HOME,
                ARG_JSON,
                ARG_MAX_DEPTH,
                ARG_READER,
                ARG_USAGE,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "home", required_argument, NULL, ARG_HOME },
                { "json", no_argument, NULL, ARG_JSON },
                { "max-depth", required_argument, NULL, ARG_MAX_DEPTH },
                { "reader", required_argument, NULL, ARG_READER },
                { "usage", no_argument, NULL, ARG_USAGE },
                { "quiet", no_argument, NULL, 'q' },
                { "verbose", no_argument, NULL, 'v' },
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
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_USAGE:
                        arg_usage = true;
                        break;
                case ARG_MAX_DEPTH:
                        if (parse_unsigned(optarg, &arg_max_depth) < 0 || arg_max_depth < 1 ||
                            arg_max_depth > CHAIN_MAX_DEPTH_LIMIT)
                                return cli_usage_error("invalid --max-depth '%s': expected a number from 1 to "
                                                   "4096",
                                                   optarg);
                        break;
                case ARG_READER:
                        arg_reader = qcow_reader_from_string(optarg);
                        arg_reader_set = true;
                        if (arg_reader < 0)
                                return cli_usage_error("invalid --reader '%s': expected auto, libqcow or builtin",
                                                   optarg);
                        break;
                case 'q':
                        arg_quiet = true;
                        __attribute__((fallthrough));
                case 'v':
                        arg_verbosity |= CLI_VERBOSITY_FLAG(c);
                        break;
                case '?':
                        return cli_bad_option(argv, options, "hqv");
                default:
                        return -EINVAL;
                }

        if (arg_usage && optind < argc)
                return cli_usage_error("%s", "--usage reports on a home, not on IMAGE arguments");
        if (arg_home && optind < argc)
                return cli_usage_error("%s", "--home and IMAGE arguments are mutually exclusive");
        if (cli_set_verbosity(arg_verbosity) < 0)
                return -EINVAL;

        return 1;
}

/* The fields of 'qemu-img info --output=json' for one layer; filename: the layer's, or the overlay's path. */
static void write_layer(JsonWriter *w, const HomeLayer *l, const char *filename) {
        const HomeLayerExtra *x = l->extra;
        const char *backing_file = home_layer_backing_file(l);

        json_writer_object_begin(w, NULL);
        json_writer_string(w, "filename", filename);
        json_writer_string(w, "format", home_layer_format(l));
        json_writer_int(w, "virtual-size", (int64_t) l->virtual_size);
        json_writer_int(w, "actual-size", (int64_t) l->actual_size);
        json_writer_bool(w, "dirty-flag", l->has_header && l->dirty);

        if (l->format != HOME_FORMAT_RAW && l->version > 0) {
                if (l->has_header) {
                        json_writer_int(w, "cluster-size", (int64_t) 1 << l->cluster_bits);
                        if (l->encrypted)
                                json_writer_bool(w, "encrypted", true);
                }
                if (backing_file) {
                        json_writer_string(w, "backing-filename", backing_file);
                        json_writer_string(w, "full-backing-filename", home_layer_full_backing(l));
                        if (home_layer_backing_format(l))
                                json_writer_string(w, "backing-filename-format", home_layer_backing_format(l));
                }
                if (l->has_header && l->version >= 2) {
                        json_writer_object_begin(w, "format-specific");
                        json_writer_string(w, "type", "qcow2");
                        json_writer_object_begin(w, "data");
                        json_writer_string(w, "compat", l->version == 2 ? "0.10" : "1.1");
                        json_writer_string(w, "compression-type", l->compression_type == 1 ? "zstd" : "zlib");
                        if (l->version >= 3)
                                json_writer_bool(w, "lazy-refcounts", l->lazy_refcounts);
                        json_writer_int(w, "refcount-bits", (int64_t) 1 << l->refcount_order);
                        if (l->version >= 3) {
                                if (l->has_data_file && x) {
                                        json_writer_string(w, "data-file", x->data_file);
                                        json_writer_bool(w, "data-file-raw", l->data_file_raw);
                                }
                                json_writer_bool(w, "corrupt", l->corrupt);
                                json_writer_bool(w, "extended-l2", l->extended_l2);
                        }
                        json_writer_object_end(w);
                        json_writer_object_end(w);
                }
                json_writer_string(w, "boxlite-reader", qcow_reader_to_string(l->reader));
                if (l->libqcow_refused)
                        json_writer_bool(w, "boxlite-libqcow-refused", true);
                if (x && x->data_file_path)
                        json_writer_string(w, "boxlite-data-file-path", x->data_file_path);
                if (l->backing_truncated)
                        json_writer_bool(w, "boxlite-backing-filename-truncated", true);
        }
        json_writer_object_end(w);
}

/* The layers of an overlay's chain: its own, then the shared ones below. */
#define FOREACH_LAYER(l, o) \
        for (const HomeLayer *l = (o)->top.format != HOME_FORMAT_NONE ? &(o)->top : NULL; l; l = l->next)

/* One chain as a JSON array of its layers, then what stopped it; pretty: as qemu-img prints one. */
static void write_chain(const HomeOverlay *c, const char *path, bool pretty) {
        JsonWriter w;

        json_writer_init(&w, stdout, pretty);
        json_writer_array_begin(&w, NULL);
        FOREACH_LAYER(l, c)
                write_layer(&w, l, l == &c->top ? path : l->filename);
        if (c->error) {
                json_writer_object_begin(&w, NULL);
                json_writer_string(&w, "filename", c->error->filename);
                json_writer_object_begin(&w, "boxlite-error");
                json_writer_string(&w, "kind", chain_error_to_string(c->error->kind));
                json_writer_string(&w, "message", c->error->reason);
                json_writer_object_end(&w);
                json_writer_object_end(&w);
        }
        json_writer_array_end(&w);
        putchar_unlocked('\n');
}

static void print_chain_human(const HomeOverlay *c, const char *path) {
        size_t n = 0;

        (void) fputs_escaped(strna(c->top.format != HOME_FORMAT_NONE ? path : c->error ? c->error->filename : NULL),
                             stdout);
        printf("\n");
        printf("  %-5s  %-6s  %-4s  %12s  %-8s  %s\n", "DEPTH", "FORMAT", "VER", "VIRTUAL-SIZE", "READER",
               "FILENAME");
        FOREACH_LAYER(l, c) {
                char size[FORMAT_BYTES_MAX], ver[16] = "-";
                _cleanup_free_ char *name = cescape(l == &c->top ? path : l->filename);
                bool is_qcow = l->format != HOME_FORMAT_RAW;

                if (is_qcow && l->version > 0)
                        snprintf(ver, sizeof(ver), "v%u", l->version);
                printf("  %-5zu  %-6s  %-4s  %12s  %-8s  %s%s\n", n++, home_layer_format(l), ver,
                       format_bytes(size, l->virtual_size), is_qcow ? qcow_reader_to_string(l->reader) : "-",
                       strna(name), l->libqcow_refused ? "  (libqcow refused it)" : "");
                if (l->extra && l->extra->data_file_path) {
                        _cleanup_free_ char *df = cescape(l->extra->data_file);
                        printf("  %-5s  %-6s  %-4s  %12s  %-8s  %s\n", "", "data", "", "", "", strna(df));
                }
        }
        if (!c->error)
                printf("  complete, %zu layer%s\n", n, n == 1 ? "" : "s");
        else {
                _cleanup_free_ char *reason = cescape(c->error->reason);
                printf("  INCOMPLETE (%s): %s\n", chain_error_to_string(c->error->kind), strna(reason));
        }
}

static int report_chain(const char *image, const HomeOverlay *c, size_t n_total, bool *all_complete) {
        if (c->error) {
                _cleanup_free_ char *reason = utf8_sanitize(c->error->reason);
                const char *kind = chain_error_to_string(c->error->kind);

                *all_complete = false;
                if (!arg_quiet) {
                        _cleanup_free_ char *f1 = NULL, *f2 = NULL, *f3 = NULL;
                        char *fields[] = {
                                LOG_FIELD(f1, "BOXLITE_IMAGE=%s", image),
                                LOG_FIELD(f2, "BOXLITE_CHAIN_ERROR=%s", kind),
                                LOG_FIELD(f3, "BOXLITE_REASON=%s", strna(reason)),
                        };
                        (void) log_struct_fields(LOG_ERR, BOXLITE_MESSAGE_CHAIN_INCOMPLETE_STR, fields,
                                                 ELEMENTSOF(fields), "'%s': backing chain incomplete (%s): %s", image,
                                                 kind, strna(reason));
                }
        }

        if (arg_quiet)
                return 0;

        if (arg_json)
                /* One chain: a document shaped like qemu-img's. Several: one array per line. */
                write_chain(c, image, n_total == 1);
        else
                print_chain_human(c, image);
        return 0;
}

static int walk_one(const char *image, size_t n_total, bool *all_complete) {
        _cleanup_(home_scan_done) HomeScan s = {};
        ChainOptions o = {
                .max_depth = arg_max_depth,
                .reader = arg_reader,
        };
        int r;

        r = home_scan_image(image, &o, &s);
        if (r < 0)
                return log_error_errno(r, "Failed to walk '%s': %m", image);
        return report_chain(image, &s.units[0].overlays[0], n_total, all_complete);
}

/*
 * Every overlay of the home, through the walk the GC uses; what cannot be walked is an error. The
 * walk's records are printed once it has accepted them (a unit it forgot is never shown), one
 * unit after the other in path order, each chain as it is rendered.
 */
static int walk_home(const char *home, bool *all_complete) {
        _cleanup_(home_scan_done) HomeScan scan = {};
        ChainOptions o = {
                .max_depth = arg_max_depth,
                /* The home as the GC reads it, unless a reader is asked for. */
                .reader = arg_reader_set ? arg_reader : QCOW_READER_BUILTIN,
        };
        int r;

        r = home_scan(home, &o, /* sums_only= */ false, gc_jobs(0), &scan);
        if (r < 0)
                return log_error_errno(r, "Failed to walk the overlays of home '%s': %m", home);

        for (size_t i = 0; i < scan.n_errors; i++) {
                *all_complete = false;
                if (!arg_quiet)
                        log_error("'%s': %s", scan.errors[i].path, scan.errors[i].message);
        }
        for (size_t i = 0; i < scan.n_units; i++)
                for (size_t j = 0; j < scan.units[i].n_overlays; j++) {
                        const HomeOverlay *ov = &scan.units[i].overlays[j];
                        const char *path = home_overlay_path(&scan, &scan.units[i], ov);

                        if (!path)
                                return log_oom();
                        r = report_chain(path, ov, 0, all_complete);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static json_object *usage_image_to_json(const UsageImage *img) {
        json_object *o = json_object_new_object();

        json_add_string(o, "path", img->path);
        json_object_object_add(o, "allocated_bytes", json_object_new_int64((int64_t) img->allocated_bytes));
        json_object_object_add(o, "boxes", json_object_new_int64((int64_t) img->n_boxes));
        return o;
}

static void usage_images_stream(JsonStream *s, const char *key, const UsageImage *v, size_t n) {
        json_stream_array_begin(s, key);
        for (size_t i = 0; i < n; i++)
                json_stream_element(s, usage_image_to_json(&v[i]));
        json_stream_array_end(s);
}

static json_object *usage_box_to_json(const UsageBox *b) {
        json_object *jb = json_object_new_object(), *images = json_object_new_array();

        json_add_string(jb, "box", b->box);
        json_object_object_add(jb, "overlays", json_object_new_int64((int64_t) b->n_overlays));
        json_object_object_add(jb, "allocated_bytes", json_object_new_int64((int64_t) b->allocated_bytes));
        json_object_object_add(jb, "virtual_bytes", json_object_new_int64((int64_t) b->virtual_bytes));
        json_object_object_add(jb, "committed_growth_bytes", json_object_new_int64((int64_t) b->committed_growth_bytes));
        for (const char **p = b->images; p && *p; p++)
                json_object_array_add(images, json_object_new_string(*p));
        json_object_object_add(jb, "images", images);
        return jb;
}

/* Streamed, one box or image at a time: the document of a large home is never held whole. */
static int print_usage_json(const Usage *u) {
        JsonStream s;

        json_stream_begin(&s, stdout);
        json_stream_array_begin(&s, "boxes");
        for (size_t i = 0; i < u->n_boxes; i++)
                json_stream_element(&s, usage_box_to_json(&u->boxes[i]));
        json_stream_array_end(&s);
        usage_images_stream(&s, "images", u->images, u->n_images);
        usage_images_stream(&s, "bases", u->bases, u->n_bases);
        usage_images_stream(&s, "unreferenced", u->unreferenced, u->n_unreferenced);
        json_stream_member(&s, "overlays_allocated_bytes", json_object_new_int64((int64_t) u->overlays_allocated_bytes));
        json_stream_member(&s, "images_allocated_bytes", json_object_new_int64((int64_t) u->images_allocated_bytes));
        json_stream_member(&s, "bases_allocated_bytes", json_object_new_int64((int64_t) u->bases_allocated_bytes));
        json_stream_member(&s, "unreferenced_allocated_bytes",
                           json_object_new_int64((int64_t) u->unreferenced_allocated_bytes));
        json_stream_member(&s, "committed_growth_bytes", json_object_new_int64((int64_t) u->committed_growth_bytes));
        json_stream_member(&s, "available_bytes",
                           u->available_known ? json_object_new_int64((int64_t) u->available_bytes) : NULL);
        return json_stream_end(&s);
}

static const char *basename_of(const char *p) {
        const char *s = strrchr(p, '/');

        return s ? s + 1 : p;
}

static void print_usage_images(const char *title, const UsageImage *v, size_t n, uint64_t total, bool boxes) {
        char a[FORMAT_BYTES_MAX];
        int width = (int) strlen(title);

        if (n == 0)
                return;
        for (size_t i = 0; i < n; i++)
                width = MAX(width, (int) MIN(strlen(basename_of(v[i].path)), (size_t) 100));
        printf("\n%-*s %12s%s\n", width, title, "ALLOCATED", boxes ? "  BOXES" : "");
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *name = cescape(basename_of(v[i].path));

                printf("%-*s %12s", width, strna(name), format_bytes(a, v[i].allocated_bytes));
                if (boxes)
                        printf("  %5zu", v[i].n_boxes);
                putchar('\n');
        }
        printf("%-*s %12s\n", width, "total", format_bytes(a, total));
}

static void print_usage_human(const Usage *u) {
        char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX], c[FORMAT_BYTES_MAX];

        printf("%-32s %8s %12s %12s %12s  %s\n", "BOX", "OVERLAYS", "ALLOCATED", "VIRTUAL", "MAY GROW", "IMAGES");
        for (size_t i = 0; i < u->n_boxes; i++) {
                const UsageBox *x = &u->boxes[i];
                _cleanup_free_ char *name = cescape(x->box);

                printf("%-32s %8zu %12s %12s %12s  ", strna(name), x->n_overlays, format_bytes(a, x->allocated_bytes),
                       format_bytes(b, x->virtual_bytes), format_bytes(c, x->committed_growth_bytes));
                for (const char **p = x->images; p && *p; p++) {
                        _cleanup_free_ char *img = cescape(basename_of(*p));
                        printf("%s%s", p == x->images ? "" : ",", strna(img));
                }
                putchar('\n');
        }
        printf("%-32s %8s %12s\n", "total", "", format_bytes(a, u->overlays_allocated_bytes));
        print_usage_images("IMAGE", u->images, u->n_images, u->images_allocated_bytes, true);
        print_usage_images("BASE", u->bases, u->n_bases, u->bases_allocated_bytes, true);
        print_usage_images("UNREFERENCED (boxlite-gc reclaims these)", u->unreferenced, u->n_unreferenced,
                           u->unreferenced_allocated_bytes, false);
        printf("\nCommitted growth: the overlays may still grow by %s", format_bytes(a, u->committed_growth_bytes));
        if (u->available_known)
                printf("; %s available on boxes/%s\n", format_bytes(b, u->available_bytes),
                       u->committed_growth_bytes > u->available_bytes ? " (overcommitted)" : "");
        else
                printf("; available space unknown\n");
}

/* Where the home's space goes, from the same walk. */
static int home_usage(const char *home, bool *all_complete) {
        _cleanup_(home_scan_done) HomeScan scan = {};
        _cleanup_(usage_done) Usage u = {};
        ChainOptions o = {
                .max_depth = arg_max_depth,
                .reader = QCOW_READER_BUILTIN,
        };
        int r;

        r = home_scan(home, &o, /* sums_only= */ true, gc_jobs(0), &scan);
        if (r < 0)
                return log_error_errno(r, "Failed to walk the overlays of home '%s': %m", home);
        for (size_t i = 0; i < scan.n_errors; i++) {
                *all_complete = false;
                log_error("'%s': %s", scan.errors[i].path, scan.errors[i].message);
        }
        for (size_t i = 0; i < scan.n_units; i++)
                for (size_t j = 0; j < scan.units[i].n_overlays; j++) {
                        const HomeOverlay *ov = &scan.units[i].overlays[j];

                        if (ov->error) {
                                *all_complete = false;
                                log_warning("'%s': backing chain incomplete: %s",
                                            strna(home_overlay_path(&scan, &scan.units[i], ov)),
                                            strna(ov->error->reason));
                        }
                }
        r = usage_compute(home, &scan, &u);
        if (r < 0)
                return log_oom();
        if (arg_quiet)
                return 0;
        if (arg_json)
                return print_usage_json(&u);
        print_usage_human(&u);
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_strv_free_ char **images = NULL;
        bool all_complete = true;
        size_t n;
        int r;

        log_setup("boxlite-chainwalk");

        r = parse_argv(argc, argv);
        if (r <= 0) {
                free(arg_home);
                return r < 0 ? EXIT_USAGE : cli_flush_stdout() < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        if (optind < argc) {
                images = calloc((size_t) (argc - optind) + 1, sizeof(char *));
                if (!images)
                        return log_oom(), EXIT_FAILURE;
                for (int i = optind; i < argc; i++) {
                        images[i - optind] = strdup(argv[i]);
                        if (!images[i - optind])
                                return log_oom(), EXIT_FAILURE;
                }
        } else {
                if (!arg_home) {
                        r = cli_default_home(&arg_home);
                        if (r < 0)
                                return EXIT_FAILURE;
                }
                r = arg_usage ? home_usage(arg_home, &all_complete) : walk_home(arg_home, &all_complete);
                free(arg_home);
                if (cli_flush_stdout() < 0)
                        return EXIT_FAILURE;
                return r < 0 || !all_complete ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        n = strv_length(images);
        for (size_t i = 0; i < n; i++) {
                r = walk_one(images[i], n, &all_complete);
                if (r < 0)
                        break;
        }

        free(arg_home);
        /* Output that did not reach its reader cannot vouch for the chains. */
        if (cli_flush_stdout() < 0)
                return EXIT_FAILURE;
        return r < 0 || !all_complete ? EXIT_FAILURE : EXIT_SUCCESS;
}
