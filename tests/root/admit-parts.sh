#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Admission of every filesystem a box writes to, in a private mount
# namespace: the home on a 2 GiB tmpfs, boxes/ and images/ on small tmpfs
# mounts of their own (mounted there or reached by a symlink), a FUSE file
# system that never answers (tests/root/hung-fs.py) for the hung-mount cases,
# the GC under a deadline, and the D-Bus service on a private dbus-daemon
# staying responsive while a probe of the hung mount is pending.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../integration/tap.sh"
. "$HERE/../integration/bus.sh"
export BOXLITE_SRC="$HERE/../.."

ADMIT="${BOXLITE_ADMIT:?}"
[ "$(id -u)" -eq 0 ] || skip_all "needs root: tmpfs and FUSE mounts in a private mount namespace (CI runs as root)"
command -v jq >/dev/null || skip_all "jq not installed"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed"
command -v dbus-daemon >/dev/null || skip_all "dbus-daemon not installed"
command -v busctl >/dev/null || skip_all "busctl not installed"
[ -e /dev/fuse ] || skip_all "no /dev/fuse"
/usr/bin/python3 -c 'import fuse' 2>/dev/null || skip_all "python3-fuse not installed"

if [ -z "${BOXLITE_IN_NS:-}" ]; then
        exec unshare --mount --propagation private env BOXLITE_IN_NS=1 "$0" "$@"
fi

