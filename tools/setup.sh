#!/usr/bin/env bash
# Install pointad and everything it needs into .venv/ at the repository root.
#   bash tools/setup.sh          the library and the `pnas` command
#   bash tools/setup.sh --test   the same plus the test tools
# Safe to rerun: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

# Debian libraries that wheels load at run time: open3d needs libusb-1.0; VTK (pyvista) renders
# off-screen, without a display server, through Mesa's EGL.
missing=""
ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0' || missing="libusb-1.0-0"
if command -v dpkg-query >/dev/null; then
  for pkg in libegl1 libegl-mesa0 libgl1-mesa-dri; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || missing="$missing $pkg"
  done
fi
# The tests open the HTML report in a real browser: Debian's headless Chromium (--test only).
if [ -n "$extras" ] && [ ! -x /usr/bin/chromium ]; then
  missing="$missing chromium"
fi
if [ -n "$missing" ]; then
  if command -v apt-get >/dev/null; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    # shellcheck disable=SC2086  # one word per package
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $missing >/dev/null
  else
    echo "setup: install libusb-1.0 (open3d), EGL/Mesa (off-screen rendering) and, for the" \
         "tests, chromium with your system's package manager" >&2
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# torch first and pinned: the CPU build of 2.13.0; an unpinned torch would pull a CUDA build.
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
echo "setup: pointad installed in $(pwd)/.venv"
