#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# operator-gc.sh [--dry-run] [--grace-min N] HOME: the disk-image GC an
# operator would script without boxlite-gc, as the baseline the benchmarks
# compare boxlite-gc against. Every layer of every backing chain of every
# *.qcow2 under boxes/ and bases/ is pinned (qemu-img info --backing-chain,
# one process per overlay, as xargs -n1 runs it); every *.ext4 directly in
# images/disk-images/ modified more than N minutes ago (default 10) that no
# chain pins is printed and, without --dry-run, removed.
#
# It fails closed as far as a pipeline can: any qemu-img failure stops it
# before anything is removed. What it does not do that boxlite-gc does: it
# judges age by mtime only (not ctime or birth time), does not check that a
# file is still the same when it removes it, and has no two-phase delete, so a
# box created while it runs can lose its image.
set -euo pipefail

dry_run=0 grace_min=10
while [ $# -gt 1 ]; do
        case "$1" in
        --dry-run) dry_run=1; shift ;;
        --grace-min) grace_min="$2"; shift 2 ;;
        *) break ;;
        esac
done
[ $# -eq 1 ] || { echo "usage: operator-gc.sh [--dry-run] [--grace-min N] HOME" >&2; exit 2; }
home="$1"

tmp="$(mktemp -d /tmp/operator-gc.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

# -U: read the images without taking QEMU's locks, so running boxes do not make it fail.
find "$home/boxes" "$home/bases" -name '*.qcow2' -type f -print0 |
        xargs -0 -r -n1 qemu-img info -U --backing-chain --output=json |
        jq -r '.[].filename' |
        xargs -r -d '\n' realpath -e -- |
        sort -u >"$tmp/pinned"

find "$home/images/disk-images" -maxdepth 1 -type f -name '*.ext4' -mmin +"$grace_min" -print0 |
        xargs -0 -r realpath -e -- |
        sort >"$tmp/candidates"

comm -23 "$tmp/candidates" "$tmp/pinned" >"$tmp/orphans"

if [ "$dry_run" -eq 0 ]; then
        xargs -r -d '\n' rm -f -- <"$tmp/orphans"
fi
cat "$tmp/orphans"
