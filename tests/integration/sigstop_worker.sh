#!/usr/bin/env bash
#   sigstop_worker: a worker SIGSTOPped mid-run is declared dead after 3
#   missed heartbeats, its events go to the other worker; after SIGCONT its
#   late results must be ignored: every id comes back exactly once.
source "$(dirname "$0")/lib.sh"
zt_init sigstop_worker 17120

N=600
zt_sleep_pair 200

zt_events "$T/events.ndjson" ss "$N" test.sleep
zt_say "injecting $N sleep events (200 ms each, 20 in flight per worker)"
zt_bg "$T/summary.json" "$ZORCH_BIN" inject --broker "$FRONT" --ndjson "$T/events.ndjson" \
    --wait --timeout 60 --results "$T/results.ndjson" --json
INJ=$BG_PID

sleep 1
zt_assert "the run is still going when the worker is stopped" kill -0 "$INJ"
zt_say "SIGSTOP worker w1 (pid $W1) after $(zt_lines "$T/results.ndjson") results"
kill -STOP "$W1"
sleep 5
zt_say "SIGCONT worker w1 after 5 s"
kill -CONT "$W1"

zt_reap "$INJ"
zt_say "inject exited $REAP_RC: $(cat "$T/summary.json")"
[ "$REAP_RC" -eq 0 ] || { cat "$T/summary.json.err" >&2; zt_fail "zorch inject exited $REAP_RC"; }
zt_eq "result lines" "$(zt_lines "$T/results.ndjson")" "$N"
jq -r '.id' "$T/results.ndjson" | sort >"$T/ids"
zt_eq "ids that came back twice" "$(uniq -d "$T/ids" | wc -l)" 0
zt_eq "distinct ids" "$(uniq "$T/ids" | wc -l)" "$N"
zt_eq "results not ok" "$(jq -c 'select(.ok != true)' "$T/results.ndjson" | wc -l)" 0
redelivered=$(jq -c 'select(.attempts >= 2)' "$T/results.ndjson" | wc -l)
zt_say "events redelivered after w1 was declared dead: $redelivered"
zt_assert "the stopped worker's events went to the other worker (attempts >= 2)" [ "$redelivered" -gt 0 ]
zt_eq "results for ids the producer was not waiting for" "$(jq -r '.unmatched // 0' "$T/summary.json")" 0
#   Give w1's late DONEs time to reach the broker; it must ignore them.
sleep 1.5
zt_assert "the broker is alive" kill -0 "$BROKER_PID"
zt_assert "worker w1 is alive again after SIGCONT" kill -0 "$W1"
