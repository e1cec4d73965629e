#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# boxlite-gc and boxlite-chainwalk --home on homes laid out the way operators
# and the runtime really lay them out: symbolic links to boxes moved to other
# disks, dangling and looping links, sidecars, -r<N> cache keys, lookalike
# hidden files. Real qcow2 overlays from qemu-img; ageing is real waiting.
set -uo pipefail

. "$(dirname "$0")/tap.sh"

GC="${BOXLITE_GC:?}"
CW="${BOXLITE_CHAINWALK:?}"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed (apt-get install qemu-utils)"
command -v jq >/dev/null || skip_all "jq not installed"

T="$(mktemp -d /tmp/boxlite-gc-home.XXXXXX)"
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"

newhome() {
        H="$T/$1"
        SRV="$T/$1-srv"
        # An idle box (no overlay): a boxes/ without a box is not collected.
        mkdir -p "$H/images/disk-images" "$H/boxes/idle" "$H/bases" "$SRV"
        DI="$H/images/disk-images"
}

image() {
        head -c "${2:-65536}" /dev/urandom >"$DI/$1"
}

# overlay FILE IMAGE: a qcow2 overlay at FILE backing onto the disk-image IMAGE.
overlay() {
        mkdir -p "$(dirname "$1")"
        qemu-img create -q -f qcow2 -b "$DI/$2" -F raw "$1" 1M
}

gcj() {
        "$GC" --home "$H" --json "$@" 2>"$T/stderr"
}

kept_reason() { # JSON NAME
        jq -r --arg n "$2" '.kept[] | select(.path | endswith("/" + $n)) | .reason' <<<"$1"
}

reclaimed_names() {
        jq -r '.reclaimed[].path' | xargs -rn1 basename | sort | tr '\n' ' '
}

# The overlays chainwalk --home prints, and the number the GC walked, must agree.
same_overlays() { # LABEL
        local cw gc
        cw="$("$CW" --json --home "$H" 2>/dev/null | jq -r '.[0].filename' | sort)"
        gc="$("$GC" --home "$H" --json --dry-run 2>/dev/null | jq -r .overlays)"
        check "$1: chainwalk --home and gc --dry-run see the same $gc overlay(s)" \
                test "$(grep -c . <<<"$cw")" -eq "$gc"
        # Every layer chainwalk reaches is kept pinned by the GC.
        local pinned missing=0
        pinned="$("$GC" --home "$H" --json --dry-run --grace 0 2>/dev/null | jq -r '.kept[] | select(.reason == "pinned") | .path' | xargs -rn1 basename)"
        for l in $("$CW" --json --home "$H" 2>/dev/null | jq -r '.[] | select(.format == "raw") | .filename' | xargs -rn1 basename | sort -u); do
                [ -e "$DI/$l" ] || continue
                grep -qx "$l" <<<"$pinned" || missing=1
        done
        check "$1: every image in a chainwalk chain is pinned by the GC" test $missing -eq 0
}

# ------------------------------------------------- a box directory moved to another disk
newhome symbox
image sha256-a.ext4; image sha256-orphan.ext4
overlay "$SRV/web/disks/disk.qcow2" sha256-a.ext4
ln -s "$SRV/web" "$H/boxes/web"
sleep 1.1
out="$(gcj --grace 1s)"; rc=$?
check "symlinked box directory: its image is pinned, exit 0" \
        test $rc -eq 0 -a -e "$DI/sha256-a.ext4" -a "$(kept_reason "$out" sha256-a.ext4)" = pinned
check "symlinked box directory: the real orphan still goes" test ! -e "$DI/sha256-orphan.ext4"
same_overlays "symlinked box"

newhome relbox
image sha256-a.ext4
overlay "$H/../relbox-srv/api/disks/disk.qcow2" sha256-a.ext4
ln -s ../../relbox-srv/api "$H/boxes/api"
sleep 1.1
out="$(gcj --grace 1s)"; rc=$?
check "relative symlink to a box directory: image pinned, exit 0" \
        test $rc -eq 0 -a -e "$DI/sha256-a.ext4" -a "$(kept_reason "$out" sha256-a.ext4)" = pinned
same_overlays "relative box link"

