#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# boxlite-chainwalk against real qcow2 chains made by qemu-img, with
# qemu-img itself as the oracle, and hand-corrupted copies for every failure.
set -uo pipefail

. "$(dirname "$0")/tap.sh"

CW="${BOXLITE_CHAINWALK:?}"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed (apt-get install qemu-utils)"
command -v jq >/dev/null || skip_all "jq not installed"

T="$(mktemp -d /tmp/boxlite-chainwalk.XXXXXX)"
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT
cd "$T"

# ---------------------------------------------------------------- good chains
mkdir -p good/img good/bases good/sub "good/with space" good/utf8-ü good/real
truncate -s 64M good/img/base.ext4
truncate -s 1000 good/img/odd.ext4

qimg -f qcow2 -o compat=0.10 -b ../img/base.ext4 -F raw good/sub/v2-rel.qcow2
qimg -f qcow2 -b "$T/good/img/base.ext4" -F raw good/sub/v3-abs.qcow2
qimg -f qcow2 -b "$T/good/img/base.ext4" -F raw good/bases/mid.qcow2
qimg -f qcow2 -b ../bases/mid.qcow2 -F qcow2 good/sub/three.qcow2
qimg -f qcow2 -b three.qcow2 -F qcow2 good/sub/four.qcow2
# No backing format: turn the extension into an unknown one, so QEMU (and we) probe the layer.
qimg -f qcow2 -b four.qcow2 -F qcow2 good/sub/five-probed.qcow2
patch_hex good/sub/five-probed.qcow2 112 12345678
qimg -f qcow2 -o compression_type=zstd -b ../img/base.ext4 -F raw good/sub/zstd.qcow2
qimg -f qcow2 -o extended_l2=on -b ../img/base.ext4 -F raw good/sub/extl2.qcow2
(cd good/sub && qimg -f qcow2 -o data_file=data.raw -b ../img/base.ext4 -F raw datafile.qcow2)
qimg -f qcow2 -o lazy_refcounts=on -b ../img/base.ext4 -F raw good/sub/lazy.qcow2
cp good/sub/lazy.qcow2 good/sub/dirty.qcow2
patch_hex good/sub/dirty.qcow2 79 01
qimg -f qcow2 -u -b "file:$T/good/img/base.ext4" -F raw good/sub/fileproto.qcow2 64M
qimg -f qcow2 -b ../img/base.ext4 -F raw "good/with space/over lay.qcow2"
truncate -s 64M "good/with space/bäse ☃.ext4"
qimg -f qcow2 -b "bäse ☃.ext4" -F raw "good/utf8-ü/../with space/ünïcode.qcow2"
qimg -f qcow2 -b ../img/odd.ext4 -F raw good/sub/odd-size.qcow2
qimg -f qcow -b ../img/base.ext4 -F raw good/sub/v1.qcow
qimg -f qcow2 -b v1.qcow -F qcow good/sub/on-v1.qcow2
qimg -f qcow2 good/sub/standalone.qcow2 16M
qimg -f qcow2 -o cluster_size=512 -b ../img/base.ext4 -F raw good/sub/small-cluster.qcow2
qimg -f qcow2 -o cluster_size=2M -b ../img/base.ext4 -F raw good/sub/big-cluster.qcow2
# A chain opened through a symlinked directory resolves relative to the path as given.
ln -s sub good/link
# A backing name that is a symlink to the real file.
ln -s ../img/base.ext4 good/sub/base-link.ext4
qimg -f qcow2 -b base-link.ext4 -F raw good/sub/via-symlink.qcow2

good=(
        good/sub/v2-rel.qcow2 good/sub/v3-abs.qcow2 good/sub/three.qcow2 good/sub/four.qcow2
        good/sub/five-probed.qcow2 good/sub/zstd.qcow2 good/sub/extl2.qcow2 good/sub/datafile.qcow2
        good/sub/lazy.qcow2 good/sub/dirty.qcow2 good/sub/fileproto.qcow2 "good/with space/over lay.qcow2"
        "good/with space/ünïcode.qcow2" good/sub/odd-size.qcow2 good/sub/v1.qcow good/sub/on-v1.qcow2
        good/sub/standalone.qcow2 good/sub/small-cluster.qcow2 good/sub/big-cluster.qcow2
        good/link/three.qcow2 good/sub/via-symlink.qcow2 "$T/good/sub/four.qcow2" ./good/sub/./three.qcow2
)

