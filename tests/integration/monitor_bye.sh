#!/usr/bin/env bash
#   monitor_bye: an actor whose last STATS says bye (it stops on purpose)
#   is gone from /api/stats, /health and /metrics at once, "left" in the
#   monitor's log, and no actor_down alert follows: a fake worker
#   (zo_statsgen --bye), then a real worker and broker stopped with
#   SIGTERM. An autoscaler's notes are its decisions, newest first, in
#   /api/stats, zorch status and the dashboard.
source "$(dirname "$0")/monitor_lib.sh"
zm_init monitor_bye 17940
zm_monitor                       # the default rules, actor_down > 0 among them
zt_eq "the actor_down rule is loaded" \
    "$(zm_jq /api/alerts '[.rules[].metric] | index("actor_down") != null')" true

#   True when /api/stats, /health and /metrics all leave NAME out.
s_unlisted () {
    [ "$(zm_jq /api/stats "[.actors[] | select(.name == \"$1\")] | length")" = 0 ] &&
    [ "$(zm_jq /health "[.actors[] | select(.name == \"$1\")] | length")" = 0 ] &&
    ! zm_get /metrics | grep -qF "name=\"$1\""
}

zt_say "an autoscaler (fake) with six decisions"
zm_statsgen gen-scaler.out --kind autoscaler --name fa1 --forever --interval 500 \
    --note "up 1 → 2: load 0.95 above 0.80 for 3 s" --note "up 2 → 3: load 0.91" \
    --note "down 3 → 2: load 0.21 below 0.30 for 30 s; w3 quiet" --note "w3 stopped: idle" \
    --note "restart w2: it exited (status 1)" --note "pinned at 4 (zorch scale 4)"
zt_wait 10 "fa1 in /api/stats" zm_actor_is autoscaler fa1 up
zt_eq "decisions, newest first" "$(zm_jq /api/stats '.decisions[0].text')" "pinned at 4 (zorch scale 4)"
zt_eq "all six" "$(zm_jq /api/stats '.decisions | length')" 6
zt_eq "the oldest last" "$(zm_jq /api/stats '.decisions[5].text')" "up 1 → 2: load 0.95 above 0.80 for 3 s"
zt_eq "in time order" "$(zm_jq /api/stats '[.decisions[].ts_ms] | . == (sort | reverse)')" true
zt_eq "fa1's own notes" "$(zm_jq /api/stats '.actors[] | select(.name == "fa1") | .notes | length')" 6

"$ZORCH_BIN" status --monitor "$MON_URL" >"$T/status.txt" || true
cat "$T/status.txt"
zt_assert "zorch status has its decisions" grep -q '^decisions:$' "$T/status.txt"
zt_eq "zorch status shows the last 5, stamped HH:MM:SS" \
    "$(grep -cE '^  [0-9]{2}:[0-9]{2}:[0-9]{2}  ' "$T/status.txt")" 5
zt_eq "the newest first" "$(grep -A1 '^decisions:$' "$T/status.txt" | tail -n1 | cut -c13-)" \
    "pinned at 4 (zorch scale 4)"
if [ -n "$CHROMIUM" ]; then
    zm_chromium --dump-dom "$MON_URL/dashboard" >"$T/dom.html" || true
    zt_assert "the dashboard's decisions panel lists them" grep -qF 'w3 stopped: idle' "$T/dom.html"
    zt_assert "... with their time" grep -qE 'class="when">[^<]+</span>pinned at 4' "$T/dom.html"
else
    zt_say "SKIPPED the dashboard check: chromium is not installed"
fi

zt_say "a fake worker reports 10 times, 500 ms apart, the last with bye"
zm_statsgen gen-bye.out --kind worker --name fw-bye --count 10 --interval 500 --bye \
    --gauge capacity=10
zt_wait 5 "fw-bye in /api/stats" zm_actor_is worker fw-bye up
zt_wait 10 "fw-bye to leave" grep -q "monitor: worker fw-bye left" "$T/monitor.log"
zt_assert "fw-bye is gone from /api/stats, /health and /metrics at once" s_unlisted fw-bye

zt_say "a real broker and worker, stopped with SIGTERM"
zt_broker
zt_worker w1
W1=$WORKER_PID
zt_wait 10 "the broker in /api/stats" zm_broker_listed
zt_wait 10 "w1 in /api/stats" zm_actor_is worker w1 up
zt_stop "$W1"
zt_eq "w1's exit status" "$REAP_RC" 0
zt_wait 5 "w1 to leave" grep -q "monitor: worker w1 left" "$T/monitor.log"
zt_assert "w1 is gone from /api/stats, /health and /metrics" s_unlisted w1
zt_stop "$BROKER_PID"
zt_wait 5 "the broker to leave" grep -q "monitor: broker $BROKER_NAME left" "$T/monitor.log"
zt_assert "the broker is gone too" s_unlisted "$BROKER_NAME"

zt_say "4.5 s on (more than 3 intervals and a tick): nobody is down"
sleep 4.5
zt_eq "actors down" "$(zm_jq /api/stats .cluster.actors_down)" 0
#   (no_broker may fire: no broker is up, on purpose or not.)
zt_eq "actor_down firing" "$(zm_jq /api/alerts '[.active[] | select(.name == "actor_down")] | length')" 0
zt_assert "no actor_down fired" bash -c "! grep -q 'alert actor_down FIRING' '$T/monitor.log'"
zt_assert "nobody was marked down" bash -c "! grep -q ' is down: ' '$T/monitor.log'"
#   The monitor reports to itself here ($STATS is its own endpoint).
zt_eq "the monitor counts who left (actors_left_total)" "$(zm_jq /api/stats \
    '.actors[] | select(.actor == "monitor") | .counters.actors_left_total.value')" 3
zt_eq "the autoscaler is still there" "$(zm_jq /api/stats '.decisions | length')" 6
