#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# gc-rounds.sh BUILD_DIR HOME_DIR ROUNDS OUT: the GC against bench/gc-floor,
# round by round, on a home made by bench/run.py (HOME_DIR holds home/, the
# templates and the orphan list). Each round runs, one after the other:
#
#   floor, boxlite-gc --dry-run --jobs 1, boxlite-gc --dry-run --jobs 2,
#   for J in 1 2: (orphans made again, aged past the 1 s grace and the walk's
#   2 s racy window), floor, boxlite-gc --jobs J deleting the orphans
#   (checked: exactly they are gone),
#
# so each program is compared with a floor measured seconds before it, not
# minutes: the ratio of a round is its program over its floor, and the report
# gives the median of those ratios with their range. For every run the
# script records whether a second core was free: the CPU time the whole
# machine spent (from /proc/stat) beyond the measured program's own (from
# wait4()), over the run's wall time, below half a core; ratio_core_free is
# the median ratio of the runs that had it.
#
# OUT gets one line per run: "round program wall_us rss_kib user_us sys_us
# other_cores", then summary lines "summary NAME key=value...".
set -euo pipefail

build="$1" d="$2" rounds="$3" out="$4"
gc="$build/helpers/gc/boxlite-gc"
floor="$build/bench/gc-floor"
bexec="$build/bench/bench-exec"
gen="$build/bench/gen-home"
H="$d/home"
hz="$(getconf CLK_TCK)"
tmp="$(mktemp -d /tmp/boxlite-gc-rounds.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
# The GC remembers the mount points of the homes it collects: here, not in the machine's state directory.
export BOXLITE_STATE_DIRECTORY="$tmp/state"

read -r _ boxes _ _ _ _ _ _ _ nimages _ _ <"$d/summary"
orphan_pct="${BOXLITE_BENCH_ORPHAN_PCT:-50}"

# busy_jiffies: all CPUs' non-idle time so far.
busy_jiffies() {
        awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# measure ROUND NAME COMMAND...: one run, one line in OUT.
measure() {
        local round="$1" name="$2" b0 b1
        shift 2
        rm -f "$tmp/t"
        b0="$(busy_jiffies)"
        "$bexec" --runs 1 --warmup 0 --times "$tmp/t" -- "$@" >/dev/null || {
                echo "gc-rounds: $name failed in round $round" >&2
                exit 1
        }
        b1="$(busy_jiffies)"
        read -r wall_ns rss user_us sys_us _ <"$tmp/t"
        awk -v r="$round" -v n="$name" -v w="$wall_ns" -v m="$rss" -v u="$user_us" -v s="$sys_us" \
                -v b="$((b1 - b0))" -v hz="$hz" 'BEGIN {
                        other = (b / hz - (u + s) / 1e6) / (w / 1e9)
                        printf "%s %s %.0f %d %d %d %.2f\n", r, n, w / 1e3, m, u, s, (other > 0 ? other : 0) }' >>"$out"
}

remake_orphans() {
        local bases=$((boxes / 100 > 0 ? boxes / 100 : 1))
        "$gen" --base-template "$d/via-template.qcow2" --bases "$bases" --via-base 20 --orphans "$orphan_pct" \
                --seed 42 --images-only "$d/disk-template.qcow2" "$H" "$boxes" "$((boxes / 2))" >/dev/null
        # Past the grace (1 s) and the racy window of the walk (2 s): the state of a home at rest.
        sleep 2.2
        "$floor" "$H" >/dev/null
}

check_deleted() {
        local left
        left=$(find "$H/images/disk-images" -maxdepth 1 -name '*.ext4' | wc -l)
        [ "$left" -eq "$((nimages - $(wc -l <"$d/orphans")))" ] || {
                echo "gc-rounds: $left disk-images left after a real run" >&2
                exit 1
        }
        while read -r p; do
                [ ! -e "$p" ] || { echo "gc-rounds: orphan '$p' survived a real run" >&2; exit 1; }
        done <"$d/orphans"
}

: >"$out"
# One warm-up of each, uncounted.
"$floor" "$H" >/dev/null
"$gc" --home "$H" --dry-run --grace 1s >/dev/null 2>&1
for r in $(seq "$rounds"); do
        measure "$r" floor_dry "$floor" "$H"
        measure "$r" gc_dry1 "$gc" --home "$H" --dry-run --grace 1s --jobs 1
        measure "$r" gc_dry2 "$gc" --home "$H" --dry-run --grace 1s --jobs 2
        for j in 1 2; do
                remake_orphans
                measure "$r" "floor_real$j" "$floor" "$H"
                measure "$r" "gc_real$j" "$gc" --home "$H" --grace 1s --jobs "$j"
                check_deleted
        done
done
remake_orphans

# summary NAME PROGRAM FLOOR: medians, ranges and ratios of the rounds.
summary() {
        awk -v p="$2" -v f="$3" -v name="$1" '
                function med(a, n,   i, j, t) {
                        for (i = 2; i <= n; i++)
                                for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
                        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
                }
                $2 == f { fw[$1] = $3 }
                $2 == p { n++; w[n] = $3; rss[n] = $4; rd[n] = $1; oc[n] = $7; free += ($7 < 0.5) }
                END {
                        for (i = 1; i <= n; i++) {
                                ratio[i] = w[i] / fw[rd[i]]; r2[i] = ratio[i]; w2[i] = w[i]; f2[i] = fw[rd[i]]; m2[i] = rss[i]
                                if (i == 1 || ratio[i] < rmin) rmin = ratio[i]
                                if (i == 1 || ratio[i] > rmax) rmax = ratio[i]
                                if (i == 1 || w[i] < wmin) wmin = w[i]
                                if (i == 1 || w[i] > wmax) wmax = w[i]
                                if (oc[i] < 0.5) { nf++; rf[nf] = ratio[i] }
                        }
                        printf "summary %s n=%d median_us=%.0f min_us=%.0f max_us=%.0f floor_median_us=%.0f ratio=%.2f ratio_min=%.2f ratio_max=%.2f rss_kib=%.0f second_core_free=%d ratio_core_free=%s\n",
                                name, n, med(w2, n), wmin, wmax, med(f2, n), med(r2, n), rmin, rmax, med(m2, n), free,
                                nf ? sprintf("%.2f", med(rf, nf)) : "none"
                }' "$out"
}
{
        summary dry1 gc_dry1 floor_dry
        summary dry2 gc_dry2 floor_dry
        summary real1 gc_real1 floor_real1
        summary real2 gc_real2 floor_real2
} >>"$out"
