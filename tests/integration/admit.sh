#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# boxlite-admit against the test home's real filesystem: verdicts computed in
# the test from the statvfs values it reads itself, configuration precedence,
# every bad value, a hanging statfs (strace delay injection), and the Decided
# signal with no bus and with a bus that does not answer.
set -uo pipefail

. "$(dirname "$0")/tap.sh"

ADMIT="${BOXLITE_ADMIT:?}"
command -v jq >/dev/null || skip_all "jq not installed"
command -v bc >/dev/null || skip_all "bc not installed"

T="$(mktemp -d /tmp/boxlite-admit.XXXXXX)"
chmod 755 "$T"
trap 'kill $(jobs -p) 2>/dev/null; [ -n "${stopped_bus:-}" ] && kill -CONT "$stopped_bus" 2>/dev/null; rm -rf "$T"' EXIT
H="$T/home"
mkdir -p "$H/images/disk-images" "$H/boxes"
export BOXLITE_CONF_DIR="$T/etc"
mkdir -p "$BOXLITE_CONF_DIR/boxlite.conf.d"
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/no-bus"

admit() {
        "$ADMIT" --home "$H" --no-bus "$@"
}

# expected_verdict AVAIL TOTAL HARD SOFT PCT: classify() on bytes, computed here.
expected_verdict() {
        bc <<EOB
a = $1; t = $2; h = $3; s = $4; p = $5
if (a < h) { print "reject"; halt }
if (a < s) { print "warn"; halt }
if (a * 100 < p * t) { print "warn"; halt }
print "ok"
EOB
}

# ------------------------------------------------- verdicts on the real filesystem
read -r fs_avail fs_total <<<"$(stat -f -c '%a %b %S' "$H" | awk '{ printf "%.0f %.0f\n", $1 * $3, $2 * $3 }')"
diag "filesystem of $H: $fs_avail available of $fs_total"
G=$((1 << 30))
for spec in "1G 5G 10" "$((fs_avail + G)) $((fs_avail + 2 * G)) 10" "$((fs_avail - G)) $((fs_avail + G)) 0" \
            "1K $((fs_avail - G)) 99" "1K 1K 0" "0 0 100"; do
        read -r hard soft pct <<<"$spec"
        out="$(admit --json --hard-floor "$hard" --soft-floor "$soft" --soft-percent "$pct" --inode-hard-floor 0 \
                --inode-soft-percent 0 2>/dev/null)"
        rc=$?
        a=$(jq .available_bytes <<<"$out") t=$(jq .total_bytes <<<"$out") v=$(jq -r .verdict <<<"$out")
        want=$(expected_verdict "$a" "$t" "$hard" "$soft" "$pct")
        want_rc=0; [ "$want" = reject ] && want_rc=75
        drift=$((a > fs_avail ? a - fs_avail : fs_avail - a))
        if [ "$v" = "$want" ] && [ "$rc" -eq "$want_rc" ] && [ "$t" -eq "$fs_total" ] && [ "$drift" -lt $((256 << 20)) ]; then
                ok "hard=$hard soft=$soft pct=$pct: $v, exit $rc, on statvfs values read by the test"
        else
                not_ok "hard=$hard soft=$soft pct=$pct: got $v/$rc (a=$a t=$t), expected $want/$want_rc (a~$fs_avail t=$fs_total)"
        fi
done

out="$(admit --json --hard-floor 1 --soft-floor 1 --soft-percent 0 --inode-hard-floor 0 --inode-soft-percent 0)"
check "JSON carries verdict, available_bytes, total_bytes and reason" \
        jq -e '(.verdict | type == "string") and (.available_bytes | type == "number") and
               (.total_bytes | type == "number") and (.reason | type == "string") and (has("gc") | not)' <<<"$out"
out="$(admit --json --hard-floor 1E 2>/dev/null)"
check "an invalid size suffix is rejected" test -z "$out"

out="$(admit --json --hard-floor "$((fs_avail + G))" 2>"$T/stderr")"
check "reject: the reason names the hard floor" jq -e '.reason | test("below the hard floor")' <<<"$out"
check "reject: stderr carries the decision line" grep -q "Refusing a box on '$H'" "$T/stderr"
"$ADMIT" --home "$H" --no-bus --box web --unit box@web.service --hard-floor "$((fs_avail + G))" >/dev/null 2>"$T/stderr"
check "--box and --unit label the decision" grep -q "Refusing box 'web' (box@web.service)" "$T/stderr"

# ------------------------------------------------- unreadable free space never blocks
out="$("$ADMIT" --home "$T/missing" --no-bus --json --hard-floor 1T 2>/dev/null)"
rc=$?
check "a missing home: warn, exit 0, reason says why" \
        bash -c "[ $rc -eq 0 ] && jq -e '.verdict == \"warn\" and .limit == \"unreadable\" and (.reason | test(\"No such file\"))' <<<'$out'"

