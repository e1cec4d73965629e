/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.boxlite.Admission1 (DESIGN.md section 6; docs/org.boxlite.Admission1.xml).
 *
 * Check() judges a home now, with the same configuration and classify() as
 * the one-shot gate, and has no side effects. It never touches the caller's
 * path in this process: the probe child (probe.h) does, and the reply is sent
 * when the child answers or its deadline passes (a warn naming the timeout),
 * so a home on a mount that never answers holds up no other caller. At most
 * PROBES_MAX probes are pending at once.
 *
 * ListDecisions() reads the one-shot runs' decisions back from the journal by
 * their MESSAGE_IDs, so the history survives restarts. Only entries written
 * with the bus's privileges count: journald's trusted _UID must be 0 on the
 * system bus (the user's own uid on a user bus), SYSLOG_IDENTIFIER must be
 * boxlite-admit, and _COMM, where journald recorded it, too. One call reads
 * at most LIST_DECISIONS_SCAN_MAX entries, so no flood of entries can make
 * it (and the calls queued behind it) slow.
 *
 * The service exits after an idle period; bus activation starts it again on
 * the next call.
 */

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-journal.h>

#include "admission.h"
#include "admit.h"
#include "bus-util.h"
#include "child.h"
#include "log.h"
#include "macro.h"
#include "message-ids.h"
#include "parse-util.h"
#include "probe.h"
#include "utf8.h"

#define LIST_DECISIONS_DEFAULT 100U
#define LIST_DECISIONS_MAX 10000U
/* Journal entries one ListDecisions call reads at most, decisions or not. */
#define LIST_DECISIONS_SCAN_MAX 10000U
/* Check probes pending at once; more callers get LimitsExceeded until one answers. */
#define PROBES_MAX 64U

typedef struct Context {
        BoxliteConfig config;
        const char *default_home;
        uint64_t idle_usec;
        uid_t trusted_uid;
        sd_event *event;
        sd_event_source *idle_timer;
        unsigned n_probes;
        struct Probe *probes;
} Context;

typedef struct Probe {
        Context *context;
        struct Probe *prev, *next;
        sd_bus_message *message;
        char *home;
        pid_t pid;
        int fd;
        ChildOutput out;
        sd_event_source *io, *timer;
} Probe;

static Probe *probe_free(Probe *p) {
        if (!p)
                return NULL;
        p->io = sd_event_source_disable_unref(p->io);
        p->timer = sd_event_source_disable_unref(p->timer);
        if (p->fd >= 0)
                (void) close(p->fd);
        if (p->pid > 0) {
                /* Still running (the service is exiting, or the probe timed out): it answers nobody now. */
                (void) kill(p->pid, SIGKILL);
                (void) waitpid(p->pid, NULL, WNOHANG);
        }
        child_output_done(&p->out);
        sd_bus_message_unref(p->message);
        free(p->home);
        if (p->context) {
                p->context->n_probes--;
                if (p->prev)
                        p->prev->next = p->next;
                else
                        p->context->probes = p->next;
                if (p->next)
                        p->next->prev = p->prev;
        }
        free(p);
        return NULL;
}

/* Any activity re-arms the idle timer. */
static void bump_idle(Context *c) {
        uint64_t now;

        if (!c->idle_timer)
                return;
        if (sd_event_now(c->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        (void) sd_event_source_set_time(c->idle_timer, now + c->idle_usec);
        (void) sd_event_source_set_enabled(c->idle_timer, SD_EVENT_ONESHOT);
}

static int probe_reply(Probe *p, bool timed_out) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(home_probe_done) HomeProbe probe = {};
        _cleanup_(judgement_done) Judgement j = {};
        _cleanup_free_ char *reason = NULL;
        const PartProbe *home;
        Context *c = p->context;
        int r;

        r = home_probe_parse(p->home, p->out.data, p->out.size, timed_out, &probe);
        if (r < 0)
                return sd_bus_reply_method_errno(p->message, r, NULL);
        home = &probe.part[HOME_PART_HOME];
        if (home->answered && home->stat_failed && (home->error == -ENOENT || home->error == -ENOTDIR)) {
                sd_bus_error_setf(&error, ADMISSION_ERROR_PREFIX "NoSuchHome", home->error == -ENOTDIR ?
                                  "Home '%s' is not a directory" : "Home '%s' does not exist", p->home);
                return sd_bus_reply_method_error(p->message, &error);
        }
        if (home->answered && home->error < 0) {
                sd_bus_error_set_errnof(&error, -home->error, "Cannot access home '%s': %m", p->home);
                return sd_bus_reply_method_error(p->message, &error);
        }

        r = admission_judge_probe(&c->config.limits, &probe, c->config.probe_timeout_usec, &j);
        if (r < 0)
                return sd_bus_reply_method_errno(p->message, r, NULL);
        if (j.n_filesystems > 0 && j.filesystems[0].part == HOME_PART_HOME &&
            j.filesystems[0].probe_error == -EMEDIUMTYPE) {
                sd_bus_error_setf(&error, ADMISSION_ERROR_PREFIX "InvalidHome",
                                  "Home '%s' is not a home: its filesystem reports no size", p->home);
                return sd_bus_reply_method_error(p->message, &error);
        }
        reason = utf8_sanitize(j.reason);
        if (!reason)
                return sd_bus_reply_method_errno(p->message, -ENOMEM, NULL);

        return sd_bus_reply_method_return(p->message, "stts", verdict_to_string(j.verdict),
                                          j.readable ? j.space.available_bytes : UINT64_C(0),
                                          j.readable ? j.space.total_bytes : UINT64_C(0), reason);
}

static void probe_finish(Probe *p, bool timed_out) {
        int r;

        if (timed_out)
                (void) kill(p->pid, SIGKILL);
        else
                p->pid = 0; /* it closed its pipe and exits; SIGCHLD reaps it */
        r = probe_reply(p, timed_out);
        if (r < 0)
                log_debug_errno(r, "Failed to answer Check('%s'), ignoring: %m", p->home);
        probe_free(p);
}

static int on_probe_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Probe *p = userdata;
        int r;

        r = child_read_some(fd, HOME_PROBE_MAX_BYTES, &p->out);
        if (r == 0)
                return 0;
        /* End of file, or an answer that cannot be right (too long, unreadable): judge what came. */
        probe_finish(p, false);
        return 0;
}

static int on_probe_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Probe *p = userdata;

        /* Whatever arrived before the deadline still counts. */
        (void) child_read_some(p->fd, HOME_PROBE_MAX_BYTES, &p->out);
        probe_finish(p, true);
        return 0;
}

