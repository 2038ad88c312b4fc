#!/usr/bin/env bash
# zorch-cache beside Redis: GETs of 100-byte values from 10,000 keys, drawn
# uniformly, on 127.0.0.1. It starts a redis-server (no persistence) and
# zorch-cache actors on free ports, fills them, runs the workloads below in
# REPS alternating rounds of DURATION seconds each, and prints the medians.
# These machines are shared and noisy: the ratios, measured in the same run,
# are the figures to quote.
#
#   (a) redis-benchmark -t get -c 50 -r 10000 --csv         50 clients, 1 GET in flight each
#   (b) the same with -P 16                                  50 clients, 16 GETs in flight each (batches)
#   (c) cache_bench --connections 50 --inflight 1            memory hits; (a)'s counterpart
#   (d) cache_bench --connections 50 --inflight 16           memory hits; (b)'s counterpart
#                                                            (a window of 16, not batches of 16)
#   (g) cache_bench --connections 1 --inflight 50            memory hits, 50 in flight as in (a),
#                                                            on one connection: how a worker asks
#                                                            (requests matched by seq, out of order)
#   (e) cache_bench --connections 50 --inflight 1            Redis hits: a zorch-cache with
#       --keys 100000                                        --cache-redis and --cache-memory 64K,
#                                                            100,000 keys, so nearly every GET
#                                                            misses memory (the level counts say so)
#   (h) redis-benchmark -c 1, cache_bench --connections 1 --inflight 1 against the memory-only,
#       the Redis and the PostgreSQL caches: one request at a time, the latency of each level
#       with nothing queued (ra, h1, h2, h3)
#   (f) cache_bench --connections 50 --inflight 1            PostgreSQL hits: only --cache-postgres,
#       --keys 20000                                         --cache-memory 64K, 20,000 keys; only when
#                                                            PostgreSQL is installed (a throwaway cluster)
#
# redis-benchmark runs a number of requests, not a time: -n is the previous
# run's requests/s (a short calibration run first) times DURATION. Both
# sides are one server thread and one client thread (zmq adds an I/O
# thread on each side). Latency: redis-benchmark's own percentiles (its
# CSV, in ms); cache_bench's histogram (send to reply, 0.4 % buckets).
#
#   tools/bench/cache.sh                    # 3 rounds of 5 s
#   REPS=5 DURATION=10 tools/bench/cache.sh
#   QUICK=1 tools/bench/cache.sh            # 1 round of 1 s: checks it runs, not figures
#
# Environment: BUILD (default build), CACHE (<build>/actors/cache/zorch-cache),
# BENCH (<build>/tools/cache_bench), ZORCH (<build>/tools/zorch), REPS,
# DURATION, QUICK, SCRATCH (kept when given), PG_BIN (the newest
# /usr/lib/postgresql/*/bin).
# Needs: a build with cache_bench (ninja -C build tools/cache_bench),
# redis-server, redis-benchmark, redis-cli, /usr/bin/python3.
# Run it alone: a build or test suite running beside it distorts every figure.
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
BUILD=${BUILD:-$top/build}
CACHE=${CACHE:-$BUILD/actors/cache/zorch-cache}
BENCH=${BENCH:-$BUILD/tools/cache_bench}
ZORCH=${ZORCH:-$BUILD/tools/zorch}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then REPS=${REPS:-1} DURATION=${DURATION:-1}; fi
REPS=${REPS:-3}
DURATION=${DURATION:-5}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)}
# shellcheck source=tools/bench/lib.sh
. "$top/tools/bench/lib.sh"
bench_init cache.sh
for b in "$CACHE" "$BENCH" "$ZORCH"; do
    [ -x "$b" ] || { echo "cache.sh: no $b (build first: ninja -C build tools/cache_bench)" >&2; exit 2; }
done
for b in redis-server redis-benchmark redis-cli; do
    command -v "$b" >/dev/null || { echo "cache.sh: $b is not installed (deploy/setup.sh)" >&2; exit 2; }
done

results=$SCRATCH/results.txt
: > "$results"

# s_cache NAME ARGS...: a zorch-cache on a free port; its endpoint in CACHE_EP.
s_cache() {
    local name=$1; shift
    local ports
    read -r -a ports <<<"$(bench_free_ports 2)"
    CACHE_EP=tcp://127.0.0.1:${ports[0]}
    "$CACHE" --cache-endpoint "$CACHE_EP" --stats-endpoint "tcp://127.0.0.1:${ports[1]}" \
        --cache-name "$name" --log-level warning "$@" >>"$SCRATCH/cache-$name.log" 2>&1 &
    pids+=($!)
}

