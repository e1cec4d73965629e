#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# boxlite-gc against concurrent box starts. The GC runs in a loop while a
# starter keeps starting boxes in two ways:
#
#   fresh: build an image in tmp/, rename it into images/disk-images/, do the
#          rest of the start, then create an overlay onto it (qemu-img opens
#          the image). Only the grace window keeps the image alive until its
#          overlay exists.
#   reuse: a start (a) checks that an old cached image exists and (b) puts
#          an overlay naming it in place, an overlay made beforehand in tmp/
#          with qemu-img create -u (metadata only: the image is never opened).
#          Between (a) and (b) the last old box using the image is removed, so
#          it becomes an aged orphan (the case the .path unit runs the GC for),
#          and the start is held until the GC has moved the image aside: (b)
#          always lands between the GC's two walks, where only the second walk
#          can save the image.
#
# Every GC run is traced with a delay after each rename, so that the gap
# between the GC moving an image aside and its second walk is far longer than
# a start's step (b). That keeps the test about the window the second walk
# covers; the window after the second walk (docs/gc-safety.md, "The remaining
# window") cannot be closed by the GC and is out of scope here.
#
# After every start, once the GC finished two more runs, the image behind
# every overlay written so far and every image a fresh start built must still
# exist. A start that saw its image missing at (a) and gave up is a clean
# failure, not a violation. Pre-seeded aged orphans must still be reaped.
#
# The same scenario then runs with the grace, and with the second walk,
# switched off (BOXLITE_GC_TEST_NO_GRACE, BOXLITE_GC_TEST_NO_RECHECK; honoured
# only by -Dtest-hooks=true builds): the test must catch each of them.
set -uo pipefail

. "$(dirname "$0")/tap.sh"

GC="${BOXLITE_GC:?}"
require_rename_delay

GRACE=2            # seconds: --grace of every run
RENAME_DELAY_US=500000
FRESH_SETUP=0.3    # seconds between a fresh start renaming its image in and writing its overlay
ROUNDS=5           # one fresh and one reuse start per round
N_ORPHANS=4
RUNS_TIMEOUT=60    # seconds to wait for the GC loop to finish two runs

T="$(mktemp -d /tmp/boxlite-gc-race.XXXXXX)"
# Only the command line configures the GC here, not the host's /etc/boxlite.
export BOXLITE_CONF_DIR="$T/etc"
gc_pid=""
cleanup() {
        if [ -n "$gc_pid" ]; then
                touch "$S/stop" 2>/dev/null
                wait "$gc_pid" 2>/dev/null
        fi
        rm -rf "$T"
}
trap cleanup EXIT

# ------------------------------------------------- helpers