static int method_check(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Context *c = userdata;
        Probe *p;
        const char *home;
        int r;

        bump_idle(c);
        r = sd_bus_message_read(m, "s", &home);
        if (r < 0)
                return r;
        if (!home[0])
                home = c->default_home;
        if (home[0] != '/')
                return sd_bus_error_setf(error, ADMISSION_ERROR_PREFIX "InvalidHome",
                                   "Home '%s' is not an absolute path", home);
        if (c->n_probes >= PROBES_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "%u probes are pending already; try again later", PROBES_MAX);

        p = calloc(1, sizeof(Probe));
        if (!p)
                return -ENOMEM;
        p->fd = -1;
        p->context = c;
        c->n_probes++;
        p->next = c->probes;
        if (c->probes)
                c->probes->prev = p;
        c->probes = p;
        p->message = sd_bus_message_ref(m);
        p->home = strdup(home);
        if (!p->home) {
                probe_free(p);
                return -ENOMEM;
        }
        r = home_probe_start(p->home, &p->pid, &p->fd);
        if (r < 0) {
                probe_free(p);
                return sd_bus_error_set_errnof(error, -r, "Cannot start the probe of '%s': %m", home);
        }
        r = sd_event_add_io(c->event, &p->io, p->fd, EPOLLIN, on_probe_io, p);
        if (r >= 0)
                r = sd_event_add_time_relative(c->event, &p->timer, CLOCK_MONOTONIC,
                                               c->config.probe_timeout_usec, 0, on_probe_timeout, p);
        if (r < 0) {
                probe_free(p);
                return r;
        }
        /* Answered later, from on_probe_io() or on_probe_timeout(). */
        return 1;
}

static int on_sigchld(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        /* Probe children that answered, and those killed at their deadline once they die. */
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        return 0;
}

/* sd_journal_get_data() values are not NUL-terminated: copy them out, as valid UTF-8 (D-Bus strings must be),
 * so that one entry with a hostile box name cannot break the whole reply. */
