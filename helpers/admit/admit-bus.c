/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.boxlite.Admission1 (DESIGN.md section 6; docs/org.boxlite.Admission1.xml).
 *
 * Check() judges a home now, with the same configuration and classify() as
 * the one-shot gate, and has no side effects. ListDecisions() reads the
 * one-shot runs' decisions back from the journal by their MESSAGE_IDs, so the
 * history survives restarts. The service exits after an idle period; bus
 * activation starts it again on the next call.
 */

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-journal.h>

#include "admission.h"
#include "admit.h"
#include "bus-util.h"
#include "log.h"
#include "macro.h"
#include "message-ids.h"
#include "parse-util.h"
#include "utf8.h"

#define LIST_DECISIONS_DEFAULT 100U
#define LIST_DECISIONS_MAX 10000U

typedef struct Context {
        BoxliteConfig config;
        const char *default_home;
        uint64_t idle_usec;
        sd_event *event;
        sd_event_source *idle_timer;
} Context;

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

static int method_check(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(judgement_done) Judgement j = {};
        _cleanup_free_ char *reason = NULL;
        Context *c = userdata;
        const char *home;
        struct stat st;
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
        if (stat(home, &st) < 0) {
                if (errno == ENOENT || errno == ENOTDIR)
                        return sd_bus_error_setf(error, ADMISSION_ERROR_PREFIX "NoSuchHome", "Home '%s' does not exist",
                                           home);
                return sd_bus_error_set_errnof(error, errno, "Cannot access home '%s': %m", home);
        }
        if (!S_ISDIR(st.st_mode))
                return sd_bus_error_setf(error, ADMISSION_ERROR_PREFIX "NoSuchHome", "Home '%s' is not a directory",
                                   home);

        r = admission_judge(&c->config.limits, home, c->config.probe_timeout_usec, &j);
        if (r < 0)
                return r;
        reason = utf8_sanitize(j.reason);
        if (!reason)
                return -ENOMEM;

        return sd_bus_reply_method_return(m, "stts", verdict_to_string(j.verdict),
                                          j.readable ? j.space.available_bytes : UINT64_C(0),
                                          j.readable ? j.space.total_bytes : UINT64_C(0), reason);
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

static int method_list_decisions(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        static const char *const ids[] = {
                "MESSAGE_ID=" BOXLITE_MESSAGE_ADMIT_OK_STR,
                "MESSAGE_ID=" BOXLITE_MESSAGE_ADMIT_WARN_STR,
                "MESSAGE_ID=" BOXLITE_MESSAGE_ADMIT_REJECT_STR,
        };
        Context *c = userdata;
        uint64_t since;
        uint32_t max;
        unsigned n = 0;
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
        while (n < max && sd_journal_previous(j) > 0) {
                _cleanup_free_ char *box = NULL, *unit = NULL, *verdict = NULL, *reason = NULL, *avail = NULL;
                uint64_t t, a = 0;

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
        };
        sigset_t mask;
        int r;

        /* Limits are served as unsigned 32-bit properties. */
        c.config.limits.soft_floor_percent = MIN(c.config.limits.soft_floor_percent, 100U);

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        c.event = event;
        (void) sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);

        r = o->user ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the %s bus: %m", o->user ? "session" : "system");

        r = sd_bus_add_filter(bus, NULL, on_any_message, &c);
        if (r < 0)
                return log_error_errno(r, "Failed to add a bus filter: %m");
        r = sd_bus_add_object_vtable(bus, NULL, ADMISSION_OBJECT_PATH, ADMISSION_INTERFACE, admission_vtable, &c);
        if (r < 0)
                return log_error_errno(r, "Failed to register the object: %m");
        r = sd_bus_request_name(bus, ADMISSION_BUS_NAME, 0);
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
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");

        /* Give the name up before exiting, so that the next call activates a fresh instance. */
        (void) sd_bus_release_name(bus, ADMISSION_BUS_NAME);
        return 0;
}
