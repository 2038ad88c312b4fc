#!/usr/bin/env bash
#   big_dispatch: 2,000 real pull_request webhooks (23 KB each as msgpack,
#   deploy/demo/03-pull_request-opened.json) through a broker and one echo
#   worker, twice: with the worker there first, and submitted while no
#   worker is connected, so that 2,000 wait when the worker arrives. A
#   DISPATCH is bounded by broker/max_frame in bytes, not only by
#   broker/batch_max in events (256 such events would be 6 MB): every
#   event must come back ok and none may end in the dead letters.
#   The queue depth is read from the monitor's /api/stats.
source "$(dirname "$0")/monitor_lib.sh"
zm_init big_dispatch 17310

N=2000
FIXTURE="$ZT_SRC_DIR/deploy/demo/03-pull_request-opened.json"
[ -f "$FIXTURE" ] || zt_fail "no fixture $FIXTURE"
jq -c .payload "$FIXTURE" >"$T/payload.json"
zt_say "payload of $(wc -c <"$T/payload.json") bytes as JSON"
#   events.ndjson: PREFIX-1..PREFIX-N, each with the whole payload.
s_events () {
    seq 1 "$N" | awk -v p="$1" -v f="$T/payload.json" '
        BEGIN { getline payload < f }
        { printf "{\"id\":\"%s-%d\",\"type\":\"github.pull_request.opened\",\"source\":\"github\",\"payload\":%s}\n", p, $1, payload }' \
        >"$T/$1.ndjson"
}
s_events first
s_events later

#   The broker's counter or gauge NAME as the monitor last heard it.
s_broker_stat () {
    zm_get /api/stats | jq -r --arg n "$1" \
        '[.actors[] | select(.actor == "broker") | (.counters[$n].value // .gauges[$n])] | first // 0'
}
s_queued_all () { [ "$(s_broker_stat queue_depth)" = "$N" ]; }

#   s_check PREFIX SUMMARY RESULTS: every event came back ok exactly once.
s_check () {
    zt_eq "$1: result lines" "$(zt_lines "$3")" "$N"
    zt_eq "$1: distinct ids" "$(jq -r .id "$3" | sort -u | wc -l)" "$N"
    zt_eq "$1: results not ok" "$(jq -c 'select(.ok != true) | .id' "$3" | wc -l)" 0
    zt_eq "$1: results equal to the payload" \
        "$(jq -c '.result.pull_request.id' "$3" | sort -u | tr '\n' ' ')" "279147437 "
}

zm_monitor
zt_broker
zt_worker w1

zt_say "$N events with the worker there first"
zt_inject --ndjson "$T/first.ndjson" --inflight "$N" --wait --timeout 30 \
    --results "$T/first-results.ndjson" --json >"$T/first.json" 2>"$T/first.err" ||
    zt_fail "inject exited $?: $(cat "$T/first.json") $(tail -n 5 "$T/first.err")"
s_check first "$T/first.json" "$T/first-results.ndjson"

zt_say "stopping the worker; $N events while none is connected"
zt_stop "$WORKER_PID"
zt_bg "$T/later.json" "$ZORCH_BIN" inject --broker "$FRONT" --ndjson "$T/later.ndjson" \
    --inflight "$N" --wait --timeout 30 --results "$T/later-results.ndjson" --json
INJ=$BG_PID
zt_wait 30 "$N events queued at the broker" s_queued_all
zt_say "all $N queued; starting a worker"
zt_worker w2
zt_reap "$INJ"
[ "$REAP_RC" -eq 0 ] || zt_fail "inject exited $REAP_RC: $(cat "$T/later.json") $(tail -n 5 "$T/later.json.err")"
s_check later "$T/later.json" "$T/later-results.ndjson"

zt_eq "dead letters" "$(zt_dlq_ids | wc -l)" 0
zt_assert "the worker decoded every DISPATCH" \
    bash -c "! grep -h 'bad message from broker' $T/worker-*.log"
kill -0 "$BROKER_PID" || zt_fail "the broker died"
