#!/usr/bin/env bash
#   demo: `zorch up --demo --once` starts a broker and workers, injects the
#   demo stream, prints what happened and exits 0. It runs on a config of
#   its own (ports 17200.., a temp data dir), so it does not disturb a
#   cluster running on the default ports.
source "$(dirname "$0")/lib.sh"
zt_init demo 17200

cat >"$T/zorch.conf" <<CONF
stats
    endpoint = $STATS
broker
    front = $FRONT
    back = $BACK
    data_dir = $DATA
worker
    broker = $BACK
    cache = tcp://127.0.0.1:$((PORT_BASE + 6))
cache
    endpoint = tcp://127.0.0.1:$((PORT_BASE + 6))
inject
    broker = $FRONT
monitor
    http = 127.0.0.1:$((PORT_BASE + 5))
CONF

zt_say "zorch up --demo --once"
set +e
timeout -k 5 60 "$ZORCH_BIN" up --config "$T/zorch.conf" --demo --once >"$T/demo.log" 2>&1
rc=$?
set -e
tail -n 40 "$T/demo.log"
zt_eq "zorch up --demo --once exit code" "$rc" 0
n_demo=$(ls "$ZT_SRC_DIR"/deploy/demo/*.json 2>/dev/null | wc -l)
zt_assert "deploy/demo has demo events" [ "$n_demo" -gt 0 ]
#   One table row per event: "  1   github.push   ok   110.0ms ...".
zt_eq "demo events printed as ok" "$(grep -cE '^ +[0-9]+ +[a-z_.]+ +ok ' "$T/demo.log" || true)" "$n_demo"
zt_assert "no broker is left on the demo's port" \
    bash -c "! ss -ltn 2>/dev/null | grep -q ':$PORT_BASE '"