# The fields both tools report, with qemu-img's meaning.
project='map({filename, format, "backing-filename", "full-backing-filename", "virtual-size",
              "backing-filename-format", "dirty-flag", "cluster-size",
              compat: ."format-specific".data.compat,
              "compression-type": ."format-specific".data."compression-type",
              "data-file": ."format-specific".data."data-file",
              "extended-l2": ."format-specific".data."extended-l2"})'

for img in "${good[@]}"; do
        if ! ours="$("$CW" --json "$img")"; then
                not_ok "chainwalk exits 0 on '$img'"
                continue
        fi
        ok "chainwalk exits 0 on '$img'"
        theirs="$(qemu-img info --backing-chain --output=json "$img")"
        a="$(jq -S "$project" <<<"$ours")"
        b="$(jq -S "$project" <<<"$theirs")"
        if [ "$a" = "$b" ]; then
                ok "--json agrees with qemu-img info --backing-chain on '$img'"
        else
                not_ok "--json agrees with qemu-img info --backing-chain on '$img'"
                diag "$(diff <(echo "$b") <(echo "$a"))"
        fi
done

# Both readers, wherever both can read the image, report the same chain.
readers_fields='map({filename, format, "backing-filename", "full-backing-filename", "virtual-size"})'
for img in "${good[@]}"; do
        builtin="$("$CW" --json --reader=builtin "$img")" || { not_ok "builtin reader reads '$img'"; continue; }
        if libqcow="$("$CW" --json --reader=libqcow "$img" 2>/dev/null)"; then
                if [ "$(jq -S "$readers_fields" <<<"$builtin")" = "$(jq -S "$readers_fields" <<<"$libqcow")" ]; then
                        ok "libqcow and the built-in reader agree on '$img'"
                else
                        not_ok "libqcow and the built-in reader agree on '$img'"
                fi
        else
                # Only images with features libqcow 20201213 does not know may be refused.
                case "$img" in
                *zstd* | *extl2* | *datafile*) ok "libqcow refuses '$img' (incompatible feature); builtin reads it" ;;
                *) not_ok "libqcow unexpectedly refuses '$img'" ;;
                esac
        fi
done

# Auto mode names the reader that was used.
check "auto mode uses libqcow where it can" \
        test "$("$CW" --json good/sub/v3-abs.qcow2 | jq -r '.[0]."boxlite-reader"')" = libqcow
check "auto mode falls back to the built-in reader for zstd" \
        test "$("$CW" --json good/sub/zstd.qcow2 | jq -r '.[0]."boxlite-reader"')" = builtin
check "the human table says libqcow refused it" \
        bash -c "'$CW' good/sub/extl2.qcow2 | grep -q 'libqcow refused'"
check "the external data file is reported as a reference" \
        test "$("$CW" --json good/sub/datafile.qcow2 | jq -r '.[0]."boxlite-data-file-path"')" = good/sub/data.raw

# A relative file: name is resolved as QEMU does (against the working directory).
mkdir -p cwdtest && truncate -s 1M cwdtest/cwdbase.ext4
qimg -f qcow2 -u -b file:cwdbase.ext4 -F raw cwdtest/relfile.qcow2 1M
check "relative file: names resolve against the working directory, as in QEMU" \
        bash -c "cd cwdtest && '$CW' relfile.qcow2 >/dev/null && cd .. && ! '$CW' cwdtest/relfile.qcow2 >/dev/null 2>&1"

