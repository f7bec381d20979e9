# Sourced by scripts/deploy_check.sh once `podman kube play` has started the dev overlay.
# smoke OFFSET: from inside the containers, trellisctl waits for every service to be SERVING and
# makes smoke calls through all three services; then each metrics port must show the gRPC series
# for those calls. Fails (non-zero) at the first thing that does not hold.

# JSON field from stdin: json_get '.name' (a small jq stand-in in node, which deploy-check has).
json_get() {
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v=JSON.parse(s);
    for (const k of process.argv[1].split(".").filter(Boolean)) v=v?.[k];
    if (v===undefined) process.exit(3); console.log(typeof v==="object"?JSON.stringify(v):v);})' "$1"
}

smoke() {
  local off=$1
  local goals_port=$((50051 + off)) measurements_port=$((50052 + off)) reminders_port=$((50053 + off))
  local ctr
  ctr=$(podman ps --format '{{.Names}}' | grep -E '^trellis-goals-pod-[0-9]+-goals$' | head -n1)
  [ -n "$ctr" ] || { echo "FAIL: the goals container is not running" >&2; return 1; }
  # trellisctl inside the goals container. The pods share the host's network, where the adapter
  # put every Service on loopback (the containers' /etc/hosts has no Service names).
  ctl() {
    podman exec -e "TRELLIS_GOALS_ADDR=127.0.0.1:$goals_port" \
      -e "TRELLIS_MEASUREMENTS_ADDR=127.0.0.1:$measurements_port" \
      -e "TRELLIS_REMINDERS_ADDR=127.0.0.1:$reminders_port" \
      -e "TRELLIS_TOKEN=${SMOKE_TOKEN:-}" "$ctr" trellisctl "$@"
  }

  echo "  waiting for the three services to be SERVING (trellisctl health, inside $ctr)"
  local serving=""
  for _ in $(seq 1 90); do
    if ctl health --output json 2>/dev/null | json_get .serving | grep -qx true; then
      serving=1; break
    fi
    sleep 1
  done
  if [ -z "$serving" ]; then
    ctl health >&2 || true
    echo "FAIL: the services did not all become SERVING within 90 s" >&2; return 1
  fi
  ctl health | sed 's/^/    /'

  echo "  smoke calls (trellisctl, inside $ctr)"
  SMOKE_TOKEN=$(ctl token --secret_file /etc/trellis/auth/hs256-secret --tenant smoke \
                  --role clinician --output json | json_get .token)
  local goal measurement listed
  goal=$(ctl goals create --patient smoke-p1 --title "Feel less anxious: GAD-7 below 8" \
           --metric gad7 --direction decrease --baseline 15 --target 8 --start today --due today+12w \
           --output json | json_get .name)
  echo "    goals create -> $goal"
  [ "$(ctl goals get "$goal" --output json | json_get .name)" = "$goal" ] ||
    { echo "FAIL: goals get did not return $goal" >&2; return 1; }
  echo "    goals get -> $goal"
  local scored
  scored=$(ctl measure questionnaire --patient smoke-p1 --instrument gad7 --answers 2,2,1,2,1,1,1 \
             --goal "$goal" --output json)
  measurement=$(json_get .measurement.name <<<"$scored")
  [ "$(json_get .measurement.questionnaire.total <<<"$scored")" = 10 ] ||
    { echo "FAIL: the GAD-7 total is not 10" >&2; return 1; }
  echo "    measure questionnaire (GAD-7, total 10) -> $measurement"
  listed=$(ctl measure list --patient smoke-p1 --output json | json_get .measurements)
  grep -qF "$measurement" <<<"$listed" ||
    { echo "FAIL: measure list does not show $measurement" >&2; return 1; }
  echo "    measure list shows it"
  ctl reminders list --patient smoke-p1 --output json >/dev/null ||
    { echo "FAIL: reminders list failed" >&2; return 1; }
  echo "    reminders list -> answered"
  # A NOT_FOUND, so the error series shows up too; trellisctl must exit non-zero.
  if ctl goals get patients/smoke-p1/goals/does-not-exist >/dev/null 2>&1; then
    echo "FAIL: goals get of a missing goal succeeded" >&2; return 1
  fi
  echo "    goals get of a missing goal -> NOT_FOUND"

  echo "  metrics (curl on each metrics port)"
  local port series
  for port in $((9101 + off)) $((9102 + off)) $((9103 + off)); do
    curl -fsS "http://127.0.0.1:$port/metrics" > "$OUT/metrics-$port.txt"
    for series in grpc_server_started_total grpc_server_handled_total grpc_server_handling_seconds_bucket; do
      grep -q "^$series{" "$OUT/metrics-$port.txt" ||
        { echo "FAIL: :$port/metrics has no $series" >&2; return 1; }
    done
  done
  local goals_metrics="$OUT/metrics-$((9101 + off)).txt"
  grep -E '^grpc_server_handled_total\{' "$goals_metrics" | grep 'grpc_method="CreateGoal"' |
    grep -q 'grpc_code="OK"' || { echo "FAIL: no CreateGoal OK series on goals" >&2; return 1; }
  grep -E '^grpc_server_handled_total\{' "$goals_metrics" | grep 'grpc_method="GetGoal"' |
    grep -q 'grpc_code="NotFound"' || { echo "FAIL: no GetGoal NotFound series on goals" >&2; return 1; }
  grep -E '^grpc_server_handled_total\{.*grpc_method="(CreateGoal|GetGoal)"' "$goals_metrics" |
    sed 's/^/    /'
}
