#!/usr/bin/env bash
# fuzz.sh runs every Fuzz* target in the module for a short time each
# (default 4s): go test accepts only one -fuzz target per package run.
#
# Go 1.26's fuzz coordinator can fail a run with a bare "context deadline
# exceeded" at the end of -fuzztime, having found nothing (golang/go#75804,
# fixed in Go 1.27). A failure that wrote no failing input to testdata/fuzz
# is therefore run again, up to twice; a failure that wrote one fails at once.
set -euo pipefail
fuzztime=${1:-4s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
count() { if [[ -d $1 ]]; then find "$1" -type f | wc -l; else echo 0; fi; }
n=0
while IFS= read -r line; do
  file=${line%%:*}
  name=$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")
  pkg=./$(dirname "$file")
  corpus=$(dirname "$file")/testdata/fuzz/$name
  for try in 1 2 3; do
    echo "fuzz: $pkg $name ($fuzztime)"
    before=$(count "$corpus")
    if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
      break
    fi
    after=$(count "$corpus")
    if [[ $after -gt $before ]] || ! grep -q 'context deadline exceeded' "$log" || [[ $try == 3 ]]; then
      cat "$log"
      echo "fuzz: $name failed; a failing input, if any, is in $corpus" >&2
      exit 1
    fi
    echo "fuzz: $name hit Go's fuzz-deadline race (golang/go#75804) with no failing input; running it again"
  done
  n=$((n + 1))
done < <(git ls-files '*_test.go' | xargs grep -H '^func Fuzz' || true)
echo "fuzz: $n targets, no failures"