static char *journal_field_dup(sd_journal *j, const char *field) {
        _cleanup_free_ char *raw = NULL;
        const void *data;
        size_t len, k = strlen(field);

        if (sd_journal_get_data(j, field, &data, &len) < 0 || len <= k)
                return strdup("");
        raw = strndup((const char *) data + k + 1, len - k - 1);
        if (!raw)
                return NULL;
        return utf8_sanitize(raw);
}

#define DECISION_IDENTIFIER "boxlite-admit"

static bool field_is(sd_journal *j, const char *field, const char *value, bool missing_ok) {
        const void *data;
        size_t len, k = strlen(field), v = strlen(value);

        if (sd_journal_get_data(j, field, &data, &len) < 0)
                return missing_ok;
        return len == k + 1 + v && memcmp((const char *) data + k + 1, value, v) == 0;
}

/* The matches already did this; the entry is checked again field by field, so no match quirk admits one. */
static bool entry_trusted(sd_journal *j, const char *uid) {
        /* _COMM is read from /proc by journald and is missing when the writer has exited already. */
        return field_is(j, "_UID", uid, false) && field_is(j, "SYSLOG_IDENTIFIER", DECISION_IDENTIFIER, false) &&
               field_is(j, "_COMM", DECISION_IDENTIFIER, true);
}

static int method_list_decisions(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        static const char *const ids[] = {
                "MESSAGE_ID=" BOXLITE_MESSAGE_ADMIT_OK_STR,
                "MESSAGE_ID=" BOXLITE_MESSAGE_ADMIT_WARN_STR,
                "MESSAGE_ID=" BOXLITE_MESSAGE_ADMIT_REJECT_STR,
        };
        _cleanup_free_ char *uid_match = NULL;
        Context *c = userdata;
        uint64_t since;
        uint32_t max;
        unsigned n = 0, scanned = 0;
        int r;

        bump_idle(c);
        r = sd_bus_message_read(m, "tu", &since, &max);
        if (r < 0)
                return r;
        if (max == 0)
                max = LIST_DECISIONS_DEFAULT;
        max = MIN(max, LIST_DECISIONS_MAX);

        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "Cannot open the journal: %m");
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                r = sd_journal_add_match(j, ids[i], 0);
                if (r < 0)
                        return r;
        }
        /* Different fields are ANDed: only entries journald itself attributes to the bus's privileges. */
        if (asprintf(&uid_match, "_UID=%u", (unsigned) c->trusted_uid) < 0)
                return -ENOMEM;
        r = sd_journal_add_match(j, uid_match, 0);
        if (r < 0)
                return r;
        r = sd_journal_add_match(j, "SYSLOG_IDENTIFIER=" DECISION_IDENTIFIER, 0);
        if (r < 0)
                return r;
        r = sd_journal_seek_tail(j);
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(tsssts)");
        if (r < 0)
                return r;

        /* Newest first. */
        while (n < max && scanned < LIST_DECISIONS_SCAN_MAX && sd_journal_previous(j) > 0) {
                _cleanup_free_ char *box = NULL, *unit = NULL, *verdict = NULL, *reason = NULL, *avail = NULL;
                uint64_t t, a = 0;

                scanned++;
                if (!entry_trusted(j, uid_match + strlen("_UID=")))
                        continue;
                if (sd_journal_get_realtime_usec(j, &t) < 0)
                        continue;
                if (t < since)
                        break;
                verdict = journal_field_dup(j, "BOXLITE_VERDICT");
                if (!verdict)
                        return -ENOMEM;
                if (!verdict[0])
                        continue; /* not a decision entry after all */
                box = journal_field_dup(j, "BOXLITE_BOX");
                unit = journal_field_dup(j, "BOXLITE_UNIT");
                reason = journal_field_dup(j, "BOXLITE_REASON");
                avail = journal_field_dup(j, "BOXLITE_AVAILABLE_BYTES");
                if (!box || !unit || !reason || !avail)
                        return -ENOMEM;
                (void) parse_uint64(avail, &a);

                r = sd_bus_message_append(reply, "(tsssts)", t, box, unit, verdict, a, reason);
                if (r < 0)
                        return r;
                n++;
        }

        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int property_get_default_home(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *home = NULL;
        Context *c = userdata;

        bump_idle(c);
        home = utf8_sanitize(c->default_home);
        if (!home)
                return -ENOMEM;
        return sd_bus_message_append(reply, "s", home);
}

