#!/usr/bin/env bash
#   cache_actor: zorch-cache with its memory level alone, through
#   `zorch cache`: every command, TTL expiry, values with any bytes,
#   limits refused with the right code, garbage on its socket (every bad
#   message gets its ERROR, the actor keeps serving), memory pressure
#   shedding in steps and undone when the pressure falls.
#   Usage (from meson): cache_actor.sh PATH/TO/zo_garbage
source "$(dirname "$0")/lib.sh"
zt_init cache_actor 17390
GARBAGE="${1:-$ZT_BUILD_DIR/tests/tools/zo_garbage}"
EP="tcp://127.0.0.1:17393"
C () { "$ZORCH_BIN" cache "$@" --endpoint "$EP"; }

zt_cache c1 "$EP" --cache-memory 8M --cache-max-value 64K
zt_eq "set" "$(C set repo:1 '{"team":"core"}' --ttl 10m)" 1
zt_eq "get" "$(C get repo:1)" '{"team":"core"}'
zt_eq "get --json: level and ttl" \
    "$(C get repo:1 --json | jq -c '[.found, .level, (.ttl_ms > 590000 and .ttl_ms <= 600000)]')" \
    '[true,"memory",true]'
set +e; C get nothing 2>"$T/miss.err"; rc=$?; set -e
zt_eq "a miss exits 3" "$rc" 3
zt_assert "a miss says so" grep -q "nothing: not found" "$T/miss.err"
zt_eq "a miss in JSON" "$(C get nothing --json || true)" '{"key":"nothing","found":false}'

zt_say "binary values round-trip"
head -c 60000 /dev/urandom >"$T/blob"
C set blob - <"$T/blob" >/dev/null
C get blob | head -c 60000 >"$T/blob.back"
zt_assert "60000 random bytes come back intact" cmp "$T/blob" "$T/blob.back"

zt_say "TTL: expiry, touch"
#   2 s: the reads and the touch before it must come within it, also when
#   a loaded sanitizer run stalls a command for a few hundred ms.
C set short v --ttl 2s >/dev/null
zt_eq "alive before its TTL" "$(C get short)" v
sleep 2.2
zt_eq "gone after its TTL" "$(C get short --json | jq .found)" false
C set longer v --ttl 2s >/dev/null
zt_eq "touch" "$(C touch longer --ttl 1h)" 1
sleep 2.2
zt_eq "touched: still there" "$(C get longer)" v
zt_eq "touch without --ttl: for ever" "$(C touch longer; C get longer --json | jq .ttl_ms)" "$(printf '1\nnull')"
zt_eq "touch of a missing key" "$(C touch absent --ttl 1s)" 0

zt_say "del and invalidate"
for i in $(seq 1 30); do echo "user:$i"; done >"$T/keys"
while read -r k; do C set "$k" x >/dev/null; done <"$T/keys"
zt_eq "del" "$(C del user:1)" 1
zt_eq "del again" "$(C del user:1)" 0
zt_eq "invalidate user:1?" "$(C invalidate 'user:1?')" 10
zt_eq "invalidate user:[23]*" "$(C invalidate 'user:[23]*')" 13
zt_eq "what is left of user:*" "$(C invalidate 'user:*')" 6
zt_eq "repo:1 untouched" "$(C get repo:1)" '{"team":"core"}'

zt_say "limits"
head -c 70000 /dev/zero | tr '\0' 'x' >"$T/big"
set +e; C set big - <"$T/big" 2>"$T/big.err"; rc=$?; set -e
zt_eq "a value over cache/max_value is refused" "$rc" 1
zt_assert "with too_large" grep -q "too_large" "$T/big.err"
set +e; "$ZORCH_BIN" cache get "$(head -c 1025 /dev/zero | tr '\0' k)" --endpoint "$EP" 2>/dev/null; rc=$?; set -e
zt_eq "a key over 1024 bytes is a usage error" "$rc" 2

zt_say "garbage on the cache's socket"
"$GARBAGE" "$EP" 1048576 >"$T/garbage.txt" 2>&1 || { grep -v '^ok' "$T/garbage.txt"; zt_fail "zo_garbage against the cache"; }
tail -1 "$T/garbage.txt"
zt_assert "the cache is alive" kill -0 "$CACHE_PID"
zt_eq "and serving" "$(C get repo:1)" '{"team":"core"}'
zt_assert "rejections counted" test "$(zt_cache_stat "$EP" rejected_total)" -gt 100

zt_say "memory pressure: a heap limit the memory level alone overruns"
zt_stop "$CACHE_PID"
zt_cache c2 "$EP" --cache-memory 16M --cache-memory-limit 8M --cache-max-value 64K --stats-interval 100ms
head -c 50000 /dev/zero | tr '\0' 'v' >"$T/v50k"
#   16 MB of values through one connection: MGET-free, plain SETs.
for i in $(seq 1 320); do echo "$i"; done | while read -r i; do C set "big:$i" - <"$T/v50k" >/dev/null; done
#   The steps can come and go between two looks at the gauge (shedding
#   lowers the heap at once): the counter and the log keep what happened.
zt_wait 10 "memory to shed" bash -c "[ \"\$($ZORCH_BIN cache stats --json --endpoint $EP | jq '.counters.memory_shed_bytes_total')\" -gt 0 ]"
zt_assert "the log says it reached step 2 or 3" grep -qE "memory pressure step [0-9] -> [23]" "$T/cache-c2.log"
zt_assert "and that the memory level's budget was cut" \
    grep -qE "bytes shed, memory level budget now [0-9]+" "$T/cache-c2.log"
C invalidate '*' >/dev/null
zt_wait 10 "the pressure to be undone" \
    bash -c "[ \"\$($ZORCH_BIN cache stats --json --endpoint $EP | jq '.gauges.memory_pressure_step')\" -eq 0 ]"
zt_eq "the budget is back" "$(zt_cache_stat "$EP" memory_budget)" 16777216
