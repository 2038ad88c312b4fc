#!/usr/bin/env bash
#   attempts_dlq: events of the `fail` route (test.fail*) with
#   max_attempts 2 fail twice, then end in dead letters with their error
#   and attempts; `zorch dlq replay` brings them back and they die again
#   (attempts counted afresh); `zorch dlq purge` empties the store.
source "$(dirname "$0")/lib.sh"
zt_init attempts_dlq 17140

N=5
zt_broker
zt_worker w1     # the embedded default routes: test.fail* -> fail

zt_events "$T/events.ndjson" at "$N" test.fail.now '"max_attempts":2'
zt_say "injecting $N events of the fail route with max_attempts 2"
set +e
zt_inject --ndjson "$T/events.ndjson" --wait --timeout 30 --results "$T/results.ndjson" \
    --json >"$T/summary.json" 2>"$T/inject.err"
rc=$?
set -e
zt_say "inject exited $rc: $(cat "$T/summary.json")"
zt_assert "inject reports failure (exit 1)" [ "$rc" -eq 1 ]
zt_eq "results" "$(zt_lines "$T/results.ndjson")" "$N"
zt_eq "failed results with an error and 2 attempts" \
    "$(jq -c 'select(.ok == false and (.error // "") != "" and .attempts == 2)' "$T/results.ndjson" | wc -l)" "$N"

zt_dlq list >"$T/dlq-list.txt" 2>&1 || zt_fail "zorch dlq list failed: $(cat "$T/dlq-list.txt")"
zt_say "zorch dlq list says:"; head -n 10 "$T/dlq-list.txt"
zt_dlq_items >"$T/items.json"
zt_eq "dead letters" "$(jq -r '.[] | (.event.id // .id)' "$T/items.json" | sort | tr '\n' ' ')" \
    "$(seq -f 'at-%g' 1 "$N" | sort | tr '\n' ' ')"
zt_eq "dead letters with an error and attempts 2" \
    "$(jq '[.[] | select((.error // "") != "" and .attempts == 2)] | length' "$T/items.json")" "$N"
first_failed=$(jq '[.[] | .failed_ms // 0] | max' "$T/items.json")

zt_say "replaying them"
zt_dlq replay | tee "$T/replay.txt"
s_died_again () {
    zt_dlq_items >"$T/items2.json" 2>/dev/null || return 1
    [ "$(jq --argjson t "$first_failed" \
        '[.[] | select(.attempts == 2 and (.failed_ms // 0) > $t)] | length' "$T/items2.json")" -eq "$N" ]
}
zt_wait 20 "the replayed events to die again" s_died_again
zt_say "all $N died again after 2 fresh attempts"

zt_say "purging the store"
zt_dlq purge | tee "$T/purge.txt"
zt_eq "dead letters after purge" "$(zt_dlq_ids | wc -l)" 0
