#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# units-security.sh UNITDIR SRCDIR: the exposure that systemd-analyze security
# --offline=true gives each service stays at or below its budget (the GC's is
# 2.0). Prints every figure; docs/units.md records them.
set -uo pipefail
unitdir="$1" srcdir="$2"
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not installed"; exit 77; }
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT

cp "$unitdir/boxlite-gc@.service" "$T/boxlite-gc@var-lib-boxlite.service"
cp "$unitdir/boxlite-admit.service" "$T/boxlite-admit.service"
cp "$unitdir/boxlite-monitor@.service" "$T/boxlite-monitor@var-lib-boxlite.service"
cp "$srcdir/units/boxlite-report@.service" "$T/boxlite-report@boxlite-gc@var-lib-boxlite.service.service"

status=0
while read -r unit budget; do
        out="$(systemd-analyze security --offline=true "$T/$unit" 2>&1)"
        level="$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")"
        if [ -z "$level" ]; then
                echo "FAIL $unit: no exposure level in the output:"; echo "$out"; status=1; continue
        fi
        if awk -v l="$level" -v b="$budget" 'BEGIN { exit !(l <= b) }'; then
                echo "ok   $unit: exposure $level (budget $budget)"
        else
                echo "FAIL $unit: exposure $level exceeds the budget $budget"
                grep '✗' <<<"$out"
                status=1
        fi
done <<EOB
boxlite-gc@var-lib-boxlite.service 2.0
boxlite-admit.service 2.0
boxlite-monitor@var-lib-boxlite.service 2.0
boxlite-report@boxlite-gc@var-lib-boxlite.service.service 3.0
EOB
exit $status
