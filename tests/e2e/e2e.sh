#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# End to end on a booted systemd: a throwaway container of this machine's OS
# (an overlay over /, the project installed into it, a fresh machine-id),
# booted with systemd-nspawn, its home a 1.5 GiB ext4 loop filesystem bound
# in. Every scenario is asserted through systemctl, journalctl and busctl
# inside the container.
#
#   BOXLITE_E2E_INSTALL=meson|deb   how the project gets into the container (default: meson install
#                                   from $BOXLITE_BUILD_ROOT; deb: install $BOXLITE_E2E_DEB)
#   BOXLITE_E2E_ONLY="1 4"          run only these scenarios (setup always runs); 7, the README's
#                                   operator commands run literally, needs the package install;
#                                   8 is the pressure monitor; 9 a boxes/ mount that fails
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../integration/tap.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root to mount an overlay and boot a container (CI runs as root)"
command -v systemd-nspawn >/dev/null || skip_all "systemd-nspawn not installed (systemd-container)"
command -v mkfs.ext4 >/dev/null || skip_all "mkfs.ext4 not installed"
command -v qemu-img >/dev/null || skip_all "qemu-img not installed"
INSTALL="${BOXLITE_E2E_INSTALL:-meson}"
ONLY=" ${BOXLITE_E2E_ONLY:-1 2 3 4 5 6 7 8 9} "
want() { [[ "$ONLY" == *" $1 "* ]]; }

T="$(mktemp -d /tmp/boxlite-e2e.XXXXXX)"
ROOT="$T/root"
LEADER=
NSPAWN=

teardown() {
        if [ -n "$LEADER" ] && kill -0 "$LEADER" 2>/dev/null; then
                nsenter -t "$LEADER" -a systemctl poweroff --no-block >/dev/null 2>&1
                for _ in $(seq 100); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
        fi
        [ -n "$NSPAWN" ] && kill -9 "$NSPAWN" 2>/dev/null
        [ -n "$NSPAWN" ] && wait "$NSPAWN" 2>/dev/null
        umount -l "$T/home" 2>/dev/null
        umount -l "$ROOT" 2>/dev/null
        umount -l "$T/layers" 2>/dev/null
        rm -rf "$T"
}
trap teardown EXIT

# inside CMD...: run inside the container (all its namespaces).
inside() {
        nsenter -t "$LEADER" -a "$@"
}

# ------------------------------------------------- set-up
mkdir -p "$T/layers" "$ROOT" "$T/home"
# The upper layer lives on its own tmpfs: overlayfs refuses an upper directory inside its lower one.
mount -t tmpfs -o size=2g tmpfs "$T/layers" || skip_all "cannot mount a tmpfs"
mkdir -p "$T/layers/upper" "$T/layers/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/layers/upper,workdir=$T/layers/work" "$ROOT" ||
        skip_all "cannot mount an overlay over / (overlayfs missing?)"

case "$INSTALL" in
meson)
        BUILD="${BOXLITE_BUILD_ROOT:?}"
        DESTDIR="$ROOT" meson install -C "$BUILD" --quiet --no-rebuild >"$T/install.log" 2>&1 ||
                { not_ok "meson install into the container"; diag "$(cat "$T/install.log")"; tap_done; exit 1; }
        ;;
deb)
        cp "${BOXLITE_E2E_DEB:?}" "$ROOT/tmp/boxlite-host_0.1.0-1_amd64.deb"
        mount -t proc proc "$ROOT/proc"
        # As the README says (apt resolves the dependencies from the installed system).
        chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
                /tmp/boxlite-host_0.1.0-1_amd64.deb >"$T/install.log" 2>&1
        rc=$?
        umount -l "$ROOT/proc"
        [ $rc -eq 0 ] || { not_ok "apt-get install the package into the container"; diag "$(tail -20 "$T/install.log")"; tap_done; exit 1; }
        ;;
