#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# boxlite-gc on real homes: ext4-sized image files, qcow2 overlays made by
# qemu-img, real renames and unlinks. Ageing is real: images are made, the
# test waits, and the GC runs with a grace shorter than that wait.
set -uo pipefail

. "$(dirname "$0")/tap.sh"

GC="${BOXLITE_GC:?}"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed (apt-get install qemu-utils)"
command -v jq >/dev/null || skip_all "jq not installed"

T="$(mktemp -d /tmp/boxlite-gc.XXXXXX)"
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT

# newhome NAME: a home with an idle box (no overlay): a boxes/ without a box is not collected.
newhome() {
        H="$T/$1"
        mkdir -p "$H/images/disk-images" "$H/boxes/idle" "$H/bases" "$H/tmp"
        DI="$H/images/disk-images"
}

# image NAME [SIZE]: a disk-image with real data blocks.
image() {
        head -c "${2:-65536}" /dev/urandom >"$DI/$1"
}

# box ID IMAGE [DISK]: a box whose overlay backs onto a disk-image.
box() {
        mkdir -p "$H/boxes/$1/disks"
        qimg -f qcow2 -b "$DI/$2" -F raw "$H/boxes/$1/disks/${3:-disk.qcow2}"
}

gcj() {
        "$GC" --home "$H" --json "$@" 2>"$T/stderr"
}

reclaimed_names() {
        jq -r '.reclaimed[].path' | xargs -rn1 basename | sort | tr '\n' ' '
}

# ------------------------------------------------- backed / aged orphan / fresh orphan
newhome basic
image sha256-backed.ext4
image sha256-aged.ext4
box b1 sha256-backed.ext4
sleep 2.2
image sha256-fresh.ext4
out="$(gcj --grace 2s)"
check "only the aged orphan is reclaimed" test "$(reclaimed_names <<<"$out")" = "sha256-aged.ext4 "
check "the aged orphan is gone, the others stay" \
        test ! -e "$DI/sha256-aged.ext4" -a -e "$DI/sha256-backed.ext4" -a -e "$DI/sha256-fresh.ext4"
check "kept reasons: pinned and grace" \
        test "$(jq -r '[.kept[] | .reason] | sort | join(",")' <<<"$out")" = "grace,pinned"
check "the default grace (10min) keeps a just-aged orphan" bash -c "
        head -c 4096 /dev/urandom >'$DI/sha256-new.ext4'; sleep 1.1
        '$GC' --home '$H' --json -n 2>/dev/null | jq -e '.kept[] | select(.path | endswith(\"sha256-new.ext4\")) | .reason == \"grace\"' >/dev/null"

# ------------------------------------------------- at scale, byte-exact, idempotent
newhome scale
for i in $(seq 1 150); do image "sha256-aged-$i.ext4" $((4096 * (i % 7 + 1))); done
for i in $(seq 1 20); do image "sha256-pinned-$i.ext4" 8192; done
for i in $(seq 1 20); do box "box$i" "sha256-pinned-$i.ext4"; done
image not-an-image.raw 12345
expected_bytes=$(($(for i in $(seq 1 150); do stat -c %s "$DI/sha256-aged-$i.ext4"; done | paste -sd+)))
expected_alloc=$(($(for i in $(seq 1 150); do stat -c '%b*%B' "$DI/sha256-aged-$i.ext4"; done | paste -sd+)))
sleep 2.2
# The fresh ones are dated ahead: in grace however long the runs below take.
for i in $(seq 1 40); do image "sha256-fresh-$i.ext4" 4096; touch -d '+1 hour' "$DI/sha256-fresh-$i.ext4"; done
dry="$(gcj --dry-run --grace 2s)"
real="$(gcj --grace 2s)"
check "scale: exactly the 150 aged orphans reclaimed" test "$(jq .reclaimed_count <<<"$real")" -eq 150
check "scale: reclaimed_bytes is the exact sum of their sizes ($expected_bytes)" \
        test "$(jq .reclaimed_bytes <<<"$real")" -eq "$expected_bytes"
