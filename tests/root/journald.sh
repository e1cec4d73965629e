# SPDX-License-Identifier: LGPL-2.1-or-later
# A real journald of the test's own (sourced after tap.sh): the test re-executes itself in a private
# mount namespace, tmpfs goes over journald's runtime and storage directories, and journald starts there.

JOURNALD=/lib/systemd/systemd-journald

# journald_namespace "$@": skips without root or journald; otherwise runs the test again in the namespace.
journald_namespace() {
        [ "$(id -u)" -eq 0 ] || skip_all "needs root for a private mount namespace with its own journald (CI runs as root)"
        [ -x "$JOURNALD" ] || skip_all "systemd-journald not found"
        [ -n "${BOXLITE_IN_NS:-}" ] && return 0
        mkdir -p /var/lib/systemd/catalog /var/log/journal 2>/dev/null
        exec unshare --mount --propagation private env BOXLITE_IN_NS=1 "$0" "$@"
}

# journald_start: empty runtime and storage directories, journald on them; JOURNALD_PID is its pid.
journald_start() {
        local d
        for d in /run/systemd /run/log /var/log/journal; do
                mount -t tmpfs tmpfs "$d" || skip_all "cannot mount a tmpfs over $d"
        done
        "$JOURNALD" &
        JOURNALD_PID=$!
        for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
        check "a private journald is listening" test -S /run/systemd/journal/socket
}