# A non-UTF-8 byte in a name still gives valid JSON.
name=$'bad\xff\xfename.ext4'
truncate -s 1M "good/sub/$name"
qimg -f qcow2 -b "$name" -F raw good/sub/nonutf8.qcow2
check "non-UTF-8 names produce valid JSON" bash -c "'$CW' --json good/sub/nonutf8.qcow2 | jq -e '.[1].filename | test(\"bad.*name\")' >/dev/null"
check "non-UTF-8 names produce valid JSON lines with --home too" bash -c "
        mkdir -p h8/boxes/b/disks && cp good/sub/nonutf8.qcow2 h8/boxes/b/disks/disk.qcow2 &&
        qemu-img rebase -q -u -F raw -b '$T/good/sub/$name' h8/boxes/b/disks/disk.qcow2 &&
        '$CW' --json --home h8 | jq -e . >/dev/null"

# ---------------------------------------------------------------- bad chains
mkdir -p bad
# expect_fail NAME KIND PATTERN IMAGE [ARGS...]: exit 1, the JSON error kind, and a message naming the problem.
expect_fail() {
        local desc="$1" kind="$2" pattern="$3" img="$4"
        shift 4
        local out err rc
        out="$(timeout 10 "$CW" --json "$@" "$img" 2>"$T/err")"
        rc=$?
        err="$(cat "$T/err")"
        if [ $rc -ne 1 ]; then
                not_ok "$desc: exit status 1 (got $rc)"
                diag "$err"
                return
        fi
        if [ "$(jq -r '.[-1]."boxlite-error".kind' <<<"$out")" != "$kind" ]; then
                not_ok "$desc: error kind $kind"
                diag "$out"
                return
        fi
        if ! grep -qF -- "$img" <<<"$err" || ! grep -qiE -- "$pattern" <<<"$err"; then
                not_ok "$desc: stderr names the file and the problem"
                diag "$err"
                return
        fi
        ok "$desc"
}

qimg -f qcow2 -u -b "$T/bad/nonexistent.ext4" -F raw bad/missing.qcow2 1M
expect_fail "missing backing file" missing "does not exist" bad/missing.qcow2

qimg -f qcow2 -u -b "$T/bad/nonexistent.qcow2" -F qcow2 bad/missing-mid.qcow2 1M
qimg -f qcow2 -u -b missing-mid.qcow2 -F qcow2 bad/missing-top.qcow2 1M
expect_fail "missing middle layer" missing "nonexistent.qcow2.*does not exist" bad/missing-top.qcow2

qimg -f qcow2 bad/loop-a.qcow2 1M
qimg -f qcow2 -u -b loop-a.qcow2 -F qcow2 bad/loop-b.qcow2 1M
qemu-img rebase -q -u -b loop-b.qcow2 -F qcow2 bad/loop-a.qcow2
expect_fail "A -> B -> A loop" loop "loop" bad/loop-a.qcow2

qimg -f qcow2 -u -b self.qcow2 -F qcow2 bad/self.qcow2 1M
expect_fail "image backing onto itself" loop "loop" bad/self.qcow2

qimg -f qcow2 -u -b ./././self-dot.qcow2 -F qcow2 bad/self-dot.qcow2 1M
expect_fail "self loop through ./ aliases" loop "loop" bad/self-dot.qcow2

ln -s . bad/alias
qimg -f qcow2 -u -b alias/self-link.qcow2 -F qcow2 bad/self-link.qcow2 1M
expect_fail "self loop through a symlinked directory" loop "loop" bad/self-link.qcow2

truncate -s 1M bad/deepbase.ext4
prev=deepbase.ext4 fmt=raw
for i in $(seq 1 70); do
        qimg -f qcow2 -u -b "$prev" -F "$fmt" "bad/deep$i.qcow2" 1M
        prev="deep$i.qcow2" fmt=qcow2
done
expect_fail "chain deeper than the default limit of 64" too-deep "deeper than 64" bad/deep70.qcow2
check "a 64-layer chain is within the default limit" "$CW" -q bad/deep63.qcow2
expect_fail "--max-depth 3 on a 4-layer chain" too-deep "deeper than 3" bad/deep3.qcow2 --max-depth 3
check "--max-depth 4 on a 4-layer chain" "$CW" -q --max-depth 4 bad/deep3.qcow2

