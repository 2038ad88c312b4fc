#!/usr/bin/env bash
#   autoscale: zorch-autoscaler with real processes. Two workers (capacity
#   20, a 50 ms handler: 400 events/s each) take 10 % of their capacity,
#   then 150 %: the autoscaler adds workers until the monitor's load score
#   is below 0.8 with the load still on. A light load follows while the
#   load is gone enough to shrink: back to min after the cooldown, through
#   the broker's QUIET, and not one event is redelivered or lost (every
#   result ok at its first attempt, the broker's redelivered_total 0). A
#   worker killed with -9 is back within the backoff. `zorch scale N`
#   overrides, `--auto` resumes; the monitor stopped holds the size. The
#   command executor gets the sizes the policy chose (a script that
#   records them).
source "$(dirname "$0")/monitor_lib.sh"
zm_init autoscale 17480
AS_EP="tcp://127.0.0.1:$((PORT_BASE + 5))"
AS2_EP="tcp://127.0.0.1:$((PORT_BASE + 6))"
NAMES="as$PORT_BASE"
S () { "$ZORCH_BIN" scale --json --endpoint "$AS_EP" "$@"; }
gauge () { S | jq -r ".gauges.$1"; }
counter () { S | jq -r ".counters.$1"; }
load () { curl -s --max-time 2 "$MON_URL/api/load" | jq -r .score; }
total () { curl -s --max-time 2 "$MON_URL/api/stats" | jq -r ".cluster.totals.$1"; }

cat >"$T/zorch.conf" <<CONF
stats
    endpoint = $STATS
    interval = 500ms
broker
    front = $FRONT
    back = $BACK
    data_dir = $DATA
monitor
    http = $MON_ADDR
    latency_objective = 2s
worker
    broker = $BACK
    capacity = 20
    grace = 20s
    routes
        route
            match = "as.work"
            handler = sleep
            ms = 50
inject
    broker = $FRONT
autoscaler
    endpoint = $AS_EP
    monitor = "http://$MON_ADDR"
    names = $NAMES
    logs = "$T"
    interval = 500ms
    min = 2
    max = 6
    window = 2s
    cooldown = 5s
    stale = 3s
    restart_delay = 200ms
CONF

zt_broker --config "$T/zorch.conf"
zm_monitor --config "$T/zorch.conf"
"$ZT_BUILD_DIR/actors/autoscaler/zorch-autoscaler" --config "$T/zorch.conf" >>"$T/autoscaler.log" 2>&1 &
AS_PID=$!; ZT_PIDS+=("$AS_PID")
zt_wait 10 "the autoscaler's ready line" grep -q "autoscaler: ready" "$T/autoscaler.log"
zt_wait 10 "two workers ready at the broker" bash -c "[ \$(grep -c 'worker $NAMES-[0-9]* ready' '$T/broker.log') -ge 2 ]"
zt_eq "min workers" "$(gauge workers)" 2
zt_eq "the broker lists them (zorch workers)" \
    "$("$ZORCH_BIN" workers --json --broker "$FRONT" | jq -r '[.[] | select(.capacity == 20 and .quiet == false) | .name] | sort | join(" ")')" \
    "$NAMES-1 $NAMES-2"

zt_say "10 % of two workers' capacity for 3 s"
zt_inject --type as.work --count 240 --rate 80 --wait --timeout 30 --results "$T/low.results" >"$T/low.txt" 2>&1
zt_eq "no change at 10 %" "$(gauge workers)" 2
timeout 1 "$ZORCH_BIN" workers --json --watch 0.1 --broker "$FRONT" >"$T/watch.ndjson" || true
zt_assert "zorch workers --watch answers again and again" test "$(wc -l <"$T/watch.ndjson")" -ge 3
zt_eq "each answer timed, later than the one before" \
    "$(jq -s '[.[].time_ms] | . == sort and (unique | length) == length' "$T/watch.ndjson")" true
zt_eq "the 240 events dispatched, counted per worker" \
    "$(tail -n 1 "$T/watch.ndjson" | jq '[.workers[].dispatched] | add')" 240

zt_say "150 %: 1200 events/s for 12 s"
zt_bg "$T/step.txt" "$ZORCH_BIN" inject --config "$T/zorch.conf" --type as.work --count 14400 \
    --rate 1200 --wait --timeout 60 --results "$T/step.results"
STEP=$BG_PID
zt_wait 12 "a scale-up" bash -c "[ \$('$ZORCH_BIN' scale --json --endpoint $AS_EP | jq .gauges.workers) -gt 2 ]"
zt_say "first decision: $(S | jq -r '.notes[0].text')"
s_settled () { kill -0 "$STEP" 2>/dev/null || return 1; [ "$(gauge workers)" -ge 4 ] && awk -v s="$(load)" 'BEGIN { exit !(s < 0.8) }'; }
zt_wait 14 "the score below 0.8 with the load still on" s_settled
zt_say "settled: $(gauge workers) workers, load $(load)"
zt_assert "decisions counted" test "$(counter decisions_up_total)" -ge 1

zt_say "then a light load (100/s) while the cluster shrinks"
zt_reap "$STEP"
zt_bg "$T/light.txt" "$ZORCH_BIN" inject --config "$T/zorch.conf" --type as.work --count 2500 \
    --rate 100 --wait --timeout 60 --results "$T/light.results"