esac
BIN="$(dirname "$(chroot "$ROOT" sh -c 'command -v boxlite-admit')")"
check "boxlite-admit is installed in the container ($BIN)" test -n "$BIN"
DROPIN="$(chroot "$ROOT" sh -c 'ls /usr/share/boxlite/boxlite-admit.conf /usr/local/share/boxlite/boxlite-admit.conf 2>/dev/null | head -1')"

# The test's bus subscriber goes into the container: its build directory may not be visible there
# (nspawn mounts a fresh /tmp).
if [ -x "${BOXLITE_BUS_LISTEN:-}" ]; then
        mkdir -p "$ROOT/opt/boxlite-test"
        cp "$BOXLITE_BUS_LISTEN" "$ROOT/opt/boxlite-test/bus-listen"
fi

rm -f "$ROOT/etc/machine-id"
systemd-machine-id-setup --root="$ROOT" >/dev/null 2>&1
# The catalog update that the package's trigger does on install.
chroot "$ROOT" journalctl --update-catalog >/dev/null 2>&1

# The home: a real, small ext4 filesystem.
truncate -s 1536M "$T/home.img"
mkfs.ext4 -q -m 0 -E lazy_itable_init=0,nodiscard "$T/home.img"
mount -o loop "$T/home.img" "$T/home" || skip_all "cannot loop-mount (no loop devices)"
H=/var/lib/boxlite
DI="$H/images/disk-images"
mkdir -p "$T/home/images/disk-images" "$T/home/boxes" "$T/home/tmp"

# Configuration for the test: a short grace, so that images can age within the run.
mkdir -p "$ROOT/etc/boxlite/boxlite.conf.d"
# A soft floor that the 1.5 GiB test home meets when it is empty; the hard floor stays at its default (1 GiB).
printf '[Admission]\nSoftFloor=1200M\n[GC]\nGrace=3s\n' >"$ROOT/etc/boxlite/boxlite.conf.d/50-e2e.conf"

# A box unit with the admission drop-in attached the way an operator does it.
cat >"$ROOT/etc/systemd/system/demo-box@.service" <<EOF2
[Unit]
Description=demo box %i
[Service]
ExecStart=/bin/sh -c 'touch /run/started-%i; exec sleep infinity'
EOF2
mkdir -p "$ROOT/etc/systemd/system/demo-box@.service.d"
ln -s "$DROPIN" "$ROOT/etc/systemd/system/demo-box@.service.d/boxlite-admit.conf"

# The GC units of this home, with test-only drop-ins: the timer fires shortly after it starts, and the
# service tries to write where its sandbox must not let it.
INST="$(systemd-escape --path "$H")"
mkdir -p "$ROOT/etc/systemd/system/boxlite-gc@$INST.timer.d" "$ROOT/etc/systemd/system/boxlite-gc@$INST.service.d" \
        "$ROOT/etc/systemd/system/boxlite-gc-delayed@$INST.timer.d"
printf '[Timer]\nOnActiveSec=2s\nRandomizedDelaySec=0\nAccuracySec=1ms\n' \
        >"$ROOT/etc/systemd/system/boxlite-gc@$INST.timer.d/e2e.conf"
# The path unit's delay, 5 s in production, shortened for the test.
printf '[Timer]\nOnActiveSec=\nOnActiveSec=2s\nAccuracySec=1ms\n' \
        >"$ROOT/etc/systemd/system/boxlite-gc-delayed@$INST.timer.d/e2e.conf"
printf '[Service]\nExecStartPost=-/usr/bin/touch %s/boxes/probe\nExecStartPost=-/usr/bin/touch /etc/boxlite-probe\n' "$H" \
        >"$ROOT/etc/systemd/system/boxlite-gc@$INST.service.d/e2e.conf"

# --keep-unit as well: without it nspawn asks the host's bus for a scope, and a host need not have one.
systemd-nspawn -q -D "$ROOT" -b --register=no --keep-unit --link-journal=no --bind="$T/home:$H" \
        -- --unit=basic.target >"$T/console.log" 2>&1 &
