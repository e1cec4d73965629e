#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What a person at a terminal sees: the report on stdout, on stderr only what
# the report does not say (warnings, errors), each thing once; the per-image
# table; --quiet and --verbose. The journal side is tests/root/journal-terminal.sh.
set -uo pipefail

. "$(dirname "$0")/tap.sh"

GC="${BOXLITE_GC:?}" ADMIT="${BOXLITE_ADMIT:?}"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed (apt-get install qemu-utils)"
command -v jq >/dev/null || skip_all "jq not installed"

T="$(mktemp -d /tmp/boxlite-output.XXXXXX)"
trap 'rm -rf "$T"' EXIT
unset JOURNAL_STREAM BOXLITE_LOG_TARGET BOXLITE_LOG_LEVEL
export BOXLITE_CONF_DIR="$T/etc"

H="$T/home"
DI="$H/images/disk-images"
mkdir -p "$DI" "$H/boxes/b1/disks"
for i in 1 2 3; do head -c 8192 /dev/urandom >"$DI/sha256-orphan$i.ext4"; done
head -c 8192 /dev/urandom >"$DI/sha256-pinned.ext4"
qimg -f qcow2 -b "$DI/sha256-pinned.ext4" -F raw "$H/boxes/b1/disks/disk.qcow2"

# Whether this host has a journal or not, the one line saying there is none is not part of the report.
stderr_rest() {
        grep -v "No journal reachable at" "$1"
}

# ------------------------------------------------ boxlite-gc: each half on its own stream
"$GC" --home "$H" --dry-run --grace 0 >"$T/out" 2>/dev/null
check "gc 2>/dev/null: the table has a header" grep -qE '^IMAGE +SIZE +AGE +WHY$' "$T/out"
check "gc 2>/dev/null: each orphan is one row, with its size and why" \
        test "$(grep -cE '^sha256-orphan[123]\.ext4 +8 KiB +[0-9].* would reclaim: unreferenced$' "$T/out")" -eq 3
check "gc 2>/dev/null: the pinned image is a row that says why it is kept" \
        grep -qE '^sha256-pinned\.ext4 +8 KiB .* kept: pinned' "$T/out"
check "gc 2>/dev/null: the summary once" test "$(grep -c '^Would reclaim 3 disk-images' "$T/out")" -eq 1
check "gc 2>/dev/null: the kept count reads as words" grep -qx 'Kept 1 (1 pinned).' "$T/out"
diag "$(cat "$T/out")"

"$GC" --home "$H" --dry-run --grace 0 >/dev/null 2>"$T/err"
check "gc >/dev/null: a clean run writes nothing of the report on stderr" test -z "$(stderr_rest "$T/err")"
check "gc >/dev/null: the no-journal notice, if any, at most once" \
        test "$(grep -c "No journal reachable" "$T/err")" -le 1

"$GC" --home "$H" --dry-run --grace 0 --json >"$T/out" 2>"$T/err"
check "gc --json: the same document (keys and counts)" jq -en 'input |
        .dry_run == true and .reclaimed_count == 3 and .kept_count == 1 and (.reclaimed | length) == 3 and
        (.kept[0] | .reason == "pinned") and (.errors | length) == 0 and
        ([keys[]] | contains(["reclaimed", "reclaimed_bytes", "kept", "errors", "ok", "fail_closed", "home"]))' <"$T/out"
check "gc --json: nothing of it on stderr" test -z "$(stderr_rest "$T/err")"

# A nothing-kept run: no "Kept 0:." and no table without rows.
H2="$T/empty"
mkdir -p "$H2/images/disk-images" "$H2/boxes/idle"
"$GC" --home "$H2" --grace 0 >"$T/out" 2>/dev/null
check "gc: an empty run says 'Kept nothing.'" grep -qx 'Kept nothing.' "$T/out"
check "gc: ... and prints no empty table" bash -c "! grep -q '^IMAGE' '$T/out'"
check "gc: no count followed by a colon and nothing" bash -c "! grep -qE '[0-9]:\\.?$' '$T/out'"

