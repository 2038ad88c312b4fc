#!/usr/bin/env bash
# zorch-pool beside libcurl and wrk: GET /ok of a local HTTP server
# (tests/tools/zo_http_fixture, a thread per connection, which counts the
# connections it accepts). It starts the server, a broker, a zorch-pool
# with one service `local` (max_conns 8) and two workers, all on free
# 127.0.0.1 ports, then runs REPS alternating rounds of the workloads below
# and prints the medians. These machines are shared and noisy: the ratios,
# measured in the same run, are the figures to quote.
#
#   (a) zorch inject --type b.http --count N --inflight 1000 --wait
#       the full path: event -> broker -> worker (handler http) -> pool -> HTTP
#   (b) curl_direct --requests N --inflight 1000 --max-conns 8
#       libcurl multi from one process, one thread, 8 keep-alive connections
#   (c) curl_direct --new-conn --requests N/10 --inflight 100 --max-conns 8
#       one connection per request (CURLOPT_FORBID_REUSE)
#   (d) wrk -t2 -c8 -dWRK_SECS --latency
#       the server's ceiling on 8 connections (two client threads)
#   (e) zorch inject --type b.noop, as (a)
#       the cluster's own cost, without HTTP
#
# Connections: what the server accepted during each run (its /stats
# before and after, less the one /stats itself opens), per 10,000
# requests; the pool keeps its 8 from the warm-up on, so (a) should open
# none. Latency: inject's own percentiles (submit to result), curl_direct's
# histogram (add to done, the wait for a free connection included), wrk's
# --latency distribution (per request on an open connection).
#
#   tools/bench/pool.sh                   # N=50000, 3 rounds, wrk 5 s
#   N=200000 REPS=5 tools/bench/pool.sh
#   QUICK=1 tools/bench/pool.sh           # 1 round, N/10, wrk 1 s: checks it runs, not figures
#
# Environment: BUILD (default build), N, REPS, QUICK, WRK_SECS, SCRATCH
# (kept when given).
# Needs: a build with curl_direct and the fixture (ninja -C build
# tools/curl_direct tests/tools/zo_http_fixture), wrk, curl, /usr/bin/python3.
# Run it alone: a build or test suite running beside it distorts every figure.
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
BUILD=${BUILD:-$top/build}
ZORCH=$BUILD/tools/zorch
DIRECT=$BUILD/tools/curl_direct
FIXTURE=$BUILD/tests/tools/zo_http_fixture
QUICK=${QUICK:-0}
N=${N:-50000}
if [ "$QUICK" = 1 ]; then REPS=${REPS:-1} N=$((N / 10)) WRK_SECS=${WRK_SECS:-1}; fi
REPS=${REPS:-3}
WRK_SECS=${WRK_SECS:-5}
INFLIGHT=1000
# shellcheck source=tools/bench/lib.sh
. "$top/tools/bench/lib.sh"
bench_init pool.sh
for b in "$ZORCH" "$DIRECT" "$FIXTURE" "$BUILD/broker/zorch-broker" \
         "$BUILD/actors/worker/zorch-worker" "$BUILD/actors/pool/zorch-pool"; do
    [ -x "$b" ] || { echo "pool.sh: no $b (build first: ninja -C build tools/curl_direct)" >&2; exit 2; }
done
for b in wrk curl; do
    command -v "$b" >/dev/null || { echo "pool.sh: $b is not installed" >&2; exit 2; }
done

results=$SCRATCH/results.txt
: > "$results"

# ---------------------------------------------------------------------
# The server and the cluster

read -r hport front back stats pool <<<"$(bench_free_ports 5)"
url=http://127.0.0.1:$hport/ok
"$FIXTURE" "$hport" 86400 >"$SCRATCH/fixture.log" 2>&1 &
pids+=($!)
bench_wait 10 "the HTTP fixture on $hport" bash -c "curl -s '$url' | grep -q ok"

cat >"$SCRATCH/zorch.conf" <<CONF
stats
    endpoint = tcp://127.0.0.1:$stats
