#!/usr/bin/env bash
#   monitor_down: a real broker and worker report to the monitor; after
#   kill -9 of the broker it is marked down within 3 intervals (plus the
#   monitor's 1 s tick) and /health turns 503, while the worker stays up.
source "$(dirname "$0")/monitor_lib.sh"
zm_init monitor_down 17910
zm_monitor
zt_broker
zt_worker w1
zt_wait 10 "the broker in /api/stats" zm_broker_listed
zt_wait 10 "worker w1 in /api/stats" zm_actor_is worker w1 up
zt_wait 5 "/health 200" bash -c "[ \"\$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' $MON_URL/health)\" = 200 ]"
zt_eq "/health status" "$(zm_jq /health .status)" ok

zt_say "kill -9 the broker ($BROKER_NAME, pid $BROKER_PID)"
t0=$(date +%s%N)
kill -KILL "$BROKER_PID"
zt_wait 10 "the broker to be marked down" zm_actor_is broker "$BROKER_NAME" down
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
zt_say "marked down ${ms} ms after the kill"
#   Silent for more than 3 intervals (3 s) after its last report, which was
#   at most 1 s before the kill, noticed at the monitor's next 1 s tick.
zt_assert "marked down within 3 intervals (+ report phase and tick): ${ms} ms <= 5000" [ "$ms" -le 5000 ]
zt_assert "not before 2 intervals: ${ms} ms >= 2000" [ "$ms" -ge 2000 ]
zt_eq "/health code" "$(zm_code /health)" 503
zt_eq "/health status" "$(zm_jq /health .status)" fail
zt_eq "/health broker entry" "$(zm_jq /health ".actors[] | select(.actor == \"broker\") | .up")" false
zt_assert "the worker is still up" zm_actor_is worker w1 up
zt_assert "the down is logged" grep -q "broker $BROKER_NAME .* is down" "$T/monitor.log"
zt_eq "zorch_actor_up for the broker" \
    "$(zm_get /metrics | grep -F "zorch_actor_up{actor=\"broker\"" | awk '{ print $NF }')" 0
