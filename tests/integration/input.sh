#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Hostile and unlucky input to all three programs: configuration files that
# are FIFOs, devices, directories, with long lines or NULs; timeouts whose
# deadline would overflow; metrics files and plans that are not regular
# files; names that would forge output lines; a stdout that cannot be
# written; options that lack their argument.
set -uo pipefail

. "$(dirname "$0")/tap.sh"

ADMIT="${BOXLITE_ADMIT:?}" GC="${BOXLITE_GC:?}" CW="${BOXLITE_CHAINWALK:?}"
command -v jq >/dev/null || skip_all "jq not installed"
[ -w /dev/full ] || skip_all "/dev/full is not available"

T="$(mktemp -d /tmp/boxlite-input.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT
H="$T/home"
# An idle box: a boxes/ without a box is not collected.
mkdir -p "$H/images/disk-images" "$H/boxes/idle"
export BOXLITE_CONF_DIR="$T/etc" BOXLITE_LOG_TARGET=stderr
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/no-bus"
C="$BOXLITE_CONF_DIR"
reset_conf() { rm -rf "$C"; mkdir -p "$C/boxlite.conf.d"; }
admit() { timeout 10 "$ADMIT" --home "$H" --no-bus "$@"; }

# expect_usage DESC PATTERN COMMAND...: exit 2 within the timeout, with PATTERN on stderr.
expect_usage() {
        local desc="$1" pattern="$2" rc
        shift 2
        "$@" >/dev/null 2>"$T/stderr"
        rc=$?
        if [ $rc -eq 2 ] && grep -q -- "$pattern" "$T/stderr"; then
                ok "$desc"
        else
                not_ok "$desc (exit $rc: $(head -c 300 "$T/stderr"))"
        fi
}

# ------------------------------------------------------------ configuration files
reset_conf
{ echo '[Admission]'; echo 'HardFloor=500G'; printf '#%0198d' 0 | tr 0 x; echo 'HardFloor=0 ; off'; } >"$C/boxlite.conf"
out="$(admit --json 2>/dev/null)"
check "a 199-byte comment is one comment: its tail sets no key" \
        test "$(jq .limits.hard_floor_bytes <<<"$out")" -eq $((500 << 30))

reset_conf
{ echo '[Admission]'; printf 'SoftFloor=1G ; %0300d\n' 0; } >"$C/boxlite.conf"
expect_usage "a setting line longer than libinih takes is rejected, naming file and line" \
        "boxlite.conf:2: line of 315 bytes is too long" admit

reset_conf
printf '[Admission]\nHardFloor=5G\0junk\n' >"$C/boxlite.conf"
expect_usage "an embedded NUL is an error, not a truncation" "boxlite.conf:2: line contains a NUL byte" admit

reset_conf
mkfifo "$C/boxlite.conf"
expect_usage "boxlite.conf as a FIFO: no hang, named" "boxlite.conf: is a FIFO, not a regular file" admit
expect_usage "boxlite-gc reads the same file: no hang, named" "boxlite.conf: is a FIFO" timeout 10 "$GC" --home "$H"

reset_conf
ln -s /dev/zero "$C/boxlite.conf.d/50-zero.conf"
expect_usage "a drop-in that is a device is named" "50-zero.conf: is a character device" admit

reset_conf
mkdir "$C/boxlite.conf.d/50-dir.conf"
expect_usage "a drop-in that is a directory is named" "50-dir.conf: is a directory" admit

reset_conf
head -c $((2 << 20)) /dev/zero | tr '\0' '#' >"$C/boxlite.conf"
expect_usage "a configuration file is bounded in size" "larger than 1024 KiB" admit

# ------------------------------------------------------------ timeouts
reset_conf
for opt in --probe-timeout --bus-timeout; do
        expect_usage "$opt 18446744073709551615us (an overflowing deadline) is a usage error" \
                "invalid $opt '18446744073709551615us'.*at most 1h" admit --hard-floor 1000T "$opt" 18446744073709551615us
        expect_usage "$opt above 1h is a usage error" "invalid $opt" admit "$opt" 61min
done
admit --probe-timeout 1h --bus-timeout 1h >/dev/null 2>&1
check "1h is accepted for both timeouts" test $? -eq 0
expect_usage "--idle-timeout above 1d is a usage error" "invalid --idle-timeout" admit --serve --idle-timeout 2d
printf '[Admission]\nProbeTimeoutSec=18446744073709551615us\n' >"$C/boxlite.conf"
expect_usage "ProbeTimeoutSec= with an overflowing deadline is rejected" "invalid value .* for ProbeTimeoutSec=" admit
reset_conf

# ------------------------------------------------------------ missing option arguments
for prog in "$ADMIT" "$GC" "$CW"; do
        expect_usage "$(basename "$prog") --home without its argument names the option" \
                "option '--home' needs an argument" "$prog" --home
done
expect_usage "an unknown option is named" "unknown option '--bogus'" "$GC" --bogus

# ------------------------------------------------------------ --metrics-file and --apply-plan
if [ "$(id -u)" -eq 0 ]; then
        mknod "$T/null" c 1 3
        expect_usage "--metrics-file on a device node is refused" "it is a character device" "$GC" --home "$H" \
                --metrics-file "$T/null"
        check "the device node is still a device node" test -c "$T/null"
