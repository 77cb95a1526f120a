#!/usr/bin/env bash
# Installs the Debian packages Krapition needs that are missing; does nothing (quickly) when all are there.
# Used by `make run` and `make test`. Needs root, or sudo, only when something is missing.
set -euo pipefail

packages=(
  # Python itself, for a machine that has none
  python3 python3-venv python3-dev
  # A virtual X server for machines without a screen, and what Qt's xcb platform plugin loads
  xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libxcb-image0
  libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xinerama0 libfontconfig1 libdbus-1-3
  # OpenGL through Mesa (llvmpipe renders correctly where there is no GPU)
  libgl1 libegl1 libgl1-mesa-dri
  # Audio: PortAudio for sounddevice, JACK for a real-time device without a sound card
  libportaudio2 jackd2
  # Network namespaces for isolated test runs
  iproute2 util-linux
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$pkg")
  fi
done

# A Python 3.11 from elsewhere (pyenv, python.org) is as good as Debian's.
if command -v python3.11 >/dev/null 2>&1; then
  filtered=()
  for pkg in "${missing[@]}"; do
    case "$pkg" in python3|python3-venv|python3-dev) ;; *) filtered+=("$pkg") ;; esac
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

[ "${#missing[@]}" -eq 0 ] && exit 0

echo "Installing missing system packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "error: these packages are missing and this user cannot install them: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
