#!/usr/bin/env bash
#   sigterm_broker: SIGTERM to the broker while events are in flight and
#   queued. It drains (grace 1 s), spools what is left to its data dir and
#   exits 0; restarted on the same data dir it reloads the spool. Nothing
#   acknowledged may be lost: every acked id is eventually processed (an
#   exec route writes each processed event to a file of its own) or in dead letters.
#   Processing twice is allowed (at least once) and reported.
source "$(dirname "$0")/lib.sh"
zt_init sigterm_broker 17170

zt_recorder_conf "$T/worker.conf" test.exec 0.2

N=300
zt_broker --broker-grace 1s
zt_worker w1 --config "$T/worker.conf" --worker-capacity 10
zt_worker w2 --config "$T/worker.conf" --worker-capacity 10

zt_events "$T/events.ndjson" st "$N" test.exec
zt_say "injecting $N events (200 ms each, 20 in flight in all: about 3 s of work)"
zt_inject --ndjson "$T/events.ndjson" --json >"$T/summary.json" 2>"$T/inject.err" ||
    zt_fail "inject failed: $(cat "$T/summary.json" "$T/inject.err")"
zt_eq "events acknowledged" "$(jq -r '.acked' "$T/summary.json")" "$N"

sleep 1
before=$(zt_done | sort -u | wc -l)
zt_say "SIGTERM to the broker after $before events were processed"
zt_assert "work is still queued when the broker is stopped" [ "$before" -lt "$N" ]
zt_stop "$BROKER_PID" 20
zt_eq "the broker's exit code after SIGTERM" "$REAP_RC" 0
zt_say "data dir after shutdown: $(ls -A "$DATA" | tr '\n' ' ')"
at_stop=$(zt_done | sort -u | wc -l)

zt_say "restarting the broker on the same data dir"
zt_broker --broker-grace 1s
s_all_accounted () {
    zt_done | sort -u >"$T/done-ids"
    zt_dlq_ids 2>/dev/null | sort -u >"$T/dlq-ids" || true
    [ "$(sort -u "$T/done-ids" "$T/dlq-ids" | wc -l)" -ge "$N" ]
}
zt_wait 60 "every acked event to be processed or dead-lettered" s_all_accounted
seq -f 'st-%g' 1 "$N" | sort >"$T/want"
zt_eq "acked ids neither processed nor dead" \
    "$(sort -u "$T/done-ids" "$T/dlq-ids" | comm -23 "$T/want" - | wc -l)" 0
zt_say "processed before shutdown: $at_stop; processed in all: $(wc -l <"$T/done-ids");" \
    "dead letters: $(wc -l <"$T/dlq-ids"); processed twice: $(zt_done | sort | uniq -d | wc -l)"
