#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The pressure monitor on a real filesystem: a 400 MiB ext4 loop mount in a
# private mount namespace with its own journald. Boxes with qcow2 overlays
# made by qemu-img, one grown by guest-like writes (qemu-io), the space filled
# by real writes: ok -> warn -> reject -> warn -> ok, with exactly one journal
# entry per change over ten checks at each level, an aged orphan collected on
# warn, the reserve released at reject (and its blocks free in statvfs), kept
# away in the warn band (hysteresis) and created again at ok; a symlink
# planted at the reserve's name is never followed.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../integration/tap.sh"

ADMIT="${BOXLITE_ADMIT:?}" CATALOG="${BOXLITE_CATALOG:?}"
[ "$(id -u)" -eq 0 ] || skip_all "needs root to loop-mount a filesystem and run a private journald (CI runs as root)"
JOURNALD=/lib/systemd/systemd-journald
[ -x "$JOURNALD" ] || skip_all "systemd-journald not found"
command -v mkfs.ext4 >/dev/null || skip_all "mkfs.ext4 not installed (e2fsprogs)"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed"
command -v qemu-io >/dev/null || skip_all "qemu-io not installed"

if [ -z "${BOXLITE_IN_NS:-}" ]; then
        mkdir -p /var/lib/systemd/catalog /var/log/journal 2>/dev/null
        exec unshare --mount --propagation private env BOXLITE_IN_NS=1 "$0" "$@"
fi

T="$(mktemp -d /tmp/boxlite-monitor.XXXXXX)"
chmod 755 "$T"
trap 'kill $(jobs -p) 2>/dev/null; umount -l "$T/mnt" 2>/dev/null; rm -rf "$T"' EXIT
for d in /run/systemd /run/log /var/log/journal /var/lib/systemd/catalog; do
        mount -t tmpfs tmpfs "$d" || skip_all "cannot mount a tmpfs over $d"
