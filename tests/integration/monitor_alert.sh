#!/usr/bin/env bash
#   monitor_alert: an alert rule (queue_depth > 5 for 2s) fires while a
#   (fake) broker reports a deep queue and resolves when it drains; both
#   transitions are logged, shown at /api/alerts and POSTed to a webhook
#   received by a local HTTP server (zo_hook_sink, 127.0.0.1 only); then
#   the same through zorch-pool, whose services (one healthy, one whose
#   probes fail) show in /health, /api/stats and zorch status.
source "$(dirname "$0")/monitor_lib.sh"
zm_init monitor_alert 17920
[ -x "$HOOK_SINK_BIN" ] || zt_fail "binary $HOOK_SINK_BIN is not built"
HOOK_PORT=$((PORT_BASE + 4))
zt_bg "$T/sink.out" "$HOOK_SINK_BIN" "$HOOK_PORT" "$T/hooks.ndjson" 80
zt_wait 5 "the webhook receiver" grep -q listening "$T/sink.out"

cat >"$T/monitor.conf" <<CONF
monitor
    webhook = "http://127.0.0.1:$HOOK_PORT/hook"
    webhook_timeout = 2s
    alerts
        alert
            name = queue_deep
            metric = queue_depth
            op = ">"
            threshold = 5
            for = 2s
        alert
            name = restart_storm
            metric = restart_storms
            op = ">"
            threshold = 0
            for = 0
CONF
zm_monitor --config "$T/monitor.conf"
zt_eq "two rules loaded" "$(zm_jq /api/alerts '.rules | length')" 2

zt_say "an autoscaler in a restart storm raises restart_storm"
zm_statsgen gen-storm.out --kind autoscaler --name as1 --count 3 --interval 1000 --gauge restart_storm=1
STORM=$BG_PID
zt_wait 6 "the storm alert" bash -c "curl -s --max-time 2 $MON_URL/api/alerts | jq -e '.active[] | select(.name == \"restart_storm\")' >/dev/null"
zt_wait 5 "its webhook" grep -q '"alert":"restart_storm","state":"firing"\|"state":"firing".*restart_storm\|restart_storm.*"state":"firing"' "$T/hooks.ndjson"
zt_reap "$STORM"
zm_statsgen gen-calm.out --kind autoscaler --name as1 --count 3 --interval 1000 --gauge restart_storm=0
zt_wait 6 "the storm alert resolved" bash -c "! curl -s --max-time 2 $MON_URL/api/alerts | jq -e '.active[] | select(.name == \"restart_storm\")' >/dev/null"
zt_reap "$BG_PID"
: >"$T/hooks.ndjson"

zt_say "a broker with 10 events queued, for 7 s"
zm_statsgen gen-deep.out --kind broker --name qb --count 7 --interval 1000 --gauge queue_depth_normal=10
DEEP=$BG_PID
s_state () { [ "$(zm_jq /api/alerts '.rules[] | select(.name == "queue_deep") | .state')" = "$1" ]; }
zt_wait 10 "the alert to fire" s_state firing
zt_eq "active alerts" "$(zm_jq /api/alerts '[.active[].name] | join(",")')" queue_deep
zt_wait 5 "the firing webhook" grep -q '"state":"firing"' "$T/hooks.ndjson"
zt_eq "webhook alert name" "$(grep '"state":"firing"' "$T/hooks.ndjson" | head -n1 | jq -r .alert)" queue_deep
zt_eq "webhook value" "$(grep '"state":"firing"' "$T/hooks.ndjson" | head -n1 | jq -r .value)" 10
zt_assert "the firing is logged" grep -q 'alert queue_deep FIRING' "$T/monitor.log"
zt_reap "$DEEP"

zt_say "the queue drains"
zm_statsgen gen-empty.out --kind broker --name qb --forever --interval 1000 --gauge queue_depth_normal=0
zt_wait 10 "the alert to resolve" s_state ok
zt_wait 5 "the resolved webhook" grep -q '"state":"resolved"' "$T/hooks.ndjson"
zt_assert "the resolution is logged" grep -q 'alert queue_deep resolved' "$T/monitor.log"
zt_eq "recent transitions" "$(zm_jq /api/alerts '[.recent[] | select(.name == "queue_deep") | .state] | join(",")')" "resolved,firing"
zt_eq "webhooks sent" "$(zm_jq /api/alerts .webhook.sent)" 4
zt_eq "webhook posts received" "$(wc -l <"$T/hooks.ndjson")" 2

