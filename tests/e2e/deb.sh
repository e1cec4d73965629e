#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Debian package: build it (dpkg-buildpackage -us -uc -b in a temporary
# copy), check it with lintian, check what postinst enables, then run the
# end-to-end suite against the package installed in the container.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$HERE/../.."
. "$HERE/../integration/tap.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root to install the package into a container (CI runs as root)"
command -v dpkg-buildpackage >/dev/null || skip_all "dpkg-dev not installed"

T="$(mktemp -d /tmp/boxlite-deb-test.XXXXXX)"
trap 'umount -l "$T/root" 2>/dev/null; umount -l "$T/layers" 2>/dev/null; rm -rf "$T"' EXIT

if ! DEB_BUILD_OPTIONS=nocheck "$SRC/tools/build-deb" "$T/dist" >"$T/build.log" 2>&1; then
        not_ok "the package builds"; diag "$(tail -30 "$T/build.log")"; tap_done; exit 1
fi
DEB="$(ls "$T"/dist/boxlite-host_*.deb)"
ok "the package builds ($(basename "$DEB"))"
check "lintian: no errors" bash -c "! grep -q '^E:' '$T/dist/lintian.txt'"
check "lintian: no warnings" bash -c "! grep -q '^W:' '$T/dist/lintian.txt'"
grep -E '^(E|W):' "$T/dist/lintian.txt" | while read -r l; do diag "$l"; done
dpkg -c "$DEB" >"$T/contents"
for f in usr/bin/boxlite-admit usr/bin/boxlite-gc usr/bin/boxlite-chainwalk lib/systemd/system/boxlite-gc@.service \
         usr/share/dbus-1/system.d/org.boxlite.Admission1.conf usr/lib/systemd/catalog/boxlite.catalog \
         etc/boxlite/boxlite.conf usr/share/man/man8/boxlite-admit.8.gz usr/share/man/man5/boxlite.conf.5.gz \
         usr/share/man/man7/boxlite-units.7.gz lib/systemd/system/boxlite-monitor@.service \
         lib/systemd/system/boxlite-monitor@.timer usr/share/boxlite/prometheus/boxlite.rules.yml; do
        check "the package ships /$f" grep -q " ./$f\$" "$T/contents"
done
check "/etc/boxlite/boxlite.conf is a conffile" bash -c "dpkg-deb -e '$DEB' '$T/ctl' && grep -qx /etc/boxlite/boxlite.conf '$T/ctl/conffiles'"

# postinst: nothing enabled for a home that does not exist; the timer and path for one that does.
mkdir -p "$T/layers" "$T/root"
mount -t tmpfs -o size=1g tmpfs "$T/layers" && mkdir -p "$T/layers/upper" "$T/layers/work" &&
        mount -t overlay overlay -o "lowerdir=/,upperdir=$T/layers/upper,workdir=$T/layers/work" "$T/root" ||
        skip_all "cannot mount an overlay over /"
rm -rf "$T/root/var/lib/boxlite"
cp "$DEB" "$T/root/tmp/"
# A host has /proc; systemd-tmpfiles in postinst needs it.
mount -t proc proc "$T/root/proc"
chroot "$T/root" dpkg -i "/tmp/$(basename "$DEB")" >"$T/dpkg.log" 2>&1
check "dpkg -i installs it" test $? -eq 0
wants="$T/root/etc/systemd/system/timers.target.wants/boxlite-gc@var-lib-boxlite.timer"
check "no timer is enabled when the home has no image cache" test ! -e "$wants"
check "tmpfiles created /var/lib/boxlite" test -d "$T/root/var/lib/boxlite"
mkdir -p "$T/root/var/lib/boxlite/images/disk-images"
chroot "$T/root" dpkg --purge boxlite-host >/dev/null 2>&1
chroot "$T/root" dpkg -i "/tmp/$(basename "$DEB")" >"$T/dpkg.log" 2>&1
check "on a host whose home has an image cache, the timer and path are enabled" \
        test -L "$wants" -a -L "$T/root/etc/systemd/system/paths.target.wants/boxlite-gc@var-lib-boxlite.path"
check "... and the monitor's timer for the existing home" \
        test -L "$T/root/etc/systemd/system/timers.target.wants/boxlite-monitor@var-lib-boxlite.timer"
check "the catalog was compiled by the trigger" test -s "$T/root/var/lib/systemd/catalog/database"
check "user units are not enabled for every user" test ! -e "$T/root/etc/systemd/user/timers.target.wants/boxlite-gc.timer"
umount -l "$T/root/proc"
umount -l "$T/root"; umount -l "$T/layers"

# The end-to-end suite against the installed package.
BOXLITE_E2E_INSTALL=deb BOXLITE_E2E_DEB="$DEB" "$HERE/e2e.sh" >"$T/e2e.tap" 2>&1
rc=$?
total=$(grep -c '^ok' "$T/e2e.tap")
failed=$(grep -c '^not ok' "$T/e2e.tap")
grep -A3 '^not ok' "$T/e2e.tap" | while read -r l; do diag "$l"; done
check "the end-to-end suite passes on the installed package ($total ok, $failed not ok)" test $rc -eq 0 -a "$failed" -eq 0 -a "$total" -gt 30
tap_done
