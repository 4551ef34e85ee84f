#!/bin/sh
# The X client that xinit starts for greeter-x.service (installed to /opt/greeter/kiosk/): it
# configures the bare X server for the kiosk, then keeps it running. X lives as long as this
# script does, so it ends with a sleep that never returns.
#
# No `set -e`: a failed xset must not take the screen down. Errors go to the journal
# (journalctl -u greeter-x).

# The screen never blanks: no screen saver, no blanking, no DPMS power-off.
xset s off
xset s noblank
xset -dpms
xsetroot -solid black
# Access control on; only root and the greeter service user may connect.
xhost +SI:localuser:root >/dev/null
xhost +SI:localuser:greeter >/dev/null
xhost -local: >/dev/null
xhost - >/dev/null
echo "greeter-x: X on $DISPLAY ready for the greeter user (no blanking, no DPMS)"
exec sleep infinity
