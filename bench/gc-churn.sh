#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# gc-churn.sh BUILD_DIR [REPORT]: boxlite-gc on a home that never holds still.
# A 10,000-box home (bench/gen-home); one box directory is renamed back and
# forth (tests/integration/rename-loop) at 0, 1, 10, 100 and 1,000 renames/s
# and as fast as one thread can, while dry runs follow one another; then
# deleting runs under 100 renames/s, each on orphans made again. For each
# rate: the share of clean runs (exit 0), the median and the largest wall time
# and the rounds the walk took, each time as a ratio to the median of the
# quiet runs (0/s) of the same script run. A deleting run must take exactly
# the orphans and keep every other image (checked).
#
# Peak RSS of a quiet dry run and of one under 100 renames/s, per overlay.
#
# Environment: BOXLITE_BENCH_BOXES (10000), BOXLITE_BENCH_RUNS (20 dry runs a
# rate), BOXLITE_BENCH_DELETE_RUNS (5). Prints a Markdown section; with REPORT
# (docs/BENCHMARKS.md) it also replaces the section between the markers
# "<!-- gc-churn -->" and "<!-- /gc-churn -->" there, or appends it.
set -euo pipefail

build="$1" report="${2:-}"
src="$(cd "$(dirname "$0")/.." && pwd)"
gc="$build/helpers/gc/boxlite-gc"
gen="$build/bench/gen-home"
bexec="$build/bench/bench-exec"
loop="$build/tests/integration/rename-loop"
boxes="${BOXLITE_BENCH_BOXES:-10000}"
runs="${BOXLITE_BENCH_RUNS:-20}"
delete_runs="${BOXLITE_BENCH_DELETE_RUNS:-5}"
for p in "$gc" "$gen" "$loop" "$bexec"; do [ -x "$p" ] || { echo "gc-churn: $p not built" >&2; exit 1; }; done
command -v qemu-img >/dev/null && command -v jq >/dev/null || { echo "gc-churn: needs qemu-img and jq" >&2; exit 1; }

. "$src/bench/templates.sh"
d="$(mktemp -d /var/tmp/boxlite-gc-churn.XXXXXX)"
loop_pid=
trap '[ -z "$loop_pid" ] || kill "$loop_pid" 2>/dev/null; rm -rf "$d"' EXIT
H="$d/home"
# The GC remembers the mount points of the homes it collects: here, not in the machine's state directory.
export BOXLITE_STATE_DIRECTORY="$d/state"
bench_home "$d" "$boxes" --orphan-list "$d/orphans"
read -r _ _ _ overlays _ _ _ _ _ nimages _ norphans <"$d/summary"
victim="$(ls "$H/boxes" | sed -n "$((boxes / 2))p")"

# rate_pause RATE: rename-loop's pause between renames, in microseconds ("" as fast as it can).
rate_pause() {
        case "$1" in
        max) echo "" ;;
        *) echo $((1000000 / $1)) ;;
        esac
}

start_churn() {
        [ "$1" = 0 ] && return 0
        "$loop" rename "$H/boxes" "$victim" "$victim-moving" $(rate_pause "$1") >"$d/renames" &
        loop_pid=$!
}

stop_churn() {
        [ -z "$loop_pid" ] && return 0
        kill "$loop_pid" 2>/dev/null || true
        wait "$loop_pid" 2>/dev/null || true
        loop_pid=
        # The victim back under its name, the home at rest again (past the racy window).
        [ -e "$H/boxes/$victim" ] || mv "$H/boxes/$victim-moving" "$H/boxes/$victim"
        sleep 2.2
}

# one ARGS...: a GC run; appends "status wall_us rounds rewalked" to $d/runs.
one() {
        local t0 t1 rc=0 json
        t0=$(date +%s%N)
        json="$("$gc" --home "$H" --json --grace 1s "$@" 2>/dev/null)" || rc=$?
        t1=$(date +%s%N)
        echo "$rc $(((t1 - t0) / 1000)) $(jq -r '"\(.walk_rounds) \(.walk_rewalked)"' <<<"$json")" >>"$d/runs"
}

# median COLUMN / largest COLUMN of $d/runs.
median() {
        cut -d' ' -f"$1" "$d/runs" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)) }'
}
largest() {
        cut -d' ' -f"$1" "$d/runs" | sort -n | tail -1
}

