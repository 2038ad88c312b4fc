#!/usr/bin/env bash
#   pool_http: zorch-pool against a real local HTTP server
#   (tests/tools/zo_http_fixture, which counts the connections it accepts),
#   end to end from events: the built-in `http` handler in two workers
#   sends 10,000 requests through the pool, which opens at most max_conns
#   connections; a 503 is retried to success; a 429 with Retry-After is
#   waited out, not failed; a slow service times out by the event's
#   deadline; a dead service opens its circuit (requests fail fast) and it
#   closes when the service returns; a 404 fails finally, once; garbage on
#   the pool's socket gets errors and the pool keeps serving.
#   Usage (from meson): pool_http.sh PATH/TO/zo_garbage
source "$(dirname "$0")/lib.sh"
zt_init pool_http 17420
GARBAGE="${1:-$ZT_BUILD_DIR/tests/tools/zo_garbage}"
FIXTURE="$ZT_BUILD_DIR/tests/tools/zo_http_fixture"
POOL="tcp://127.0.0.1:$((PORT_BASE + 3))"
HPORT=$((PORT_BASE + 4)); DPORT=$((PORT_BASE + 5))
P () { "$ZORCH_BIN" pool "$@" --endpoint "$POOL"; }
pstat () { "$ZORCH_BIN" pool stats --json --endpoint "$POOL" | jq -r --arg n "$1" '.counters[$n] // .gauges[$n]'; }

zt_bg "$T/fixture.out" "$FIXTURE" "$HPORT" 100
zt_wait 5 "the HTTP fixture" bash -c "curl -s http://127.0.0.1:$HPORT/ok | grep -q ok"
cat >"$T/zorch.conf" <<CONF
pool
    endpoint = $POOL
    health_interval = 0
    services
        service
            name = local
            url = "http://127.0.0.1:$HPORT"
            max_conns = 4
            retries = 3
            backoff = 50ms
            auth_header = Authorization
            auth_env = ZT_LOCAL_TOKEN
        service
            name = gone
            url = "http://127.0.0.1:$DPORT"
            retries = 0
            breaker_failures = 2
            breaker_open = 1s
            connect_timeout = 500ms
worker
    pool = $POOL
    routes
        route
            match = "h.get"
            handler = http
            service = local
            path = "{payload.path}"
            timeout = 5s
        route
            match = "h.post"
            handler = http
            service = local
            method = POST
            path = /echo
            body = '{{"id": "{id}", "n": {payload.n}}}'
        route
            match = "h.slow"
            handler = http
            service = local
            path = /slow/3000
            timeout = 1s
            attempts = 1
        route
            match = "h.plugin"
            handler = plugin
            path = "$ZT_BUILD_DIR/tests/unit/plugin_pool.so"
            method = POST
        route
            match = "h.gone"
            handler = http
            service = gone
            path = /ok
            attempts = 1
CONF
export ZT_LOCAL_TOKEN="Bearer not-for-logs-42"
"$ZT_BUILD_DIR/actors/pool/zorch-pool" --config "$T/zorch.conf" >>"$T/pool.log" 2>&1 &
POOL_PID=$!; ZT_PIDS+=("$POOL_PID")
zt_wait 10 "the pool's ready line" grep -q "pool: ready" "$T/pool.log"
zt_broker
zt_worker w1 --config "$T/zorch.conf"
zt_worker w2 --config "$T/zorch.conf"

run () {   # run NAME: inject $T/NAME.ndjson, results in $T/NAME.results
    zt_inject --ndjson "$T/$1.ndjson" --wait --timeout 60 --results "$T/$1.results" \
        >"$T/$1.txt" 2>&1 || true
    zt_say "$1: $(tail -n 1 "$T/$1.txt")"
}

zt_say "10,000 requests through the pool, 1,000 events in flight"
before=$(curl -s "http://127.0.0.1:$HPORT/stats" | jq .connections)
for i in $(seq 1 10000); do echo "{\"id\":\"g$i\",\"type\":\"h.get\",\"payload\":{\"path\":\"/ok\"}}"; done >"$T/many.ndjson"
run many
zt_eq "10,000 ok" "$(jq -c 'select(.ok and .result.status == 200 and .result.body == "ok")' "$T/many.results" | wc -l)" 10000
zt_eq "the pool opened at most max_conns connections" "$(pstat local_connections_total)" 4
zt_assert "the server accepted at most 4 more (+1 for this check)" \
    test "$(curl -s "http://127.0.0.1:$HPORT/stats" | jq .connections)" -le $((before + 5))

zt_say "retries, Retry-After, a 404, a timeout"
printf '%s\n' '{"id":"r1","type":"h.get","payload":{"path":"/flaky/2/r1"}}' \
    '{"id":"b1","type":"h.get","payload":{"path":"/busy/1/b1"}}' \
    '{"id":"n1","type":"h.get","payload":{"path":"/status/404"}}' \
    '{"id":"p1","type":"h.post","payload":{"n":7}}' \
    '{"id":"s1","type":"h.slow"}' >"$T/mix.ndjson"
