#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The deleting run's second look (walk.h, walk_log_recheck()): between moving
# the orphans aside and unlinking them, the GC stats again what its first walk
# saw and reads again only what its times cannot prove unchanged; a directory
# that changed makes it walk the home again in full. The run is held after
# each rename (strace delay injection) while the home is changed as fast as a
# shell can:
#
#   - an overlay rewritten in place onto an orphan (qemu-img rebase -u: the
#     image is not opened, so an orphan that is aside is a valid target);
#   - a new box directory with an overlay onto another orphan renamed in;
#   - a box renamed;
#   - an overlay rewritten and its mtime set back (touch -d): only ctime and
#     the racy window tell it changed.
#
# Each overlay that now names an aside orphan must be seen (its backing file
# is missing under that name, so the run fails closed and puts every orphan
# back), with in-place rewrites alone (the log holds, the rewritten overlays
# are read again) and with boxes/ changed too (walked again). With the
# recheck switched off (BOXLITE_GC_TEST_NO_RECHECK) the test must fail. A run
# on a home that did not move proves every overlay unchanged without reading
# it, and one on a home just written reads the fresh ones again (their times
# lie within the racy window of the first look).
set -uo pipefail

. "$(dirname "$0")/tap.sh"

GC="${BOXLITE_GC:?}"
require_rename_delay

T="$(mktemp -d /tmp/boxlite-gc-recheck.XXXXXX)"
export BOXLITE_CONF_DIR="$T/etc"
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

qimg() {
        qemu-img create -q -o cluster_size=512 "$@" >/dev/null
}

