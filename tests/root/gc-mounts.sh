#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A part of the home that is not mounted looks empty: boxes/ on a tmpfs of
# its own, in a private mount namespace, declared in an fstab of the test's
# (LIBMOUNT_FSTAB, read by libmount). Unmounted, the GC must keep every image
# and fail closed, naming the mount point; mounted, the orphan goes and the
# box's image stays. The same for bases/, and for a home reached by a link.
# Then the memory: a mount a clean run crossed (boxes/, a symlinked box's
# disk) and that is gone keeps everything until --forget-mounts; admission
# and the monitor reject with limit mount-missing.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../integration/tap.sh"

GC="${BOXLITE_GC:?}"
ADMIT="${BOXLITE_ADMIT:?}"
[ "$(id -u)" -eq 0 ] || skip_all "needs root: tmpfs mounts in a private mount namespace (CI runs as root)"
command -v jq >/dev/null || skip_all "jq not installed"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed"

if [ -z "${BOXLITE_IN_NS:-}" ]; then
        exec unshare --mount --propagation private env BOXLITE_IN_NS=1 "$0" "$@"
fi

T="$(mktemp -d /tmp/boxlite-gc-mounts.XXXXXX)"
trap 'umount -R "$T/home/boxes" "$T/home/bases" "$T/disk2" 2>/dev/null; rm -rf "$T"' EXIT
H="$T/home" DI="$T/home/images/disk-images"
mkdir -p "$DI" "$H/boxes" "$H/bases"
export LIBMOUNT_FSTAB="$T/fstab"
export BOXLITE_STATE_DIRECTORY="$T/state" BOXLITE_CONF_DIR="$T/etc" DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/no-bus"
STATE="$BOXLITE_STATE_DIRECTORY/mounts-$(systemd-escape --path "$T/home").state"

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

# ---- admission: a declared mount that is missing rejects the start (75), limit mount-missing
mkdir -p "$T/etc"
admit() {
        timeout 20 "$ADMIT" --home "$H" --no-bus --json --hard-floor 1 --soft-floor 1 --soft-percent 0 "$@" >"$T/aout" 2>"$T/astderr"
        arc=$?
}
# aj FILTER [jq options...]: the admission's JSON answers FILTER.
aj() { jq -e "$@" "$T/aout" >/dev/null; }
# oj FILTER [jq options...]: the GC's JSON answers FILTER.
oj() { jq -e "$@" <<<"$out" >/dev/null; }
admit_rejected_bases() {
        [ "$arc" -eq 75 ] && aj --arg m "'$H/bases'" '.verdict == "reject" and .limit == "mount-missing" and (.reason | contains($m))'
}
admit_ok() { [ "$arc" -eq 0 ] && aj '.verdict == "ok"' || { diag "$(jq -r .reason "$T/aout"; cat "$T/astderr")" >&2; false; }; }
names_memory() {
        oj --arg m "'$H/boxes'" --arg s "$STATE" \
                '.errors[] | select((.error | contains($m)) and (.error | contains($s)) and (.error | contains("--forget-mounts")))'
}
admit_rejected_mount() { [ "$arc" -eq 75 ] && aj '.limit == "mount-missing"'; }
disk2_named() {
        [ "$rc" -eq 1 ] && [ "$(images)" -eq 2 ] && oj --arg m "'$T/disk2' was a mount point" '.errors[] | select(.error | contains($m))'
}
says_not_exist() { [ "$rc" -eq 1 ] && oj '.errors[] | select(.error | contains("does not exist now"))'; }
echo "tmpfs $H/bases tmpfs size=16m 0 0" >"$LIBMOUNT_FSTAB"
umount "$H/bases"
admit
check "admission: bases/ declared and not mounted: reject, status 75 ($arc)" admit_rejected_bases
admit --gc-on-pressure
check "admission --gc-on-pressure: no collection for a missing mount, still 75" \
        bash -c "[ $arc -eq 75 ] && jq -e '.gc_ran != true' '$T/aout' >/dev/null"
mount -t tmpfs -o size=16m tmpfs "$H/bases"
admit
check "admission: everything declared is mounted: ok, status 0 ($arc)" admit_ok
umount "$H/bases"
: >"$LIBMOUNT_FSTAB"

# ---- memory: boxes/ was a mount when the GC last ran clean, and now is bare
rm -rf "$T/state"
newimages
sleep 2.2
gc
check "a clean real run with boxes/ mounted: status 0" test "$rc" -eq 0
check "... remembers boxes/ as a mount point in its state file" grep -qx "mount=$H/boxes" "$STATE"
check "... a file of root's, mode 0644 or stricter, in a directory only root writes" \
        bash -c "[ \$(stat -c %u '$STATE') -eq 0 ] && ! stat -c %A '$STATE' | grep -q '^.....w\|^........w' && ! stat -c %A '$T/state' | grep -q '^.....w\|^........w'"
