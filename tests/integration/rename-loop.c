/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Renames in a directory as fast as it can, until SIGTERM, as the runtime
 * does while a walk runs (clones renamed into place, boxes moved):
 *
 *   rename-loop rename DIR A B     A -> B, B -> A, ...
 *   rename-loop exchange DIR A B   renameat2(RENAME_EXCHANGE): both names always exist
 *
 * An optional fifth argument paces it: microseconds to sleep between renames.
 *
 * Prints the number of renames done on exit.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig) {
        (void) sig;
        stop = 1;
}

int main(int argc, char *argv[]) {
        unsigned long n = 0;
        bool exchange;
        int dfd;

        unsigned long pause_usec = argc == 6 ? strtoul(argv[5], NULL, 10) : 0;

        if ((argc != 5 && argc != 6) || (strcmp(argv[1], "rename") != 0 && strcmp(argv[1], "exchange") != 0)) {
                fprintf(stderr, "usage: %s rename|exchange DIR A B [PAUSE_USEC]\n", argv[0]);
                return 2;
        }
        exchange = strcmp(argv[1], "exchange") == 0;
        dfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                perror(argv[2]);
                return 1;
        }
        signal(SIGTERM, on_term);
        signal(SIGINT, on_term);

        while (!stop) {
                const char *from = n % 2 == 0 ? argv[3] : argv[4], *to = n % 2 == 0 ? argv[4] : argv[3];

                if (renameat2(dfd, exchange ? argv[3] : from, dfd, exchange ? argv[4] : to,
                              exchange ? RENAME_EXCHANGE : RENAME_NOREPLACE) < 0) {
                        fprintf(stderr, "rename: %s\n", strerror(errno));
                        return 1;
                }
                n++;
                if (pause_usec > 0)
                        (void) usleep(pause_usec);
        }
        /* Leave the names as they were. */
        if (!exchange && n % 2 == 1)
                (void) renameat2(dfd, argv[4], dfd, argv[3], RENAME_NOREPLACE);
        printf("%lu\n", n);
        return 0;
}
