#!/usr/bin/env bash
# zorch-autoscaler through a load step, beside a fixed two-worker cluster.
#
# A broker, a zorch-monitor and a zorch-autoscaler (local workers) on free
# 127.0.0.1 ports. Workers have capacity 20 and a handler that waits 50 ms
# without burning CPU (W2's kind of work): 400 events/s each, 800 for two.
# The stream, open loop at a fixed rate (zorch inject --rate):
#     5 s at  80/s  (10 % of two workers)
#    20 s at 1200/s (150 %)                  <- t = 0 is this step
#    25 s at 100/s  (light, while it shrinks: autoscaled runs only)
# once autoscaled (autoscaler/min 2, max 8) and once fixed at two workers
# (autoscaler/size 2), alternating, REPS rounds. Every actor reports every
# 250 ms and the autoscaler reads the score every 250 ms with a 1 s window
# (the "fast" profile below; the defaults are 1 s and 3 s).
#
# Figures, medians over the rounds:
#   first_served_s  from the step (the moment the step's inject starts) to
#                   the first event dispatched to a worker started after it
#                   (zorch workers --watch 0.02: its dispatched count above
#                   0; it is served 50 ms later), to within 20 ms
#   p99_ms          inject's p99 over the step (submit to result: the wait
#                   in the queue included), autoscaled and fixed
#   redelivered     the broker's redelivered_total at the end (scale-downs
#                   happen during the light load)
# and a plot of the last autoscaled round (load score, forecast, workers,
# p99 over time) to $PLOT (default BENCHMARKS-autoscale.png beside
# BENCHMARKS.md), with gnuplot.
#
#   tools/bench/autoscale.sh            # REPS=3
#   REPS=1 QUICK=1 tools/bench/autoscale.sh   # shorter phases: checks it runs, not figures
#
# Needs: a build (BUILD, default build), jq, curl, gnuplot, /usr/bin/python3.
# Run it alone: a build or test suite beside it distorts every figure.
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
B=${BUILD:-$top/build}
REPS=${REPS:-3}
PLOT=${PLOT:-$top/BENCHMARKS-autoscale.png}
STEP_S=20; LIGHT_S=25
if [ -n "${QUICK:-}" ]; then STEP_S=8; LIGHT_S=12; fi
# shellcheck source=tools/bench/lib.sh
. "$top/tools/bench/lib.sh"
bench_init autoscale.sh
for tool in jq curl gnuplot; do command -v "$tool" >/dev/null || { echo "autoscale.sh: needs $tool" >&2; exit 2; }; done

