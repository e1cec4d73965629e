#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every refusal names the file and the reason, and what would be accepted: one
# case per family of message (unsafe state directory, missing or wrong home,
# unreadable part of a home, no default home, bad configuration file, bad
# option value). The cases that need another user run only as root.
set -uo pipefail

. "$(dirname "$0")/tap.sh"

GC="${BOXLITE_GC:?}" ADMIT="${BOXLITE_ADMIT:?}"

T="$(mktemp -d /tmp/boxlite-errors.XXXXXX)"
chmod 755 "$T"
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT
unset JOURNAL_STREAM BOXLITE_LOG_LEVEL BOXLITE_HOME
export BOXLITE_LOG_TARGET=stderr BOXLITE_CONF_DIR="$T/etc"
mkdir -p "$T/etc"

H="$T/home"
mkdir -p "$H/images/disk-images" "$H/boxes"
chmod -R 755 "$H"

# ------------------------------------------------ the monitor's state directory
mkdir "$T/state"
chmod 1777 "$T/state"
printf '[Monitor]\nStateDirectory=%s\nReserveSize=0\n' "$T/state" >"$T/etc/boxlite.conf"
"$ADMIT" --home "$H" --monitor --no-bus >/dev/null 2>"$T/err"
rc=$?
diag "$(cat "$T/err")"
check "a world-writable state directory: the monitor still exits 0" test $rc -eq 0
check "... the message names the directory and what is wrong" \
        grep -qF "'$T/state' is writable by others (owner uid $(id -u), mode 1777)" "$T/err"
check "... and what would be accepted" grep -qF "mode 0755 or 0700" "$T/err"
check "... not a bare errno text" bash -c "! grep -q 'Operation not permitted' '$T/err'"
chmod 0770 "$T/state"
"$ADMIT" --home "$H" --monitor --no-bus >/dev/null 2>"$T/err"
check "a group-writable state directory: named, with its mode" grep -qF "'$T/state' is writable by its group" "$T/err"
chmod 0755 "$T/state"
"$ADMIT" --home "$H" --monitor --no-bus >/dev/null 2>"$T/err"
check "a state directory of mode 0755 is accepted (no message)" test ! -s "$T/err"
if [ "$(id -u)" -eq 0 ]; then
        chown 65534 "$T/state"
        "$ADMIT" --home "$H" --monitor --no-bus >/dev/null 2>"$T/err"
        check "a state directory of another user: named, with its owner" \
                grep -qF "'$T/state' is owned by another user (owner uid 65534" "$T/err"
fi
rm -f "$T/etc/boxlite.conf"

# ------------------------------------------------ the home itself
"$GC" --home "$T/nonexistent" >/dev/null 2>"$T/err"
check "gc, a missing home: exit 1" test $? -eq 1
check "gc, a missing home: named, 'does not exist', how to give one" \
        bash -c "grep -qF \"'$T/nonexistent': the home does not exist\" '$T/err' && grep -q -- '--home PATH' '$T/err'"
: >"$T/file"
"$GC" --home "$T/file" >/dev/null 2>"$T/err"
check "gc, a home that is a file: named, 'not a directory'" grep -qF "'$T/file': the home is not a directory" "$T/err"
"$ADMIT" --home "$T/nonexistent" --no-bus >"$T/out" 2>"$T/err"
check "admit, a missing home: warns (never blocks), naming the path and the reason" \
        bash -c "grep -qF \"stat('$T/nonexistent'): No such file or directory\" '$T/out'"

if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
        as() { HOME="$T" setpriv --reuid="$1" --regid="$1" --clear-groups -- "${@:2}"; }
        mkdir -p "$H/boxes/b1"
        chmod 0700 "$H/boxes"
        as 65534 "$GC" --home "$H" >/dev/null 2>"$T/err"
        check "gc, an unreadable boxes/: exit 1 (it keeps)" test $? -eq 1
        check "gc, an unreadable boxes/: names it and the reason" \
                grep -qF "'$H/boxes': cannot list directory: Permission denied" "$T/err"
        chmod 0755 "$H/boxes"
        # A uid with no entry in the user database and no $HOME: no default home.
        env -u HOME setpriv --reuid=54321 --regid=54321 --clear-groups -- "$GC" >/dev/null 2>"$T/err"
        check "gc, no default home: exit 1" test $? -eq 1
        check "gc, no default home: says why and how to give one" \
                grep -qF "uid 54321 has no home directory in the user database; give --home PATH or set \$BOXLITE_HOME" "$T/err"
        env -u HOME setpriv --reuid=54321 --regid=54321 --clear-groups -- "$ADMIT" --no-bus >/dev/null 2>"$T/err"
        check "admit, no default home: the same message" grep -qF "uid 54321 has no home directory" "$T/err"
else
        diag "not root: the cases of another user are not run"
fi

# ------------------------------------------------ the bus of --serve
DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/no-bus" "$ADMIT" --serve --home "$H" >/dev/null 2>"$T/err"
check "--serve without a bus: exit 1" test $? -eq 1
check "--serve without a bus: names the address it tried and the reason" \
        grep -qF "Failed to connect to the system bus at 'unix:path=$T/no-bus': No such file or directory" "$T/err"

# ------------------------------------------------ configuration files and option values
printf '[GC]\nGrace=soon\n' >"$T/etc/boxlite.conf"
"$GC" --home "$H" >/dev/null 2>"$T/err"
check "a bad configuration value: exit 2" test $? -eq 2
check "... names the file, the line, the key and what is expected" \
        grep -qF "$T/etc/boxlite.conf:2: invalid value 'soon' for Grace= in [GC]: expected a time span" "$T/err"
rm -f "$T/etc/boxlite.conf"
"$GC" --home "$H" --jobs 0 >/dev/null 2>"$T/err"
check "a bad option value: exit 2, the value and the accepted range" \
        bash -c "[ $? -eq 2 ] && grep -qF \"invalid --jobs '0': expected a number from 1 to\" '$T/err'"
"$ADMIT" --home "$H" --soft-percent 150 >/dev/null 2>"$T/err"
check "admit, a bad option value: the value and the accepted range" \
        grep -qF "invalid --soft-percent '150': expected a number from 0 to 100" "$T/err"

tap_done