NSPAWN=$!
for _ in $(seq 600); do
        # The container's PID 1: a systemd whose innermost PID is 1 and whose ancestor is our nspawn.
        for p in $(pgrep -x systemd); do
                grep -qE '^NSpid:.*[[:space:]]1$' "/proc/$p/status" 2>/dev/null || continue
                q=$p
                while [ "$q" -gt 1 ]; do
                        q="$(awk '/^PPid:/ { print $2 }' "/proc/$q/status" 2>/dev/null)"
                        [ -z "$q" ] && break
                        [ "$q" = "$NSPAWN" ] && LEADER=$p && break 3
                done
        done
        sleep 0.05
done
if [ -z "$LEADER" ]; then
        not_ok "the container booted"; diag "$(tail -20 "$T/console.log")"; tap_done; exit 1
fi
# The manager answers once its private socket is up; then wait for the boot jobs to finish.
state=
for _ in $(seq 600); do
        state="$(nsenter -t "$LEADER" -a systemctl is-system-running 2>/dev/null)"
        case "$state" in running|degraded) break ;; esac
        sleep 0.1
done
check "the container booted to basic.target ($state)" test "$state" = running -o "$state" = degraded
[ "$state" = degraded ] && diag "$(inside systemctl --failed --no-legend)"
inside systemctl start dbus.socket >/dev/null 2>&1

# A process that has exited by the time journald reads its entry loses its unit fields (journald reads
# /proc/PID/cgroup), so decisions are also matched by the unit the gate names itself (BOXLITE_UNIT=).
jfield() { # jfield UNIT FIELD: the value of FIELD in the unit's last boxlite-admit entry
        inside journalctl -o json SYSLOG_IDENTIFIER=boxlite-admit _SYSTEMD_UNIT="$1" + \
                SYSLOG_IDENTIFIER=boxlite-admit BOXLITE_UNIT="$1" 2>/dev/null |
                jq -r "select(.BOXLITE_VERDICT) | .$2" | tail -1
}
avail() {
        sync -f "$T/home"
        stat -f -c '%a %S' "$T/home" | awk '{ printf "%.0f\n", $1 * $2 }'
}
fill_to() { # fill_to BYTES: real writes until about BYTES are available
        local a
        a=$(avail)
        [ "$a" -gt "$1" ] && dd if=/dev/zero of="$T/home/tmp/fill-$RANDOM" bs=1M count=$(((a - $1) >> 20)) \
                status=none conv=fsync
}
image() { # image NAME MIB
        dd if=/dev/urandom of="$T/home/images/disk-images/$1" bs=1M count="$2" status=none
}
box() { # box ID IMAGE: an overlay onto IMAGE, made by qemu-img inside the container
        mkdir -p "$T/home/boxes/$1/disks"
        inside qemu-img create -q -f qcow2 -b "$DI/$2" -F raw "$H/boxes/$1/disks/disk.qcow2"
}

# ------------------------------------------------- 1: plenty of space
if want 1; then
        inside systemctl start demo-box@roomy.service
        check "1: a box unit with the drop-in starts on a roomy home" \
                bash -c "[ \"\$(nsenter -t $LEADER -a systemctl is-active demo-box@roomy.service)\" = active ]"
        check "1: its ExecStart ran" test -e "$ROOT/run/started-roomy" -o -n "$(inside ls /run/started-roomy 2>/dev/null)"
        check "1: the ok decision is in the journal under the box unit" \
                bash -c "[ \"\$(nsenter -t $LEADER -a journalctl -u demo-box@roomy.service -o json SYSLOG_IDENTIFIER=boxlite-admit | tail -1 | jq -r '.BOXLITE_VERDICT + \" \" + .BOXLITE_BOX + \" \" + .BOXLITE_UNIT + \" \" + .PRIORITY')\" = 'ok roomy demo-box@roomy.service 6' ]"
        inside systemctl stop demo-box@roomy.service
fi