cp good/sub/v3-abs.qcow2 bad/truncated.qcow2 && truncate -s 50 bad/truncated.qcow2
expect_fail "truncated header" corrupt "truncated" bad/truncated.qcow2

cp good/sub/v3-abs.qcow2 bad/longname.qcow2 && patch_be32 bad/longname.qcow2 16 1024
expect_fail "backing_file_size over 1023" corrupt "backing_file_size 1024" bad/longname.qcow2

cp good/sub/v3-abs.qcow2 bad/pasteof.qcow2 && truncate -s 4096 bad/pasteof.qcow2 && patch_be64 bad/pasteof.qcow2 8 60000
expect_fail "backing name offset past the end of the file" corrupt "past the end" bad/pasteof.qcow2

cp good/sub/v3-abs.qcow2 bad/offcluster.qcow2 && patch_be64 bad/offcluster.qcow2 8 70000
expect_fail "backing name offset outside cluster 0" corrupt "outside cluster 0" bad/offcluster.qcow2

cp good/sub/v3-abs.qcow2 bad/hugeoff.qcow2 && patch_hex bad/hugeoff.qcow2 8 fffffffffffffff0
expect_fail "backing offset near 2^64" corrupt "outside cluster 0" bad/hugeoff.qcow2

cp good/sub/v3-abs.qcow2 bad/version4.qcow2 && patch_be32 bad/version4.qcow2 4 4
expect_fail "unknown version" unsupported "version 4" bad/version4.qcow2

cp good/sub/v3-abs.qcow2 bad/feature.qcow2 && patch_hex bad/feature.qcow2 79 20
expect_fail "unknown incompatible feature bit" unsupported "incompatible feature bits 0x20" bad/feature.qcow2

cp good/sub/v3-abs.qcow2 bad/cluster.qcow2 && patch_be32 bad/cluster.qcow2 20 40
expect_fail "cluster_bits out of range" corrupt "cluster_bits 40" bad/cluster.qcow2

cp good/sub/v3-abs.qcow2 bad/hlen.qcow2 && patch_be32 bad/hlen.qcow2 100 100
expect_fail "header_length below 104" corrupt "header_length 100" bad/hlen.qcow2

cp good/sub/v3-abs.qcow2 bad/hlen8.qcow2 && patch_be32 bad/hlen8.qcow2 100 116
expect_fail "header_length not a multiple of 8" corrupt "multiple of 8" bad/hlen8.qcow2

# The backing format extension sits right after the 112-byte header: make its length overrun.
cp good/sub/v3-abs.qcow2 bad/extlen.qcow2 && patch_be32 bad/extlen.qcow2 116 5000
expect_fail "header extension overrunning the header area" corrupt "overruns" bad/extlen.qcow2

cp good/sub/v3-abs.qcow2 bad/fmtlen.qcow2 && patch_be32 bad/fmtlen.qcow2 116 16
expect_fail "backing format name of 16 bytes" corrupt "too long" bad/fmtlen.qcow2

cp good/sub/v3-abs.qcow2 bad/dup.qcow2
patch_hex bad/dup.qcow2 120 "7261770000000000e2792aca00000003"
patch_hex bad/dup.qcow2 136 "72617700000000000000000000000000"
expect_fail "duplicate header extension" corrupt "duplicate" bad/dup.qcow2

qimg -f qcow2 -u -b 'json:{"file":{"driver":"file","filename":"/tmp/x.ext4"}}' -F raw bad/json.qcow2 1M
expect_fail "json: backing name" not-local "not a local file" bad/json.qcow2

qimg -f qcow2 -u -b 'nbd://localhost:10809/export' -F raw bad/nbd.qcow2 1M
expect_fail "network protocol backing name" not-local "not a local file" bad/nbd.qcow2

mkfifo bad/fifo.qcow2
expect_fail "a FIFO named like an image does not block" unreadable "not a regular file" bad/fifo.qcow2

