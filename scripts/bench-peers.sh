#!/usr/bin/env bash
# bench-peers.sh runs ../shared/bench/peers.sh with rampart as the OURS
# contestant beside nginx and Caddy. Extra environment (DURATION, DELAYS,
# MODES, …) is passed through; see ../shared/bench/README.md.
# BENCH_CACHE=off runs rampart with its output cache off (OURS_NAME names the
# row, e.g. rampart-nocache).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
peers=${PEERS:-$here/../../shared/bench/peers.sh}
[[ -x $peers ]] || { echo "bench-peers: $peers not found: set PEERS=path/to/peers.sh" >&2; exit 1; }
command -v nginx >/dev/null && command -v wrk >/dev/null || {
  echo "bench-peers: installing nginx and wrk"; apt-get update -qq && apt-get install -y -qq nginx wrk >/dev/null; }
caddy=$(command -v caddy || echo "$(go env GOPATH)/bin/caddy")
[[ -x $caddy ]] || go install github.com/caddyserver/caddy/v2/cmd/caddy@v2.11.9
export RAMPART_BIN=${RAMPART_BIN:-$here/../bin/rampart}
export OURS_NAME=${OURS_NAME:-rampart} OURS_PORT=28084 OURS_TLS_PORT=28094 OURS_HOST=bench.localhost
export OURS_CMD="$here/bench-serve.sh {RUN} {UPSTREAM} {PORT} {TLS_PORT}"
export RESULTS_DIR=${RESULTS_DIR:-$here/../bench/results}
exec "$peers" "$@"
