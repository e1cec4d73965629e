#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The monitor's textfile stays bounded on a home of 10,000 boxes (made by
# bench/gen-home from a qemu-img template): per-box series for the top
# [Monitor] MetricsTopBoxes= boxes by allocated bytes and one box="_other"
# for the rest, whose sum is exactly the boxes' total that --usage reports.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/tap.sh"
. "$HERE/../../bench/templates.sh"

ADMIT="${BOXLITE_ADMIT:?}" CW="${BOXLITE_CHAINWALK:?}" GEN="${BOXLITE_GEN_HOME:?}"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed"
command -v jq >/dev/null || skip_all "jq not installed"
[ -x "$GEN" ] || skip_all "bench/gen-home not built"

T="$(mktemp -d /tmp/boxlite-top-boxes.XXXXXX)"
trap 'rm -rf "$T"' EXIT
H="$T/home"
make_templates "$T"
"$GEN" "$T/disk-template.qcow2" "$H" 10000 100 >/dev/null || not_ok "gen-home wrote the home"
# Twenty-five boxes made larger than the rest, each by a different amount of real data.
for i in $(seq 1 25); do
        head -c $((i * 65536)) /dev/urandom >>"$H/boxes/box-$((i * 397))/disks/disk.qcow2"
done
mkdir -p "$T/etc" "$T/run"
export BOXLITE_CONF_DIR="$T/etc" XDG_RUNTIME_DIR="$T/run" BOXLITE_LOG_TARGET=stderr

total="$("$CW" --home "$H" --usage --json 2>/dev/null | jq '[.boxes[].allocated_bytes] | add')"
check "--usage sees the boxes' allocated bytes" test "${total:-0}" -gt 0

series() { grep -E '^boxlite_box_allocated_bytes\{' "$1"; }
sum() { series "$1" | awk '{ s += $NF } END { printf "%.0f\n", s }'; }

monitor() { # monitor TOP: one check with MetricsTopBoxes=TOP (empty: the default)
        { echo "[Monitor]"; echo "ReserveSize=0"; [ -n "$1" ] && echo "MetricsTopBoxes=$1"; } >"$T/etc/boxlite.conf"
        "$ADMIT" --monitor --home "$H" --no-bus --hard-floor 1 --soft-floor 1 --soft-percent 0 \
                --metrics-file "$T/m.prom" >/dev/null 2>"$T/err"
}

monitor ""
check "default: 20 per-box series and one _other (21)" test "$(series "$T/m.prom" | wc -l)" -eq 21
check "default: the 20 are the largest boxes" bash -c "
        for i in \$(seq 6 25); do grep -q 'box=\"box-'\$((i * 397))'\"' '$T/m.prom' || exit 1; done
        ! grep -q 'box=\"box-$((5 * 397))\"' '$T/m.prom'"
check "default: the series sum to the exact total ($total)" test "$(sum "$T/m.prom")" = "$total"
check "the number of boxes is one series" grep -qE "^boxlite_home_boxes\{home=\"$H\"\} 10000$" "$T/m.prom"
if command -v promtool >/dev/null; then
        check "promtool check metrics accepts it" bash -c "promtool check metrics <'$T/m.prom' >/dev/null 2>&1"
fi

monitor 3
check "MetricsTopBoxes=3: at most 4 per-box series" test "$(series "$T/m.prom" | wc -l)" -eq 4
check "MetricsTopBoxes=3: _other carries the rest" grep -q 'box="_other"' "$T/m.prom"
check "MetricsTopBoxes=3: the sum is still exact" test "$(sum "$T/m.prom")" = "$total"

monitor 0
check "MetricsTopBoxes=0: only _other, the exact total" \
        bash -c "[ \$(grep -c '^boxlite_box_allocated_bytes{' '$T/m.prom') -eq 1 ] &&
                 grep -qE '^boxlite_box_allocated_bytes\\{home=\"$H\",box=\"_other\"\\} $total\$' '$T/m.prom'"

monitor 20000
check "MetricsTopBoxes above the number of boxes: one series per box, no _other" \
        bash -c "[ \$(grep -c '^boxlite_box_allocated_bytes{' '$T/m.prom') -eq 10000 ] && ! grep -q '_other' '$T/m.prom'"
check "... the same total" test "$(sum "$T/m.prom")" = "$total"

printf '[Monitor]\nMetricsTopBoxes=many\n' >"$T/etc/boxlite.conf"
"$ADMIT" --monitor --home "$H" --no-bus >/dev/null 2>"$T/err"
check "a bad MetricsTopBoxes= is refused, naming the file and the key" \
        grep -qF "$T/etc/boxlite.conf:2: invalid value 'many' for MetricsTopBoxes= in [Monitor]" "$T/err"

tap_done
