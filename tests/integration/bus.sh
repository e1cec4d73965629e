# SPDX-License-Identifier: LGPL-2.1-or-later
# A private dbus-daemon with the system bus's default policy and the
# project's policy file (sourced by tests).
#
#   start_bus DIR [SERVICEDIR]   starts it on DIR/bus; sets BUS_PID and BUS_ADDRESS
#   stop_bus

start_bus() {
        local dir="$1" servicedir="${2:-}"
        local policy="${BOXLITE_SRC:?}/units/dbus/org.boxlite.Admission1.conf"
        {
                cat <<EOB
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$dir/bus</listen>
  <auth>EXTERNAL</auth>
EOB
                [ -n "$servicedir" ] && echo "  <servicedir>$servicedir</servicedir>"
                # The default policy of /usr/share/dbus-1/system.conf.
                cat <<EOB
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Peer"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <include>$policy</include>
</busconfig>
EOB
        } >"$dir/bus.conf"
        dbus-daemon --config-file="$dir/bus.conf" --nofork --nopidfile --nosyslog 2>"$dir/bus.log" &
        BUS_PID=$!
        BUS_ADDRESS="unix:path=$dir/bus"
        for _ in $(seq 100); do
                [ -S "$dir/bus" ] && return 0
                sleep 0.05
        done
        return 1
}

stop_bus() {
        [ -n "${BUS_PID:-}" ] && kill "$BUS_PID" 2>/dev/null && wait "$BUS_PID" 2>/dev/null
        BUS_PID=
}
