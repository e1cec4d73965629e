#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A real journald, alone in a private mount namespace (tmpfs over its runtime
# and storage directories, the catalog directory extended with ours): the
# structured entries of admission and GC, journalctl -x with the catalog,
# and ListDecisions reading them back through org.boxlite.Admission1.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../integration/tap.sh"
. "$HERE/../integration/bus.sh"
export BOXLITE_SRC="$HERE/../.."

ADMIT="${BOXLITE_ADMIT:?}" GC="${BOXLITE_GC:?}" CATALOG="${BOXLITE_CATALOG:?}"
[ "$(id -u)" -eq 0 ] || skip_all "needs root for a private mount namespace with its own journald (CI runs as root)"
JOURNALD=/lib/systemd/systemd-journald
[ -x "$JOURNALD" ] || skip_all "systemd-journald not found"
command -v dbus-daemon >/dev/null || skip_all "dbus-daemon not installed"
command -v busctl >/dev/null || skip_all "busctl not installed"

if [ -z "${BOXLITE_IN_NS:-}" ]; then
        mkdir -p /var/lib/systemd/catalog /var/log/journal 2>/dev/null
        exec unshare --mount --propagation private env BOXLITE_IN_NS=1 "$0" "$@"
fi

T="$(mktemp -d /tmp/boxlite-journal.XXXXXX)"
chmod 755 "$T"
trap 'stop_bus; kill $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT
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

H="$T/home"
mkdir -p "$H/images/disk-images" "$H/boxes/idle"  # an idle box: a boxes/ without a box is not collected
export BOXLITE_LOG_TARGET=journal BOXLITE_CONF_DIR="$T/etc"
avail=$(stat -f -c '%a %S' "$H" | awk '{ printf "%.0f\n", $1 * $2 }')
G=$((1 << 30))

"$ADMIT" --home "$H" --no-bus --box ok-box --unit box@ok-box.service --hard-floor 1 --soft-floor 1 --soft-percent 0 \
        --inode-hard-floor 0 --inode-soft-percent 0
sleep 0.05
"$ADMIT" --home "$H" --no-bus --box warn-box --unit box@warn-box.service --hard-floor 1 --soft-floor $((avail + G))
sleep 0.05
"$ADMIT" --home "$H" --no-bus --box reject-box --unit box@reject-box.service --hard-floor $((avail + G))
check "reject exits 75 under journald too" test $? -eq 75
journalctl --sync

entry() {
        journalctl -o json --output-fields=MESSAGE_ID,PRIORITY,BOXLITE_HOME,BOXLITE_BOX,BOXLITE_UNIT,BOXLITE_VERDICT,BOXLITE_AVAILABLE_BYTES,BOXLITE_TOTAL_BYTES,BOXLITE_HARD_FLOOR_BYTES,BOXLITE_SOFT_FLOOR_BYTES,BOXLITE_SOFT_FLOOR_PERCENT,BOXLITE_REASON,BOXLITE_LIMIT,SYSLOG_IDENTIFIER "BOXLITE_BOX=$1" | tail -1 | grep . || echo null # no entry: jq -e fails on null
}
e="$(entry ok-box)"
check "ok: MESSAGE_ID, PRIORITY=6 (info) and the BOXLITE_ fields" jq -e --arg h "$H" '
        .MESSAGE_ID == "adf621787fcc4f0b9b66e6c5539945bb" and .PRIORITY == "6" and .BOXLITE_HOME == $h and
        .BOXLITE_VERDICT == "ok" and .BOXLITE_UNIT == "box@ok-box.service" and .BOXLITE_HARD_FLOOR_BYTES == "1" and
        (.BOXLITE_AVAILABLE_BYTES | tonumber > 0) and (.BOXLITE_TOTAL_BYTES | tonumber > 0) and
        .SYSLOG_IDENTIFIER == "boxlite-admit"' <<<"$e"
e="$(entry warn-box)"
check "warn: its own MESSAGE_ID, PRIORITY=4 (warning), the soft floor that applied" jq -e --arg s "$((avail + G))" '
        .MESSAGE_ID == "7aa6b6000be54d0eadf5f2c0e1947857" and .PRIORITY == "4" and .BOXLITE_VERDICT == "warn" and
        .BOXLITE_SOFT_FLOOR_BYTES == $s and .BOXLITE_LIMIT == "soft-floor"' <<<"$e"
e="$(entry reject-box)"
check "reject: its own MESSAGE_ID, PRIORITY=3 (err), the reason" jq -e '
        .MESSAGE_ID == "18df0cfe9db04b27ba717e91d1155058" and .PRIORITY == "3" and .BOXLITE_VERDICT == "reject" and
        (.BOXLITE_REASON | test("below the hard floor")) and .BOXLITE_SOFT_FLOOR_PERCENT == "10"' <<<"$e"
