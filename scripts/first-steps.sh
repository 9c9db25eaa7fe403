#!/usr/bin/env bash
# first-steps.sh does what a newcomer does on a fresh clone, and fails where
# they would get stuck: clone the repository, run `make demo`, paste the
# banner's CLI line (it logs the CLI in), and list the services, which must
# show the demo service. It uses the demo's fixed ports (7070, 8080, 8443),
# so it runs after the Go tests, not beside them.
set -euo pipefail
repo=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
pgid=""
cleanup() {
  if [[ -n $pgid ]]; then
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "first-steps: $*" >&2; echo "--- make demo said:" >&2; cat "$work/demo.log" >&2 || true; exit 1; }

git clone --quiet "$repo" "$work/rampart"
cd "$work/rampart"
# The CLI keeps its login in the user's config directory: a scratch one.
# Go's caches stay where they are (they live under HOME by default).
export GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE) GOPATH=$(go env GOPATH)
export HOME=$work/home XDG_CONFIG_HOME=$work/home/.config
mkdir -p "$HOME"

setsid make demo >"$work/demo.log" 2>&1 </dev/null &
pgid=$!
for _ in $(seq 600); do
  grep -q 'CLI:' "$work/demo.log" && break
  kill -0 "$pgid" 2>/dev/null || fail "make demo exited before printing its banner"
  sleep 0.5
done
grep -q 'CLI:' "$work/demo.log" || fail "no CLI line in the demo banner after 5 minutes"

login=$(sed -n 's/^ *CLI: *//p' "$work/demo.log" | head -1)
next=$(grep -A1 'CLI:' "$work/demo.log" | tail -1 | sed 's/^ *//')
echo "first-steps: $login"
bash -c "$login" || fail "the banner's CLI line failed"
echo "first-steps: $next"
out=$(bash -c "$next") || fail "'$next' failed"
echo "$out"
grep -qw demo <<<"$out" || fail "'$next' does not list the demo service"
echo "first-steps: ok"