zt_say "the same webhook through the pool actor (monitor/webhook_service)"
zt_stop "$MON_PID"
POOL_EP="tcp://127.0.0.1:$((PORT_BASE + 5))"
GONE_PORT=$((PORT_BASE + 6))         # nothing listens here
cat >"$T/pool.conf" <<CONF
stats
    endpoint = $STATS
pool
    endpoint = $POOL_EP
    health_interval = 300ms
    services
        service
            name = hooks
            url = "http://127.0.0.1:$HOOK_PORT"
            health_path = /health
        service
            name = gone
            url = "http://127.0.0.1:$GONE_PORT"
            breaker_failures = 2
CONF
"$ZT_BUILD_DIR/actors/pool/zorch-pool" --config "$T/pool.conf" >>"$T/pool.log" 2>&1 &
ZT_PIDS+=($!)
zt_wait 10 "the pool's ready line" grep -q "pool: ready" "$T/pool.log"
sed -e "s|    webhook = .*|    webhook_service = hooks\n    webhook_path = /hook\n    pool = $POOL_EP|" \
    "$T/monitor.conf" >"$T/monitor-pool.conf"
: >"$T/monitor.log"
zm_monitor --config "$T/monitor-pool.conf"
zm_statsgen gen-deep2.out --kind broker --name qb2 --count 6 --interval 1000 --gauge queue_depth_normal=10
zt_wait 12 "a third webhook, through the pool" bash -c "[ \$(wc -l <'$T/hooks.ndjson') -ge 3 ]"
zt_eq "it is the firing" "$(sed -n 3p "$T/hooks.ndjson" | jq -r '[.alert, .state] | join(" ")')" "queue_deep firing"
zt_eq "the pool carried it" "$("$ZORCH_BIN" pool stats --json --endpoint "$POOL_EP" | jq .counters.hooks_responses_total)" 1
zt_eq "the monitor counts it sent" "$(zm_jq /api/alerts .webhook.sent)" 1
zt_eq "and names the way it went" "$(zm_jq /api/alerts .webhook.url)" "pool:hooks/hook"

zt_say "the pool's services in /health, /api/stats and on the dashboard"
dep () { zm_jq /health "[.dependencies[] | select(.name == \"$1\" and .actor == \"pool\") | .state] | join(\",\")"; }
zt_wait 10 "the monitor to see the pool's services" bash -c "[ \"\$(curl -s --max-time 5 $MON_URL/health | jq -r '[.dependencies[] | select(.actor == \"pool\")] | length')\" = 2 ]"
zt_eq "hooks is a healthy dependency" "$(dep hooks)" healthy
zt_wait 10 "gone to be unhealthy (its probes fail, the circuit opens)" bash -c "[ \"\$(curl -s --max-time 5 $MON_URL/health | jq -r '[.dependencies[] | select(.name == \"gone\") | .state] | join(\",\")')\" = unhealthy ]"
zt_eq "so the cluster is degraded" "$(zm_jq /health .status)" degraded
zt_eq "the dashboard's pool panel has both" "$(zm_jq /api/stats '[.pools[0].services | to_entries[] | "\(.key)=\(.value.state)"] | sort | join(" ")')" "gone=unhealthy hooks=healthy"
zt_assert "with what is in flight" zm_is_num "$(zm_jq /api/stats .pools[0].services.hooks.inflight)"
zt_assert "and zorch status shows it" bash -c "'$ZORCH_BIN' status --monitor '$MON_URL' | grep -q 'gone DOWN'"
if [ -n "$CHROMIUM" ]; then
    zm_chromium --dump-dom "$MON_URL/dashboard" >"$T/dom.html" || true
    zt_assert "the dashboard's pool panel says gone is unhealthy" grep -q 'class="down">gone: UNHEALTHY' "$T/dom.html"
    zt_assert "and hooks healthy" grep -q '>hooks: healthy' "$T/dom.html"
fi
