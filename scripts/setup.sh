#!/usr/bin/env bash
# Installs what shelfwise needs to build, run and test, and nothing twice:
#   - Debian packages for eframe (pkg-config, Wayland and xkbcommon headers) and
#     for running a real window headless in tests (Xvfb, Mesa);
#   - libtorch 2.13.0 for tch 0.26, as PyPI's torch==2.13.0 in a virtual
#     environment, unless LIBTORCH already points at a libtorch of your own.
# Safe to run again: each step checks first. Run by `make run` and `make test`.
set -euo pipefail

TORCH_VERSION=2.13.0
CACHE_DIR=${SHELFWISE_CACHE:-$HOME/.cache/shelfwise}
VENV=${SHELFWISE_VENV:-$CACHE_DIR/torch-venv}

say() { echo "setup: $*" >&2; }

# --- system packages -------------------------------------------------------
build_pkgs="pkg-config g++ libwayland-dev libxkbcommon-dev"
window_pkgs="xvfb x11-apps libgl1-mesa-dri libegl1"
missing=""
if command -v dpkg >/dev/null 2>&1; then
  for pkg in $build_pkgs $window_pkgs; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing Debian packages:$missing"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
      say "missing packages:$missing"
      say "install them with: sudo apt-get install -y$missing"
      exit 1
    fi
  fi
else
  command -v pkg-config >/dev/null 2>&1 || {
    say "pkg-config and the Wayland / xkbcommon development files are needed to build the window."
    say "On Fedora: sudo dnf install pkgconf-pkg-config wayland-devel libxkbcommon-devel"
    exit 1
  }
fi

# --- libtorch --------------------------------------------------------------
if [ -n "${LIBTORCH:-}" ]; then
  [ -d "$LIBTORCH/lib" ] || { say "LIBTORCH=$LIBTORCH has no lib folder"; exit 1; }
  say "using your libtorch in $LIBTORCH"
  exit 0
fi
stamp="$VENV/.shelfwise-torch-$TORCH_VERSION"
if [ ! -f "$stamp" ]; then
  python=$(command -v python3 || true)
  [ -n "$python" ] || { say "python3 is needed to install libtorch from PyPI (or set LIBTORCH)"; exit 1; }
  say "installing torch==$TORCH_VERSION from PyPI into $VENV (about 3 GB, once)"
  mkdir -p "$(dirname "$VENV")"
  [ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "torch==$TORCH_VERSION"
  "$VENV/bin/python" - <<PY
import torch, sys
version = torch.__version__.split("+")[0]
sys.exit(0 if version == "$TORCH_VERSION" else f"torch {torch.__version__} installed, $TORCH_VERSION needed")
PY
  touch "$stamp"
fi