check "journalctl -x explains the rejection with the catalog text" \
        bash -c "journalctl -x --no-pager BOXLITE_BOX=reject-box | grep -q 'Subject: Box start refused: too little free space on'"
check "the catalog text names the home from the entry" \
        bash -c "journalctl -x --no-pager BOXLITE_BOX=reject-box | grep -qF '$H'"

# The GC's entries: one per reclaimed image and a summary.
head -c 65536 /dev/urandom >"$H/images/disk-images/sha256-orphan.ext4"
sleep 1.1
"$GC" --home "$H" --grace 1s >/dev/null
journalctl --sync
e="$(journalctl -o json MESSAGE_ID=64f8f96e0d814b94941060e7e019d66b | tail -1 | grep . || echo null)"
check "GC: a reclaimed entry with BOXLITE_IMAGE and BOXLITE_RECLAIMED_BYTES" jq -e --arg i "$H/images/disk-images/sha256-orphan.ext4" '
        .BOXLITE_IMAGE == $i and .BOXLITE_RECLAIMED_BYTES == "65536" and .BOXLITE_DRY_RUN == "0"' <<<"$e"
check "GC: a summary entry" bash -c "journalctl -o json MESSAGE_ID=2f76ccf213f2457b96f82b973a9b54da | tail -1 | { grep . || echo null; } | jq -e '.BOXLITE_RECLAIMED_COUNT == \"1\"'"
check "journalctl -x explains the reclaimed image" \
        bash -c "journalctl -x --no-pager MESSAGE_ID=64f8f96e0d814b94941060e7e019d66b | grep -q 'Subject: Disk-image .*sha256-orphan.ext4 reclaimed'"

# ListDecisions reads those decisions back from this journal.
start_bus "$T" || not_ok "a private dbus-daemon started"
export DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDRESS"
serve() {
        "$ADMIT" --serve --home "$H" --idle-timeout 60s &
        SERVE_PID=$!
        for _ in $(seq 100); do
                busctl --address="$BUS_ADDRESS" status org.boxlite.Admission1 >/dev/null 2>&1 && return 0
                sleep 0.05
        done
        return 1
}
check "the service owns its name" serve
call() {
        busctl --address="$BUS_ADDRESS" --json=short call org.boxlite.Admission1 /org/boxlite/Admission1 \
                org.boxlite.Admission1 "$@"
}
out="$(call ListDecisions tu 0 10)"
check "ListDecisions: the three decisions, newest first, with box, unit, verdict, bytes and reason" jq -e '
        .type == "a(tsssts)" and (.data[0] | length) == 3 and
        ([.data[0][] | .[1]] == ["reject-box", "warn-box", "ok-box"]) and
        ([.data[0][] | .[2]] == ["box@reject-box.service", "box@warn-box.service", "box@ok-box.service"]) and
        ([.data[0][] | .[3]] == ["reject", "warn", "ok"]) and
        (.data[0][0][4] > 0) and (.data[0][0][5] | test("hard floor")) and
        (.data[0][0][0] > .data[0][1][0])' <<<"$out"
out="$(call ListDecisions tu 0 2)"
check "ListDecisions: max limits the count" jq -e '(.data[0] | length) == 2 and .data[0][0][1] == "reject-box"' <<<"$out"
since="$(jq '.data[0][1][0]' <<<"$out")"
out="$(call ListDecisions tu "$since" 0)"
check "ListDecisions: since_usec drops older decisions" jq -e '[.data[0][] | .[1]] == ["reject-box", "warn-box"]' <<<"$out"

# A one-shot run with the bus up: it is recorded and shows up at once.
"$ADMIT" --home "$H" --box late-box --hard-floor 1 >/dev/null 2>&1
journalctl --sync
out="$(call ListDecisions tu 0 1)"
check "a decision made while the service runs is listed" jq -e '.data[0][0][1] == "late-box"' <<<"$out"

# History survives a restart of the service (and of journald).
kill "$SERVE_PID"; wait "$SERVE_PID"
check "the service exits on SIGTERM" bash -c "! kill -0 $SERVE_PID 2>/dev/null"
check "the service is started again" serve
out="$(call ListDecisions tu 0 0)"
check "after a restart of the service the history is still there" jq -e '(.data[0] | length) == 4' <<<"$out"

# A box name that is not UTF-8 must not break the listing (D-Bus strings are UTF-8).
"$ADMIT" --home "$H" --box $'bad\xffname' --hard-floor 1 --no-bus >/dev/null 2>&1
journalctl --sync
out="$(call ListDecisions tu 0 0)"
check "a non-UTF-8 box name is listed with U+FFFD, the rest intact" \
        jq -e '(.data[0] | length) == 5 and .data[0][0][1] == "bad\ufffdname"' <<<"$out"

tap_done
