#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Stands in for boxlite-gc (BOXLITE_GC_BINARY) in the GC suites, so that every
# fixture home they build is also a test of the workers: a dry run (-n,
# --dry-run) without --jobs is first run with --jobs 1 and with --jobs 3, and
# the two JSON reports, less what differs from run to run by nature (duration,
# free space), must be equal; if not, it says how and exits 99, which fails
# the check that ran it. Then it runs the command as given, in place.
bin="${BOXLITE_GC_BINARY:?}"
dry=0
for a in "$@"; do
        case "$a" in
        -n | --dry-run) dry=1 ;;
        --jobs | --jobs=*) dry=0; break ;;
        esac
done
if [ "$dry" = 1 ]; then
        t="$(mktemp -d)"
        norm='del(.duration_usec, .available_bytes_before, .available_bytes_after)'
        same=0
        # A file can cross the grace boundary between two runs: a difference must show twice.
        for _ in 1 2; do
                "$bin" "$@" --json --jobs 1 2>/dev/null | jq -S "$norm" >"$t/one" 2>/dev/null
                "$bin" "$@" --json --jobs 3 2>/dev/null | jq -S "$norm" >"$t/three" 2>/dev/null
                if cmp -s "$t/one" "$t/three"; then
                        same=1
                        break
                fi
        done
        if [ "$same" = 0 ]; then
                echo "gc-jobs-same: one worker and three report differently for: $*" >&2
                diff "$t/one" "$t/three" | head -20 >&2
                rm -rf "$t"
                exit 99
        fi
        rm -rf "$t"
fi
exec "$bin" "$@"
