#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The walk under churn, made deterministic: the walk's test hook
# (BOXLITE_GC_TEST_CHURN, honoured only by -Dtest-hooks=true builds; see
# helpers/walk/walk-hooks.c) renames, exchanges or replaces a box directory at a
# chosen point of the first round or of a re-walk, and each case asserts the
# exact outcome: how many rounds the walk took, how many entries it walked
# again, which images it pins, and that a deleting run takes the orphan only.
set -uo pipefail

. "$(dirname "$0")/tap.sh"

GC="${BOXLITE_GC:?}"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed (apt-get install qemu-utils)"
command -v jq >/dev/null || skip_all "jq not installed"

T="$(mktemp -d /tmp/boxlite-gc-churn.XXXXXX)"
trap 'rm -rf "$T"' EXIT

# mkhome NAME: boxes a b c d, each on its own image; an image e for a replacement directory 'spare'
# (outside boxes/), an orphan; images aged past the grace.
mkhome() {
        local H="$T/$1" DI="$T/$1/images/disk-images"
        mkdir -p "$DI" "$H/boxes" "$H/bases" "$H/spare/disks"
        for i in a b c d e orphan; do head -c 65536 /dev/urandom >"$DI/sha256-$i.ext4"; done
        for i in a b c d; do
                mkdir -p "$H/boxes/$i/disks"
                qemu-img create -q -f qcow2 -b "$DI/sha256-$i.ext4" -F raw "$H/boxes/$i/disks/disk.qcow2" 1M
        done
        qemu-img create -q -f qcow2 -b "$DI/sha256-e.ext4" -F raw "$H/spare/disks/disk.qcow2" 1M
        touch -d '1 hour ago' "$DI"/*.ext4
}

cases=(probe rename-ahead rename-behind exchange second-round replace inside never jobs-rename jobs-exchange
       delete-rename delete-never aged-inside)
for c in "${cases[@]}"; do mkhome "$c"; done
# Older than the walk's racy window (2 s): directories below boxes/ are proven by their times.
sleep 2.2

# gc CASE SPEC [ARGS...]: a run of the GC on home CASE with the hooks SPEC; its JSON report in $out,
# its status in $rc, what the hooks did in $T/CASE.hooks.
gc() {
        local c="$1" spec="$2"
        shift 2
        out="$(BOXLITE_GC_TEST_CHURN="$spec" BOXLITE_GC_TEST_NO_TIME_BOUND=1 \
                "$GC" --home "$T/$c" --json --grace 1s "$@" 2>"$T/$c.stderr")"
        rc=$?
        grep '^walk test hook:' "$T/$c.stderr" >"$T/$c.hooks"
}

# reclaimed: the names of the images a run reclaimed (or would), sorted, space-separated.
reclaimed() {
        jq -r '[.reclaimed[].path | split("/") | last] | sort | join(" ")' <<<"$out"
}

# expect DESC ROUNDS REWALKED RECLAIMED: the report of the last run.
expect() {
        local desc="$1" rounds="$2" rewalked="$3" want="$4" got
        got="$(jq -r '"\(.walk_rounds) \(.walk_rewalked)"' <<<"$out") $(reclaimed)"
        if [ "$rc" -eq 0 ] && [ "$got" = "$rounds $rewalked $want" ]; then
                ok "$desc"
        else
                not_ok "$desc"
                diag "rc=$rc, rounds rewalked reclaimed: '$got', wanted '$rounds $rewalked $want'"
                diag "$(cat "$T/$CASE.hooks")"
                diag "$(jq -c '.errors' <<<"$out" 2>/dev/null | head -c 1500)"
        fi
}

# dry CASE SPEC DESC ROUNDS REWALKED RECLAIMED [ARGS...]: a dry run on CASE with SPEC, and its outcome.
dry() {
        CASE="$1"
        gc "$1" "$2" --dry-run "${@:7}"
        expect "$3" "$4" "$5" "$6"
}

# hooked CASE LINES: the hooks of the last run on CASE acted exactly LINES times, all of them done.
hooked() {
        [ "$(grep -c ': done$' "$T/$1.hooks")" -eq "$2" ] && [ "$(wc -l <"$T/$1.hooks")" -eq "$2" ]
}

CASE=probe
gc probe "1,before=a,rename,boxes/a,boxes/a2" --dry-run
[ -s "$T/probe.hooks" ] || skip_all "the walk's test hooks are not compiled in (-Dtest-hooks=true)"

# A box renamed away before its walk: its name vanished, the unit changed; boxes/ changed too, so
# round 2 lists it again and walks the new name (and nothing else).
CASE=rename-ahead
gc "$CASE" "1,before=a,rename,boxes/a,boxes/a2" --dry-run
expect "a box renamed before it is walked: round 2 walks its new name only, its image stays pinned" \
        2 1 "sha256-e.ext4 sha256-orphan.ext4"
check "... the hook acted once" hooked "$CASE" 1

# A box renamed after its walk: boxes/ changed; the old name leaves the view, the new one is walked.
dry rename-behind "1,after=b,rename,boxes/b,boxes/zz-b" "a box renamed after it was walked: round 2 walks its new name only" \
        2 1 "sha256-e.ext4 sha256-orphan.ext4"

# Two boxes exchanged (renameat2(RENAME_EXCHANGE)) before the first is walked: both names stay, both
# hold the other inode: the listing's inodes catch it, both are walked again.
dry exchange "1,before=b,exchange,boxes/b,boxes/c" "two boxes exchanged during the walk: both walked again, both images pinned" \
        2 2 "sha256-e.ext4 sha256-orphan.ext4"

# A rename during the re-walk itself: round 2 sees it as round 1 did, round 3 settles.
dry second-round "1,before=a,rename,boxes/a,boxes/a1;2,before=a1,rename,boxes/a1,boxes/a2" "a box renamed again during the re-walk: a third round walks its newest name" \
        3 2 "sha256-e.ext4 sha256-orphan.ext4"
check "... both hooks acted" hooked "$CASE" 2

# A box directory replaced by another one under the same name (the old one moved out of boxes/): the
# new inode under a known name is a new unit; the pin the old one gave stays (over-pinning is safe).
dry replace "1,after=d,exchange,boxes/d,spare" "a box directory replaced after its walk: the new directory is walked, its image pinned" \
        2 1 "sha256-orphan.ext4"

# A change inside a box (an overlay renamed in its disks/) before its walk, boxes/ untouched: that
# box alone is walked again, the listing of boxes/ is not read again.
dry inside "1,before=c,rename,boxes/c/disks/disk.qcow2,boxes/c/disks/disk2.qcow2" "an overlay renamed inside a box: that box alone is walked again" \
        2 1 "sha256-e.ext4 sha256-orphan.ext4"

# The same, a box directory tree aged past the racy window, with a subdirectory renamed: its times
# prove nothing any more, the box is walked again with every directory stat'ed first.
CASE=aged-inside
mkdir -p "$T/$CASE/boxes/b/snapshots/s1"
sleep 2.2
gc "$CASE" "1,before=b,rename,boxes/b/snapshots/s1,boxes/b/snapshots/s2" --dry-run
expect "a snapshot directory renamed inside an aged box: that box alone is walked again" 2 1 \
        "sha256-e.ext4 sha256-orphan.ext4"

# Workers: the same outcomes.
dry jobs-rename "1,before=a,rename,boxes/a,boxes/a2" "with three workers, a box renamed before its walk: the same rounds and pins" \
        2 1 "sha256-e.ext4 sha256-orphan.ext4" --jobs 3
dry jobs-exchange "1,before=b,exchange,boxes/b,boxes/c" "with three workers, two boxes exchanged: the same rounds and pins" \
        2 2 "sha256-e.ext4 sha256-orphan.ext4" --jobs 3

# A torn listing: boxes/ is listed in several getdents64() calls (3,000 entries); two boxes, one in the
# first call's part of the listing and one far behind it, are exchanged just before the first is
# walked. The first opens the other's directory (claimed under the inode the listing named), and the
# second's entry, read after the exchange, names that same inode: it finds it claimed. The first is
# walked again (its inode was not the listed one); the second depends on it and must be too, or its
# directory is never walked and its image looks unreferenced.
CASE=torn
H="$T/$CASE" DI="$T/$CASE/images/disk-images"
mkhome "$CASE"
mkdir -p "$T/proto/disks"
qemu-img create -q -f qcow2 -b "$DI/sha256-e.ext4" -F raw "$T/proto/disks/disk.qcow2" 1M
for i in $(seq -w 1 3000); do
        mkdir -p "$H/boxes/fill-$i/disks"
        cp "$T/proto/disks/disk.qcow2" "$H/boxes/fill-$i/disks/"
done
mapfile -t order < <(python3 -c 'import os, sys; print("\n".join(e.name for e in os.scandir(sys.argv[1])))' "$H/boxes")
first="${order[5]}" second="${order[2900]}"
for x in first second; do
        head -c 65536 /dev/urandom >"$DI/sha256-$x.ext4"
        qemu-img create -q -f qcow2 -b "$DI/sha256-$x.ext4" -F raw "$H/boxes/${!x}/disks/disk.qcow2" 1M
done
touch -d '1 hour ago' "$DI"/*.ext4
sleep 2.2
gc "$CASE" "1,before=$first,exchange,boxes/$first,boxes/$second" --dry-run --jobs 1
check "a torn listing: both exchanged boxes' images stay pinned" \
        bash -c "[ $rc -eq 0 ] && jq -e '[.reclaimed[].path | select(test(\"sha256-(first|second)\"))] | length == 0' <<<'$out'"
check "... the hook acted once" hooked "$CASE" 1

# A home that changes in every round (boxes/ at each round's end) never settles: the run fails
# closed after WALK_MAX_ROUNDS rounds, keeps everything, and names the directory that kept changing.
CASE=never
gc "$CASE" "*,verify,toggle,boxes/d,boxes/d2" --dry-run
check "a home that changes every round fails closed (status 1)" test "$rc" -eq 1
check "... after 64 rounds, nothing reclaimed" \
        jq -e '.fail_closed and .reclaimed_count == 0 and .walk_rounds == 64' <<<"$out"
check "... and the error names boxes/ as what kept changing" \
        jq -e --arg d "$T/$CASE/boxes" '.errors[] | select(.error | test("never held still") and contains("directory '"'"'" + $d + "'"'"' changed"))' <<<"$out"

# Deleting runs: the first walk settles in two rounds, the orphan goes, every pinned image stays.
CASE=delete-rename
gc "$CASE" "1,before=a,rename,boxes/a,boxes/a2"
expect "a deleting run with a box renamed during its walk reclaims the orphan and the unused image only" \
        2 1 "sha256-e.ext4 sha256-orphan.ext4"
check "... and every box's image is still there" \
        bash -c "cd '$T/$CASE/images/disk-images' && ls sha256-a.ext4 sha256-b.ext4 sha256-c.ext4 sha256-d.ext4"
CASE=delete-never
gc "$CASE" "*,verify,toggle,boxes/d,boxes/d2"
check "a deleting run on a home that never settles deletes nothing" \
        bash -c "[ $rc -eq 1 ] && [ \$(ls '$T/$CASE/images/disk-images' | wc -l) -eq 6 ]"

tap_done