# ------------------------------------------------- 2: below the hard floor
if want 2; then
        fill_to $((700 << 20))
        inside systemctl start demo-box@tight.service >/dev/null 2>&1
        rc=$?
        result="$(inside systemctl show -P Result demo-box@tight.service)"
        check "2: below the hard floor the start fails ($rc), Result=exit-code" test "$rc/$result" != "0/exit-code" -a "$result" = exit-code
        check "2: the failing command was ExecStartPre with status 75" \
                bash -c "nsenter -t $LEADER -a journalctl -u demo-box@tight.service --no-pager | grep -q 'Control process exited, code=exited, status=75'"
        check "2: ExecStart never ran (no marker)" bash -c "! nsenter -t $LEADER -a test -e /run/started-tight"
        check "2: journalctl -u shows the reject entry with its BOXLITE_ fields" \
                bash -c "[ '$(jfield demo-box@tight.service BOXLITE_VERDICT)' = reject ] &&
                         [ '$(jfield demo-box@tight.service MESSAGE_ID)' = 18df0cfe9db04b27ba717e91d1155058 ] &&
                         [ '$(jfield demo-box@tight.service BOXLITE_HOME)' = $H ] &&
                         [ '$(jfield demo-box@tight.service BOXLITE_BOX)' = tight ] &&
                         [ '$(jfield demo-box@tight.service PRIORITY)' = 3 ] &&
                         [ '$(jfield demo-box@tight.service BOXLITE_HARD_FLOOR_BYTES)' = 1073741824 ]"
        check "2: journalctl -x explains it with the catalog" \
                bash -c "nsenter -t $LEADER -a journalctl -x -u demo-box@tight.service --no-pager | grep -q 'Box start refused: too little free space'"
fi

# ------------------------------------------------- 3: pressure relieved by the GC
if want 3; then
        rm -f "$T/home/tmp/"fill-*
        image sha256-pinned.ext4 20
        box keeper sha256-pinned.ext4
        for i in 1 2 3 4 5; do image "sha256-orphan$i.ext4" 120; done
        sleep 3.5
        fill_to $((700 << 20))
        inside systemctl start demo-box@relieved.service
        check "3: below the floor with aged orphans, the box starts after --gc-on-pressure" \
                bash -c "[ \"\$(nsenter -t $LEADER -a systemctl is-active demo-box@relieved.service)\" = active ]"
        check "3: its ExecStart ran" inside test -e /run/started-relieved
        check "3: the decision records the GC (first verdict reject, final ok)" \
                bash -c "[ '$(jfield demo-box@relieved.service BOXLITE_VERDICT)' = ok ] &&
                         [ '$(jfield demo-box@relieved.service BOXLITE_FIRST_VERDICT)' = reject ] &&
                         [ '$(jfield demo-box@relieved.service BOXLITE_RECLAIMED_COUNT)' -ge 1 ]"
        check "3: the GC entries of the reclaimed images are in the journal" \
                bash -c "nsenter -t $LEADER -a journalctl -o json MESSAGE_ID=64f8f96e0d814b94941060e7e019d66b _SYSTEMD_UNIT=demo-box@relieved.service + MESSAGE_ID=64f8f96e0d814b94941060e7e019d66b BOXLITE_HOME=$H | jq -s -e 'any(.[]; .BOXLITE_IMAGE | test(\"orphan\"))' >/dev/null"
        check "3: the pinned image survived" test -e "$T/home/images/disk-images/sha256-pinned.ext4"
        inside systemctl stop demo-box@relieved.service
        rm -f "$T/home/tmp/"fill-*
fi

