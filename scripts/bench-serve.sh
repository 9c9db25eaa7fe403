#!/usr/bin/env bash
# bench-serve.sh RUN_DIR UPSTREAM PORT [TLS_PORT]: rampart as the OURS contestant of
# ../shared/bench/peers.sh. It prepares a fresh data directory in which
# bench.localhost routes to UPSTREAM (host:port), then runs `rampart serve` on
# 127.0.0.1:PORT in the foreground (exec), so that peers.sh stops it by PID
# with SIGTERM and rampart shuts down gracefully. With TLS_PORT, rampart's
# HTTPS listener is on 127.0.0.1:TLS_PORT too; a handshake without SNI (the
# benchmark dials 127.0.0.1) gets the internal CA's certificate for that
# address.
#
# The edge port opens only once the route exists: peers.sh's first request
# must not meet a half-configured contestant. Access logging is off, as in the
# nginx and Caddy configs of the benchmark.
#
# Like nginx-micro, the service runs with the rate limiter on (at a limit a
# loopback benchmark cannot reach, so it decides every request but never
# refuses one) and the output cache on with its 3 s default. BENCH_CACHE=off
# turns the cache off, to measure the proxy path against caddy-plain.
# RAMPART_SERVE_FLAGS adds flags, e.g. --debug-addr 127.0.0.1:6060 to profile.
set -euo pipefail
run=$1 upstream=$2 port=$3 tls_port=${4:-}
bin=${RAMPART_BIN:-$(cd "$(dirname "$0")/.." && pwd)/bin/rampart}
data=$run/data
admin=127.0.0.1:$((port + 1000))
rm -rf "$data"; mkdir -p "$data"

# 1. Set up the data directory with a short-lived server on a spare port.
# The operator commands want the database serve creates: serve first.
"$bin" serve --data "$data" --admin-addr "$admin" --http-addr 127.0.0.1:0 --https-addr "" --log-level warn &
setup=$!
for _ in $(seq 100); do curl -fs -o /dev/null "http://$admin/healthz" && break; sleep 0.1; done
printf 'bench password 1\n' | "$bin" user create --data "$data" --email bench@localhost.test --admin --password-stdin >/dev/null
token=$("$bin" token create --data "$data" --email bench@localhost.test)
cli=(--server "http://$admin" --token "$token")
"$bin" service create bench --upstream "http://$upstream" "${cli[@]}" >/dev/null
"$bin" ratelimit set bench --requests 1000000 --per second "${cli[@]}" >/dev/null
if [[ ${BENCH_CACHE:-on} == off ]]; then "$bin" cache set bench --off "${cli[@]}" >/dev/null; fi
kill -TERM $setup; wait $setup

# 2. The contestant. Every benchmark connection comes from 127.0.0.1 (h2.sh's
# h2-new opens thousands at once), so the per-client connection cap is lifted
# as nginx and Caddy have none.
https=""
[[ -n $tls_port ]] && https=127.0.0.1:$tls_port
exec "$bin" serve --data "$data" --admin-addr "$admin" --http-addr "127.0.0.1:$port" --https-addr "$https" \
  --platform-domain localhost --log-access-log=false --log-level warn --limits-connections-per-client 1000000 ${RAMPART_SERVE_FLAGS:-}
