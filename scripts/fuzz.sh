#!/usr/bin/env bash
# fuzz.sh runs every Fuzz* target in the module for a short time each
# (default 4s): go test accepts only one -fuzz target per package run.
#
# Go 1.26's fuzz coordinator can fail a run at the end of -fuzztime having
# found nothing: a bare "context deadline exceeded" (golang/go#75804, fixed
# in Go 1.27), or, on a loaded machine, a bare "exit status 1". A real
# finding always writes its failing input to testdata/fuzz, so a failure
# that wrote none is run again, up to twice; one that wrote one fails at
# once.
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
    if [[ $after -gt $before ]] || [[ $try == 3 ]]; then
      cat "$log"
      echo "fuzz: $name failed; a failing input, if any, is in $corpus" >&2
      exit 1
    fi
    echo "fuzz: $name failed with no failing input ($(tail -1 "$log")), as Go's fuzz coordinator can at the deadline (golang/go#75804); running it again"
  done
  n=$((n + 1))
done < <(git ls-files '*_test.go' | xargs grep -H '^func Fuzz' || true)
echo "fuzz: $n targets, no failures"
