#!/usr/bin/env bash
#   monitor_advice: the monitor's advice end to end, in seconds: its rule
#   windows are monitor/advice_window, 2 s here (5 min by default). Fake
#   actors (zo_statsgen): a broker whose events take 90-95 ms against the
#   100 ms objective, a worker at 1 % CPU, and an autoscaler at its max.
#   io_wait (p95 near the objective, idle workers) and autoscaler_max are
#   in /api/advice, /api/stats, zorch status and the dashboard, with their
#   figures; autoscaler_max goes when the autoscaler does.
source "$(dirname "$0")/monitor_lib.sh"
zm_init monitor_advice 17950
cat >"$T/monitor.conf" <<CONF
monitor
    advice_window = 2s
CONF
zm_monitor --config "$T/monitor.conf"
zt_eq "no advice without actors" "$(zm_jq /api/advice '.advice | length')" 0

zm_statsgen gen-broker.out --kind broker --name fb --forever --interval 1000 --grow \
    --hist latency_ns=90000000,91000000,92000000,93000000,95000000
zm_statsgen gen-worker.out --kind worker --name fw --forever --interval 1000 --gauge capacity=10
zm_statsgen gen-scaler.out --kind autoscaler --name fa --forever --interval 1000 \
    --gauge workers=10 --gauge max=10 --gauge manual=0
SCALER=$BG_PID

s_advised () { [ "$(zm_jq /api/advice "[.advice[] | select(.id == \"$1\")] | length")" = 1 ]; }
zt_wait 20 "io_wait advice" s_advised io_wait
zt_wait 20 "autoscaler_max advice" s_advised autoscaler_max
io=$(zm_jq /api/advice '.advice[] | select(.id == "io_wait") | .text')
zt_say "io_wait: $io"
zt_assert "io_wait has its figures" bash -c "[[ '$io' =~ ^p95\ 9[0-9]\ ms\ near\ the\ 100\ ms\ objective\ while\ workers\ use\ [0-9]+\ %\ CPU:\ they\ wait\ on\ I/O\;\ raise\ worker/capacity$ ]]"
mx=$(zm_jq /api/advice '.advice[] | select(.id == "autoscaler_max") | .text')
zt_say "autoscaler_max: $mx"
zt_assert "autoscaler_max has its figures" bash -c "[[ '$mx' =~ ^workers\ at\ autoscaler/max\ \(10\)\ for\ [0-9]+\ s\ with\ load\ [0-9.]+:\ raise\ autoscaler/max$ ]]"
zt_eq "/api/stats has them too" "$(zm_jq /api/stats '[.advice[].id] | sort | join(",")')" \
    "autoscaler_max,io_wait"
zt_assert "each with its since_ms (wall clock)" \
    [ "$(zm_jq /api/stats '[.advice[].since_ms | select(. > 1600000000000)] | length')" = 2 ]

"$ZORCH_BIN" status --monitor "$MON_URL" >"$T/status.txt" || true
cat "$T/status.txt"
zt_assert "zorch status has its advice" grep -q '^advice:$' "$T/status.txt"
zt_assert "... stamped, in its words" grep -qE '^  [0-9]{2}:[0-9]{2}:[0-9]{2}  p95 9[0-9] ms near the 100 ms objective' "$T/status.txt"
if [ -n "$CHROMIUM" ]; then
    zm_chromium --dump-dom "$MON_URL/dashboard" >"$T/dom.html" || true
    zt_assert "the dashboard's advice panel lists it" grep -qE 'class="when">[^<]+</span>workers at autoscaler/max \(10\)' "$T/dom.html"
else
    zt_say "SKIPPED the dashboard check: chromium is not installed"
fi

zt_say "the autoscaler stops: its advice goes once it is down"
kill "$SCALER"
s_unadvised () { ! s_advised "$1"; }
zt_wait 10 "autoscaler_max to go" s_unadvised autoscaler_max
zt_assert "io_wait stays" s_advised io_wait
