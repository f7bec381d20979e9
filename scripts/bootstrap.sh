#!/usr/bin/env bash
# Installs every Debian 12 package Trellis needs to build, test and run. Idempotent: when all
# packages are present it only checks and exits. Called by `make` before every build.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config make git
  # libraries
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libhiredis-dev libevent-dev libssl-dev libical-dev libcpp-jwt-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev tzdata ca-certificates
  # runtime and tests
  redis-server redis-tools python3 python3-grpcio python3-protobuf
  # lint
  clang-format clang-tidy
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "bootstrap: installing ${#missing[@]} missing package(s): ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo)
elif command -v sudo >/dev/null 2>&1; then
  echo "bootstrap: sudo will ask for your password to install packages"
  SUDO=(sudo)
else
  echo "bootstrap: cannot install packages: not root and sudo is not available." >&2
  echo "bootstrap: as root, run: apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "bootstrap: done"