else
        ok "# SKIP --metrics-file on a device node needs root for mknod"
fi
ln -s "$T/elsewhere.prom" "$T/link.prom"
expect_usage "--metrics-file on a symlink is refused" "it is a symbolic link" "$GC" --home "$H" --metrics-file "$T/link.prom"
check "nothing was written through the symlink" test ! -e "$T/elsewhere.prom" -a -L "$T/link.prom"
mkfifo "$T/metrics.fifo"
expect_usage "--metrics-file on a FIFO is refused" "it is a FIFO" timeout 10 "$GC" --home "$H" --metrics-file "$T/metrics.fifo"
"$GC" --home "$H" --metrics-file "$T/new.prom" >/dev/null 2>&1 && "$GC" --home "$H" --metrics-file "$T/new.prom" >/dev/null 2>&1
check "--metrics-file: a new name, then the regular file it became, are written" grep -q boxlite_gc_errors "$T/new.prom"

mkfifo "$T/plan.fifo"
expect_usage "--apply-plan on a FIFO does not hang" "is a FIFO, not a regular file" timeout 10 "$GC" --home "$H" \
        --apply-plan "$T/plan.fifo"
expect_usage "--apply-plan on /dev/zero does not read without end" "is a character device" timeout 10 "$GC" \
        --home "$H" --apply-plan /dev/zero
truncate -s 257M "$T/big-plan.json"
expect_usage "--apply-plan is bounded to 256 MiB" "larger than 256 MiB" timeout 10 "$GC" --home "$H" \
        --apply-plan "$T/big-plan.json"

# ------------------------------------------------------------ names that forge lines
evil=$'/x\nVerdict: ok\e[2J'
no_forged_line() { ! grep -q '^Verdict' "$@"; }
has_no_escape() { ! grep -q $'\e' "$@"; }
admit --home "$evil" >"$T/stdout" 2>"$T/stderr"
check "admit: a newline in --home cannot forge a human line" test "$(grep -c '^Verdict' "$T/stdout")" -eq 1
check "admit: stdout shows the name C-escaped" grep -qF '/x\nVerdict: ok\x1b[2J' "$T/stdout"
check "admit: no escape character reaches stdout or stderr" has_no_escape "$T/stdout" "$T/stderr"
check "admit: stderr is escaped too (one line per message)" no_forged_line "$T/stderr"
"$GC" --home "$evil" >/dev/null 2>"$T/stderr"
check "gc: the error on stderr is escaped" grep -qF "'/x\nVerdict: ok\x1b[2J'" "$T/stderr"
"$CW" "$evil" >"$T/stdout" 2>"$T/stderr"
check "chainwalk: human output is escaped" no_forged_line "$T/stdout"
check "chainwalk: stderr is escaped" grep -qF '/x\nVerdict' "$T/stderr"
check "chainwalk: no forged line on stderr" no_forged_line "$T/stderr"
evil_image="$H/images/disk-images/"$'evil\nreclaimed fake.ext4'
truncate -s 1M "$evil_image"
"$GC" --home "$H" --dry-run --grace 0 >"$T/stdout" 2>/dev/null
check "gc: an image name with a newline prints on one row of the table" \
        bash -c "grep -F 'evil\nreclaimed fake.ext4' '$T/stdout' | grep -q 'would reclaim: unreferenced'"
check "gc: and forges no line" bash -c "! grep -q '^reclaimed' '$T/stdout'"
rm -f "$H/images/disk-images/"*

# ------------------------------------------------------------ stdout that cannot be written
admit >/dev/full 2>"$T/stderr"
rc=$?
check "admit ok with an unwritable report: exit 1, reported (got $rc)" \
        test $rc -eq 1 -a -n "$(grep 'standard output' "$T/stderr")"
admit --json >/dev/full 2>/dev/null
check "admit --json ok with an unwritable report: exit 1" test $? -eq 1
admit --json --hard-floor 1000T >/dev/full 2>/dev/null
check "admit reject keeps 75 even when its report is lost" test $? -eq 75
"$GC" --home "$H" --json >/dev/full 2>"$T/stderr"
rc=$?
check "gc with an unwritable report: exit 1, reported (got $rc)" test $rc -eq 1 -a -n "$(grep 'standard output' "$T/stderr")"
qemu-img create -q -f qcow2 "$T/ok.qcow2" 1M 2>/dev/null || truncate -s 1M "$T/ok.qcow2"
"$CW" "$T/ok.qcow2" >/dev/full 2>/dev/null
check "chainwalk with an unwritable report: exit 1" test $? -eq 1
"$GC" --help >/dev/full 2>/dev/null
check "--help into /dev/full: exit 1" test $? -eq 1

# ------------------------------------------------------------ gc --json when the run cannot start
out="$("$GC" --json --home "$T/no-such-home" 2>/dev/null)"
rc=$?
check "gc --json on a missing home: exit 1 and a JSON object (got $rc)" test $rc -eq 1 -a -n "$out"
check "gc --json on a missing home: the documented fields, and the error" jq -e \
        '.dry_run == false and .reclaimed == [] and .reclaimed_count == 0 and .reclaimed_bytes == 0 and
         .kept == [] and (.errors | length) == 1 and (.errors[0].path | endswith("no-such-home")) and
         (.errors[0].error | length) > 0' <<<"$out"

tap_done