# stats: "clean_pct median_us max_us median_rounds max_rounds" of $d/runs.
stats() {
        echo "$(awk '{ n++; c += $1 == 0 } END { printf "%.0f", 100 * c / n }' "$d/runs") $(median 2) $(largest 2)" \
                "$(median 3) $(largest 3)"
}

declare -A res
for rate in 0 1 10 100 1000 max; do
        : >"$d/runs"
        start_churn "$rate"
        for _ in $(seq "$runs"); do one --dry-run; done
        stop_churn
        res[$rate]="$(stats)"
done
read -r _ quiet_med _ _ _ <<<"${res[0]}"

# rss RATE: peak RSS (KiB) of one dry run.
rss() {
        rm -f "$d/t"
        start_churn "$1"
        "$bexec" --runs 1 --warmup 0 --times "$d/t" -- "$gc" --home "$H" --dry-run --grace 1s >/dev/null 2>&1 || true
        stop_churn
        cut -d' ' -f2 "$d/t"
}
rss_quiet="$(rss 0)" rss_churn="$(rss 100)"

# Deleting runs under 100 renames/s: the orphans made again and aged before each.
: >"$d/runs"
deleted_ok=0
for _ in $(seq "$delete_runs"); do
        bench_gen "$d" "$boxes" --images-only >/dev/null
        sleep 2.2
        start_churn 100
        one
        stop_churn
        left=$(find "$H/images/disk-images" -maxdepth 1 -name '*.ext4' | wc -l)
        gone=0
        while read -r p; do [ -e "$p" ] || gone=$((gone + 1)); done <"$d/orphans"
        [ "$left" -eq $((nimages - norphans)) ] && [ "$gone" -eq "$norphans" ] && deleted_ok=$((deleted_ok + 1))
done
res[delete]="$(stats)"

{
        echo "<!-- gc-churn -->"
        echo
        echo "## Under churn"
        echo
        echo "Generated by \`bench/gc-churn.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') (load average $(cut -d' ' -f1-3 /proc/loadavg) at the end)."
        echo
        echo "Home: $boxes boxes, $overlays overlays, $nimages disk-images ($norphans orphans); one box directory"
        echo "renamed back and forth in boxes/; $runs dry runs a rate, $delete_runs deleting runs. Quiet median: $((quiet_med / 1000)) ms."
        echo
        echo "| renames/s | runs | clean | median wall | ratio to quiet | largest wall | ratio to quiet | rounds, median (largest) |"
        echo "|---|---|---|---|---|---|---|---|"
        for rate in 0 1 10 100 1000 max delete; do
                read -r clean med max rmed rmax <<<"${res[$rate]}"
                label="$rate"
                [ "$rate" = max ] && label="as fast as one thread can"
                [ "$rate" = delete ] && label="100, deleting runs"
                n=$runs
                [ "$rate" = delete ] && n=$delete_runs
                awk -v l="$label" -v n="$n" -v c="$clean" -v m="$med" -v x="$max" -v q="$quiet_med" -v rm="$rmed" -v rx="$rmax" \
                        'BEGIN { printf "| %s | %d | %d %% | %.0f ms | %.2fx | %.0f ms | %.2fx | %d (%d) |\n",
                                 l, n, c, m / 1000, m / q, x / 1000, x / q, rm, rx }'
        done
        echo
        echo "Deleting runs that took exactly the orphans and kept every other image: $deleted_ok of $delete_runs."
        echo
        awk -v q="$rss_quiet" -v c="$rss_churn" -v n="$overlays" 'BEGIN {
                printf "Peak RSS of a dry run: %.1f MiB quiet (%.0f bytes per overlay), %.1f MiB under 100 renames/s (%.0f bytes per overlay).\n",
                       q / 1024, q * 1024 / n, c / 1024, c * 1024 / n }'
        echo
        echo "<!-- /gc-churn -->"
} >"$d/section"
cat "$d/section"
if [ -n "$report" ]; then
        if grep -q '^<!-- gc-churn -->$' "$report" 2>/dev/null; then
                awk -v f="$d/section" '/^<!-- gc-churn -->$/ { while ((getline l < f) > 0) print l; skip = 1; next }
                                       /^<!-- \/gc-churn -->$/ { skip = 0; next } !skip' "$report" >"$d/report"
                cat "$d/report" >"$report"
        else
                { echo; cat "$d/section"; } >>"$report"
        fi
fi
