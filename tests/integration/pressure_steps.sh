#!/usr/bin/env bash
#   pressure_steps: the worker's and the broker's memory pressure, driven
#   for real. Each reads its heap against the cgroup memory.max file that
#   pressure/memory_max names (a file of this test's, which it rewrites as
#   a container's limit would be changed), every stats/interval (200 ms).
#
#   worker: its limit set just above its own heap (the heap is read back
#   from its memory_pressure gauge) puts it at step 1, 2, 3 in turn: its
#   credit window is 75, 50, 25 of capacity 100 (gauge capacity_effective
#   through the monitor), and after a burst of events the broker holds
#   that much credit for it (WORKERS); with the limit lifted the steps
#   come down one a reading and the worker grants the full 100 again,
#   without an event.
#   broker: with its limit below its heap it defers the low lane: low
#   events are queued but not run while high and normal ones are; lifted,
#   the low events run, each once, none lost.
source "$(dirname "$0")/monitor_lib.sh"
zm_init pressure_steps 17490
export ZORCH_STATS_INTERVAL=200ms

#   gauge KIND NAME METRIC: an actor's gauge as the monitor last heard it
#   (NAME empty: the first actor of KIND).
gauge () {
    zm_jq /api/stats "[.actors[] | select(.actor == \"$1\" and (\"$2\" == \"\" or .name == \"$2\"))
                      | .gauges[\"$3\"]][0] // empty"
}
gauge_is () { [ "$(gauge "$1" "$2" "$3")" = "$4" ]; }
#   credit NAME: the credit the broker holds for that worker (WORKERS).
credit () {
    "$ZORCH_BIN" workers --broker "$FRONT" --json | jq -r --arg n "$1" '.[] | select(.name == $n) | .credit'
}
credit_is () { [ "$(credit "$1")" = "$2" ]; }
#   set_limit FILE FRACTION: writes the limit at which the worker's heap
#   (read back from its gauge against the limit now in FILE) is FRACTION;
#   the fractions below sit 5 % and 2.5 % from the next watermark.
set_limit () {
    local mp limit heap
    mp=$(gauge worker w1 memory_pressure)
    limit=$(cat "$1")
    heap=$(awk -v m="$mp" -v l="$limit" 'BEGIN { printf "%.0f", m * l }')
    awk -v h="$heap" -v f="$2" 'BEGIN { printf "%.0f\n", h / f }' >"$1"
    zt_say "heap $heap bytes: limit $(cat "$1") for ${2}"
}

mkdir -p "$T/done"
cat >"$T/worker.conf" <<CONF
worker
    routes
        route
            match = "test.sleep"
            handler = sleep
            ms = 100
        route
            match = "p.*"
            handler = exec
            command = 'read -r e; printf "%s\\n" "\$e" >> $T/done/e.\$\$'
CONF
echo max >"$T/broker.max"
echo max >"$T/worker.max"
zm_monitor
zt_broker --pressure-memory-max "$T/broker.max"
zt_worker w1 --config "$T/worker.conf" --worker-capacity 100 --pressure-memory-max "$T/worker.max"

zt_say "--- worker: no limit, the whole window"
zt_wait 10 "w1 in the monitor" gauge_is worker w1 capacity_effective 100
zt_eq "the broker holds w1's whole credit" "$(credit w1)" 100
zt_eq "w1 at step 0" "$(gauge worker w1 pressure_step)" 0
#   A first burst brings the worker's heap to its working size (buffers,
#   free lists), which it keeps; from there it moves by about 1 % with
#   the events in flight.
zt_inject --type test.sleep --count 200 --wait --quiet --timeout 30 >/dev/null || zt_fail "warm-up"
echo 1000000000 >"$T/worker.max"
zt_wait 10 "w1's heap against 1 GB" bash -c "[ \"\$(curl -s $MON_URL/api/stats | jq '[.actors[] | select(.name == \"w1\") | .gauges.memory_pressure][0] > 0')\" = true ]"
zt_eq "still step 0 at a few % of the limit" "$(gauge worker w1 pressure_step)" 0

#   step FRACTION STEP WINDOW: the worker's heap at FRACTION of its limit
#   takes STEP; a burst of events then leaves the broker WINDOW credit.
step () {
    set_limit "$T/worker.max" "$1"
    zt_wait 10 "w1 at step $2" gauge_is worker w1 pressure_step "$2"
    zt_wait 5 "w1's window at $3" gauge_is worker w1 capacity_effective "$3"
    zt_inject --type test.sleep --count 200 --wait --quiet --timeout 30 >/dev/null \
        || zt_fail "events under step $2 did not all finish"
    zt_wait 10 "the broker to hold $3 credit for w1" credit_is w1 "$3"
    zt_say "ok: step $2: window $3 of 100, and the broker holds $3 after 200 events"
}
step 0.85 1 75
step 0.925 2 50
step 1.2 3 25
grep -q "worker: pressure step 2 -> 3" "$T/worker-w1.log" \
    || zt_fail "no log line for step 3 in w1's log"

zt_say "--- worker: limit lifted"
echo max >"$T/worker.max"
zt_wait 10 "w1 back at step 0" gauge_is worker w1 pressure_step 0
zt_wait 5 "w1's window back at 100" gauge_is worker w1 capacity_effective 100
zt_wait 5 "the broker to hold 100 credit for w1 again, no event needed" credit_is w1 100
for s in "3 -> 2" "2 -> 1" "1 -> 0"; do
    grep -q "worker: pressure step $s" "$T/worker-w1.log" || zt_fail "w1 did not log step $s"
done
zt_say "ok: w1 stepped down one step a reading (3 -> 2 -> 1 -> 0)"

zt_say "--- broker: low lane deferred under pressure"
zt_eq "the low lane runs at step 0" "$(gauge broker '' low_lane_deferred)" 0
echo 1 >"$T/broker.max"
zt_wait 10 "the broker at step 3" gauge_is broker '' pressure_step 3
zt_wait 5 "the low lane deferred" gauge_is broker '' low_lane_deferred 1
zt_events "$T/low.ndjson" low 20 p.low '"priority":"low"'
zt_events "$T/high.ndjson" high 10 p.high '"priority":"high"'
zt_events "$T/normal.ndjson" normal 10 p.normal
zt_inject --ndjson "$T/low.ndjson" --quiet >/dev/null || zt_fail "low events not accepted"
zt_inject --ndjson "$T/high.ndjson" --wait --quiet --timeout 30 >/dev/null || zt_fail "high events did not run"
zt_inject --ndjson "$T/normal.ndjson" --wait --quiet --timeout 30 >/dev/null || zt_fail "normal events did not run"
zt_eq "high and normal ran" "$(zt_done | grep -cE '^(high|normal)-')" 20
sleep 1
zt_eq "no low event ran" "$(zt_done | grep -c '^low-' || true)" 0
zt_wait 5 "20 low events queued" gauge_is broker '' queue_depth_low 20
grep -q "the low lane is deferred (0 low events wait)" "$T/broker.log" || zt_fail "no log line for the deferral"

zt_say "--- broker: limit lifted"
echo max >"$T/broker.max"
zt_wait 15 "the 20 low events to run" bash -c "[ \"\$(cat $T/done/e.* | jq -r .id | grep -c '^low-')\" -ge 20 ]"
zt_wait 5 "the low lane undeferred" gauge_is broker '' low_lane_deferred 0
zt_eq "the broker at step 0" "$(gauge broker '' pressure_step)" 0
zt_eq "each low event ran once" "$(zt_done | grep '^low-' | sort -u | wc -l)" 20
zt_eq "and no event twice" "$(zt_done | sort | uniq -d | wc -l)" 0
grep -q "the low lane runs again" "$T/broker.log" || zt_fail "no log line for the low lane again"