check "scale: allocated bytes are st_blocks*512 ($expected_alloc)" \
        test "$(jq .reclaimed_allocated_bytes <<<"$real")" -eq "$expected_alloc"
check "scale: --dry-run reported exactly what the real run reclaimed" \
        test "$(jq -c '[.reclaimed[] | {path, bytes, allocated_bytes}]' <<<"$dry")" = \
        "$(jq -c '[.reclaimed[] | {path, bytes, allocated_bytes}]' <<<"$real")"
check "scale: 20 pinned + 40 fresh + 1 non-ext4 kept" \
        test "$(jq -c '[.kept[].reason] | group_by(.) | map({(.[0]): length}) | add' <<<"$real")" = \
        '{"grace":40,"not-ext4":1,"pinned":20}'
check "scale: the non-ext4 file is excluded from the byte accounting" \
        test "$(jq '.kept[] | select(.reason == "not-ext4") | has("bytes")' <<<"$real")" = false
second="$(gcj --grace 2s)"
check "scale: a second pass reclaims nothing" test "$(jq .reclaimed_count <<<"$second")" -eq 0
check "scale: every pinned and fresh image survived" \
        test "$(ls "$DI" | grep -c 'pinned\|fresh')" -eq 60

# ------------------------------------------------- chains through bases, snapshots, relative names, symlinked home
newhome chains
for n in via-base via-snapshot relative guest other-disk orphan; do image "sha256-$n.ext4"; done
qimg -f qcow2 -b "$DI/sha256-via-base.ext4" -F raw "$H/bases/clone-base.qcow2"
mkdir -p "$H/boxes/c1/disks" "$H/boxes/c2/snapshots/snap1" "$H/boxes/c3/disks" "$H/boxes/c4/state"
qimg -f qcow2 -b ../../../bases/clone-base.qcow2 -F qcow2 "$H/boxes/c1/disks/disk.qcow2"
qimg -f qcow2 -b "$DI/sha256-via-snapshot.ext4" -F raw "$H/boxes/c2/snapshots/snap1/disk.qcow2"
qimg -f qcow2 -b ../../../images/disk-images/../disk-images/sha256-relative.ext4 -F raw "$H/boxes/c3/disks/disk.qcow2"
ln -s "$H" "$T/chains-link"
qimg -f qcow2 -b "$T/chains-link/images/disk-images/sha256-guest.ext4" -F raw "$H/boxes/c3/disks/guest-rootfs.qcow2"
qimg -f qcow2 -b "$DI/sha256-other-disk.ext4" -F raw "$H/boxes/c4/state/extra-disk"
sleep 2.2
out="$(gcj --grace 2s)"
check "chains through bases/, snapshots, relative and symlinked names all pin" \
        test "$(reclaimed_names <<<"$out")" = "sha256-orphan.ext4 "
check "an overlay under another name in a box is found by its magic" test -e "$DI/sha256-other-disk.ext4"
image sha256-orphan2.ext4; touch -d '1 hour ago' "$DI/sha256-orphan2.ext4"; sleep 2.2
out="$("$GC" --home "$T/chains-link" --json --grace 2s 2>/dev/null)"
check "a symlinked home works the same" test "$(reclaimed_names <<<"$out")" = "sha256-orphan2.ext4 "

# ------------------------------------------------- an image cache reached through a symlink
newhome linked
mkdir -p "$T/elsewhere"
head -c 4096 /dev/urandom >"$T/elsewhere/precious.ext4"
rmdir "$DI" && ln -s "$T/elsewhere" "$DI"
sleep 1.1
out="$(gcj --grace 1s)"
rc=$?
check "images/disk-images as a symlink: exit 1, nothing deleted through it, the reason named" \
        bash -c "[ $rc -eq 1 ] && [ -e '$T/elsewhere/precious.ext4' ] && grep -q 'symbolic link' '$T/stderr'"
rm "$DI" && mkdir -p "$T/elsewhere2/disk-images" && rmdir "$H/images/disk-images" 2>/dev/null
rm -rf "$H/images" && ln -s "$T/elsewhere2" "$H/images"
head -c 4096 /dev/urandom >"$T/elsewhere2/disk-images/precious.ext4"
sleep 1.1
out="$(gcj --grace 1s)"
rc=$?
check "images/ as a symlink: exit 1, nothing deleted" \
        bash -c "[ $rc -eq 1 ] && [ -e '$T/elsewhere2/disk-images/precious.ext4' ]"