done
mkdir -p "$T/catalog"
cp /usr/lib/systemd/catalog/*.catalog "$T/catalog/" 2>/dev/null
cp "$CATALOG" "$T/catalog/boxlite.catalog"
mount --bind "$T/catalog" /usr/lib/systemd/catalog
journalctl --update-catalog || not_ok "journalctl --update-catalog"
"$JOURNALD" &
for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
check "a private journald is listening" test -S /run/systemd/journal/socket

truncate -s 400M "$T/fs.img"
mkfs.ext4 -q -m 0 -E lazy_itable_init=0,nodiscard "$T/fs.img" || skip_all "mkfs.ext4 failed"
mkdir "$T/mnt"
mount -o loop "$T/fs.img" "$T/mnt" || skip_all "cannot loop-mount (no loop devices in this environment)"
H="$T/mnt/home"
DI="$H/images/disk-images"
mkdir -p "$DI" "$H/boxes" "$H/tmp"
M=$((1 << 20))

# Floors scaled to the small filesystem; a 2 s grace so that an orphan ages within the test.
mkdir -p "$T/etc"
cat >"$T/etc/boxlite.conf" <<EOF
[Admission]
HardFloor=100M
SoftFloor=180M
SoftFloorPercent=0
[GC]
Grace=2s
[Monitor]
ReserveSize=16M
StateDirectory=$T/state
EOF
export BOXLITE_CONF_DIR="$T/etc" BOXLITE_LOG_TARGET=journal

avail() {
        sync -f "$H"
        stat -f -c '%a %S' "$H" | awk '{ printf "%.0f\n", $1 * $2 }'
}
fill_to() { # fill_to BYTES: real writes until about BYTES are available
        local a
        a=$(avail)
        [ "$a" -gt "$1" ] && dd if=/dev/zero of="$H/tmp/fill-$RANDOM$RANDOM" bs=1M count=$(((a - $1) / M)) \
                status=none conv=fsync 2>/dev/null
        sync -f "$H"
}
monitor() {
        "$ADMIT" --home "$H" --monitor --json --no-bus --metrics-file "$T/monitor.prom" "$@" 2>"$T/stderr"
}
entries() { # entries MESSAGE_ID [MATCH...]: how many entries of this home
        journalctl --sync
        journalctl -o json "MESSAGE_ID=$1" "BOXLITE_HOME=$H" "${@:2}" 2>/dev/null | wc -l
}
RAISED=f3c137465ed542c7a30cfeed752ec8b1 CHANGED=c050a6ab373b414b859249317f004625
CLEARED=1492903f50414711a901bc79903d51a7 RELEASED=608aa3ce0c3c450fb13ebd3603b71872
CREATED=3bf2be2278184cc7ad1b480a3a614df4
total_entries() {
        echo $(($(entries $RAISED) + $(entries $CHANGED) + $(entries $CLEARED)))
}
ten() { # ten: nine more checks at the same level; prints the verdicts seen
        for _ in $(seq 9); do monitor | jq -r .verdict; done | sort -u | tr '\n' ' '
}

# ------------------------------------------------ ok, the reserve
out="$(monitor)"
diag "$(jq -c '{verdict, previous_verdict, changed, available_bytes, reserve}' <<<"$out")"
check "ok on an empty filesystem; no previous state: previous_verdict unknown, not changed" \
        jq -e '.verdict == "ok" and .previous_verdict == "unknown" and .changed == false' <<<"$out"
check "the reserve is held at <home>/.boxlite-reserve" \
        jq -e --arg p "$H/.boxlite-reserve" '.reserve.path == $p and .reserve.state == "held" and .reserve.bytes >= 16777216' <<<"$out"
check "the reserve is a regular file of real blocks (st_blocks * 512 >= 16 MiB), mode 0600" \
        bash -c "[ -f '$H/.boxlite-reserve' ] && [ ! -L '$H/.boxlite-reserve' ] &&
                 [ \$((\$(stat -c %b '$H/.boxlite-reserve') * \$(stat -c %B '$H/.boxlite-reserve'))) -ge $((16 * M)) ] &&
                 [ \$(stat -c %a '$H/.boxlite-reserve') = 600 ]"
check "its creation is one journal entry" test "$(entries $CREATED)" -eq 1
check "the state file is in the state directory, named after the escaped home" \
        test -f "$T/state/monitor-$(systemd-escape --path "$H").state"
seen="$(ten)"
check "ten checks at ok: no pressure entry ($seen)" test "$(total_entries)" -eq 0
check "... and the reserve was created only once" test "$(entries $CREATED)" -eq 1

# ------------------------------------------------ boxes growing
dd if=/dev/urandom of="$DI/sha256-base.ext4" bs=1M count=8 status=none
for b in grower idle; do
        mkdir -p "$H/boxes/$b/disks"
        qemu-img create -q -f qcow2 -b "$DI/sha256-base.ext4" -F raw "$H/boxes/$b/disks/disk.qcow2" 1G
done
mkdir -p "$H/boxes/idle/snapshots/s1"
qemu-img create -q -f qcow2 -b "$DI/sha256-base.ext4" -F raw "$H/boxes/idle/snapshots/s1/disk.qcow2" 1G
qemu-io -f qcow2 -c 'write -P 1 0 96M' "$H/boxes/grower/disks/disk.qcow2" >/dev/null
monitor >/dev/null
du_grower=$(du --block-size=1 "$H/boxes/grower/disks/disk.qcow2" | cut -f1)
m_grower=$(sed -n 's/^boxlite_box_allocated_bytes{.*box="grower"} //p' "$T/monitor.prom")
check "metrics: the grown box's allocated bytes equal du --block-size=1 of its overlay ($m_grower = $du_grower)" \
        test "$m_grower" = "$du_grower"
check "metrics: the grown box holds more than the 96 MiB written" test "${m_grower:-0}" -gt $((96 * M))
du_idle=$(du --block-size=1 -c "$H/boxes/idle/disks/disk.qcow2" "$H/boxes/idle/snapshots/s1/disk.qcow2" | tail -1 | cut -f1)
check "metrics: a box counts its snapshots' overlays too" \
        grep -qx "boxlite_box_allocated_bytes{home=\"$H\",box=\"idle\"} $du_idle" "$T/monitor.prom"
growth=$(sed -n 's/^boxlite_home_committed_growth_bytes{.*} //p' "$T/monitor.prom")
du_idle_live=$(du --block-size=1 "$H/boxes/idle/disks/disk.qcow2" | cut -f1)
check "metrics: committed growth = 2 GiB virtual minus the allocated bytes of the live overlays ($growth)" \
        test "$growth" -eq $((2 * (1 << 30) - du_grower - du_idle_live))
check "metrics: the reserve and the verdict" \
        bash -c "grep -qx 'boxlite_reserve_bytes{home=\"$H\",part=\"home\"} $((16 * M))' '$T/monitor.prom' &&
                 grep -qx 'boxlite_home_verdict{home=\"$H\"} 0' '$T/monitor.prom'"

# ------------------------------------------------ warn, with an aged orphan collected
dd if=/dev/urandom of="$DI/sha256-orphan.ext4" bs=1M count=24 status=none
touch -d '-1 hour' "$DI/sha256-orphan.ext4"
sleep 2.5
fill_to $((150 * M))
out="$(monitor)"
diag "$(jq -c '{verdict, previous_verdict, changed, recorded, available_bytes, gc: .gc | {first: .first.verdict, reclaimed_count, reclaimed_allocated_bytes}}' <<<"$out")"
check "below the soft floor: warn, changed from ok (raised)" \
        jq -e '.verdict == "warn" and .previous_verdict == "ok" and .changed == true and .recorded == "raised"' <<<"$out"
check "warn ran the GC: the aged orphan was collected, the pinned base kept" \
        bash -c "jq -e '.gc.first.verdict == \"warn\" and .gc.reclaimed_count == 1' <<<'$out' >/dev/null &&
                 [ ! -e '$DI/sha256-orphan.ext4' ] && [ -e '$DI/sha256-base.ext4' ]"
check "the reserve is still held at warn" jq -e '.reserve.state == "held"' <<<"$out"
seen="$(ten)"
check "ten checks at warn ($seen): exactly one entry, 'raised'" \
        bash -c "[ $(entries $RAISED) -eq 1 ] && [ $(total_entries) -eq 1 ]"
e="$(journalctl -o json MESSAGE_ID=$RAISED "BOXLITE_HOME=$H" | tail -1)"
check "the entry: verdict, previous verdict, available bytes, what the GC reclaimed, priority warning" jq -e '
        .BOXLITE_VERDICT == "warn" and .BOXLITE_PREVIOUS_VERDICT == "ok" and (.BOXLITE_AVAILABLE_BYTES | tonumber > 0) and
        .BOXLITE_GC == "1" and .BOXLITE_RECLAIMED_COUNT == "1" and (.BOXLITE_RECLAIMED_BYTES | tonumber >= 25165824) and
        .PRIORITY == "4"' <<<"$e"
check "journalctl -x explains it with the catalog" \
        bash -c "journalctl -x --no-pager MESSAGE_ID=$RAISED | grep -q 'Subject: Disk pressure on $H: warn'"

# ------------------------------------------------ reject: the reserve is released
fill_to $((60 * M))
before=$(avail)
out="$(monitor)"
after=$(avail)
diag "$(jq -c '{verdict, previous_verdict, recorded, available_bytes, reserve}' <<<"$out") statvfs before $before after $after"
check "below the hard floor: reject, changed from warn" \
        jq -e '.verdict == "reject" and .previous_verdict == "warn" and .changed == true and .recorded == "changed"' <<<"$out"
check "the reserve is released: state released, the file is gone" \
        bash -c "jq -e '.reserve.state == \"released\" and .reserve.bytes == 16777216' <<<'$out' >/dev/null && [ ! -e '$H/.boxlite-reserve' ]"
check "statvfs shows its blocks free ($((after - before)) more bytes available)" test $((after - before)) -ge $((16 * M))
check "the release is one journal entry of its own" test "$(entries $RELEASED)" -eq 1
seen="$(ten)"
check "ten checks at reject ($seen): exactly one more entry, the change, and no second release" \
        bash -c "[ $(entries $CHANGED) -eq 1 ] && [ $(total_entries) -eq 2 ] && [ $(entries $RELEASED) -eq 1 ]"
check "at reject the reserve is not created again" test ! -e "$H/.boxlite-reserve"
check "the change entry has priority err and both verdicts" \
        bash -c "journalctl -o json MESSAGE_ID=$CHANGED 'BOXLITE_HOME=$H' | tail -1 |
                 jq -e '.PRIORITY == \"3\" and .BOXLITE_VERDICT == \"reject\" and .BOXLITE_PREVIOUS_VERDICT == \"warn\"' >/dev/null"

# A further fall by more than a step (a tenth of the soft floor, 18 MiB) while reject persists.
fill_to $((40 * M))
out="$(monitor)"
check "reject persisting, 36 MiB less: one 'fell' entry" \
        bash -c "jq -e '.recorded == \"fell\" and .changed == false' <<<'$out' >/dev/null &&
                 [ $(entries $CHANGED BOXLITE_RECORD=fell) -eq 1 ]"
seen="$(ten)"
check "ten checks after the fall: nothing more" test "$(total_entries)" -eq 3

# ------------------------------------------------ back to warn: hysteresis keeps the reserve away
rm -f "$H/tmp/fill-"*
fill_to $((150 * M))
out="$(monitor)"
diag "$(jq -c '{verdict, previous_verdict, recorded, available_bytes, reserve}' <<<"$out")"
check "space back to the warn band: warn, changed from reject" \
        jq -e '.verdict == "warn" and .previous_verdict == "reject" and .recorded == "changed"' <<<"$out"
check "in the warn band the released reserve is not created again (it would flap)" \
        bash -c "jq -e '.reserve.state == \"released\"' <<<'$out' >/dev/null && [ ! -e '$H/.boxlite-reserve' ]"
seen="$(ten)"
check "ten checks in the band: one entry for the change, still no reserve" \
        bash -c "[ $(total_entries) -eq 4 ] && [ ! -e '$H/.boxlite-reserve' ]"

# ------------------------------------------------ ok again: cleared, the reserve is back
rm -f "$H/tmp/fill-"*
out="$(monitor)"
check "space returned: ok, cleared" \
        jq -e '.verdict == "ok" and .previous_verdict == "warn" and .recorded == "cleared" and .changed == true' <<<"$out"
check "the reserve is created again, real blocks" \
        bash -c "jq -e '.reserve.state == \"held\"' <<<'$out' >/dev/null &&
                 [ \$((\$(stat -c %b '$H/.boxlite-reserve') * 512)) -ge $((16 * M)) ]"
seen="$(ten)"
check "ten checks at ok: one 'cleared' entry in all, the reserve created twice in all" \
        bash -c "[ $(entries $CLEARED) -eq 1 ] && [ $(total_entries) -eq 5 ] && [ $(entries $CREATED) -eq 2 ]"

# ------------------------------------------------ --release-reserve, and a hostile reserve name
"$ADMIT" --home "$H" --release-reserve >/dev/null 2>&1
check "--release-reserve releases it at once" test ! -e "$H/.boxlite-reserve"
out="$(monitor)"
check "after a release by hand the monitor creates it again only at ok (it is ok)" jq -e '.reserve.state == "held"' <<<"$out"

rm -f "$H/.boxlite-reserve"
echo precious >"$T/victim"
ln -s "$T/victim" "$H/.boxlite-reserve"
out="$(monitor)"
check "a symlink at the reserve's name is reported and left alone" \
        bash -c "jq -e '.reserve.state == \"absent\" and (.reserve.problem | test(\"symlink\"))' <<<'$out' >/dev/null &&
                 [ -L '$H/.boxlite-reserve' ] && [ \"\$(cat '$T/victim')\" = precious ]"
"$ADMIT" --home "$H" --release-reserve >/dev/null 2>&1
rc=$?
check "--release-reserve leaves the symlink and its target alone, exit 1" \
        bash -c "[ $rc -eq 1 ] && [ -L '$H/.boxlite-reserve' ] && [ \"\$(cat '$T/victim')\" = precious ]"
rm -f "$H/.boxlite-reserve"
mkfifo "$H/.boxlite-reserve"
out="$(timeout 10 "$ADMIT" --home "$H" --monitor --json --no-bus 2>/dev/null)"
check "a FIFO at the name neither blocks the monitor nor is replaced" \
        bash -c "jq -e '.reserve.problem | test(\"not a regular file\")' <<<'$out' >/dev/null && [ -p '$H/.boxlite-reserve' ]"
rm -f "$H/.boxlite-reserve"

# ------------------------------------------------ a corrupt state is "unknown", never a crash
st="$T/state/monitor-$(systemd-escape --path "$H").state"
head -c 100000 /dev/urandom >"$st"
out="$(monitor)"; rc=$?
check "a state file of garbage: exit 0, previous verdict unknown" \
        bash -c "[ $rc -eq 0 ] && jq -e '.previous_verdict == \"unknown\" and .verdict == \"ok\"' <<<'$out' >/dev/null"
check "... and the state is written anew" grep -q '^verdict=ok$' "$st"

# ------------------------------------------------ the home as a user sees it: no root, $XDG_RUNTIME_DIR
tap_done