# run MODE (auto|fixed) ROUND: one cluster, one stream; prints one JSON line.
run () {
    local mode=$1 round=$2 dir="$SCRATCH/$1-$2"
    mkdir -p "$dir"
    read -r -a ports <<<"$(bench_free_ports 5)"
    local front=tcp://127.0.0.1:${ports[0]} back=tcp://127.0.0.1:${ports[1]}
    local stats=tcp://127.0.0.1:${ports[2]} http=127.0.0.1:${ports[3]} as=tcp://127.0.0.1:${ports[4]}
    cat >"$dir/zorch.conf" <<CONF
stats
    endpoint = $stats
    interval = 250ms
log
    level = warning
broker
    front = $front
    back = $back
    data_dir = $dir/data
monitor
    http = $http
    latency_objective = 1s
inject
    broker = $front
worker
    broker = $back
    capacity = 20
    routes
        route
            match = "b.work"
            handler = sleep
            ms = 50
autoscaler
    endpoint = $as
    monitor = "http://$http"
    interval = 250ms
    window = 1s
    horizon = 2s
    cooldown = 10s
    min = 2
    max = 8
    logs = "$dir"
CONF
    local extra=()
    [ "$mode" = fixed ] && extra=(--autoscaler-size 2)
    "$B/broker/zorch-broker" --config "$dir/zorch.conf" >"$dir/broker.log" 2>&1 & pids+=($!)
    "$B/actors/monitor/zorch-monitor" --config "$dir/zorch.conf" >"$dir/monitor.log" 2>&1 & pids+=($!)
    "$B/actors/autoscaler/zorch-autoscaler" --config "$dir/zorch.conf" "${extra[@]}" \
        >"$dir/autoscaler.log" 2>&1 & local as_pid=$!; pids+=($as_pid)
    local i
    for i in $(seq 1 100); do
        [ "$("$B/tools/zorch" workers --json --broker "$front" 2>/dev/null | jq length 2>/dev/null || echo 0)" -ge 2 ] && break
        sleep 0.1
    done
    local initial
    initial=$("$B/tools/zorch" workers --json --broker "$front" | jq -c '[.[].name]')
    "$B/tools/zorch" inject --config "$dir/zorch.conf" --type b.work --count 400 --rate 80 \
        --wait --quiet --json --timeout 60 >"$dir/low.json"
    # The watcher: the broker's view every 20 ms, timed (a new worker's
    # first event: its dispatched count above 0). The sampler: every
    # 250 ms the score, the forecast, the workers, p99.
    "$B/tools/zorch" workers --json --watch 0.02 --broker "$front" >"$dir/watch.ndjson" 2>/dev/null &
    local watcher=$!
    (
        start=$(date +%s%N)
        while :; do
            now=$(( ($(date +%s%N) - start) / 1000000 ))
            score=$(curl -s --max-time 1 "http://$http/api/load" | jq -r '.score // "nan"')
            p99=$(curl -s --max-time 1 "http://$http/api/stats" | jq -r '.cluster.p99_ms // "nan"')
            g=$("$B/tools/zorch" scale --json --endpoint "$as" --timeout 1 2>/dev/null |
                jq -r '[.gauges.forecast // "nan", .gauges.workers // "nan"] | @tsv')
            printf '%s\t%s\t%s\t%s\n' "$(awk -v t="$now" 'BEGIN { printf "%.2f", t / 1000 }')" \
                "$score" "$g" "$p99" >>"$dir/timeline.tsv"
            sleep 0.25
        done
    ) & local sampler=$!
    local step_ms
    step_ms=$(( $(date +%s%N) / 1000000 ))
    "$B/tools/zorch" inject --config "$dir/zorch.conf" --type b.work --count $((1200 * STEP_S)) \
        --rate 1200 --wait --quiet --json --timeout 120 >"$dir/step.json"
    if [ "$mode" = auto ]; then
        "$B/tools/zorch" inject --config "$dir/zorch.conf" --type b.work --count $((100 * LIGHT_S)) \
            --rate 100 --wait --quiet --json --timeout 120 >"$dir/light.json"
    fi
    kill "$sampler" "$watcher" 2>/dev/null || true; wait "$sampler" "$watcher" 2>/dev/null || true
    local redelivered
    redelivered=$(curl -s --max-time 2 "http://$http/api/stats" | jq -r '.cluster.totals.redelivered_total')
    local served
    served=$(jq -s --argjson init "$initial" --argjson step "$step_ms" '
        [.[] | select(any(.workers[]; (.name as $n | $init | index($n) | not) and .dispatched > 0))
             | .time_ms][0] | if . then (. - $step) / 1000 else null end' "$dir/watch.ndjson")
    local peak
    peak=$(awk -F'\t' '$4 != "nan" && $4 > m { m = $4 } END { print m + 0 }' "$dir/timeline.tsv")
    local quieted
    quieted=$("$B/tools/zorch" scale --json --endpoint "$as" | jq -r '.counters.workers_quieted_total')
    kill -TERM "$as_pid" 2>/dev/null || true; wait "$as_pid" 2>/dev/null || true
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true; pids=()
    jq -c --arg mode "$mode" --argjson served "${served:-null}" --argjson redelivered "${redelivered:-null}" \
        --argjson peak "$peak" --argjson quieted "${quieted:-0}" \
        '{mode: $mode, p99_ms: (.latency_us.p99 / 1000), p50_ms: (.latency_us.p50 / 1000), ok: .ok, lost: .lost, first_served_s: $served,
          redelivered: $redelivered, peak_workers: $peak, quieted: $quieted}' "$dir/step.json"
    [ "$mode" = auto ] && cp "$dir/timeline.tsv" "$SCRATCH/last-auto.tsv"
    return 0
}

: >"$SCRATCH/results"
for r in $(seq 1 "$REPS"); do
    run auto "$r" | tee -a "$SCRATCH/results"
    run fixed "$r" | tee -a "$SCRATCH/results"
done

$PY - "$SCRATCH/results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(mode, key):
    v = [r[key] for r in rows if r["mode"] == mode and r.get(key) is not None]
    return statistics.median(v) if v else None
a99, f99 = med("auto", "p99_ms"), med("fixed", "p99_ms")
print()
print("                         autoscaled    fixed (2 workers)")
print(f"p99 over the step (ms)   {a99:10.1f}    {f99:10.1f}    ratio {a99 / f99:.3f}")
print(f"p50 over the step (ms)   {med('auto', 'p50_ms'):10.1f}    {med('fixed', 'p50_ms'):10.1f}")
print(f"first event on a new worker after the step: {med('auto', 'first_served_s')} s (median)")
print(f"peak workers: {med('auto', 'peak_workers')}; quieted by scale-down: {med('auto', 'quieted')}; "
      f"events redelivered: {max(r['redelivered'] for r in rows if r['mode'] == 'auto')} (the most in any run)")
print(f"lost: {sum(r['lost'] for r in rows)}; rounds: {len(rows) // 2}")
PY

gnuplot <<GP
set terminal png size 1100,600
set output "$PLOT"
set title "zorch-autoscaler through a load step (10 % -> 150 % of two workers at t = 0, light load from t = ${STEP_S} s)"
set xlabel "seconds since the step"
set ylabel "load score, forecast (clipped at 3; up 0.8, down 0.3 dotted)"
set y2label "workers, p99 (s)"
set ytics nomirror
set y2tics
set yrange [0:3]
set y2range [0:*]
set arrow from graph 0, first 0.8 to graph 1, first 0.8 nohead dt 3 lc rgb "red"
set arrow from graph 0, first 0.3 to graph 1, first 0.3 nohead dt 3 lc rgb "blue"
set key top right
set datafile missing "nan"
set grid
plot "$SCRATCH/last-auto.tsv" using 1:2 with lines lw 2 title "load score", \
     "" using 1:3 with lines dt 2 title "forecast (2 s ahead)", \
     "" using 1:4 axes x1y2 with steps lw 2 title "workers", \
     "" using 1:(\$5 / 1000) axes x1y2 with lines title "p99 (s)"
GP
echo "plot: $PLOT"