newhome symdisks
image sha256-d.ext4
overlay "$SRV/disks-of-b/disk.qcow2" sha256-d.ext4
mkdir -p "$H/boxes/b"; ln -s "$SRV/disks-of-b" "$H/boxes/b/disks"
sleep 1.1
out="$(gcj --grace 1s)"; rc=$?
check "symlinked disks/: image pinned, exit 0" test $rc -eq 0 -a -e "$DI/sha256-d.ext4"

newhome symsnap
image sha256-s.ext4; image sha256-live.ext4
overlay "$H/boxes/b/disks/disk.qcow2" sha256-live.ext4
overlay "$SRV/snaps/before-upgrade/disk.qcow2" sha256-s.ext4
ln -s "$SRV/snaps" "$H/boxes/b/snapshots"
sleep 1.1
out="$(gcj --grace 1s)"; rc=$?
check "symlinked snapshots/: the snapshot's image pinned, exit 0" \
        test $rc -eq 0 -a -e "$DI/sha256-s.ext4" -a "$(kept_reason "$out" sha256-s.ext4)" = pinned
same_overlays "symlinked snapshots"

newhome symbase
image sha256-b.ext4
mkdir -p "$SRV/base-dir"
qemu-img create -q -f qcow2 -b "$DI/sha256-b.ext4" -F raw "$SRV/base-dir/base.qcow2" 1M
ln -s "$SRV/base-dir" "$H/bases/moved"
sleep 1.1
out="$(gcj --grace 1s)"; rc=$?
check "symlinked directory under bases/: image pinned, exit 0" \
        test $rc -eq 0 -a -e "$DI/sha256-b.ext4" -a "$(kept_reason "$out" sha256-b.ext4)" = pinned

newhome alias
image sha256-a.ext4
overlay "$SRV/one/disks/disk.qcow2" sha256-a.ext4
ln -s "$SRV/one" "$H/boxes/one"; ln -s "$SRV/one" "$H/boxes/one-again"
sleep 1.1
out="$(gcj --grace 1s)"; rc=$?
check "two links to one box: walked once, image pinned, exit 0" \
        test $rc -eq 0 -a "$(jq .overlays <<<"$out")" -eq 1 -a -e "$DI/sha256-a.ext4"

# ------------------------------------------------- links that cannot be followed: fail closed
newhome danglingboxes
image sha256-a.ext4
rmdir "$H/boxes"; ln -s "$T/unmounted-disk/boxes" "$H/boxes"
sleep 1.1
out="$(gcj --grace 1s)"; rc=$?
check "dangling boxes/ (an unmounted disk): exit 1, every image kept" \
        test $rc -eq 1 -a -e "$DI/sha256-a.ext4" -a "$(kept_reason "$out" sha256-a.ext4)" = unsafe
check "dangling boxes/: the error names the link and its target" \
        jq -e '.errors[] | select((.path | endswith("/boxes")) and (.error | test("unmounted-disk")))' <<<"$out"
"$CW" -q --home "$H"
check "dangling boxes/: chainwalk --home fails too" test $? -eq 1

newhome danglingbases
image sha256-a.ext4
rmdir "$H/bases"; ln -s "$T/nowhere" "$H/bases"
sleep 1.1
out="$(gcj --grace 1s)"; rc=$?
check "dangling bases/: exit 1, every image kept" test $rc -eq 1 -a -e "$DI/sha256-a.ext4"

newhome danglingbox
image sha256-a.ext4
ln -s "$T/gone/web" "$H/boxes/web"
sleep 1.1
out="$(gcj --grace 1s)"; rc=$?
check "dangling box link: exit 1, every image kept, the link named" \
        bash -c "[ $rc -eq 1 ] && [ -e '$DI/sha256-a.ext4' ] && jq -e '.errors[] | select(.path | endswith(\"/boxes/web\"))' <<<'$out' >/dev/null"

newhome selflink
image sha256-a.ext4
ln -s web "$H/boxes/web"
sleep 1.1
out="$(gcj --grace 1s)"; rc=$?
check "a link to itself (ELOOP): exit 1, every image kept" test $rc -eq 1 -a -e "$DI/sha256-a.ext4"

newhome dirloop
image sha256-a.ext4
overlay "$SRV/web/disks/disk.qcow2" sha256-a.ext4
ln -s "$SRV/web" "$H/boxes/web"
ln -s "$SRV/web" "$SRV/web/disks/up"
sleep 1.1
out="$(timeout 20 "$GC" --home "$H" --json --grace 1s 2>/dev/null)"; rc=$?
check "a directory loop ends (no endless walk), exit 1, image kept" \
        test $rc -eq 1 -a -e "$DI/sha256-a.ext4"
