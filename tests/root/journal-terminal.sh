#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs made by hand, from a terminal (no $JOURNAL_STREAM, no BOXLITE_LOG_TARGET),
# against a real journald in a private mount namespace: the GC's deletions,
# admission's rejection and the monitor's verdict are on record in the journal,
# the terminal gets the report once; under a unit (stderr is the journal stream)
# the journal alone gets the lines; with no journal the run says so once.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../integration/tap.sh"

. "$HERE/journald.sh"

ADMIT="${BOXLITE_ADMIT:?}" GC="${BOXLITE_GC:?}"
command -v jq >/dev/null || skip_all "jq not installed"
journald_namespace "$@"

T="$(mktemp -d /tmp/boxlite-journal-terminal.XXXXXX)"
chmod 755 "$T"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT
journald_start

unset JOURNAL_STREAM BOXLITE_LOG_TARGET BOXLITE_LOG_LEVEL
H="$T/home"
DI="$H/images/disk-images"
mkdir -p "$DI" "$H/boxes/idle" "$T/etc"  # an idle box: a boxes/ without a box is not collected
export BOXLITE_CONF_DIR="$T/etc"
avail=$(stat -f -c '%a %S' "$H" | awk '{ printf "%.0f\n", $1 * $2 }')
G=$((1 << 30))
RECLAIMED=64f8f96e0d814b94941060e7e019d66b REJECT=18df0cfe9db04b27ba717e91d1155058
RAISED=f3c137465ed542c7a30cfeed752ec8b1

entry() { # entry MATCH...: the newest entry that matches, as JSON
        journalctl --sync
        journalctl -o json "$@" 2>/dev/null | tail -1
}
# is_entry JSON JQ-ARGS...: JSON is an entry (not nothing) for which the jq expression holds.
is_entry() {
        local json="$1"
        shift
        [ -n "$json" ] && jq -e "$@" <<<"$json"
}

# ------------------------------------------------ the GC from a terminal
head -c 65536 /dev/urandom >"$DI/sha256-by-hand.ext4"
"$GC" --home "$H" --grace 0 >"$T/out" 2>"$T/err"
check "the GC run succeeds" test $? -eq 0
e="$(entry MESSAGE_ID=$RECLAIMED "BOXLITE_IMAGE=$DI/sha256-by-hand.ext4")"
check "the reclaimed image is in the journal with its MESSAGE_ID, path and bytes" is_entry "$e" --arg i "$DI/sha256-by-hand.ext4" '
        .MESSAGE_ID == "64f8f96e0d814b94941060e7e019d66b" and .BOXLITE_IMAGE == $i and
        .BOXLITE_RECLAIMED_BYTES == "65536" and .BOXLITE_DRY_RUN == "0" and .SYSLOG_IDENTIFIER == "boxlite-gc"'
check "the terminal's report names the image once, on stdout" test "$(grep -c 'sha256-by-hand.ext4' "$T/out")" -eq 1
check "nothing of the report is repeated on stderr" test ! -s "$T/err"
diag "$(cat "$T/out")"

# ------------------------------------------------ a rejection and a monitor verdict
"$ADMIT" --home "$H" --no-bus --box by-hand --hard-floor $((avail + G)) >"$T/out" 2>"$T/err"
check "a rejection exits 75" test $? -eq 75
e="$(entry MESSAGE_ID=$REJECT BOXLITE_BOX=by-hand)"
check "the rejection is in the journal with its MESSAGE_ID and verdict" is_entry "$e" --arg h "$H" '
        .BOXLITE_VERDICT == "reject" and .BOXLITE_HOME == $h and .PRIORITY == "3"'
check "the terminal gets the verdict on stdout" grep -q '^Verdict: reject' "$T/out"

cat >"$T/etc/boxlite.conf" <<EOF
[Admission]
HardFloor=$((avail + G))
[Monitor]
ReserveSize=0
StateDirectory=$T/state
EOF
"$ADMIT" --home "$H" --monitor --no-bus >"$T/out" 2>"$T/err"
check "the monitor exits 0 under pressure" test $? -eq 0
e="$(entry MESSAGE_ID=$RAISED "BOXLITE_HOME=$H")"
check "the monitor's verdict is in the journal" is_entry "$e" '.BOXLITE_VERDICT == "reject"'
check "the terminal gets the monitor's report" grep -q 'reject' "$T/out"
rm -f "$T/etc/boxlite.conf"

# ------------------------------------------------ under a unit: stderr is the journal stream
head -c 4096 /dev/urandom >"$DI/sha256-unit.ext4"
: >"$T/stream"
JOURNAL_STREAM="$(stat -c '%d:%i' "$T/stream")" "$GC" --home "$H" --grace 0 >"$T/out" 2>>"$T/stream"
e="$(entry MESSAGE_ID=$RECLAIMED "BOXLITE_IMAGE=$DI/sha256-unit.ext4")"
check "under a unit: the deletion is journaled" is_entry "$e" '.BOXLITE_RECLAIMED_BYTES == "4096"'
check "under a unit: nothing written to stderr (it is the journal, the entry is there once)" test ! -s "$T/stream"
check "under a unit: one entry for the image, not two" \
        test "$(journalctl -o json MESSAGE_ID=$RECLAIMED "BOXLITE_IMAGE=$DI/sha256-unit.ext4" | wc -l)" -eq 1

# ------------------------------------------------ no journal reachable
kill "$JOURNALD_PID"
wait "$JOURNALD_PID" 2>/dev/null
umount /run/systemd && mount -t tmpfs tmpfs /run/systemd
for i in 1 2 3; do head -c 4096 /dev/urandom >"$DI/sha256-nojournal-$i.ext4"; done
"$GC" --home "$H" --grace 0 >"$T/out" 2>"$T/err"
check "without a journal the GC still runs and reclaims" test $? -eq 0 -a ! -e "$DI/sha256-nojournal-1.ext4"
check "without a journal the run says so once on stderr" \
        test "$(grep -c "No journal reachable at '/run/systemd/journal/socket'" "$T/err")" -eq 1
diag "$(cat "$T/err")"
head -c 4096 /dev/urandom >"$DI/sha256-nojournal-4.ext4"
"$GC" --home "$H" --grace 0 --verbose --dry-run >"$T/out" 2>"$T/err"
check "without a journal, --verbose: the notice once among the decision lines" \
        test "$(grep -c "No journal reachable" "$T/err")" -eq 1 -a "$(grep -c "Would reclaim" "$T/err")" -ge 1
"$GC" --home "$H" --grace 0 --quiet >"$T/out" 2>"$T/err"
check "without a journal, --quiet: reclaims, and nothing on stdout or stderr" \
        test ! -e "$DI/sha256-nojournal-4.ext4" -a ! -s "$T/out" -a ! -s "$T/err"

tap_done