# ------------------------------------------------- fail closed
failclosed() {
        local desc="$1" pattern="$2"
        local out rc
        out="$(gcj --grace 1s)"
        rc=$?
        if [ $rc -ne 1 ]; then not_ok "$desc: exit status 1 (got $rc)"; diag "$(cat "$T/stderr")"; return; fi
        if [ "$(jq .reclaimed_count <<<"$out")" -ne 0 ] || [ ! -e "$DI/sha256-victim.ext4" ]; then
                not_ok "$desc: nothing reclaimed"; return
        fi
        if ! jq -e '.kept[] | select(.path | endswith("sha256-victim.ext4")) | .reason == "unsafe" or .reason == "pinned"' <<<"$out" >/dev/null; then
                not_ok "$desc: the orphan is kept (unsafe, or pinned by name)"; return
        fi
        if ! grep -qiE "$pattern" "$T/stderr" || ! jq -e ".errors | length > 0" <<<"$out" >/dev/null; then
                not_ok "$desc: the error names the overlay and the reason"; diag "$(cat "$T/stderr")"; return
        fi
        ok "$desc"
}

fc_home() {
        newhome "fc-$1"
        image sha256-victim.ext4
        image sha256-pinned.ext4
        box ok sha256-pinned.ext4
        mkdir -p "$H/boxes/bad/disks"
        sleep 1.1
}

fc_home corrupt
qimg -f qcow2 -b "$DI/sha256-victim.ext4" -F raw "$H/boxes/bad/disks/disk.qcow2"
patch_be32 "$H/boxes/bad/disks/disk.qcow2" 4 9
failclosed "corrupt overlay keeps every image" "boxes/bad/disks/disk.qcow2.*version 9"

fc_home truncated
head -c 60 /dev/zero >"$H/boxes/bad/disks/disk.qcow2"; printf 'QFI\xfb\0\0\0\3' | dd of="$H/boxes/bad/disks/disk.qcow2" conv=notrunc status=none
failclosed "truncated overlay keeps every image" "disk.qcow2.*truncated"

fc_home missing
qimg -f qcow2 -u -b "$H/bases/gone.qcow2" -F qcow2 "$H/boxes/bad/disks/disk.qcow2" 1M
failclosed "overlay naming a missing qcow2 layer keeps every image" "gone.qcow2.*does not exist"

fc_home loop
qimg -f qcow2 -u -b disk.qcow2 -F qcow2 "$H/boxes/bad/disks/disk.qcow2" 1M
failclosed "looping overlay keeps every image" "loop"

fc_home json
qimg -f qcow2 -u -b "json:{\"file\":{\"driver\":\"file\",\"filename\":\"$DI/sha256-victim.ext4\"}}" -F raw \
        "$H/boxes/bad/disks/disk.qcow2" 1M
failclosed "json: backing keeps every image" "not a local file"
out="$(gcj --grace 1s)"
check "json: name containing a candidate's path pins that candidate" \
        jq -e '.kept[] | select(.path | endswith("sha256-victim.ext4")) | .detail | test("json")' <<<"$out"

fc_home fifo
mkfifo "$H/boxes/bad/disks/disk.qcow2"
failclosed "a FIFO overlay keeps every image (and does not block)" "not a regular file"

