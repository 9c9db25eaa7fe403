#!/usr/bin/env bash
# bench-handshakes.sh measures the rate of new TLS handshakes that nginx,
# Caddy and rampart sustain on this machine, and the CPU each spends per
# handshake: wrk sends every request on a new connection ("Connection:
# close"), so each request is a full TLS handshake (wrk does not resume
# sessions) plus one proxied GET of a small page.
#
# It uses the contestant configurations of ../shared/bench (nginx-plain.conf
# with its self-signed ECDSA P-256 certificate, the Caddyfile with `tls
# internal`, also ECDSA P-256) and rampart as scripts/bench-serve.sh starts
# it (its internal CA's ECDSA P-256 certificate for handshakes without SNI),
# with its output cache off like the two plain proxies, rate limiter on.
# The contestants run one after the other, ROUNDS times, so their figures
# are comparable as ratios; the median of the rounds is printed.
#
#   scripts/bench-handshakes.sh            # ~2 min
#   DURATION=5 ROUNDS=1 scripts/bench-handshakes.sh
#
# Run as root (nginx's workers run as www-data). Everything listens on
# 127.0.0.1 and is stopped by its PID when the script exits.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bench=${BENCH:-$here/../../shared/bench}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
BASE=${BASE_PORT:-29080}
RAMPART_BIN=${RAMPART_BIN:-$here/../bin/rampart}
CADDY=${CADDY:-$(command -v caddy || echo "$(go env GOPATH)/bin/caddy")}
results=${RESULTS_DIR:-$here/../bench/results}
CLK=$(getconf CLK_TCK)

for tool in nginx wrk openssl curl "$CADDY" "$RAMPART_BIN"; do
  command -v "$tool" >/dev/null || { echo "bench-handshakes: $tool not found (make peers installs nginx, wrk and caddy; make build builds rampart)" >&2; exit 1; }
done

