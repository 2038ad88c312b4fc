#!/usr/bin/env bash
# What a cache GET costs a worker, end to end: a broker, two workers and a
# zorch-cache (memory only) on free 127.0.0.1 ports; `zorch inject --wait`
# sends N events whose route is the built-in `cache` handler (a GET of a
# key that is there: the worker asks the cache actor and completes with
# the value) and, alternating, N events whose route is `noop`. The
# difference per event is what the round trip to the cache adds.
#
#   tools/bench/cache_worker.sh                   # N=100000, INFLIGHT=1000, 3 rounds
#   N=20000 INFLIGHT=1 tools/bench/cache_worker.sh  # one event at a time: the latency added
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
B="${BUILD:-$top/build}"
N=${N:-100000}; INFLIGHT=${INFLIGHT:-1000}; REPS=${REPS:-3}
PY=/usr/bin/python3
tmp=$(mktemp -d); pids=()
cleanup () { for p in "${pids[@]:-}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
read -r -a ports <<<"$($PY -c 'import socket
s = [socket.socket() for _ in range(4)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')"
front=tcp://127.0.0.1:${ports[0]} back=tcp://127.0.0.1:${ports[1]}
cache=tcp://127.0.0.1:${ports[2]} stats=tcp://127.0.0.1:${ports[3]}
cat >"$tmp/zorch.conf" <<CONF
stats
    endpoint = $stats
broker
    front = $front
    back = $back
    data_dir = $tmp/data
worker
    broker = $back
    cache = $cache
    routes
        route
            match = "b.get"
            handler = cache
            key = "item:{payload.id}"
        route
            match = "b.noop"
            handler = noop
cache
    endpoint = $cache
log
    level = warning
CONF
"$B/broker/zorch-broker" --config "$tmp/zorch.conf" & pids+=($!)
"$B/actors/cache/zorch-cache" --config "$tmp/zorch.conf" & pids+=($!)
for w in 1 2; do "$B/actors/worker/zorch-worker" --config "$tmp/zorch.conf" --worker-name "w$w" & pids+=($!); done
sleep 1
"$B/tools/zorch" cache set item:1 '{"team":"core","repo":"octo/hello"}' --endpoint "$cache" >/dev/null
run () {  # run TYPE -> one JSON summary line
    "$B/tools/zorch" inject --broker "$front" --type "$1" --payload '{"id":1}' --count "$N" \
        --inflight "$INFLIGHT" --wait --quiet --json
}
run b.noop >/dev/null; run b.get >/dev/null     # warm-up
: >"$tmp/results"
for r in $(seq 1 "$REPS"); do
    printf 'noop\t%s\n' "$(run b.noop)" >>"$tmp/results"
    printf 'get\t%s\n' "$(run b.get)" >>"$tmp/results"
done
$PY - "$tmp/results" "$N" "$INFLIGHT" "$REPS" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    k, _, js = line.rstrip("\n").partition("\t")
    rows.setdefault(k, []).append(json.loads(js))
med = lambda k, f: statistics.median(f(r) for r in rows[k])
print(f"{sys.argv[2]} events, {sys.argv[3]} in flight, medians of {sys.argv[4]} alternating runs")
print("| route | events/s | p50 µs | p99 µs | ok |")
print("|---|---|---|---|---|")
for k, name in (("noop", "noop"), ("get", "cache get (memory hit)")):
    print(f"| {name} | {med(k, lambda r: r['throughput_eps']):.0f} | {med(k, lambda r: r['latency_us']['p50']):.0f} "
          f"| {med(k, lambda r: r['latency_us']['p99']):.0f} | {min(r['ok'] for r in rows[k])} |")
n, g = med("noop", lambda r: r['throughput_eps']), med("get", lambda r: r['throughput_eps'])
print(f"cost of the GET per event: {1e6 / g - 1e6 / n:.2f} µs of cluster time "
      f"({g / n:.2f} × the noop rate); p50 latency added: "
      f"{med('get', lambda r: r['latency_us']['p50']) - med('noop', lambda r: r['latency_us']['p50']):.0f} µs")
PY