# (LeakSanitizer cannot run under ptrace: traced runs turn it off; only sanitizer builds read ASAN_OPTIONS.)
if command -v strace >/dev/null && strace -qq -o /dev/null -e trace=close -e inject=close:retval=0 true 2>/dev/null; then
        fc_home eacces
        qimg -f qcow2 -b "$DI/sha256-victim.ext4" -F raw "$H/boxes/bad/disks/disk.qcow2"
        out="$(ASAN_OPTIONS=detect_leaks=0 strace -qq -o /dev/null -f -P "$H/boxes/bad/disks" -e trace=openat \
                -e inject=openat:error=EACCES "$GC" --home "$H" --json --grace 1s 2>"$T/stderr")"
        rc=$?
        check "injected EACCES opening an overlay: exit 1, nothing reclaimed, reason reported" \
                bash -c "[ $rc -eq 1 ] && [ -e '$DI/sha256-victim.ext4' ] && grep -q 'Permission denied' '$T/stderr'"

        fc_home eio
        qimg -f qcow2 -b "$DI/sha256-victim.ext4" -F raw "$H/boxes/bad/disks/disk.qcow2"
        out="$(ASAN_OPTIONS=detect_leaks=0 strace -qq -o /dev/null -f -P "$H/boxes/bad/disks/disk.qcow2" -e trace=pread64,read \
                -e inject=pread64,read:error=EIO \
                "$GC" --home "$H" --json --grace 1s 2>"$T/stderr")"
        rc=$?
        check "injected EIO reading a header: exit 1, nothing reclaimed" \
                bash -c "[ $rc -eq 1 ] && [ -e '$DI/sha256-victim.ext4' ] && grep -qi 'input/output error' '$T/stderr'"

        fc_home emptylist
        mkdir -p "$H/boxes/b2/disks" "$H/boxes/b3/disks"
        # getdents64 on boxes/ comes back empty (no entries) while the link count says 5 subdirectories.
        out="$(ASAN_OPTIONS=detect_leaks=0 strace -qq -o /dev/null -f -P "$H/boxes" -e trace=getdents64 -e inject=getdents64:retval=0 \
                "$GC" --home "$H" --json --grace 1s 2>"$T/stderr")"
        rc=$?
        check "a boxes/ listing that comes back empty while its link count says otherwise keeps everything" \
                bash -c "[ $rc -eq 1 ] && [ -e '$DI/sha256-victim.ext4' ] && grep -q 'link count' '$T/stderr'"

        newhome unlinkfail
        image sha256-a.ext4; image sha256-b.ext4; sleep 1.1
        out="$(ASAN_OPTIONS=detect_leaks=0 strace -qq -o /dev/null -f -e trace=unlinkat -e inject=unlinkat:error=EBUSY:when=1 \
                "$GC" --home "$H" --json --grace 1s 2>"$T/stderr")"
        rc=$?
        check "a failing unlinkat is reported, the image is put back, exit 1" \
                bash -c "[ $rc -eq 1 ] && [ \$(ls '$DI' | wc -l) -eq 1 ] && ! ls -A '$DI' | grep -q '^\\.' &&
                         grep -q 'Device or resource busy' '$T/stderr'"
else
        not_ok "strace with fault injection is not available (apt-get install strace)"
fi

# ------------------------------------------------- candidates: hidden, symlinks, directories, hard links
newhome candidates
image sha256-real.ext4
image .hidden.ext4
ln -s sha256-real.ext4 "$DI/sha256-link.ext4"
mkdir "$DI/sha256-dir.ext4"
image sha256-hl.ext4 && ln "$DI/sha256-hl.ext4" "$H/tmp/hardlink"
image sha256-hl-pinned.ext4 && ln "$DI/sha256-hl-pinned.ext4" "$H/bases/pinned-alias.ext4"
qimg -f qcow2 -b "$H/bases/pinned-alias.ext4" -F raw "$H/bases/b.qcow2"
sleep 1.1
out="$(gcj --grace 1s)"
check "hidden files, symlinks and directories are never candidates" \
        test -e "$DI/.hidden.ext4" -a -L "$DI/sha256-link.ext4" -a -d "$DI/sha256-dir.ext4"
check "an unreferenced hard-linked image is reclaimed and frees 0 bytes" \
        jq -e '.reclaimed[] | select(.path | endswith("sha256-hl.ext4")) | .bytes == 0 and .nlink == 2' <<<"$out"
check "a hard-linked image whose other name is referenced is pinned" test -e "$DI/sha256-hl-pinned.ext4"