start=$(date +%s%N)
run mix
zt_eq "503, 503, then 200: ok" "$(jq -c 'select(.id == "r1") | [.ok, .result.body]' "$T/mix.results")" '[true,"ok now"]'
zt_eq "429 with Retry-After: 1 waited out, ok" "$(jq -c 'select(.id == "b1") | [.ok, .result.body]' "$T/mix.results")" '[true,"ok after the wait"]'
zt_assert "and it took the second Retry-After asked for" test $(( ($(date +%s%N) - start) / 1000000 )) -ge 1000
zt_eq "a 404 fails finally, at once" "$(jq -c 'select(.id == "n1") | [.ok, .attempts]' "$T/mix.results")" '[false,1]'
zt_eq "a POST with a body from a template" "$(jq -r 'select(.id == "p1") | .result.body.body | fromjson | [.id, .n] | tostring' "$T/mix.results")" '["p1",7]'
zt_eq "the auth header went along" "$(jq -r 'select(.id == "p1") | .result.body.authorization' "$T/mix.results")" "Bearer not-for-logs-42"
zt_eq "a slow service fails by the event's deadline" \
    "$(jq -r 'select(.id == "s1") | [.ok, (.error | test("timeout"))] | tostring' "$T/mix.results")" '[false,true]'

zt_say "a plugin asking the pool (zo_pool_request)"
printf '%s\n' '{"id":"z1","type":"h.plugin","payload":{"path":"/echo","body":"from a plugin"}}' \
    '{"id":"z2","type":"h.plugin","payload":{"path":"/status/418"}}' >"$T/plugin.ndjson"
run plugin
zt_eq "its request arrived with its body" "$(jq -r 'select(.id == "z1") | .result.body | fromjson | .body' "$T/plugin.results")" "from a plugin"
zt_eq "a 418 is an answer, not an error" "$(jq -c 'select(.id == "z2") | [.ok, .result.status]' "$T/plugin.results")" '[true,418]'

zt_say "a dead service: the circuit opens, then closes when it returns"
for i in 1 2 3 4; do echo "{\"id\":\"d$i\",\"type\":\"h.gone\"}" >"$T/d$i.ndjson"; run "d$i"; done
zt_say "errors: $(for i in 1 2 3 4; do jq -r .error "$T/d$i.results"; done | tr '\n' '|')"
zt_assert "the first failures are the service's" grep -q "upstream" "$T/d1.results"
zt_assert "then the circuit is open: failing fast" grep -q "unavailable" "$T/d4.results"
zt_assert "counted" test "$(pstat gone_rejected_total)" -ge 1
zt_eq "the service is down in stats" "$(pstat gone_up)" 0
zt_eq "its health too" "$(pstat gone_health)" 0
zt_bg "$T/fixture2.out" "$FIXTURE" "$DPORT" 60
zt_wait 5 "the second fixture" bash -c "curl -s http://127.0.0.1:$DPORT/ok | grep -q ok"
sleep 1.2
echo '{"id":"back1","type":"h.gone"}' >"$T/back.ndjson"
run back
zt_eq "the half-open request succeeds: closed again" "$(jq -c '[.ok, .result.status]' "$T/back.results")" '[true,200]'
zt_eq "the service is up in stats" "$(pstat gone_up)" 1

zt_say "the command line, and garbage on the pool's socket"
zt_eq "zorch pool request" "$(P request local GET /ok 2>/dev/null)" ok
set +e; P request local GET /status/500 >/dev/null 2>&1; rc=$?; set -e
zt_eq "a 500 exits 1" "$rc" 1
head -c 900 /dev/zero | tr '\0' x >"$T/body.txt"
zt_eq "--body - sends standard input (900 bytes: the fixture echoes up to 998)" \
    "$(P request local POST /echo --body - <"$T/body.txt" 2>/dev/null | jq -r '.body | length')" 900
"$GARBAGE" "$POOL" 1048576 >"$T/garbage.txt" 2>&1 || { grep -v '^ok' "$T/garbage.txt"; zt_fail "zo_garbage against the pool"; }
tail -1 "$T/garbage.txt"
zt_assert "the pool is alive" kill -0 "$POOL_PID"
zt_eq "and serving" "$(P request local GET /ok 2>/dev/null)" ok
zt_assert "the token is in no log" bash -c "! grep -rq 'not-for-logs-42' '$T'/*.log"

zt_say "many services: 16 start (their figures fit the STATS), 17 are refused"
many () {
    echo "pool"; echo "    endpoint = tcp://127.0.0.1:$((PORT_BASE + 6))"; echo "    services"
    for i in $(seq 1 "$1"); do
        printf '        service\n            name = s%d\n            url = "http://127.0.0.1:%d"\n' "$i" "$HPORT"
    done
}
many 16 >"$T/many16.conf"
"$ZT_BUILD_DIR/actors/pool/zorch-pool" --config "$T/many16.conf" >>"$T/pool16.log" 2>&1 &
P16=$!; ZT_PIDS+=("$P16")
zt_wait 10 "the 16-service pool's ready line" grep -q "pool: ready on .*, 16 services" "$T/pool16.log"
zt_eq "it answers" "$("$ZORCH_BIN" pool request s16 GET /ok --endpoint "tcp://127.0.0.1:$((PORT_BASE + 6))" 2>/dev/null)" ok
zt_assert "and reports every service" test "$("$ZORCH_BIN" pool stats --json --endpoint "tcp://127.0.0.1:$((PORT_BASE + 6))" | jq '[.gauges | keys[] | select(endswith("_health"))] | length')" -eq 16
zt_stop "$P16"
many 17 >"$T/many17.conf"
set +e; "$ZT_BUILD_DIR/actors/pool/zorch-pool" --config "$T/many17.conf" >"$T/pool17.out" 2>&1; rc=$?; set -e
zt_eq "17 services: a configuration error" "$rc" 2
zt_assert "saying so" grep -q "more than 16 services" "$T/pool17.out"
