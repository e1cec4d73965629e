#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The monitor's Prometheus textfile, as an unprivileged user would run it
# ($XDG_RUNTIME_DIR state): promtool check metrics accepts it, the shipped
# alerting rules pass promtool check rules and their unit tests, and the real
# prometheus-node-exporter serves it (with the GC's textfile beside it) from
# its HTTP endpoint on 127.0.0.1.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/tap.sh"
SRC="$HERE/../.."

ADMIT="${BOXLITE_ADMIT:?}" GC="${BOXLITE_GC:?}"
command -v promtool >/dev/null || skip_all "promtool not installed (Debian package prometheus)"
NODE_EXPORTER="$(command -v prometheus-node-exporter || command -v node_exporter)" ||
        skip_all "prometheus-node-exporter not installed"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed"
command -v curl >/dev/null || skip_all "curl not installed"

T="$(mktemp -d /tmp/boxlite-metrics.XXXXXX)"
NE_PID=
trap '[ -n "$NE_PID" ] && kill "$NE_PID" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
H="$T/home"
mkdir -p "$H/images/disk-images" "$H/boxes/web/disks" "$T/textfile" "$T/run" "$T/etc"
head -c $((1 << 20)) /dev/urandom >"$H/images/disk-images/sha256-base.ext4"
qemu-img create -q -f qcow2 -b "$H/images/disk-images/sha256-base.ext4" -F raw "$H/boxes/web/disks/disk.qcow2" 1G
printf '[Monitor]\nReserveSize=1M\nMetricsFile=%s/textfile/boxlite-monitor.prom\n' "$T" >"$T/etc/boxlite.conf"
export BOXLITE_CONF_DIR="$T/etc" XDG_RUNTIME_DIR="$T/run" BOXLITE_LOG_TARGET=stderr

# As a user: state under $XDG_RUNTIME_DIR/boxlite/, the textfile from [Monitor] MetricsFile=.
run_monitor() {
        if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
                chown -R nobody "$T/home" "$T/textfile" "$T/run"
                chmod 755 "$T"
                setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$T" "$ADMIT" "$@"
        else
                "$ADMIT" "$@"
        fi
}
out="$(run_monitor --monitor --home "$H" --json --no-bus --hard-floor 1 --soft-floor 1 --soft-percent 0 2>"$T/err")"
check "the monitor runs without root and says ok" jq -e '.verdict == "ok"' <<<"$out"
check "its state is under \$XDG_RUNTIME_DIR/boxlite/" bash -c "ls '$T/run/boxlite/'monitor-*.state"
check "the textfile is written where [Monitor] MetricsFile= says" test -s "$T/textfile/boxlite-monitor.prom"
check "no temporary file is left beside it" test "$(ls "$T/textfile" | wc -l)" -eq 1
"$GC" --home "$H" --metrics-file "$T/textfile/boxlite-gc.prom" >/dev/null 2>&1

out="$(promtool check metrics <"$T/textfile/boxlite-monitor.prom" 2>&1)"
check "promtool check metrics accepts the monitor's textfile" test $? -eq 0 -a -z "$out"
[ -n "$out" ] && diag "$out"
for m in boxlite_home_available_bytes boxlite_home_verdict boxlite_reserve_bytes boxlite_box_allocated_bytes \
         boxlite_home_committed_growth_bytes; do
        check "the textfile has $m" grep -q "^$m{" "$T/textfile/boxlite-monitor.prom"
done
check "per filesystem part and per box" \
        bash -c "grep -q 'boxlite_home_available_bytes{home=\"$H\",part=\"home\"}' '$T/textfile/boxlite-monitor.prom' &&
                 grep -q 'boxlite_box_allocated_bytes{home=\"$H\",box=\"web\"}' '$T/textfile/boxlite-monitor.prom'"

RULES="$SRC/units/prometheus"
check "promtool check rules: the shipped alerting rules" promtool check rules "$RULES/boxlite.rules.yml"
out="$(cd "$RULES" && promtool test rules boxlite.rules.test.yml 2>&1)"
check "promtool test rules: the rules' unit tests pass" grep -q SUCCESS <<<"$out"
grep -q SUCCESS <<<"$out" || diag "$out"
check "the rules use the GC's metric names as boxlite-gc writes them" \
        bash -c "grep -q '^boxlite_gc_errors{' '$T/textfile/boxlite-gc.prom' &&
                 grep -q '^boxlite_gc_last_success_timestamp_seconds{' '$T/textfile/boxlite-gc.prom'"

# A free port on 127.0.0.1, then the real exporter with only the textfile collector.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$NODE_EXPORTER" --web.listen-address="127.0.0.1:$port" --collector.disable-defaults --collector.textfile \
        --collector.textfile.directory="$T/textfile" >"$T/ne.log" 2>&1 &
NE_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/metrics" >"$T/scrape" 2>/dev/null && break; sleep 0.1; done
check "node-exporter serves /metrics on 127.0.0.1:$port" test -s "$T/scrape"
check "the exporter read the textfiles without error" grep -qx 'node_textfile_scrape_error 0' "$T/scrape"
check "the monitor's metrics come back from the endpoint" \
        bash -c "grep -q '^boxlite_home_verdict{home=\"$H\"} 0' '$T/scrape' &&
                 awk '/^boxlite_reserve_bytes[{].*part=\"home\"/ { ok = (\$2 + 0 == 1048576) } END { exit !ok }' '$T/scrape' &&
                 grep -q '^boxlite_box_allocated_bytes{box=\"web\",home=\"$H\"}' '$T/scrape' &&
                 grep -q '^boxlite_home_committed_growth_bytes{home=\"$H\"}' '$T/scrape'"
check "... next to the GC's" grep -q '^boxlite_gc_last_success_timestamp_seconds{' "$T/scrape"
[ -s "$T/scrape" ] || diag "$(tail -5 "$T/ne.log")"

tap_done
