#!/usr/bin/env bash
#   bad_config: a configuration value out of range stops the actor at start
#   with exit code 2 and a message naming the key and the allowed range,
#   instead of wrapping (a negative broker/queue_max used to be an
#   unbounded queue) or being clamped without a word.
source "$(dirname "$0")/lib.sh"
zt_init bad_config 17280

#   s_refused NAME EXPECTED_KEY binary args...: exit 2, the key in the log.
s_refused () {
    local name="$1" key="$2"; shift 2
    set +e
    timeout 10 "$@" >"$T/$name.log" 2>&1
    local rc=$?
    set -e
    zt_eq "$name: exit code" "$rc" 2
    zt_assert "$name: the message names $key" grep -q "$key" "$T/$name.log"
    zt_assert "$name: the message gives the range" grep -qE '[0-9]+\.\.[0-9]+' "$T/$name.log"
}

s_refused broker_queue_max broker/queue_max "$BROKER_BIN" --broker-front "$FRONT" \
    --broker-back "$BACK" --broker-data-dir "$DATA" --broker-queue-max -5
s_refused broker_heartbeat broker/heartbeat "$BROKER_BIN" --broker-front "$FRONT" \
    --broker-back "$BACK" --broker-data-dir "$DATA" --broker-heartbeat 1ms
s_refused worker_capacity worker/capacity "$WORKER_BIN" --worker-broker "$BACK" \
    --worker-capacity 0
cat >"$T/bad.conf" <<CONF
broker
    batch_max = 100000
CONF
s_refused broker_file broker/batch_max "$BROKER_BIN" --config "$T/bad.conf" \
    --broker-front "$FRONT" --broker-back "$BACK" --broker-data-dir "$DATA"
zt_assert "nothing was left listening" bash -c "! ss -ltn 2>/dev/null | grep -q ':$PORT_BASE '"
