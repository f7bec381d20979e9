#!/usr/bin/env bash
# `make image`: builds the Trellis images with podman or docker, offline from registries.
#   trellis:$TAG        the three services and trellisctl (deploy/docker/Dockerfile, target runtime)
#   trellis-redis:$TAG  Debian's redis-server with deploy/redis/redis.conf (target redis)
# The base is a Debian bookworm made here with `debootstrap --variant=minbase` from the host's own
# apt sources and imported as trellis/bookworm-base:<key>, so no container registry is needed (the
# build stages still install packages from the Debian archive). The base is made once per machine
# and apt-sources key and then reused; TRELLIS_REBUILD_BASE=1 makes it again. Set BASE_IMAGE to
# build from another bookworm image instead (e.g. BASE_IMAGE=debian:bookworm-slim with registry
# access).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
TAG=${TAG:-dev}
# shellcheck source=engine.sh
. "$ROOT/scripts/engine.sh"
pick_engine

# The host's Debian mirror and suites (deb822 or one-line format), unless DEBIAN_MIRROR is given.
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
          /etc/apt/sources.list 2>/dev/null |
        grep -v -- '-security' | grep -oE '(https?|file)://[^ ]+' | head -n1 || true)
  if [ -z "$uri" ]; then
    echo "image: cannot find a Debian mirror in the host's apt sources; set DEBIAN_MIRROR" >&2
    exit 1
  fi
  echo "$uri"
}

make_base() {
  local mirror key name rootfs
  mirror=$(debian_mirror)
  key=$( (echo "$mirror"; cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null) |
         md5sum | cut -c1-12)
  name="trellis/bookworm-base:$key"
  if [ -z "${TRELLIS_REBUILD_BASE:-}" ] && $ENGINE image inspect "$name" >/dev/null 2>&1; then
    echo "image: base $name (cached on this machine)" >&2
    echo "$name"; return
  fi
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' RETURN
  echo "image: debootstrap --variant=minbase bookworm from $mirror" >&2
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    tail -20 "$rootfs.log" >&2; echo "image: debootstrap failed (log: $rootfs.log)" >&2; exit 1; }
  rm -f "$rootfs.log"
  # The image's apt uses the host's sources (the same mirror, updates and security suites).
  if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1 || [ -s /etc/apt/sources.list ]; then
    rm -f "$rootfs/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/*.sources "$rootfs/etc/apt/sources.list.d/" 2>/dev/null || true
    [ -s /etc/apt/sources.list ] && cp /etc/apt/sources.list "$rootfs/etc/apt/sources.list"
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" --numeric-owner -c . |
    $ENGINE import --change 'CMD ["/bin/bash"]' - "$name" >/dev/null
  echo "image: base $name made" >&2
  echo "$name"
}

BASE=${BASE_IMAGE:-$(make_base)}
cd "$ROOT"
for target in runtime redis; do
  image=trellis; [ "$target" = redis ] && image=trellis-redis
  echo "image: building $image:$TAG (target $target, base $BASE)" >&2
  $ENGINE build --network host -f deploy/docker/Dockerfile --build-arg "BASE_IMAGE=$BASE" \
    --target "$target" -t "$image:$TAG" .
done
$ENGINE images --filter reference='trellis*' >&2
