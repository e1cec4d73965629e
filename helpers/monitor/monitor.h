/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The pressure monitor's memory and its record decision (DESIGN.md section 10).
 *
 * A MonitorState is what one run leaves for the next: the last verdict, the
 * available bytes when an entry was last recorded, and whether the monitor
 * itself released the reserve. It lives in one small file per home,
 *
 *   <state dir>/monitor-<escaped home>.state
 *
 * where <state dir> is /run/boxlite for root and $XDG_RUNTIME_DIR/boxlite for
 * other users, and the escaped home is systemd-escape --path of the home.
 *
 * monitor_state_parse() is pure and total: any input (garbage, NULs, huge
 * lines, a different home) gives a state, unknown where it cannot be read,
 * never an error. monitor_state_load() treats a missing, unreadable, foreign
 * (not ours, not a regular file, a symlink) or corrupt file the same way.
 * monitor_state_save() writes a temporary file in the directory, fsyncs it
 * and renames it over the old one, so a reader sees the old or the new state.
 *
 * monitor_decide() is pure: given the previous state and this run's verdict
 * and available bytes, it says whether to record an entry, and which kind.
 * It records transitions, not states: a change of verdict, and while warn or
 * reject persists, only a further fall of at least one step since the last
 * recorded entry.
 */

#include <stdbool.h>
#include <stdint.h>

#include "classify.h"

#define MONITOR_STATE_MAX_BYTES 4096U

typedef struct MonitorState {
        bool known;                  /* false: no usable previous state ("unknown") */
        Verdict verdict;
        uint64_t recorded_available; /* available bytes when the last entry was recorded */
        uint64_t recorded_usec;      /* CLOCK_REALTIME of that entry, 0 if none */
        bool reserve_released;       /* the monitor released the reserve at reject */
} MonitorState;

typedef enum MonitorRecord {
        MONITOR_RECORD_NONE,
        MONITOR_RECORD_RAISED,  /* ok (or unknown) -> warn or reject */
        MONITOR_RECORD_CHANGED, /* warn <-> reject */
        MONITOR_RECORD_FELL,    /* still warn or reject, a further step less available */
        MONITOR_RECORD_CLEARED, /* warn or reject -> ok */
        _MONITOR_RECORD_MAX,
        _MONITOR_RECORD_INVALID = -22,
} MonitorRecord;

const char *monitor_record_to_string(MonitorRecord r);

/* The step used when RecordStep= is 0: a tenth of the soft floor (of the hard floor without one), at least 1 MiB. */
uint64_t monitor_default_step(const AdmitLimits *limits);

MonitorRecord monitor_decide(const MonitorState *previous, Verdict verdict, uint64_t available, uint64_t step);

/* True when the verdict differs from a known previous one, or pressure is seen with no previous state. */
bool monitor_changed(const MonitorState *previous, Verdict verdict);

/*
 * Parses the text of a state file for home. Returns the state; known is false
 * unless the text is a complete, valid state of this very home.
 */
MonitorState monitor_state_parse(const char *text, size_t size, const char *home);

/* Formats a state; returns a malloc'ed string or NULL on OOM. */
char *monitor_state_format(const MonitorState *s, const char *home);

/* The state directory: dir if given, else /run/boxlite for root, $XDG_RUNTIME_DIR/boxlite otherwise. */
int monitor_state_dir(const char *dir, char **ret);

/* Reads the state of home from dir; never fails but for OOM (-ENOMEM). */
int monitor_state_load(const char *dir, const char *home, MonitorState *ret);

/*
 * Creates dir (mode 0755, or 0700 for users) if needed and writes the state atomically. -EPERM when dir
 * is not safe (owned by another user, writable by group or others): state_dir_problem() says why.
 */
int monitor_state_save(const char *dir, const char *home, const MonitorState *s);
