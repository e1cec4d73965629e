#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What ListDecisions trusts, against a real journald alone in a private mount
# namespace (as in journal.sh): a decision forged by nobody with logger
# --journald, one written by root through another program, a flood of 200k
# entries by nobody with the decision MESSAGE_ID, and the per-call scan
# bound. Also the journal fields naming the part whose filesystem decided.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../integration/tap.sh"
. "$HERE/../integration/bus.sh"
export BOXLITE_SRC="$HERE/../.."

ADMIT="${BOXLITE_ADMIT:?}"
[ "$(id -u)" -eq 0 ] || skip_all "needs root for a private mount namespace with its own journald (CI runs as root)"
JOURNALD=/lib/systemd/systemd-journald
[ -x "$JOURNALD" ] || skip_all "systemd-journald not found"
command -v dbus-daemon >/dev/null || skip_all "dbus-daemon not installed"
command -v busctl >/dev/null || skip_all "busctl not installed"
command -v logger >/dev/null || skip_all "logger not installed"
[ -e /etc/systemd/journald.conf ] || skip_all "no /etc/systemd/journald.conf to replace in the namespace"

if [ -z "${BOXLITE_IN_NS:-}" ]; then
        mkdir -p /var/lib/systemd/catalog /var/log/journal 2>/dev/null
        exec unshare --mount --propagation private env BOXLITE_IN_NS=1 "$0" "$@"
fi

T="$(mktemp -d /tmp/boxlite-trust.XXXXXX)"
chmod 755 "$T"
trap 'stop_bus; kill $(jobs -p) 2>/dev/null; umount -l "$T/small" 2>/dev/null; rm -rf "$T"' EXIT
for d in /run/systemd /run/log /var/log/journal; do
        mount -t tmpfs tmpfs "$d" || skip_all "cannot mount a tmpfs over $d"
done
# No rate limit: the flood must reach the journal whole.
printf '[Journal]\nRateLimitBurst=0\nRateLimitIntervalSec=0\nStorage=volatile\nRuntimeMaxUse=1G\n' >"$T/journald.conf"
mount --bind "$T/journald.conf" /etc/systemd/journald.conf
"$JOURNALD" &
for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
check "a private journald is listening" test -S /run/systemd/journal/socket

H="$T/home"
mkdir -p "$H/images/disk-images" "$T/small"
mount -t tmpfs -o size=200m tmpfs "$T/small" || skip_all "cannot mount a tmpfs"
ln -s "$T/small" "$H/boxes"
export BOXLITE_LOG_TARGET=journal BOXLITE_CONF_DIR="$T/etc"
REJECT_ID=18df0cfe9db04b27ba717e91d1155058
OK_ID=adf621787fcc4f0b9b66e6c5539945bb
NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

"$ADMIT" --home "$H" --no-bus --box real-box --hard-floor 256M --soft-floor 256M --soft-percent 0
check "the real decision: reject (boxes/ on the 200 MiB filesystem)" test $? -eq 75
journalctl --sync
e="$(journalctl -o json BOXLITE_BOX=real-box | tail -1)"
check "the journal entry names the part and carries its figures" jq -e --arg b "$H/boxes" '
        .BOXLITE_PART == "boxes/" and .BOXLITE_PART_PATH == $b and (.BOXLITE_PART_SOURCE | test("^tmpfs at ")) and
        .BOXLITE_TOTAL_BYTES == "209715200" and .BOXLITE_FILESYSTEM_COUNT == "2" and
        (.BOXLITE_REASON | test("^boxes/ on "))' <<<"$e"

sleep 0.05
"${NOBODY[@]}" logger --journald <<EOL
MESSAGE_ID=$OK_ID
MESSAGE=Admitting box 'forged' on '$H': forged
SYSLOG_IDENTIFIER=boxlite-admit
BOXLITE_BOX=forged-by-nobody
BOXLITE_VERDICT=ok
BOXLITE_AVAILABLE_BYTES=1
BOXLITE_REASON=forged
EOL
# Root through another program: journald records _COMM only while the writer still runs, so this writer
# stays alive until its entry is stored (a writer that exits first leaves no _COMM, and is root anyway).
/usr/bin/python3 "$HERE/journal-send-alive.py" BOXLITE_BOX=forged-by-root-logger <<EOL
MESSAGE_ID=$OK_ID
MESSAGE=Admitting box 'forged' on '$H': forged
SYSLOG_IDENTIFIER=boxlite-admit
BOXLITE_BOX=forged-by-root-logger
BOXLITE_VERDICT=ok
BOXLITE_REASON=forged
EOL
journalctl --sync
check "the forged entries are in the journal (nobody's with _UID=65534, root's with _COMM=python3)" \
        bash -c "journalctl -o json BOXLITE_BOX=forged-by-nobody | jq -e '._UID == \"65534\" and .MESSAGE_ID == \"$OK_ID\"' &&
                 journalctl -o json BOXLITE_BOX=forged-by-root-logger | jq -e '._UID == \"0\" and ._COMM == \"python3\"'"

