#!/usr/bin/env bash
#   monitor_alert: an alert rule (queue_depth > 5 for 2s) fires while a
#   (fake) broker reports a deep queue and resolves when it drains; both
#   transitions are logged, shown at /api/alerts and POSTed to a webhook
#   received by a local HTTP server (zo_hook_sink, 127.0.0.1 only).
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
CONF
zm_monitor --config "$T/monitor.conf"
zt_eq "one rule loaded" "$(zm_jq /api/alerts '.rules | length')" 1

zt_say "a broker with 10 events queued, for 7 s"
zm_statsgen gen-deep.out --kind broker --name qb --count 7 --interval 1000 --gauge queue_depth_normal=10
DEEP=$BG_PID
s_state () { [ "$(zm_jq /api/alerts '.rules[0].state')" = "$1" ]; }
zt_wait 10 "the alert to fire" s_state firing
zt_eq "active alerts" "$(zm_jq /api/alerts '.active[0].name')" queue_deep
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
zt_eq "recent transitions" "$(zm_jq /api/alerts '[.recent[].state] | join(",")')" "resolved,firing"
zt_eq "webhooks sent" "$(zm_jq /api/alerts .webhook.sent)" 2
zt_eq "webhook posts received" "$(wc -l <"$T/hooks.ndjson")" 2
