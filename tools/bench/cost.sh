#!/usr/bin/env bash
# What one event costs each process, in figures that do not move with the
# machine's load: instructions (valgrind's callgrind) or system calls
# (strace -c). A broker and one worker are started by hand, `zorch bench`
# runs a workload against them twice (SMALL and LARGE events), and the
# difference divided by LARGE - SMALL is the cost of one event, start-up
# and idle time taken out.
#
#   tools/bench/cost.sh W1                 # instructions per event, W1
#   tools/bench/cost.sh W4                 # one event at a time
#   MODE=strace tools/bench/cost.sh W4     # system calls per event
#
# Environment: BUILD (default build), SMALL, LARGE (default 10000 and 40000;
# W4: 1000 and 4000), MODE (callgrind or strace), SCRATCH.
# Needs valgrind or strace. Slow under valgrind: minutes, not seconds.
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
WL=${1:-W1}
BUILD=${BUILD:-$top/build}
MODE=${MODE:-callgrind}
if [ "$WL" = W4 ]; then SMALL=${SMALL:-1000}; LARGE=${LARGE:-4000}
else SMALL=${SMALL:-10000}; LARGE=${LARGE:-40000}; fi
SCRATCH=${SCRATCH:-$(mktemp -d /tmp/zorch-cost-XXXXXX)}
mkdir -p "$SCRATCH"
for b in broker/zorch-broker actors/worker/zorch-worker tools/zorch; do
    [ -x "$BUILD/$b" ] || { echo "cost.sh: no $BUILD/$b (build first: deploy/setup.sh)" >&2; exit 2; }
done
[ "$MODE" = callgrind ] || [ "$MODE" = strace ] || { echo "cost.sh: MODE is callgrind or strace" >&2; exit 2; }
tool=$([ "$MODE" = callgrind ] && echo valgrind || echo strace)
command -v "$tool" >/dev/null || { echo "cost.sh: $tool is not installed" >&2; exit 2; }

# One run of N events; prints "broker worker producer" totals. callgrind
# wraps each process; strace attaches to the broker and the worker once
# they are up (and is stopped with SIGINT), and wraps the producer.
s_run() {
    local n=$1 d=$SCRATCH/run-$1 bp wp sb=() vg=()
    rm -rf "$d"; mkdir -p "$d"
    [ "$MODE" = callgrind ] && vg=(valgrind --tool=callgrind)
    "${vg[@]}" ${vg:+--callgrind-out-file="$d/broker.out"} "$BUILD/broker/zorch-broker" \
        --broker-front tcp://127.0.0.1:47701 --broker-back tcp://127.0.0.1:47702 \
        --broker-data-dir "$d/data" --stats-endpoint "ipc://$d/stats" >"$d/broker.log" 2>&1 & bp=$!
    "${vg[@]}" ${vg:+--callgrind-out-file="$d/worker.out"} "$BUILD/actors/worker/zorch-worker" \
        --worker-broker tcp://127.0.0.1:47702 --worker-name w1 --stats-endpoint "ipc://$d/stats" \
        >"$d/worker.log" 2>&1 & wp=$!
    #   Both up and connected before anything is counted.
    "$BUILD/tools/zorch" bench "$WL" --endpoint tcp://127.0.0.1:47701 --events 10 --warmup 1 \
        >/dev/null 2>&1 || true
    if [ "$MODE" = strace ]; then
        strace -c -f -o "$d/broker.out" -p "$bp" 2>/dev/null & sb+=($!)
        strace -c -f -o "$d/worker.out" -p "$wp" 2>/dev/null & sb+=($!)
        sleep 0.5
        strace -c -f -o "$d/producer.out" "$BUILD/tools/zorch" bench "$WL" \
            --endpoint tcp://127.0.0.1:47701 --events "$n" --warmup 200 >"$d/bench.log" 2>&1
        kill -INT "${sb[@]}"; wait "${sb[@]}" || true
    else
        valgrind --tool=callgrind --callgrind-out-file="$d/producer.out" "$BUILD/tools/zorch" bench \
            "$WL" --endpoint tcp://127.0.0.1:47701 --events "$n" --warmup 200 >"$d/bench.log" 2>&1
    fi
    kill -TERM "$wp"; wait "$wp" || true
    kill -TERM "$bp"; wait "$bp" || true
    local p out=()
    for p in broker worker producer; do
        if [ "$MODE" = callgrind ]; then
            out+=("$(callgrind_annotate "$d/$p.out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')")
        else
            out+=("$(awk '/^100.00/ { print $4 }' "$d/$p.out")")
        fi
    done
    echo "${out[@]}"
}
read -r b1 w1 p1 <<<"$(s_run "$SMALL")"
read -r b2 w2 p2 <<<"$(s_run "$LARGE")"
what=$([ "$MODE" = callgrind ] && echo instructions || echo "system calls")
echo "$WL: $what per event ($SMALL and $LARGE events)"
awk -v n=$((LARGE - SMALL)) -v b="$((b2 - b1))" -v w="$((w2 - w1))" -v p="$((p2 - p1))" 'BEGIN {
    printf "zorch-broker   %10.1f\nzorch-worker   %10.1f\nproducer       %10.1f\n", b / n, w / n, p / n }'
