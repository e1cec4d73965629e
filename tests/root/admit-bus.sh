#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# org.boxlite.Admission1 on a real dbus-daemon started by the test, with the
# system bus's default policy plus the project's policy file: every method
# and property against a home on a 2 GiB tmpfs, error names, the Decided
# signal of one-shot runs, bus activation from the service file, the idle
# exit, and the policy seen by an unprivileged user.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../integration/tap.sh"
. "$HERE/../integration/bus.sh"
export BOXLITE_SRC="$HERE/../.."

ADMIT="${BOXLITE_ADMIT:?}" LISTEN="${BOXLITE_BUS_LISTEN:?}"
[ "$(id -u)" -eq 0 ] || skip_all "needs root: a size-limited tmpfs home, and setpriv to call as another user (CI runs as root)"
command -v dbus-daemon >/dev/null || skip_all "dbus-daemon not installed"
command -v busctl >/dev/null || skip_all "busctl not installed"

if [ -z "${BOXLITE_IN_NS:-}" ]; then
        exec unshare --mount --propagation private env BOXLITE_IN_NS=1 "$0" "$@"
fi

T="$(mktemp -d /tmp/boxlite-bus.XXXXXX)"
chmod 755 "$T"
trap 'stop_bus; kill $(jobs -p) 2>/dev/null; umount -l "$T/fs" 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/fs" "$T/services"
mount -t tmpfs -o size=2g,nr_inodes=100000 tmpfs "$T/fs" || skip_all "cannot mount a tmpfs"
H="$T/fs/home"
mkdir -p "$H/images/disk-images" "$H/boxes"
chmod -R 755 "$T/fs"
export BOXLITE_CONF_DIR="$T/etc"
mkdir -p "$BOXLITE_CONF_DIR"
printf '[Admission]\nHardFloor=256M\nSoftFloor=300M\nSoftFloorPercent=20\n' >"$BOXLITE_CONF_DIR/boxlite.conf"

# Activation: the only way the service starts in this test is through this file.
cat >"$T/services/org.boxlite.Admission1.service" <<EOS
[D-BUS Service]
Name=org.boxlite.Admission1
Exec=/usr/bin/env BOXLITE_CONF_DIR=$BOXLITE_CONF_DIR $ADMIT --serve --idle-timeout 2s --home $H
User=root
SystemdService=boxlite-admit.service
EOS
start_bus "$T" "$T/services" || { not_ok "dbus-daemon started"; tap_done; exit 1; }
export DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDRESS"
A=(--address="$BUS_ADDRESS")
NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

serving() {
        pgrep -f -- "--serve --idle-timeout 2s --home $H" >/dev/null
}
call() {
        busctl "${A[@]}" --json=short call org.boxlite.Admission1 /org/boxlite/Admission1 org.boxlite.Admission1 "$@"
}

not_serving() {
        ! serving
}
check "before the first call the service is not running" not_serving
out="$(call Check s "")"
check "the first Check activates the service from its service file" serving
read -r fs_avail fs_total <<<"$(stat -f -c '%a %b %S' "$H" | awk '{ printf "%.0f %.0f\n", $1 * $3, $2 * $3 }')"
check "Check(\"\"): (stts) on the default home, 2 GiB tmpfs, values of statvfs" jq -e --argjson a "$fs_avail" --argjson t "$fs_total" '
        .type == "stts" and .data[0] == "ok" and .data[1] == $a and .data[2] == $t and .data[2] == 2147483648 and
        (.data[3] | test("meets every floor"))' <<<"$out"

head -c $((1700 << 20)) /dev/zero >"$H/fill"
out="$(call Check s "$H")"
check "Check(home) after real writes: warn below 20 % (the configured soft percent)" \
        jq -e '.data[0] == "warn" and (.data[3] | test("20% of the filesystem"))' <<<"$out"
head -c $((200 << 20)) /dev/zero >>"$H/fill"
out="$(call Check s "$H")"
check "Check(home) below the configured hard floor: reject, no side effects" \
        jq -e '.data[0] == "reject" and (.data[1] < 268435456) and (.data[3] | test("hard floor of 256 MiB"))' <<<"$out"
rm -f "$H/fill"

busctl "${A[@]}" call org.boxlite.Admission1 /org/boxlite/Admission1 org.boxlite.Admission1 Check s "$T/nope" 2>"$T/err"
check "Check of a missing home: org.boxlite.Admission1.Error.NoSuchHome naming it" \
        bash -c "busctl ${A[*]} --json=short call org.boxlite.Admission1 /org/boxlite/Admission1 org.boxlite.Admission1 Check s '$T/nope' 2>&1 | grep -q 'does not exist' && grep -q '$T/nope' '$T/err'"
errname="$(dbus-send --bus="$BUS_ADDRESS" --print-reply --dest=org.boxlite.Admission1 /org/boxlite/Admission1 \
          org.boxlite.Admission1.Check string:"$T/nope" 2>&1)"
check "the error name is org.boxlite.Admission1.Error.NoSuchHome" grep -q "org.boxlite.Admission1.Error.NoSuchHome" <<<"$errname"
errname="$(dbus-send --bus="$BUS_ADDRESS" --print-reply --dest=org.boxlite.Admission1 /org/boxlite/Admission1 \
          org.boxlite.Admission1.Check string:relative/home 2>&1)"