# ------------------------------------------------- 4 and 6: the timer, the path unit, the sandbox
if want 4 || want 6; then
        rm -f "$T/home/images/disk-images/"sha256-orphan*.ext4
        image sha256-aged.ext4 5
        image sha256-pinned2.ext4 5
        box keeper2 sha256-pinned2.ext4
        sleep 3.5
        inside systemctl start "boxlite-gc@$INST.timer"
        for _ in $(seq 150); do
                [ -e "$T/home/images/disk-images/sha256-aged.ext4" ] || break
                sleep 0.1
        done
        sleep 1
        runs="$(inside journalctl -u "boxlite-gc@$INST.service" -o json MESSAGE_ID=2f76ccf213f2457b96f82b973a9b54da | wc -l)"
        if want 4; then
                check "4: the timer fired the GC service ($runs run)" test "$runs" -ge 1
                check "4: it reclaimed the aged orphan" test ! -e "$T/home/images/disk-images/sha256-aged.ext4"
                check "4: it kept the pinned image" test -e "$T/home/images/disk-images/sha256-pinned2.ext4"
                check "4: the service ended successfully" \
                        bash -c "[ \"\$(nsenter -t $LEADER -a systemctl show -P Result boxlite-gc@$INST.service)\" = success ]"
        fi
        if want 6; then
                check "6: the sandboxed GC could not write under boxes/" test ! -e "$T/home/boxes/probe"
                check "6: the sandboxed GC could not write under /etc" bash -c "! nsenter -t $LEADER -a test -e /etc/boxlite-probe"
                check "6: ... and the attempts did run (and failed)" \
                        bash -c "nsenter -t $LEADER -a journalctl -u boxlite-gc@$INST.service --no-pager | grep -q 'Read-only file system'"
        fi
        if want 4; then
                inside systemctl start "boxlite-gc@$INST.path"
                check "4: the path unit is waiting" \
                        bash -c "[ \"\$(nsenter -t $LEADER -a systemctl is-active boxlite-gc@$INST.path)\" = active ]"
                image sha256-freed.ext4 5
                box leaving sha256-freed.ext4
                for i in $(seq 1 10); do box "burst$i" sha256-pinned2.ext4; done
                sleep 3.5
                # Creating the boxes above started the delayed timer: let that run pass first.
                for _ in $(seq 100); do
                        [ "$(inside systemctl is-active "boxlite-gc-delayed@$INST.timer")" = active ] || break
                        sleep 0.1
                done
                sleep 1
                before="$(inside journalctl -u "boxlite-gc@$INST.service" -o json MESSAGE_ID=2f76ccf213f2457b96f82b973a9b54da | wc -l)"
                rm -rf "$T/home/boxes/leaving"
                for _ in $(seq 100); do [ -e "$T/home/images/disk-images/sha256-freed.ext4" ] || break; sleep 0.1; done
                check "4: removing a box fires the path unit, which reclaims its image" \
                        test ! -e "$T/home/images/disk-images/sha256-freed.ext4"
                sleep 1
                mid="$(inside journalctl -u "boxlite-gc@$INST.service" -o json MESSAGE_ID=2f76ccf213f2457b96f82b973a9b54da | wc -l)"
                check "4: ... in exactly one run" test $((mid - before)) -eq 1
                rm -rf "$T/home/boxes/"burst*
                sleep 4
                after="$(inside journalctl -u "boxlite-gc@$INST.service" -o json MESSAGE_ID=2f76ccf213f2457b96f82b973a9b54da | wc -l)"
                diag "GC runs: before $before, after one removal $mid, after a burst of 10 removals $after"
                check "4: a burst of 10 removals runs the GC once, not per box" test $((after - mid)) -eq 1
                check "4: the path unit is still active after the burst" \
                        bash -c "[ \"\$(nsenter -t $LEADER -a systemctl is-active boxlite-gc@$INST.path)\" = active ]"
        fi
fi

