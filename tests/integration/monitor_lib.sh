#   tests/integration/monitor_lib.sh: what the monitor_* tests share, on
#   top of lib.sh. Sourced, never run. After zt_init NAME BASE, the monitor
#   serves HTTP on 127.0.0.1:BASE+3 and pulls STATS on BASE+2 (lib.sh's
#   $STATS, which every actor started here reports to); BASE+4 is free for
#   a webhook receiver.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MONITOR_BIN="${ZORCH_MONITOR_BIN:-$ZT_BUILD_DIR/actors/monitor/zorch-monitor}"
STATSGEN_BIN="${ZORCH_STATSGEN_BIN:-$ZT_BUILD_DIR/tests/zo_statsgen}"
HOOK_SINK_BIN="${ZORCH_HOOK_SINK_BIN:-$ZT_BUILD_DIR/tests/zo_hook_sink}"

#   zm_init NAME BASE: zt_init, plus the monitor's binaries and curl.
zm_init () {
    zt_init "$1" "$2"
    local b
    for b in "$MONITOR_BIN" "$STATSGEN_BIN"; do
        [ -x "$b" ] || zt_fail "binary $b is not built"
    done
    command -v curl >/dev/null || zt_fail "curl is not installed (deploy/setup.sh installs it)"
    MON_ADDR="127.0.0.1:$((PORT_BASE + 3))"
    MON_URL="http://$MON_ADDR"
}

#   zm_monitor [flags...]: starts zorch-monitor on this test's ports and
#   waits for its "ready" line; MON_PID is its pid, $T/monitor.log its log.
zm_monitor () {
    "$MONITOR_BIN" --stats-endpoint "$STATS" --monitor-http "$MON_ADDR" "$@" \
        >>"$T/monitor.log" 2>&1 &
    MON_PID=$!
    ZT_PIDS+=("$MON_PID")
    zt_wait 10 "the monitor's ready line" s_monitor_ready
    zt_say "monitor up (pid $MON_PID) at $MON_URL"
}
s_monitor_ready () {
    kill -0 "$MON_PID" 2>/dev/null || zt_fail "the monitor exited at start"
    grep -q 'ready http=' "$T/monitor.log" 2>/dev/null
}

#   zm_get PATH: the body (bounded in time); zm_code PATH: the status code.
zm_get () { curl -s --max-time 5 "$MON_URL$1"; }
zm_code () { curl -s -o /dev/null --max-time 5 -w '%{http_code}' "$MON_URL$1"; }
#   zm_jq PATH FILTER: jq -r FILTER over the body of PATH.
zm_jq () { zm_get "$1" | jq -r "$2"; }

#   True when /api/stats lists actor KIND/NAME in state STATE (up|down).
zm_actor_is () {
    [ "$(zm_jq /api/stats ".actors[] | select(.actor == \"$1\" and .name == \"$2\") | .state")" = "$3" ]
}

#   True when a broker is up in /api/stats; BROKER_NAME gets its name.
BROKER_NAME=""
zm_broker_listed () {
    BROKER_NAME=$(zm_jq /api/stats '.actors[] | select(.actor == "broker" and .up) | .name' | head -n1)
    [ -n "$BROKER_NAME" ]
}

#   True when $1 is a number (zt_assert cannot run [[ ]] itself).
zm_is_num () { [[ "$1" =~ ^[0-9]+([.][0-9]+)?$ ]]; }

#   zm_statsgen OUT args...: runs zo_statsgen in the background (killed at exit).
zm_statsgen () { local out="$1"; shift; zt_bg "$T/$out" "$STATSGEN_BIN" --endpoint "$STATS" "$@"; }

#   Headless Chromium on a monitor page, for the dashboard's tests; CHROMIUM
#   is empty when none is installed.
CHROMIUM=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
zm_chromium () {
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$(mktemp -d "$T/chromium.XXXXXX")" --window-size=1400,1000 \
        --virtual-time-budget=4000 "$@" 2>>"$T/chromium.err"
}
