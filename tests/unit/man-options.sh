#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# man-options.sh PROGRAM... DOCDIR: every long option that 'PROGRAM --help'
# lists appears, as *--option*, in the program's man page source
# DOCDIR/PROGRAM.N.scd. Prints what is missing; exits 0 or 1.
set -uo pipefail

[ $# -ge 2 ] || { echo "usage: $0 PROGRAM... DOCDIR"; exit 1; }
docdir="${*: -1}"
status=0

for prog in "${@:1:$#-1}"; do
        name="$(basename "$prog")"
        scd=("$docdir/$name".[0-9].scd)
        if [ ! -f "${scd[0]}" ]; then
                echo "FAIL $name: no man page source $docdir/$name.N.scd"
                status=1
                continue
        fi
        if ! help="$("$prog" --help)"; then
                echo "FAIL $name: '$name --help' failed"
                status=1
                continue
        fi
        # Option lines only: those whose first field is -x or --long (not the prose that mentions options).
        opts="$(sed -nE 's/^[[:space:]]+(-[[:alnum:]][[:space:]]+)?(--[[:alnum:]][[:alnum:]-]*).*/\2/p' <<<"$help" | sort -u)"
        if [ -z "$opts" ]; then
                echo "FAIL $name: no options found in '$name --help'"
                status=1
                continue
        fi
        n=0
        for o in $opts; do
                n=$((n + 1))
                if ! grep -qF -- "*$o*" "${scd[0]}"; then
                        echo "FAIL $name: $o is in --help but not in $(basename "${scd[0]}")"
                        status=1
                fi
        done
        echo "checked $name: $n long options against $(basename "${scd[0]}")"
done
exit $status
