# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the benchmark scripts.
#
# make_templates DIR: the qcow2 templates bench/gen-home copies, made by
# qemu-img, in DIR, and the first disk-image and base they name, in DIR/home:
# DIR/disk-template.qcow2 backs onto the disk-image, DIR/via-template.qcow2
# onto the base, which backs onto the disk-image.
make_templates() {
        local d="$1" H="$1/home" img0 base0
        mkdir -p "$H/images/disk-images" "$H/boxes" "$H/bases"
        img0="$H/images/disk-images/sha256-$(printf '%064d' 0).ext4"
        base0="$H/bases/base-$(printf '%016d' 0).qcow2"
        truncate -s 1M "$img0"
        qemu-img create -q -f qcow2 -o cluster_size=512 -b "$img0" -F raw "$d/disk-template.qcow2"
        qemu-img create -q -f qcow2 -o cluster_size=512 -b "$img0" -F raw "$base0"
        qemu-img create -q -f qcow2 -o cluster_size=512 -b "$base0" -F qcow2 "$d/via-template.qcow2"
}

# bench_gen DIR BOXES [OPTIONS...]: bench/gen-home ($gen) on DIR/home with the benchmarks' usual mix: a
# base per 100 boxes, a fifth of the disks through one, half the disk-images orphans; prints its counts.
bench_gen() {
        local d="$1" boxes="$2"
        shift 2
        "$gen" --base-template "$d/via-template.qcow2" --bases $((boxes / 100 > 0 ? boxes / 100 : 1)) --via-base 20 \
                --orphans 50 --seed 42 "$@" "$d/disk-template.qcow2" "$d/home" "$boxes" $((boxes / 2))
}

# bench_home DIR BOXES [OPTIONS...]: the templates and such a home, its counts in DIR/summary, left at rest
# past the walk's racy window (2 s).
bench_home() {
        make_templates "$1"
        bench_gen "$@" >"$1/summary"
        sleep 2.2
}
