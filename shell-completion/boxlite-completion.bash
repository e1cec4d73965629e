# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for boxlite-chainwalk, boxlite-gc and boxlite-admit.
# The option lists come from each program's --help, so they follow the binary.

_boxlite_options() {
        "$1" --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]*' | sort -u
}

_boxlite() {
        local cur prev
        COMPREPLY=()
        cur="${COMP_WORDS[COMP_CWORD]}"
        prev="${COMP_WORDS[COMP_CWORD-1]}"

        case "$prev" in
        --home|--metrics-file|--apply-plan)
                compopt -o filenames 2>/dev/null
                COMPREPLY=($(compgen -f -- "$cur"))
                return
                ;;
        --reader)
                COMPREPLY=($(compgen -W "auto libqcow builtin" -- "$cur"))
                return
                ;;
        --unit)
                COMPREPLY=($(compgen -W "$(systemctl list-units --plain --no-legend --all 2>/dev/null | awk '{ print $1 }')" -- "$cur"))
                return
                ;;
        --box|--grace|--target-free|--max-depth|--hard-floor|--soft-floor|--soft-percent|--inode-hard-floor|\
        --inode-soft-percent|--probe-timeout|--bus-timeout|--idle-timeout)
                return
                ;;
        esac

        if [[ "$cur" == -* ]]; then
                COMPREPLY=($(compgen -W "$(_boxlite_options "${COMP_WORDS[0]}")" -- "$cur"))
        else
                compopt -o filenames 2>/dev/null
                COMPREPLY=($(compgen -f -- "$cur"))
        fi
}

complete -F _boxlite boxlite-chainwalk boxlite-gc boxlite-admit