check "the loop is reported as such" jq -e '.errors[] | select(.error | test("loop"))' <<<"$out"

if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
        newhome noperm
        image sha256-a.ext4
        overlay "$SRV/priv/disks/disk.qcow2" sha256-a.ext4
        chmod 700 "$SRV/priv"; ln -s "$SRV/priv" "$H/boxes/priv"
        chmod -R a+rX "$H"; chmod 755 "$SRV"
        sleep 1.1
        out="$(HOME=/nonexistent setpriv --reuid=65534 --regid=65534 --clear-groups "$GC" --home "$H" --json --dry-run --grace 1s 2>/dev/null)"
        rc=$?
        check "a box link the GC may not follow (EACCES): exit 1, nothing would be reclaimed" \
                test $rc -eq 1 -a "$(jq .reclaimed_count <<<"$out")" -eq 0
else
        ok "# SKIP permission check needs root to switch to an unprivileged user"
fi

# ------------------------------------------------- the staged clone and hidden box directories
newhome staged
image sha256-c.ext4
overlay "$H/boxes/.tmpQ1w2E3/disks/disk.qcow2" sha256-c.ext4
sleep 1.1
out="$(gcj --grace 1s)"; rc=$?
check "a clone staged in boxes/.tmpXXXXXX pins its image" \
        test $rc -eq 0 -a -e "$DI/sha256-c.ext4" -a "$(kept_reason "$out" sha256-c.ext4)" = pinned
same_overlays "staged clone"

# ------------------------------------------------- sidecars and -r<N> cache keys
newhome sidecar
image sha256-o.ext4 40000; printf 'sha256:%064d' 0 >"$DI/sha256-o.ext4.digest"
image sha256-p.ext4; printf 'sha256:%064d' 1 >"$DI/sha256-p.ext4.digest"
overlay "$H/boxes/p/disks/disk.qcow2" sha256-p.ext4
printf 'sha256:%064d' 2 >"$DI/sha256-gone.ext4.digest"
image sha256-abc-r2.ext4 8192; image sha256-abc-r3.ext4 8192
overlay "$H/boxes/r/disks/disk.qcow2" sha256-abc-r3.ext4
sleep 1.1
dry="$(gcj --grace 1s --dry-run)"
out="$(gcj --grace 1s)"; rc=$?
check "sidecar: an orphan and its sidecar are reclaimed together" \
        test ! -e "$DI/sha256-o.ext4" -a ! -e "$DI/sha256-o.ext4.digest"
check "sidecar: a pinned image keeps its sidecar" \
        test -e "$DI/sha256-p.ext4.digest" -a "$(kept_reason "$out" sha256-p.ext4.digest)" = pinned
check "sidecar: one whose image is gone is reclaimed once out of grace" test ! -e "$DI/sha256-gone.ext4.digest"
check "-r<N> names: an orphan -r2 is reclaimed, the pinned -r3 kept" \
        test ! -e "$DI/sha256-abc-r2.ext4" -a -e "$DI/sha256-abc-r3.ext4"
check "sidecar bytes are counted: reclaimed_bytes is the sum of the files" \
        test "$(jq .reclaimed_bytes <<<"$out")" -eq $((40000 + 71 + 71 + 8192))
check "the dry run reported exactly what the real run reclaimed (names and bytes)" \
        test "$(reclaimed_names <<<"$dry")" = "$(reclaimed_names <<<"$out")" -a \
             "$(jq .reclaimed_bytes <<<"$dry")" -eq "$(jq .reclaimed_bytes <<<"$out")"
check "exit 0" test $rc -eq 0
out="$(gcj --grace 1s)"
check "a second run reclaims nothing" test "$(jq .reclaimed_count <<<"$out")" -eq 0

newhome freshsidecar
image sha256-x.ext4; sleep 1.1
printf 'sha256:%064d' 0 >"$DI/sha256-x.ext4.digest"
out="$(gcj --grace 1s)"
check "a sidecar written within the grace window keeps its old image (an export is hashing it)" \
        test -e "$DI/sha256-x.ext4" -a "$(kept_reason "$out" sha256-x.ext4)" = grace
