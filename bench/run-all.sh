#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-all.sh [BUILD_DIR [REPORT]]: every benchmark of boxlite-host in one run,
# side by side with what an operator would use instead (qemu-img, a find |
# qemu-img | rm pipeline, /bin/true) and with the floor of the hardware
# (bench/gc-floor), on synthetic homes of 1k, 10k and 50k boxes. Writes the
# report (machine, commands, tables) to REPORT, by default docs/BENCHMARKS.md.
# Every ratio is against a baseline measured in the same run; no figure is
# written by hand.
#
# BUILD_DIR (default: build-bench in the source tree) is set up as a release
# build if it does not exist, then built. tools/install-deps installs what is
# missing first. BOXLITE_BENCH_NO_DEPS=1 skips that and BOXLITE_BENCH_NO_BUILD=1
# the build (meson's benchmark() sets both). Homes live under /tmp (the normal
# disk, warm cache) and are removed at the end. Kernel profiles need root (or
# perf_event_paranoid <= 1); without, that section says so.
set -euo pipefail

src="$(cd "$(dirname "$0")/.." && pwd)"
build="$(realpath -m "${1:-$src/build-bench}")"
report="$(realpath -m "${2:-$src/docs/BENCHMARKS.md}")"

# The growth series; the first home also runs the operator's pipeline (it takes
# milliseconds per overlay), the second is the home of all other comparisons.
sizes=(1000 10000 50000)
sample_size=200 # overlays qemu-img info is timed on
orphan_pct=50   # share of disk-images nothing references
via_pct=20      # share of boxes whose disk.qcow2 backs onto a base
runs=21         # measured runs of a sub-second program
real_runs=5     # deleting runs (each needs its orphans made again first)
rounds=7        # rounds of bench/gc-rounds.sh (floor and GC, one worker and two)
plan_rounds=3   # rounds of bench/gc-plan.sh (100,000-entry reports and plans)
if [ -n "${BOXLITE_BENCH_QUICK:-}" ]; then
        # A trial of the script itself in a few seconds; its figures are not the benchmark's.
        sizes=(100 400 1000) sample_size=20 runs=3 real_runs=2 rounds=2 plan_rounds=1
fi
op_boxes="${sizes[0]}" main_boxes="${sizes[1]}" big_boxes="${sizes[2]}"

t_start="$(date +%s.%N)"
elapsed() {
        awk -v s="$t_start" -v n="$(date +%s.%N)" 'BEGIN { printf "%.0f", n - s }'
}
say() {
        printf '[%4ss] %s\n' "$(elapsed)" "$*" >&2
}
die() {
        say "FAILED: $*"
        exit 1
}

# ---- dependencies and build ----

if [ -z "${BOXLITE_BENCH_NO_DEPS:-}" ]; then
        "$src/tools/install-deps"
fi
for t in qemu-img jq strace hyperfine bc perf dbus-daemon; do
        command -v "$t" >/dev/null || die "$t is not installed (run tools/install-deps)"
done
t_build0="$(date +%s)"
if [ -z "${BOXLITE_BENCH_NO_BUILD:-}" ]; then
        if [ ! -f "$build/build.ninja" ]; then
                meson setup "$build" "$src" -Dbuildtype=release >/dev/null
        fi
        ninja -C "$build" bench/gen-home bench/gc-floor bench/bench-exec bench/reader-bench bench/admit-floor \
                helpers/chainwalk/boxlite-chainwalk helpers/gc/boxlite-gc helpers/admit/boxlite-admit >/dev/null
fi
build_s=$(($(date +%s) - t_build0))
buildtype="$(meson introspect "$build" --buildoptions | jq -r '.[] | select(.name == "buildtype") | .value')"
[ "$buildtype" = release ] || say "warning: $build is a '$buildtype' build, not release"

gen="$build/bench/gen-home"
floor="$build/bench/gc-floor"
bexec="$build/bench/bench-exec"
reader="$build/bench/reader-bench"
admit_floor="$build/bench/admit-floor"
chainwalk="$build/helpers/chainwalk/boxlite-chainwalk"
gc="$build/helpers/gc/boxlite-gc"
admit="$build/helpers/admit/boxlite-admit"
operator="$src/bench/operator-gc.sh"

T="$(mktemp -d /tmp/boxlite-bench.XXXXXX)"
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/res" "$T/etc"
export BOXLITE_LOG_TARGET=stderr BOXLITE_CONF_DIR="$T/etc" LC_ALL=C

# ---- helpers ----

. "$src/bench/templates.sh"