# ------------------------------------------------- 5: the bus
if want 5; then
        check "5: before the first call the admission service is inactive" \
                bash -c "[ \"\$(nsenter -t $LEADER -a systemctl is-active boxlite-admit.service)\" != active ]"
        out="$(inside busctl --json=short call org.boxlite.Admission1 /org/boxlite/Admission1 org.boxlite.Admission1 Check s "")"
        check "5: Check on the container's system bus answers for the default home" \
                jq -e '.type == "stts" and (.data[0] | IN("ok", "warn", "reject")) and .data[2] > 1000000000' <<<"$out"
        check "5: the call activated boxlite-admit.service (Type=dbus)" \
                bash -c "[ \"\$(nsenter -t $LEADER -a systemctl is-active boxlite-admit.service)\" = active ]"
        out="$(inside busctl --json=short call org.boxlite.Admission1 /org/boxlite/Admission1 org.boxlite.Admission1 ListDecisions tu 0 50)"
        boxes="$(jq -r '[.data[0][] | .[1]] | join(" ")' <<<"$out")"
        diag "ListDecisions boxes: $boxes"
        expect=""
        want 1 && expect+=" roomy"
        want 2 && expect+=" tight"
        want 3 && expect+=" relieved"
        missing=0
        for b in $expect; do grep -qw "$b" <<<"$boxes" || missing=1; done
        check "5: ListDecisions returns the decisions of the box starts ($expect )" test $missing -eq 0
        if want 2; then
                check "5: ... with their verdicts" \
                        jq -e '[.data[0][] | select(.[1] == "tight")][0] | .[3] == "reject" and .[2] == "demo-box@tight.service"' <<<"$out"
        fi
        LISTEN=/opt/boxlite-test/bus-listen
        if [ -x "$ROOT$LISTEN" ]; then
                inside "$LISTEN" unix:path=/run/dbus/system_bus_socket 10 1 >"$T/listen.out" 2>&1 &
                for _ in $(seq 100); do grep -q ready "$T/listen.out" && break; sleep 0.05; done
                inside systemctl start demo-box@signalled.service
                wait $!
                check "5: a Decided signal is seen for a box start" \
                        grep -qE "^$H	signalled	demo-box@signalled.service	(ok|warn|reject)	[0-9]+	." "$T/listen.out"
                inside systemctl stop demo-box@signalled.service
        else
                not_ok "5: the bus-listen helper is missing"
        fi
fi

# ------------------------------------------------- 8: the pressure monitor, every minute (here: seconds)
if want 8; then
        MON="boxlite-monitor@$INST"
        mkdir -p "$ROOT/etc/systemd/system/$MON.timer.d"
        # An empty assignment resets every timer of the unit, so once, then both.
        printf '[Timer]\nOnActiveSec=\nOnActiveSec=1s\nOnUnitActiveSec=2s\nAccuracySec=100ms\n' \
                >"$ROOT/etc/systemd/system/$MON.timer.d/e2e.conf"
        inside systemctl daemon-reload
        rm -f "$T/home/tmp/"fill-*
        inside systemctl start "$MON.timer"
        for _ in $(seq 100); do
                [ "$(inside journalctl -u "$MON.service" -o json MESSAGE_ID=3bf2be2278184cc7ad1b480a3a614df4 | wc -l)" -ge 1 ] && break
                sleep 0.1
        done
        check "8: the timer fired the monitor, which created the reserve in the home" \
                bash -c "[ -f '$T/home/.boxlite-reserve' ] && [ \$((\$(stat -c %b '$T/home/.boxlite-reserve') * 512)) -ge $((64 << 20)) ]"
        check "8: its state is in /run/boxlite (RuntimeDirectory=, preserved)" \
                inside test -f "/run/boxlite/monitor-$INST.state"
        LISTEN=/opt/boxlite-test/bus-listen
        inside "$LISTEN" unix:path=/run/dbus/system_bus_socket 20 1 PressureChanged >"$T/pressure.out" 2>&1 &
        listener=$!
        for _ in $(seq 100); do grep -q ready "$T/pressure.out" && break; sleep 0.05; done
        fill_to $((1100 << 20))
        for _ in $(seq 200); do
                [ "$(inside journalctl -u "$MON.service" -o json MESSAGE_ID=f3c137465ed542c7a30cfeed752ec8b1 | wc -l)" -ge 1 ] && break
                sleep 0.1
        done
        e="$(inside journalctl -u "$MON.service" -o json MESSAGE_ID=f3c137465ed542c7a30cfeed752ec8b1 | tail -1)"
        check "8: below the soft floor the monitor service records the transition, ok -> warn" \
                jq -e --arg h "$H" '.BOXLITE_HOME == $h and .BOXLITE_VERDICT == "warn" and .BOXLITE_PREVIOUS_VERDICT == "ok" and .PRIORITY == "4"' <<<"${e:-null}"
        check "8: journalctl -x shows it with the catalog text" \
                bash -c "nsenter -t $LEADER -a journalctl -x -u $MON.service --no-pager | grep -q 'Subject: Disk pressure on $H: warn'"
        wait $listener
        check "8: PressureChanged is seen on the system bus" grep -qE "^$H	warn	[0-9]+	." "$T/pressure.out"
        [ -s "$T/pressure.out" ] || diag "$(cat "$T/pressure.out")"
        sleep 5
        check "8: later checks at the same level record nothing more (one entry)" \
                test "$(inside journalctl -u "$MON.service" -o json MESSAGE_ID=f3c137465ed542c7a30cfeed752ec8b1 | wc -l)" -eq 1
        check "8: the service ends successfully (it watches, it does not gate)" \
                bash -c "[ \"\$(nsenter -t $LEADER -a systemctl show -P Result $MON.service)\" = success ]"
        level="$(inside systemd-analyze security "$MON.service" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')"
        check "8: systemd-analyze security exposure of the monitor service is <= 2.0 ($level)" \
                awk -v l="${level:-9}" 'BEGIN { exit !(l <= 2.0) }'
        inside systemctl stop "$MON.timer"
        rm -f "$T/home/tmp/"fill-*
        inside boxlite-admit --release-reserve --home "$H" >/dev/null 2>&1
