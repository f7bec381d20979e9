#!/usr/bin/env bash
# `make run`: a local Redis (data under the build tree, AOF on, loopback only) and the three
# services on their default ports. Ctrl-C stops everything, services first, then Redis.
set -euo pipefail
BUILD_DIR=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/$BUILD_DIR/services"
RUN_DIR="$ROOT/$BUILD_DIR/run"
source "$ROOT/scripts/stack.sh"

for p in 50051 50052 50053 9101 9102 9103; do
  if ! port_free "$p"; then
    echo "error: port $p is already in use (another Trellis still running?). Stop it and retry." >&2
    exit 1
  fi
done

REDIS_PORT=${TRELLIS_RUN_REDIS_PORT:-6379}
while ! port_free "$REDIS_PORT"; do REDIS_PORT=$((REDIS_PORT + 1)); done

stop_all() {
  trap - INT TERM EXIT
  echo
  echo "stopping services and redis..."
  stack_stop
  echo "stopped."
}
trap stop_all INT TERM EXIT

# Redis (AOF on) and the services; the development signing secret is $RUN_DIR/dev-secret.
stack_start "$RUN_DIR" "$BIN" "$REDIS_PORT" 50051 50052 50053
SECRET_FILE="$RUN_DIR/dev-secret"

# Wait until each service says it is SERVING.
/usr/bin/python3 "$ROOT/tools/probe.py" --wait 20 127.0.0.1:50051 127.0.0.1:50052 127.0.0.1:50053 || {
  echo "error: services did not become ready; see $RUN_DIR/*.log" >&2
  exit 1
}

# A development token (clinician of tenant "demo", 12 hours) so the stack can be called at once.
TOKEN="$(/usr/bin/python3 "$ROOT/tools/mint_token.py" "$SECRET_FILE")"
echo "$TOKEN" > "$RUN_DIR/dev-token"
chmod 600 "$RUN_DIR/dev-token"

cat <<MSG

Trellis is running.
  GoalService         127.0.0.1:50051   metrics http://127.0.0.1:9101/metrics
  MeasurementService  127.0.0.1:50052   metrics http://127.0.0.1:9102/metrics
  ReminderService     127.0.0.1:50053   metrics http://127.0.0.1:9103/metrics
  Redis               127.0.0.1:$REDIS_PORT  (data: $RUN_DIR/redis, AOF on)
  Logs                $RUN_DIR/{goals,measurements,reminders,redis}.log

Check health and list services (gRPC health + reflection):
  /usr/bin/python3 tools/probe.py 127.0.0.1:50051 127.0.0.1:50052 127.0.0.1:50053
Any gRPC client works against these ports; the API is in proto/trellis/v1/.

Every call but health needs a bearer token. A development token (clinician of tenant "demo",
valid 12 hours) is in $RUN_DIR/dev-token:
  export TRELLIS_TOKEN="\$(cat $RUN_DIR/dev-token)"
  # send it as gRPC metadata:  authorization: Bearer \$TRELLIS_TOKEN
Tokens for other roles (client, admin, service) or tenants:
  /usr/bin/python3 tools/mint_token.py $SECRET_FILE --role client --patient p1
The command-line client (see the README's trellisctl section) uses that token:
  TRELLIS_TOKEN_FILE=$RUN_DIR/dev-token $ROOT/$BUILD_DIR/cli/trellisctl health

The guided demo (a client's plan from a vague wish to progress, reminders and FHIR) runs against
this stack from another terminal:
  make demo

Press Ctrl-C to stop.
MSG
wait "${STACK_PIDS[0]}"
