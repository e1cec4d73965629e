#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# gc-plan.sh BUILD_DIR DIR ROUNDS OUT: large reports and plans. Makes a home
# in DIR of 10,000 boxes and 100,000 disk-images (about 84,000 of them
# orphans, so a report lists 100,000 entries), then per round:
#
#   boxlite-gc --dry-run            (its peak RSS: the baseline of the next)
#   boxlite-gc --dry-run --json     (the report of 100,000 entries)
#   boxlite-gc --apply-plan PLAN    (PLAN: that report; deletes the orphans)
#   (orphans made again, aged)
#   boxlite-gc                      (the real run the plan is compared with)
#
# The plan is made right before it is applied: a plan matches by inode, and
# the orphans are new files each round. OUT gets key=value summary lines.
set -euo pipefail

build="$1" d="$2" rounds="$3" out="$4"
gc="$build/helpers/gc/boxlite-gc"
bexec="$build/bench/bench-exec"
gen="$build/bench/gen-home"
boxes=10000 images=100000
H="$d/home"
# The GC remembers the mount points of the homes it collects: here, not in the machine's state directory.
export BOXLITE_STATE_DIRECTORY="$d/state"

. "$(dirname "$0")/templates.sh"
make_templates "$d"
gen_home() {
        "$gen" --base-template "$d/via-template.qcow2" --bases $((boxes / 100)) --via-base 20 --orphans 50 \
                --seed 42 "$@" "$d/disk-template.qcow2" "$H" "$boxes" "$images" >"$d/summary"
}
gen_home
sleep 2.2

# run NAME COMMAND...: one measured run, its wall time and peak RSS appended to $d/NAME.
run() {
        local name="$1"
        shift
        rm -f "$d/t"
        "$bexec" --runs 1 --warmup 0 --times "$d/t" "$@" >/dev/null || {
                echo "gc-plan: $name failed" >&2
                exit 1
        }
        awk '{ printf "%.0f %d\n", $1 / 1000, $2 }' "$d/t" >>"$d/$name"
}

rm -f "$d"/{dry,json,apply,real}
for _ in $(seq "$rounds"); do
        run dry -- "$gc" --home "$H" --dry-run --grace 1s
        run json -- "$gc" --home "$H" --dry-run --grace 1s --json
        "$gc" --home "$H" --dry-run --grace 1s --json >"$d/plan.json" 2>/dev/null
        run apply -- "$gc" --home "$H" --grace 1s --apply-plan "$d/plan.json"
        gen_home --images-only
        sleep 2.2
        run real -- "$gc" --home "$H" --grace 1s
        gen_home --images-only
        sleep 2.2
done

entries="$(jq '.reclaimed_count + .kept_count' "$d/plan.json")"
planned="$(jq '.reclaimed_count' "$d/plan.json")"
med() { # med FILE COLUMN
        awk -v c="$2" '{ print $c }' "$1" | sort -g |
                awk '{ v[NR] = $1 } END { printf "%.0f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
{
        echo "entries=$entries planned=$planned rounds=$rounds plan_bytes=$(stat -c %s "$d/plan.json")"
        echo "dry_us=$(med "$d/dry" 1) dry_rss_kib=$(med "$d/dry" 2)"
        echo "json_us=$(med "$d/json" 1) json_rss_kib=$(med "$d/json" 2)"
        echo "apply_us=$(med "$d/apply" 1) apply_rss_kib=$(med "$d/apply" 2)"
        echo "real_us=$(med "$d/real" 1) real_rss_kib=$(med "$d/real" 2)"
        awk -v a="$(med "$d/apply" 1)" -v r="$(med "$d/real" 1)" -v j="$(med "$d/json" 2)" -v n="$entries" \
                'BEGIN { printf "apply_ratio=%.2f json_bytes_per_entry=%.0f\n", a / r, j * 1024 / n }'
} >"$out"