mkdir bad/dir.ext4
qimg -f qcow2 -u -b dir.ext4 -F raw bad/ondir.qcow2 1M
expect_fail "backing file that is a directory" unreadable "directory" bad/ondir.qcow2

cp good/sub/datafile.qcow2 bad/nodata.qcow2
expect_fail "missing external data file" missing "data file" bad/nodata.qcow2

truncate -s 1M bad/notqcow.img
qimg -f qcow2 -u -b notqcow.img -F qcow2 bad/declared.qcow2 1M
expect_fail "backing declared qcow2 but raw" corrupt "no qcow magic" bad/declared.qcow2

qimg -f qcow2 -u -b other.vmdk -F vmdk bad/vmdk.qcow2 1M
truncate -s 1M bad/other.vmdk
expect_fail "a backing format that cannot be walked" unsupported "vmdk" bad/vmdk.qcow2

# An embedded NUL cuts the name where QEMU cuts it, and is reported.
qimg -f qcow2 -u -b ../good/img/base.ext4JUNK -F raw bad/nul.qcow2 1M
off="$(read_be64 bad/nul.qcow2 8)"
patch_hex bad/nul.qcow2 $((off + 21)) 00
out="$("$CW" --json bad/nul.qcow2)"
check "embedded NUL: the truncated name still walks" "$CW" -q bad/nul.qcow2
check "embedded NUL: name truncated like QEMU and reported" \
        test "$(jq -r '.[0]."boxlite-backing-filename-truncated"' <<<"$out")" = true
check "embedded NUL: qemu-img sees the same truncated name" \
        test "$(jq -r '.[0]."backing-filename"' <<<"$out")" = \
        "$(qemu-img info --output=json bad/nul.qcow2 2>/dev/null | jq -r '."backing-filename"')"

if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
        cp good/sub/v3-abs.qcow2 bad/noperm.qcow2 && chmod 600 bad/noperm.qcow2 && chmod 755 "$T" bad
        out="$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CW" bad/noperm.qcow2 2>&1)"
        rc=$?
        check "unreadable layer: exit 1 with the reason" test $rc -eq 1 -a -n "$(grep -i 'permission denied' <<<"$out")"
else
        ok "# SKIP unreadable layer needs root to switch to an unprivileged user"
fi

# A declared-raw backing file the caller cannot open: qemu-img refuses the chain, so it is incomplete.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
        as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
        truncate -s 1M bad/secret.raw && chmod 600 bad/secret.raw
        qimg -f qcow2 -b "$T/bad/secret.raw" -F raw bad/on-secret.qcow2 && chmod 644 bad/on-secret.qcow2
        chmod 755 "$T" bad
        as_nobody qemu-img info --backing-chain --output=json bad/on-secret.qcow2 >/dev/null 2>&1
        check "unreadable raw backing: qemu-img refuses it" test $? -ne 0
        for rd in auto libqcow builtin; do
                out="$(as_nobody "$CW" --reader $rd --json bad/on-secret.qcow2 2>/dev/null)"
                rc=$?
                kind="$(jq -r '.[-1]."boxlite-error".kind' <<<"$out")"
                check "unreadable raw backing ($rd): exit 1, reported unreadable (got $rc, $kind)" \
                        test "$rc" -eq 1 -a "$kind" = unreadable
        done
else
        ok "# SKIP unreadable raw backing needs root to switch to an unprivileged user"
fi

