#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# boxlite-gc while box directories move under it: a stress loop that asserts
# safety only. A home of 1,500 boxes; one box directory is renamed back and
# forth (victim-a <-> zz-moving, so it lists before and after the others), and
# two more are exchanged with renameat2(RENAME_EXCHANGE) (both names always
# exist), as fast as a process can, while the GC runs in a loop. No referenced
# image may ever disappear; a run may fail closed (the home never held still),
# never delete one. With the churn stopped, the aged orphan still goes.
#
# The same home with the walk's consistency checks switched off
# (BOXLITE_GC_TEST_NO_CONSISTENCY, honoured only by -Dtest-hooks=true builds):
# the test must catch it, as a dry run that would reclaim a referenced image.
set -uo pipefail

. "$(dirname "$0")/tap.sh"

GC="${BOXLITE_GC:?}"
LOOP="${BOXLITE_RENAME_LOOP:?}"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed (apt-get install qemu-utils)"
command -v jq >/dev/null || skip_all "jq not installed"
RUNS="${BOXLITE_WALK_RACE_RUNS:-60}"
MUTANT_RUNS="${BOXLITE_WALK_RACE_MUTANT_RUNS:-300}"

T="$(mktemp -d /tmp/boxlite-gc-walk-race.XXXXXX)"
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        wait 2>/dev/null
        rm -rf "$T"
}
trap cleanup EXIT

H="$T/home"
DI="$H/images/disk-images"
mkdir -p "$DI" "$H/boxes" "$T/proto/disks"
for i in a b c filler orphan; do head -c 65536 /dev/urandom >"$DI/sha256-$i.ext4"; done
mkbox() { # ID IMAGE
        mkdir -p "$H/boxes/$1/disks"
        qemu-img create -q -f qcow2 -b "$DI/$2" -F raw "$H/boxes/$1/disks/disk.qcow2" 1M
}
qemu-img create -q -f qcow2 -b "$DI/sha256-filler.ext4" -F raw "$T/proto/disks/disk.qcow2" 1M
for i in $(seq -w 1 1500); do
        mkdir -p "$H/boxes/box-$i/disks"
        cp "$T/proto/disks/disk.qcow2" "$H/boxes/box-$i/disks/"
done
mkbox victim-a sha256-a.ext4
mkbox victim-b sha256-b.ext4
mkbox victim-c sha256-c.ext4
sleep 1.2

all_there() {
        [ -e "$DI/sha256-a.ext4" ] && [ -e "$DI/sha256-b.ext4" ] && [ -e "$DI/sha256-c.ext4" ] &&
                [ -e "$DI/sha256-filler.ext4" ]
}

start_churn() { # [PAUSE_USEC]
        "$LOOP" rename "$H/boxes" victim-a zz-moving ${1:-} >"$T/renames" &
        pids+=($!)
        "$LOOP" exchange "$H/boxes" victim-b victim-c ${1:-} >"$T/exchanges" &
        pids+=($!)
}

stop_churn() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        wait "${pids[@]}" 2>/dev/null
        pids=()
}

# ------------------------------------------------- the consistent walk
start_churn
lost=0 closed=0 clean=0
for _ in $(seq "$RUNS"); do
        out="$("$GC" --home "$H" --json --grace 1s 2>/dev/null)"
        rc=$?
        if [ $rc -eq 0 ]; then clean=$((clean + 1)); else closed=$((closed + 1)); fi
        all_there || { lost=1; break; }
done
stop_churn
diag "$RUNS runs: $clean clean, $closed failed closed; $(cat "$T/renames" 2>/dev/null) renames, $(cat "$T/exchanges" 2>/dev/null) exchanges meanwhile"
check "no referenced image disappeared during $RUNS GC runs under renames and exchanges" test $lost -eq 0
check "renames really ran during the walks" test "$(cat "$T/renames")" -gt 1000 -a "$(cat "$T/exchanges")" -gt 1000

