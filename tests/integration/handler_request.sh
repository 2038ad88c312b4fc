#!/usr/bin/env bash
#   handler_request: a plugin's requests to another actor
#   (zo_handler_request), through the real zorch-worker. The test plugin
#   (tests/unit/plugin_ask.so) sends each event's payload to the worker's
#   "cache" peer and completes the event with the reply. The peer here is a
#   real actor that speaks the protocol: the broker's front endpoint, which
#   answers PING with PONG. A second route asks a "pool" peer where nothing
#   listens: its events end by their timeout (the request cancelled with
#   them) and go to dead letters with that error; the worker keeps serving.
source "$(dirname "$0")/lib.sh"
zt_init handler_request 17340

ASK="$ZT_BUILD_DIR/tests/unit/plugin_ask.so"
[ -f "$ASK" ] || zt_fail "$ASK is not built"
cat >"$T/worker.conf" <<CONF
worker
    cache = $FRONT
    pool = tcp://127.0.0.1:$((PORT_BASE + 5))
    routes
        route
            match = "ask.cache"
            handler = plugin
            path = "$ASK"
        route
            match = "ask.pool"
            handler = plugin
            path = "$ASK"
            peer = pool
            timeout = 300ms
            attempts = 1
CONF

zt_broker
zt_worker w1 --config "$T/worker.conf"

: >"$T/events.ndjson"
for i in $(seq 1 50); do
    echo "{\"id\":\"c$i\",\"type\":\"ask.cache\",\"payload\":{\"cmd\":\"PING\"}}" >>"$T/events.ndjson"
done
echo '{"id":"p1","type":"ask.pool","payload":{"cmd":"PING"}}' >>"$T/events.ndjson"
zt_inject --ndjson "$T/events.ndjson" --wait --timeout 20 --results "$T/results.ndjson" \
    >"$T/inject.txt" 2>&1 || true
zt_say "inject: $(tail -n 2 "$T/inject.txt" | tr '\n' ' ')"
zt_eq "results" "$(zt_lines "$T/results.ndjson")" 51
zt_eq "cache events answered PONG" \
    "$(jq -c 'select(.id | startswith("c")) | select(.ok and .result.cmd == "PONG")' "$T/results.ndjson" | wc -l)" 50
zt_eq "the PONGs carried 50 different seqs" \
    "$(jq -r 'select(.id | startswith("c")) | .result.seq' "$T/results.ndjson" | sort -u | wc -l)" 50
zt_eq "the pool event failed by its timeout" \
    "$(jq -r 'select(.id == "p1") | .error' "$T/results.ndjson")" "timeout after 300 ms"
zt_eq "and is a dead letter" "$(zt_dlq_ids | grep -c '^p1$')" 1

zt_say "the worker still serves after the timed-out request"
echo '{"id":"c-after","type":"ask.cache","payload":{"cmd":"PING"}}' >"$T/after.ndjson"
zt_inject --ndjson "$T/after.ndjson" --wait --timeout 10 --results "$T/after-results.ndjson" \
    >"$T/inject2.txt" 2>&1 || zt_fail "inject failed: $(cat "$T/inject2.txt")"
zt_eq "answered" "$(jq -r '.result.cmd' "$T/after-results.ndjson")" PONG
zt_assert "the worker is alive" kill -0 "$WORKER_PID"
zt_say "ok"