broker
    front = tcp://127.0.0.1:$front
    back = tcp://127.0.0.1:$back
    data_dir = $SCRATCH/data
pool
    endpoint = tcp://127.0.0.1:$pool
    health_interval = 0
    services
        service
            name = local
            url = "http://127.0.0.1:$hport"
            max_conns = 8
worker
    broker = tcp://127.0.0.1:$back
    pool = tcp://127.0.0.1:$pool
    routes
        route
            match = "b.http"
            handler = http
            service = local
            path = /ok
        route
            match = "b.noop"
            handler = noop
log
    level = warning
CONF
"$BUILD/broker/zorch-broker" --config "$SCRATCH/zorch.conf" >>"$SCRATCH/broker.log" 2>&1 &
pids+=($!)
"$BUILD/actors/pool/zorch-pool" --config "$SCRATCH/zorch.conf" --log-level info >>"$SCRATCH/pool.log" 2>&1 &
pids+=($!)
bench_wait 10 "the pool's ready line" grep -q "pool: ready" "$SCRATCH/pool.log"
for w in 1 2; do
    "$BUILD/actors/worker/zorch-worker" --config "$SCRATCH/zorch.conf" --worker-name "w$w" \
        >>"$SCRATCH/worker-$w.log" 2>&1 &
    pids+=($!)
done

# ---------------------------------------------------------------------
# The runs

# The connections the server has accepted so far (this request's own included).
s_conns() { curl -s "http://127.0.0.1:$hport/stats" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["connections"])'; }

s_inject() {   # s_inject TYPE COUNT: inject's JSON summary
    "$ZORCH" inject --broker "tcp://127.0.0.1:$front" --type "$1" --count "$2" \
        --inflight "$INFLIGHT" --wait --quiet --json 2>>"$SCRATCH/inject.log" || true
}

# s_row WL KIND COMMAND...: runs COMMAND between two reads of /stats and
# appends WL and a JSON line {"rps","p50_us","p99_us","requests","errors",
# "conns"} (read from COMMAND's output as KIND says) to the results.
s_row() {
    local wl=$1 kind=$2; shift 2
    local before after out
    before=$(s_conns)
    out=$("$@" || true)
    after=$(s_conns)
    printf '%s\n' "$out" >"$SCRATCH/last-$wl.out"
    if ! row=$("$PY" - "$kind" $((after - before - 1)) "$SCRATCH/last-$wl.out" <<'PY'
import json, re, sys
kind, conns, text = sys.argv[1], int(sys.argv[2]), open(sys.argv[3]).read()
if kind == "inject":
    j = json.loads(text.strip().splitlines()[-1])
    r = {"rps": j["throughput_eps"], "p50_us": j["latency_us"]["p50"], "p99_us": j["latency_us"]["p99"],
         "requests": j["ok"] + j["failed"] + j["lost"], "errors": j["failed"] + j["lost"] + j["nacked"]}
elif kind == "direct":
    j = json.loads(text.strip().splitlines()[-1])
    r = {"rps": j["rps"], "p50_us": j["p50_us"], "p99_us": j["p99_us"], "requests": j["requests"],
         "errors": j["errors"], "client_conns": j["connections"]}
else:   # wrk --latency
    unit = {"us": 1, "ms": 1e3, "s": 1e6}
    lat = lambda p: (lambda m: float(m[1]) * unit[m[2]])(re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, text, re.M))
    errs = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses:\s*(\d+)", text))
    m = re.search(r"Socket errors:(.*)", text)
    if m:
        errs += sum(int(x) for x in re.findall(r"\d+", m[1]))
    r = {"rps": float(re.search(r"Requests/sec:\s*([\d.]+)", text)[1]), "p50_us": lat(50), "p99_us": lat(99),
         "requests": int(re.search(r"(\d+) requests in", text)[1]), "errors": errs}
r["conns"] = conns
print(json.dumps(r))
PY
    ); then
        echo "pool.sh: run $wl failed: $(tail -n 3 "$SCRATCH/last-$wl.out")" >&2
        return 0
    fi
    printf '%s\t%s\n' "$wl" "$row" >>"$results"
}