# (LeakSanitizer cannot run under ptrace: traced runs turn it off; only sanitizer builds read ASAN_OPTIONS.)
if command -v strace >/dev/null && strace -qq -o /dev/null -e trace=close -e inject=close:retval=0 true 2>/dev/null; then
        # -D: strace runs detached, so the shell waits for boxlite-admit itself, not for the tracer.
        t0=$(date +%s%N)
        # -P: only the probe's statfs() of the home hangs, not those of libraries starting up (libselinux).
        ASAN_OPTIONS=detect_leaks=0 strace -D -qq -o /dev/null -f -P "$H" -e trace=statfs -e inject=statfs:delay_enter=8000000 \
                "$ADMIT" --home "$H" --no-bus --json --probe-timeout 1s --hard-floor 1T >"$T/out.json" 2>/dev/null
        rc=$?
        elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
        out="$(cat "$T/out.json")"
        check "a statfs that hangs: warn, exit 0, reason names the timeout" \
                bash -c "[ $rc -eq 0 ] && jq -e '.verdict == \"warn\" and (.reason | test(\"did not answer within 1000 ms\"))' <<<'$out'"
        # The bound is the point of the feature: the box start must not wait for the hung probe (8 s).
        check "a statfs that hangs does not hold the box start ($elapsed_ms ms)" test "$elapsed_ms" -lt 6000
else
        not_ok "strace with fault injection is not available"
fi

# ------------------------------------------------- --gc-on-pressure while another collection holds the home
mkdir -p "$H/images/disk-images"
flock "$H/images/disk-images" sleep 8 &
holder=$!
sleep 0.3
t0=$(date +%s%N)
out="$(admit --json --gc-on-pressure --hard-floor 1 --soft-floor "$((fs_avail + G))" 2>"$T/stderr")"
rc=$?
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
pkill -P $holder 2>/dev/null; kill $holder 2>/dev/null; wait $holder 2>/dev/null
check "a collection already running: the gate waits at most about 5 s, then judges anyway ($elapsed_ms ms)" \
        bash -c "[ $rc -eq 0 ] && [ $elapsed_ms -lt 7500 ] && jq -e '.verdict == \"warn\" and .gc.ok == false' <<<'$out' >/dev/null"
check "... and says why" grep -q "another collection of this home is still running" "$T/stderr"

# ------------------------------------------------- configuration
cat >"$BOXLITE_CONF_DIR/boxlite.conf" <<EOC
[Admission]
HardFloor=2G
SoftFloor=3G
SoftFloorPercent=7
InodeHardFloor=123
[GC]
Grace=1h
EOC
cat >"$BOXLITE_CONF_DIR/boxlite.conf.d/50-site.conf" <<EOC
[Admission]
SoftFloor=4G
EOC
out="$(admit --json)"
check "boxlite.conf, then boxlite.conf.d/*.conf" \
        jq -e '.limits == {"hard_floor_bytes": 2147483648, "soft_floor_bytes": 4294967296, "soft_floor_percent": 7,
                           "inode_hard_floor": 123, "inode_soft_percent": 5}' <<<"$out"
out="$(admit --json --soft-floor 6G --inode-soft-percent 1)"
check "the command line overrides every file" \
        jq -e '.limits.soft_floor_bytes == 6442450944 and .limits.inode_soft_percent == 1 and .limits.hard_floor_bytes == 2147483648' <<<"$out"

if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
        mkdir -p "$T/xdg/boxlite/boxlite.conf.d"
        printf '[Admission]\nHardFloor=9G\n' >"$T/xdg/boxlite/boxlite.conf"
        printf '[Admission]\nSoftFloorPercent=3\n' >"$T/xdg/boxlite/boxlite.conf.d/x.conf"
        chmod -R a+rX "$T/xdg" "$BOXLITE_CONF_DIR"
        out="$(setpriv --reuid=nobody --regid=nogroup --clear-groups env XDG_CONFIG_HOME="$T/xdg" \
                "$ADMIT" --home "$H" --no-bus --json 2>/dev/null)"
        check "a user's XDG boxlite/ overrides /etc for that user" \
                jq -e '.limits.hard_floor_bytes == 9663676416 and .limits.soft_floor_percent == 3 and .limits.soft_floor_bytes == 4294967296' <<<"$out"
        out="$("$ADMIT" --home "$H" --no-bus --json 2>/dev/null)"
        check "root does not read a user's config" jq -e '.limits.hard_floor_bytes == 2147483648' <<<"$out"
else
        not_ok "the per-user config test needs root and setpriv to run as another user"
fi