# s_level_up EP LEVEL: the cache at EP has its redis/postgres level up.
s_level_up() {
    "$ZORCH" cache stats --json --endpoint "$1" --timeout 1 2>/dev/null \
        | "$PY" -c 'import json, sys; sys.exit(json.load(sys.stdin)["gauges"].get("dep_" + sys.argv[1] + "_up") != 1)' "$2"
}

# s_fill EP KEYS: cache_bench's SETs of every key, then one GET.
s_fill() {
    "$BENCH" --endpoint "$1" --keys "$2" --value-size 100 --fill --requests 1 --json \
        >/dev/null 2>>"$SCRATCH/fill.log" || { echo "cache.sh: filling $1 failed: $(tail -n 2 "$SCRATCH/fill.log")" >&2; exit 1; }
}

# ---------------------------------------------------------------------
# The servers

read -r rport pport <<<"$(bench_free_ports 2)"
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$SCRATCH" \
    >"$SCRATCH/redis.log" 2>&1 &
pids+=($!)
bench_wait 10 "redis on $rport" bash -c "redis-cli -p $rport ping | grep -q PONG"

# Redis db 0 for redis-benchmark, keys key:000000000000 .. key:000000009999
# (its -r 10000 names), every one set (SET -r would leave a third unset).
"$PY" -c 'import sys
v = b"x" * 100
out = sys.stdout.buffer
for i in range(10000):
    k = b"key:%012d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))' \
    | redis-cli -p "$rport" --pipe >"$SCRATCH/redis-fill.log" 2>&1
[ "$(redis-cli -p "$rport" -n 0 dbsize)" = 10000 ] || { echo "cache.sh: redis fill failed" >&2; exit 1; }

s_cache mem                                         # (c), (d): memory only, 64M
ep_mem=$CACHE_EP
s_fill "$ep_mem" 10000

s_cache l2 --cache-redis "redis://127.0.0.1:$rport/1" --cache-memory 64K   # (e), Redis db 1
ep_l2=$CACHE_EP
bench_wait 10 "the l2 cache's redis level" s_level_up "$ep_l2" redis
s_fill "$ep_l2" 100000

ep_l3=
if [ -n "$PG_BIN" ] && [ -x "$PG_BIN/postgres" ]; then
    bench_pg_start "$pport"
    s_cache l3 --cache-postgres "host=127.0.0.1 port=$pport user=postgres dbname=postgres" \
        --cache-memory 64K
    ep_l3=$CACHE_EP
    bench_wait 10 "the l3 cache's postgres level" s_level_up "$ep_l3" postgres
    s_fill "$ep_l3" 20000
else
    echo "cache.sh: no PostgreSQL under /usr/lib/postgresql: (f) skipped" >&2
fi

# ---------------------------------------------------------------------
# The runs

# One redis-benchmark: prints {"gets_per_s","p50_us","p99_us"} from its CSV
# (header "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
# "p95_latency_ms","p99_latency_ms","max_latency_ms"; read by name).
run_redis() {
    local n=$1; shift
    redis-benchmark -p "$rport" -t get -c "${CLIENTS:-50}" -n "$n" -r 10000 -d 100 --csv "$@" 2>>"$SCRATCH/redis-benchmark.log" \
        | "$PY" -c 'import csv, json, sys
rows = [r for r in csv.DictReader(sys.stdin) if r.get("test") == "GET"]
if rows:
    r = rows[0]
    print(json.dumps({"gets_per_s": float(r["rps"]), "p50_us": float(r["p50_latency_ms"]) * 1000,
                      "p99_us": float(r["p99_latency_ms"]) * 1000}))'
}

# -n for DURATION seconds at the last measured rate of workload $1.
declare -A rate
s_requests() {
    "$PY" -c 'import sys; print(max(10000, int(float(sys.argv[1]) * float(sys.argv[2]))))' "${rate[$1]}" "$DURATION"
}
s_rate() { "$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["gets_per_s"])' "$1"; }

# A row: workload letter, then its JSON (nothing when the run failed).
s_row() {
    local wl=$1 json=$2
    if [ -z "$json" ]; then
        echo "cache.sh: run $wl failed" >&2
        return
    fi
    printf '%s\t%s\n' "$wl" "$json" >> "$results"
    case $wl in a|b) rate[$wl]=$(s_rate "$json") ;; esac
}

#   Calibration (also a warm-up): the first -n of each redis-benchmark.
rate[a]=$(s_rate "$(run_redis 20000)")
rate[b]=$(s_rate "$(run_redis 200000 -P 16)")