start_bus "$T" || not_ok "a private dbus-daemon started"
export DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDRESS"
"$ADMIT" --serve --home "$H" --idle-timeout 120s &
SERVE_PID=$!
for _ in $(seq 100); do busctl --address="$BUS_ADDRESS" status org.boxlite.Admission1 >/dev/null 2>&1 && break; sleep 0.05; done
call() {
        busctl --address="$BUS_ADDRESS" --json=short call org.boxlite.Admission1 /org/boxlite/Admission1 \
                org.boxlite.Admission1 "$@"
}
out="$(call ListDecisions tu 0 10)"
diag "$(jq -c '[.data[0][] | .[1]]' <<<"$out")"
check "ListDecisions: nobody's forged decision is not listed" jq -e '[.data[0][] | .[1]] | index("forged-by-nobody") == null' <<<"$out"
check "ListDecisions: a decision written by root through another program is not listed either" \
        jq -e '[.data[0][] | .[1]] | index("forged-by-root-logger") == null' <<<"$out"
check "ListDecisions: the real decision is the newest" jq -e '.data[0][0][1] == "real-box" and .data[0][0][3] == "reject"' <<<"$out"

# A flood by nobody: 200k entries with the decision MESSAGE_ID.
t0=$(date +%s)
"${NOBODY[@]}" /usr/bin/python3 "$HERE/journal-flood.py" 200000 "$OK_ID"
journalctl --sync
n=$(journalctl -o cat MESSAGE_ID=$OK_ID _UID=65534 | wc -l)
diag "flood of $n entries written in $(($(date +%s) - t0)) s"
check "the flood is in the journal ($n entries by nobody)" test "$n" -ge 200000
best=999999
for _ in 1 2 3; do
        t1=$(date +%s%N)
        out="$(call ListDecisions tu 0 1)"
        ms=$((($(date +%s%N) - t1) / 1000000))
        [ "$ms" -lt "$best" ] && best=$ms
done
diag "after the flood ListDecisions(0, 1) answers in ${best} ms"
check "after a flood of 200k entries by nobody, ListDecisions(0, 1) still finds the real decision" \
        jq -e '.data[0][0][1] == "real-box"' <<<"$out"
call ListDecisions tu 0 0 >/dev/null &
lister=$!
t1=$(date +%s%N)
out="$(call Check s "$T")"
ms=$((($(date +%s%N) - t1) / 1000000))
wait "$lister"
diag "Check beside a ListDecisions(0, 0) answered in $ms ms"
check "Check beside a ListDecisions after the flood answers with a verdict" jq -e '.data[0] | type == "string"' <<<"$out"

# The scan bound: 20,000 entries root wrote with our identifier but through another program are read at most
# 10,000 a call, so the real decision behind them is not reached, and the call stays short.
/usr/bin/python3 "$HERE/journal-flood.py" 20000 "$OK_ID"
journalctl --sync
t1=$(date +%s%N)
out="$(call ListDecisions tu 0 1)"
ms=$((($(date +%s%N) - t1) / 1000000))
diag "$(jq -c '.data[0]' <<<"$out")"
diag "behind 20,000 matching entries ListDecisions answered in $ms ms"
check "behind 20,000 matching entries ListDecisions stops after 10,000 read and answers []" \
        jq -e '(.data[0] | length) == 0' <<<"$out"
"$ADMIT" --home "$H" --no-bus --box late-box --hard-floor 1 --soft-floor 1 --soft-percent 0 >/dev/null 2>&1
journalctl --sync
out="$(call ListDecisions tu 0 1)"
check "a decision newer than the junk is listed again" jq -e '.data[0][0][1] == "late-box"' <<<"$out"
kill "$SERVE_PID"; wait "$SERVE_PID"

tap_done