# ------------------------------------------------- timestamps
newhome clock
image sha256-future.ext4 && touch -d 'tomorrow' "$DI/sha256-future.ext4"
image sha256-restored.ext4 && touch -d '2 days ago' "$DI/sha256-restored.ext4"
out="$(gcj)"
check "an image dated in the future is kept" test -e "$DI/sha256-future.ext4"
check "a copy with an old mtime but a new ctime stays in grace" test -e "$DI/sha256-restored.ext4"
if command -v faketime >/dev/null; then
        # (ASan builds refuse a preload ahead of their runtime unless told the order does not matter.)
        out="$(ASAN_OPTIONS=verify_asan_link_order=0 faketime -f '+2h' "$GC" --home "$H" --json 2>"$T/stderr")"
        check "a GC whose clock runs 2h ahead still keeps a fresh image" test "$(jq .reclaimed_count <<<"$out")" -eq 0
else
        not_ok "faketime not installed"
fi

# ------------------------------------------------- two phases: a crash after moving aside
newhome crash
image sha256-orphan.ext4; image sha256-keep.ext4; box k sha256-keep.ext4; sleep 1.1
BOXLITE_GC_TEST_KILL_AFTER_ASIDE=1 "$GC" --home "$H" --grace 1s >/dev/null 2>&1
rc=$?
check "the test hook killed the run between the phases" test $rc -eq 137
check "after the crash the orphan sits aside under a hidden name" test -e "$DI/.boxlite-gc-sha256-orphan.ext4"
out="$(gcj -n --grace 1s)"
check "a dry run reports the aside file and changes nothing" \
        bash -c "[ -e '$DI/.boxlite-gc-sha256-orphan.ext4' ] && jq -e '.kept[] | select(.detail | test(\"interrupted\"))' <<<'$out' >/dev/null"
box reuse sha256-orphan.ext4 2>/dev/null
check "a box start after the crash finds the image missing (fails cleanly)" test ! -e "$H/boxes/reuse/disks/disk.qcow2"
out="$(gcj --grace 1s)"
check "the next run puts the image back" test -e "$DI/sha256-orphan.ext4" -a "$(jq .restored_count <<<"$out")" -eq 1
check "the put-back image is in grace again (its ctime changed), nothing lost" test "$(jq .reclaimed_count <<<"$out")" -eq 0

# A crash, then a start that rebuilds the image under its name while the old copy sits aside.
newhome rebuilt
image sha256-r.ext4 32768; sleep 1.1
BOXLITE_GC_TEST_KILL_AFTER_ASIDE=1 "$GC" --home "$H" --grace 1s >/dev/null 2>&1
image sha256-r.ext4 8192
out="$(gcj --grace 1s)"
rc=$?
check "a copy aside whose name was rebuilt meanwhile is removed, exit 0" \
        bash -c "[ $rc -eq 0 ] && [ ! -e '$DI/.boxlite-gc-sha256-r.ext4' ] && jq -e '.reclaimed[0].bytes == 32768 and (.reclaimed[0].detail | test(\"superseded\"))' <<<'$out' >/dev/null"
check "the rebuilt image stays (in grace)" test "$(stat -c %s "$DI/sha256-r.ext4")" -eq 8192
sleep 1.1
out="$(gcj --grace 1s)"
check "and once it ages, the rebuilt image can be set aside and reclaimed like any other" \
        bash -c "[ ! -e '$DI/sha256-r.ext4' ] && jq -e '.reclaimed_count == 1' <<<'$out' >/dev/null"

# ------------------------------------------------- concurrent runs exclude each other
# The lock is held until the test lets go (a FIFO), so no outcome depends on how fast the runs are.
newhome lock
image sha256-l.ext4; sleep 1.1
mkfifo "$T/release"
flock "$DI" bash -c "read -r _ <'$T/release'" &
holder=$!
while flock -n "$DI" true && kill -0 $holder 2>/dev/null; do sleep 0.05; done
out="$(gcj -n --grace 1s)"
check "a dry run does not wait for a running collection" jq -e '.reclaimed_count == 1' <<<"$out"
"$GC" --home "$H" --json --grace 1s >"$T/lock-out" 2>"$T/stderr" &
gc=$!
# The real run is waiting when it sleeps between tries of the lock (or has given up).
until grep -q nanosleep "/proc/$gc/wchan" 2>/dev/null || ! kill -0 $gc 2>/dev/null; do sleep 0.05; done
waiting=no
kill -0 $gc 2>/dev/null && [ -e "$DI/sha256-l.ext4" ] && waiting=yes
echo >"$T/release"
wait $holder
wait $gc
rc=$?
check "a real run waits for the running collection, then collects" \
        bash -c "[ $waiting = yes ] && [ $rc -eq 0 ] && jq -e '.reclaimed_count == 1' '$T/lock-out' >/dev/null"