shape1=(--connections 50 --inflight 1)
shape16=(--connections 50 --inflight 16)
for rep in $(seq 1 "$REPS"); do
    echo "rep $rep: (a) redis-benchmark -c 50" >&2
    s_row a "$(run_redis "$(s_requests a)" || true)"
    echo "rep $rep: (c) cache_bench 50 x 1, memory" >&2
    s_row c "$("$BENCH" --endpoint "$ep_mem" --keys 10000 "${shape1[@]}" --duration "$DURATION" --json || true)"
    echo "rep $rep: (b) redis-benchmark -c 50 -P 16" >&2
    s_row b "$(run_redis "$(s_requests b)" -P 16 || true)"
    echo "rep $rep: (d) cache_bench 50 x 16, memory" >&2
    s_row d "$("$BENCH" --endpoint "$ep_mem" --keys 10000 "${shape16[@]}" --duration "$DURATION" --json || true)"
    echo "rep $rep: (g) cache_bench 1 x 50, memory" >&2
    s_row g "$("$BENCH" --endpoint "$ep_mem" --keys 10000 --connections 1 --inflight 50 --duration "$DURATION" --json || true)"
    echo "rep $rep: (e) cache_bench 50 x 1, redis" >&2
    s_row e "$("$BENCH" --endpoint "$ep_l2" --keys 100000 "${shape1[@]}" --duration "$DURATION" --json || true)"
    if [ -n "$ep_l3" ]; then
        echo "rep $rep: (f) cache_bench 50 x 1, postgres" >&2
        s_row f "$("$BENCH" --endpoint "$ep_l3" --keys 20000 "${shape1[@]}" --duration "$DURATION" --json || true)"
    fi
    echo "rep $rep: (h) one at a time: redis-benchmark -c 1, then each level" >&2
    s_row ra "$(CLIENTS=1 run_redis 20000 || true)"
    one=(--connections 1 --inflight 1 --duration "$DURATION" --json)
    s_row h1 "$("$BENCH" --endpoint "$ep_mem" --keys 10000 "${one[@]}" || true)"
    s_row h2 "$("$BENCH" --endpoint "$ep_l2" --keys 100000 "${one[@]}" || true)"
    if [ -n "$ep_l3" ]; then
        s_row h3 "$("$BENCH" --endpoint "$ep_l3" --keys 20000 "${one[@]}" || true)"
    fi
done

"$PY" - "$results" "$REPS" "$DURATION" "$([ -n "$ep_l3" ] && echo 1 || echo 0)" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    wl, _, js = line.rstrip("\n").partition("\t")
    rows.setdefault(wl, []).append(json.loads(js))
names = {
    "a": "(a) redis-benchmark GET -c 50",
    "b": "(b) redis-benchmark GET -c 50 -P 16",
    "c": "(c) zorch-cache memory, 50 conn x 1",
    "d": "(d) zorch-cache memory, 50 conn x 16",
    "g": "(g) zorch-cache memory, 1 conn x 50",
    "e": "(e) zorch-cache via Redis, 50 conn x 1",
    "f": "(f) zorch-cache via PostgreSQL, 50 conn x 1",
    "ra": "(h) redis-benchmark GET -c 1",
    "h1": "(h) zorch-cache memory, 1 x 1",
    "h2": "(h) zorch-cache via Redis, 1 x 1",
    "h3": "(h) zorch-cache via PostgreSQL, 1 x 1",
}
med = {wl: {k: statistics.median(r[k] for r in rs) for k in ("gets_per_s", "p50_us", "p99_us")}
       for wl, rs in rows.items()}
print(f"medians of {sys.argv[2]} alternating runs of {sys.argv[3]} s; latency in µs")
print("| workload | requests/s | p50 µs | p99 µs | ÷ (a) | ÷ (b) | hits by level (memory/redis/postgres), misses, errors+timeouts |")
print("|---|---|---|---|---|---|---|")
for wl, name in names.items():
    if wl in ("f", "h3") and sys.argv[4] != "1":
        print(f"| {name} | (skipped: no PostgreSQL) | | | | | |")
        continue
    if wl not in med:
        print(f"| {name} | (every run failed: see above) | | | | | |")
        continue
    m = med[wl]
    ra = rb = levels = ""
    if wl in ("c", "d", "e", "f", "g") and "a" in med:
        ra = f"{m['gets_per_s'] / med['a']['gets_per_s']:.2f}"
    if wl == "d" and "b" in med:
        rb = f"{m['gets_per_s'] / med['b']['gets_per_s']:.2f}"
    if wl in ("c", "d", "e", "f", "g", "h1", "h2", "h3"):
        s = lambda f: sum(f(r) for r in rows[wl])
        levels = (f"{s(lambda r: r['levels']['memory'])}/{s(lambda r: r['levels']['redis'])}/"
                  f"{s(lambda r: r['levels']['postgres'])}, {s(lambda r: r['misses'])}, "
                  f"{s(lambda r: r['errors'] + r.get('timeouts', 0))}")
    print(f"| {name} | {m['gets_per_s']:.0f} | {m['p50_us']:.0f} | {m['p99_us']:.0f} | {ra} | {rb} | {levels} |")
PY
