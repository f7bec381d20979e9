#!/usr/bin/env bash
# Runs each fuzz target of `make fuzz` for a bounded time: scripts/fuzz.sh BUILD_DIR SECONDS TARGET...
#
# Each target starts from a copy of its seed corpus and regressions (fuzz/corpus/<t>,
# fuzz/regressions/<t>) in BUILD_DIR/fuzz-run/<t>/, so what libFuzzer adds never lands in the
# repository. Exits non-zero when any target crashed (or leaked, ran out of memory or time on one
# input), after printing each reproducer's path; keep it under fuzz/regressions/<t>/ once fixed.
# Knobs (environment): FUZZ_TIMEOUT seconds per input (10), FUZZ_RSS_MB (2048).
set -uo pipefail

build_dir=$1
seconds=$2
shift 2
root="$(cd "$(dirname "$0")/.." && pwd)"
timeout_s=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-2048}

failed=()
for target in "$@"; do
  bin="$build_dir/fuzz/trellis_fuzz_$target"
  work="$build_dir/fuzz-run/$target"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  for dir in "$root/fuzz/corpus/$target" "$root/fuzz/regressions/$target"; do
    [ -d "$dir" ] && cp -r "$dir/." "$work/corpus/"
  done
  dict=()
  [ -f "$root/fuzz/dict/$target.dict" ] && dict=("-dict=$root/fuzz/dict/$target.dict")
  echo "== fuzz $target: ${seconds}s (log: $work/fuzz.log)"
  "$bin" "$work/corpus" "${dict[@]}" -max_total_time="$seconds" -timeout="$timeout_s" \
    -rss_limit_mb="$rss_mb" -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
    >"$work/fuzz.log" 2>&1
  status=$?
  grep -E "^#[0-9]+[[:space:]]+DONE|^stat::number_of_executed_units|^stat::peak_rss_mb" "$work/fuzz.log" | sed 's/^/   /'
  if [ $status -ne 0 ]; then
    failed+=("$target")
    echo "   FAILED (exit $status); last lines of the log:"
    grep -E "ERROR|SUMMARY|contract broken|Test unit written" "$work/fuzz.log" | tail -5 | sed 's/^/   /'
    for artifact in "$work"/artifacts/*; do
      [ -e "$artifact" ] && echo "   reproducer: $artifact  (replay: $bin $artifact)"
    done
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a crash"