# newhome NAME: a home with aged orphans and aged cached images, each cached
# image pinned by one box.
newhome() {
        H="$T/$1"
        S="$T/$1.state"
        DI="$H/images/disk-images"
        mkdir -p "$DI" "$H/boxes" "$H/bases" "$H/tmp" "$S"
        : >"$S/ledger"
        : >"$S/fresh"
        : >"$S/violations"
        : >"$S/clean"
        : >"$S/raced"
        echo 0 >"$S/runs"
        for i in $(seq 1 "$N_ORPHANS"); do
                head -c 65536 /dev/urandom >"$DI/sha256-orphan-$i.ext4"
        done
        for j in $(seq 1 "$ROUNDS"); do
                head -c 65536 /dev/urandom >"$DI/sha256-cached-$j.ext4"
                mkdir -p "$H/boxes/keep-$j/disks"
                qimg -f qcow2 -b "$DI/sha256-cached-$j.ext4" -F raw "$H/boxes/keep-$j/disks/disk.qcow2"
                echo "$H/boxes/keep-$j/disks/disk.qcow2 $DI/sha256-cached-$j.ext4" >>"$S/ledger"
        done
        touch -d '1 day ago' "$DI"/*.ext4
        # Grace looks at the newest of mtime, ctime and birth time; only waiting ages the last two.
        sleep $((GRACE + 1))
}

# gc_loop [VAR=VALUE...]: runs the GC until $S/stop exists; counts finished runs in $S/runs.
gc_loop() {
        local n=0
        while [ ! -e "$S/stop" ]; do
                n=$((n + 1))
                env "$@" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
                        strace -qq -f -o /dev/null -e trace=renameat2 \
                        -e inject=renameat2:delay_exit=$RENAME_DELAY_US \
                        "$GC" --home "$H" --json --grace "${GRACE}s" >"$S/gc-$n.json" 2>"$S/gc-$n.err"
                echo "$n $?" >>"$S/rc"
                echo "$n" >"$S/runs.new" && mv "$S/runs.new" "$S/runs"
        done
}

runs() {
        cat "$S/runs"
}

# nap SECONDS: sleeps without starting a process (a read that times out on a
# pipe nobody writes to).
exec {nap_fd}<> <(:)
nap() {
        read -r -t "$1" -u "$nap_fd" _ || :
}

# wait_runs N: until the GC loop finished N more runs (the run in flight may
# predate the caller's last step).
wait_runs() {
        local target=$(($(runs) + $1)) deadline=$((SECONDS + RUNS_TIMEOUT))
        while [ "$(runs)" -lt "$target" ]; do
                if [ $SECONDS -ge "$deadline" ]; then
                        violation timeout "the GC loop did not finish $1 run(s) in ${RUNS_TIMEOUT}s"
                        return 1
                fi
                nap 0.02
        done
}

# gone PATH: the image is deleted: missing under its name and its aside name,
# also after two more GC runs.
gone() {
        local aside
        aside="$(dirname "$1")/.boxlite-gc-$(basename "$1")"
        [ -e "$1" ] || [ -e "$aside" ] && return 1
        wait_runs 2
        [ ! -e "$1" ] && [ ! -e "$aside" ]
}

violation() {
        echo "$1: $2" >>"$S/violations"
}

violations() {
        grep -c "^$1:" "$S/violations"
}

# verify: every image an overlay names, and every image a fresh start built, still exists.
verify() {
        local overlay backing img
        wait_runs 2 || return
        while read -r overlay backing; do
                if gone "$backing"; then
                        case "$overlay" in
                        */boxes/reuse-*) violation reuse "'$backing' deleted although '$overlay' names it" ;;
                        *) violation pinned "'$backing' deleted although '$overlay' names it" ;;
                        esac
                fi
        done <"$S/ledger"
        while read -r img; do
                gone "$DI/$img" && violation fresh "'$img' deleted while fresh"
        done <"$S/fresh"
}

fresh_start() {
        local i="$1" img="sha256-fresh-$1.ext4" disks="$H/boxes/fresh-$1/disks"

        head -c 65536 /dev/urandom >"$H/tmp/build-$i"
        mv "$H/tmp/build-$i" "$DI/$img"
        echo "$img" >>"$S/fresh"
        sleep "$FRESH_SETUP"
        mkdir -p "$disks"
        if qimg -f qcow2 -b "$DI/$img" -F raw "$disks/disk.qcow2" 2>"$S/qemu-img.err"; then
                echo "$disks/disk.qcow2 $DI/$img" >>"$S/ledger"
        else
                violation fresh "the start of fresh-$i failed, its image gone: $(head -1 "$S/qemu-img.err")"
        fi
}

reuse_start() {
        local j="$1" img="$DI/sha256-cached-$1.ext4" disks="$H/boxes/reuse-$1/disks" k

        # The overlay is made out of sight (tmp/ is not walked), so that (b) is a single rename.
        mkdir -p "$disks"
        qimg -u -f qcow2 -b "$img" -F raw "$H/tmp/reuse-$j.qcow2" 1M

        # (a) The start checks that the cached image exists, and gives up cleanly if not.
        if [ ! -e "$img" ]; then
                echo "reuse-$j: image missing at the check, start not attempted" >>"$S/clean"
                return
        fi

        # Meanwhile the last old box using the image is removed: it is an aged orphan now.
        rm -rf "$H/boxes/keep-$j"
        grep -v "/boxes/keep-$j/" "$S/ledger" >"$S/ledger.new"
        mv "$S/ledger.new" "$S/ledger"

        # Held until the GC moved the image aside (bounded), so (b) falls between the GC's two walks.
        for k in $(seq 1 2000); do
                if [ ! -e "$img" ]; then
                        echo "reuse-$j" >>"$S/raced"
                        break
                fi
                nap 0.005
        done

        # (b) The overlay, naming the image, appears.
        mv "$H/tmp/reuse-$j.qcow2" "$disks/disk.qcow2"
        echo "$disks/disk.qcow2 $img" >>"$S/ledger"
}