while read -r file key value expect; do
        rm -f "$BOXLITE_CONF_DIR"/boxlite.conf.d/*
        printf '[Admission]\nHardFloor=1G\n' >"$BOXLITE_CONF_DIR/boxlite.conf"
        section=Admission; [ "$key" = Grace ] || [ "$key" = TargetFree ] && section=GC
        printf '# a comment\n[%s]\n%s=%s\n' "$section" "$key" "$value" >"$BOXLITE_CONF_DIR/$file"
        admit >/dev/null 2>"$T/stderr"
        rc=$?
        msg="$(cat "$T/stderr")"
        if [ $rc -eq 2 ] && grep -qF "$BOXLITE_CONF_DIR/$file:3: invalid value '$value' for $key= in [$section]: expected $expect" <<<"$msg" &&
           [ "$(wc -l <<<"$msg")" -eq 1 ]; then
                ok "bad $key='$value' in $file: exit 2, one line naming file, line and key"
        else
                not_ok "bad $key='$value' in $file: exit $rc: $msg"
        fi
done <<EOC
boxlite.conf HardFloor 12Q a size
boxlite.conf SoftFloor -5G a size
boxlite.conf.d/10-x.conf SoftFloorPercent 150 a percentage
boxlite.conf.d/10-x.conf InodeHardFloor many a number
boxlite.conf InodeSoftPercent 5.5 a percentage
boxlite.conf GCOnPressure sometimes yes or no
boxlite.conf ProbeTimeoutSec forever a non-zero time span
boxlite.conf ProbeTimeoutSec 0 a non-zero time span
boxlite.conf Grace 10parsecs a time span
boxlite.conf TargetFree 1X a size
EOC
rm -f "$BOXLITE_CONF_DIR"/boxlite.conf.d/* "$BOXLITE_CONF_DIR/boxlite.conf"

for args in "--bogus" "--hard-floor" "--hard-floor 1Q" "--soft-floor x" "--soft-percent 101" "--soft-percent -1" \
            "--inode-hard-floor 1k" "--inode-soft-percent 200" "--grace 5parsecs" "--probe-timeout 0" \
            "--bus-timeout x" "--idle-timeout 0" "extra"; do
        # shellcheck disable=SC2086
        "$ADMIT" --home "$H" --no-bus $args >/dev/null 2>"$T/stderr"
        rc=$?
        check "usage error '$args': exit 2 with a reason" bash -c "[ $rc -eq 2 ] && grep -q . '$T/stderr'"
done
check "--help documents every option" bash -c "
        h=\$('$ADMIT' --help); for o in --home --box --unit --hard-floor --soft-floor --soft-percent --inode-hard-floor \
                --inode-soft-percent --gc-on-pressure --grace --probe-timeout --json --no-bus --bus-timeout --serve \
                --user --idle-timeout --version; do grep -q -- \"\$o\" <<<\"\$h\" || exit 1; done"

# ------------------------------------------------- the Decided signal never changes the outcome
hard_reject="$((fs_avail + G))"
for bus in "unix:path=$T/no-bus" "unix:path=/dev/null" "garbage:"; do
        DBUS_SYSTEM_BUS_ADDRESS="$bus" "$ADMIT" --home "$H" --hard-floor "$hard_reject" >/dev/null 2>&1
        rc1=$?
        DBUS_SYSTEM_BUS_ADDRESS="$bus" "$ADMIT" --home "$H" >/dev/null 2>&1
        rc2=$?
        check "bus '$bus' unreachable: same exit statuses (75 and 0)" test "$rc1$rc2" = "750"
done

if command -v dbus-daemon >/dev/null; then
        cat >"$T/bus.conf" <<EOC
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=$T/stuck-bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default"><allow user="*"/><allow own="*"/><allow send_type="method_call"/></policy>
</busconfig>
EOC
        dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile >/dev/null 2>&1 &
        stopped_bus=$!
        for _ in $(seq 50); do [ -S "$T/stuck-bus" ] && break; sleep 0.1; done
        kill -STOP "$stopped_bus"
        t0=$(date +%s%N)
        DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/stuck-bus" "$ADMIT" --home "$H" --hard-floor "$hard_reject" \
                --bus-timeout 300ms >/dev/null 2>&1
        rc=$?
        elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
        check "a bus that does not answer: still exit 75" test $rc -eq 75
        # The documented bound: the bus timeout (300 ms here) plus the probe; far below the 25 s sd-bus default.
        check "a bus that does not answer delays the decision by about the bus timeout ($elapsed_ms ms)" \
                test "$elapsed_ms" -lt 3000
        kill -CONT "$stopped_bus"; kill "$stopped_bus"; wait "$stopped_bus" 2>/dev/null
        stopped_bus=
else
        not_ok "dbus-daemon is not installed"
fi

tap_done
