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
  # metrics: prometheus-cpp core + pull (the /metrics endpoint)
  prometheus-cpp-dev
  # runtime and tests
  redis-server redis-tools python3 python3-grpcio python3-protobuf python3-jwt
  # PyJWT's RS256/ES256 (the token interop test mints and checks tokens with it)
  python3-cryptography
  # promtool checks deploy/observability's alert rules and dashboard queries (see below: the
  # package's Prometheus server is not left running); the e2e test reads the rules with PyYAML
  prometheus python3-yaml
  # `make bench --profile`: callgrind instruction counts (tests/perf/run_bench.py)
  valgrind
  # lint
  clang-format clang-tidy
  # `make fuzz`: clang with libFuzzer (libclang_rt.fuzzer) and the sanitizer runtimes
  clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js runs the FHIR R4 validators in the tests and the Node.js integration example. Any
# node >= 18 with npm will do; install Debian's only when none is present (an existing
# distribution's node may bundle its own npm).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

# npm dependencies, exact versions pinned in each directory's package-lock.json (which has no
# "resolved" URLs: npm ci takes the packages from the configured registry). Reinstalled when the
# lock file changes.
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NODE_DIRS=(
  tests/fhir      # the FHIR R4 validators the unit tests run
  examples/node   # @grpc/grpc-js and @grpc/proto-loader for the Node.js integration example
)

# install_node_modules DIR: `npm ci` in DIR (relative to the repository root) unless its
# node_modules already match its package-lock.json.
install_node_modules() {
  local dir="$ROOT/$1"
  [ -f "$dir/package-lock.json" ] || return 0
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
     ! cmp -s <(grep -v '"resolved"' "$dir/package-lock.json" | md5sum) "$dir/node_modules/.trellis-lock-md5" 2>/dev/null; then
    echo "bootstrap: installing npm dependencies (npm ci in $1)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    grep -v '"resolved"' "$dir/package-lock.json" | md5sum > "$dir/node_modules/.trellis-lock-md5"
  fi
}

install_all_node_modules() {
  local d
  for d in "${NODE_DIRS[@]}"; do install_node_modules "$d"; done
}

if [ ${#missing[@]} -eq 0 ]; then
  install_all_node_modules
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
# Debian's `prometheus` package enables and starts a Prometheus server (port 9090, data in
# /var/lib/prometheus) on systemd machines. We only want its promtool: stop and disable the server
# we just installed (one that was there before is left alone).
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
  "${SUDO[@]}" systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
install_all_node_modules
echo "bootstrap: done"