LIGHT=$BG_PID
zt_wait 25 "back to min after the cooldown" bash -c "[ \$('$ZORCH_BIN' scale --json --endpoint $AS_EP | jq .gauges.workers) = 2 ]"
zt_say "shrunk: $(S | jq -r '.notes[0].text')"
zt_assert "through QUIET" test "$(counter workers_quieted_total)" -ge 2
zt_wait 25 "the quieted workers stopped" bash -c "[ \$('$ZORCH_BIN' scale --json --endpoint $AS_EP | jq .gauges.workers_leaving) = 0 ]"
zt_reap "$LIGHT"
for r in step light; do
    zt_eq "$r: every event ok" "$(jq -c 'select(.ok)' "$T/$r.results" | wc -l)" "$(wc -l <"$T/$r.results")"
    zt_eq "$r: none needed a second attempt" "$(jq -c 'select(.attempts != 1)' "$T/$r.results" | wc -l)" 0
done
zt_assert "all 14,400 + 2,500 results" test "$(cat "$T/step.results" "$T/light.results" | wc -l)" -eq 16900
zt_eq "the broker redelivered nothing" "$(total redelivered_total)" 0
zt_eq "and lost no worker" "$(grep -c "worker .* lost" "$T/broker.log")" 0

zt_say "a worker killed with -9"
victim=$(pgrep -f -- "--worker-name $NAMES-[0-9]+\$" | head -n 1)
vname=$(tr '\0' ' ' </proc/"$victim"/cmdline | grep -o "$NAMES-[0-9]*")
kill -9 "$victim"
zt_wait 5 "$vname back" bash -c "pgrep -f -- '--worker-name $vname\$' | grep -qv '^$victim\$'"
zt_assert "counted as a crash" test "$(counter worker_crashes_total)" -ge 1

zt_say "zorch scale 4, then --auto"
"$ZORCH_BIN" scale 4 --endpoint "$AS_EP" >"$T/scale4.txt" || zt_fail "zorch scale 4: $(cat "$T/scale4.txt")"
zt_eq "manual" "$(gauge manual)" 1
zt_wait 10 "four workers" bash -c "[ \$('$ZORCH_BIN' scale --json --endpoint $AS_EP | jq .gauges.workers) = 4 ]"
zt_assert "an operator's size above max is refused" bash -c "! '$ZORCH_BIN' scale 7 --endpoint $AS_EP 2>'$T/scale7.err'"
zt_assert "saying why" grep -q "above autoscaler/max" "$T/scale7.err"
"$ZORCH_BIN" scale --auto --endpoint "$AS_EP" >/dev/null || zt_fail "zorch scale --auto"
zt_eq "automatic again" "$(gauge manual)" 0

zt_say "the monitor stopped: the size is held"
zt_stop "$MON_PID"
zt_wait 6 "the autoscaler to see the monitor silent" bash -c "[ \$('$ZORCH_BIN' scale --json --endpoint $AS_EP | jq .gauges.monitor_silent) = 1 ]"
sleep 6                              # past the cooldown: with a monitor, 4 idle workers would shrink
zt_eq "still four" "$(gauge workers)" 4
zt_assert "and it says so" grep -q "monitor silent" <<<"$(S | jq -r '.notes[].text')"

zt_say "SIGTERM: the autoscaler stops its workers"
pids=$(pgrep -f -- "--worker-name $NAMES-" | tr '\n' ' ')
zt_stop "$AS_PID"
for p in $pids; do zt_assert "worker $p stopped" bash -c "! kill -0 $p 2>/dev/null"; done

zt_say "the command executor"
zm_monitor --config "$T/zorch.conf"
cat >"$T/scale.sh" <<'SH'
#!/bin/sh
echo "$1" >>"$(dirname "$0")/sizes"
SH
chmod +x "$T/scale.sh"
"$ZT_BUILD_DIR/actors/autoscaler/zorch-autoscaler" --config "$T/zorch.conf" \
    --autoscaler-endpoint "$AS2_EP" --autoscaler-command "$T/scale.sh %d" >>"$T/autoscaler2.log" 2>&1 &
AS2_PID=$!; ZT_PIDS+=("$AS2_PID")
zt_wait 10 "the command asked for min" bash -c "[ \"\$(cat '$T/sizes' 2>/dev/null)\" = 2 ]"
"$ZORCH_BIN" scale 5 --endpoint "$AS2_EP" >/dev/null || zt_fail "zorch scale 5 (command)"
zt_wait 10 "then 5" bash -c "[ \"\$(tail -n 1 '$T/sizes')\" = 5 ]"
"$ZORCH_BIN" scale --auto --endpoint "$AS2_EP" >/dev/null
zt_wait 15 "then the policy's 2 (no load, after the cooldown)" bash -c "[ \"\$(tail -n 1 '$T/sizes')\" = 2 ]"
zt_eq "the sizes it was asked for" "$(tr '\n' ' ' <"$T/sizes")" "2 5 2 "
zt_eq "and no worker of its own" "$(pgrep -fc -- "--worker-name $NAMES-" || true)" 0
