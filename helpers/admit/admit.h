/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * boxlite-admit --serve: org.boxlite.Admission1 on the system (or session)
 * bus, on sd-event, exiting after idle_usec without calls.
 * admit_serve() returns 0 after an idle or signalled exit, or a negative
 * errno (already logged).
 */

#include <stdbool.h>
#include <stdint.h>

#include "admission.h"
#include "config.h"

typedef struct ServeOptions {
        const BoxliteConfig *config;
        const char *default_home;
        bool user;
        uint64_t idle_usec;
} ServeOptions;

int admit_serve(const ServeOptions *o);
