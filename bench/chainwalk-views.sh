#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# chainwalk-views.sh BUILD_DIR [OUT]: what the views of a home cost next to
# the GC's walk of it. A 10,000-box home (bench/gen-home, 20,000 overlays);
# boxlite-chainwalk --home, --home --json, --usage and --usage --json and
# boxlite-gc --dry-run are run in turn, BOXLITE_BENCH_RUNS (7) rounds,
# interleaved. For each: the median wall time as a ratio to the GC's median
# of the same script run, and the peak RSS (the largest of its runs, from
# bench/bench-exec --times) per overlay, whole and above the program's floor
# (its peak RSS on an empty home: the libraries, what does not grow with the
# home). Prints a Markdown table (to OUT too).
#
# Environment: BOXLITE_BENCH_BOXES (10000), BOXLITE_BENCH_RUNS (7).
set -euo pipefail

build="$1" out="${2:-/dev/null}"
src="$(cd "$(dirname "$0")/.." && pwd)"
gc="$build/helpers/gc/boxlite-gc"
cw="$build/helpers/chainwalk/boxlite-chainwalk"
gen="$build/bench/gen-home"
bexec="$build/bench/bench-exec"
boxes="${BOXLITE_BENCH_BOXES:-10000}"
runs="${BOXLITE_BENCH_RUNS:-7}"
for p in "$gc" "$cw" "$gen" "$bexec"; do [ -x "$p" ] || { echo "chainwalk-views: $p not built" >&2; exit 1; }; done
command -v qemu-img >/dev/null || { echo "chainwalk-views: needs qemu-img" >&2; exit 1; }

. "$src/bench/templates.sh"
d="$(mktemp -d /var/tmp/boxlite-chainwalk-views.XXXXXX)"
trap 'rm -rf "$d"' EXIT
H="$d/home"
# The GC remembers the mount points of the homes it collects: here, not in the machine's state directory.
export BOXLITE_STATE_DIRECTORY="$d/state"
bench_home "$d" "$boxes"
read -r _ _ _ overlays _ <"$d/summary"

names=(gc home home-json usage usage-json)
# cmd NAME [HOME]
cmd() {
        local H="${2:-$H}"
        case "$1" in
        gc) echo "$gc" --home "$H" --dry-run --grace 1s ;;
        home) echo "$cw" --home "$H" ;;
        home-json) echo "$cw" --home "$H" --json ;;
        usage) echo "$cw" --home "$H" --usage ;;
        usage-json) echo "$cw" --home "$H" --usage --json ;;
        esac
}

# run NAME FILE [HOME]: one run, "name wall_us rss_kib" appended to FILE.
run() {
        rm -f "$d/t"
        # shellcheck disable=SC2046
        "$bexec" --runs 1 --warmup 0 --times "$d/t" -- $(cmd "$1" "${3:-}") >/dev/null 2>&1 || {
                echo "chainwalk-views: $1 failed" >&2
                exit 1
        }
        read -r wall_ns rss _ <"$d/t"
        echo "$1 $((wall_ns / 1000)) $rss" >>"$2"
}

mkdir -p "$d/empty/boxes" "$d/empty/bases" "$d/empty/images/disk-images"
for n in "${names[@]}"; do run "$n" "$d/floor" "$d/empty"; done
for ((i = 0; i < runs; i++)); do
        for n in "${names[@]}"; do run "$n" "$d/runs"; done
done

median() {
        awk -v n="$1" '$1 == n { print $2 }' "$d/runs" | sort -n |
                awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)) }'
}
peak() {
        awk -v n="$1" '$1 == n && $3 > m { m = $3 } END { print m }' "$d/runs"
}

gc_med="$(median gc)"
{
        echo "$boxes boxes, $overlays overlays, $runs runs each, interleaved"
        echo
        echo "| view | median wall (ms) | ratio to GC dry run | peak RSS (MiB) | bytes per overlay | above the floor |"
        echo "|---|---:|---:|---:|---:|---:|"
        for n in "${names[@]}"; do
                m="$(median "$n")" p="$(peak "$n")" f="$(awk -v n="$n" '$1 == n { print $3 }' "$d/floor")"
                awk -v n="$n" -v m="$m" -v g="$gc_med" -v p="$p" -v f="$f" -v o="$overlays" 'BEGIN {
                        printf "| %s | %.0f | %.2f | %.1f | %.0f | %.0f |\n", n, m / 1e3, m / g, p / 1024,
                                p * 1024 / o, (p - f) * 1024 / o }'
        done
} | tee "$out"
