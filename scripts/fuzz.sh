#!/usr/bin/env bash
# fuzz.sh runs every Fuzz* target in the module for a short time each
# (default 4s): go test accepts only one -fuzz target per package run.
set -euo pipefail
fuzztime=${1:-4s}
n=0
while IFS= read -r line; do
  file=${line%%:*}
  name=$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")
  pkg=./$(dirname "$file")
  echo "fuzz: $pkg $name ($fuzztime)"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz-$$.log 2>&1 || { cat /tmp/fuzz-$$.log; exit 1; }
  n=$((n + 1))
done < <(git ls-files '*_test.go' | xargs grep -H '^func Fuzz' || true)
rm -f /tmp/fuzz-$$.log
echo "fuzz: $n targets, no failures"
