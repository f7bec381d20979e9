#!/usr/bin/env bash
# `make deploy-check`: the deployment checks CI runs after `make test`, each able to fail.
#  1. The strict validator rejects known-bad manifests (deploy/check/testdata), so a pass means
#     something.
#  2. `kubectl kustomize` renders the base and every overlay; every object is validated strictly
#     against the Kubernetes API types (deploy/check/validate.mjs); compose.yaml against the
#     compose specification's schema (deploy/check/validate-compose.mjs).
#  3. `make image` builds the images offline (SKIP_IMAGE=1 reuses trellis:$TAG when iterating).
#  4. The dev overlay runs under `podman kube play` (adapted by deploy/check/kube-play.mjs for
#     what podman lacks); from inside the containers trellisctl checks each service's health and
#     makes smoke calls; each metrics port shows the gRPC series. Then everything is torn down.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
TAG=${TAG:-dev}
OUT="$ROOT/$BUILD_DIR/deploy"
CHECK="$ROOT/deploy/check"
mkdir -p "$OUT/rendered"
step() { echo; echo "== deploy-check: $*"; }

step "tools"
# shellcheck source=engine.sh
. "$ROOT/scripts/engine.sh"
command -v kubectl >/dev/null 2>&1 || apt_install kubernetes-client
command -v curl >/dev/null 2>&1 || apt_install curl
kubectl version --client 2>/dev/null | sed 's/^/  /'
# The overlays use kustomize v4+ fields (labels, replicas, inline patches with targets); kubectl
# embeds kustomize v4+ from 1.21 on. Debian 12's own kubernetes-client is 1.20.
kustomize_major=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\).*/\1/p')
if [ -z "$kustomize_major" ] || [ "$kustomize_major" -lt 4 ]; then
  echo "FAIL: kubectl with kustomize v4 or later is needed (kubectl 1.21+); found: $(kubectl version --client 2>&1 | tr '\n' ' ')" >&2
  exit 1
fi
if [ ! -f "$CHECK/node_modules/.package-lock.json" ] ||
   ! cmp -s "$CHECK/package-lock.json" "$CHECK/node_modules/.trellis-lock" 2>/dev/null; then
  (cd "$CHECK" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$CHECK/package-lock.json" "$CHECK/node_modules/.trellis-lock"
fi

step "the validator rejects known-bad manifests"
for bad in "$CHECK"/testdata/k8s/*.yaml "$CHECK"/testdata/compose/*.yaml; do
  expect=$(sed -n 's/^# expect: //p' "$bad")
  validator=validate.mjs
  case "$bad" in */compose/*) validator=validate-compose.mjs ;; esac
  if out=$(node "$CHECK/$validator" "$bad" 2>&1); then
    echo "FAIL: $bad passed validation; it must not" >&2; exit 1
  fi
  if ! grep -qF -- "$expect" <<<"$out"; then
    echo "FAIL: $bad was rejected without naming '$expect':" >&2; echo "$out" >&2; exit 1
  fi
  echo "  rejected as expected: $(basename "$bad") ($expect)"
done

step "render and validate every overlay, and the compose file"
for dir in base overlays/dev overlays/prod; do
  name=$(basename "$dir")
  kubectl kustomize "$ROOT/deploy/k8s/$dir" > "$OUT/rendered/$name.yaml"
  node "$CHECK/validate.mjs" "$OUT/rendered/$name.yaml" | sed 's/^/  /'
done
node "$CHECK/validate-compose.mjs" "$ROOT/deploy/compose.yaml" | sed 's/^/  /'

step "image"
TRELLIS_ENGINE=podman pick_engine  # kube play is podman's
if [ -z "${SKIP_IMAGE:-}" ]; then
  BUILD_DIR=$BUILD_DIR TAG=$TAG TRELLIS_ENGINE=podman bash "$ROOT/scripts/image.sh"
fi
podman image inspect "localhost/trellis:$TAG" "localhost/trellis-redis:$TAG" >/dev/null

step "run the dev overlay with podman kube play"
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
offset=""
for candidate in 10000 11000 12000 13000 14000 15000; do
  ok=1
  for p in 6379 50051 50052 50053 9101 9102 9103; do port_free $((p + candidate)) || ok=""; done
  if [ -n "$ok" ]; then offset=$candidate; break; fi
done
[ -n "$offset" ] || { echo "FAIL: no free set of ports for the smoke stack" >&2; exit 1; }
SECRETS=$(mktemp -d)
chmod 755 "$SECRETS"
PLAY="$OUT/kube-play.yaml"
node "$CHECK/kube-play.mjs" "$OUT/rendered/dev.yaml" --port-offset "$offset" --secrets-dir "$SECRETS" \
  --image "trellis=localhost/trellis:$TAG" --image "trellis-redis=localhost/trellis-redis:$TAG" > "$PLAY"

teardown() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "== deploy-check failed; container logs:" >&2
    for c in $(podman ps -a --format '{{.Names}}' | grep '^trellis-' || true); do
      echo "--- $c" >&2; podman logs --tail 30 "$c" >&2 2>&1 || true
    done
  fi
  podman kube play --down "$PLAY" >/dev/null 2>&1 || true
  podman volume rm -f data-trellis-redis-0 >/dev/null 2>&1 || true
  rm -rf "$SECRETS"
  exit $rc
}
trap teardown EXIT
podman kube play --down "$PLAY" >/dev/null 2>&1 || true
podman volume rm -f data-trellis-redis-0 >/dev/null 2>&1 || true
podman kube play "$PLAY" | sed 's/^/  /'

# shellcheck source=../deploy/check/smoke.sh
. "$CHECK/smoke.sh"
smoke "$offset"
echo
echo "deploy-check: OK"