T="$(mktemp -d /tmp/boxlite-parts.XXXXXX)"
chmod 755 "$T"
cleanup() {
        stop_bus
        [ -n "${HUNG_PID:-}" ] && kill -9 "$HUNG_PID" 2>/dev/null
        kill $(jobs -p) 2>/dev/null
        umount -l "$T/fs/home/images" 2>/dev/null
        for m in "$T/hung" "$T/small" "$T/img" "$T/fs"; do umount -l "$m" 2>/dev/null; done
        rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/fs" "$T/small" "$T/img" "$T/hung"
mount -t tmpfs -o size=2g,nr_inodes=100000 tmpfs "$T/fs" || skip_all "cannot mount a tmpfs"
mount -t tmpfs -o size=200m,nr_inodes=100000 tmpfs "$T/small" || skip_all "cannot mount a tmpfs"
mount -t tmpfs -o size=1g,nr_inodes=100000 tmpfs "$T/img" || skip_all "cannot mount a tmpfs"
export BOXLITE_CONF_DIR="$T/etc"
mkdir -p "$BOXLITE_CONF_DIR"
M=$((1 << 20))
FLOORS=(--hard-floor 256M --soft-floor 300M --soft-percent 0 --inode-hard-floor 0 --inode-soft-percent 0)

admit() {
        "$ADMIT" --no-bus --json "${FLOORS[@]}" "$@" 2>"$T/stderr"
}

# ------------------------------------------------- boxes/ on a nearly full disk of its own
H="$T/fs/home"
mkdir -p "$H/images/disk-images" "$H/boxes"
mount --bind "$T/small" "$H/boxes"
out="$(admit --home "$H")"; rc=$?
diag "$(jq -c '{verdict, reason, filesystems: [.filesystems[] | {part, parts, verdict}]}' <<<"$out")"
check "a home with 2 GiB free and boxes/ on a 200 MiB filesystem: reject, exit 75" \
        bash -c "[ $rc -eq 75 ] && jq -e '.verdict == \"reject\" and .part == \"boxes/\"' <<<'$out'"
check "the reason names boxes/ and its filesystem" \
        jq -e --arg m "$T/small" '.reason | test("^boxes/ on tmpfs at .*: 200 MiB available of 200 MiB is below the hard floor of 256 MiB")' <<<"$out"
check "--json: filesystems lists the home (with images/) and boxes/, each with its figures and verdict" jq -e --arg h "$H" '
        (.filesystems | length) == 2 and
        .filesystems[0].part == "home" and .filesystems[0].parts == ["home", "images/"] and
        .filesystems[0].path == $h and .filesystems[0].verdict == "ok" and .filesystems[0].total_bytes == 2147483648 and
        .filesystems[1].part == "boxes/" and .filesystems[1].path == ($h + "/boxes") and
        .filesystems[1].verdict == "reject" and .filesystems[1].total_bytes == 209715200 and
        (.filesystems[1].available_bytes | type == "number") and
        .available_bytes == .filesystems[1].available_bytes and .total_bytes == 209715200' <<<"$out"
check "stderr carries the part in the decision line" grep -q "boxes/ on tmpfs" "$T/stderr"

# --gc-on-pressure frees images/ only: with boxes/ short it says so and collects nothing.
head -c $((5 * M)) /dev/urandom >"$H/images/disk-images/sha256-orphan.ext4"
touch -d '-1 hour' "$H/images/disk-images/sha256-orphan.ext4"
out="$(admit --home "$H" --gc-on-pressure --grace 1s)"; rc=$?
check "--gc-on-pressure with boxes/ short: no collection, the reason says why" \
        bash -c "[ $rc -eq 75 ] && jq -e '(has(\"gc\") | not) and (.gc_skipped | test(\"frees only images/\")) and
                 (.reason | test(\"garbage collection skipped\"))' <<<'$out'"
check "... and the aged orphan is still there" test -e "$H/images/disk-images/sha256-orphan.ext4"
umount "$H/boxes"

# A symlinked boxes/ is followed, and images/ on a third filesystem is judged too.
rmdir "$H/boxes"
ln -s "$T/small" "$H/boxes"
mkdir -p "$T/img/images"
mv "$H/images/disk-images" "$T/img/images/"
rmdir "$H/images"
ln -s "$T/img/images" "$H/images"
out="$(admit --home "$H")"; rc=$?
check "a symlinked boxes/ on a small disk and a symlinked images/ on a third: three filesystems, reject" jq -e '
        .verdict == "reject" and ([.filesystems[] | .part] == ["home", "boxes/", "images/"]) and
        ([.filesystems[] | .verdict] == ["ok", "reject", "ok"]) and .filesystems[2].total_bytes == 1073741824' <<<"$out"

# images/ short, boxes/ fine: the GC runs against images/ and frees it (the GC does not delete through a
# symlinked images/, so it is a mount point here).
rm -f "$H/boxes" "$H/images"; mkdir -p "$H/boxes/idle" "$H/images"  # an idle box: a boxes/ without a box is not collected
mount --bind "$T/img/images" "$H/images"
head -c $((700 * M)) /dev/zero >"$T/img/fill"
head -c $((100 * M)) /dev/urandom >"$T/img/images/disk-images/sha256-old.ext4"
touch -d '-1 hour' "$T/img/images/disk-images/sha256-old.ext4"
sleep 1.2 # the grace window counts ctime too
out="$(admit --home "$H" --gc-on-pressure --grace 1s)"; rc=$?
diag "$(jq -c '{verdict, reason, gc: (.gc | {first: .first.verdict, reclaimed_count, timed_out})}' <<<"$out")"
check "images/ short: --gc-on-pressure collects there, and the verdict is judged again" \
        bash -c "[ $rc -eq 0 ] && jq -e '.gc.first.verdict == \"reject\" and .gc.first.part == \"images/\" and
                 .gc.reclaimed_count >= 1 and .gc.timed_out == false and .verdict == \"ok\"' <<<'$out'"
rm -f "$T/img/fill"
umount "$H/images"

# Missing boxes/ and images/: the home alone is judged.
H2="$T/fs/bare"
mkdir -p "$H2"
out="$(admit --home "$H2")"; rc=$?
check "a home without boxes/ or images/: only the home is judged, ok" \
        bash -c "[ $rc -eq 0 ] && jq -e '.verdict == \"ok\" and ([.filesystems[] | .part] == [\"home\"])' <<<'$out'"
ln -s "$T/gone" "$H2/boxes"
out="$(admit --home "$H2")"
check "a dangling boxes/ symlink is not 'absent': warn, naming it" \
        jq -e '.verdict == "warn" and .part == "boxes/" and (.reason | test("No such file"))' <<<"$out"
rm -f "$H2/boxes"

out="$(admit --home /proc)"; rc=$?
check "the gate on /proc: warn (exit 0), not a home: it reports no size" \
        bash -c "[ $rc -eq 0 ] && jq -e '.verdict == \"warn\" and (.reason | test(\"reports no size\"))' <<<'$out'"
out="$(admit --home /sys)"
check "the gate on /sys: warn, not a home" jq -e '.verdict == "warn" and (.reason | test("reports no size"))' <<<"$out"

# ------------------------------------------------- a FUSE mount that never answers
/usr/bin/python3 "$HERE/hung-fs.py" "$T/hung" -f &
HUNG_PID=$!
for _ in $(seq 100); do grep -q " $T/hung " /proc/self/mountinfo && break; sleep 0.05; done
check "a FUSE file system that never answers is mounted" grep -q " $T/hung " /proc/self/mountinfo

H3="$T/fs/hung-home"
mkdir -p "$H3/images/disk-images"
ln -s "$T/hung" "$H3/boxes"
t0=$(date +%s%N)
out="$(admit --home "$H3" --probe-timeout 1s)"; rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check "boxes/ on a hung mount: warn within the probe timeout ($ms ms), naming boxes/" \
        bash -c "[ $rc -eq 0 ] && [ $ms -lt 3000 ] && jq -e '.verdict == \"warn\" and .part == \"boxes/\" and
                 (.reason | test(\"^boxes/ .*did not answer within 1000 ms\"))' <<<'$out'"

# The GC under a deadline: an overlay whose backing sits on the hung mount.
H4="$T/small/gc-home"
mkdir -p "$H4/images/disk-images" "$H4/boxes/web/disks"
# -u: qemu-img must not open the backing file itself (it would hang too).
timeout 10 qemu-img create -q -f qcow2 -u -b "$T/hung/disk.ext4" -F raw "$H4/boxes/web/disks/disk.qcow2" 1M
head -c $((20 * M)) /dev/urandom >"$H4/images/disk-images/sha256-old.ext4"
touch -d '-1 hour' "$H4/images/disk-images/sha256-old.ext4"
t0=$(date +%s%N)
out="$(timeout 60 "$ADMIT" --no-bus --json "${FLOORS[@]}" --home "$H4" --gc-on-pressure --grace 1s --gc-timeout 2s 2>"$T/stderr")"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
diag "$(jq -c '{verdict, reason, gc}' <<<"$out" 2>/dev/null)"
check "--gc-on-pressure with a backing on a hung mount: back within the GC deadline ($ms ms of 2000 + probes)" \
        test "$ms" -lt 5000
check "... the first verdict decides (reject, exit 75) and the reason says the GC did not finish" \
        bash -c "[ $rc -eq 75 ] && jq -e '.verdict == \"reject\" and .gc.timed_out == true and .gc.first.verdict == \"reject\" and
                 .gc.timeout_usec == 2000000 and (.reason | test(\"garbage collection did not finish within 2000 ms, judged on the first verdict\"))' <<<'$out'"
check "... and the image the GC could not prove unreferenced is still there" test -e "$H4/images/disk-images/sha256-old.ext4"
# The killed child may stay in the kernel (a FUSE request already read by the server is waited for
# uninterruptibly) and hold that home's GC lock: a later gate there waits at most half the deadline for it.
out="$(timeout 60 "$ADMIT" --no-bus --json "${FLOORS[@]}" --home "$H4" --gc-on-pressure --grace 1s --gc-timeout 2s \
       2>"$T/stderr")"
check "a second gate on that home: the stuck collection holds the lock; the gate waits 1 s and judges anyway" \
        bash -c "jq -e '.verdict == \"reject\" and .gc.ok == false and .gc.timed_out == false' <<<'$out' &&
                 grep -q 'another collection of this home is still running' '$T/stderr'"
H6="$T/small/gc-home2"
mkdir -p "$H6/images/disk-images" "$H6/boxes/web/disks"
cp "$H4/boxes/web/disks/disk.qcow2" "$H6/boxes/web/disks/"
printf '[Admission]\nGcTimeoutSec=1s\n' >"$BOXLITE_CONF_DIR/boxlite.conf"
t0=$(date +%s%N)
out="$(timeout 60 "$ADMIT" --no-bus --json "${FLOORS[@]}" --home "$H6" --gc-on-pressure --grace 1s 2>/dev/null)"
ms=$((($(date +%s%N) - t0) / 1000000))
check "GcTimeoutSec= in boxlite.conf sets the deadline ($ms ms)" \
        bash -c "[ $ms -lt 4000 ] && jq -e '.gc.timeout_usec == 1000000 and .gc.timed_out == true' <<<'$out'"
rm -f "$BOXLITE_CONF_DIR/boxlite.conf"

# ------------------------------------------------- the D-Bus service
printf '[Admission]\nHardFloor=256M\nSoftFloor=300M\nSoftFloorPercent=0\nProbeTimeoutSec=3s\n' >"$BOXLITE_CONF_DIR/boxlite.conf"
start_bus "$T" || { not_ok "dbus-daemon started"; tap_done; exit 1; }
A=(--address="$BUS_ADDRESS")
DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDRESS" "$ADMIT" --serve --home "$H" --idle-timeout 60s 2>"$T/serve.err" &
SERVE_PID=$!
for _ in $(seq 100); do busctl "${A[@]}" status org.boxlite.Admission1 >/dev/null 2>&1 && break; sleep 0.05; done
call() {
        busctl "${A[@]}" --json=short --timeout=20 call org.boxlite.Admission1 /org/boxlite/Admission1 \
                org.boxlite.Admission1 "$@"
}
mkdir -p "$T/small/svc-home/boxes"
ln -sfn "$T/img" "$T/small/svc-home/images"
out="$(call Check s "$T/fs/bare")"
check "Check on a healthy home: ok" jq -e '.data[0] == "ok"' <<<"$out"
H5="$T/fs/svc"
mkdir -p "$H5/images"
ln -s "$T/small" "$H5/boxes"
out="$(call Check s "$H5")"
check "Check answers with the worst filesystem: boxes/ on the small disk rejects" \
        jq -e '.data[0] == "reject" and .data[2] == 209715200 and (.data[3] | test("^boxes/ on "))' <<<"$out"
for p in /proc /sys; do
        err="$(dbus-send --bus="$BUS_ADDRESS" --print-reply --dest=org.boxlite.Admission1 /org/boxlite/Admission1 \
               org.boxlite.Admission1.Check string:"$p" 2>&1)"
        check "Check(\"$p\"): org.boxlite.Admission1.Error.InvalidHome (a filesystem without a size)" \
                grep -q "org.boxlite.Admission1.Error.InvalidHome.*reports no size" <<<"$err"
done

# A probe of the hung mount is pending; others are served meanwhile.
t0=$(date +%s%N)
call Check s "$T/hung" >"$T/hung1.out" 2>&1 &
hung1=$!
call Check s "$H3" >"$T/hung2.out" 2>&1 &
hung2=$!
sleep 0.3
out="$(call Check s "$T/fs/bare")"
out2="$(call ListDecisions tu 0 1)"
# Answered while both hung calls still wait for their probes (3 s): served meanwhile, not after them.
pending=no
kill -0 "$hung1" 2>/dev/null && kill -0 "$hung2" 2>/dev/null && pending=yes
check "while two probes of a hung mount are pending, Check and ListDecisions of others answer" \
        bash -c "[ $pending = yes ] && jq -e '.data[0] == \"ok\"' <<<'$out' && jq -e '.type == \"a(tsssts)\"' <<<'$out2'"
wait "$hung1"; wait "$hung2"
ms=$((($(date +%s%N) - t0) / 1000000))
check "Check of a home on the hung mount: warn after the probe timeout, with the reason ($ms ms)" \
        bash -c "[ $ms -lt 6000 ] && jq -e '.data[0] == \"warn\" and (.data[3] | test(\"did not answer within 3000 ms\"))' '$T/hung1.out'"
check "Check of a home whose boxes/ is on the hung mount: warn naming boxes/" \
        jq -e '.data[0] == "warn" and (.data[3] | test("^boxes/ .*did not answer within 3000 ms"))' "$T/hung2.out"
check "the service is still running and answering" bash -c "kill -0 $SERVE_PID && busctl ${A[*]} --json=short call org.boxlite.Admission1 /org/boxlite/Admission1 org.boxlite.Admission1 Check s '$T/fs/bare' | jq -e '.data[0] == \"ok\"'"
out="$(busctl "${A[@]}" call org.boxlite.Admission1 /org/boxlite/Admission1 org.boxlite.Admission1 Check s "$T/fs/nope" 2>&1)"
check "a missing home is still NoSuchHome (found by the probe)" grep -q "does not exist" <<<"$out"
touch "$T/fs/file"
err="$(dbus-send --bus="$BUS_ADDRESS" --print-reply --dest=org.boxlite.Admission1 /org/boxlite/Admission1 \
       org.boxlite.Admission1.Check string:"$T/fs/file" 2>&1)"
check "a home that is a file: NoSuchHome, not a directory" grep -q "NoSuchHome.*is not a directory" <<<"$err"
kill "$SERVE_PID"; wait "$SERVE_PID"
check "the service exits cleanly on SIGTERM" test $? -eq 0

tap_done
