#!/bin/sh
# /usr/local/bin/greeter on the robot (installed by deploy/jetbot/install.sh): the venv's
# greeter, run as the `greeter` service user with greeter.service's settings, so that
#
#     greeter doctor
#     greeter people import ~/people.bundle
#     greeter greetings check
#
# see the robot's store (/var/lib/greeter, readable by that user only), greetings and
# /etc/greeter/greeter.env. Other users go through sudo. Stop the service before `greeter run`
# (sudo systemctl stop greeter): both would want the camera and the screen.
set -eu

if [ "$(id -un)" != greeter ]; then
    exec sudo -u greeter -H -- "$0" "$@"
fi

GREETER_STORE=/var/lib/greeter/greeter.sqlite3
GREETER_GREETINGS=/etc/greeter/greetings.json
DISPLAY=:0
OPENBLAS_CORETYPE=ARMV8
export GREETER_STORE GREETER_GREETINGS DISPLAY OPENBLAS_CORETYPE
if [ -r /etc/greeter/greeter.env ]; then
    set -a
    # shellcheck disable=SC1091
    . /etc/greeter/greeter.env
    set +a
fi
exec /opt/greeter/venv/bin/greeter "$@"
