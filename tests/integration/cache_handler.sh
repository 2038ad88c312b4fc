#!/usr/bin/env bash
#   cache_handler: workers using the cache actor end to end. The built-in
#   `cache` handler sets, gets, deletes and invalidates keys made from
#   events; the example plugin seen.so counts keys with the typed client
#   (zo_cache_get / zo_cache_set) from many events in flight at once; a key
#   template naming a missing field fails its event finally; with the
#   cache stopped, events fail by the cache's silence and are retried.
source "$(dirname "$0")/lib.sh"
zt_init cache_handler 17400
CACHE="tcp://127.0.0.1:$((PORT_BASE + 3))"
PLUGINS="$ZT_BUILD_DIR/actors/worker"
[ -f "$PLUGINS/seen.so" ] || zt_fail "seen.so is not built"
cat >"$T/worker.conf" <<CONF
worker
    cache = $CACHE
    plugin_dir = "$PLUGINS"
    routes
        route
            match = "c.set"
            handler = cache
            op = set
            key = "item:{payload.id}"
            value = payload.body
            ttl = 1h
        route
            match = "c.get"
            handler = cache
            key = "item:{payload.id}"
            timeout = 1s
            attempts = 2
        route
            match = "c.del"
            handler = cache
            op = del
            key = "item:{payload.id}"
        route
            match = "c.inv"
            handler = cache
            op = invalidate
            key = "item:{payload.glob}"
        route
            match = "c.seen"
            handler = seen
            field = user
CONF

zt_broker
zt_cache c1 "$CACHE"
zt_worker w1 --config "$T/worker.conf"
zt_worker w2 --config "$T/worker.conf"

run () {   # run NAME: inject $T/NAME.ndjson, results in $T/NAME.results
    zt_inject --ndjson "$T/$1.ndjson" --wait --timeout 30 --results "$T/$1.results" \
        >"$T/$1.txt" 2>&1 || true
    zt_say "$1: $(tail -n 1 "$T/$1.txt")"
}

for i in $(seq 1 20); do
    echo "{\"id\":\"s$i\",\"type\":\"c.set\",\"payload\":{\"id\":$i,\"body\":{\"n\":$i,\"name\":\"item $i\"}}}"
done >"$T/set.ndjson"
run set
zt_eq "20 sets ok" "$(jq -c 'select(.ok and .result.count == 1)' "$T/set.results" | wc -l)" 20
zt_eq "stored as the payload's body" "$("$ZORCH_BIN" cache get item:7 --endpoint "$CACHE")" '{"n":7,"name":"item 7"}'

for i in 7 21; do echo "{\"id\":\"g$i\",\"type\":\"c.get\",\"payload\":{\"id\":$i}}"; done >"$T/get.ndjson"
run get
zt_eq "a hit carries the value and its level" \
    "$(jq -c 'select(.id == "g7") | .result' "$T/get.results")" '{"found":true,"value":{"n":7,"name":"item 7"},"level":"memory"}'
zt_eq "a miss is a success, found false" "$(jq -c 'select(.id == "g21") | [.ok, .result]' "$T/get.results")" '[true,{"found":false}]'

printf '%s\n' '{"id":"d1","type":"c.del","payload":{"id":1}}' '{"id":"i1","type":"c.inv","payload":{"glob":"1?"}}' >"$T/del.ndjson"
run del
zt_eq "del counts the key" "$(jq -r 'select(.id == "d1") | .result.count' "$T/del.results")" 1
zt_eq "invalidate item:1? removes 10..19" "$(jq -r 'select(.id == "i1") | .result.count' "$T/del.results")" 10
zt_eq "item:2 is still there" "$("$ZORCH_BIN" cache get item:2 --endpoint "$CACHE")" '{"n":2,"name":"item 2"}'

zt_say "seen.so: 600 events over 3 users, all in flight at once"
for i in $(seq 1 600); do echo "{\"id\":\"u$i\",\"type\":\"c.seen\",\"payload\":{\"user\":\"user$((i % 3))\"}}"; done >"$T/seen.ndjson"
run seen
zt_eq "600 ok" "$(jq -c 'select(.ok)' "$T/seen.results" | wc -l)" 600
zt_eq "every key was first seen (count 1)" "$(jq -r 'select(.result.seen == 1) | .result.key' "$T/seen.results" | sort -u | wc -l)" 3
zt_say "one event at a time: each reads the count the last one stored"
for round in 1 2 3 4 5; do
    echo "{\"id\":\"solo$round\",\"type\":\"c.seen\",\"payload\":{\"user\":\"solo\"}}" >"$T/solo.ndjson"
    run solo
    cat "$T/solo.results" >>"$T/solo.all"
done
zt_eq "counts 1..5" "$(jq -r '.result.seen' "$T/solo.all" | tr '\n' ' ')" "1 2 3 4 5 "
zt_eq "found in memory from the second on" "$(jq -r '.result.level // "-"' "$T/solo.all" | tr '\n' ' ')" "- memory memory memory memory "
zt_eq "the cache holds 5" "$("$ZORCH_BIN" cache get seen:solo --endpoint "$CACHE")" 5

zt_say "a key template naming a missing field"
echo '{"id":"bad1","type":"c.get","payload":{"other":1}}' >"$T/bad.ndjson"
run bad
zt_eq "fails finally at once" "$(jq -c '[.ok, .attempts, (.error | test("no \\{payload.id\\}"))]' "$T/bad.results")" '[false,1,true]'

zt_say "the cache stopped: events fail by its silence, retried, then dead"
zt_stop "$CACHE_PID"
echo '{"id":"late1","type":"c.get","payload":{"id":2}}' >"$T/late.ndjson"
run late
zt_eq "failed after its 2 attempts" "$(jq -c '[.ok, .attempts]' "$T/late.results")" '[false,2]'
zt_say "its error: $(jq -r .error "$T/late.results")"
zt_assert "the workers are alive" kill -0 "$WORKER_PID"
zt_cache c1 "$CACHE"
echo '{"id":"back1","type":"c.get","payload":{"id":2}}' >"$T/back.ndjson"
run back
zt_eq "a new cache answers (a miss: memory started empty)" "$(jq -c '[.ok, .result.found]' "$T/back.results")" '[true,false]'