check "a relative home: org.boxlite.Admission1.Error.InvalidHome" grep -q "org.boxlite.Admission1.Error.InvalidHome" <<<"$errname"

prop() {
        busctl "${A[@]}" --json=short get-property org.boxlite.Admission1 /org/boxlite/Admission1 org.boxlite.Admission1 "$1"
}
check "DefaultHome (s)" jq -e --arg h "$H" '.type == "s" and .data == $h' <<<"$(prop DefaultHome)"
check "HardFloorBytes (t) from boxlite.conf" jq -e '.type == "t" and .data == 268435456' <<<"$(prop HardFloorBytes)"
check "SoftFloorBytes (t) from boxlite.conf" jq -e '.type == "t" and .data == 314572800' <<<"$(prop SoftFloorBytes)"
check "SoftFloorPercent (u) from boxlite.conf" jq -e '.type == "u" and .data == 20' <<<"$(prop SoftFloorPercent)"
out="$(call ListDecisions tu 0 10)"
check "ListDecisions (a(tsssts)) answers" jq -e '.type == "a(tsssts)"' <<<"$out"

intro="$(busctl "${A[@]}" --json=short call org.boxlite.Admission1 /org/boxlite/Admission1 \
        org.freedesktop.DBus.Introspectable Introspect | jq -r '.data[0]' |
        sed -n '/<interface name="org.boxlite.Admission1">/,/<\/interface>/p')"
doc="$(sed -n '/<interface name="org.boxlite.Admission1">/,/<\/interface>/p' "$BOXLITE_SRC/docs/org.boxlite.Admission1.xml")"
check "docs/org.boxlite.Admission1.xml equals the service's introspection" test "$intro" = "$doc"

# Policy, as an unprivileged user.
out="$("${NOBODY[@]}" busctl "${A[@]}" --json=short call org.boxlite.Admission1 /org/boxlite/Admission1 \
        org.boxlite.Admission1 Check s "$H" 2>&1)"
check "nobody may call Check" jq -e '.data[0] == "ok"' <<<"$out"
out="$("${NOBODY[@]}" busctl "${A[@]}" --json=short call org.boxlite.Admission1 /org/boxlite/Admission1 \
        org.boxlite.Admission1 ListDecisions tu 0 1 2>&1)"
check "nobody may call ListDecisions" jq -e '.type == "a(tsssts)"' <<<"$out"
out="$("${NOBODY[@]}" busctl "${A[@]}" --json=short get-property org.boxlite.Admission1 /org/boxlite/Admission1 \
        org.boxlite.Admission1 HardFloorBytes 2>&1)"
check "nobody may read properties" jq -e '.data == 268435456' <<<"$out"
check "nobody may introspect" bash -c "${NOBODY[*]} busctl ${A[*]} introspect org.boxlite.Admission1 /org/boxlite/Admission1 | grep -q ListDecisions"
out="$("${NOBODY[@]}" busctl "${A[@]}" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        RequestName su org.boxlite.Admission1 4 2>&1)"
check "nobody may not own org.boxlite.Admission1" grep -qi "access denied" <<<"$out"
out="$("${NOBODY[@]}" busctl "${A[@]}" call org.boxlite.Admission1 /org/boxlite/Admission1 \
        org.freedesktop.DBus.Properties Set ssv org.boxlite.Admission1 HardFloorBytes t 0 2>&1)"
check "nobody may not call Properties.Set" grep -qi "access denied" <<<"$out"

# Decided: a subscriber that is not a monitor, so it only receives what the policy lets through.
"$LISTEN" "$BUS_ADDRESS" 5 1 >"$T/listen.out" &
listener=$!
for _ in $(seq 100); do grep -q ready "$T/listen.out" && break; sleep 0.05; done
ready="$(head -1 "$T/listen.out")"
"${NOBODY[@]}" busctl "${A[@]}" emit /org/boxlite/Admission1 org.boxlite.Admission1 Decided ssssts \
        "$H" forged forged.service ok 1 forged 2>/dev/null
"$ADMIT" --home "$H" --box web --unit box@web.service --hard-floor 3G >/dev/null 2>&1
rc=$?
wait "$listener"
got="$(tail -n +2 "$T/listen.out")"
check "the one-shot run rejected (exit 75) with a bus present" test "$ready/$rc" = "ready/75"
check "Decided(home, box, unit, verdict, available_bytes, reason) from the one-shot run" \
        bash -c "[ \"\$(cut -f1-4 <<<'$got')\" = \"$H	web	box@web.service	reject\" ] && grep -q 'hard floor of 3 GiB' <<<'$got'"
check "a Decided sent by nobody never reaches a subscriber" bash -c "! grep -q forged <<<'$got'"

# Idle exit, then activation again.
for _ in $(seq 60); do serving || break; sleep 0.1; done
check "after the idle period (2 s without calls) the service has exited" not_serving
out="$(call Check s "")"
check "the next call activates it again" jq -e '.data[0] == "ok"' <<<"$out"
check "... and the service runs again" serving

tap_done
