#!/usr/bin/env bash
#   monitor_metrics: crafted STATS from fake actors reach /metrics, which
#   promtool accepts and which parses back to the numbers sent; /api/stats,
#   /api/load, /health, /ready agree; malformed STATS are counted, never
#   fatal; `zorch status` shows the cluster (when it is wired in).
source "$(dirname "$0")/monitor_lib.sh"
zm_init monitor_metrics 17900
zm_monitor

zt_say "two fake actors report: a broker and a worker"
zm_statsgen gen-broker.out --kind broker --name fb1 --version "9.9.9 (abc)" --forever --interval 500 \
    --counter accepted_total=12345 --counter completed_total=12000 --counter failed_total=7 \
    --gauge queue_depth_high=3 --gauge queue_depth_normal=7.5 --gauge queue_depth_low=0 \
    --hist latency_ns=200000,200000,200000,3000000,3000000,40000000
zm_statsgen gen-worker.out --kind worker --name fw1 --version "9.9.8 (def)" --forever --interval 500 \
    --counter events_total=500 --gauge capacity=100 --gauge inflight=25 \
    --hist handler_ns=1000,2000,3000
zt_wait 10 "both fake actors in /api/stats" zm_actor_is worker fw1 up
zt_wait 10 "the broker in /api/stats" zm_actor_is broker fb1 up
zt_wait 5 "a first per-second sample" bash -c "[ \"\$(curl -s --max-time 5 $MON_URL/api/load | jq -r .parts.utilization)\" = 0.25 ]"

zm_get /metrics >"$T/metrics.txt"
zt_say "/metrics: $(wc -l <"$T/metrics.txt") lines"
if command -v promtool >/dev/null; then
    if promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1; then
        zt_say "ok: promtool check metrics accepts /metrics"
    else
        cat "$T/promtool.out" >&2
        zt_fail "promtool check metrics rejects /metrics"
    fi
else
    zt_say "SKIPPED the promtool check: promtool is not installed (Debian package prometheus)"
fi

#   metric{labels} value -> value
m () { grep -F "$1 " "$T/metrics.txt" | head -n1 | awk '{ print $NF }'; }
B='actor="broker",name="fb1"'
W='actor="worker",name="fw1"'
zt_eq "accepted_total" "$(m "zorch_broker_accepted_total{$B}")" 12345
zt_eq "the broker's build" "$(m "zorch_actor_info{$B,version=\"9.9.9 (abc)\"}")" 1
zt_eq "the worker's build" "$(m "zorch_actor_info{$W,version=\"9.9.8 (def)\"}")" 1
zt_eq "/api/stats has each actor's version" \
    "$(zm_get /api/stats | jq -r '[.actors[] | select(.name == "fb1" or .name == "fw1") | .version] | sort | join(",")')" \
    "9.9.8 (def),9.9.9 (abc)"
zt_eq "failed_total" "$(m "zorch_broker_failed_total{$B}")" 7
zt_eq "queue_depth_normal" "$(m "zorch_broker_queue_depth_normal{$B}")" 7.5
zt_eq "worker inflight" "$(m "zorch_worker_inflight{$W}")" 25
zt_eq "latency bucket le=0.0001" "$(m "zorch_broker_latency_seconds_bucket{$B,le=\"0.0001\"}")" 0
zt_eq "latency bucket le=0.00025" "$(m "zorch_broker_latency_seconds_bucket{$B,le=\"0.00025\"}")" 3
zt_eq "latency bucket le=0.005" "$(m "zorch_broker_latency_seconds_bucket{$B,le=\"0.005\"}")" 5
zt_eq "latency bucket le=0.05" "$(m "zorch_broker_latency_seconds_bucket{$B,le=\"0.05\"}")" 6
zt_eq "latency bucket le=+Inf" "$(m "zorch_broker_latency_seconds_bucket{$B,le=\"+Inf\"}")" 6
zt_eq "latency count" "$(m "zorch_broker_latency_seconds_count{$B}")" 6
zt_eq "latency sum (s)" "$(m "zorch_broker_latency_seconds_sum{$B}")" 0.0466
zt_eq "worker handler count" "$(m "zorch_worker_handler_seconds_count{$W}")" 3
zt_eq "actor up" "$(m "zorch_actor_up{$B}")" 1
zt_assert "HELP and TYPE lines" grep -q '^# TYPE zorch_broker_latency_seconds histogram' "$T/metrics.txt"