# ------------------------------------------------- --target-free: LRU first
newhome lru
for i in 1 2 3 4; do image "sha256-lru$i.ext4" 1048576; done
touch -a -d '4 days ago' "$DI/sha256-lru3.ext4"; touch -a -d '3 days ago' "$DI/sha256-lru1.ext4"
touch -a -d '2 days ago' "$DI/sha256-lru4.ext4"; touch -a -d '1 days ago' "$DI/sha256-lru2.ext4"
touch -m -d '5 days ago' "$DI"/sha256-lru*.ext4
sleep 1.1
avail=$(($(stat -f -c '%a*%S' "$DI")))
out="$(gcj --grace 1s --target-free $((avail + 1536 * 1024)))"
check "--target-free reclaims least recently used first and stops at the target" \
        test "$(jq -r '[.reclaimed[].path | split("/")[-1]] | join(" ")' <<<"$out")" = "sha256-lru3.ext4 sha256-lru1.ext4"
check "--target-free keeps the rest as target-met" \
        test "$(jq '[.kept[] | select(.reason == "target-met")] | length' <<<"$out")" -eq 2
out="$(gcj --grace 1s --target-free 1K)"
check "--target-free already met reclaims nothing" test "$(jq .reclaimed_count <<<"$out")" -eq 0

# ------------------------------------------------- plan and apply
newhome plan
for i in 1 2 3; do image "sha256-p$i.ext4"; done; sleep 1.1
gcj -n --grace 1s >"$T/plan.json"
head -c 10 /dev/urandom >>"$DI/sha256-p2.ext4"
image sha256-p4.ext4; touch -d '1 day ago' "$DI/sha256-p4.ext4"; sleep 1.1
out="$(gcj --grace 1s --apply-plan "$T/plan.json")"
check "--apply-plan deletes exactly the unchanged planned images" \
        test "$(reclaimed_names <<<"$out")" = "sha256-p1.ext4 sha256-p3.ext4 "
check "--apply-plan keeps a planned image that changed, and one not in the plan" \
        test -e "$DI/sha256-p2.ext4" -a -e "$DI/sha256-p4.ext4"