static const sd_bus_vtable admission_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("DefaultHome", "s", property_get_default_home, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("HardFloorBytes", "t", NULL, offsetof(Context, config.limits.hard_floor_bytes),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("SoftFloorBytes", "t", NULL, offsetof(Context, config.limits.soft_floor_bytes),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("SoftFloorPercent", "u", NULL, offsetof(Context, config.limits.soft_floor_percent),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("InodeHardFloor", "t", NULL, offsetof(Context, config.limits.inode_hard_floor),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("InodeSoftPercent", "u", NULL, offsetof(Context, config.limits.inode_soft_percent),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("Check",
                                SD_BUS_ARGS("s", home),
                                SD_BUS_RESULT("s", verdict, "t", available_bytes, "t", total_bytes, "s", reason),
                                method_check,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListDecisions",
                                SD_BUS_ARGS("t", since_usec, "u", max),
                                SD_BUS_RESULT("a(tsssts)", decisions),
                                method_list_decisions,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("Decided",
                                SD_BUS_ARGS("s", home, "s", box, "s", unit, "s", verdict, "t", available_bytes,
                                            "s", reason),
                                0),
        SD_BUS_SIGNAL_WITH_ARGS("PressureChanged",
                                SD_BUS_ARGS("s", home, "s", verdict, "t", available_bytes, "s", reason),
                                0),
        SD_BUS_VTABLE_END
};

static int on_idle(sd_event_source *s, uint64_t usec, void *userdata) {
        Context *c = userdata;

        if (c->n_probes > 0) {
                /* A caller still waits for its answer. */
                bump_idle(c);
                return 0;
        }
        log_debug("No calls for a while, exiting.");
        return sd_event_exit(c->event, 0);
}

/* Count every incoming message as activity, including property reads and introspection. */
static int on_any_message(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        bump_idle(userdata);
        return 0;
}

int admit_serve(const ServeOptions *o) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        Context c = {
                .config = *o->config,
                .default_home = o->default_home,
                .idle_usec = o->idle_usec,
                .trusted_uid = o->user ? getuid() : 0,
        };
        sigset_t mask;
        int r;

        /* Limits are served as unsigned 32-bit properties. */
        c.config.limits.soft_floor_percent = MIN(c.config.limits.soft_floor_percent, 100U);

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        c.event = event;
        (void) sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        r = sd_event_add_signal(event, NULL, SIGCHLD, on_sigchld, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to watch child processes: %m");

        r = o->user ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
        if (r < 0) {
                const char *address = getenv(o->user ? "DBUS_SESSION_BUS_ADDRESS" : "DBUS_SYSTEM_BUS_ADDRESS");

                return log_error_errno(r, "Failed to connect to the %s bus at '%s': %m", o->user ? "session" : "system",
                                       address ?: o->user ? "$XDG_RUNTIME_DIR/bus" :
                                                            "unix:path=/run/dbus/system_bus_socket");
        }

        r = sd_bus_add_filter(bus, NULL, on_any_message, &c);
        if (r < 0)
                return log_error_errno(r, "Failed to add a bus filter: %m");
        r = sd_bus_add_object_vtable(bus, NULL, ADMISSION_OBJECT_PATH, ADMISSION_INTERFACE, admission_vtable, &c);
        if (r < 0)
                return log_error_errno(r, "Failed to register the object: %m");
        r = sd_bus_request_name(bus, ADMISSION_BUS_NAME, 0);
        if (r == -EEXIST)
                return log_error_errno(r, "Failed to own the name " ADMISSION_BUS_NAME ": another process owns it "
                                       "(an instance of boxlite-admit --serve already runs)");
        if (r == -EACCES)
                return log_error_errno(r, "Failed to own the name " ADMISSION_BUS_NAME ": the bus policy "
                                       "(org.boxlite.Admission1.conf) lets only root own it: %m");
        if (r < 0)
                return log_error_errno(r, "Failed to own the name " ADMISSION_BUS_NAME ": %m");
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");

        r = sd_event_add_time_relative(event, &c.idle_timer, CLOCK_MONOTONIC, o->idle_usec, 0, on_idle, &c);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the idle timer: %m");

        log_debug("Serving " ADMISSION_BUS_NAME ", default home '%s'.", o->default_home);
        r = sd_event_loop(event);
        c.idle_timer = sd_event_source_unref(c.idle_timer);
        while (c.probes)
                probe_free(c.probes);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");

        /* Give the name up before exiting, so that the next call activates a fresh instance. */
        (void) sd_bus_release_name(bus, ADMISSION_BUS_NAME);
        return 0;
}
