#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs one exhaustive Spin verification of a Promela model and checks its outcome.
#
#   run-model.sh --expect holds|violated [--ltl NAME] [--error REGEX] MODEL.pml [-DNAME[=VALUE]...]
#
#   --expect holds      the search must finish with no errors
#   --expect violated   the search must find an error whose pan message matches
#                       --error (default: "assertion violated") and write a trail;
#                       the trail is replayed into the log
#   --ltl NAME          check the LTL property NAME (compiled with -DLIVENESS)
#                       under weak fairness (pan -a -f) instead of the assertions
#
# The -D options select the model variant (see the head of the model). Spin
# writes pan.c and trails into the working directory, so everything happens in
# a temporary directory. Exit status: 0 as expected, 1 not, 77 (skip) when spin
# or a C compiler is missing.
set -uo pipefail

expect="" ltl="" error_re=""
while [ $# -gt 0 ]; do
        case "$1" in
        --expect) expect="$2"; shift 2 ;;
        --ltl) ltl="$2"; shift 2 ;;
        --error) error_re="$2"; shift 2 ;;
        *) break ;;
        esac
done
model="${1:?usage: run-model.sh --expect holds|violated [--ltl NAME] [--error REGEX] MODEL.pml [-D...]}"
shift
defines=("$@")
case "$expect" in
holds|violated) ;;
*) echo "run-model.sh: --expect must be 'holds' or 'violated'" >&2; exit 2 ;;
esac
if [ -z "$error_re" ]; then
        if [ -n "$ltl" ]; then error_re="acceptance cycle"; else error_re="assertion violated"; fi
fi

spin="$(command -v spin)" || { echo "SKIP: spin is not installed (apt-get install spin; tools/install-deps does)"; exit 77; }
cc="$(command -v gcc || command -v cc)" || { echo "SKIP: no C compiler (gcc) to build the verifier"; exit 77; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/boxlite-model.XXXXXX")" || exit 1
trap 'rm -rf "$tmp"' EXIT
cp "$model" "$tmp/model.pml" || exit 1
cd "$tmp" || exit 1

# Exhaustive search: full state storage (COLLAPSE compresses losslessly).
# Safety runs use breadth-first search, so a violation comes with its shortest trail.
cflags=(-O2 -w -DCOLLAPSE)
pan_args=(-m200000 -w24)
spin_args=("${defines[@]}")
if [ -n "$ltl" ]; then
        spin_args+=(-DLIVENESS)
        cflags+=(-DNFAIR=3)
        pan_args+=(-a -f -N "$ltl")
else
        cflags+=(-DSAFETY)
        [ "$expect" = violated ] && cflags+=(-DBFS)
fi

echo "model: $model"
echo "variant: ${defines[*]:-(none)}${ltl:+, LTL property $ltl under weak fairness}; expected: $expect"
echo "\$ spin -a ${spin_args[*]:+${spin_args[*]} }model.pml"
"$spin" -a "${spin_args[@]}" model.pml || { echo "FAIL: spin -a failed"; exit 1; }
echo "\$ $cc ${cflags[*]} -o pan pan.c"
"$cc" "${cflags[@]}" -o pan pan.c || { echo "FAIL: the verifier does not compile"; exit 1; }
echo "\$ ./pan ${pan_args[*]}"
start=$(date +%s%N)
./pan "${pan_args[@]}" >pan.out 2>&1
pan_rc=$?
end=$(date +%s%N)
grep -v '^Depth=' pan.out    # progress lines
ms=$(((end - start) / 1000000))
printf 'wall time: %d.%03d s (pan exit status %d)\n' $((ms / 1000)) $((ms % 1000)) "$pan_rc"

errors="$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.out | tail -n 1)"
if [ -z "$errors" ]; then
        echo "FAIL: pan did not report an error count"
        exit 1
fi
states="$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.out | head -n 1)"
depth="$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.out | head -n 1)"
echo "summary: states stored $states, depth reached $depth, errors $errors"

if [ "$expect" = holds ]; then
        if [ "$errors" -ne 0 ]; then
                echo "FAIL: the model has a counterexample; the trail:"
                "$spin" -t -T -B "${spin_args[@]}" model.pml 2>&1 | grep -v '^Never claim moves' | uniq
                exit 1
        fi
        if grep -q -E 'max search depth too small|Search not completed|out of memory' pan.out; then
                echo "FAIL: the search did not cover the whole state space"
                exit 1
        fi
        echo "OK: no errors in an exhaustive search"
        exit 0
fi

if [ "$errors" -eq 0 ]; then
        echo "FAIL: expected a counterexample ($error_re), the search found none"
        exit 1
fi
if ! grep -q -E "$error_re" pan.out; then
        echo "FAIL: pan found an error, but not the expected one ($error_re)"
        exit 1
fi
if [ ! -s model.pml.trail ]; then
        echo "FAIL: pan reported an error but wrote no trail"
        exit 1
fi
echo "counterexample ($(wc -l <model.pml.trail) trail steps), replayed:"
"$spin" -t -T -B "${spin_args[@]}" model.pml 2>&1 | grep -v -E '^Never claim moves|^ltl [a-z_]+:|^spin: text of failed' | uniq
echo "OK: the expected counterexample was found"
exit 0
