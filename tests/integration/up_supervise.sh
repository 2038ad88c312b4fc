#!/usr/bin/env bash
#   up_supervise: `zorch up` runs its workers through zorch-autoscaler,
#   which supervises them (actors/runtime/zo_sup): a worker killed with -9
#   is restarted; killed again and again past autoscaler/restart_max
#   within autoscaler/restart_window it is given up (a restart storm:
#   logged, noted, not restarted, no new worker started for the window),
#   while the other worker keeps running; the broker killed with -9 is
#   restarted by zorch up itself; SIGTERM then stops everything and
#   `zorch up` exits 0 with no process left behind.
source "$(dirname "$0")/lib.sh"
zt_init up_supervise 17260

cat >"$T/zorch.conf" <<CONF
stats
    endpoint = $STATS
broker
    front = $FRONT
    back = $BACK
    data_dir = $DATA
worker
    broker = $BACK
up
    monitor = false
    cache = false
    pool = false
    restart_delay = 100ms
    stop_timeout = 5s
autoscaler
    endpoint = tcp://127.0.0.1:$((PORT_BASE + 5))
    min = 2
    restart_delay = 100ms
    restart_max = 2
    restart_window = 60s
    stop_timeout = 5s
CONF

zt_bg "$T/up.log" "$ZORCH_BIN" up --config "$T/zorch.conf"
UP_PID=$BG_PID

#   The pid of zorch up's child running BINARY, or "".
s_child_pid () { ps -o pid=,args= --ppid "$UP_PID" 2>/dev/null | awk -v b="$1" '$0 ~ b { print $1 }'; }
zt_wait 10 "the autoscaler started" bash -c "$(declare -f s_child_pid); UP_PID=$UP_PID; [ -n \"\$(s_child_pid zorch-autoscaler)\" ]"
AS_PID=$(s_child_pid zorch-autoscaler)
#   The pid of the zorch-worker named NAME that the autoscaler started, or "".
s_worker_pid () {
    ps -o pid=,args= --ppid "$AS_PID" 2>/dev/null |
        awk -v n="$1" '$0 ~ "zorch-worker" && $0 ~ ("--worker-name " n "( |$)") { print $1 }'
}
s_has_worker () { [ -n "$(s_worker_pid "$1")" ]; }
s_new_worker () { local p; p=$(s_worker_pid "$1"); [ -n "$p" ] && [ "$p" != "$2" ]; }

zt_wait 10 "both workers started" bash -c "$(declare -f s_worker_pid s_has_worker); AS_PID=$AS_PID; s_has_worker worker-1 && s_has_worker worker-2"
w2=$(s_worker_pid worker-2)
zt_say "worker-1 $(s_worker_pid worker-1), worker-2 $w2"

#   restart_max = 2: two restarts are allowed, the third death is a storm.
for round in 1 2; do
    old=$(s_worker_pid worker-1)
    kill -9 "$old"
    zt_wait 10 "worker-1 restarted (round $round)" \
        bash -c "$(declare -f s_worker_pid s_new_worker); AS_PID=$AS_PID; s_new_worker worker-1 $old"
    zt_say "worker-1 restarted as $(s_worker_pid worker-1)"
done
old=$(s_worker_pid worker-1)
kill -9 "$old"
zt_wait 10 "the storm logged" grep -q "restart storm: worker-1" "$T/up.log.err" "$T/up.log"
sleep 1
zt_eq "worker-1 not restarted after the storm" "$(s_worker_pid worker-1)" ""
zt_eq "and no new worker in its place" "$(ps -o pid= --ppid "$AS_PID" | wc -l | tr -d ' ')" 1
zt_eq "worker-2 untouched" "$(s_worker_pid worker-2)" "$w2"
stats=$("$ZORCH_BIN" scale --json --endpoint "tcp://127.0.0.1:$((PORT_BASE + 5))")
zt_eq "the autoscaler counts the storm" "$(jq .counters.restart_storms_total <<<"$stats")" 1
zt_eq "and says so" "$(jq .gauges.restart_storm <<<"$stats")" 1
zt_assert "with a note" grep -q "restart storm: worker-1" <<<"$(jq -r '.notes[].text' <<<"$stats")"

zt_say "the broker killed with -9: zorch up restarts it"
old=$(s_child_pid zorch-broker)
kill -9 "$old"
zt_wait 10 "a new broker" bash -c "$(declare -f s_child_pid); UP_PID=$UP_PID; p=\$(s_child_pid zorch-broker); [ -n \"\$p\" ] && [ \"\$p\" != $old ]"
zt_assert "zorch up still runs" kill -0 "$UP_PID"

kill -TERM "$UP_PID"
zt_reap "$UP_PID"
zt_eq "zorch up exit code after SIGTERM" "$REAP_RC" 0
zt_eq "no child of zorch up left" "$(ps -o pid= --ppid "$UP_PID" 2>/dev/null | wc -l | tr -d ' ')" 0
zt_assert "worker-2 stopped with it" bash -c "! kill -0 $w2 2>/dev/null"
zt_assert "no autoscaler left" bash -c "! kill -0 $AS_PID 2>/dev/null"
