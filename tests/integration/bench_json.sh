#!/usr/bin/env bash
#   bench_json: `zorch bench --spawn --json` starts its own broker and two
#   workers, runs a workload and prints the one JSON object scripts read:
#   every event accounted for (lost 0), the latency percentiles in order,
#   and RSS and CPU for each zorch process. A check of what the command
#   reports, not of how fast: no figure is compared with a target.
source "$(dirname "$0")/lib.sh"
zt_init bench_json 17220

for wl in W1 W3 W4; do
    case $wl in
        W1) args="--events 5000" ;;
        W3) args="--rate 2000 --duration 1" ;;
        W4) args="--events 300" ;;
    esac
    zt_say "zorch bench $wl --spawn --json $args"
    timeout -k 5 60 "$ZORCH_BIN" bench "$wl" --spawn --json --warmup 200 $args >"$T/$wl.json" 2>"$T/$wl.err" ||
        { cat "$T/$wl.err" >&2; zt_fail "zorch bench $wl exited non-zero"; }
    j="$T/$wl.json"
    zt_eq "$wl workload" "$(jq -r .workload "$j")" "$wl"
    zt_eq "$wl lost" "$(jq -r .lost "$j")" 0
    zt_eq "$wl errors" "$(jq -r .errors "$j")" 0
    case $wl in
        W1) zt_eq "W1 events" "$(jq -r .events "$j")" 5000 ;;
        W3) zt_eq "W3 events (rate x duration)" "$(jq -r .events "$j")" 2000 ;;
        W4) zt_eq "W4 events" "$(jq -r .events "$j")" 300 ;;
    esac
    zt_assert "$wl throughput is positive" \
        jq -e '.throughput_eps > 0' "$j"
    zt_assert "$wl percentiles are ordered" \
        jq -e '.latency_us | .min <= .p50 and .p50 <= .p95 and .p95 <= .p99 and .p99 <= .p999 and .p999 <= .max and .min > 0' "$j"
    zt_assert "$wl reports RSS and CPU of broker, two workers and itself" \
        jq -e '[.rss_bytes["zorch-broker","zorch-worker-1","zorch-worker-2","zorch-bench"]] | all(. > 0)' "$j"
    zt_assert "$wl reports CPU seconds per process" \
        jq -e '.cpu_seconds | has("zorch-broker") and has("zorch-worker-2")' "$j"
done

zt_say "no actor of the runs is left behind"
sleep 0.5
left=$(pgrep -f "zorch-bench-" || true)
zt_eq "processes left with the bench's scratch paths" "$left" ""
