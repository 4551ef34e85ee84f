#!/bin/sh
# Waits until the X server DISPLAY (default :0) accepts this user's connections, at most
# TIMEOUT seconds (default 60). greeter.service's ExecStartPre (installed to
# /opt/greeter/kiosk/): greeter-x.service counts as started as soon as xinit runs, before X
# has set up the screen and let the greeter user in.
#
# Usage: wait-for-x.sh [DISPLAY] [TIMEOUT]
set -eu

display=${1:-:0}
timeout=${2:-60}
waited=0
until xset -display "$display" q >/dev/null 2>&1; do
    if [ "$waited" -ge "$timeout" ]; then
        echo "wait-for-x: no X server on $display after ${timeout}s (journalctl -u greeter-x)" >&2
        exit 1
    fi
    sleep 1
    waited=$((waited + 1))
done
echo "wait-for-x: X on $display is up after ${waited}s"
