#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# gc-bench.sh GEN FLOOR GC [BOXES] [IMAGES]: times warm-cache GC passes over a
# synthetic home against the floor program, in the same run: a dry run, a real
# run that deletes the orphans, and a real run with nothing left to delete. It
# prints wall time, peak RSS and the ratios. Defaults: 10000 boxes (two
# overlays each), 5000 disk-images, half of them orphans.
set -euo pipefail

gen="$1" floor="$2" gc="$3" boxes="${4:-10000}" images="${5:-5000}"
T="$(mktemp -d /tmp/boxlite-bench.XXXXXX)"
trap 'rm -rf "$T"' EXIT

H="$T/home"
mkdir -p "$H/images/disk-images" "$H/boxes" "$H/bases"
tmpl_backing="$H/images/disk-images/sha256-$(printf '%064d' 0).ext4"
truncate -s 1M "$tmpl_backing"
qemu-img create -q -f qcow2 -o cluster_size=512 -b "$tmpl_backing" -F raw "$T/template.qcow2"
"$gen" "$T/template.qcow2" "$H" "$boxes" "$images"
# A sample of the generated overlays must be what qemu-img reads.
qemu-img info --backing-chain "$H/boxes/box-$((boxes - 1))/disks/disk.qcow2" >/dev/null
sleep 1.1

# measure NAME CMD...: best wall time of 10 runs (after a warm-up), and peak RSS.
measure() {
        local name="$1" best="" rss=0 t0 t1 dt out
        shift
        "$@" >/dev/null 2>&1 || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
                t0=$(date +%s%N)
                /usr/bin/time -o "$T/rss" -f "%M" "$@" >/dev/null 2>/dev/null || true; out="$(tail -1 "$T/rss")"
                t1=$(date +%s%N)
                dt=$(((t1 - t0) / 1000))
                [ -z "$best" ] || [ "$dt" -lt "$best" ] && best=$dt
                [ "${out:-0}" -gt "$rss" ] 2>/dev/null && rss=$out
        done
        printf '%-22s %10.3f s %8d KiB\n' "$name" "$(bc -l <<<"$best / 1000000")" "$rss"
        eval "${name//[^a-z]/_}_us=$best"
}

echo "home: $boxes boxes ($((boxes * 2)) overlays), $images disk-images ($((images / 2)) orphans)"
echo "machine: $(nproc) cores, $(uname -r)"
measure floor "$floor" "$H"
measure gc_dry_run "$gc" --home "$H" --dry-run --grace 1s

# A real run that deletes: the orphans are recreated before each of 5 runs and
# left to age past the grace (their ctime is new); the best run counts.
best="" rss=0
for _ in 1 2 3 4 5; do
        "$gen" "$T/template.qcow2" "$H" 0 "$images"
        sleep 1.1
        "$floor" "$H" >/dev/null
        t0=$(date +%s%N)
        /usr/bin/time -o "$T/rss" -f "%M" "$gc" --home "$H" --grace 1s >/dev/null 2>/dev/null || true
        out="$(tail -1 "$T/rss")"
        t1=$(date +%s%N)
        left=$(find "$H/images/disk-images" -maxdepth 1 -name '*.ext4' | wc -l)
        if [ "$left" -ne $((images - images / 2)) ]; then
                echo "the real run left $left disk-images, expected $((images - images / 2))" >&2
                exit 1
        fi
        dt=$(((t1 - t0) / 1000))
        [ -z "$best" ] || [ "$dt" -lt "$best" ] && best=$dt
        [ "${out:-0}" -gt "$rss" ] && rss=$out
done
gc_real_us=$best
printf '%-22s %10.3f s %8d KiB  (deletes %d orphans: two walks)\n' gc_real "$(bc -l <<<"$best / 1000000")" \
        "$rss" $((images / 2))

# The orphans are gone now: a real run with nothing to delete.
measure gc_second_pass "$gc" --home "$H" --grace 1s
printf 'ratio dry run / floor: %.2f\n' "$(bc -l <<<"$gc_dry_run_us / $floor_us")"
printf 'ratio second pass / floor: %.2f\n' "$(bc -l <<<"$gc_second_pass_us / $floor_us")"
printf 'ratio real run / floor: %.2f\n' "$(bc -l <<<"$gc_real_us / $floor_us")"
