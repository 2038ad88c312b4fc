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
# shellcheck source=tools/bench/lib.sh
. "$top/tools/bench/lib.sh"
bench_init cache_worker.sh
read -r -a ports <<<"$(bench_free_ports 4)"
front=tcp://127.0.0.1:${ports[0]} back=tcp://127.0.0.1:${ports[1]}
cache=tcp://127.0.0.1:${ports[2]} stats=tcp://127.0.0.1:${ports[3]}
cat >"$SCRATCH/zorch.conf" <<CONF
stats
    endpoint = $stats
broker
    front = $front
    back = $back
    data_dir = $SCRATCH/data
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
"$B/broker/zorch-broker" --config "$SCRATCH/zorch.conf" & pids+=($!)
"$B/actors/cache/zorch-cache" --config "$SCRATCH/zorch.conf" & pids+=($!)
for w in 1 2; do "$B/actors/worker/zorch-worker" --config "$SCRATCH/zorch.conf" --worker-name "w$w" & pids+=($!); done
sleep 1
"$B/tools/zorch" cache set item:1 '{"team":"core","repo":"octo/hello"}' --endpoint "$cache" >/dev/null
run () {  # run TYPE -> one JSON summary line
    "$B/tools/zorch" inject --broker "$front" --type "$1" --payload '{"id":1}' --count "$N" \
        --inflight "$INFLIGHT" --wait --quiet --json
}
run b.noop >/dev/null; run b.get >/dev/null     # warm-up
: >"$SCRATCH/results"
for r in $(seq 1 "$REPS"); do
    printf 'noop\t%s\n' "$(run b.noop)" >>"$SCRATCH/results"
    printf 'get\t%s\n' "$(run b.get)" >>"$SCRATCH/results"
done
$PY - "$SCRATCH/results" "$N" "$INFLIGHT" "$REPS" <<'PY'
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