newimages
umount "$H/boxes"
mkdir -p "$H/boxes/stray/disks"
qemu-img create -q -f qcow2 -F raw -b "$DI/sha256-a.ext4" "$H/boxes/stray/disks/disk.qcow2"
sleep 2.2
gc
check "boxes/ remembered as a mount and now bare, a box made there meanwhile: fails closed, every image kept" \
        bash -c "[ $rc -eq 1 ] && [ $(images) -eq 2 ]"
check "... the error names the mount point, the memory and --forget-mounts" names_memory
gc --dry-run
check "... a dry run too" jq -e '.fail_closed and .reclaimed_count == 0' <<<"$out"
admit
check "... and admission rejects a start (75), limit mount-missing" admit_rejected_mount
mout="$(timeout 20 "$ADMIT" --monitor --home "$H" --no-bus --json --hard-floor 1 --soft-floor 1 --soft-percent 0 2>/dev/null)"
check "... and the monitor's verdict is reject, limit mount-missing" \
        jq -e '.verdict == "reject" and .limit == "mount-missing"' <<<"$mout"
gc --forget-mounts
check "--forget-mounts accepts the change: clean, the orphan goes, the stray box's image stays" \
        bash -c "[ $rc -eq 0 ] && [ ! -e '$DI/sha256-orphan.ext4' ] && [ -e '$DI/sha256-a.ext4' ]"
check "... and boxes/ is no longer remembered" bash -c "! grep -q '^mount=' '$STATE'"
rm -rf "$H/boxes/stray"

# ---- memory: a symlinked box's disk on a file system of its own
mount -t tmpfs -o size=16m tmpfs "$H/boxes"
mkdir -p "$T/disk2"
mount -t tmpfs -o size=16m tmpfs "$T/disk2"
mkdir -p "$T/disk2/web2/disks" "$H/boxes/web"
qemu-img create -q -f qcow2 -F raw -b "$DI/sha256-a.ext4" "$T/disk2/web2/disks/disk.qcow2"
ln -s "$T/disk2/web2" "$H/boxes/web2"
newimages
sleep 2.2
gc
check "a box linked onto another disk: clean, that disk remembered" \
        bash -c "[ $rc -eq 0 ] && grep -qx 'mount=$T/disk2' '$STATE' && grep -qx 'mount=$H/boxes' '$STATE'"
umount "$T/disk2"
mkdir -p "$T/disk2/web2"
newimages
sleep 2.2
gc
check "that disk unmounted (the link now reaches a bare directory): fails closed naming it, every image kept" disk2_named
rmdir "$T/disk2/web2"
mount -t tmpfs -o size=16m tmpfs "$T/disk2"
mkdir -p "$T/disk2/web2/disks"
qemu-img create -q -f qcow2 -F raw -b "$DI/sha256-a.ext4" "$T/disk2/web2/disks/disk.qcow2"
sleep 2.2
gc
check "mounted again: clean, the orphan goes" bash -c "[ $rc -eq 0 ] && [ ! -e '$DI/sha256-orphan.ext4' ]"

# ---- an unsafe memory is not trusted: the run keeps everything and says why
newimages
sleep 2.2
chmod 0777 "$T/state"
gc
check "a state directory writable by others: fails closed, naming it and what is accepted" \
        bash -c "[ $rc -eq 1 ] && [ $(images) -eq 2 ] && jq -e '.errors[] | select(.error | contains(\"writable by others\") and contains(\"accepted\"))' <<<'$out' >/dev/null"
chmod 0755 "$T/state"
mv "$STATE" "$T/real-state" && ln -s "$T/real-state" "$STATE"
gc
check "a memory that is a symbolic link: fails closed, naming it" \
        bash -c "[ $rc -eq 1 ] && [ $(images) -eq 2 ] && jq -e --arg s '$STATE' '.errors[] | select(.error | contains(\$s))' <<<'$out' >/dev/null"
rm -f "$STATE"
printf 'boxlite-gc-mounts 1\nhome=%s\nmount=%s/nowhere\n' "$H" "$T" >"$STATE"
gc
check "a memory cut short (no end line): fails closed" bash -c "[ $rc -eq 1 ] && [ $(images) -eq 2 ]"
printf 'boxlite-gc-mounts 1\nhome=%s\nmount=%s/nowhere\nend\n' "$H" "$T" >"$STATE"
gc
check "a remembered mount point that does not exist: fails closed, saying so" says_not_exist
gc --forget-mounts
check "--forget-mounts: clean again" bash -c "[ $rc -eq 0 ] && [ ! -e '$DI/sha256-orphan.ext4' ]"
umount "$T/disk2" "$H/boxes"

tap_done
