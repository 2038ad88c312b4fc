#!/usr/bin/env bash
#   monitor_dashboard: the dashboard, loaded in headless Chromium while
#   events flow through a real broker and worker, shows live numbers that
#   change between two loads; a screenshot is kept in the build's
#   meson-logs/monitor_dashboard.png. Skipped (77) without chromium.
source "$(dirname "$0")/monitor_lib.sh"
zm_init monitor_dashboard 17930
if [ -z "$CHROMIUM" ]; then
    zt_say "SKIPPED: chromium is not installed (deploy/setup.sh installs it)"
    exit 77
fi
zm_monitor
zt_broker
zt_worker w1

zt_say "events flow: 2000/s for up to 60 s"
zt_bg "$T/inject.out" "$ZORCH_BIN" inject --broker "$FRONT" --count 120000 --rate 2000 \
    --type test.echo --quiet --timeout 80
zt_wait 15 "accepted events in /api/stats" bash -c \
    "[ \"\$(curl -s --max-time 5 $MON_URL/api/stats | jq -r .cluster.totals.accepted_total)\" -gt 0 ]"

s_accepted () { grep -o 'id="accepted-total">[^<]*' "$1" | head -n1 | sed 's/.*>//; s/,//g'; }

zm_chromium --dump-dom "$MON_URL/dashboard" >"$T/dom1.html" || true
a1=$(s_accepted "$T/dom1.html")
sleep 3
zm_chromium --dump-dom "$MON_URL/dashboard" >"$T/dom2.html" || true
a2=$(s_accepted "$T/dom2.html")
zt_say "events accepted shown: $a1, then $a2"
zt_assert "the first load shows a number ($a1)" zm_is_num "$a1"
zt_assert "the second load shows a number ($a2)" zm_is_num "$a2"
zt_assert "the number grew while events flowed" [ "$a2" -gt "$a1" ]
tp=$(grep -o 'id="throughput">[^<]*' "$T/dom2.html" | sed 's/.*>//; s/,//g')
zt_assert "a throughput is shown ($tp/s)" zm_is_num "$tp"
zt_assert "the health badge says OK" grep -q 'id="health" class="badge ok">OK<' "$T/dom2.html"
zt_assert "uPlot drew charts" grep -q 'class="uplot' "$T/dom2.html"
zt_assert "worker w1 is in the workers table" grep -q '<td>w1</td>' "$T/dom2.html"
zt_assert "no cache actor is said so" grep -q 'no cache actor' "$T/dom2.html"
zt_assert "no autoscaler is said so" grep -q 'no autoscaler' "$T/dom2.html"

SHOT_DIR="$ZT_BUILD_DIR/meson-logs"
mkdir -p "$SHOT_DIR"
zm_chromium --screenshot="$SHOT_DIR/monitor_dashboard.png" "$MON_URL/dashboard" >/dev/null || true
zt_assert "a screenshot was saved to $SHOT_DIR/monitor_dashboard.png" [ -s "$SHOT_DIR/monitor_dashboard.png" ]
