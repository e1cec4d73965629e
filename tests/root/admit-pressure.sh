#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Real disk pressure: a 1.5 GiB ext4 loop filesystem in a private mount
# namespace, filled by real writes across the hard floor, freed again, and
# relieved by --gc-on-pressure collecting aged orphans on that filesystem.
set -uo pipefail

. "$(dirname "$0")/../integration/tap.sh"

ADMIT="${BOXLITE_ADMIT:?}"
[ "$(id -u)" -eq 0 ] || skip_all "needs root to loop-mount a filesystem (CI runs as root)"
command -v mkfs.ext4 >/dev/null || skip_all "mkfs.ext4 not installed (e2fsprogs)"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed"

if [ -z "${BOXLITE_IN_NS:-}" ]; then
        exec unshare --mount --propagation private env BOXLITE_IN_NS=1 "$0" "$@"
fi

T="$(mktemp -d /tmp/boxlite-pressure.XXXXXX)"
trap 'umount -l "$T/mnt" 2>/dev/null; rm -rf "$T"' EXIT
truncate -s 1536M "$T/fs.img"
mkfs.ext4 -q -m 0 -E lazy_itable_init=0,nodiscard "$T/fs.img" || skip_all "mkfs.ext4 failed"
mkdir "$T/mnt"
mount -o loop "$T/fs.img" "$T/mnt" || skip_all "cannot loop-mount (no loop devices in this environment)"
H="$T/mnt/home"
DI="$H/images/disk-images"
mkdir -p "$DI" "$H/boxes" "$H/tmp"
M=$((1 << 20))

avail() {
        sync -f "$H"
        stat -f -c '%a %S' "$H" | awk '{ printf "%.0f\n", $1 * $2 }'
}

admit() {
        "$ADMIT" --home "$H" --no-bus --json --hard-floor 1G --soft-floor 1200M --soft-percent 0 "$@" 2>"$T/stderr"
}

a0=$(avail)
diag "fresh filesystem: $a0 bytes available"
out="$(admit)"
check "an empty 1.5 GiB filesystem: ok" jq -e '.verdict == "ok"' <<<"$out"

# Fill with real writes until available is just above the soft floor, then across it, then across the hard floor.
fill() {
        local name="$1" target="$2" a
        a=$(avail)
        [ "$a" -le "$target" ] && return
        dd if=/dev/urandom of="$H/tmp/$name" bs=1M count=$(((a - target) / M + 1)) status=none conv=fsync 2>/dev/null
}
fill warn-fill $((1100 * M))
out="$(admit)"; rc=$?
check "below the soft floor: warn, exit 0" bash -c "[ $rc -eq 0 ] && jq -e '.verdict == \"warn\" and .limit == \"soft-floor\"' <<<'$out'"
fill reject-fill $((900 * M))
out="$(admit)"; rc=$?
a=$(jq .available_bytes <<<"$out")
check "below the hard floor after real writes: reject, exit 75" \
        bash -c "[ $rc -eq 75 ] && jq -e '.verdict == \"reject\" and .limit == \"hard-floor\"' <<<'$out'"
check "reported available bytes are f_bavail * f_frsize ($a)" test "$a" -eq "$(avail)"
check "the reason names the hard floor" jq -e '.reason | test("below the hard floor of 1 GiB")' <<<"$out"

rm -f "$H/tmp/reject-fill" "$H/tmp/warn-fill"
out="$(admit)"; rc=$?
check "space freed: ok again, exit 0" bash -c "[ $rc -eq 0 ] && jq -e '.verdict == \"ok\"' <<<'$out'"

# --gc-on-pressure: aged orphans on the same filesystem, plus a pinned image that must survive.
for i in 1 2 3; do
        dd if=/dev/urandom of="$DI/sha256-orphan$i.ext4" bs=1M count=150 status=none
done
dd if=/dev/urandom of="$DI/sha256-pinned.ext4" bs=1M count=50 status=none
mkdir -p "$H/boxes/b1/disks"
qemu-img create -q -f qcow2 -b "$DI/sha256-pinned.ext4" -F raw "$H/boxes/b1/disks/disk.qcow2"
sleep 2.2
fill gc-fill $((1000 * M))
out="$(admit)"; rc=$?
check "with orphans filling the disk: reject without --gc-on-pressure" test $rc -eq 75
out="$(admit --gc-on-pressure --grace 2s)"; rc=$?
diag "$(jq -c '{verdict, available_bytes, gc: .gc | {first: .first.verdict, reclaimed_count, reclaimed_bytes, target_free_bytes}}' <<<"$out")"
check "--gc-on-pressure: the GC freed orphans and the verdict flipped to ok, exit 0" \
        bash -c "[ $rc -eq 0 ] && jq -e '.verdict == \"ok\" and .gc.first.verdict == \"reject\" and .gc.reclaimed_count >= 1' <<<'$out'"
check "--gc-on-pressure: LRU reclaim stopped at the target, not every orphan" \
        jq -e '.gc.reclaimed_count == 2' <<<"$out"
check "--gc-on-pressure: the pinned image survived" test -e "$DI/sha256-pinned.ext4"
check "--gc-on-pressure: the final available bytes are real (statvfs after the GC)" \
        test "$(jq .available_bytes <<<"$out")" -ge $((1200 * M))

rm -f "$H/tmp/gc-fill"
fill fresh-fill $((800 * M))
dd if=/dev/urandom of="$DI/sha256-fresh.ext4" bs=1M count=10 status=none
rm -f "$DI"/sha256-orphan*.ext4
out="$(admit --gc-on-pressure)"; rc=$?
check "--gc-on-pressure keeps the grace: a fresh orphan stays and the box is refused" \
        bash -c "[ $rc -eq 75 ] && [ -e '$DI/sha256-fresh.ext4' ] && jq -e '.gc.reclaimed_count == 0' <<<'$out'"

tap_done
