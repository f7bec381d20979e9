#!/usr/bin/env bash
# `make demo`: the guided demo (scripts/demo.py) through trellisctl.
#
#   scripts/demo.sh [BUILD_DIR] [--self-start]
#
# Uses the `make run` stack when it answers health on 127.0.0.1:50051-50053 and its development
# secret is in BUILD_DIR/run/dev-secret (the demo mints tokens for a tenant of its own). Otherwise,
# or with --self-start (or TRELLIS_DEMO_SELF_START=1), starts Redis and the three services on free
# loopback ports in a temp dir and stops them, by PID, at the end.
#
# Environment: TRELLIS_CTL_BIN, TRELLIS_GOALS_BIN, TRELLIS_MEASUREMENTS_BIN,
# TRELLIS_REMINDERS_BIN override the binaries of BUILD_DIR; TRELLIS_DEMO_OUT is where the chart
# and the FHIR files go (default BUILD_DIR/run/demo).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=build
SELF_START=${TRELLIS_DEMO_SELF_START:-0}
for arg in "$@"; do
  case $arg in
    --self-start) SELF_START=1 ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "error: unknown flag $arg" >&2; exit 2 ;;
    *) BUILD_DIR=$arg ;;
  esac
done
case $BUILD_DIR in
  /*) BUILD=$BUILD_DIR ;;
  *) BUILD=$ROOT/$BUILD_DIR ;;
esac
CTL=${TRELLIS_CTL_BIN:-$BUILD/cli/trellisctl}
OUT=${TRELLIS_DEMO_OUT:-$BUILD/run/demo}
if [ ! -x "$CTL" ]; then
  echo "error: no trellisctl at $CTL (run make build first)" >&2
  exit 1
fi
source "$ROOT/scripts/stack.sh"

# Never pick up a developer's TRELLIS_TOKEN or addresses meant for another stack.
unset TRELLIS_TOKEN TRELLIS_TOKEN_FILE
health() {
  "$CTL" health --goals_addr "$1" --measurements_addr "$2" --reminders_addr "$3" --deadline 2s \
    --output json >/dev/null 2>&1
}

STACK_DIR=
finish() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$STACK_DIR" ]; then
    echo "stopping the demo's services and redis..."
    stack_stop
    if [ "$status" -eq 0 ]; then
      rm -rf "$STACK_DIR"
    else
      echo "service logs kept in $STACK_DIR" >&2
    fi
  fi
  exit "$status"
}

if [ "$SELF_START" != 1 ] && [ -s "$BUILD/run/dev-secret" ] &&
  health 127.0.0.1:50051 127.0.0.1:50052 127.0.0.1:50053; then
  echo "Using the running 'make run' stack on 127.0.0.1:50051-50053."
  export TRELLIS_GOALS_ADDR=127.0.0.1:50051 TRELLIS_MEASUREMENTS_ADDR=127.0.0.1:50052 \
    TRELLIS_REMINDERS_ADDR=127.0.0.1:50053
  SECRET_FILE=$BUILD/run/dev-secret
else
  STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/trellis-demo.XXXXXX")
  trap finish EXIT
  trap 'exit 130' INT TERM
  # Four distinct free ports, held open together while the kernel picks them.
  read -r REDIS_PORT GOALS_PORT MEASUREMENTS_PORT REMINDERS_PORT < <(/usr/bin/python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
  echo "Starting Redis and the three services on 127.0.0.1 (logs in $STACK_DIR)..."
  stack_start "$STACK_DIR" "$BUILD/services" "$REDIS_PORT" "$GOALS_PORT" "$MEASUREMENTS_PORT" \
    "$REMINDERS_PORT" "0 0 0"
  export TRELLIS_GOALS_ADDR=127.0.0.1:$GOALS_PORT \
    TRELLIS_MEASUREMENTS_ADDR=127.0.0.1:$MEASUREMENTS_PORT \
    TRELLIS_REMINDERS_ADDR=127.0.0.1:$REMINDERS_PORT
  ready_by=$((SECONDS + 30))
  while [ "$SECONDS" -lt "$ready_by" ]; do
    health "$TRELLIS_GOALS_ADDR" "$TRELLIS_MEASUREMENTS_ADDR" "$TRELLIS_REMINDERS_ADDR" && break
    sleep 0.2
  done
  if ! health "$TRELLIS_GOALS_ADDR" "$TRELLIS_MEASUREMENTS_ADDR" "$TRELLIS_REMINDERS_ADDR"; then
    echo "error: the services did not become ready; see $STACK_DIR/*.log" >&2
    exit 1
  fi
  SECRET_FILE=$STACK_DIR/dev-secret
fi

/usr/bin/python3 "$ROOT/scripts/demo.py" --ctl "$CTL" --secret_file "$SECRET_FILE" --out "$OUT"