fi

# ------------------------------------------------- 9: fstab declares boxes/, and its mount fails
# (In a container systemd ignores device entries of fstab; a file system type that does not exist
# fails the mount at once.)
if want 9; then
        image sha256-pinned9.ext4 2
        box keeper9 sha256-pinned9.ext4
        image sha256-orphan9.ext4 2
        sleep 3.5
        inside systemctl stop "boxlite-gc@$INST.path" >/dev/null 2>&1
        echo "boxlite-e2e $H/boxes boxlitenosuchfs defaults 0 0" >>"$ROOT/etc/fstab"
        inside systemctl daemon-reload
        MNT="$(systemd-escape --path --suffix=mount "$H/boxes")"
        before="$(inside journalctl -o json SYSLOG_IDENTIFIER=boxlite-gc | wc -l)"
        inside systemctl start "boxlite-gc@$INST.service" >/dev/null 2>&1
        rc=$?
        check "9: the GC unit does not start when the boxes/ mount fails ($rc)" test "$rc" -ne 0
        check "9: ... the mount unit $MNT failed" \
                bash -c "[ \"\$(nsenter -t $LEADER -a systemctl show -P Result $MNT)\" != success ]"
        check "9: ... boxlite-gc never ran (no new entry of it)" \
                test "$(inside journalctl -o json SYSLOG_IDENTIFIER=boxlite-gc | wc -l)" -eq "$before"
        check "9: ... both images are still there" \
                bash -c "[ -e '$T/home/images/disk-images/sha256-orphan9.ext4' ] && [ -e '$T/home/images/disk-images/sha256-pinned9.ext4' ]"
        # From a shell (a cron job, another manager) the program checks fstab itself.
        inside boxlite-gc --home "$H" --json >"$T/gc9.json" 2>/dev/null
        rc=$?
        check "9: boxlite-gc run by hand fails closed (status 1, $rc), naming the mount point, deleting nothing" \
                bash -c "[ $rc -eq 1 ] && jq -e --arg m \"'$H/boxes' is declared in /etc/fstab\" '.fail_closed and .reclaimed_count == 0 and any(.errors[]; .error | contains(\$m))' '$T/gc9.json' >/dev/null &&
                         [ -e '$T/home/images/disk-images/sha256-orphan9.ext4' ]"
        inside boxlite-admit --home "$H" --no-bus >/dev/null 2>&1
        rc=$?
        check "9: admission rejects a start meanwhile (75, $rc)" test "$rc" -eq 75
        sed -i '/boxlitenosuchfs/d' "$ROOT/etc/fstab"
        inside systemctl daemon-reload
        inside systemctl reset-failed >/dev/null 2>&1
        inside systemctl start "boxlite-gc@$INST.service" >/dev/null 2>&1
        check "9: control: with the entry gone the unit runs, the orphan goes and the box's image stays" \
                bash -c "[ ! -e '$T/home/images/disk-images/sha256-orphan9.ext4' ] && [ -e '$T/home/images/disk-images/sha256-pinned9.ext4' ]"
