#!/usr/bin/env bash
# Prints the Debian packages that own the shared libraries the given binaries load, one per line,
# so the image's runtime stage installs exactly those (and nothing to compile with). Run in the
# build stage: ldd resolves each library, dpkg -S names its package. Debian 12 is usr-merged, so
# a library found under /usr/lib may be registered by dpkg under /lib; both are tried.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: runtime-packages BINARY..." >&2; exit 2; }
# ldd prints "BINARY:" before each binary's list when given several; those lines are skipped.
libs=$(ldd "$@" | awk '/:$/ { next } $2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
       sort -u)
for lib in $libs; do
  real=$(readlink -f "$lib")
  pkg=""
  for candidate in "$lib" "$real" "${lib#/usr}" "${real#/usr}"; do
    if pkg=$(dpkg -S "$candidate" 2>/dev/null | head -n1 | cut -d: -f1) && [ -n "$pkg" ]; then
      break
    fi
  done
  if [ -z "$pkg" ]; then
    echo "runtime-packages: no Debian package owns $lib" >&2
    exit 1
  fi
  echo "$pkg"
done | sort -u