out="$("$GC" --home "$H" --json --grace 1s 2>/dev/null)"; rc=$?
[ $rc -eq 0 ] || diag "rc=$rc $(jq -c "[.errors, .fail_closed, .kept_count, .reclaimed_count]" <<<"$out" | head -c 2000)"
check "with the churn stopped, the run is clean (exit 0)" test $rc -eq 0
check "with the churn stopped, the aged orphan went (or had gone)" test ! -e "$DI/sha256-orphan.ext4"
check "and every referenced image is still there" all_there

# ------------------------------------------------- a home that moves now and then
# How often a run under churn is clean depends on the machine's speed, so nothing here counts that;
# the exact outcomes of renames at fixed points of a walk are tests/integration/gc-churn.sh's.
start_churn 30000
lost=0 clean=0 rewalked=0 unsafe=0
for _ in $(seq 40); do
        out="$("$GC" --home "$H" --json --grace 1s 2>/dev/null)" && clean=$((clean + 1))
        [ "$(jq -r '.walk_rounds // 1' <<<"$out" 2>/dev/null)" -gt 1 ] 2>/dev/null && rewalked=$((rewalked + 1))
        # A run that failed closed deleted nothing.
        jq -e '.fail_closed and .reclaimed_count > 0' <<<"$out" >/dev/null 2>&1 && unsafe=1
        all_there || { lost=1; break; }
done
stop_churn
diag "paced churn: $clean of 40 runs clean, $rewalked walked again what changed"
check "paced renames: no referenced image disappeared" test $lost -eq 0
check "paced renames: no run that failed closed deleted anything" test $unsafe -eq 0

# ------------------------------------------------- churn inside box directories of an aged home
# Older than the walk's racy window (2 s), the directories below boxes/ are proven by their times once
# walked, not stat'ed before listing (walk.h, 4). Overlays are renamed and exchanged inside two of them.
qemu-img create -q -f qcow2 -b "$DI/sha256-filler.ext4" -F raw "$H/boxes/victim-b/disks/other.qcow2" 1M
sleep 2.2
"$LOOP" rename "$H/boxes/victim-a/disks" disk.qcow2 zz.qcow2 >"$T/renames" &
pids+=($!)
"$LOOP" exchange "$H/boxes/victim-b/disks" disk.qcow2 other.qcow2 >"$T/exchanges" &
pids+=($!)
lost=0 clean=0
for _ in $(seq 30); do
        out="$("$GC" --home "$H" --json --grace 1s 2>/dev/null)" && clean=$((clean + 1))
        all_there || { lost=1; break; }
done
stop_churn
diag "churn inside boxes: $clean of 30 runs clean; $(cat "$T/renames") renames, $(cat "$T/exchanges") exchanges"
check "renames and exchanges inside box directories of an aged home: no referenced image disappeared" \
        test $lost -eq 0
sleep 2.2
out="$("$GC" --home "$H" --json --dry-run --grace 1s 2>/dev/null)"
check "the aged home, still again, walks in one pass with nothing to reclaim but unreferenced images" \
        jq -e '.walk_passes == 1 and .walk_rounds == 1 and ([.reclaimed[].path | select(test("sha256-[abc]|filler"))] | length) == 0' <<<"$out"

# ------------------------------------------------- the mutant: trust the listing
head -c 65536 /dev/urandom >"$DI/sha256-orphan.ext4"
sleep 1.2
start_churn
caught=0
for i in $(seq "$MUTANT_RUNS"); do
        out="$(BOXLITE_GC_TEST_NO_CONSISTENCY=1 "$GC" --home "$H" --json --dry-run --grace 1s 2>/dev/null)"
        if jq -e '.reclaimed[] | select(.path | test("sha256-[abc].ext4$"))' <<<"$out" >/dev/null 2>&1; then
                caught=$i
                break
        fi
done
stop_churn
diag "mutant caught after $caught dry run(s)"
check "without the consistency checks, a walk under churn would reclaim a referenced image" test $caught -gt 0
check "the mutant changed nothing on disk (dry runs)" all_there

tap_done
