#!/usr/bin/env bash
# `make lint`: clang-format (check only) and clang-tidy on the C++ files changed against the main
# branch's merge base (or every file with ALL=1). Exits non-zero on any finding.
set -euo pipefail
BUILD_DIR=${1:-build}
cd "$(dirname "$0")/.."

if [ "${ALL:-0}" = 1 ]; then
  files=$(git ls-files '*.cc' '*.h')
else
  base=$(git merge-base HEAD origin/main 2>/dev/null || git rev-list --max-parents=0 HEAD | tail -1)
  files=$( (git diff --name-only --diff-filter=ACMR "$base" -- '*.cc' '*.h'; \
            git ls-files --others --exclude-standard -- '*.cc' '*.h') | sort -u)
fi
files=$(echo "$files" | grep -E '^(common|services|cli|tools|tests|fuzz)/' || true)
if [ -z "$files" ]; then
  echo "lint: no changed C++ files"
  exit 0
fi

status=0
echo "lint: clang-format on $(echo "$files" | wc -l) file(s)"
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files || status=1

tidy_files=$(echo "$files" | grep -E '\.cc$' | grep -v '^tests/' || true)
if [ -n "$tidy_files" ]; then
  echo "lint: clang-tidy on $(echo "$tidy_files" | wc -l) file(s)"
  for f in $tidy_files; do
    clang-tidy -p "$BUILD_DIR" --quiet "$f" 2>/dev/null || status=1
  done
fi
exit $status