# ------------------------------------------------ many orphans: a table, not a log line each
H3="$T/many"
mkdir -p "$H3/images/disk-images" "$H3/boxes/idle"
(cd "$H3/images/disk-images" && truncate -s 4096 $(seq -f 'sha256-%04g.ext4' 1 2500))
"$GC" --home "$H3" --dry-run --grace 0 >"$T/out" 2>"$T/err"
check "2,500 orphans: 2,500 rows in the report" \
        test "$(grep -c ' would reclaim: unreferenced$' "$T/out")" -eq 2500
check "2,500 orphans: no log line per image on stderr" test "$(stderr_rest "$T/err" | wc -l)" -eq 0

# ------------------------------------------------ errors: on stderr, once, naming the overlay
mkdir -p "$H/boxes/b2/disks"
printf 'QFI\xfb\0\0\0\x03' >"$H/boxes/b2/disks/disk.qcow2" # a qcow2 magic, then the header ends
"$GC" --home "$H" --grace 0 >"$T/out" 2>"$T/err"
rc=$?
check "fail closed: exit 1" test $rc -eq 1
check "fail closed: the overlay's error once on stderr" \
        test "$(grep -c "$H/boxes/b2/disks/disk.qcow2" "$T/err")" -eq 1
check "fail closed: the summary at most once on stderr" test "$(grep -c 'Reclaimed 0 disk-image' "$T/err")" -le 1
check "fail closed: stdout says FAILED CLOSED" grep -q '^FAILED CLOSED' "$T/out"
check "fail closed: nothing deleted" test -e "$DI/sha256-orphan1.ext4"
diag "$(cat "$T/err")"

"$GC" --home "$H" --grace 0 --quiet >"$T/out" 2>"$T/err"
rc=$?
check "--quiet, failing: exit 1, no report, the error still on stderr" \
        bash -c "[ $rc -eq 1 ] && [ ! -s '$T/out' ] && grep -q 'disk.qcow2' '$T/err'"
rm -r "$H/boxes/b2"

# ------------------------------------------------ --verbose and --quiet
"$GC" --home "$H" --dry-run --grace 0 --verbose >/dev/null 2>"$T/err"
check "--verbose: each decision on stderr" \
        test "$(grep -c "Would reclaim '$DI/sha256-orphan[123].ext4'" "$T/err")" -eq 3
check "--verbose: and the summary" grep -q "Would reclaim 3 disk-image(s)" "$T/err"
"$GC" --home "$H" --grace 0 --quiet >"$T/out" 2>"$T/err"
rc=$?
check "--quiet: exit 0, nothing on stdout or stderr" bash -c "[ $rc -eq 0 ] && [ ! -s '$T/out' ] && [ ! -s '$T/err' ]"
check "--quiet: the orphans were still reclaimed" test ! -e "$DI/sha256-orphan1.ext4" -a -e "$DI/sha256-pinned.ext4"
"$GC" --home "$H" --quiet --verbose >/dev/null 2>"$T/err"
check "--quiet --verbose: a usage error (exit 2)" test $? -eq 2
check "--quiet --verbose: says why" grep -q "mutually exclusive" "$T/err"

# ------------------------------------------------ boxlite-admit
avail=$(stat -f -c '%a %S' "$H" | awk '{ printf "%.0f\n", $1 * $2 }')
"$ADMIT" --home "$H" --no-bus --hard-floor 1 --soft-floor 1 --soft-percent 0 --inode-hard-floor 0 \
        --inode-soft-percent 0 >"$T/out" 2>"$T/err"
check "admit ok: the verdict on stdout once" test "$(grep -c '^Verdict: ok' "$T/out")" -eq 1
check "admit ok: nothing of it on stderr" test -z "$(stderr_rest "$T/err")"
"$ADMIT" --home "$H" --no-bus --hard-floor $((avail + (1 << 30))) --quiet >"$T/out" 2>"$T/err"
rc=$?
check "admit --quiet reject: exit 75, no report on stdout" bash -c "[ $rc -eq 75 ] && [ ! -s '$T/out' ]"
check "admit --quiet reject: the refusal (an error) once on stderr" \
        test "$(grep -c "Refusing a box on '$H'" "$T/err")" -eq 1
"$ADMIT" --home "$H" --no-bus --hard-floor 1 --soft-floor 1 --soft-percent 0 --inode-hard-floor 0 \
        --inode-soft-percent 0 --verbose >/dev/null 2>"$T/err"
check "admit --verbose: the ok decision on stderr" grep -q "$H" "$T/err"

tap_done
