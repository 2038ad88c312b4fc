#!/usr/bin/env bash
#   kill9_broker: kill -9 of a broker running with its journal on, in the
#   middle of a run. Restarted on the same data dir, it must process every
#   event it acknowledged (at least once: an exec route writes each
#   processed event to a file of its own), and after a clean stop it must
#   not run completed events again. Then a journal whose last record is torn
#   and followed by garbage: the broker starts, logs the corrupt tail, and
#   recovers every intact record.
source "$(dirname "$0")/lib.sh"
zt_init kill9_broker 17210

zt_recorder_conf "$T/worker.conf" test.exec 0.02
s_done_n () { zt_done | grep -c "^$1-" || true; }
s_done_unique_n () { zt_done | grep "^$1-" | sort -u | wc -l; }
s_last_segment () { ls "$DATA/journal/"*.msgpack | sort | tail -n 1; }
JOURNAL=(--broker-journal true)

zt_broker "${JOURNAL[@]}"
zt_worker w1 --config "$T/worker.conf" --worker-capacity 5
W1=$WORKER_PID
zt_worker w2 --config "$T/worker.conf" --worker-capacity 5
W2=$WORKER_PID

#   1. kill -9 mid-run.
N=2000
zt_events "$T/events.ndjson" k9 "$N" test.exec
zt_say "injecting $N events (20 ms each, 10 in flight in all: about 4 s of work)"
zt_inject --ndjson "$T/events.ndjson" --json >"$T/summary.json" 2>"$T/inject.err" ||
    zt_fail "inject failed: $(cat "$T/summary.json" "$T/inject.err")"
zt_eq "events acknowledged (each ACK after its journal sync)" "$(jq -r '.acked' "$T/summary.json")" "$N"

s_some_done () { [ "$(s_done_unique_n k9)" -ge 100 ]; }
zt_wait 30 "the first 100 events to be processed" s_some_done
before=$(s_done_unique_n k9)
zt_assert "work is still queued when the broker is killed ($before done)" [ "$before" -lt "$N" ]
zt_say "kill -9 broker (pid $BROKER_PID) after at least $before events were processed"
kill -KILL "$BROKER_PID"
zt_reap "$BROKER_PID"
#   What the workers held still finishes; its DONE has nowhere to go.
sleep 0.5
at_kill=$(s_done_unique_n k9)
zt_say "journal after the crash: $(ls -l "$DATA/journal" | tail -n +2 | awk '{print $5, $9}' | tr '\n' ' ')"

zt_say "restarting the broker on the same data dir"
zt_broker "${JOURNAL[@]}"
recovered=$(grep -o '[0-9]* events recovered from the journal' "$T/broker.log" | tail -n 1 | cut -d' ' -f1)
zt_say "processed by the crash: $at_kill; recovered: ${recovered:-0}"
zt_assert "every event not processed by the crash was recovered" \
    [ $((${recovered:-0} + at_kill)) -ge "$N" ]
s_all_k9 () { [ "$(s_done_unique_n k9)" -ge "$N" ]; }
zt_wait 90 "every acked event to be processed (the workers reconnect on their own)" s_all_k9
seq -f 'k9-%g' 1 "$N" | sort >"$T/want"
zt_eq "acked ids never processed" "$(zt_done | sort -u | comm -23 "$T/want" - | wc -l)" 0
twice=$(zt_done | grep '^k9-' | sort | uniq -d | wc -l)
zt_say "processed twice: $twice (those in flight or just finished at the crash)"
#   A del lost for every completed event would rerun all $before of them.
zt_assert "completed events are not run again ($twice twice, at most 50)" [ "$twice" -le 50 ]

#   2. A clean stop and start: nothing is left, nothing runs again.
total=$(s_done_n k9)
s_recoveries () { grep -c 'events recovered from the journal' "$T/broker.log" || true; }
recoveries=$(s_recoveries)
zt_stop "$BROKER_PID" 20
zt_eq "the broker's exit code after SIGTERM" "$REAP_RC" 0
zt_broker "${JOURNAL[@]}"
sleep 1.5
zt_eq "starts that recovered events after a clean stop" "$(s_recoveries)" "$recoveries"
zt_eq "events processed again after a clean restart" "$(s_done_n k9)" "$total"
zt_eq "journal segments after a clean restart" "$(ls "$DATA/journal/"*.msgpack | wc -l)" 1

#   3. A torn last record followed by garbage.
zt_stop "$W1"
zt_stop "$W2"
M=200
zt_events "$T/torn.ndjson" tg "$M" test.exec
zt_inject --ndjson "$T/torn.ndjson" --json >"$T/summary2.json" 2>"$T/inject2.err" ||
    zt_fail "inject failed: $(cat "$T/summary2.json" "$T/inject2.err")"
zt_eq "events acknowledged with no worker connected" "$(jq -r '.acked' "$T/summary2.json")" "$M"
kill -KILL "$BROKER_PID"
zt_reap "$BROKER_PID"
seg=$(s_last_segment)
size=$(stat -c %s "$seg")
truncate -s $((size - 5)) "$seg"
printf '\x94\x01\xde\xad\xbe\xef\x00garbage' >>"$seg"
zt_say "cut 5 bytes off $(basename "$seg") ($size bytes) and appended garbage"

zt_broker "${JOURNAL[@]}"
zt_assert "the broker logs the corrupt tail" grep -q "corrupt tail" "$T/broker.log"
recovered=$(grep -o '[0-9]* events recovered from the journal' "$T/broker.log" | tail -n 1 | cut -d' ' -f1)
zt_eq "intact records recovered" "${recovered:-0}" $((M - 1))
zt_worker w3 --config "$T/worker.conf" --worker-capacity 10
s_all_tg () { [ "$(s_done_unique_n tg)" -ge $((M - 1)) ]; }
zt_wait 60 "every intact event to be processed" s_all_tg
sleep 1
zt_eq "events processed after the torn journal" "$(s_done_unique_n tg)" $((M - 1))
