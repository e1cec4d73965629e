/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-listen ADDRESS SECONDS COUNT [PressureChanged]: an ordinary (non-monitor)
 * subscriber to org.boxlite.Admission1.Decided (or PressureChanged). Prints
 * "ready" once its match is installed, then one tab-separated line per signal
 * it receives (home, box, unit, verdict, available bytes, reason; for
 * PressureChanged home, verdict, available bytes, reason), and exits after
 * COUNT signals or SECONDS.
 * Unlike a monitor it only sees what the bus policy lets through.
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>

static int received = 0;

static int on_decided(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *home, *box, *unit, *verdict, *reason;
        uint64_t avail;

        if (sd_bus_message_read(m, "sssst", &home, &box, &unit, &verdict, &avail) < 0 ||
            sd_bus_message_read(m, "s", &reason) < 0)
                return 0;
        printf("%s\t%s\t%s\t%s\t%" PRIu64 "\t%s\n", home, box, unit, verdict, avail, reason);
        fflush(stdout);
        received++;
        return 0;
}

static int on_pressure_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *home, *verdict, *reason;
        uint64_t avail;

        if (sd_bus_message_read(m, "ssts", &home, &verdict, &avail, &reason) < 0)
                return 0;
        printf("%s\t%s\t%" PRIu64 "\t%s\n", home, verdict, avail, reason);
        fflush(stdout);
        received++;
        return 0;
}

int main(int argc, char *argv[]) {
        bool pressure = argc == 5 && strcmp(argv[4], "PressureChanged") == 0;
        sd_bus *bus = NULL;
        struct timespec ts;
        uint64_t deadline;
        int count, r;

        if (argc != 4 && !pressure)
                return 2;
        count = atoi(argv[3]);
        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, argv[1]) < 0 || sd_bus_set_bus_client(bus, 1) < 0 ||
            sd_bus_start(bus) < 0) {
                fprintf(stderr, "cannot connect to %s\n", argv[1]);
                return 1;
        }
        r = sd_bus_match_signal(bus, NULL, NULL, "/org/boxlite/Admission1", "org.boxlite.Admission1",
                                pressure ? "PressureChanged" : "Decided", pressure ? on_pressure_changed : on_decided,
                                NULL);
        if (r < 0)
                return 1;
        printf("ready\n");
        fflush(stdout);

        clock_gettime(CLOCK_MONOTONIC, &ts);
        deadline = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000 + (uint64_t) atoi(argv[2]) * 1000000;
        while (received < count) {
                uint64_t now;

                clock_gettime(CLOCK_MONOTONIC, &ts);
                now = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
                if (now >= deadline)
                        break;
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return 1;
                if (r == 0)
                        (void) sd_bus_wait(bus, deadline - now);
        }
        sd_bus_flush_close_unref(bus);
        return 0;
}