# bx NAME BENCH-EXEC-ARGS... -- COMMAND...: measure, keep the key=value line as NAME.
bx() {
        local name="$1"
        shift
        "$bexec" "$@" >"$T/res/$name" || die "$name: a measured run failed"
}
# kv NAME KEY: a value of a measurement.
kv() {
        sed -n "s/.*\<$2=\([^ ]*\).*/\1/p" "$T/res/$1"
}
put() {
        echo "$2" >"$T/res/$1"
}
get() {
        cat "$T/res/$1"
}
# calc EXPR [DECIMALS]
calc() {
        awk "BEGIN { printf \"%.${2:-2}f\", ($1) }"
}
# Microseconds, for people.
fmt_us() {
        awk -v v="$1" 'BEGIN {
                if (v < 0) { printf "-"; v = -v }
                if (v >= 1e6) printf "%.2f s", v / 1e6
                else if (v >= 1e5) printf "%.0f ms", v / 1e3
                else if (v >= 1e3) printf "%.2f ms", v / 1e3
                else if (v >= 10) printf "%.1f µs", v
                else if (v >= 1) printf "%.2f µs", v
                else printf "%.0f ns", v * 1e3 }'
}
fmt_kib() {
        awk -v v="$1" 'BEGIN { printf "%.1f MiB", v / 1024 }'
}
num() {
        echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'
}
yes_no() {
        if awk "BEGIN { exit !($1) }"; then echo "**met**"; else echo "**not met**"; fi
}
# median FILE COLUMN
median() {
        awk -v c="$2" '{ print $c }' "$1" | sort -g |
                awk '{ v[NR] = $1 } END { printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
column_max() {
        awk -v c="$2" 'NR == 1 || $c > m { m = $c } END { print m }' "$1"
}
loadavg() {
        cut -d' ' -f1-3 /proc/loadavg
}
loads=()
note_load() {
        loads+=("$(cut -d' ' -f1 /proc/loadavg)")
}
# CPU busy share of the whole machine over one second, in percent (us idle).
cpu_busy() {
        local a b
        a=($(sed -n 's/^cpu  //p' /proc/stat))
        sleep 1
        b=($(sed -n 's/^cpu  //p' /proc/stat))
        awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN {
                n = split(a, x); split(b, y); t = 0
                for (i = 1; i <= n; i++) t += y[i] - x[i]
                idle = (y[4] - x[4]) + (y[5] - x[5])
                printf "%.0f", (t > 0 ? 100 * (t - idle) / t : 0) }'
}

# gen_home DIR BOXES [--images-only]: the synthetic home DIR/home (see bench/gen-home.c).
gen_home() {
        local d="$1" boxes="$2"
        shift 2
        local bases=$((boxes / 100 > 0 ? boxes / 100 : 1))
        "$gen" --base-template "$d/via-template.qcow2" --bases "$bases" --via-base "$via_pct" \
                --orphans "$orphan_pct" --orphan-list "$d/orphans" \
                --sample "$sample_size" --sample-list "$d/sample" --seed 42 "$@" \
                "$d/disk-template.qcow2" "$d/home" "$boxes" "$((boxes / 2))" >"$d/summary"
}
# make_home DIR BOXES: templates made by qemu-img, then the home; checks a sample with qemu-img.
make_home() {
        local d="$1" boxes="$2" H="$1/home" t0 t1
        make_templates "$d"
        t0=$(date +%s%N)
        gen_home "$d" "$boxes"
        sync -f "$H"
        t1=$(date +%s%N)
        echo "$(((t1 - t0) / 1000000))" >"$d/gen-ms"
        du -sk "$H" | cut -f1 >"$d/du-kib"
        sort -o "$d/orphans" "$d/orphans"
        read -r _ _ _ overlays _ nbases _ nvia _ nimages _ norphans <"$d/summary"
        echo "$overlays $nbases $nvia $nimages $norphans" >"$d/counts"

        # The headers are qemu-img's own: check a sample with it, through a base and directly.
        qemu-img check -q "$H/boxes/box-0/disks/disk.qcow2"
        qemu-img check -q "$H/boxes/box-$((boxes - 1))/disks/disk.qcow2"
        qemu-img check -q "$H/boxes/box-$((boxes - 1))/disks/guest-rootfs.qcow2"
        qemu-img check -q "$H/bases/base-$(printf '%016x' $((nbases - 1))).qcow2"
        [ "$(qemu-img info -U --backing-chain --output=json "$H/boxes/box-0/disks/disk.qcow2" | jq length)" = 3 ] ||
                die "box-0 does not back onto a base and a disk-image"
        # The disk-images' ctime is new: let them age past the 1 s grace the runs use.
        sleep 1.1
        "$floor" "$H" >/dev/null
}
counts() {
        read -r c_overlays c_bases c_via c_images c_orphans <"$1/counts"
}
# Makes the orphans again (a real run deleted them) and lets them age past the 1 s grace.
remake_orphans() {
        gen_home "$1" "$2" --images-only
        sleep 1.1
        "$floor" "$1/home" >/dev/null
}
# After a real run: every orphan gone, every other disk-image still there.
check_deleted() {
        local d="$1" left missing
        left=$(find "$d/home/images/disk-images" -maxdepth 1 -name '*.ext4' | wc -l)
        counts "$d"
        [ "$left" -eq $((c_images - c_orphans)) ] || die "$left disk-images left, expected $((c_images - c_orphans))"
        missing=0
        while read -r p; do
                [ ! -e "$p" ] || missing=$((missing + 1))
        done <"$d/orphans"
        [ "$missing" -eq 0 ] || die "$missing orphans survived a real run"
}
# gc_real DIR BOXES NAME N: N deleting runs, each on fresh orphans, checked.
gc_real() {
        local d="$1" boxes="$2" name="$3" n="$4"
        rm -f "$T/res/$name.times"
        for _ in $(seq "$n"); do
                remake_orphans "$d" "$boxes"
                "$bexec" --runs 1 --warmup 0 --times "$T/res/$name.times" -- \
                        "$gc" --jobs 1 --home "$d/home" --grace 1s >/dev/null || die "$name: the real run failed"
                check_deleted "$d"
        done
        awk '{ printf "%.3f %d %d %d\n", $1 / 1000, $2, $3, $4 }' "$T/res/$name.times" >"$T/res/$name.us"
        put "$name" "n=$n median_us=$(median "$T/res/$name.us" 1) median_rss_kib=$(median "$T/res/$name.us" 2) maxrss_kib=$(column_max "$T/res/$name.us" 2) user_us=$(median "$T/res/$name.us" 3) sys_us=$(median "$T/res/$name.us" 4)"
}
# strace_count NAME COMMAND...: total system calls of one run, and the per-syscall table.
strace_count() {
        local name="$1"
        shift
        strace -f -c -o "$T/res/$name.strace" "$@" >/dev/null 2>&1 || die "$name: traced run failed"
        awk '$NF == "total" { print $4 }' "$T/res/$name.strace" >"$T/res/$name.calls"
}
# syscalls_of NAME SYSCALL: calls of one syscall in a strace -c table.
syscalls_of() {
        awk -v s="$2" '$NF == s { print $4; f = 1 } END { if (!f) print 0 }' "$T/res/$1.strace"
}
# phases LOG: from a strace -f -y log, counts per syscall in the walk phase
# (from the first line that touches boxes/ to the last that touches boxes/ or
# bases/, and on until the disk-image directory is listed) and in the image phase (the rest).
phases() {
        awk '
                NR == FNR {
                        if (!first && /\/boxes/) first = FNR
                        if (/\/boxes|\/bases/) last = FNR
                        next
                }
                FNR == 1 { end = last }
                FNR > last && !fixed {
                        if (/disk-images>, "\."|"images\/disk-images"/) { end = FNR - 1; fixed = 1 }
                }
                {
                        name = $2; sub(/\(.*/, "", name)
                        if (name ~ /^</ || name == "+++" || name == "---") next
                        phase = FNR < first ? "startup" : (FNR <= end ? "walk" : "images")
                        n[phase " " name]++
                }
                END { for (k in n) print k, n[k] }' "$1" "$1" | sort
}

machine_busy_before="$(cpu_busy)"
load_before="$(loadavg)"
say "results in $T, report to $report"

# ---- the main home ----

M="$T/main"
mkdir -p "$M"
say "generating the main home: $main_boxes boxes"
make_home "$M" "$main_boxes"
counts "$M"
m_overlays=$c_overlays m_bases=$c_bases m_via=$c_via m_images=$c_images m_orphans=$c_orphans
m_walked=$((m_overlays + m_bases))
note_load

# boxlite-chainwalk and qemu-img must print the same chains for the sample.
agree=0
while read -r p; do
        a="$(qemu-img info -U --backing-chain --output=json "$p" | jq -c '[.[] | .filename]')"
        b="$("$chainwalk" --json "$p" | jq -c '[.[] | .filename]')"
        [ "$a" = "$b" ] || die "qemu-img and boxlite-chainwalk disagree on '$p': $a vs $b"
        agree=$((agree + 1))
done <"$M/sample"

# ---- 1. chain walking ----

say "1. chain walking: qemu-img info on $sample_size overlays, boxlite-chainwalk"
bx qemu --runs 3 --warmup 5 --each "$M/sample" -- qemu-img info -U --backing-chain --output=json {}
bx cw_each --runs 3 --warmup 5 --each "$M/sample" -- "$chainwalk" --json {}
mapfile -t sample_paths <"$M/sample"
bx cw_sample --runs "$runs" -- "$chainwalk" --json "${sample_paths[@]}"
bx cw_home --runs 11 -- "$chainwalk" --json --home "$M/home"
note_load

# ---- 3. readers ----

say "3. readers: libqcow against the built-in reader"
{ cat "$M/sample"; find "$M/home/bases" -name '*.qcow2' | sort; } >"$M/layers"
"$reader" --rounds 11 "$M/layers" >"$T/res/reader" || die "reader-bench failed"
bx cw_home_builtin --runs 11 -- "$chainwalk" --json --reader builtin --home "$M/home"
bx cw_home_libqcow --runs 11 -- "$chainwalk" --json --reader libqcow --home "$M/home"
note_load

# ---- 2. GC against the floor ----

say "2. GC on $main_boxes boxes against the floor"
"$gc" --jobs 1 --home "$M/home" --dry-run --grace 1s --json 2>/dev/null | jq -r '.reclaimed[].path' | sort >"$M/gc-dry.list"
cmp -s "$M/gc-dry.list" "$M/orphans" || die "boxlite-gc --dry-run would not reclaim exactly the orphans"
bx floor --runs "$runs" -- "$floor" "$M/home"
bx floor_disks --runs "$runs" -- "$floor" --disks-only "$M/home"
bx gc_dry --runs "$runs" -- "$gc" --jobs 1 --home "$M/home" --dry-run --grace 1s
gc_real "$M" "$main_boxes" gc_real "$real_runs"
bx gc_second --runs "$runs" -- "$gc" --jobs 1 --home "$M/home" --grace 1s
# The program's own footprint: the same dry run on a home with nothing in it.
mkdir -p "$T/empty/images/disk-images" "$T/empty/boxes"
bx gc_empty --runs "$runs" -- "$gc" --jobs 1 --home "$T/empty" --dry-run --grace 1s
note_load

say "2. round by round: floor, one worker and two ($rounds rounds)"
# It checks each deleting run itself, and leaves the home with its orphans made again.
"$src/bench/gc-rounds.sh" "$build" "$M" "$rounds" "$T/res/rounds" || die "gc-rounds.sh failed"
note_load

say "8. the views of a home: boxlite-chainwalk --home and --usage next to a dry run"
"$src/bench/chainwalk-views.sh" "$build" "$T/res/views" >/dev/null || die "chainwalk-views.sh failed"
note_load

say "2. reports and plans of 100,000 entries ($plan_rounds rounds)"
mkdir -p "$T/plan"
"$src/bench/gc-plan.sh" "$build" "$T/plan" "$plan_rounds" "$T/res/plan" || die "gc-plan.sh failed"
rm -rf "$T/plan"
note_load

# ---- 7. profile ----

say "7. profile (perf)"
perf_ok=1
remake_orphans "$M" "$main_boxes"
if ! perf record -q -e cpu-clock -F 4000 -g -o "$T/perf-dry.data" -- \
        "$bexec" --runs 10 --warmup 0 -- "$gc" --jobs 1 --home "$M/home" --dry-run --grace 1s >/dev/null 2>"$T/perf.err"; then
        perf_ok=0
fi
if [ "$perf_ok" = 1 ]; then
        # Deleting runs: the loop makes the orphans again between them; only boxlite-gc's samples are read.
        perf record -q -e cpu-clock -F 4000 -g -o "$T/perf-real.data" -- bash -c '
                for i in 1 2 3; do
                        "$0" --base-template "$1/via-template.qcow2" --bases "$2" --via-base "$3" --orphans "$4" \
                                --images-only "$1/disk-template.qcow2" "$1/home" "$5" "$6" >/dev/null
                        sleep 1.1
                        "$7" --jobs 1 --home "$1/home" --grace 1s >/dev/null 2>&1
                done' "$gen" "$M" "$m_bases" "$via_pct" "$orphan_pct" "$main_boxes" "$((main_boxes / 2))" "$gc" \
                >/dev/null 2>>"$T/perf.err" || perf_ok=0
        check_deleted "$M"
fi
# perf_summary DATA PREFIX: kernel/user shares, system call shares, top symbols.
perf_summary() {
        perf report -i "$1" --comm boxlite-gc --percentage relative --no-children --sort sym -g none \
                --percent-limit 0 --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' >"$T/res/$2.self" || true
        # Every sample once: in the kernel, under which system call (the __x64_sys_ frame of its
        # stack, else the libc wrapper that entered the kernel), a page fault or other work;
        # in user space, in which object.
        perf script -i "$1" --comm boxlite-gc -F comm,ip,sym,dso 2>/dev/null | awk '
                function wrapper(n) {
                        if (n ~ /getdents/) return "getdents64"
                        if (n ~ /fstatat/) return "newfstatat"
                        if (n ~ /pread/) return "pread64"
                        if (n ~ /openat|open64/) return "openat"
                        if (n ~ /renameat/) return "renameat2"
                        if (n ~ /unlinkat/) return "unlinkat"
                        if (n ~ /statx/) return "statx"
                        if (n ~ /close/) return "close"
                        if (n ~ /fcntl/) return "fcntl"
                        if (n ~ /write/) return "write"
                        if (n ~ /fsync/) return "fsync"
                        return ""
                }
                function flush(  i, c) {
                        if (nf == 0)
                                return
                        total++
                        c = ""
                        if (kern[1]) {
                                for (i = 1; i <= nf && c == ""; i++)
                                        if (kern[i] && sym[i] ~ /^(__x64_sys_|__do_sys_)/) {
                                                c = sym[i]
                                                sub(/^(__x64_sys_|__do_sys_)/, "", c)
                                                c = "sys " c
                                        }
                                for (i = 1; i <= nf && c == ""; i++)
                                        if (kern[i] && sym[i] ~ /page_fault/)
                                                c = "page faults"
                                for (i = 1; i <= nf; i++)
                                        if (!kern[i]) {
                                                if (c == "" && wrapper(sym[i]) != "")
                                                        c = "sys " wrapper(sym[i])
                                                break
                                        }
                                n["kernel\t" (c == "" ? "other kernel work" : c)]++
                        } else {
                                if (dso[1] ~ /boxlite-gc/)
                                        c = "boxlite-gc"
                                else if (dso[1] ~ /libc\.so/)
                                        c = "libc"
                                else if (dso[1] ~ /ld-linux/)
                                        c = "ld.so (start-up)"
                                else
                                        c = "other"
                                n["user\t" c]++
                        }
                        nf = 0
                }
                /^[^ \t]/ { flush(); next }
                NF == 0 { flush(); next }
                { nf++; sym[nf] = $2; dso[nf] = $NF; kern[nf] = ($1 ~ /^ffffffff/) }
                END {
                        flush()
                        for (k in n)
                                printf "%.1f\t%s\n", 100 * n[k] / total, k
                }' >"$T/res/$2.cat"
        awk -F'\t' '$2 == "kernel" { k += $1 } $2 == "user" { u += $1 } END { printf "%.0f %.0f\n", k, u }' \
                "$T/res/$2.cat" >"$T/res/$2.split"
}
if [ "$perf_ok" = 1 ]; then
        perf_summary "$T/perf-dry.data" perf_dry
        perf_summary "$T/perf-real.data" perf_real
fi
note_load

# ---- 5. growth: the extra disk-images point, then the main home goes ----

say "5. growth: disk-images x4 on the main home"
extra_images=$((m_images * 3))
"$gen" --images-only --orphans "$orphan_pct" "$M/disk-template.qcow2" "$M/home" 0 $((m_images * 4)) >/dev/null
sleep 1.1
bx gc_dry_x4 --runs 11 -- "$gc" --jobs 1 --home "$M/home" --dry-run --grace 1s
size_du_10k="$(cat "$M/du-kib")"
size_gen_10k="$(cat "$M/gen-ms")"
rm -rf "$M/home"
note_load

# ---- the operator's home: the pipeline, and the first point of the growth series ----

O="$T/op"
mkdir -p "$O"
say "generating the operator's home: $op_boxes boxes"
make_home "$O" "$op_boxes"
counts "$O"
o_overlays=$c_overlays o_bases=$c_bases o_via=$c_via o_images=$c_images o_orphans=$c_orphans
o_walked=$((o_overlays + o_bases))
say "2. the operator's pipeline on $op_boxes boxes"
"$operator" --dry-run --grace-min 1 "$O/home" >"$O/op-dry.list"
cmp -s "$O/op-dry.list" "$O/orphans" || die "the operator's pipeline would not delete exactly the orphans"
"$gc" --jobs 1 --home "$O/home" --dry-run --grace 1s --json 2>/dev/null | jq -r '.reclaimed[].path' | sort >"$O/gc-dry.list"
cmp -s "$O/gc-dry.list" "$O/op-dry.list" || die "boxlite-gc and the operator's pipeline disagree"
bx op_dry --runs 3 --warmup 0 -- "$operator" --dry-run --grace-min 1 "$O/home"
bx op_floor --runs "$runs" -- "$floor" "$O/home"
bx op_gc_dry --runs "$runs" -- "$gc" --jobs 1 --home "$O/home" --dry-run --grace 1s
gc_real "$O" "$op_boxes" op_gc_real "$real_runs"
remake_orphans "$O" "$op_boxes"
bx op_real --runs 1 --warmup 0 -- "$operator" --grace-min 1 "$O/home"
check_deleted "$O"
bx op_gc_second --runs "$runs" -- "$gc" --jobs 1 --home "$O/home" --grace 1s

# ---- 6. system calls, on this home: counts per overlay do not depend on the size, tracing time does ----

say "6. system calls (strace -c -f)"
remake_orphans "$O" "$op_boxes"
strace_count st_floor "$floor" "$O/home"
strace_count st_dry "$gc" --jobs 1 --home "$O/home" --dry-run --grace 1s
strace_count st_real "$gc" --jobs 1 --home "$O/home" --grace 1s
check_deleted "$O"
strace_count st_second "$gc" --jobs 1 --home "$O/home" --grace 1s
strace_count st_cw "$chainwalk" --json --home "$O/home"
head -20 "$O/sample" >"$O/sample20"
strace_count st_qemu "$bexec" --runs 1 --warmup 0 --each "$O/sample20" -- \
        qemu-img info -U --backing-chain --output=json {}

# Which system calls go to walking overlays and which to disk-images (strace -y names each fd).
remake_orphans "$O" "$op_boxes"
strace -f -y -o "$T/floor.log" "$floor" "$O/home" >/dev/null
strace -f -y -o "$T/dry.log" "$gc" --jobs 1 --home "$O/home" --dry-run --grace 1s >/dev/null 2>&1
phases "$T/floor.log" >"$T/res/ph_floor"
phases "$T/dry.log" >"$T/res/ph_dry"
rm -f "$T/floor.log" "$T/dry.log"
size_du_1k="$(cat "$O/du-kib")"
size_gen_1k="$(cat "$O/gen-ms")"

# The operator's pipeline under strace, on a home of 50 boxes.
S="$T/small"
mkdir -p "$S"
make_home "$S" 50
counts "$S"
s_walked=$((c_overlays + c_bases))
strace_count st_op "$operator" --dry-run --grace-min 1 "$S/home"
rm -rf "$S"
rm -rf "$O/home"
note_load

# ---- 5. growth: 50k ----

B="$T/big"
mkdir -p "$B"
say "5. growth: generating $big_boxes boxes"
make_home "$B" "$big_boxes"
counts "$B"
b_overlays=$c_overlays b_bases=$c_bases b_via=$c_via b_images=$c_images b_orphans=$c_orphans
b_walked=$((b_overlays + b_bases))
bx big_floor --runs 7 -- "$floor" "$B/home"
bx big_dry --runs 7 -- "$gc" --jobs 1 --home "$B/home" --dry-run --grace 1s
gc_real "$B" "$big_boxes" big_real 3
bx big_second --runs 7 -- "$gc" --jobs 1 --home "$B/home" --grace 1s
size_du_50k="$(cat "$B/du-kib")"
size_gen_50k="$(cat "$B/gen-ms")"
rm -rf "$B/home"
note_load

# ---- 4. admission ----

say "4. admission: boxlite-admit against /bin/true"
admit_status=0
"$src/bench/admit-bench.sh" "$admit" "$admit_floor" "$T/admit.md" >/dev/null 2>&1 || admit_status=$?
note_load

machine_busy_after="$(cpu_busy)"
load_after="$(loadavg)"

# ---- figures ----

say "writing the report"
per() { # per NAME COUNT: median per item, in µs
        calc "$(kv "$1" median_us) / $2" 3
}
qemu_per="$(kv qemu median_us)"
cw_home_per="$(per cw_home "$m_overlays")"
cw_sample_per="$(per cw_sample "$sample_size")"
cw_each_per="$(kv cw_each median_us)"
cw_builtin_per="$(per cw_home_builtin "$m_overlays")"
cw_libqcow_per="$(per cw_home_libqcow "$m_overlays")"
ratio_cw="$(calc "$qemu_per / $cw_home_per" 0)"

for n in floor floor_disks gc_dry gc_real gc_second; do
        eval "${n}_us=$(kv "$n" median_us)"
done
r_dry="$(calc "$gc_dry_us / $floor_us")"
r_real="$(calc "$gc_real_us / $floor_us")"
r_second="$(calc "$gc_second_us / $floor_us")"
r_dry_d="$(calc "$gc_dry_us / $floor_disks_us")"
r_real_d="$(calc "$gc_real_us / $floor_disks_us")"
r_second_d="$(calc "$gc_second_us / $floor_disks_us")"

op_dry_per="$(per op_dry "$o_walked")"
op_real_per="$(per op_real "$o_walked")"
gc_dry_per="$(calc "$gc_dry_us / $m_walked" 3)"
gc_real_per="$(calc "$gc_real_us / $m_walked" 3)"
op_gc_dry_per="$(per op_gc_dry "$o_walked")"
op_gc_real_per="$(per op_gc_real "$o_walked")"
r_op_dry="$(calc "$op_dry_per / $gc_dry_per" 0)"
r_op_real="$(calc "$op_real_per / $gc_real_per" 0)"
r_op_dry_same="$(calc "$op_dry_per / $op_gc_dry_per" 0)"
r_op_real_same="$(calc "$op_real_per / $op_gc_real_per" 0)"

rd_open="$(kv reader open_ns)" rd_builtin="$(kv reader builtin_ns)" rd_libqcow="$(kv reader libqcow_ns)"
rd_wb="$(kv reader walk_builtin_ns)" rd_wl="$(kv reader walk_libqcow_ns)" rd_wa="$(kv reader walk_auto_ns)"
rd_layers="$(kv reader layers)"

# Growth: x = overlays walked (boxes' overlays and bases); images grow with them (one per four overlays).
{
        echo "$o_walked $(kv op_gc_dry median_us) $(kv op_gc_dry median_rss_kib) $(kv op_gc_real median_us) $(kv op_gc_real median_rss_kib) $(kv op_gc_second median_us)"
        echo "$m_walked $gc_dry_us $(kv gc_dry median_rss_kib) $gc_real_us $(kv gc_real median_rss_kib) $gc_second_us"
        echo "$b_walked $(kv big_dry median_us) $(kv big_dry median_rss_kib) $(kv big_real median_us) $(kv big_real median_rss_kib) $(kv big_second median_us)"
} >"$T/res/growth"
# fit COLUMN: slope intercept r2 of column COLUMN against column 1
fit() {
        awk -v c="$1" '{ x = $1; y = $c; n++; sx += x; sy += y; sxx += x * x; sxy += x * y; syy += y * y }
                END {
                        b = (n * sxy - sx * sy) / (n * sxx - sx * sx); a = (sy - b * sx) / n
                        r = (n * sxy - sx * sy) / sqrt((n * sxx - sx * sx) * (n * syy - sy * sy))
                        printf "%.6f %.1f %.5f\n", b, a, r * r }' "$T/res/growth"
}
read -r dry_slope dry_icpt dry_r2 <<<"$(fit 2)"
read -r dryrss_slope dryrss_icpt dryrss_r2 <<<"$(fit 3)"
read -r real_slope real_icpt real_r2 <<<"$(fit 4)"
read -r realrss_slope realrss_icpt realrss_r2 <<<"$(fit 5)"
read -r second_slope second_icpt second_r2 <<<"$(fit 6)"
dry_b_per_overlay="$(calc "$dryrss_slope * 1024" 0)"
real_b_per_overlay="$(calc "$realrss_slope * 1024" 0)"
b_per_image="$(calc "($(kv gc_dry_x4 median_rss_kib) - $(kv gc_dry median_rss_kib)) * 1024 / $extra_images" 0)"
us_per_image="$(calc "($(kv gc_dry_x4 median_us) - $gc_dry_us) / $extra_images" 3)"
img_per_overlay="$(calc "$m_images / $m_walked" 4)"

# System calls.
st_per() { # st_per NAME COUNT
        calc "$(cat "$T/res/$1.calls") / $2" 2
}
ph() { # ph NAME PHASE [SYSCALL]: count
        awk -v p="$2" -v s="${3:-}" '$1 == p && (s == "" || $2 == s) { n += $3 } END { print n + 0 }' "$T/res/$1"
}
ph_table() { # ph_table PHASE DIVISOR-FLOOR DIVISOR-GC
        awk -v p="$1" '$1 == p { print $2 }' "$T/res/ph_floor" "$T/res/ph_dry" | sort -u | while read -r s; do
                f="$(ph ph_floor "$1" "$s")" g="$(ph ph_dry "$1" "$s")"
                awk "BEGIN { exit !($f / $2 >= 0.005 || $g / $3 >= 0.005) }" || continue
                printf '| `%s` | %s | %s |\n' "$s" "$(calc "$f / $2")" "$(calc "$g / $3")"
        done
}

# 3 per file read, 1 per disk-image, 4 per directory: boxes/, bases/, disk-images/, and two per box.
min_calls=$((3 * o_walked + o_images + 4 * (2 * op_boxes + 3)))

wall_total="$(elapsed)"
load_min="$(printf '%s\n' "${loads[@]}" | sort -g | head -1)"
load_max="$(printf '%s\n' "${loads[@]}" | sort -g | tail -1)"

# ---- the report ----

# rs NAME KEY: a value of a gc-rounds.sh summary line.
rs() {
        sed -n "s/^summary $1 .*\<$2=\([^ ]*\).*/\1/p" "$T/res/rounds"
}
pk() {
        sed -n "s/.*\<$1=\([^ ]*\).*/\1/p" "$T/res/plan" | head -1
}
# core_free NAME: the two-worker figure over the rounds that had a second core free.
core_free() {
        local c
        c="$(rs "$1" ratio_core_free)"
        if [ "$c" = none ]; then
                echo "no round had a second core free (all rounds: $(rs "$1" ratio)x, $(rs "$1" ratio_min)-$(rs "$1" ratio_max))"
        else
                echo "**${c}x** (core free in $(rs "$1" second_core_free) of $(rs "$1" n) rounds; all rounds: $(rs "$1" ratio)x, $(rs "$1" ratio_min)-$(rs "$1" ratio_max))"
        fi
}
core_free_met() {
        local c
        c="$(rs "$1" ratio_core_free)"
        if [ "$c" = none ]; then echo "not measured"; else yes_no "$c <= $2"; fi
}
rss_total_b="$(calc "$(rs dry1 rss_kib) * 1024 / $m_walked" 0)"
rss_own_b="$(calc "($(rs dry1 rss_kib) - $(kv gc_empty median_rss_kib)) * 1024 / $m_walked" 0)"
# row NAME LABEL: one row of the round-by-round table.
row() {
        echo "| $2 | $(fmt_us "$(rs "$1" median_us)") ($(fmt_us "$(rs "$1" min_us)")-$(fmt_us "$(rs "$1" max_us)")) | $(fmt_us "$(rs "$1" floor_median_us)") | **$(rs "$1" ratio)x** ($(rs "$1" ratio_min)-$(rs "$1" ratio_max)) | $(rs "$1" second_core_free) of $(rs "$1" n) | $(rs "$1" ratio_core_free) | $(fmt_kib "$(rs "$1" rss_kib)") |"
}

R="$T/report.md"
{
cat <<EOF
<!-- SPDX-License-Identifier: LGPL-2.1-or-later -->

# Benchmarks

Generated by \`bench/run-all.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); every figure and ratio
below comes from that one run (medians of the runs stated), each ratio
against a baseline measured in the same run. Do not edit by hand: run it again.

## How to run

\`\`\`sh
bench/run-all.sh [BUILD_DIR [REPORT]]    # default build-bench, docs/BENCHMARKS.md
# or, from a release build directory:
meson setup build-bench -Dbuildtype=release
meson test -C build-bench --benchmark all
\`\`\`

\`run-all.sh\` installs what is missing with \`tools/install-deps\`, sets up
and builds a release build, makes the homes under \`/tmp\` (the normal disk,
warm cache), measures, writes this file and removes the homes. It runs as
root here (perf reads kernel symbols). **This run took $((wall_total / 60)) min $((wall_total % 60)) s
of wall time** (the limit is 10 minutes), of which ${build_s} s installing and building.

## Machine

| | |
|---|---|
| CPU | $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores$(lscpu | grep -q '^Hypervisor vendor' && echo ", $(lscpu | sed -n 's/^Hypervisor vendor: *//p') guest") |
| memory | $(free -g | awk '/^Mem:/ { print $2 }') GiB |
| kernel | $(uname -r) |
| OS | Debian $(cat /etc/debian_version) |
| \`/tmp\` | $(findmnt -n -o FSTYPE -T /tmp) on $(findmnt -n -o SOURCE -T /tmp) |
| build | \`$buildtype\` ($(meson introspect "$build" --buildoptions | jq -r '.[] | select(.name == "optimization") | "-O" + .value')), $(gcc --version | head -1) |
| tools | $(qemu-img --version | head -1), libqcow $(dpkg-query -W -f='${Version}' libqcow1 2>/dev/null || echo '?'), $(strace -V | head -1), perf $(perf --version | awk '{ print $3 }'), $(hyperfine --version) |
| load | load average $load_before before the run, $load_after after, 1-minute value $load_min-$load_max during it; the whole machine was ${machine_busy_before} % busy in the second before the run and ${machine_busy_after} % after it (this script idle) |

The machine is shared with other work, so wall times carry noise; the
ratios, each of two programs measured minutes apart at most, move less.

## Summary

Round by round (section 2, $rounds rounds; each ratio against the floor measured in the same round):

| target | measured | |
|---|---|---|
| dry run, $(num "$main_boxes") boxes, one worker: at most 1.3x the floor | **$(rs dry1 ratio)x** ($(rs dry1 ratio_min)-$(rs dry1 ratio_max)) | $(yes_no "$(rs dry1 ratio) <= 1.3") |
| the same, two workers, second core free: at most 1.0x | $(core_free dry2) | $(core_free_met dry2 1.0) |
| real run deleting $(num "$m_orphans"), one worker: at most 2.1x | **$(rs real1 ratio)x** ($(rs real1 ratio_min)-$(rs real1 ratio_max)) | $(yes_no "$(rs real1 ratio) <= 2.1") |
| the same, two workers, second core free: at most 1.5x | $(core_free real2) | $(core_free_met real2 1.5) |
| peak RSS at most 250 bytes per overlay walked (dry run, one worker) | **$(num "$rss_total_b") bytes** of peak RSS per overlay ($(fmt_kib "$(rs dry1 rss_kib)") for $(num "$m_walked")); $(num "$rss_own_b") bytes beyond the program's own $(fmt_kib "$(kv gc_empty median_rss_kib)") on an empty home | $(yes_no "$rss_total_b <= 250") |
| \`--json\` with $(num "$(pk entries)") entries: at most 500 bytes per entry | **$(pk json_bytes_per_entry) bytes** ($(fmt_kib "$(pk json_rss_kib)") peak) | $(yes_no "$(pk json_bytes_per_entry) <= 500") |
| \`--apply-plan\` of $(num "$(pk planned)") images: at most 1.2x a real run of the same home | **$(pk apply_ratio)x** ($(fmt_us "$(pk apply_us)") against $(fmt_us "$(pk real_us)")) | $(yes_no "$(pk apply_ratio) <= 1.2") |

Other targets (repeated runs, one worker):

| target | measured | |
|---|---|---|
| chain walking at least 100x faster per overlay than \`qemu-img info --backing-chain\` | **${ratio_cw}x** ($(fmt_us "$cw_home_per") against $(fmt_us "$qemu_per") per overlay) | $(yes_no "$ratio_cw >= 100") |
| GC pass on $(num "$main_boxes") boxes within 2x of the header-read floor: dry run | **${r_dry}x** | $(yes_no "$r_dry <= 2") |
| the same, real run with nothing to delete | **${r_second}x** | $(yes_no "$r_second <= 2") |
| the same, real run deleting $(num "$m_orphans") orphans (a walk and a recheck) | **${r_real}x** | $(yes_no "$r_real <= 2"), see [7](#7-where-the-time-goes) |
| GC at least 50x faster than the operator's \`find \| qemu-img info \| rm\` pipeline, per overlay | **${r_op_dry}x** dry run, **${r_op_real}x** real run | $(yes_no "$r_op_dry >= 50 && $r_op_real >= 50") |
| memory linear in overlays and images, small constant | $(num "$dry_b_per_overlay") bytes per overlay walked (dry run, R² $dryrss_r2); at most $(num "$b_per_image") bytes per disk-image | $(yes_no "$dryrss_r2 >= 0.99 && $dry_b_per_overlay < 1024") |
| GC time linear in the home | $(calc "$dry_slope" 2) µs per overlay walked (dry run, R² $dry_r2) | $(yes_no "$dry_r2 >= 0.99") |

## The homes

\`bench/gen-home\` writes a home in seconds. Every overlay is a byte copy of
a template that \`qemu-img create\` made (cluster size 512, so a file is
1,792 bytes), with only the variable part of the backing name changed, so
each header is exactly what qemu-img writes; \`qemu-img check\` passes on a
sample of every home, and for each of the $agree overlays of the main home's
sample \`qemu-img info --backing-chain\` and \`boxlite-chainwalk --json\` list
the same layers. Per home of N boxes:

- N boxes, each with \`disks/disk.qcow2\` and \`disks/guest-rootfs.qcow2\`;
- N/100 bases \`bases/base-<n>.qcow2\`, each a qcow2 backing onto a disk-image;
  the \`disk.qcow2\` of ${via_pct} % of the boxes backs onto a base, so their chain is
  overlay -> base -> disk-image, the others' overlay -> disk-image;
- N/2 disk-images (sparse 1 MiB \`*.ext4\`, mtime a day back), ${orphan_pct} % of them orphans
  (no chain references them; the generator writes the exact list, and every
  real run below is checked against it: all orphans gone, all others kept).

| boxes | overlays (boxes) | bases | chains through a base | disk-images | orphans | on disk | generated in |
|---|---|---|---|---|---|---|---|
| $(num "$op_boxes") | $(num "$o_overlays") | $(num "$o_bases") | $(num "$o_via") | $(num "$o_images") | $(num "$o_orphans") | $(fmt_kib "$size_du_1k") | $(calc "$size_gen_1k / 1000") s |
| $(num "$main_boxes") | $(num "$m_overlays") | $(num "$m_bases") | $(num "$m_via") | $(num "$m_images") | $(num "$m_orphans") | $(fmt_kib "$size_du_10k") | $(calc "$size_gen_10k / 1000") s |
| $(num "$big_boxes") | $(num "$b_overlays") | $(num "$b_bases") | $(num "$b_via") | $(num "$b_images") | $(num "$b_orphans") | $(fmt_kib "$size_du_50k") | $(calc "$size_gen_50k / 1000") s |

Timings use \`bench/bench-exec\`, which starts the program directly
(\`posix_spawn\`, no shell), takes the wall time from spawn to reaping and
the peak RSS and CPU times from \`wait4()\`; output goes to \`/dev/null\`
(the GC's log lines included: \`BOXLITE_LOG_TARGET=stderr\`, so no journal
write is timed). Each measurement starts with a warm-up run.

## 1. Chain walking

On the $(num "$main_boxes")-box home. \`qemu-img\` is timed on a fixed random
sample of $sample_size of its overlays (\`gen-home --seed 42\`; ${via_pct} % of
\`disk.qcow2\` go through a base), each run 3 times: the median of
$(kv qemu n) runs. \`boxlite-chainwalk --home\` walks all $(num "$m_overlays") overlays of
the home in one process (its time is divided by that number).

| what | per overlay (median) | ratio to qemu-img |
|---|---|---|
| \`qemu-img info -U --backing-chain --output=json OVERLAY\`, one process per overlay | $(fmt_us "$qemu_per") | 1 |
| \`boxlite-chainwalk --json OVERLAY\`, one process per overlay (same sample) | $(fmt_us "$cw_each_per") | $(calc "$qemu_per / $cw_each_per" 1)x faster |
| \`boxlite-chainwalk --json\` with the $sample_size sample overlays as arguments | $(fmt_us "$cw_sample_per") | $(calc "$qemu_per / $cw_sample_per" 0)x faster |
| \`boxlite-chainwalk --json --home HOME\` ($(num "$m_overlays") overlays) | $(fmt_us "$cw_home_per") | **$(calc "$qemu_per / $cw_home_per" 0)x faster** |

One process per overlay is dominated by starting a process and loading its
libraries: \`qemu-img\` links much of QEMU's block layer (its peak RSS is
$(fmt_kib "$(kv qemu median_rss_kib)") against $(fmt_kib "$(kv cw_each median_rss_kib)")). What an operator's loop costs per
overlay is the first line; what \`--home\` costs is the last.

## 2. A GC pass

### Against the floor, $(num "$main_boxes") boxes

\`bench/gc-floor\` is the least work any GC of the home must do: it lists
every directory under \`boxes/\` (a box keeps overlays in \`disks/\` and
\`snapshots/<name>/\`), opens each file there and in \`bases/\` and reads its
first 4 KiB, and stats every entry of \`images/disk-images/\`; each file once,
with \`getdents64\` and no \`opendir\`. It resolves, validates and keeps
nothing. \`--disks-only\` goes straight to \`boxes/<id>/disks/\`, i.e. it
assumes no snapshots exist, below what a correct GC may do; it is shown to
bound the ratio from the other side. Overlays walked: $(num "$m_walked") ($(num "$m_overlays") in boxes,
$(num "$m_bases") bases); disk-images: $(num "$m_images").

| run | median wall | per overlay walked | peak RSS | user / system CPU | ratio to floor | ratio to floor \`--disks-only\` |
|---|---|---|---|---|---|---|
| floor (n=$(kv floor n)) | $(fmt_us "$floor_us") | $(fmt_us "$(calc "$floor_us / $m_walked" 3)") | $(fmt_kib "$(kv floor median_rss_kib)") | $(fmt_us "$(kv floor user_us)") / $(fmt_us "$(kv floor sys_us)") | 1 | $(calc "$floor_us / $floor_disks_us") |
| floor \`--disks-only\` (n=$(kv floor_disks n)) | $(fmt_us "$floor_disks_us") | $(fmt_us "$(calc "$floor_disks_us / $m_walked" 3)") | $(fmt_kib "$(kv floor_disks median_rss_kib)") | $(fmt_us "$(kv floor_disks user_us)") / $(fmt_us "$(kv floor_disks sys_us)") | $(calc "$floor_disks_us / $floor_us") | 1 |
| \`boxlite-gc --dry-run\` (n=$(kv gc_dry n)) | $(fmt_us "$gc_dry_us") | $(fmt_us "$gc_dry_per") | $(fmt_kib "$(kv gc_dry median_rss_kib)") | $(fmt_us "$(kv gc_dry user_us)") / $(fmt_us "$(kv gc_dry sys_us)") | **$r_dry** | $r_dry_d |
| \`boxlite-gc\`, deletes $(num "$m_orphans") orphans (n=$(kv gc_real n)) | $(fmt_us "$gc_real_us") | $(fmt_us "$gc_real_per") | $(fmt_kib "$(kv gc_real median_rss_kib)") | $(fmt_us "$(kv gc_real user_us)") / $(fmt_us "$(kv gc_real sys_us)") | **$r_real** | $r_real_d |
| \`boxlite-gc\`, nothing to delete (n=$(kv gc_second n)) | $(fmt_us "$gc_second_us") | $(fmt_us "$(calc "$gc_second_us / $m_walked" 3)") | $(fmt_kib "$(kv gc_second median_rss_kib)") | $(fmt_us "$(kv gc_second user_us)") / $(fmt_us "$(kv gc_second sys_us)") | **$r_second** | $r_second_d |

Before each deleting run the orphans are made again and left to age past the
1 s grace (\`--grace 1s\`; their ctime is new); after it the script checks
that exactly the orphans are gone. The dry run's JSON \`reclaimed\` list
was checked to be exactly the generator's orphan list. All runs in this
section and below use one worker (\`--jobs 1\`) unless they say otherwise.

### Round by round: one worker and two

\`bench/gc-rounds.sh\`, $rounds rounds on the same home. A round runs the
floor, the dry run with one worker and with two, then twice: the orphans
made again and left 2.2 s (past the grace and the walk's racy window, as a
home at rest), the floor, a deleting run (one worker, then two; checked:
exactly the orphans went). Each run's ratio is against the floor of its own
round; the table gives the median over the rounds with the range. "Second
core free" counts the runs during which the rest of the machine used less
than half a core (CPU time from \`/proc/stat\` beyond the program's own,
over its wall time); the next column is the median ratio over those runs.

| run | median wall (range) | floor, median | ratio to floor (range) | second core free | ratio, core free | peak RSS |
|---|---|---|---|---|---|---|
$(row dry1 "\`--dry-run --jobs 1\`")
$(row dry2 "\`--dry-run --jobs 2\`")
$(row real1 "deleting $(num "$m_orphans"), \`--jobs 1\`")
$(row real2 "deleting $(num "$m_orphans"), \`--jobs 2\`")

The deleting run's second look is a recheck of what the first walk saw
(\`docs/gc-safety.md\`), not a second walk: it stats every directory and
overlay again and rereads only what its times cannot prove unchanged. Two
workers split \`boxes/\` between two threads, in the walk and in the
recheck; the image directory's scan, the renames and the unlinks stay on one.

### Reports and plans of 100,000 entries

\`bench/gc-plan.sh\`, $plan_rounds rounds, on a home of $(num "$main_boxes") boxes and 100,000
disk-images ($(num "$(pk planned)") of them orphans, so a report lists $(num "$(pk entries)") entries).
The plan is the dry run's \`--json\` report made right before it is applied.

| run | median wall | peak RSS | per entry |
|---|---|---|---|
| \`--dry-run\` | $(fmt_us "$(pk dry_us)") | $(fmt_kib "$(pk dry_rss_kib)") | $(calc "$(pk dry_rss_kib) * 1024 / $(pk entries)" 0) bytes |
| \`--dry-run --json\` | $(fmt_us "$(pk json_us)") | $(fmt_kib "$(pk json_rss_kib)") | **$(pk json_bytes_per_entry) bytes** |
| \`--apply-plan\` (deletes $(num "$(pk planned)")) | $(fmt_us "$(pk apply_us)") | $(fmt_kib "$(pk apply_rss_kib)") | |
| real run (deletes $(num "$(pk planned)")) | $(fmt_us "$(pk real_us)") | $(fmt_kib "$(pk real_rss_kib)") | |

The report is written entry by entry (no document is built in memory), so
\`--json\` costs what the dry run costs. The plan is matched by a binary
search on its sorted names: **$(pk apply_ratio)x** the real run. What it adds
is reading the plan: json-c builds the whole $(calc "$(pk plan_bytes) / 1048576" 1) MiB document
as a tree (the peak RSS above) before the run starts, and frees it before the
lock is taken.

### Against the operator's pipeline

\`bench/operator-gc.sh\` is the GC an operator would script:

\`\`\`sh
find HOME/boxes HOME/bases -name '*.qcow2' -type f -print0 |
        xargs -0 -r -n1 qemu-img info -U --backing-chain --output=json |
        jq -r '.[].filename' | xargs -r -d '\n' realpath -e -- | sort -u >pinned
find HOME/images/disk-images -maxdepth 1 -type f -name '*.ext4' -mmin +GRACE -print0 |
        xargs -0 -r realpath -e -- | sort >candidates
comm -23 candidates pinned >orphans
xargs -r -d '\n' rm -f -- <orphans      # not with --dry-run
\`\`\`

It takes a few milliseconds per overlay, so it runs on a home of
$(num "$op_boxes") boxes ($(num "$o_walked") overlays walked, $(num "$o_images") disk-images), where
\`boxlite-gc\` runs too; the per-overlay figures are that home's time divided
by the overlays walked. On that home its dry run, \`boxlite-gc --dry-run\`
and the generator agree on the $(num "$o_orphans") orphans, and its real run deleted
exactly them (checked as for \`boxlite-gc\`). It judges age by mtime alone
(\`-mmin +1\` here: the images are a day old), has no two-phase delete and
does not recheck before \`rm\` (see \`docs/gc-safety.md\` for why
\`boxlite-gc\` does).

| run | median wall | per overlay walked | vs \`boxlite-gc\` on the $(num "$op_boxes")-box home | vs \`boxlite-gc\` on the $(num "$main_boxes")-box home |
|---|---|---|---|---|
| operator, dry run (n=$(kv op_dry n)) | $(fmt_us "$(kv op_dry median_us)") | $(fmt_us "$op_dry_per") | ${r_op_dry_same}x slower | **${r_op_dry}x slower** |
| operator, real run (n=$(kv op_real n)) | $(fmt_us "$(kv op_real median_us)") | $(fmt_us "$op_real_per") | ${r_op_real_same}x slower | **${r_op_real}x slower** |
| \`boxlite-gc --dry-run\` (n=$(kv op_gc_dry n)) | $(fmt_us "$(kv op_gc_dry median_us)") | $(fmt_us "$op_gc_dry_per") | 1 | |
| \`boxlite-gc\`, deleting (n=$(kv op_gc_real n)) | $(fmt_us "$(kv op_gc_real median_us)") | $(fmt_us "$op_gc_real_per") | 1 | |

The pipeline is serial (\`xargs -n1\`); with \`xargs -P $(nproc)\` it would at best
divide its time by the $(nproc) cores, which does not change the order of magnitude.

## 3. What the reader costs

\`bench/reader-bench\` links the project's library and, on the same
$rd_layers qcow2 layers (the $sample_size sample overlays and every base),
opened once, times each reader per layer (median of 11 rounds, readers
alternating; both readers are first checked to agree on every layer):

| per layer | median |
|---|---|
| I/O any reader needs: \`open\`, \`fstat\`, \`pread\` 4 KiB, \`close\` | $(fmt_us "$(calc "$rd_open / 1000" 3)") |
| built-in strict reader, \`qcow_header_read()\` on an open file | $(fmt_us "$(calc "$rd_builtin / 1000" 3)") |
| libqcow, \`qcow_libqcow_read()\` on an open file (libqcow opens, reads its tables, closes) | $(fmt_us "$(calc "$rd_libqcow / 1000" 3)") |
| **libqcow / built-in** | **$(calc "$rd_libqcow / $rd_builtin" 1)x** |
| \`chain_walk()\` of an overlay, \`--reader builtin\` | $(fmt_us "$(calc "$rd_wb / 1000" 3)") |
| \`chain_walk()\` of an overlay, \`--reader libqcow\` | $(fmt_us "$(calc "$rd_wl / 1000" 3)") |
| \`chain_walk()\` of an overlay, \`--reader auto\` (the default: built-in validates, libqcow reads) | $(fmt_us "$(calc "$rd_wa / 1000" 3)") |

End to end, \`boxlite-chainwalk --json --home\` on the $(num "$m_overlays") overlays:

| \`--reader\` | median wall | per overlay | ratio to builtin |
|---|---|---|---|
| \`builtin\` | $(fmt_us "$(kv cw_home_builtin median_us)") | $(fmt_us "$cw_builtin_per") | 1 |
| \`libqcow\` | $(fmt_us "$(kv cw_home_libqcow median_us)") | $(fmt_us "$cw_libqcow_per") | $(calc "$cw_libqcow_per / $cw_builtin_per") |
| \`auto\` (default) | $(fmt_us "$(kv cw_home median_us)") | $(fmt_us "$cw_home_per") | $(calc "$cw_home_per / $cw_builtin_per") |

The GC uses the built-in reader only (\`chain_walk()\` with
\`QCOW_READER_BUILTIN\`); \`boxlite-chainwalk\` defaults to \`auto\`, so that
what it prints comes from libqcow wherever libqcow can read the image.

## 4. Admission

\`bench/admit-bench.sh\` (hyperfine, 1,000 runs each after 50 warm-ups):
one \`boxlite-admit\` run from start to exit, against \`/bin/true\` and
against \`bench/admit-floor\` (libsystemd loaded, one \`statvfs\`), without a
bus and with the \`Decided\` signal sent to a private \`dbus-daemon\`.

EOF
if [ "$admit_status" = 0 ] && [ -s "$T/admit.md" ]; then
        cat "$T/admit.md"
else
        echo "Not measured: \`admit-bench.sh\` exited with status $admit_status."
fi
cat <<EOF

## 5. Growth from $(num "${sizes[0]}") to $(num "$big_boxes") boxes

| boxes | overlays walked | disk-images | dry run | peak RSS | deleting run (orphans) | peak RSS | nothing to delete |
|---|---|---|---|---|---|---|---|
| $(num "$op_boxes") | $(num "$o_walked") | $(num "$o_images") | $(fmt_us "$(kv op_gc_dry median_us)") | $(fmt_kib "$(kv op_gc_dry median_rss_kib)") | $(fmt_us "$(kv op_gc_real median_us)") ($(num "$o_orphans")) | $(fmt_kib "$(kv op_gc_real median_rss_kib)") | $(fmt_us "$(kv op_gc_second median_us)") |
| $(num "$main_boxes") | $(num "$m_walked") | $(num "$m_images") | $(fmt_us "$gc_dry_us") | $(fmt_kib "$(kv gc_dry median_rss_kib)") | $(fmt_us "$gc_real_us") ($(num "$m_orphans")) | $(fmt_kib "$(kv gc_real median_rss_kib)") | $(fmt_us "$gc_second_us") |
| $(num "$big_boxes") | $(num "$b_walked") | $(num "$b_images") | $(fmt_us "$(kv big_dry median_us)") | $(fmt_kib "$(kv big_dry median_rss_kib)") | $(fmt_us "$(kv big_real median_us)") ($(num "$b_orphans")) | $(fmt_kib "$(kv big_real median_rss_kib)") | $(fmt_us "$(kv big_second median_us)") |

Medians of $runs runs ($(num "$op_boxes") and $(num "$main_boxes") boxes) and 7 runs ($(num "$big_boxes")); deleting
runs $real_runs, $real_runs and 3. The floor on $(num "$big_boxes") boxes: $(fmt_us "$(kv big_floor median_us)"), so the dry
run there is at $(calc "$(kv big_dry median_us) / $(kv big_floor median_us)")x of it.

Least-squares fits against the overlays walked (the disk-images grow with
them, one per $(calc "1 / $img_per_overlay" 1) overlays walked):

| | slope | intercept | R² |
|---|---|---|---|
| dry run, time | **$(calc "$dry_slope" 3) µs per overlay** | $(fmt_us "$dry_icpt") | $dry_r2 |
| deleting run, time | $(calc "$real_slope" 3) µs per overlay | $(fmt_us "$real_icpt") | $real_r2 |
| nothing to delete, time | $(calc "$second_slope" 3) µs per overlay | $(fmt_us "$second_icpt") | $second_r2 |
| dry run, peak RSS | **$(num "$dry_b_per_overlay") bytes per overlay** | $(fmt_kib "$dryrss_icpt") | $dryrss_r2 |
| deleting run, peak RSS | $(num "$real_b_per_overlay") bytes per overlay | $(fmt_kib "$realrss_icpt") | $realrss_r2 |

Peak RSS grows by $(num "$dry_b_per_overlay") bytes per overlay walked in a dry run (and
$(num "$real_b_per_overlay") in a deleting run, which also keeps the list of what it moved
aside); with the disk-images in fixed proportion, that includes a quarter of
a disk-image's share. To see a disk-image's own share, the $(num "$main_boxes")-box home
was given $(num "$extra_images") more disk-images (orphans, past the grace) and dry-run
again (n=$(kv gc_dry_x4 n)): peak RSS $(fmt_kib "$(kv gc_dry_x4 median_rss_kib)") and $(fmt_us "$(kv gc_dry_x4 median_us)"), i.e. **$(num "$b_per_image") bytes and
$(fmt_us "$us_per_image") per disk-image** (an orphan: its entry in the report, its in-use
check, its log line). That is an upper bound: the GC keeps one report entry
per disk-image (path, name, stat fields) in arrays that grow by doubling,
and this step crossed a doubling. An overlay leaves behind only identities
in the pinned set: its chain is freed as soon as it is walked, and the set
holds each pinned file's device and inode in an open-addressing table kept
at most half full. The intercept is the process itself: the binary, libc,
libsystemd, libqcow and json-c mapped in.

## 6. System calls

\`strace -c -f\`, one run each, on the $(num "$op_boxes")-box home ($(num "$o_walked") overlays walked,
$(num "$o_images") disk-images, $(num "$o_orphans") orphans; the counts per overlay do not depend on the
size of the home, the time strace takes does):

| program | system calls | per overlay walked, everything included |
|---|---|---|
| minimum the job needs (see below): 3 per overlay or base, 1 per disk-image, 4 per directory | $(num "$min_calls") | $(calc "$min_calls / $o_walked") |
| floor | $(num "$(cat "$T/res/st_floor.calls")") | $(st_per st_floor "$o_walked") |
| \`boxlite-gc --dry-run\` | $(num "$(cat "$T/res/st_dry.calls")") | $(st_per st_dry "$o_walked") |
| \`boxlite-gc\`, deleting $(num "$o_orphans") | $(num "$(cat "$T/res/st_real.calls")") | $(st_per st_real "$o_walked") |
| \`boxlite-gc\`, nothing to delete | $(num "$(cat "$T/res/st_second.calls")") | $(st_per st_second "$o_walked") |
| \`boxlite-chainwalk --json --home\` | $(num "$(cat "$T/res/st_cw.calls")") | $(st_per st_cw "$o_overlays") (per overlay in boxes) |
| \`qemu-img info -U --backing-chain\`, 20 sample overlays, one process each | $(num "$(cat "$T/res/st_qemu.calls")") | $(st_per st_qemu 20) |
| \`operator-gc.sh --dry-run\` on a home of 50 boxes | $(num "$(cat "$T/res/st_op.calls")") | $(st_per st_op "$s_walked") |

The deleting run adds, per orphan, its move aside and its unlink:
$(num "$(syscalls_of st_real renameat2)") \`renameat2\` and $(num "$(syscalls_of st_real unlinkat)") \`unlinkat\`, and the recheck of what the walk saw (an \`openat(O_PATH)\` and an \`fstat\` per
directory, an \`fstatat\` per overlay and per layer reached by name).

Split per overlay and per disk-image with \`strace -f -y\` (which names every
file descriptor) on the same home: the walk phase runs from the first
call that touches \`boxes/\` until the disk-image directory is listed, the
image phase from there to the exit. Divided by the $(num "$o_walked") overlays walked
and the $(num "$o_images") disk-images ($(num "$o_orphans") orphans):

| per overlay walked (directory listings included) | floor | \`boxlite-gc --dry-run\` |
|---|---|---|
$(ph_table walk "$o_walked" "$o_walked")
| **all** | **$(calc "$(ph ph_floor walk) / $o_walked")** | **$(calc "$(ph ph_dry walk) / $o_walked")** |

| per disk-image | floor | \`boxlite-gc --dry-run\` |
|---|---|---|
$(ph_table images "$o_images" "$o_images")
| **all** | **$(calc "$(ph ph_floor images) / $o_images")** | **$(calc "$(ph ph_dry images) / $o_images")** |

The minimum the job needs: per overlay, \`openat\`, \`pread64\`, \`close\` to
read its header (3), plus its share of the directory listings (\`openat\`,
\`getdents64\` until it returns 0, \`close\`: 4 per directory, two
directories per box, so 4 per overlay): **7 per overlay**; per disk-image,
one \`stat\` (**1**), plus its share of one listing. The floor program does
exactly that. \`boxlite-gc\` adds per overlay an \`fstat\` of the open file (its
type, so a FIFO or device cannot pass for an image; its size, for the bounds
checks; its identity, which pins a hard-linked alias) and the proof of its
directory (one \`fstat\` when the directory's walk ends: two directories per
box, so about one per overlay). Each distinct backing name is resolved once
per walk (opened, \`fstat\`ed, read if it is a qcow layer: the pinned set is
compared by device and inode, not by name), and a chain that reaches a base
already resolved ends there: the rest of its chain is pinned. Per disk-image it
adds, for an orphan only, \`openat\` + \`fcntl(F_OFD_GETLK)\` + \`close\` (is a
running QEMU holding it?) and one \`write\` (its log line).

## 7. Where the time goes

EOF
if [ "$perf_ok" = 1 ]; then
        read -r k_dry u_dry <"$T/res/perf_dry.split"
        read -r k_real u_real <"$T/res/perf_real.split"
        cat <<EOF
\`perf record -e cpu-clock -F 4000 -g\`, boxlite-gc's samples only: 10 dry
runs, and 3 deleting runs (orphans made again in between), on the
$(num "$main_boxes")-box home.

Every sample once, by where it was: in the kernel, under which system call
(the \`__x64_sys_\` frame of its kernel stack, else the libc wrapper that
entered the kernel), in a page fault, or elsewhere; in user space, by object:

| where | dry run | deleting run |
|---|---|---|
$(cut -f2- "$T/res/perf_dry.cat" "$T/res/perf_real.cat" | sort -u | while IFS=$'\t' read -r kind what; do
        d="$(awk -F'\t' -v k="$kind" -v w="$what" '$2 == k && $3 == w { print $1 }' "$T/res/perf_dry.cat")"
        r="$(awk -F'\t' -v k="$kind" -v w="$what" '$2 == k && $3 == w { print $1 }' "$T/res/perf_real.cat")"
        printf '%s\t%s\t%s\t%s\n' "$kind" "${r:-0}" "${d:-0}" "$what"
done | sort -t$'\t' -k1,1 -k2,2gr | awk -F'\t' '
        $3 >= 0.1 || $2 >= 0.1 {
                w = $4
                if (w ~ /^sys /) w = "system call `" substr(w, 5) "`"
                printf "| %s, %s | %s %% | %s %% |\n", $1, w, $3, $2
        }')
| **kernel, all** | **${k_dry} %** | **${k_real} %** |
| **user space, all** | **${u_dry} %** | **${u_real} %** |

Rows under 0.1 % in both runs are left out.

Top symbols by own time, dry run:

| share | symbol |
|---|---|
$(head -15 "$T/res/perf_dry.self" | awk '{ printf "| %s | `%s` %s |\n", $1, $3, $2 }')

Top symbols by own time, deleting run:

| share | symbol |
|---|---|
$(head -15 "$T/res/perf_real.self" | awk '{ printf "| %s | `%s` %s |\n", $1, $3, $2 }')

EOF
else
        echo "Not profiled: \`perf record\` failed ($(head -1 "$T/perf.err"))."
        echo
fi
cat <<EOF
**Dry run, and a real run with nothing to delete (${r_dry}x and ${r_second}x of the
floor; target 2x):** met. Nearly all of the time is the kernel's: path
lookups, opening files, listing directories. What the GC does beyond the
floor is the extra system calls of section 6: the \`fstat\` of each overlay,
the proof of each directory, one resolution per distinct backing name (in a
directory of $(num "$m_images") entries), and per orphan the lock query and
the log line. User space (header validation, chain bookkeeping, the pinned
set and the name cache, the log lines) is the small share above.

**Deleting run (${r_real}x of the floor with one worker; target 2x):** $(yes_no "$r_real <= 2" | tr -d '*').
The delete is two-phase (\`docs/gc-safety.md\`): the orphans are renamed
aside, the home is looked at again so that an image that became referenced
while the GC ran (a box started from it) is put back rather than lost, and
only then are the aside files unlinked. The second look is a recheck of the
first walk's log, one \`fstatat\` per directory and file it saw, with no
file opened or read again unless its times cannot prove it unchanged; on
this home at rest none is. Measured, the deleting run takes
$(calc "$gc_real_us / $gc_dry_us") times the dry run; what it spends beyond one dry run,
$(fmt_us "$(calc "$gc_real_us - $gc_dry_us" 0)") for $(num "$m_orphans") orphans, is that recheck, the
\`statx\` before and after each rename, the \`renameat2\` and the \`unlinkat\`
(ext4 directory updates and freeing the inode: the \`renameat2\` and
\`unlinkat\` rows above), and the log lines.

**What is left between the GC and the floor.** In the kernel the GC does
what the floor does (list, open, read) plus a \`stat\` by name per distinct
backing image and the proof of each directory (one \`fstat\` when its walk
ends); the path lookups they cost (\`__d_lookup_rcu\`, the getattr path)
lead the kernel symbols; \`getdents64\` (listing $(num "$m_images") disk-images and
two directories per box) and \`openat\` are as large as in the floor. In
user space libc (string and memory functions, malloc) and boxlite-gc's own
code (header checks, the pinned set, the name cache) are the user rows
above. Two workers take the walk and the recheck to two cores (the
round-by-round table); the image directory's scan, the renames and the
unlinks of a deleting run stay on one (they all change or list one
directory), which is what keeps the two-worker deleting run above half of
the one-worker one.

## 8. The views of a home

\`bench/chainwalk-views.sh $build\`: \`boxlite-chainwalk --home\`, \`--home --json\`,
\`--usage\` and \`--usage --json\` and \`boxlite-gc --dry-run\` on one 10,000-box home,
interleaved; median wall time as a ratio to the dry run's, peak RSS per overlay,
whole and above each program's peak on an empty home (its libraries). Targets:
1.3x the dry run's time, 250 bytes per overlay.

$(cat "$T/res/views")

## What the figures do not cover

- A cold cache: every run here is warm (each measurement starts with a
  warm-up run). On a cold cache both the floor and the GC wait for the disk
  to read the same directory blocks and headers.
- The journal: log lines go to \`/dev/null\` here. Under systemd each
  deleted image is one structured journal entry, a \`sendmsg\` to journald.
- Small overlays: 1,792-byte files without data. The GC and the built-in
  reader read the first 4 KiB of a layer whatever its size; libqcow's open
  reads beyond the header, so its cost on real images is not lower than here.
- The operator's pipeline and \`qemu-img\` run on a smaller home or a
  sample (stated with each table); the \`boxlite-gc\` figures they are
  compared with are measured on the same home as well as on the main one.
EOF
} >"$R"

cp "$R" "$report"
say "done in $(elapsed) s: $report"
