/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <time.h>

#include <systemd/sd-bus.h>

#include "bus-util.h"
#include "macro.h"

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

int bus_emit_decided(const Decision *d, bool user, uint64_t timeout_usec) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint64_t deadline = now_usec() + timeout_usec, now;
        int r;

        /* Connecting is a non-blocking connect() plus an asynchronous Hello, so it does not wait on the bus. */
        r = user ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
        if (r < 0)
                return r;

        r = sd_bus_emit_signal(bus, ADMISSION_OBJECT_PATH, ADMISSION_INTERFACE, "Decided", "ssssts", d->home,
                               strempty(d->box), strempty(d->unit), verdict_to_string(d->final.verdict),
                               d->final.readable ? d->final.space.available_bytes : UINT64_C(0),
                               strempty(d->final.reason));
        if (r < 0)
                return r;

        /* The bus handles a connection's messages in order: the Ping's reply means Decided went out. */
        now = now_usec();
        if (now >= deadline)
                return -ETIMEDOUT;
        r = sd_bus_set_method_call_timeout(bus, deadline - now);
        if (r < 0)
                return r;
        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.Peer",
                               "Ping", NULL, &reply, NULL);
        return r < 0 ? r : 0;
}
