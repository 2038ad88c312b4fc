#!/usr/bin/env bash
#   exec_handler: the exec built-in runs a program per event with the event
#   as JSON on stdin. Success: its JSON stdout comes back as the result.
#   Non-zero exit: the event fails with the program's stderr. Timeout: the
#   child is killed, and no zombie is left under the worker.
source "$(dirname "$0")/lib.sh"
zt_init exec_handler 17180

cat >"$T/worker.conf" <<CONF
worker
    routes
        route
            match = "test.exec.ok"
            handler = exec
            command = "jq -c '{echoed: .payload, id: .id, type: .type}'"
        route
            match = "test.exec.fail"
            handler = exec
            command = "echo boom-on-stderr >&2; exit 3"
            attempts = 1
        route
            match = "test.exec.slow"
            handler = exec
            command = "echo \$\$ > '$T/slow.pid'; exec sleep 30"
            timeout = 1s
            attempts = 1
CONF

zt_broker
zt_worker w1 --config "$T/worker.conf"
W1=$WORKER_PID

zt_say "success: JSON stdout is the result"
zt_inject --id ex-ok --type test.exec.ok --payload '{"x":1,"s":"héllo"}' --wait --timeout 20 \
    --results "$T/ok.ndjson" >"$T/ok.txt" 2>&1 || zt_fail "inject failed: $(cat "$T/ok.txt")"
zt_eq "ok" "$(jq -r '.ok' "$T/ok.ndjson")" true
zt_eq "result" "$(jq -cS '.result' "$T/ok.ndjson")" \
    '{"echoed":{"s":"héllo","x":1},"id":"ex-ok","type":"test.exec.ok"}'

zt_say "failure: exit 3 fails the event with stderr"
set +e
zt_inject --id ex-fail --type test.exec.fail --max-attempts 1 --wait --timeout 20 \
    --results "$T/fail.ndjson" >"$T/fail.txt" 2>&1
rc=$?
set -e
zt_assert "inject exits 1 when the event fails" [ "$rc" -eq 1 ]
zt_eq "ok" "$(jq -r '.ok' "$T/fail.ndjson")" false
zt_say "error: $(jq -r '.error' "$T/fail.ndjson")"
zt_assert "the error carries the program's stderr" grep -q boom-on-stderr <(jq -r '.error' "$T/fail.ndjson")

zt_say "timeout: a 30 s program on a 1 s route is killed"
start=$(date +%s)
set +e
zt_inject --id ex-slow --type test.exec.slow --max-attempts 1 --wait --timeout 25 \
    --results "$T/slow.ndjson" >"$T/slow.txt" 2>&1
rc=$?
set -e
took=$(( $(date +%s) - start ))
zt_assert "inject exits 1 when the event times out" [ "$rc" -eq 1 ]
zt_eq "ok" "$(jq -r '.ok' "$T/slow.ndjson")" false
zt_say "error: $(jq -r '.error' "$T/slow.ndjson") (after ${took}s)"
zt_assert "it failed well before the program's 30 s" [ "$took" -lt 15 ]
[ -s "$T/slow.pid" ] || zt_fail "the slow program never started (no pid file)"
child=$(cat "$T/slow.pid")
zt_wait 5 "the killed child $child to disappear" zt_gone "$child"
zt_eq "the killed child's process entry" "$(ps -o stat= -p "$child" || true)" ""
zt_eq "zombies under the worker" "$(ps -o stat= --ppid "$W1" | grep -c '^Z' || true)" 0
zt_assert "the worker is alive" kill -0 "$W1"
