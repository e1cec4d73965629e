#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# boxlite-chainwalk --home --usage: where a home's space goes. Real qcow2
# overlays from qemu-img, grown by guest-like writes with qemu-io; sizes are
# checked against du, hard links and shared images counted once.
set -uo pipefail

. "$(dirname "$0")/tap.sh"

CW="${BOXLITE_CHAINWALK:?}"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed (apt-get install qemu-utils)"
command -v qemu-io >/dev/null || skip_all "qemu-io not installed (apt-get install qemu-utils)"
command -v jq >/dev/null || skip_all "jq not installed"

T="$(mktemp -d /tmp/boxlite-usage.XXXXXX)"
trap 'rm -rf "$T"' EXIT
H="$T/home"
DI="$H/images/disk-images"
mkdir -p "$DI" "$H/boxes" "$H/bases"
head -c 2M /dev/urandom >"$DI/sha256-shared.ext4"
head -c 1M /dev/urandom >"$DI/sha256-solo.ext4"
head -c 512K /dev/urandom >"$DI/sha256-orphan.ext4"
head -c 256K /dev/urandom >"$H/bases/guest.ext4"
ov() { # BOX FILE IMAGE [SIZE]
        mkdir -p "$(dirname "$H/boxes/$1/$2")"
        qemu-img create -q -f qcow2 -b "$3" -F raw "$H/boxes/$1/$2" "${4:-256M}"
}
ov small disks/disk.qcow2 "$DI/sha256-shared.ext4"
ov small disks/guest-rootfs.qcow2 "$H/bases/guest.ext4" 64M
ov grower disks/disk.qcow2 "$DI/sha256-shared.ext4"
ov other disks/disk.qcow2 "$DI/sha256-solo.ext4"
# A snapshot: the old disk moved into snapshots/, a new child on top of it.
mkdir -p "$H/boxes/other/snapshots/s1"
mv "$H/boxes/other/disks/disk.qcow2" "$H/boxes/other/snapshots/s1/disk.qcow2"
qemu-img create -q -f qcow2 -b "$H/boxes/other/snapshots/s1/disk.qcow2" -F qcow2 "$H/boxes/other/disks/disk.qcow2" 256M
# Guest writes: the grower takes 24 MiB, the snapshot child 4 MiB.
qemu-io -f qcow2 -c 'write -P 1 0 24M' "$H/boxes/grower/disks/disk.qcow2" >/dev/null
qemu-io -f qcow2 -c 'write -P 2 0 4M' "$H/boxes/other/disks/disk.qcow2" >/dev/null

out="$("$CW" --home "$H" --usage --json)"
rc=$?
check "--usage --json: exit 0 on a complete home" test $rc -eq 0
check "the growing box comes first" test "$(jq -r '.boxes[0].box' <<<"$out")" = grower
du_bytes() { du --block-size=1 -c "$@" | tail -1 | cut -f1; }
check "its allocated bytes equal du --block-size=1 of its overlays" \
        test "$(jq '.boxes[0].allocated_bytes' <<<"$out")" -eq "$(du_bytes "$H/boxes/grower/disks/disk.qcow2")"
check "a box's snapshots count with its disks (du of both)" \
        test "$(jq '.boxes[] | select(.box == "other") | .allocated_bytes' <<<"$out")" -eq \
             "$(du_bytes "$H/boxes/other/disks/disk.qcow2" "$H/boxes/other/snapshots/s1/disk.qcow2")"
check "virtual size: 256M + 64M for the box with two disks" \
        test "$(jq '.boxes[] | select(.box == "small") | .virtual_bytes' <<<"$out")" -eq $(((256 + 64) << 20))
check "the shared image is listed once, used by 2 boxes" \
        test "$(jq '[.images[] | select(.path | endswith("sha256-shared.ext4"))] | length, .[0].boxes' <<<"$out" 2>/dev/null | head -1)" = 1 -a \
             "$(jq '.images[] | select(.path | endswith("sha256-shared.ext4")) | .boxes' <<<"$out")" -eq 2