run=$(mktemp -d /tmp/rampart-handshakes.XXXXXX)
chmod 755 "$run"
declare -A PID=()
cleanup() {
  for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PID[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$run"
}
trap cleanup EXIT

up=$BASE
declare -A PORT=([nginx]=$((BASE + 11)) [caddy]=$((BASE + 13)) [rampart]=$((BASE + 14)))

echo "bench-handshakes: building the benchmark's upstream"
(cd "$bench/upstream" && go build -o "$run/upstream" .)
"$run/upstream" -addr "127.0.0.1:$up" >"$run/upstream.log" 2>&1 &
PID[upstream]=$!

mkdir -p "$run/tls" "$run/nginx-plain" "$run/caddy/data"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$run/tls/key.pem" -out "$run/tls/cert.pem" 2>/dev/null
chmod 644 "$run/tls/cert.pem"
render() {  # render TEMPLATE OUT HTTP_PORT TLS_PORT
  sed -e "s#__RUN__#$run#g" -e "s#__TLSDIR__#$run/tls#g" -e "s#__UPSTREAM__#127.0.0.1:$up#g" \
      -e "s#__PORT__#$3#g" -e "s#__TLS_PORT__#$4#g" "$1" >"$2"
}
render "$bench/peers/nginx-plain.conf" "$run/nginx.conf" $((BASE + 1)) "${PORT[nginx]}"
render "$bench/peers/Caddyfile" "$run/Caddyfile" $((BASE + 3)) "${PORT[caddy]}"

nginx -c "$run/nginx.conf" -e "$run/nginx-plain/error.log" >"$run/nginx.log" 2>&1 &
PID[nginx]=$!
XDG_DATA_HOME=$run/caddy "$CADDY" run --config "$run/Caddyfile" --adapter caddyfile >"$run/caddy.log" 2>&1 &
PID[caddy]=$!
BENCH_CACHE=off RAMPART_BIN=$RAMPART_BIN "$here/bench-serve.sh" "$run/rampart" "127.0.0.1:$up" $((BASE + 4)) "${PORT[rampart]}" >"$run/rampart.log" 2>&1 &
PID[rampart]=$!

for c in nginx caddy rampart; do
  ok=0
  for _ in $(seq 200); do
    if curl -ksf -o /dev/null -H 'Host: bench.localhost' "https://127.0.0.1:${PORT[$c]}/healthz"; then ok=1; break; fi
    sleep 0.1
  done
  [[ $ok == 1 ]] || { echo "bench-handshakes: $c did not answer on https://127.0.0.1:${PORT[$c]}/ (log: $(tail -5 "$run/$c.log" 2>/dev/null))" >&2; exit 1; }
  echo "bench-handshakes: $c: $(timeout 5 openssl s_client -brief -connect "127.0.0.1:${PORT[$c]}" </dev/null 2>&1 | grep -E 'Protocol|Ciphersuite|Peer signature type|Server Temp Key' | tr -s ' ' | paste -sd ';')"
done

ticks() {  # CPU ticks of a PID and its children
  local t=0 v p
  for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
    v=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

stamp=$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$results"
tsv=$results/handshakes-$stamp.tsv
printf 'round\tcontestant\thandshakes_per_s\tp99_ms\terrors\tproxy_cpu_pct\tproxy_us_per_handshake\n' >"$tsv"
for round in $(seq "$ROUNDS"); do
  for c in nginx caddy rampart; do
    url="https://127.0.0.1:${PORT[$c]}/page?id=1"
    # Warm up: processes, upstream connections.
    wrk -t"$THREADS" -c"$CONNS" -d1s -H 'Host: bench.localhost' -H 'Connection: close' "$url" >/dev/null 2>&1 || true
    t0=$(ticks "${PID[$c]}"); s0=$(date +%s%N)
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 5s --latency -s "$bench/wrk/report.lua" \
      -H 'Host: bench.localhost' -H 'Connection: close' "$url" 2>&1)
    s1=$(date +%s%N); t1=$(ticks "${PID[$c]}")
    res=$(grep '^RESULT' <<<"$out") || { echo "$out" >&2; exit 1; }
    f() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$res"; }
    errs=$(( $(f non2xx) + $(f err_connect) + $(f err_read) + $(f err_write) + $(f err_timeout) ))
    secs=$(awk -v a="$s0" -v b="$s1" 'BEGIN { print (b - a) / 1e9 }')
    cpu=$(awk -v t=$((t1 - t0)) -v clk="$CLK" -v s="$secs" 'BEGIN { printf "%.0f", t / clk / s * 100 }')
    per=$(awk -v t=$((t1 - t0)) -v clk="$CLK" -v n="$(f requests)" 'BEGIN { printf "%.1f", t / clk / n * 1e6 }')
    p99=$(awk -v u="$(f p99_us)" 'BEGIN { printf "%.1f", u / 1000 }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$c" "$(f rps)" "$p99" "$errs" "$cpu" "$per" >>"$tsv"
    printf 'round %s  %-8s %9s handshakes/s  p99 %6s ms  errors %s  proxy CPU %s%%  %s us/handshake\n' \
      "$round" "$c" "$(f rps)" "$p99" "$errs" "$cpu" "$per"
  done
done

echo
echo "Medians of $ROUNDS rounds ($DURATION s each, $CONNS connections, every request a new TLS connection):"
awk -F'\t' 'NR > 1 { rps[$2] = rps[$2] " " $3; us[$2] = us[$2] " " $7 }
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    for (c in rps) { m[c] = median(rps[c]); u[c] = median(us[c]) }
    printf "%-9s %14s %16s %14s %14s\n", "", "handshakes/s", "us CPU/handshake", "vs nginx", "vs Caddy"
    split("nginx caddy rampart", order, " ")
    for (i = 1; i <= 3; i++) { c = order[i]
      printf "%-9s %14.0f %16.1f %13.2fx %13.2fx\n", c, m[c], u[c], m[c] / m["nginx"], m[c] / m["caddy"] }
  }' "$tsv" | tee "${tsv%.tsv}.txt"
echo "raw: $tsv"
