#!/bin/bash
# /usr/local/bin/greeter on the robot (installed by deploy/jetbot/install.sh): the venv's
# greeter, run as the `greeter` service user with greeter.service's settings, so that an
# admin's
#
#     greeter people import ~/people.bundle
#     greeter people export ~/people.bundle
#     greeter greetings set alex-m --message 'Hello {first_name}!'
#     greeter doctor
#     greeter console set-password
#
# see the robot's store and greetings (/var/lib/greeter, readable by that user only) and
# /etc/greeter/greeter.env. Members of the greeter-admin group switch to the service user
# without a password (/etc/sudoers.d/greeter); other users go through sudo as usual.
#
# The service user cannot read or write the admin's files (a 0600 bundle in a private home),
# so the bundle FILE of `people import` and `people export` is opened here, as the admin, and
# handed over as standard input or output (`-`). An export replaces FILE only once it is
# complete, and FILE stays readable by the admin alone.
#
# Stop the service before `greeter run` (sudo systemctl stop greeter): both would want the
# camera and the screen.
set -euo pipefail

# install.sh sets these two when it installs into another root or for another user (tests).
root=
service_user=greeter

self=$root/usr/local/bin/greeter

if [ "$(id -un)" = "$service_user" ]; then
    GREETER_STORE=$root/var/lib/greeter/greeter.sqlite3
    GREETER_GREETINGS=$root/var/lib/greeter/greetings.json
    DISPLAY=:0
    OPENBLAS_CORETYPE=ARMV8
    export GREETER_STORE GREETER_GREETINGS DISPLAY OPENBLAS_CORETYPE
    if [ -r "$root/etc/greeter/greeter.env" ]; then
        set -a
        # shellcheck disable=SC1091
        . "$root/etc/greeter/greeter.env"
        set +a
    fi
    exec "$root/opt/greeter/venv/bin/greeter" "$@"
fi

fail() {
    printf 'Error: %s\n' "$*" >&2
    exit 1
}

as_service_user() {
    sudo -u "$service_user" -H -- "$self" "$@"
}

# Where the command starts: after greeter's own options (--store and --greetings take a value).
args=("$@")
at=0
while [ "$at" -lt "${#args[@]}" ]; do
    case ${args[$at]} in
        --store | --greetings) at=$((at + 2)) ;;
        -*) at=$((at + 1)) ;;
        *) break ;;
    esac
done
group=${args[$at]:-}
command=${args[$at + 1]:-}

# greeter-console.service starts only once the console has a password (ConditionPathExists=):
# after setting one, say how to start it, unless it runs already.
if [ "$group" = console ] && [ "$command" = set-password ]; then
    as_service_user "$@"
    if ! systemctl is-active --quiet greeter-console.service 2>/dev/null; then
        printf 'start the event console with: sudo systemctl start greeter-console\n' >&2
    fi
    exit
fi

# The bundle FILE of `people import|export`: the one argument after the command that is not
# an option. None, several, `-` or --help: greeter itself deals with the command line.
file_at=
if [ "$group" = people ] && { [ "$command" = import ] || [ "$command" = export ]; }; then
    for ((i = at + 2; i < ${#args[@]}; i++)); do
        case ${args[$i]} in
            -h | --help) file_at= ; break ;;
            -?*) ;;
            *) if [ -n "$file_at" ]; then file_at= ; break; fi
               file_at=$i ;;
        esac
    done
fi
if [ -z "$file_at" ] || [ "${args[$file_at]}" = - ]; then
    exec sudo -u "$service_user" -H -- "$self" "$@"
fi

file=${args[$file_at]}
args[file_at]=-
if [ "$command" = import ]; then
    [ -e "$file" ] || fail "$file: no such file"
    [ ! -d "$file" ] || fail "$file: is a directory, not a people bundle"
    [ -r "$file" ] || fail "$file: cannot be read by $(id -un)"
    as_service_user "${args[@]}" <"$file"
    exit
fi

# export: into a temporary file beside FILE (mktemp makes it 0600), renamed over FILE when the
# export succeeded, so that a failed export never leaves half a bundle under FILE's name.
[ ! -d "$file" ] || fail "$file: is a directory; name the bundle file, e.g. ${file%/}/people.bundle"
folder=$(dirname -- "$file")
partial=$(mktemp "$folder/.$(basename -- "$file").XXXXXX" 2>/dev/null) \
    || fail "$file: cannot be written by $(id -un) (in $folder)"
trap 'rm -f -- "$partial"' EXIT
as_service_user "${args[@]}" >"$partial"
sync -- "$partial"
mv -f -- "$partial" "$file"
trap - EXIT
printf 'saved as %s (readable by %s only)\n' "$file" "$(id -un)" >&2
