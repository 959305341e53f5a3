# Shared by scripts/demo and scripts/test: a virtual environment and Debian packages.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Install Debian packages that are missing (as root), or say exactly what to install.
ensure_debs() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "Installing Debian packages: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Missing system packages: ${missing[*]}" >&2
    echo "Install them with:  sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
}

# Create or reuse .venv and install the project into it when pyproject.toml changed.
ensure_venv() {
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Python 3.11 or newer is needed as '$python' (set PYTHON=/path/to/python3.11)." >&2
    exit 1
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "Creating virtual environment in .venv"
    if ! "$python" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      ensure_debs python3-venv
      "$python" -m venv "$VENV"
    fi
  fi
  local stamp
  stamp="$VENV/.installed-$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    say "Installing the twin and its dependencies into .venv (first run takes a few minutes)"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e "$ROOT[dev]"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}

# Libraries VTK loads for offscreen rendering through EGL (Mesa's software renderer).
RENDER_DEBS=(libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libxrender1 libx11-6)