# scenario NAME STOP_AT_FIRST [VAR=VALUE...]: the starter against the GC loop, in a new home.
scenario() {
        local name="$1" stop_early="$2"
        shift 2
        newhome "$name"
        gc_loop "$@" &
        gc_pid=$!
        starts=0
        for round in $(seq 1 "$ROUNDS"); do
                fresh_start "$round"
                starts=$((starts + 1))
                verify
                [ "$stop_early" = yes ] && [ -s "$S/violations" ] && break
                reuse_start "$round"
                starts=$((starts + 1))
                verify
                [ "$stop_early" = yes ] && [ -s "$S/violations" ] && break
        done
}

# end_scenario: stops the GC loop after the run in flight.
end_scenario() {
        touch "$S/stop"
        wait "$gc_pid"
        gc_pid=""
}

# ------------------------------------------------- the test hooks are compiled in?
newhome_probe() {
        local P="$T/probe"
        mkdir -p "$P/images/disk-images"
        head -c 4096 /dev/urandom >"$P/images/disk-images/sha256-new.ext4"
        BOXLITE_GC_TEST_NO_GRACE=1 "$GC" --home "$P" --json --dry-run 2>/dev/null |
                jq -e '.reclaimed_count == 1' >/dev/null
}
hooks=no
newhome_probe && hooks=yes

# ------------------------------------------------- the real GC
t0=$SECONDS
scenario normal no
# Let the GC finish runs with no start in flight: the aged orphans go in the first clean one.
for _ in 1 2 3 4 5 6 7 8 9 10; do
        ls "$DI"/sha256-orphan-*.ext4 >/dev/null 2>&1 || break
        wait_runs 1
done
end_scenario
n_runs=$(runs)
diag "$n_runs GC runs ($(awk '$2 == 1' "$S/rc" | wc -l) failed closed), $(wc -l <"$S/ledger") overlays," \
        "$((SECONDS - t0))s"

check "no fresh image deleted ($ROUNDS fresh starts)" test "$(violations fresh)" -eq 0
check "no pinned image deleted (every overlay checked after every start)" test "$(violations pinned)" -eq 0
check "no reused image deleted under a written overlay ($ROUNDS reuse starts)" \
        test "$(violations reuse)" -eq 0
check "the GC loop kept up" test "$(violations timeout)" -eq 0
[ -s "$S/violations" ] && diag "$(cat "$S/violations")"
check "every reuse start raced the GC: checked, then written after the GC moved its image aside" \
        test "$(wc -l <"$S/raced")" -eq "$ROUNDS"
check "no reuse start had to give up (its image was pinned at the check)" test ! -s "$S/clean"
put_back=$(cat "$S"/gc-*.json | jq -s '[.[].put_back_count] | add')
check "the second walk put the raced images back (put_back_count $put_back)" \
        test "$put_back" -ge "$ROUNDS"
check "the pre-seeded aged orphans were reaped" bash -c "! ls '$DI'/sha256-orphan-*.ext4 >/dev/null 2>&1"
bad_rc=$(awk '$2 != 0 && $2 != 1' "$S/rc" | wc -l)
check "every GC run exited 0 or 1 (fail closed while a start was half done)" test "$bad_rc" -eq 0
check "no sanitizer report from any GC run" bash -c "! grep -l 'Sanitizer\|runtime error' '$S'/gc-*.err"
check "the GC ran at least once per start" test "$n_runs" -ge $((2 * ROUNDS))

# ------------------------------------------------- mutants: the test must catch each
if [ $hooks = yes ]; then
        scenario no-grace yes BOXLITE_GC_TEST_NO_GRACE=1
        end_scenario
        diag "no grace, caught after $starts start(s): $(head -3 "$S/violations")"
        check "without the grace, the test catches a fresh image deleted" test "$(violations fresh)" -ge 1

        scenario no-recheck yes BOXLITE_GC_TEST_NO_RECHECK=1
        end_scenario
        diag "no recheck, caught after $starts start(s): $(head -3 "$S/violations")"
        check "without the second walk, the test catches a reused image deleted under its overlay" \
                test "$(violations reuse)" -ge 1
else
        why="test hooks not compiled in (-Dtest-hooks=true)"
        ok "# SKIP without the grace, the test catches a fresh image deleted: $why"
        ok "# SKIP without the second walk, the test catches a reused image deleted: $why"
fi
diag "total ${SECONDS}s"

tap_done
