#!/usr/bin/env bash
# bench-h2.sh runs ../shared/bench/h2.sh (HTTP/2 over TLS: cache hits on one
# and 100 URLs, a new connection per request) with rampart as the OURS
# contestant beside nginx and Caddy. Extra environment (ROUNDS, N, C, M, …)
# is passed through; see ../shared/bench/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
h2=${H2SH:-$here/../../shared/bench/h2.sh}
[[ -x $h2 ]] || { echo "bench-h2: $h2 not found: set H2SH=path/to/h2.sh" >&2; exit 1; }
command -v nginx >/dev/null && command -v h2load >/dev/null || {
  echo "bench-h2: installing nginx and h2load"; apt-get update -qq && apt-get install -y -qq nginx nghttp2-client >/dev/null; }
caddy=$(command -v caddy || echo "$(go env GOPATH)/bin/caddy")
[[ -x $caddy ]] || go install github.com/caddyserver/caddy/v2/cmd/caddy@v2.11.9
export RAMPART_BIN=${RAMPART_BIN:-$here/../bin/rampart}
export OURS_NAME=${OURS_NAME:-rampart} OURS_HOST=bench.localhost
export OURS_CMD="$here/bench-serve.sh {RUN} {UPSTREAM} {PORT} {TLS_PORT}"
exec "$h2" "$@"
