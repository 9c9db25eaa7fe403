#!/usr/bin/env bash
# bench-serve.sh RUN_DIR UPSTREAM PORT: rampart as the OURS contestant of
# ../shared/bench/peers.sh. It starts `rampart serve` on 127.0.0.1:PORT with a
# fresh data directory, routes bench.localhost to UPSTREAM (host:port) and
# stays in the foreground until peers.sh stops it by PID (SIGTERM), which it
# passes on so that rampart shuts down gracefully.
#
# Access logging is off, as in the nginx and Caddy configs of the benchmark.
set -euo pipefail
run=$1 upstream=$2 port=$3
bin=${RAMPART_BIN:-$(cd "$(dirname "$0")/.." && pwd)/bin/rampart}
data=$run/data
admin=127.0.0.1:$((port + 1000))
rm -rf "$data"; mkdir -p "$data"

"$bin" serve --data "$data" --admin-addr "$admin" --http-addr "127.0.0.1:$port" --https-addr "" \
  --platform-domain localhost --log-access-log=false --log-level warn &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' TERM INT
for _ in $(seq 100); do curl -fs -o /dev/null "http://$admin/healthz" && break; sleep 0.1; done

printf 'bench password 1\n' | "$bin" user create --data "$data" --email bench@localhost.test --admin --password-stdin >/dev/null
token=$("$bin" token create --data "$data" --email bench@localhost.test)
"$bin" service create bench --upstream "http://$upstream" --server "http://$admin" --token "$token" >/dev/null
wait $pid
