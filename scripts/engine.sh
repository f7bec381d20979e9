# Sourced by scripts/image.sh and scripts/deploy_check.sh: picks the container engine and makes it
# usable on a plain Debian 12 host, installing what is missing.
#   TRELLIS_ENGINE=podman|docker forces one; otherwise podman when installed, else a running Docker
#   engine, else Debian's podman is installed.
# Podman is set up through a generated containers.conf (CONTAINERS_CONF, nothing under /etc is
# changed): runc, cgroupfs (no systemd needed), the host's network (no bridge or iptables needed)
# and ulimits within what this host allows (podman's defaults exceed the hard limits of many CI
# sandboxes, and runc then refuses to start any container).

apt_install() {
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "engine: installing $*" >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >&2
}

setup_podman() {
  local need=()
  command -v podman >/dev/null 2>&1 || need+=(podman)
  command -v runc >/dev/null 2>&1 || need+=(runc)
  # kube play builds its pods' pause image locally from catatonit (no registry needed)
  command -v catatonit >/dev/null 2>&1 || [ -x /usr/libexec/podman/catatonit ] || need+=(catatonit)
  [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}" uidmap slirp4netns
  local conf_dir="$ROOT/${BUILD_DIR:-build}/deploy"
  mkdir -p "$conf_dir"
  local nofile
  nofile=$(ulimit -Hn)
  if [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ]; then nofile=65536; fi
  sed -e "s/@NOFILE@/$nofile/g" "$ROOT/deploy/podman/containers.conf.in" > "$conf_dir/containers.conf"
  export CONTAINERS_CONF="$conf_dir/containers.conf"
  ENGINE=podman
}

pick_engine() {
  case "${TRELLIS_ENGINE:-}" in
    podman) setup_podman ;;
    docker)
      docker info >/dev/null 2>&1 || {
        echo "engine: TRELLIS_ENGINE=docker but no Docker engine answers (docker info)." >&2
        echo "engine: start one, e.g. dockerd --bridge=none --iptables=false, or use podman." >&2
        exit 1
      }
      ENGINE=docker ;;
    "")
      if command -v podman >/dev/null 2>&1; then setup_podman
      elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then ENGINE=docker
      else setup_podman
      fi ;;
    *) echo "engine: TRELLIS_ENGINE must be podman or docker, not '$TRELLIS_ENGINE'" >&2; exit 2 ;;
  esac
  echo "engine: $ENGINE" >&2
}