check "images are totalled once each (du of the three used)" \
        test "$(jq .images_allocated_bytes <<<"$out")" -eq "$(du_bytes "$DI/sha256-shared.ext4" "$DI/sha256-solo.ext4" "$H/bases/guest.ext4")"
check "the unreferenced image is reported" \
        jq -e '.unreferenced | length == 1 and (.[0].path | endswith("sha256-orphan.ext4"))' <<<"$out"
live_growth=0
for f in small/disks/disk.qcow2 small/disks/guest-rootfs.qcow2 grower/disks/disk.qcow2 other/disks/disk.qcow2; do
        v=$(qemu-img info --output=json "$H/boxes/$f" | jq '."virtual-size"')
        a=$(du_bytes "$H/boxes/$f")
        live_growth=$((live_growth + v - a))
done
check "committed growth is virtual minus allocated over the live overlays (snapshots excluded)" \
        test "$(jq .committed_growth_bytes <<<"$out")" -eq $live_growth
check "available bytes are those of boxes/" \
        test "$(jq .available_bytes <<<"$out")" -gt 0
ln "$H/boxes/grower/disks/disk.qcow2" "$H/boxes/grower/disks/alias.qcow2"
out2="$("$CW" --home "$H" --usage --json)"
check "a hard-linked overlay is counted once" \
        test "$(jq '.boxes[0].allocated_bytes' <<<"$out2")" -eq "$(jq '.boxes[0].allocated_bytes' <<<"$out")"
rm "$H/boxes/grower/disks/alias.qcow2"
# The same overlay in a second box, by a hard link and by a symbolic link: the total counts it once.
total="$(jq .overlays_allocated_bytes <<<"$out")"
mkdir -p "$H/boxes/zz-linked/disks" "$H/boxes/zz-symlinked/disks"
ln "$H/boxes/grower/disks/disk.qcow2" "$H/boxes/zz-linked/disks/disk.qcow2"
out2="$("$CW" --home "$H" --usage --json)"
check "an overlay hard-linked into another box is counted once in the total" \
        test "$(jq .overlays_allocated_bytes <<<"$out2")" -eq "$total"
check "... and by the first box (in name order) that has it" \
        test "$(jq '.boxes[] | select(.box == "zz-linked") | .allocated_bytes' <<<"$out2")" -eq 0
rm "$H/boxes/zz-linked/disks/disk.qcow2"
ln -s "$H/boxes/grower/disks/disk.qcow2" "$H/boxes/zz-symlinked/disks/disk.qcow2"
out2="$("$CW" --home "$H" --usage --json)"
check "an overlay reached through a symbolic link from another box is counted once in the total" \
        test "$(jq .overlays_allocated_bytes <<<"$out2")" -eq "$total"
check "... and by the first box (in name order) that reaches it" \
        test "$(jq '.boxes[] | select(.box == "zz-symlinked") | .allocated_bytes' <<<"$out2")" -eq 0
rm -r "$H/boxes/zz-linked" "$H/boxes/zz-symlinked"

human="$("$CW" --home "$H" --usage)"
check "the human table lists the growing box first" test "$(sed -n 2p <<<"$human" | awk '{print $1}')" = grower
check "the human report names the unreferenced image and the committed growth" \
        bash -c "grep -q 'sha256-orphan.ext4' <<<'$human' && grep -q 'Committed growth' <<<'$human'"

ln -s "$T/nowhere" "$H/boxes/lost"
"$CW" --home "$H" --usage --json >/dev/null 2>&1
check "--usage on a home with a link that cannot be followed exits 1" test $? -eq 1
rm "$H/boxes/lost"
"$CW" --usage "$H/boxes/small/disks/disk.qcow2" >/dev/null 2>&1
check "--usage with IMAGE arguments is a usage error" test $? -eq 2

tap_done
