#!/usr/bin/env bash
#   queue_full: a broker with room for 10 events and no worker. Once 10
#   wait, `zorch inject --no-retry` is refused with NACK queue_full (exit
#   non-zero, reason printed) and nothing of it is taken; a retrying inject
#   of the very same events (same ids) succeeds once a worker drains the
#   queue: backpressure, not loss.
source "$(dirname "$0")/lib.sh"
zt_init queue_full 17150

zt_broker --broker-queue-max 10
zt_say "filling the queue with 10 events (no worker yet)"
zt_inject --type test.echo --count 10 >"$T/fill.txt" 2>&1 ||
    zt_fail "the 10 events that fit were refused: $(cat "$T/fill.txt")"

zt_events "$T/events.ndjson" qf 5 test.echo
zt_say "injecting 5 more with --no-retry"
set +e
zt_inject --ndjson "$T/events.ndjson" --no-retry --json >"$T/nack.json" 2>"$T/nack.err"
rc=$?
set -e
zt_say "inject exited $rc: $(cat "$T/nack.json") $(tail -n 3 "$T/nack.err")"
zt_assert "inject --no-retry exits non-zero on a full queue" [ "$rc" -ne 0 ]
zt_assert "the reason queue_full is printed" grep -q queue_full "$T/nack.json" "$T/nack.err"
zt_eq "events acknowledged" "$(jq -r '.acked' "$T/nack.json")" 0

zt_say "injecting the same 5 events, retrying, then starting a worker"
zt_bg "$T/summary.json" "$ZORCH_BIN" inject --broker "$FRONT" --ndjson "$T/events.ndjson" \
    --wait --timeout 30 --results "$T/results.ndjson" --json
INJ=$BG_PID
sleep 1.5
zt_assert "the retrying inject waits while the queue is full" kill -0 "$INJ"
zt_worker w1
zt_reap "$INJ"
zt_say "inject exited $REAP_RC: $(cat "$T/summary.json")"
zt_eq "inject exit code" "$REAP_RC" 0
zt_eq "ok results" "$(jq -r 'select(.ok == true) | .id' "$T/results.ndjson" | sort | tr '\n' ' ')" \
    "qf-1 qf-2 qf-3 qf-4 qf-5 "
zt_assert "it waited for room rather than failing (elapsed >= 1 s)" \
    jq -e '.elapsed_s >= 1' "$T/summary.json"
