# shellcheck shell=bash
# Sourced by run.sh (`make run`) and demo.sh (`make demo`): a local Redis and the three services on
# loopback, started in the background and stopped by PID. Not a script to run on its own.
#
#   stack_start DIR BIN_DIR REDIS_PORT GOALS_PORT MEASUREMENTS_PORT REMINDERS_PORT [METRICS_PORTS]
#     DIR holds the Redis data, the logs ({goals,measurements,reminders,redis}.log) and the
#     development signing secret (DIR/dev-secret, made once). BIN_DIR holds the binaries as the
#     build lays them out (BIN_DIR/goals/trellis-goals ...); TRELLIS_GOALS_BIN,
#     TRELLIS_MEASUREMENTS_BIN and TRELLIS_REMINDERS_BIN override single ones. METRICS_PORTS is
#     "G M R" (default 9101 9102 9103, the services' own; "0 0 0" picks free ones). Each service is
#     told where the others are. Returns once Redis answers; the caller waits for the services
#     (they log to DIR and say SERVING through gRPC health).
#   stack_stop
#     Stops what stack_start started: the services (SIGTERM, then waits), then Redis.
#   port_free PORT
#     True when nothing listens on 127.0.0.1:PORT.
#
# STACK_PIDS holds the PIDs, Redis first.

STACK_PIDS=()

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stack_start() {
  local dir=$1 bin_dir=$2 redis_port=$3 goals_port=$4 measurements_port=$5 reminders_port=$6
  local -a metrics_ports
  read -r -a metrics_ports <<<"${7:-9101 9102 9103}"
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  mkdir -p "$dir/redis"

  # The start wrapper repairs an AOF torn by a crash before Redis loads it (it says why).
  "$root/deploy/redis/redis-start.sh" "$root/deploy/redis/redis.conf" --port "$redis_port" --bind 127.0.0.1 \
    --dir "$dir/redis" --daemonize no --logfile "$dir/redis.log" &
  STACK_PIDS+=($!)
  local _
  for _ in $(seq 1 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done

  # A development signing secret, made once and kept in DIR. Mint tokens with it (see the
  # README); production uses a secret or keys from the platform's identity provider.
  local secret_file="$dir/dev-secret"
  if [ ! -s "$secret_file" ]; then
    (umask 077 && head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > "$secret_file")
  fi

  local -A bins=(
    [goals]=${TRELLIS_GOALS_BIN:-$bin_dir/goals/trellis-goals}
    [measurements]=${TRELLIS_MEASUREMENTS_BIN:-$bin_dir/measurements/trellis-measurements}
    [reminders]=${TRELLIS_REMINDERS_BIN:-$bin_dir/reminders/trellis-reminders})
  local -A ports=([goals]=$goals_port [measurements]=$measurements_port
                  [reminders]=$reminders_port)
  local -A metrics=([goals]=${metrics_ports[0]} [measurements]=${metrics_ports[1]}
                    [reminders]=${metrics_ports[2]})
  local svc
  for svc in goals measurements reminders; do
    TRELLIS_AUTH_HS256_SECRET_FILE="$secret_file" \
      TRELLIS_REDIS_URL="redis://127.0.0.1:$redis_port/0" \
      TRELLIS_LISTEN_HOST=127.0.0.1 \
      TRELLIS_PORT="${ports[$svc]}" \
      TRELLIS_METRICS_PORT="${metrics[$svc]}" \
      TRELLIS_GOALS_ADDR="127.0.0.1:$goals_port" \
      TRELLIS_MEASUREMENTS_ADDR="127.0.0.1:$measurements_port" \
      TRELLIS_REMINDERS_ADDR="127.0.0.1:$reminders_port" \
      "${bins[$svc]}" >>"$dir/$svc.log" 2>&1 &
    STACK_PIDS+=($!)
  done
}

stack_stop() {
  [ ${#STACK_PIDS[@]} -gt 0 ] || return 0
  local pid
  for pid in "${STACK_PIDS[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${STACK_PIDS[@]:1}"; do wait "$pid" 2>/dev/null || true; done
  # SIGTERM makes redis-server shut down cleanly (the AOF is flushed).
  kill -TERM "${STACK_PIDS[0]}" 2>/dev/null || true
  wait "${STACK_PIDS[0]}" 2>/dev/null || true
  STACK_PIDS=()
}
