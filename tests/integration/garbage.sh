#!/usr/bin/env bash
#   garbage: a raw ZeroMQ client (tests/tools/zo_garbage) sends truncated
#   msgpack, wrong types, an oversized frame, unknown commands, several
#   frames, non-map bodies and random bytes to the broker's front socket;
#   each must get exactly one ERROR with the right code. Meanwhile a normal
#   producer pushes 20,000 events through two workers and must succeed.
#   The broker must still be alive at the end and answer PING.
#   Usage (from meson): garbage.sh PATH/TO/zo_garbage
source "$(dirname "$0")/lib.sh"
zt_init garbage 17160

GARBAGE="${1:-$ZT_BUILD_DIR/tests/tools/zo_garbage}"
[ -x "$GARBAGE" ] || zt_fail "zo_garbage is not built ($GARBAGE)"
MAX_FRAME=262144

zt_broker --broker-max-frame 256K
zt_worker w1
zt_worker w2

zt_say "a normal producer: 20000 events, waiting for results"
zt_bg "$T/summary.json" "$ZORCH_BIN" inject --broker "$FRONT" --type test.echo --count 20000 \
    --rate 10000 --wait --timeout 60 --json
INJ=$BG_PID

zt_say "the garbage client"
set +e
"$GARBAGE" "$FRONT" "$MAX_FRAME" >"$T/garbage.txt" 2>&1
grc=$?
set -e
grep -v '^ok   random' "$T/garbage.txt" || true

zt_reap "$INJ"
zt_say "the producer's inject exited $REAP_RC: $(cat "$T/summary.json")"
zt_eq "the normal producer's inject exit code" "$REAP_RC" 0
zt_eq "the normal producer's ok results" "$(jq -r '.ok' "$T/summary.json")" 20000
zt_eq "zo_garbage exit code (every bad message got the right ERROR)" "$grc" 0
zt_assert "the broker is alive" kill -0 "$BROKER_PID"
zt_assert "the broker answers PING" "$GARBAGE" --ping "$FRONT"
