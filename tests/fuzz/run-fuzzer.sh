#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-fuzzer.sh FUZZER SEED_DIR SECONDS: fuzz for SECONDS from a scratch copy of the seeds.
set -euo pipefail
fuzzer="$1" seeds="$2" seconds="$3"
work="$(mktemp -d /tmp/boxlite-fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp "$seeds"/* "$work/corpus/"
cd "$work"
exec "$fuzzer" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=1024 \
        -print_final_stats=1 "$work/corpus"
