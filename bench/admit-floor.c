/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * admit-floor HOME: the least a libsystemd-linked admission check can cost:
 * the dynamic loading of libsystemd (which journal logging needs) plus one
 * statvfs() of HOME and one line of output. A baseline for boxlite-admit.
 */

#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>

#include <systemd/sd-journal.h>

int main(int argc, char *argv[]) {
        struct statvfs sv;

        if (argc != 2 || statvfs(argv[1], &sv) < 0)
                return 1;
        /* Referencing libsystemd keeps it linked (and loaded) as boxlite-admit has it. */
        if (getenv("ADMIT_FLOOR_LOG"))
                sd_journal_print(6, "admit-floor");
        printf("%llu\n", (unsigned long long) sv.f_bavail * sv.f_frsize);
        return 0;
}
