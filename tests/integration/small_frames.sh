#!/usr/bin/env bash
#   small_frames: with broker/max_frame = 64K on both sides, 300 echo events
#   of 23 KB (deploy/demo/03-pull_request-opened.json) go through: every
#   DISPATCH and every DONE is kept under the configured limit in bytes
#   (the worker used to fill a DONE to a fixed 768 KiB, which a broker with
#   a smaller limit refuses), so every event comes back ok and none ends in
#   the dead letters.
source "$(dirname "$0")/lib.sh"
zt_init small_frames 17270

N=300
FIXTURE="$ZT_SRC_DIR/deploy/demo/03-pull_request-opened.json"
jq -c .payload "$FIXTURE" >"$T/payload.json"
seq 1 "$N" | awk -v f="$T/payload.json" '
    BEGIN { getline payload < f }
    { printf "{\"id\":\"sf-%d\",\"type\":\"test.echo\",\"payload\":%s}\n", $1, payload }' \
    >"$T/events.ndjson"

zt_broker --broker-max-frame 64K
zt_worker w1 --broker-max-frame 64K
zt_inject --ndjson "$T/events.ndjson" --batch 2 --wait --timeout 30 \
    --results "$T/results.ndjson" --json >"$T/inject.json" 2>"$T/inject.err" ||
    zt_fail "inject exited $?: $(cat "$T/inject.json") $(tail -n 5 "$T/inject.err")"
zt_eq "result lines" "$(zt_lines "$T/results.ndjson")" "$N"
zt_eq "results not ok" "$(jq -c 'select(.ok != true) | .id' "$T/results.ndjson" | wc -l)" 0
zt_eq "every event ran once" "$(jq -r '.attempts' "$T/results.ndjson" | sort -u | tr '\n' ' ')" "1 "
zt_eq "dead letters" "$(zt_dlq_ids | wc -l)" 0
zt_assert "no frame refused on either side" \
    bash -c "! grep -hiE 'too large|too_large|bad message' $T/broker.log $T/worker-w1.log"