# An empty backing-format extension (length 0): qemu-img probes the backing file; so do both readers.
empty_backing_format() {
        python3 - "$1" <<'EOF'
import struct, sys
with open(sys.argv[1], 'r+b') as f:
    data = bytearray(f.read(65536))
    hdr_len = struct.unpack('>I', data[100:104])[0]
    name_off = struct.unpack('>Q', data[8:16])[0]
    off, exts = hdr_len, []
    while True:
        magic, length = struct.unpack('>II', data[off:off + 8])
        if magic == 0:
            break
        exts.append((magic, bytes(data[off + 8:off + 8 + length])))
        off += 8 + ((length + 7) & ~7)
    area = b''
    for magic, payload in exts:
        if magic == 0xe2792aca:
            payload = b''
        area += struct.pack('>II', magic, len(payload)) + payload + b'\0' * (-len(payload) % 8)
    area += b'\0' * 8
    end = name_off if name_off else off + 8
    assert any(m == 0xe2792aca for m, _ in exts) and hdr_len + len(area) <= end
    f.seek(hdr_len)
    f.write(area + b'\0' * (end - hdr_len - len(area)))
EOF
}
qimg -f qcow2 -b "$T/good/img/base.ext4" -F raw good/sub/empty-fmt-raw.qcow2
qimg -f qcow2 -b three.qcow2 -F qcow2 good/sub/empty-fmt-qcow2.qcow2
for img in good/sub/empty-fmt-raw.qcow2 good/sub/empty-fmt-qcow2.qcow2; do
        empty_backing_format "$img"
        want="$(qemu-img info --backing-chain --output=json "$img" | jq -c '[.[] | [.filename, .format]]')"
        check "empty backing format: qemu-img still opens $img" test -n "$want"
        for rd in auto libqcow builtin; do
                got="$("$CW" --reader $rd --json "$img" | jq -c '[.[] | [.filename, .format]]')"
                check "empty backing format ($rd): $img walks like qemu-img" test "$got" = "$want"
        done
done

# ---------------------------------------------------------------- --home
mkdir -p home/images/disk-images home/boxes/b1/disks home/boxes/b2/disks home/boxes/.tmpAbc123/disks home/bases
truncate -s 8M home/images/disk-images/sha256-aa.ext4
qimg -f qcow2 -b "$T/home/images/disk-images/sha256-aa.ext4" -F raw home/boxes/b1/disks/disk.qcow2
qimg -f qcow2 -b "$T/home/images/disk-images/sha256-aa.ext4" -F raw home/boxes/b2/disks/guest-rootfs.qcow2
qimg -f qcow2 home/boxes/.tmpAbc123/disks/disk.qcow2 1M
out="$("$CW" --json --home home)"
check "--home walks every overlay under boxes/, a staged clone included (one JSON array per line)" test "$(wc -l <<<"$out")" -eq 3
check "--home output names the three overlays" bash -c "jq -r '.[0].filename' <<<'$out' | grep -c qcow2 | grep -qx 3"
check "--home exit 0 when every chain is complete" "$CW" -q --home home
check "BOXLITE_HOME is the default home" bash -c "BOXLITE_HOME=home '$CW' --json | wc -l | grep -qx 3"
qimg -f qcow2 -u -b /nonexistent/x.ext4 -F raw home/boxes/b2/disks/broken.qcow2 1M
"$CW" -q --home home
check "--home exit 1 when one chain is broken" test $? -eq 1
check "--home on a missing home fails" bash -c "! '$CW' --home '$T/nope' 2>/dev/null"

# A home of shared backing layers: boxes that back onto a base and onto each other's images, a box
# with a snapshot, names that sort differently as box names and as paths ("b" and "b-x").
mkdir -p h9/images/disk-images h9/bases h9/boxes
truncate -s 4M h9/images/disk-images/sha256-11.ext4 h9/images/disk-images/sha256-22.ext4
qimg -f qcow2 -b "$T/h9/images/disk-images/sha256-11.ext4" -F raw h9/bases/base-1.qcow2
for b in b b-x a c0 c1 c2 c3 c4 c5 c6 c7; do
        mkdir -p "h9/boxes/$b/disks" "h9/boxes/$b/snapshots"
        qimg -f qcow2 -b "$T/h9/images/disk-images/sha256-22.ext4" -F raw "h9/boxes/$b/disks/guest-rootfs.qcow2"
        qimg -f qcow2 -b "$T/h9/bases/base-1.qcow2" -F qcow2 "h9/boxes/$b/snapshots/s1.qcow2"
        qimg -f qcow2 -b ../snapshots/s1.qcow2 -F qcow2 "h9/boxes/$b/disks/disk.qcow2"