newhome plan-order
for i in $(seq 1 40); do image "sha256-q$i.ext4"; done; sleep 1.1
gcj -n --grace 1s >"$T/plan.json"
# The plan in reverse, with q7's entry listed a second time before its real one but with a wrong inode:
# the first entry of a name is the one that counts, whatever order the file lists names in.
# (python, not jq: jq rounds nanosecond times to doubles)
python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))
r = p["reclaimed"][::-1]
stale = [dict(e, ino=e["ino"] + 1) for e in r if e["path"].endswith("/sha256-q7.ext4")]
p["reclaimed"] = stale + r
json.dump(p, open(sys.argv[2], "w"))' "$T/plan.json" "$T/plan-rev.json"
out="$(gcj --grace 1s --apply-plan "$T/plan-rev.json")"
check "--apply-plan matches entries in any order of the plan file" test "$(jq .reclaimed_count <<<"$out")" -eq 39
check "--apply-plan: of two entries of one name the first listed decides" \
        bash -c "[ -e '$DI/sha256-q7.ext4' ] && jq -e '[.kept[] | select(.reason == \"not-in-plan\") |
                 .path | endswith(\"/sha256-q7.ext4\")] == [true]' <<<'$out' >/dev/null"
echo '{"oops": 1}' >"$T/bad-plan.json"
"$GC" --home "$H" --apply-plan "$T/bad-plan.json" >/dev/null 2>"$T/stderr"
check "a malformed plan is a usage error naming the file" bash -c "[ $? -eq 2 ] && grep -q bad-plan.json '$T/stderr'"

# ------------------------------------------------- metrics
newhome metrics
image sha256-m.ext4; sleep 1.1
"$GC" --home "$H" --grace 1s --metrics-file "$T/gc.prom" >/dev/null 2>&1
check "metrics: reclaimed files and bytes" \
        bash -c "grep -q '^boxlite_gc_reclaimed_files{home=\"$H\",dry_run=\"0\"} 1$' '$T/gc.prom' &&
                 grep -q '^boxlite_gc_reclaimed_bytes{home=\"$H\",dry_run=\"0\"} 65536$' '$T/gc.prom'"
check "metrics: kept by reason, duration and last success" \
        bash -c "grep -q 'boxlite_gc_kept_files{home=\"$H\",reason=\"pinned\"} 0' '$T/gc.prom' &&
                 grep -q '^boxlite_gc_duration_seconds' '$T/gc.prom' && grep -q '^boxlite_gc_last_success_timestamp_seconds' '$T/gc.prom'"
check "metrics: no temporary file left behind" test "$(ls "$T" | grep -c 'gc.prom')" -eq 1

# ------------------------------------------------- boxlite.conf [GC]
newhome conf
image sha256-c1.ext4; sleep 1.1
mkdir -p "$T/etc/boxlite.conf.d"
printf '[GC]\nGrace=1h\n' >"$T/etc/boxlite.conf"
out="$(BOXLITE_CONF_DIR="$T/etc" "$GC" --home "$H" --json 2>/dev/null)"
check "[GC] Grace= from boxlite.conf keeps an image younger than it" \
        jq -e '.reclaimed_count == 0 and .kept[0].reason == "grace"' <<<"$out"
printf '[GC]\nGrace=1s\nMetricsFile=%s\n' "$T/conf.prom" >"$T/etc/boxlite.conf.d/10-fast.conf"
out="$(BOXLITE_CONF_DIR="$T/etc" "$GC" --home "$H" --json --dry-run 2>/dev/null)"
check "a boxlite.conf.d drop-in overrides it, MetricsFile= is written" \
        bash -c "jq -e '.reclaimed_count == 1' <<<'$out' >/dev/null && [ -s '$T/conf.prom' ]"
out="$(BOXLITE_CONF_DIR="$T/etc" "$GC" --home "$H" --json --dry-run --grace 1h 2>/dev/null)"
check "--grace overrides the files" jq -e '.reclaimed_count == 0' <<<"$out"
printf '[GC]\nGrace=soon\n' >"$T/etc/boxlite.conf.d/20-bad.conf"
BOXLITE_CONF_DIR="$T/etc" "$GC" --home "$H" --dry-run >/dev/null 2>"$T/stderr"
check "a bad [GC] value is a usage error naming file, line and key" \
        bash -c "[ $? -eq 2 ] && grep -q '20-bad.conf:2: invalid value .soon. for Grace= in \[GC\]' '$T/stderr'"
printf '[GC]\nJobs=17\n' >"$T/etc/boxlite.conf.d/20-bad.conf"
BOXLITE_CONF_DIR="$T/etc" "$GC" --home "$H" --dry-run >/dev/null 2>"$T/stderr"
check "Jobs= beyond 16 is a usage error naming file, line and key" \
        bash -c "[ $? -eq 2 ] && grep -q '20-bad.conf:2: invalid value .17. for Jobs= in \[GC\]' '$T/stderr'"
printf '[GC]\nJobs=3\n' >"$T/etc/boxlite.conf.d/20-bad.conf"
mkdir -p "$H/boxes/jobs-a/disks" "$H/boxes/jobs-b/disks"
# (LeakSanitizer's own tracer is a clone too: off here.)
out="$(BOXLITE_CONF_DIR="$T/etc" ASAN_OPTIONS=detect_leaks=0 strace -qq -f -e trace=clone,clone3 -o "$T/clones" \
        "${BOXLITE_GC_BINARY:-$GC}" --home "$H" --json --dry-run 2>/dev/null)"
n3=$(grep -c clone "$T/clones")
printf '[GC]\nJobs=1\n' >"$T/etc/boxlite.conf.d/20-bad.conf"
BOXLITE_CONF_DIR="$T/etc" ASAN_OPTIONS=detect_leaks=0 strace -qq -f -e trace=clone,clone3 -o "$T/clones" \
        "${BOXLITE_GC_BINARY:-$GC}" --home "$H" --json --dry-run >/dev/null 2>&1
n1=$(grep -c clone "$T/clones")
# Each pass starts its workers anew (a fresh home takes an extra pass to prove its directories).
check "Jobs=3 walks boxes/ with two threads beside the main one per pass ($n3 started), Jobs=1 with none ($n1)" \
        bash -c "jq -e '.ok' <<<'$out' >/dev/null && [ $n3 -gt 0 ] && [ \$(($n3 % 2)) -eq 0 ] && [ $n1 -eq 0 ]"
rm -rf "$T/etc"

# ------------------------------------------------- no box at all
# An unmounted boxes/ is an empty directory: a home without a box is not taken for an empty home.
H="$T/nobox"
mkdir -p "$H/images/disk-images" "$H/boxes" "$H/bases"
DI="$H/images/disk-images"
image sha256-nb.ext4; sleep 1.1
out="$("$GC" --home "$H" --json --grace 1s 2>"$T/stderr")"
rc=$?
check "no box under boxes/: nothing reclaimed, fail closed, exit 1 ($rc)" \
        bash -c "[ $rc -eq 1 ] && jq -e '.reclaimed_count == 0 and .fail_closed and .kept[0].reason == \"unsafe\"' <<<'$out' >/dev/null && [ -f '$DI/sha256-nb.ext4' ]"
check "... the error names boxes/ and the way to accept it" \
        bash -c "jq -e '.errors[0].path == \"$H/boxes\"' <<<'$out' >/dev/null && grep -q -- '--allow-no-boxes' '$T/stderr' && grep -q 'AllowNoBoxes=yes' '$T/stderr'"
rm -rf "$H/boxes"
out="$("$GC" --home "$H" --json --grace 1s 2>/dev/null)"
check "no boxes/ at all: kept too" bash -c "jq -e '.fail_closed and .reclaimed_count == 0' <<<'$out' >/dev/null && [ -f '$DI/sha256-nb.ext4' ]"
mkdir "$H/boxes"
out="$("$GC" --home "$H" --json --grace 1s --dry-run --allow-no-boxes 2>/dev/null)"
check "--allow-no-boxes: the dry run would reclaim it" jq -e '.ok and .reclaimed_count == 1' <<<"$out"
mkdir -p "$T/etc"
printf '[GC]\nAllowNoBoxes=yes\n' >"$T/etc/boxlite.conf"
out="$(BOXLITE_CONF_DIR="$T/etc" "$GC" --home "$H" --json --grace 1s 2>/dev/null)"
check "[GC] AllowNoBoxes=yes: reclaimed" \
        bash -c "jq -e '.ok and .reclaimed_count == 1' <<<'$out' >/dev/null && [ ! -e '$DI/sha256-nb.ext4' ]"
rm -rf "$T/etc"
out="$("$GC" --home "$H" --json --grace 1s 2>/dev/null)"
check "a box-less home without any image is no error" jq -e '.ok and .reclaimed_count == 0' <<<"$out"

# ------------------------------------------------- usage
for args in "--bogus" "--grace 10parsecs" "--target-free 12Q" "--target-free 0" "extra" "--apply-plan x --dry-run" \
        "--jobs 0" "--jobs 17" "--jobs two"; do
        # shellcheck disable=SC2086
        "$GC" --home "$H" $args >/dev/null 2>&1
        check "usage error '$args' exits 2" test $? -eq 2
done
check "--help documents every option" bash -c "
        h=\$('$GC' --help); for o in --home --dry-run --json --grace --target-free --metrics-file --apply-plan --jobs --allow-no-boxes --forget-mounts --version; do
                grep -q -- \"\$o\" <<<\"\$h\" || exit 1; done"
check "a missing home is an error" bash -c "! '$GC' --home '$T/nope' >/dev/null 2>&1"

tap_done
