#!/usr/bin/env bash
#   kill9_worker: kill -9 of a worker in the middle of a run. Every event
#   the broker acknowledged must still end: with a result (redelivered to
#   the other worker once the dead one misses 3 heartbeats) or in dead
#   letters with its error. results + dead letters == acked, no id twice.
source "$(dirname "$0")/lib.sh"
zt_init kill9_worker 17110

N=3000
zt_sleep_pair 50

zt_events "$T/events.ndjson" k9 "$N" test.sleep
zt_say "injecting $N sleep events (50 ms each, 20 in flight per worker)"
zt_bg "$T/summary.json" "$ZORCH_BIN" inject --broker "$FRONT" --ndjson "$T/events.ndjson" \
    --wait --timeout 60 --results "$T/results.ndjson" --json
INJ=$BG_PID

sleep 1.5
zt_assert "the run is still going when the worker is killed" kill -0 "$INJ"
done_before=$(zt_lines "$T/results.ndjson")
zt_say "kill -9 worker w1 (pid $W1) after $done_before results"
kill -KILL "$W1"

zt_reap "$INJ"
zt_say "inject exited $REAP_RC: $(cat "$T/summary.json")"
acked=$(jq -r '.acked' "$T/summary.json")
zt_eq "events acknowledged" "$acked" "$N"

jq -r '.id' "$T/results.ndjson" | sort >"$T/result-ids"
zt_eq "duplicate results" "$(uniq -d "$T/result-ids" | wc -l)" 0
zt_dlq_ids | sort >"$T/dlq-ids"
zt_eq "ids both in results and in dead letters" "$(comm -12 "$T/result-ids" "$T/dlq-ids" | wc -l)" 0
n_results=$(wc -l <"$T/result-ids")
n_dead=$(wc -l <"$T/dlq-ids")
zt_say "results: $n_results, dead letters: $n_dead"
zt_eq "results + dead letters" "$((n_results + n_dead))" "$acked"
zt_eq "failed results that are not in dead letters" \
    "$(jq -r 'select(.ok != true) | .id' "$T/results.ndjson" | sort | comm -23 - "$T/dlq-ids" | wc -l)" 0
if [ "$n_dead" -gt 0 ]; then
    zt_eq "dead letters without an error" \
        "$(zt_dlq_items | jq '[.[] | select((.error // "") == "")] | length')" 0
fi
redelivered=$(jq -c 'select(.attempts >= 2)' "$T/results.ndjson" | wc -l)
zt_say "events that needed a second delivery: $redelivered"
zt_assert "the killed worker's events were redelivered (attempts >= 2)" [ "$redelivered" -gt 0 ]