done
qimg -f qcow2 -b "$T/h9/boxes/a/disks/disk.qcow2" -F qcow2 h9/boxes/c0/disks/deep.qcow2
mapfile -t h9_overlays < <(find "$T/h9/boxes" "$T/h9/bases" -name '*.qcow2' | LC_ALL=C sort)
"$CW" --json --home "$T/h9" >h9.home
check "--home prints the overlays in path order (byte order), each once" \
        bash -c "jq -r '.[0].filename' h9.home | cmp -s - <(printf '%s\n' ${h9_overlays[*]@Q})"
for img in "${h9_overlays[@]}"; do "$CW" --json --reader builtin "$img" | jq -c .; done >h9.each
check "--home's chains through shared layer records are those of each overlay walked alone" \
        cmp -s <(jq -c . h9.home) h9.each
"$CW" --home "$T/h9" >h9.text
for img in "${h9_overlays[@]}"; do "$CW" --reader builtin "$img"; done >h9.text-each
check "--home's text is that of each overlay walked alone, in path order" cmp -s h9.text h9.text-each
check "--home prints the same on every run (workers or not)" \
        bash -c "for i in 1 2 3 4 5; do '$CW' --json --home '$T/h9' | cmp -s - h9.home || exit 1; done"
# deep.qcow2 -> a's disk -> s1 -> base -> image: 5 layers, 4 of them records shared with a's chain.
"$CW" --json --max-depth 4 --home "$T/h9" >h9.deep 2>/dev/null
check "--max-depth holds where a chain goes on in a shared record (too-deep)" \
        bash -c "jq -r 'select(.[0].filename | endswith(\"deep.qcow2\")) | .[-1][\"boxlite-error\"].kind' h9.deep | grep -qx too-deep"
check "... and a chain of the depth limit itself is complete" \
        bash -c "jq -r 'select(.[0].filename | endswith(\"b/disks/disk.qcow2\")) | .[-1].filename' h9.deep | grep -q ext4"

# Under churn (the walk's test hooks, -Dtest-hooks=true builds): a box renamed after it was walked,
# two exchanged before they are walked. The walk forgets those units and walks them again; the views
# show the home as the walk accepted it, as a quiet walk of the home as it is afterwards shows it.
for spec in "1,after=c3,rename,boxes/c3,boxes/zz-c3" "1,before=c1,exchange,boxes/c1,boxes/c5"; do
        BOXLITE_GC_TEST_CHURN="$spec" BOXLITE_GC_TEST_NO_TIME_BOUND=1 "$CW" --json --home "$T/h9" >h9.churn 2>h9.hooks
        if ! grep -q '^walk test hook:' h9.hooks; then
                ok "--home under churn ($spec) # SKIP the walk's test hooks are not compiled in"
                continue
        fi
        check "--home under churn ($spec) prints what a quiet walk then prints" \
                bash -c "'$CW' --json --home '$T/h9' | cmp -s - h9.churn"
        BOXLITE_GC_TEST_CHURN="$spec" BOXLITE_GC_TEST_NO_TIME_BOUND=1 "$CW" --json --usage --home "$T/h9" \
                >h9.churn 2>/dev/null
        check "--usage under churn ($spec) sums what a quiet walk then sums" \
                bash -c "'$CW' --json --usage --home '$T/h9' | jq -S 'del(.available_bytes)' | cmp -s - <(jq -S 'del(.available_bytes)' h9.churn)"
done

# ---------------------------------------------------------------- usage
for args in "--bogus" "--max-depth 0" "--max-depth x" "--reader foo" "--home home good/sub/v2-rel.qcow2"; do
        # shellcheck disable=SC2086
        "$CW" $args >/dev/null 2>&1
        check "usage error '$args' exits 2" test $? -eq 2
done
check "--help exits 0 and documents --max-depth" bash -c "'$CW' --help | grep -q -- --max-depth"
check "--version prints the version" bash -c "'$CW' --version | grep -q boxlite-chainwalk"

tap_done
