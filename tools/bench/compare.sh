#!/usr/bin/env bash
# Runs the baseline (tools/bench/zbase.c: a raw libzmq pipeline of the standard
# workload, tools/bench/WORKLOAD.md) and `zorch bench --spawn` on the same
# workloads, alternating runs, and prints the median of each figure with the
# zorch/baseline ratio. These machines are shared and noisy: the ratio, measured
# in the same run, is the figure to quote.
#
#   tools/bench/compare.sh                      # W1 W2 W3 W4, 3 repeats, tcp
#   REPS=5 ONLY="W1 W4" tools/bench/compare.sh
#   TRANSPORT=ipc tools/bench/compare.sh
#   DURABLE=1 tools/bench/compare.sh            # zorch with its journal on (bench --durable)
#   QUICK=1 REPS=1 tools/bench/compare.sh       # a tenth of the events: checks it runs, not figures
#
# Environment: ZORCH (default build/tools/zorch), BASELINE (default zbase next to
# it: <build>/tools/zbase), REPS, ONLY, TRANSPORT, DURABLE, QUICK, SCRATCH (kept when given).
# Needs: a build (deploy/setup.sh), /usr/bin/python3.
# Run it alone: a build or test suite running beside it distorts every figure.
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
ZORCH=${ZORCH:-$top/build/tools/zorch}
BASELINE=${BASELINE:-$(dirname "$ZORCH")/zbase}
REPS=${REPS:-3}
ONLY=${ONLY:-"W1 W2 W3 W4"}
TRANSPORT=${TRANSPORT:-tcp}
DURABLE=${DURABLE:-0}
QUICK=${QUICK:-0}
durable_flag=()
[ "$DURABLE" = 1 ] && durable_flag=(--durable)
# shellcheck source=tools/bench/lib.sh
. "$top/tools/bench/lib.sh"
bench_init compare.sh
[ -x "$ZORCH" ] || { echo "compare.sh: no zorch at $ZORCH (build first: deploy/setup.sh)" >&2; exit 2; }
[ -x "$BASELINE" ] || { echo "compare.sh: no baseline at $BASELINE (build first, or set BASELINE)" >&2; exit 2; }

results=$SCRATCH/results.txt
: > "$results"

# Events per workload (W3: seconds at 10,000/s), a tenth with QUICK=1.
s_events() {
    local n
    case $1 in W1) n=200000 ;; W2) n=50000 ;; W3) n=10 ;; W4) n=20000 ;; esac
    if [ "$QUICK" = 1 ]; then echo $((n / 10)); else echo "$n"; fi
}

# One baseline run: broker, 2 workers, producer. Prints "eps p50 p95 p99 max" (µs).
run_baseline() {
    local wl=$1 front back delay=0 args
    case $TRANSPORT in
        tcp) local ports
             read -r -a ports <<<"$(bench_free_ports 2)"
             front=tcp://127.0.0.1:${ports[0]} back=tcp://127.0.0.1:${ports[1]} ;;
        ipc) front=ipc://$SCRATCH/f.ipc back=ipc://$SCRATCH/b.ipc ;;
    esac
    #   The workloads of WORKLOAD.md, as `zorch bench` runs them.
    case $wl in
        W1) args="n=$(s_events W1) inflight=1000" ;;
        W2) args="n=$(s_events W2) inflight=1000"; delay=10000 ;;
        W3) args="rate=10000 dur=$(s_events W3)" ;;
        W4) args="n=$(s_events W4) inflight=1" ;;
    esac
    "$BASELINE" broker "$front" "$back" 2>"$SCRATCH/fb.log" & local b=$!
    "$BASELINE" worker "$back" "$delay" 2>/dev/null & local w1=$!
    "$BASELINE" worker "$back" "$delay" 2>/dev/null & local w2=$!
    pids=("$b" "$w1" "$w2")
    for _ in $(seq 1 250); do grep -q "BROKER READY" "$SCRATCH/fb.log" 2>/dev/null && break; sleep 0.02; done
    if ! grep -q "BROKER READY" "$SCRATCH/fb.log"; then
        echo "compare.sh: the baseline's broker did not start: $(head -n 3 "$SCRATCH/fb.log")" >&2
        kill -TERM "$b" "$w1" "$w2" 2>/dev/null || true
        wait "$b" "$w1" "$w2" 2>/dev/null || true
        pids=()
        return
    fi
    sleep 0.2                           #   the workers' READY reaches the broker
    local line
    line=$(timeout 150 "$BASELINE" producer "$front" $args warmup=2000 2>/dev/null | grep '^RESULT' || true)
    kill -TERM "$b" "$w1" "$w2" 2>/dev/null || true
    wait "$b" "$w1" "$w2" 2>/dev/null || true
    pids=()
    echo "$line" | tr ' ' '\n' | awk -F= '{v[$1]=$2} END {print v["eps"], v["p50_us"], v["p95_us"], v["p99_us"], v["max_us"]}'
}

run_zorch() {
    local wl=$1 json
    local size=()
    if [ "$QUICK" = 1 ]; then
        if [ "$wl" = W3 ]; then size=(--duration "$(s_events W3)"); else size=(--events "$(s_events "$wl")"); fi
    fi
    json=$("$ZORCH" bench "$wl" --spawn "${durable_flag[@]}" "${size[@]}" --transport "$TRANSPORT" --json 2>/dev/null | tail -n 1)
    "$PY" -c 'import json,sys
o=json.loads(sys.argv[1]); l=o["latency_us"]
print(o["throughput_eps"], l["p50"], l["p95"], l["p99"], l["max"], o["lost"], o["cpu_us_per_event"])' "$json"
}

for rep in $(seq 1 "$REPS"); do
    for wl in $ONLY; do
        echo "rep $rep $wl baseline..." >&2
        echo "$wl baseline $(run_baseline "$wl")" >> "$results"
        echo "rep $rep $wl zorch..." >&2
        echo "$wl zorch $(run_zorch "$wl")" >> "$results"
    done
done

"$PY" - "$results" "$TRANSPORT" "$REPS" "$([ "$DURABLE" = 1 ] && echo ', zorch with its journal on')" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
print(f"transport {sys.argv[2]}{sys.argv[4]}, medians of {sys.argv[3]} alternating runs; latency in µs")
print(f"| workload | figure | baseline | zorch | zorch/baseline |")
print(f"|---|---|---|---|---|")
names = ["events/s", "p50", "p95", "p99", "max"]
for wl in dict.fromkeys(r[0] for r in rows):
    f = [list(map(float, r[2:7])) for r in rows if r[0] == wl and r[1] == "baseline" and len(r) >= 7]
    z = [list(map(float, r[2:9])) for r in rows if r[0] == wl and r[1] == "zorch" and len(r) >= 9]
    if not f or not z:
        print(f"| {wl} | (a run failed: see above) | | | |")
        continue
    for i, name in enumerate(names):
        fm = statistics.median(x[i] for x in f)
        zm = statistics.median(x[i] for x in z)
        ratio = zm / fm if fm else float("nan")
        print(f"| {wl} | {name} | {fm:.0f} | {zm:.0f} | {ratio:.2f} |")
    print(f"| {wl} | zorch lost (max) | | {max(x[5] for x in z):.0f} | |")
    print(f"| {wl} | zorch CPU µs/event | | {statistics.median(x[6] for x in z):.1f} | |")
PY