zt_eq "/health" "$(zm_code /health)" 200
zt_eq "/ready" "$(zm_code /ready)" 200
zt_eq "/api/stats queue high" "$(zm_jq /api/stats .cluster.queue.high)" 3
zt_eq "/api/stats accepted total" "$(zm_jq /api/stats .cluster.totals.accepted_total)" 12345
zt_eq "/api/stats cache (no cache actor)" "$(zm_jq /api/stats .cache)" null
zt_eq "/api/load parts" "$(zm_jq /api/load '.parts | keys | join(",")')" "cpu,latency,queue,utilization"
zt_eq "/api/load score" "$(zm_jq /api/load .score)" 0.25

zt_say "/api/load?after=TS waits for the sample after TS (a long poll)"
ts=$(zm_jq /api/load .ts_ms)
zt_eq "after an older sample: the newest, at once" "$(zm_jq "/api/load?after=1" .ts_ms | awk -v t="$ts" '{ print ($1 >= t) }')" 1
long=()
for i in 1 2 3; do
    curl -s --max-time 5 "$MON_URL/api/load?after=$ts" >"$T/long-$i.json" & long+=($!)
done
wait "${long[@]}"
for i in 1 2 3; do
    zt_eq "long poll $i: answered with a later sample" "$(jq --argjson t "$ts" '.ts_ms > $t and .score == 0.25' "$T/long-$i.json")" true
done
zt_assert "/api/history has samples" [ "$(zm_jq '/api/history?seconds=60' '.t | length')" -ge 1 ]
zt_eq "/api/alerts rules (the defaults)" "$(zm_jq /api/alerts '.rules | length')" 5
zt_eq "/dashboard" "$(zm_code /dashboard)" 200
zt_eq "embedded uPlot" "$(zm_code /static/uPlot.iife.min.js)" 200
zt_eq "unknown path" "$(zm_code /nope)" 404
zt_eq "POST is refused" "$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' -X POST -d x "$MON_URL/health")" 405

zt_say "malformed STATS: 30 garbage messages"
before=$(zm_jq /api/stats .monitor.bad_stats_total)
"$STATSGEN_BIN" --endpoint "$STATS" --garbage 30 --count 0 >/dev/null 2>&1 || true
zt_wait 5 "bad_stats_total to count them" bash -c \
    "[ \"\$(curl -s --max-time 5 $MON_URL/api/stats | jq -r .monitor.bad_stats_total)\" -ge $((before + 30)) ]"
zt_assert "the monitor is still running" kill -0 "$MON_PID"
zt_eq "/health after garbage" "$(zm_code /health)" 200
logged=$(grep -c 'bad STATS' "$T/monitor.log" || true)
zt_assert "bad STATS are logged at most about once a second ($logged lines)" [ "$logged" -le 4 ]

if "$ZORCH_BIN" status --help >/dev/null 2>&1; then
    "$ZORCH_BIN" status --monitor "$MON_URL" >"$T/status.txt"
    cat "$T/status.txt"
    zt_assert "zorch status lists the broker" grep -q 'fb1' "$T/status.txt"
    zt_assert "zorch status says the builds differ" grep -qF 'MIXED BUILDS: ' "$T/status.txt"
    zt_eq "zorch status --json" "$("$ZORCH_BIN" status --monitor "$MON_URL" --json | jq -r .healthy)" true
    st=0; "$ZORCH_BIN" status --monitor "http://127.0.0.1:$((PORT_BASE + 9))" >/dev/null 2>&1 || st=$?
    zt_eq "zorch status with no monitor there" "$st" 1
else
    zt_say "SKIPPED zorch status: the subcommand is not wired into tools/zorch.c in this build"
fi
