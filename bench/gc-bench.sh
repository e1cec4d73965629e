#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# gc-bench.sh GEN FLOOR GC [BOXES] [IMAGES]: times a warm-cache GC pass (dry run
# and real run) over a synthetic home against the floor program, in the same
# run, and prints wall time, peak RSS and the ratio. Defaults: 10000 boxes
# (two overlays each), 5000 disk-images, half of them orphans.
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

# measure NAME CMD...: best wall time of 5 runs (after a warm-up), and peak RSS.
measure() {
        local name="$1" best="" rss=0 t0 t1 dt out
        shift
        "$@" >/dev/null 2>&1 || true
        for _ in 1 2 3 4 5; do
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
# The real run deletes the orphans; each repetition after the first is a pass with nothing to delete.
cp -al "$H/images/disk-images" "$T/images-backup"
t0=$(date +%s%N)
/usr/bin/time -o "$T/rss" -f "%M" "$gc" --home "$H" --grace 1s >/dev/null 2>/dev/null || true; out="$(tail -1 "$T/rss")"
t1=$(date +%s%N)
real_us=$(((t1 - t0) / 1000))
printf '%-22s %10.3f s %8d KiB  (first real run: deletes %d orphans)\n' gc_real "$(bc -l <<<"$real_us / 1000000")" "$out" $((images / 2))
measure gc_second_pass "$gc" --home "$H" --grace 1s
printf 'ratio dry run / floor: %.2f\n' "$(bc -l <<<"$gc_dry_run_us / $floor_us")"
printf 'ratio second pass / floor: %.2f\n' "$(bc -l <<<"$gc_second_pass_us / $floor_us")"
