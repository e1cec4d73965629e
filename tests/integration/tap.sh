# SPDX-License-Identifier: LGPL-2.1-or-later
# Minimal TAP producer for the integration tests (sourced).

tap_n=0
tap_failed=0

ok() {
        tap_n=$((tap_n + 1))
        echo "ok $tap_n - $*"
}

not_ok() {
        tap_n=$((tap_n + 1))
        tap_failed=$((tap_failed + 1))
        echo "not ok $tap_n - $*"
}

# check DESCRIPTION COMMAND...: ok when the command succeeds.
check() {
        local desc="$1"
        shift
        if "$@" >/dev/null; then ok "$desc"; else not_ok "$desc"; fi
}

skip_all() {
        echo "1..0 # SKIP $*"
        exit 77
}

# The tools of the tests that hold a GC run at its renames: skips the file without them.
require_rename_delay() {
        command -v qemu-img >/dev/null || skip_all "qemu-img not installed (apt-get install qemu-utils)"
        command -v jq >/dev/null || skip_all "jq not installed"
        command -v strace >/dev/null || skip_all "strace not installed"
        strace -qq -o /dev/null -e trace=renameat2 -e inject=renameat2:delay_exit=1 true 2>/dev/null ||
                skip_all "strace cannot inject delays here (ptrace not permitted?)"
}

diag() {
        sed 's/^/# /' <<<"$*"
}

tap_done() {
        echo "1..$tap_n"
        [ "$tap_failed" -eq 0 ]
}

# Writes bytes (given as hex, e.g. "00000400") at an offset of a file.
patch_hex() {
        local file="$1" offset="$2" hex="$3" esc=""
        for ((i = 0; i < ${#hex}; i += 2)); do
                esc+="\\x${hex:i:2}"
        done
        printf "$esc" | dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
}

patch_be32() {
        patch_hex "$1" "$2" "$(printf '%08x' "$3")"
}

patch_be64() {
        patch_hex "$1" "$2" "$(printf '%016x' "$3")"
}

read_be32() {
        od -An -tx1 -j "$2" -N4 "$1" | tr -d ' \n' | { read -r h; echo $((16#$h)); }
}

read_be64() {
        od -An -tx1 -j "$2" -N8 "$1" | tr -d ' \n' | { read -r h; echo $((16#$h)); }
}

qimg() {
        qemu-img create -q "$@"
}
