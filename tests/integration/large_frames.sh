#!/usr/bin/env bash
#   large_frames: broker/max_frame raised to 4M on both sides lets events
#   larger than the built-in 1 MiB through: 20 echo events of 1.5 MB each
#   reach the worker in DISPATCHes it accepts, and come back ok. The worker
#   checked incoming frames against the built-in 1 MiB whatever its
#   broker/max_frame said ('bad message from broker'), so such events sat
#   in flight until their deadline.
source "$(dirname "$0")/lib.sh"
zt_init large_frames 17290

N=20
/usr/bin/python3 - "$N" >"$T/events.ndjson" <<'PY'
import json, sys
blob = "z" * (1536 * 1024)
for i in range(1, int(sys.argv[1]) + 1):
    print(json.dumps({"id": "lf-%d" % i, "type": "test.echo", "payload": {"n": i, "blob": blob}}))
PY
zt_say "$N events of $(( $(head -n 1 "$T/events.ndjson" | wc -c) / 1024 )) KiB"

zt_broker --broker-max-frame 4M --broker-deadline 20s
zt_worker w1 --broker-max-frame 4M
zt_inject --ndjson "$T/events.ndjson" --batch 1 --wait --timeout 20 \
    --results "$T/results.ndjson" --json >"$T/inject.json" 2>"$T/inject.err" ||
    zt_fail "inject exited $?: $(cat "$T/inject.json") $(tail -n 5 "$T/inject.err")"
zt_eq "result lines" "$(zt_lines "$T/results.ndjson")" "$N"
zt_eq "results not ok" "$(jq -c 'select(.ok != true) | .id' "$T/results.ndjson" | wc -l)" 0
zt_eq "results carry the payload" \
    "$(jq -r '.result.blob | length' "$T/results.ndjson" | sort -u | tr '\n' ' ')" "1572864 "
zt_eq "dead letters" "$(zt_dlq_ids | wc -l)" 0
zt_assert "no frame refused on either side" \
    bash -c "! grep -hiE 'too large|too_large|bad message' $T/broker.log $T/worker-w1.log"
