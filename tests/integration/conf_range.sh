#!/usr/bin/env bash
#   conf_range: a numeric setting out of its range stops an actor at start
#   with exit code 2 and a log line naming the key and the allowed range:
#   a negative broker/queue_max no longer wraps to an unbounded queue.
#   The refused actors exit before they bind anything; the last part
#   starts a broker and a worker at the edges of their ranges.
source "$(dirname "$0")/lib.sh"
zt_init conf_range 17320

#   s_refused WHAT KEY RANGE command...: exit 2, KEY and RANGE in the log.
s_refused () {
    local what="$1" key="$2" range="$3"; shift 3
    set +e
    timeout 10 "$@" >"$T/out.log" 2>&1
    local rc=$?
    set -e
    zt_say "$what: exit $rc: $(head -n 1 "$T/out.log")"
    zt_eq "$what: exit code" "$rc" 2
    zt_assert "$what: the log names $key" grep -q -- "$key" "$T/out.log"
    zt_assert "$what: the log gives the range $range" grep -q -- "$range" "$T/out.log"
}

B=(--broker-front "$FRONT" --broker-back "$BACK" --broker-data-dir "$DATA")
s_refused "queue_max -5" broker/queue_max 1..100000000 "$BROKER_BIN" "${B[@]}" --broker-queue-max -5
s_refused "batch_max 0" broker/batch_max 1..1000 "$BROKER_BIN" "${B[@]}" --broker-batch-max 0
s_refused "max_frame 1K" broker/max_frame 65536.. "$BROKER_BIN" "${B[@]}" --broker-max-frame 1K
s_refused "heartbeat from the environment" broker/heartbeat 10..3600000 \
    env ZORCH_BROKER_HEARTBEAT=0 "$BROKER_BIN" "${B[@]}"
s_refused "worker capacity 0" worker/capacity 1..1000000 \
    "$WORKER_BIN" --worker-broker "$BACK" --worker-capacity 0
s_refused "the worker's max_frame" broker/max_frame 65536.. \
    "$WORKER_BIN" --worker-broker "$BACK" --broker-max-frame 2G
s_refused "the worker's requests_max" worker/requests_max 1..1048576 \
    "$WORKER_BIN" --worker-broker "$BACK" --worker-requests-max 0
s_refused "a peer that is not an endpoint" worker/cache "tcp://host:port" \
    "$WORKER_BIN" --worker-broker "$BACK" --worker-cache localhost:7013
s_refused "the monitor's max_conns" monitor/max_conns 1..10000 \
    "$ZT_BUILD_DIR/actors/monitor/zorch-monitor" --monitor-http 127.0.0.1:0 --monitor-max-conns 0
s_refused "the monitor's history_actors" monitor/history_actors 0..16 \
    "$ZT_BUILD_DIR/actors/monitor/zorch-monitor" --monitor-http 127.0.0.1:0 --monitor-history-actors 99
s_refused "zorch up's restart_max" up/restart_max 1..1000000 \
    "$ZORCH_BIN" up --up-restart-max 0
s_refused "zorch inject's max_frame" broker/max_frame 65536.. \
    "$ZORCH_BIN" inject --broker "$FRONT" --type t --broker-max-frame 1K
cat >"$T/bad.conf" <<CONF
broker
    batch_max = 100000
CONF
s_refused "a value from a config file" broker/batch_max 1..1000 \
    "$BROKER_BIN" --config "$T/bad.conf" "${B[@]}"
cat >"$T/route.conf" <<CONF
worker
    routes
        route
            match = "*"
            handler = echo
            timeout = 8d
CONF
s_refused "a route's timeout" "route 1: bad timeout" "1..604800000" \
    "$WORKER_BIN" --worker-broker "$BACK" --config "$T/route.conf"
s_refused "a flag without its value" --broker-queue-max "needs a value" \
    "$BROKER_BIN" "${B[@]}" --broker-queue-max

zt_say "values at the edges of their ranges still start"
zt_broker --broker-queue-max 1 --broker-batch-max 1000 --broker-max-frame 64K
zt_worker w1 --worker-capacity 1 --broker-max-frame 64K
zt_inject --type test.echo --count 3 --batch 1 --wait --timeout 20 >"$T/inject.txt" 2>&1 ||
    zt_fail "inject failed: $(cat "$T/inject.txt")"