fi

# ------------------------------------------------- 7: the README's operator commands, run as written
if want 7 && [ "$INSTALL" = deb ]; then
        cat >"$ROOT/etc/systemd/system/mybox@.service" <<EOF2
[Service]
ExecStart=/bin/sh -c 'touch /run/mybox-%i; exec sleep infinity'
EOF2
        # The shell lines of the README's operator sections, in order.
        awk '/^## (Guard a home|Attach the admission gate|Read the journal|Query the bus)/ { on = 1; next }
             /^## / { on = 0 }
             on && /^```sh/ { block = 1; next }
             on && /^```/ { block = 0; next }
             on && block && NF { print }' "$HERE/../../README.md" >"$T/readme.sh"
        check "7: the README has operator command lines" test "$(wc -l <"$T/readme.sh")" -ge 8
        while IFS= read -r line; do
                cmd="${line%%  #*}"
                case "$cmd" in
                *"systemctl daemon-reload"*)
                        inside bash -c "$cmd" >"$T/out" 2>&1; rc=$?
                        inside systemctl start mybox@web.service >/dev/null 2>&1 ;;
                *"busctl monitor"*)
                        inside timeout 1 bash -c "$cmd" >"$T/out" 2>&1; rc=$?
                        [ $rc -eq 124 ] && rc=0 ;;
                *)
                        inside bash -c "$cmd" >"$T/out" 2>&1; rc=$? ;;
                esac
                check "7: README: $cmd" test $rc -eq 0
                [ $rc -eq 0 ] || diag "$(tail -5 "$T/out")"
        done <"$T/readme.sh"
        check "7: the README's drop-in gated mybox@web.service, which started" \
                bash -c "[ \"\$(nsenter -t $LEADER -a systemctl is-active mybox@web.service)\" = active ] &&
                         nsenter -t $LEADER -a journalctl -u mybox@web.service -o json | jq -s -e 'any(.[]; .BOXLITE_BOX == \"web\")' >/dev/null"
        check "7: the README's enable lines enabled the timer and the path unit" \
                bash -c "nsenter -t $LEADER -a systemctl is-enabled boxlite-gc@$INST.timer boxlite-gc@$INST.path >/dev/null"
        inside systemctl stop mybox@web.service
fi

# ------------------------------------------------- the installed units pass systemd-analyze verify
for u in "boxlite-gc@$INST.service" "boxlite-gc@$INST.timer" "boxlite-gc@$INST.path" "boxlite-gc-delayed@$INST.timer" \
         "boxlite-monitor@$INST.service" "boxlite-monitor@$INST.timer" boxlite-admit.service \
         "boxlite-report@x.service"; do
        out="$(inside systemd-analyze verify --man=no "$u" 2>&1)"
        check "systemd-analyze verify $u" test -z "$out"
        [ -n "$out" ] && diag "$out"
done
for u in boxlite-gc.service boxlite-gc.timer boxlite-gc.path boxlite-gc-delayed.timer boxlite-monitor.service \
         boxlite-monitor.timer; do
        out="$(inside systemd-analyze verify --man=no "/usr/lib/systemd/user/$u" 2>&1)"
        check "systemd-analyze verify of the user unit $u" test -z "$out"
        [ -n "$out" ] && diag "$out"
done

if [ -n "${BOXLITE_E2E_KEEP:-}" ]; then
        echo "# container leader $LEADER; nsenter -t $LEADER -a bash; remove $BOXLITE_E2E_KEEP to tear down"
        while [ -e "$BOXLITE_E2E_KEEP" ]; do sleep 1; done
fi
tap_done
