#!/usr/bin/env bash
# The pool's SQL path beside pgbench: a throwaway PostgreSQL cluster
# (initdb in a temp dir, fsync off), a broker, two workers and a zorch-pool
# with database `main` (max 8 connections) on free 127.0.0.1 ports; REPS
# alternating rounds of:
#
#   (a) zorch inject --type b.sql --count N --inflight 1000 --wait: events
#       whose route is the built-in `sql` handler running `select $1::int`
#       through the pool (event -> broker -> worker -> pool -> PostgreSQL)
#   (b) pgbench -n -c 8 -j 2 -T S -M extended -f select.sql: the same
#       statement, parameterised, over 8 connections, as fast as it goes
#
#   tools/bench/pool_sql.sh              # N=50000, REPS=3, S=5
#   QUICK=1 tools/bench/pool_sql.sh      # 1 round, N/10, 2 s
#
# Run it alone: a build or test suite beside it distorts every figure.
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
BUILD=${BUILD:-$top/build}
ZORCH=$BUILD/tools/zorch
QUICK=${QUICK:-0}
N=${N:-50000}; REPS=${REPS:-3}; SECS=${SECS:-5}
if [ "$QUICK" = 1 ]; then REPS=1 N=$((N / 10)) SECS=2; fi
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PG_BIN/postgres" ] && command -v "$PG_BIN/pgbench" >/dev/null || { echo "pool_sql.sh: no PostgreSQL or pgbench" >&2; exit 2; }
# shellcheck source=tools/bench/lib.sh
. "$top/tools/bench/lib.sh"
bench_init pool_sql.sh
read -r pport front back stats pool <<<"$(bench_free_ports 5)"
bench_pg_start "$pport" max_connections=100
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
    databases
        database
            name = main
            conninfo = "host=127.0.0.1 port=$pport user=postgres dbname=postgres"
            min = 8
            max = 8
worker
    broker = tcp://127.0.0.1:$back
    pool = tcp://127.0.0.1:$pool
    routes
        route
            match = "b.sql"
            handler = sql
            database = main
            statement = "select \$1::int as v"
            param1 = "{payload.n}"
log
    level = warning
CONF
"$BUILD/broker/zorch-broker" --config "$SCRATCH/zorch.conf" >>"$SCRATCH/broker.log" 2>&1 & pids+=($!)
"$BUILD/actors/pool/zorch-pool" --config "$SCRATCH/zorch.conf" >>"$SCRATCH/pool.log" 2>&1 & pids+=($!)
for w in 1 2; do "$BUILD/actors/worker/zorch-worker" --config "$SCRATCH/zorch.conf" --worker-name "w$w" >>"$SCRATCH/w$w.log" 2>&1 & pids+=($!); done
sleep 1
printf '\\set n random(1, 1000000)\nselect :n::int as v;\n' >"$SCRATCH/select.sql"
run_zorch () {
    "$ZORCH" inject --broker "tcp://127.0.0.1:$front" --type b.sql --payload '{"n":42}' --count "$1" \
        --inflight 1000 --wait --quiet --json
}
run_pgbench () {
    "$PG_BIN/pgbench" -n -h 127.0.0.1 -p "$pport" -U postgres -c 8 -j 2 -T "$SECS" -M extended \
        -f "$SCRATCH/select.sql" -r postgres 2>&1 | "$PY" -c 'import json, re, sys
t = sys.stdin.read()
tps = float(re.search(r"tps = ([0-9.]+)", t).group(1))
lat = float(re.search(r"latency average = ([0-9.]+) ms", t).group(1))
print(json.dumps({"tps": tps, "latency_avg_us": lat * 1000}))'
}
run_zorch 2000 >/dev/null          # warm-up
: >"$SCRATCH/results"
for r in $(seq 1 "$REPS"); do
    printf 'zorch\t%s\n' "$(run_zorch "$N")" >>"$SCRATCH/results"
    printf 'pgbench\t%s\n' "$(run_pgbench)" >>"$SCRATCH/results"
done
conns=$("$PG_BIN/psql" -h 127.0.0.1 -p "$pport" -U postgres -XAtq -c "select count(*) from pg_stat_activity where backend_type = 'client backend'")
"$PY" - "$SCRATCH/results" "$N" "$REPS" "$conns" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    k, _, js = line.rstrip("\n").partition("\t")
    rows.setdefault(k, []).append(json.loads(js))
z = statistics.median(r["throughput_eps"] for r in rows["zorch"])
zp50 = statistics.median(r["latency_us"]["p50"] for r in rows["zorch"])
zp99 = statistics.median(r["latency_us"]["p99"] for r in rows["zorch"])
ok = min(r["ok"] for r in rows["zorch"])
p = statistics.median(r["tps"] for r in rows["pgbench"])
pl = statistics.median(r["latency_avg_us"] for r in rows["pgbench"])
print(f"medians of {sys.argv[3]} alternating rounds; {sys.argv[2]} events a round")
print("| workload | statements/s | latency µs | ÷ pgbench |")
print("|---|---|---|---|")
print(f"| events → worker (`sql` handler) → pool (8 connections) → PostgreSQL, 1,000 in flight | {z:.0f} | p50 {zp50:.0f}, p99 {zp99:.0f} | {z / p:.2f} |")
print(f"| pgbench -c 8 -j 2 -M extended, the same select | {p:.0f} | average {pl:.0f} | 1.00 |")
print(f"ok: {ok} per round; client connections open at the end (pool and psql): {sys.argv[4]}")
PY
