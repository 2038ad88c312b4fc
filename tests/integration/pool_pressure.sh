#!/usr/bin/env bash
#   pool_pressure: the pool trims its idle connections under memory
#   pressure, and keeps them again once it falls, against a real HTTP
#   server (tests/tools/zo_http_fixture) and a real PostgreSQL. The pool's
#   limit is a cgroup-style memory.max file of this test's
#   (pressure/memory_max), rewritten as a container's limit would be:
#   "1" is far below its heap (step 3), "max" lifts it.
#   HTTP: 4 requests at once leave 4 keep-alive connections (counted as
#   the established TCP connections to the server); under pressure they
#   are closed, and 4 more requests leave 1; lifted, 4 again.
#   SQL: 40 queries at once (events run by a worker's sql handler) open
#   connections beyond min = 1; under pressure
#   the idle ones are closed (the pool's gauge and pg_stat_activity),
#   again after another burst; lifted, they are kept.
source "$(dirname "$0")/lib.sh"
zt_init pool_pressure 17500
export ZORCH_STATS_INTERVAL=200ms
FIXTURE="$ZT_BUILD_DIR/tests/tools/zo_http_fixture"
POOL="tcp://127.0.0.1:$((PORT_BASE + 3))"
HPORT=$((PORT_BASE + 4)); PPORT=$((PORT_BASE + 5))
pstat () { "$ZORCH_BIN" pool stats --json --endpoint "$POOL" | jq -r --arg n "$1" '.counters[$n] // .gauges[$n]'; }
pstat_is () { [ "$(pstat "$1")" = "$2" ]; }
#   The pool's connections to the HTTP server, as the kernel sees them.
established () { ss -Htn state established "( dport = :$HPORT )" | wc -l; }
established_is () { [ "$(established)" = "$1" ]; }
#   The pool's connections to PostgreSQL, as the server sees them.
backends () {
    zt_psql "$PPORT" "select count(*) from pg_stat_activity where backend_type = 'client backend'
                      and pid <> pg_backend_pid()"
}
backends_is () { [ "$(backends)" = "$1" ]; }
#   http_burst: 4 requests at once, each held 300 ms by the server.
http_burst () {
    local pids=() p
    for i in 1 2 3 4; do
        "$ZORCH_BIN" pool request local GET /slow/300 --endpoint "$POOL" >/dev/null 2>&1 & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || zt_fail "a request of the burst failed"; done
}
#   sql_burst: 40 queries at once from one worker (events through the
#   sql handler): a connection takes 16 in its pipeline (ZO_SQL_PIPELINE),
#   so the pool opens more beyond min for the rest.
sql_burst () {
    zt_inject --type sql.sleep --count 40 --wait --quiet --timeout 30 >/dev/null \
        || zt_fail "a query of the burst failed"
}

zt_bg "$T/fixture.out" "$FIXTURE" "$HPORT" 110
zt_wait 5 "the HTTP fixture" bash -c "curl -s http://127.0.0.1:$HPORT/ok | grep -q ok"
zt_pg "$PPORT"
cat >"$T/zorch.conf" <<CONF
pool
    endpoint = $POOL
    health_interval = 0
    services
        service
            name = local
            url = "http://127.0.0.1:$HPORT"
            max_conns = 4
    databases
        database
            name = main
            conninfo = "host=127.0.0.1 port=$PPORT user=postgres dbname=postgres"
            min = 1
            max = 4
worker
    pool = $POOL
    routes
        route
            match = "sql.sleep"
            handler = sql
            database = main
            statement = "select pg_sleep(0.1)"
            attempts = 1
CONF
echo max >"$T/pool.max"
"$ZT_BUILD_DIR/actors/pool/zorch-pool" --config "$T/zorch.conf" --pressure-memory-max "$T/pool.max" \
    >>"$T/pool.log" 2>&1 &
POOL_PID=$!; ZT_PIDS+=("$POOL_PID")
zt_wait 10 "the pool's ready line" grep -q "pool: ready" "$T/pool.log"
zt_wait 10 "the database up" pstat_is main_up 1
zt_broker
zt_worker w1 --config "$T/zorch.conf"

zt_say "--- no pressure: idle connections are kept"
zt_eq "step 0" "$(pstat pressure_step)" 0
zt_eq "nothing trimmed" "$(pstat idle_trimmed)" 0
http_burst
zt_eq "4 requests at once leave 4 keep-alive connections" "$(established)" 4
sql_burst
open=$(pstat main_connections)
zt_assert "queries at once opened connections beyond min ($open)" test "$open" -ge 2
sleep 1
zt_eq "still 4 HTTP connections a second later" "$(established)" 4
zt_eq "and the database connections" "$(pstat main_connections)" "$open"
zt_eq "as PostgreSQL sees them" "$(backends)" "$open"

zt_say "--- pressure: idle connections trimmed"
echo 1 >"$T/pool.max"
zt_wait 10 "the pool at step 3" pstat_is pressure_step 3
zt_wait 5 "idle connections trimmed" pstat_is idle_trimmed 1
zt_wait 5 "the idle HTTP connections closed" established_is 0
zt_wait 5 "the database down to min" pstat_is main_connections 1
zt_wait 5 "PostgreSQL sees 1 connection" backends_is 1
http_burst
sleep 1
zt_eq "and left 1 idle connection" "$(established)" 1
sql_burst
zt_wait 5 "the database back to min after a burst" pstat_is main_connections 1
zt_wait 5 "PostgreSQL sees 1 connection again" backends_is 1
grep -q "pool: pressure step 3: idle connections trimmed" "$T/pool.log" || zt_fail "no log line for the trim"
grep -q "database connection" "$T/pool.log" || zt_fail "no log line for the database connections closed"

zt_say "--- pressure lifted: idle connections kept again"
echo max >"$T/pool.max"
zt_wait 10 "the pool at step 0" pstat_is pressure_step 0
zt_wait 5 "nothing trimmed" pstat_is idle_trimmed 0
http_burst
sleep 1
zt_eq "4 requests at once leave 4 keep-alive connections again" "$(established)" 4
sql_burst
open=$(pstat main_connections)
zt_assert "queries at once opened connections beyond min ($open)" test "$open" -ge 2
sleep 1
zt_eq "and they are kept" "$(pstat main_connections)" "$open"
zt_eq "as PostgreSQL sees them" "$(backends)" "$open"
grep -q "pool: pressure step 0: idle connections kept again" "$T/pool.log" || zt_fail "no log line for the restore"
zt_assert "the pool is alive" kill -0 "$POOL_PID"
