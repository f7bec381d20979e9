#!/bin/sh
# Starts redis-server with the given arguments after repairing a torn append-only file the way
# Redis means to, but keeping transactions whole.
#
# Why: a crash (SIGKILL, OOM kill, power loss) can cut the AOF in the middle of a MULTI/EXEC block,
# which is how Redis logs each Lua script's writes. redis-server 7.0 (Debian 12) then loads the file
# with `aof-load-truncated yes`, leaves the script out of memory, but truncates the file only at the
# last whole command, inside the block. Its next writes land behind that dangling MULTI, and on the
# next restart the half script is replayed together with the next transaction: a Trellis write the
# service answered UNAVAILABLE (and the client then retried) comes back beside its retry, stored
# twice. `redis-check-aof --fix` cuts before the MULTI instead, so the file always holds whole
# scripts. There is no Debian package with a Redis that does this itself; hence this wrapper.
#
# What it does, before `exec redis-server "$@"`:
#   - no AOF yet (no manifest): nothing;
#   - the AOF checks clean: nothing;
#   - a torn end: the cut bytes are first copied to <dir>/aof-torn-<time>-<pid>-<file> (so nothing is
#     thrown away unseen), then `redis-check-aof --fix` truncates the file before the torn part;
#   - a transaction opened inside another ("Unexpected MULTI"/"Unexpected EXEC"): the file was
#     already damaged by an earlier start without this wrapper; it exits 1 without starting, for
#     a person to decide (docs/operations.md, "Redis persistence").
# The data directory and AOF directory come from --dir and --appenddirname in the arguments
# (Redis's defaults otherwise: the working directory and appendonlydir).
set -eu

dir=. appenddir=appendonlydir prev=
for arg in "$@"; do
  case "$prev" in
    --dir) dir=$arg ;;
    --appenddirname) appenddir=$arg ;;
  esac
  prev=$arg
done

say() { echo "trellis-redis-start: $*" >&2; }

manifest=
for m in "$dir/$appenddir"/*.manifest; do
  [ -f "$m" ] && manifest=$m
done

if [ -n "$manifest" ]; then
  if ! report=$(redis-check-aof "$manifest" 2>&1); then
    case "$report" in
      *"Unexpected MULTI"* | *"Unexpected EXEC"*)
        say "the AOF holds a transaction inside another (damaged by an earlier start);" \
            "not starting. redis-check-aof said:"
        printf '%s\n' "$report" >&2
        exit 1 ;;
    esac
    # The file with the torn end: "AOF analyzed: filename=F, size=S, ok_up_to=O, ..., diff=D"
    # with D > 0.
    torn=$(printf '%s\n' "$report" | sed -n \
      's/^AOF analyzed: filename=\([^,]*\), size=\([0-9]*\), ok_up_to=\([0-9]*\),.*diff=[1-9][0-9]*$/\1 \2 \3/p' |
      tail -n 1)
    if [ -z "$torn" ]; then
      say "redis-check-aof failed without naming a torn file; not starting:"
      printf '%s\n' "$report" >&2
      exit 1
    fi
    file=${torn%% *}
    rest=${torn#* }
    size=${rest%% *}
    ok=${rest#* }
    keep="$dir/aof-torn-$(date -u +%Y%m%dT%H%M%SZ)-$$-$file"
    tail -c "+$((ok + 1))" "$dir/$appenddir/$file" >"$keep"
    say "torn AOF end: $file is cut from $size to $ok bytes; the cut bytes are kept in $keep"
    if ! printf 'y\n' | redis-check-aof --fix "$manifest" >/dev/null 2>&1 ||
       ! redis-check-aof "$manifest" >/dev/null 2>&1; then
      say "redis-check-aof --fix did not leave a valid AOF; not starting"
      exit 1
    fi
  fi
fi

exec redis-server "$@"
