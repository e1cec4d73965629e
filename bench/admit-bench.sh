#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# admit-bench.sh ADMIT FLOOR [OUT]: one boxlite-admit run, process start to
# exit, against /bin/true and against admit-floor (libsystemd loaded, one
# statvfs) in the same run, with hyperfine. Then the same with the Decided
# signal sent to a private dbus-daemon. Prints a Markdown table (and writes it
# to OUT if given).
set -euo pipefail
admit="$1" floor="$2" out="${3:-}"
command -v hyperfine >/dev/null || { echo "hyperfine not installed (apt-get install hyperfine)"; exit 77; }
T="$(mktemp -d /tmp/boxlite-admit-bench.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/home/images/disk-images" "$T/home/boxes"
export BOXLITE_CONF_DIR="$T/etc" BOXLITE_LOG_TARGET=stderr

cat >"$T/bus.conf" <<EOC
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><listen>unix:path=$T/bus</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_type="method_call"/><allow send_type="signal"/>
<allow receive_type="method_call"/><allow receive_type="method_return"/><allow receive_type="error"/><allow receive_type="signal"/></policy>
</busconfig>
EOC
dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile 2>/dev/null &
for _ in $(seq 50); do [ -S "$T/bus" ] && break; sleep 0.1; done

hyperfine -N --warmup 50 --runs 1000 --export-json "$T/r.json" \
        -n true /bin/true \
        -n admit-floor "$floor $T/home" \
        -n "admit --no-bus" "$admit --home $T/home --no-bus" \
        -n "admit + Decided on a bus" "env DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/bus $admit --home $T/home" \
        >/dev/null 2>&1
jq -r '
        (.results[0].median) as $t | (.results[1].median) as $f |
        "| command | median | mean ± σ | ratio to /bin/true | ratio to admit-floor |",
        "|---|---|---|---|---|",
        (.results[] | "| \(.command) | \(.median * 1e6 | floor) µs | \(.mean * 1e6 | floor) ± \(.stddev * 1e6 | floor) µs | \(.median / $t * 100 | round / 100) | \(.median / $f * 100 | round / 100) |")
' "$T/r.json" | tee ${out:+"$out"}
