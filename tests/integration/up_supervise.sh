#!/usr/bin/env bash
#   up_supervise: `zorch up` supervises its actors (actors/runtime/zo_sup):
#   a worker killed with -9 is restarted; killed again and again past
#   up/restart_max within up/restart_window it is given up (logged, not
#   restarted), while the other worker keeps running; SIGTERM then stops
#   everything and `zorch up` exits 0 with no child left behind.
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
    workers = 2
    monitor = false
    restart_delay = 100ms
    restart_max = 2
    restart_window = 60s
    stop_timeout = 5s
CONF

zt_bg "$T/up.log" "$ZORCH_BIN" up --config "$T/zorch.conf"
UP_PID=$BG_PID

#   The pid of the zorch-worker named NAME that zorch up started, or "".
s_worker_pid () {
    ps -o pid=,args= --ppid "$UP_PID" 2>/dev/null |
        awk -v n="$1" '$0 ~ "zorch-worker" && $0 ~ ("--worker-name " n "( |$)") { print $1 }'
}
s_has_worker () { [ -n "$(s_worker_pid "$1")" ]; }
s_new_worker () { local p; p=$(s_worker_pid "$1"); [ -n "$p" ] && [ "$p" != "$2" ]; }

zt_wait 10 "both workers started" bash -c "$(declare -f s_worker_pid s_has_worker); UP_PID=$UP_PID; s_has_worker worker-1 && s_has_worker worker-2"
w2=$(s_worker_pid worker-2)
zt_say "worker-1 $(s_worker_pid worker-1), worker-2 $w2"

#   restart_max = 2: two restarts are allowed, the third death is a storm.
for round in 1 2; do
    old=$(s_worker_pid worker-1)
    kill -9 "$old"
    zt_wait 10 "worker-1 restarted (round $round)" \
        bash -c "$(declare -f s_worker_pid s_new_worker); UP_PID=$UP_PID; s_new_worker worker-1 $old"
    zt_say "worker-1 restarted as $(s_worker_pid worker-1)"
done
old=$(s_worker_pid worker-1)
kill -9 "$old"
zt_wait 10 "the storm logged" grep -q "worker-1.*not restarting it any more" "$T/up.log.err" "$T/up.log"
sleep 1
zt_eq "worker-1 not restarted after the storm" "$(s_worker_pid worker-1)" ""
zt_eq "worker-2 untouched" "$(s_worker_pid worker-2)" "$w2"
zt_assert "zorch up still runs" kill -0 "$UP_PID"

kill -TERM "$UP_PID"
zt_reap "$UP_PID"
zt_eq "zorch up exit code after SIGTERM" "$REAP_RC" 0
zt_eq "no child of zorch up left" "$(ps -o pid= --ppid "$UP_PID" 2>/dev/null | wc -l | tr -d ' ')" 0