# setup: 20 boxes on a kept image, orphans o1..o5, all aged past the racy window.
setup() {
        H="$T/home-$1"
        DI="$H/images/disk-images"
        mkdir -p "$DI" "$H/boxes" "$H/bases" "$H/tmp"
        head -c 65536 /dev/urandom >"$DI/kept.ext4"
        for o in o1 o2 o3 o4 o5; do head -c 65536 /dev/urandom >"$DI/$o.ext4"; done
        for i in $(seq 1 20); do
                mkdir -p "$H/boxes/box-$i/disks"
                qimg -f qcow2 -b "$DI/kept.ext4" -F raw "$H/boxes/box-$i/disks/disk.qcow2"
        done
        mkdir -p "$H/tmp/new-box/disks"
        qimg -f qcow2 -u -b "$DI/o2.ext4" -F raw "$H/tmp/new-box/disks/disk.qcow2" 64K
        touch -d '-1 day' "$DI"/*.ext4
        sleep 2.2
}

# race MODE [in-place]: a held real run; the home changes while the orphans are aside.
race() {
        local env=() m
        [ "$1" = no-recheck ] && env=(BOXLITE_GC_TEST_NO_RECHECK=1)
        env "${env[@]}" strace -qq -f -o /dev/null -e trace=renameat2 \
                -e inject=renameat2:delay_exit=300000 \
                "$GC" --home "$H" --json --grace 1s ${JOBS:+--jobs "$JOBS"} >"$T/out.$1" 2>"$T/stderr" &
        local pid=$!
        for _ in $(seq 200); do
                [ -e "$DI/.boxlite-gc-o4.ext4" ] && break
                sleep 0.05
        done
        # As fast as the shell goes: in place, renamed in, renamed, and a rewrite with its mtime set back.
        qemu-img rebase -u -f qcow2 -b "$DI/o1.ext4" -F raw "$H/boxes/box-1/disks/disk.qcow2"
        if [ "${2:-}" != in-place ]; then
                mv "$H/tmp/new-box" "$H/boxes/new-box"
                mv "$H/boxes/box-3" "$H/boxes/box-3b"
        fi
        m="$(stat -c %y "$H/boxes/box-5/disks/disk.qcow2")"
        qemu-img rebase -u -f qcow2 -b "$DI/o3.ext4" -F raw "$H/boxes/box-5/disks/disk.qcow2"
        touch -d "$m" "$H/boxes/box-5/disks/disk.qcow2"
        wait "$pid"
}

setup a
"$GC" --home "$H" --json --grace 1s --dry-run >"$T/dry" 2>/dev/null
check "the dry run would reclaim the five orphans" \
        test "$(jq -r '.reclaimed[].path' "$T/dry" | xargs -n1 basename | sort | tr '\n' ' ')" = \
        "o1.ext4 o2.ext4 o3.ext4 o4.ext4 o5.ext4 "
check "a dry run takes no second look" jq -e 'has("recheck") | not' "$T/dry"
race recheck in-place
check "in-place rewrites only: the first walk's log held (no second walk)" \
        jq -e '.recheck.walked_again == false' "$T/out.recheck"
check "the two rewritten overlays were read again" jq -e '.recheck.reread == 2' "$T/out.recheck"
check "o1 and o3, referenced while aside, were put back" test -f "$DI/o1.ext4" -a -f "$DI/o3.ext4"
check "the run failed closed, naming the two overlays" \
        test "$(jq -r '[.errors[].path | select(test("box-1/|box-5/"))] | length' "$T/out.recheck")" = 2
check "so every orphan was put back" test -f "$DI/o2.ext4" -a -f "$DI/o4.ext4" -a -f "$DI/o5.ext4"
check "no aside file is left" test -z "$(find "$DI" -name '.boxlite-gc-*')"

# The same with one worker and with three: the boxes are rechecked by that many threads.
for j in 1 3; do
        setup "a$j"
        JOBS=$j race recheck in-place
        check "--jobs $j: the log held, the two rewritten overlays were read again, o1 and o3 put back" \
                bash -c "jq -e '.recheck.walked_again == false and .recheck.reread == 2' '$T/out.recheck' >/dev/null &&
                         [ -f '$DI/o1.ext4' ] && [ -f '$DI/o3.ext4' ] &&
                         [ \"\$(jq -r '[.errors[].path | select(test(\"box-1/|box-5/\"))] | length' '$T/out.recheck')\" = 2 ]"
done

setup b
race recheck
check "boxes/ changed too: the home was walked again, and the reason says which directory" \
        jq -e '.recheck.walked_again == true and (.recheck.why | test("boxes"))' "$T/out.recheck"
for o in o1 o2 o3; do
        check "$o, referenced while it was aside, was put back" test -f "$DI/$o.ext4"
done
check "the run failed closed, naming the three overlays that reference aside orphans" \
        test "$(jq -r '[.errors[].path | select(test("box-1/|box-5/|new-box/"))] | length' "$T/out.recheck")" = 3
check "so every orphan was put back" test -f "$DI/o4.ext4" -a -f "$DI/o5.ext4"

setup c
race no-recheck in-place
if [ -f "$DI/o1.ext4" ] && [ -f "$DI/o3.ext4" ]; then
        not_ok "without the second look an orphan referenced while aside is deleted (mutant not caught)"
else
        ok "without the second look an orphan referenced while aside is deleted (mutant caught)"
fi

# A home that holds still: every overlay proven unchanged, none read again.
setup d
"$GC" --home "$H" --json --grace 1s >"$T/out" 2>/dev/null
check "a still home: the log held, no overlay read again, the five orphans went" \
        jq -e '.recheck.walked_again == false and .recheck.reread == 0 and .reclaimed_count == 5' "$T/out"

# The same with three workers: their records, merged into one log, must hold just as well.
setup d3
"$GC" --home "$H" --json --grace 1s --jobs 3 >"$T/out" 2>/dev/null
check "three workers: their merged log held, no overlay read again, the five orphans went" \
        jq -e '.recheck.walked_again == false and .recheck.reread == 0 and .reclaimed_count == 5' "$T/out"

# A home just written: within the racy window of the first look, equal times prove nothing.
setup e
for i in $(seq 1 20); do
        qemu-img rebase -u -f qcow2 -b "$DI/kept.ext4" -F raw "$H/boxes/box-$i/disks/disk.qcow2"
done
"$GC" --home "$H" --json --grace 1s >"$T/out" 2>/dev/null
check "a fresh home: every overlay written within the racy window is read again" \
        jq -e '.recheck.reread == 20 and .recheck.walked_again == false' "$T/out"
check "a fresh home: the orphans are still reclaimed" jq -e '.reclaimed_count == 5' "$T/out"

setup e3
for i in $(seq 1 20); do
        qemu-img rebase -u -f qcow2 -b "$DI/kept.ext4" -F raw "$H/boxes/box-$i/disks/disk.qcow2"
done
"$GC" --home "$H" --json --grace 1s --jobs 3 >"$T/out" 2>/dev/null
check "three workers, a fresh home: every fresh overlay of every worker is read again" \
        jq -e '.recheck.reread == 20 and .recheck.walked_again == false and .reclaimed_count == 5' "$T/out"

# Directories written within the racy window: the log cannot hold, the home is walked again.
setup f
touch "$H/boxes/box-2/disks/notes"
"$GC" --home "$H" --json --grace 1s >"$T/out" 2>/dev/null
check "a directory written just now: walked again, and the orphans still go" \
        jq -e '.recheck.walked_again == true and .reclaimed_count == 5' "$T/out"

tap_done
