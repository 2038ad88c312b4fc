#!/usr/bin/env bash
#   small_frames: with broker/max_frame = 64K on both sides, 300 echo events
#   of 23 KB (deploy/demo/03-pull_request-opened.json) go through: every
#   DISPATCH and every DONE is kept under the configured limit in bytes, so
#   every event comes back ok and none ends in the dead letters. Twice: with
#   the worker there first, and with the 300 queued before it arrives, so
#   that it receives many DISPATCHes at once and its results pile up before
#   it flushes (a DONE filled to a fixed 768 KiB, as it used to be, is
#   refused by a broker whose limit is 64K). zorch inject is given the same
#   limit and sizes its SUBMITs by it.
source "$(dirname "$0")/lib.sh"
zt_init small_frames 17270

N=300
FIXTURE="$ZT_SRC_DIR/deploy/demo/03-pull_request-opened.json"
jq -c .payload "$FIXTURE" >"$T/payload.json"
s_events () {
    seq 1 "$N" | awk -v p="$1" -v f="$T/payload.json" '
        BEGIN { getline payload < f }
        { printf "{\"id\":\"%s-%d\",\"type\":\"test.echo\",\"payload\":%s}\n", p, $1, payload }' \
        >"$T/$1.ndjson"
}
#   s_check PREFIX RESULTS: every event came back ok, at its first attempt.
s_check () {
    zt_eq "$1: result lines" "$(zt_lines "$2")" "$N"
    zt_eq "$1: results not ok" "$(jq -c 'select(.ok != true) | .id' "$2" | wc -l)" 0
    zt_eq "$1: every event ran once" "$(jq -r '.attempts' "$2" | sort -u | tr '\n' ' ')" "1 "
}
s_events first
s_events later

zt_broker --broker-max-frame 64K
zt_worker w1 --broker-max-frame 64K
zt_say "$N events with the worker there first"
#   inject reads the same key and keeps each SUBMIT under it (no --batch).
zt_inject --ndjson "$T/first.ndjson" --broker-max-frame 64K --wait --timeout 30 \
    --results "$T/first-results.ndjson" --json >"$T/first.json" 2>"$T/first.err" ||
    zt_fail "inject exited $?: $(cat "$T/first.json") $(tail -n 5 "$T/first.err")"
s_check first "$T/first-results.ndjson"

zt_say "stopping the worker; $N events queued before the next one arrives"
zt_stop "$WORKER_PID"
zt_bg "$T/later.json" "$ZORCH_BIN" inject --broker "$FRONT" --ndjson "$T/later.ndjson" --batch 2 \
    --inflight "$N" --wait --timeout 30 --results "$T/later-results.ndjson" --json
INJ=$BG_PID
#   300 SUBMITs of 2 on a local socket take well under a second; if some
#   were still on their way the test would only be weaker, not wrong.
sleep 2
zt_assert "the inject waits for its results" kill -0 "$INJ"
zt_worker w2 --broker-max-frame 64K
zt_reap "$INJ"
[ "$REAP_RC" -eq 0 ] || zt_fail "inject exited $REAP_RC: $(cat "$T/later.json") $(tail -n 5 "$T/later.json.err")"
s_check later "$T/later-results.ndjson"

zt_eq "dead letters" "$(zt_dlq_ids | wc -l)" 0
zt_assert "no frame refused on either side" \
    bash -c "! grep -hiE 'too large|too_large|bad message' $T/broker.log $T/worker-*.log"
