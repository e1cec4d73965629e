/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <time.h>

#include <systemd/sd-bus.h>

#include "bus-util.h"
#include "macro.h"
#include "time-util.h"
#include "utf8.h"

/* *userdata: 0 while waiting, 1 on a reply, a negative errno on an error reply. */
static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        int *answered = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        *answered = e ? -(sd_bus_error_get_errno(e) ?: EIO) : 1;
        return 0;
}

/* The bus handles a connection's messages in order: the Ping's reply means what was sent before went out.
 * sd_bus_call() would first wait without a limit for the connection to be set up, so wait here. */
static int bus_wait_sent(sd_bus *bus, uint64_t deadline) {
        uint64_t now;
        int answered = 0, r;

        r = sd_bus_call_method_async(bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus.Peer", "Ping", on_reply, &answered, NULL);
        if (r < 0)
                return r;
        while (answered == 0) {
                now = now_monotonic_usec();
                if (now >= deadline)
                        return -ETIMEDOUT;
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, deadline - now);
                if (r < 0)
                        return r;
        }
        return answered > 0 ? 0 : answered;
}

int bus_emit_decided(const Decision *d, bool user, uint64_t timeout_usec) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *home = NULL, *box = NULL, *unit = NULL, *reason = NULL;
        uint64_t deadline = now_monotonic_usec() + timeout_usec;
        int r;

        /* D-Bus strings must be UTF-8; paths and names are bytes. */
        home = utf8_sanitize(d->home);
        box = utf8_sanitize(strempty(d->box));
        unit = utf8_sanitize(strempty(d->unit));
        reason = utf8_sanitize(strempty(d->final.reason));
        if (!home || !box || !unit || !reason)
                return -ENOMEM;

        /* Connecting is a non-blocking connect() plus an asynchronous Hello, so it does not wait on the bus. */
        r = user ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
        if (r < 0)
                return r;

        r = sd_bus_emit_signal(bus, ADMISSION_OBJECT_PATH, ADMISSION_INTERFACE, "Decided", "ssssts", home, box, unit,
                               verdict_to_string(d->final.verdict),
                               d->final.readable ? d->final.space.available_bytes : UINT64_C(0), reason);
        if (r < 0)
                return r;
        return bus_wait_sent(bus, deadline);
}

int bus_emit_pressure_changed(const char *home, Verdict verdict, uint64_t available_bytes, const char *reason,
                              bool user, uint64_t timeout_usec) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *h = NULL, *why = NULL;
        uint64_t deadline = now_monotonic_usec() + timeout_usec;
        int r;

        h = utf8_sanitize(home);
        why = utf8_sanitize(strempty(reason));
        if (!h || !why)
                return -ENOMEM;
        r = user ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        r = sd_bus_emit_signal(bus, ADMISSION_OBJECT_PATH, ADMISSION_INTERFACE, "PressureChanged", "ssts", h,
                               verdict_to_string(verdict), available_bytes, why);
        if (r < 0)
                return r;
        return bus_wait_sent(bus, deadline);
}
