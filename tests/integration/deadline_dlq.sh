#!/usr/bin/env bash
#   deadline_dlq: events whose deadline (deadline_ms = 500) passes while a
#   3 s sleep handler holds them end in dead letters with their error;
#   `zorch dlq purge ID` deletes one; after the worker is restarted with a
#   route where they succeed, `zorch dlq replay` brings the others back and
#   they are processed (each id is then written by an exec route).
source "$(dirname "$0")/lib.sh"
zt_init deadline_dlq 17130

cat >"$T/slow.conf" <<CONF
worker
    routes
        route
            match = "test.slow"
            handler = sleep
            ms = 3000
CONF
zt_recorder_conf "$T/fast.conf" test.slow

N=5
s_done_ids () { zt_done | sort; }
zt_broker
zt_worker w1 --config "$T/slow.conf"
W1=$WORKER_PID

zt_events "$T/events.ndjson" dl "$N" test.slow '"deadline_ms":500'
zt_say "injecting $N events with deadline_ms 500 on a 3 s sleep route"
set +e
zt_inject --ndjson "$T/events.ndjson" --wait --timeout 30 --results "$T/results.ndjson" \
    --json >"$T/summary.json" 2>"$T/inject.err"
rc=$?
set -e
zt_say "inject exited $rc: $(cat "$T/summary.json")"
zt_assert "inject reports failure (exit 1) when events die" [ "$rc" -eq 1 ]
zt_eq "results" "$(zt_lines "$T/results.ndjson")" "$N"
zt_eq "failed results with an error" \
    "$(jq -c 'select(.ok == false and (.error // "") != "")' "$T/results.ndjson" | wc -l)" "$N"
zt_say "first error: $(jq -r '.error' "$T/results.ndjson" | head -1)"

zt_dlq list >"$T/dlq-list.txt" 2>&1 || zt_fail "zorch dlq list failed: $(cat "$T/dlq-list.txt")"
zt_say "zorch dlq list says:"; head -n 10 "$T/dlq-list.txt"
zt_eq "dead letters" "$(zt_dlq_ids | sort | tr '\n' ' ')" "$(seq -f 'dl-%g' 1 "$N" | sort | tr '\n' ' ')"
zt_eq "dead letters without an error" \
    "$(zt_dlq_items | jq '[.[] | select((.error // "") == "")] | length')" 0

zt_say "purging dl-1"
zt_dlq purge dl-1
zt_eq "dead letters after purging one" "$(zt_dlq_ids | sort | tr '\n' ' ')" "dl-2 dl-3 dl-4 dl-5 "

zt_say "restarting the worker with a route where test.slow succeeds"
zt_stop "$W1"
zt_worker w1b --config "$T/fast.conf"

zt_say "replaying the dead letters"
zt_dlq replay | tee "$T/replay.txt"
zt_wait 20 "the 4 replayed events to be processed" \
    eval '[ "$(s_done_ids | sort -u | wc -l)" -ge 4 ]'
sleep 0.5
zt_eq "ids processed after replay" "$(s_done_ids | tr '\n' ' ')" "dl-2 dl-3 dl-4 dl-5 "
zt_eq "dead letters after the replay" "$(zt_dlq_ids | wc -l)" 0
