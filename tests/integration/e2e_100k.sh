#!/usr/bin/env bash
#   e2e_100k: 100,000 events end to end through a broker and two workers
#   (echo route). Every id must come back exactly once, and every result
#   must be ok.
source "$(dirname "$0")/lib.sh"
zt_init e2e_100k 17100

N=100000
zt_broker
zt_worker w1
zt_worker w2

zt_say "injecting $N events and waiting for every result"
start=$(date +%s%N)
set +e
zt_inject --type test.echo --count "$N" --wait --timeout 200 --results "$T/results.ndjson" \
    --json >"$T/summary.json" 2>"$T/inject.log"
rc=$?
set -e
ms=$(( ($(date +%s%N) - start) / 1000000 ))
zt_say "inject exited $rc after ${ms} ms: $(cat "$T/summary.json")"
[ "$rc" -eq 0 ] || { cat "$T/inject.log" >&2; zt_fail "zorch inject exited $rc"; }

zt_eq "result lines" "$(zt_lines "$T/results.ndjson")" "$N"
jq -r '.id' "$T/results.ndjson" | sort >"$T/ids"
zt_eq "duplicate ids among results" "$(uniq -d "$T/ids" | wc -l)" 0
zt_eq "distinct ids" "$(uniq "$T/ids" | wc -l)" "$N"
zt_eq "results not ok" "$(jq -c 'select(.ok != true)' "$T/results.ndjson" | wc -l)" 0
zt_say "throughput: $(( N * 1000 / (ms > 0 ? ms : 1) )) events/s end to end (inject included)"
kill -0 "$BROKER_PID" || zt_fail "the broker died"
