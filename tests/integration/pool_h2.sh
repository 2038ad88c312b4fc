#!/usr/bin/env bash
#   pool_h2: zorch-pool against a real HTTP/2 server over TLS (Debian's
#   nghttpd, a throwaway certificate trusted through the service's
#   ca_file). 2,000 events, 500 in flight, go through the `http` handler
#   of a worker to one service with max_conns = 1: every one is answered,
#   the pool opens one connection and says it speaks HTTP/2, and the
#   server's own frame log shows the streams multiplexed: requests of later
#   streams arrive before earlier streams are answered, on that one
#   connection; the same server without ca_file is refused (certificates
#   are verified). Skipped (77) without nghttpd or openssl.
source "$(dirname "$0")/lib.sh"
zt_init pool_h2 17470
for tool in nghttpd openssl; do
    if ! command -v "$tool" >/dev/null; then
        zt_say "SKIPPED: $tool is not installed (deploy/setup.sh installs it)"
        exit 77
    fi
done
POOL="tcp://127.0.0.1:$((PORT_BASE + 3))"
HPORT=$((PORT_BASE + 4))
pstat () { "$ZORCH_BIN" pool stats --json --endpoint "$POOL" | jq -r --arg n "$1" '.counters[$n] // .gauges[$n]'; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$T/key.pem" -out "$T/cert.pem" 2>"$T/openssl.err" || zt_fail "openssl: $(cat "$T/openssl.err")"
mkdir -p "$T/www"
echo "ok over h2" >"$T/www/ok"
zt_bg "$T/nghttpd.log" nghttpd --address=127.0.0.1 --htdocs="$T/www" --verbose "$HPORT" "$T/key.pem" "$T/cert.pem"
zt_wait 5 "nghttpd" bash -c "curl -s --cacert '$T/cert.pem' https://127.0.0.1:$HPORT/ok | grep -q 'ok over h2'"
#   The frames of the pool's connection only, from here on: once the
#   server logged the check's connection closed (it may log that after
#   curl has returned), the log starts again.
s_checks_closed () {
    local ids closed
    ids=$(grep -ao '^\[id=[0-9]*\]' "$T/nghttpd.log" | sort -u | wc -l)
    closed=$(grep -acE '^\[id=[0-9]+\] \[ *[0-9.]+\] closed$' "$T/nghttpd.log")
    [ "$ids" -gt 0 ] && [ "$ids" -eq "$closed" ]
}
zt_wait 5 "nghttpd to log the check's connection closed" s_checks_closed
: >"$T/nghttpd.log"
cat >"$T/zorch.conf" <<CONF
pool
    endpoint = $POOL
    health_interval = 0
    services
        service
            name = tls
            url = "https://127.0.0.1:$HPORT"
            ca_file = "$T/cert.pem"
            max_conns = 1
        service
            name = untrusted
            url = "https://127.0.0.1:$HPORT"
            retries = 0
worker
    pool = $POOL
    capacity = 1000
    routes
        route
            match = "h2.get"
            handler = http
            service = tls
            path = /ok
CONF
"$ZT_BUILD_DIR/actors/pool/zorch-pool" --config "$T/zorch.conf" >>"$T/pool.log" 2>&1 &
ZT_PIDS+=($!)
zt_wait 10 "the pool's ready line" grep -q "pool: ready" "$T/pool.log"
zt_broker
zt_worker w1 --config "$T/zorch.conf"

zt_say "2,000 events, 500 in flight, one connection allowed"
zt_inject --type h2.get --count 2000 --inflight 500 --wait --timeout 60 --results "$T/results" \
    >"$T/inject.txt" 2>&1 || true
zt_say "inject: $(tail -n 1 "$T/inject.txt")"
zt_eq "2,000 answered 200 with the file" \
    "$(jq -c 'select(.ok and .result.status == 200 and .result.body == "ok over h2\n")' "$T/results" | wc -l)" 2000
zt_eq "the pool opened one connection" "$(pstat tls_connections_total)" 1
zt_assert "and says it speaks HTTP/2" grep -q "service tls speaks HTTP/2" "$T/pool.log"

#   nghttpd --verbose logs "[id=N] [t] recv HEADERS frame <... stream_id=S>"
#   for each request and "send HEADERS frame <... stream_id=S>" for each
#   answer. Multiplexed: some request arrives while an earlier stream is
#   still unanswered; streams in flight at once, at most, from that log.
peak=$(awk '/recv HEADERS frame/ { match ($0, /stream_id=[0-9]+/); open[substr ($0, RSTART + 10, RLENGTH - 10)] = 1; n++; if (n > peak) peak = n }
            /send HEADERS frame/ { match ($0, /stream_id=[0-9]+/); s = substr ($0, RSTART + 10, RLENGTH - 10); if (s in open) { delete open[s]; n-- } }
            END { print peak + 0 }' "$T/nghttpd.log")
connections=$(grep -ao '\[id=[0-9]*\]' "$T/nghttpd.log" | sort -u | wc -l)
zt_say "the server saw $connections connection(s), at most $peak streams open at once"
zt_eq "one connection at the server" "$connections" 1
zt_assert "streams multiplexed on it (at most $peak open at once, more than 1)" test "$peak" -gt 1

zt_say "the same server without its certificate trusted"
zt_assert "is refused: certificates are verified" bash -c \
    "! '$ZORCH_BIN' pool request untrusted GET /ok --endpoint '$POOL' >'$T/untrusted.out' 2>&1"
zt_say "$(tail -n 1 "$T/untrusted.out")"
zt_assert "and says why" grep -qi "certificate" "$T/untrusted.out"