#   Warm-up: the workers are up (inject waits for them), the pool has its
#   connections open, and every client's first-run costs are paid.
warm=$((N / 10 > 1000 ? N / 10 : 1000))
bench_wait 20 "the workers (a noop event)" "$ZORCH" inject --broker "tcp://127.0.0.1:$front" \
    --type b.noop --wait --quiet --timeout 2
s_inject b.noop "$warm" >/dev/null
s_inject b.http "$warm" >/dev/null
"$DIRECT" --url "$url" --requests "$warm" --inflight "$INFLIGHT" --max-conns 8 >/dev/null

for rep in $(seq 1 "$REPS"); do
    echo "rep $rep: (a) inject b.http, $N events" >&2
    s_row a inject s_inject b.http "$N"
    echo "rep $rep: (b) curl_direct, $N requests, 8 connections" >&2
    s_row b direct "$DIRECT" --url "$url" --requests "$N" --inflight "$INFLIGHT" --max-conns 8
    echo "rep $rep: (c) curl_direct --new-conn, $((N / 10)) requests" >&2
    s_row c direct "$DIRECT" --url "$url" --requests $((N / 10)) --inflight 100 --max-conns 8 --new-conn
    echo "rep $rep: (d) wrk -t2 -c8 -d${WRK_SECS}s" >&2
    s_row d wrk wrk -t2 -c8 -d"${WRK_SECS}s" --latency "$url"
    echo "rep $rep: (e) inject b.noop, $N events" >&2
    s_row e inject s_inject b.noop "$N"
done

"$PY" - "$results" "$REPS" "$N" "$WRK_SECS" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    wl, _, js = line.rstrip("\n").partition("\t")
    rows.setdefault(wl, []).append(json.loads(js))
n = int(sys.argv[3])
names = {
    "a": f"(a) zorch inject b.http → broker → worker → pool → HTTP, {n} events, 1000 in flight",
    "b": f"(b) curl_direct, libcurl multi, 1 thread, {n} requests, 1000 in flight, 8 conns",
    "c": f"(c) curl_direct --new-conn, {n // 10} requests, 100 in flight",
    "d": f"(d) wrk -t2 -c8 -d{sys.argv[4]}s (the server's ceiling)",
    "e": f"(e) zorch inject b.noop (no HTTP), {n} events, 1000 in flight",
}
med = {wl: {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_us", "p99_us")}
       for wl, rs in rows.items()}
print(f"medians of {sys.argv[2]} alternating rounds; latency in µs; "
      "connections: accepted by the server during the runs, per 10,000 requests")
print("| workload | requests/s | p50 µs | p99 µs | connections / 10k | ÷ (b) |")
print("|---|---|---|---|---|---|")
errors = []
for wl, name in names.items():
    if wl not in med:
        print(f"| {name} | (every run failed: see above) | | | | |")
        continue
    m, rs = med[wl], rows[wl]
    conns = "—" if wl == "e" else f"{10000 * sum(r['conns'] for r in rs) / max(1, sum(r['requests'] for r in rs)):.1f}"
    ratio = f"{m['rps'] / med['b']['rps']:.2f}" if "b" in med else ""
    print(f"| {name} | {m['rps']:.0f} | {m['p50_us']:.0f} | {m['p99_us']:.0f} | {conns} | {ratio} |")
    e = sum(r["errors"] for r in rs)
    if e:
        errors.append(f"{wl}: {e}")
    cc = [r["client_conns"] for r in rs if "client_conns" in r]
    if cc and sum(cc) != sum(r["conns"] for r in rs):
        errors.append(f"{wl}: curl_direct counted {sum(cc)} connections, the server {sum(r['conns'] for r in rs)}")
print("errors: " + (", ".join(errors) if errors else "none"))
PY