newhome freshorphansidecar
printf 'sha256:%064d' 0 >"$DI/sha256-y.ext4.digest"
out="$(gcj --grace 1m)"
check "an orphan sidecar within grace is kept" test -e "$DI/sha256-y.ext4.digest"

newhome crashsidecar
image sha256-k.ext4; printf 'sha256:%064d' 0 >"$DI/sha256-k.ext4.digest"; sleep 1.1
BOXLITE_GC_TEST_KILL_AFTER_ASIDE=1 "$GC" --home "$H" --grace 1s >/dev/null 2>&1
check "a crash after moving aside leaves image and sidecar aside" \
        test -e "$DI/.boxlite-gc-sha256-k.ext4" -a -e "$DI/.boxlite-gc-sha256-k.ext4.digest"
out="$(gcj --grace 1h)"
check "the next run puts both back" test -e "$DI/sha256-k.ext4" -a -e "$DI/sha256-k.ext4.digest" -a \
        "$(jq .restored_count <<<"$out")" -eq 2

# ------------------------------------------------- aside hygiene: only names the GC makes
newhome lookalike
echo "operator notes" >"$DI/notes.txt"; echo "keep me" >"$DI/.boxlite-gc-notes.txt"
image sha256-l.ext4; mkdir "$DI/.boxlite-gc-sha256-l.ext4"
image sha256-m.ext4; ln -s /etc/hostname "$DI/.boxlite-gc-sha256-m.ext4"
image sha256-n.ext4; head -c 100 /dev/urandom >"$DI/.boxlite-gc-sha256-n.ext4"; ln "$DI/.boxlite-gc-sha256-n.ext4" "$T/elsewhere-link"
box_overlay="$H/boxes/k/disks/disk.qcow2"; overlay "$box_overlay" sha256-l.ext4
overlay "$H/boxes/k2/disks/disk.qcow2" sha256-m.ext4; overlay "$H/boxes/k3/disks/disk.qcow2" sha256-n.ext4
sleep 1.1
out="$(gcj --grace 1s)"
check "a lookalike hidden file beside a same-named file is kept" test -e "$DI/.boxlite-gc-notes.txt"
check "a lookalike aside directory is left alone" test -d "$DI/.boxlite-gc-sha256-l.ext4"
check "a lookalike aside symlink is left alone" test -L "$DI/.boxlite-gc-sha256-m.ext4"
check "an aside-named file with another hard link elsewhere is kept" test -e "$DI/.boxlite-gc-sha256-n.ext4"

# ------------------------------------------------- overlays that are themselves names in disk-images/
# The GC pins an overlay's own inode only where it could be a candidate (another name, a link, or
# listed in disk-images/ itself); each way an overlay can sit in disk-images/ must keep it.
# overlay_home NAME: a home with a disk-image, an orphan and a qcow2 overlay sha256-ov.ext4 in disk-images/.
overlay_home() {
        newhome "$1"
        image sha256-base.ext4
        image sha256-orphan.ext4
        qemu-img create -q -f qcow2 -b "$DI/sha256-base.ext4" -F raw "$DI/sha256-ov.ext4" 1M
}
aged_run() {
        touch -d '-1 hour' "$DI"/*.ext4
        sleep 2.2
        out="$(gcj --grace 1s)"
}
overlay_home ovhardlink
mkdir -p "$H/boxes/h/disks"; ln "$DI/sha256-ov.ext4" "$H/boxes/h/disks/disk.qcow2"
aged_run
check "an overlay hard-linked into disk-images/ is kept, and what it backs onto; the orphan goes" \
        test -e "$DI/sha256-ov.ext4" -a -e "$DI/sha256-base.ext4" -a ! -e "$DI/sha256-orphan.ext4"
overlay_home ovsymlink
mkdir -p "$H/boxes/s/disks"; ln -s "$DI/sha256-ov.ext4" "$H/boxes/s/disks/disk.qcow2"
aged_run
check "an overlay a box links to in disk-images/ is kept; the orphan goes" \
        test -e "$DI/sha256-ov.ext4" -a -e "$DI/sha256-base.ext4" -a ! -e "$DI/sha256-orphan.ext4"
overlay_home ovlisted
ln -s ../images/disk-images "$H/boxes/cache"
aged_run
check "an overlay listed in disk-images/ through a box linked to it is kept" \
        test -e "$DI/sha256-ov.ext4" -a -e "$DI/sha256-base.ext4"

tap_done
