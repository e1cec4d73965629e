/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * org.boxlite.Admission1 names (DESIGN.md section 6), the one-shot
 * Decided signal and the monitor's PressureChanged signal.
 *
 * bus_emit_decided() connects to the system bus (the session bus if user),
 * sends Decided and waits, at most timeout_usec in all, until the bus has
 * processed it (a Ping round trip after the signal). It returns 0 or a
 * negative errno (-ETIMEDOUT when the bus did not answer in time); callers
 * only ever log the failure, a missing bus never changes a verdict.
 */

#include <stdbool.h>
#include <stdint.h>

#include "admission.h"

#define ADMISSION_BUS_NAME "org.boxlite.Admission1"
#define ADMISSION_OBJECT_PATH "/org/boxlite/Admission1"
#define ADMISSION_INTERFACE "org.boxlite.Admission1"
#define ADMISSION_ERROR_PREFIX "org.boxlite.Admission1.Error."

int bus_emit_decided(const Decision *d, bool user, uint64_t timeout_usec);

/* PressureChanged(s home, s verdict, t available_bytes, s reason), from the monitor; bounded the same way. */
int bus_emit_pressure_changed(const char *home, Verdict verdict, uint64_t available_bytes, const char *reason,
                              bool user, uint64_t timeout_usec);
