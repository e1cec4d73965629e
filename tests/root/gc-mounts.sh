#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A part of the home that is not mounted looks empty: boxes/ on a tmpfs of
# its own, in a private mount namespace, declared in an fstab of the test's
# (LIBMOUNT_FSTAB, read by libmount). Unmounted, the GC must keep every image
# and fail closed, naming the mount point; mounted, the orphan goes and the
# box's image stays. The same for bases/, and for a home reached by a link.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../integration/tap.sh"

GC="${BOXLITE_GC:?}"
[ "$(id -u)" -eq 0 ] || skip_all "needs root: tmpfs mounts in a private mount namespace (CI runs as root)"
command -v jq >/dev/null || skip_all "jq not installed"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed"

if [ -z "${BOXLITE_IN_NS:-}" ]; then
        exec unshare --mount --propagation private env BOXLITE_IN_NS=1 "$0" "$@"
fi

T="$(mktemp -d /tmp/boxlite-gc-mounts.XXXXXX)"
trap 'umount -R "$T/home/boxes" "$T/home/bases" 2>/dev/null; rm -rf "$T"' EXIT
H="$T/home" DI="$T/home/images/disk-images"
mkdir -p "$DI" "$H/boxes" "$H/bases"
export LIBMOUNT_FSTAB="$T/fstab"

images() { ls "$DI" | grep -c '\.ext4$'; }
newimages() {
        for i in a orphan; do [ -e "$DI/sha256-$i.ext4" ] || head -c 1048576 /dev/urandom >"$DI/sha256-$i.ext4"; done
        touch -d '1 hour ago' "$DI"/*.ext4
}
gc() {
        out="$("$GC" --home "${HOME_ARG:-$H}" --json --grace 2s "$@" 2>"$T/stderr")"
        rc=$?
}

# The issue's reproduction: boxes/ is a disk of its own, with one box; the disk is unmounted.
newimages
mount -t tmpfs -o size=16m tmpfs "$H/boxes"
mkdir -p "$H/boxes/web/disks"
qemu-img create -q -f qcow2 -F raw -b "$DI/sha256-a.ext4" "$H/boxes/web/disks/disk.qcow2"
echo "tmpfs $H/boxes tmpfs size=16m 0 0" >"$LIBMOUNT_FSTAB"
umount "$H/boxes"
sleep 2.2
gc
check "boxes/ declared in fstab and not mounted: the GC fails closed (status 1)" test "$rc" -eq 1
check "... keeps every image" test "$(images)" -eq 2
check "... and names the mount point and the fstab" \
        jq -e --arg m "$H/boxes" --arg f "$LIBMOUNT_FSTAB" \
        '.fail_closed and (.errors[] | select((.error | contains("'"'"'" + $m + "'"'"' is declared in " + $f)) and (.error | test("not mounted|nothing is mounted"))))' <<<"$out"
gc --dry-run
check "a dry run says the same and would reclaim nothing" \
        jq -e '.fail_closed and .reclaimed_count == 0' <<<"$out"

# A box created in the bare mount point meanwhile changes nothing: the disk is still missing.
mkdir -p "$H/boxes/stray/disks"
qemu-img create -q -f qcow2 -F raw -b "$DI/sha256-a.ext4" "$H/boxes/stray/disks/disk.qcow2"
sleep 2.2
gc
check "a box made in the bare mount point: still fails closed, every image kept" \
        bash -c "[ $rc -eq 1 ] && [ $(images) -eq 2 ]"
rm -rf "$H/boxes/stray"

# Through a link to the home: the same fstab entry is found by its real path.
ln -s "$H" "$T/link"
HOME_ARG="$T/link" gc
check "the home given by a symbolic link: fails closed too" bash -c "[ $rc -eq 1 ] && [ $(images) -eq 2 ]"

# bases/ declared and not mounted, boxes/ mounted: fails closed as well.
mount -t tmpfs -o size=16m tmpfs "$H/boxes"
mkdir -p "$H/boxes/web/disks"
qemu-img create -q -f qcow2 -F raw -b "$DI/sha256-a.ext4" "$H/boxes/web/disks/disk.qcow2"
echo "tmpfs $H/bases tmpfs size=16m 0 0" >>"$LIBMOUNT_FSTAB"
sleep 2.2
gc
check "bases/ declared and not mounted (boxes/ mounted): fails closed, every image kept" \
        bash -c "[ $rc -eq 1 ] && [ $(images) -eq 2 ] && jq -e --arg m '$H/bases' '.errors[] | select(.error | contains(\$m))' <<<'$out' >/dev/null"

# Control: everything mounted, the orphan goes and the box's image stays.
mount -t tmpfs -o size=16m tmpfs "$H/bases"
sleep 2.2
gc
check "everything declared is mounted: the run is clean (status 0)" test "$rc" -eq 0
check "... the orphan went, the box's image stayed" \
        bash -c "[ ! -e '$DI/sha256-orphan.ext4' ] && [ -e '$DI/sha256-a.ext4' ]"

# Entries outside the home, swap and noauto ones elsewhere, do not matter.
newimages
printf '%s\n' "tmpfs $T/elsewhere tmpfs defaults 0 0" "/dev/nowhere none swap sw 0 0" >"$LIBMOUNT_FSTAB"
sleep 2.2
gc
check "fstab entries outside the home are not the home's business: clean, the orphan goes" \
        bash -c "[ $rc -eq 0 ] && [ ! -e '$DI/sha256-orphan.ext4' ]"

tap_done
