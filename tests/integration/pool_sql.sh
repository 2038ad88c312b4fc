#!/usr/bin/env bash
#   pool_sql: zorch-pool against a real PostgreSQL, started by this test.
#   The built-in `sql` handler inserts rows from events' fields through the
#   pool; `zorch pool query` reads them back as JSON lines; a statement the
#   server refuses fails its event finally with the server's message;
#   PostgreSQL stopped mid-run: queries fail (unavailable), the database is
#   down in the pool's stats, and once PostgreSQL is back they work again
#   without a restart of anything.
source "$(dirname "$0")/lib.sh"
zt_init pool_sql 17430
POOL="tcp://127.0.0.1:$((PORT_BASE + 3))"
PPORT=$((PORT_BASE + 4))
Q () { "$ZORCH_BIN" pool query "$@" --endpoint "$POOL"; }
pstat () { "$ZORCH_BIN" pool stats --json --endpoint "$POOL" | jq -r --arg n "$1" '.counters[$n] // .gauges[$n]'; }

zt_pg "$PPORT"
zt_psql "$PPORT" "create table signups (id serial primary key, email text not null unique, name text, age int)"
cat >"$T/zorch.conf" <<CONF
pool
    endpoint = $POOL
    health_interval = 500ms
    services
    databases
        database
            name = main
            conninfo = "host=127.0.0.1 port=$PPORT user=postgres dbname=postgres"
            min = 1
            max = 3
            statement_timeout = 2s
worker
    pool = $POOL
    routes
        route
            match = "signup.created"
            handler = sql
            database = main
            statement = "insert into signups (email, name, age) values (\$1, \$2, \$3::int)"
            param1 = "{payload.email}"
            param2 = "{payload.name}"
            param3 = "{payload.age}"
            attempts = 2
        route
            match = "signup.lookup"
            handler = plugin
            path = "$ZT_BUILD_DIR/tests/unit/plugin_pool.so"
            op = query
            sql = "select name, age from signups where email = \$1"
CONF
"$ZT_BUILD_DIR/actors/pool/zorch-pool" --config "$T/zorch.conf" >>"$T/pool.log" 2>&1 &
POOL_PID=$!; ZT_PIDS+=("$POOL_PID")
zt_wait 10 "the pool's ready line" grep -q "pool: ready" "$T/pool.log"
zt_wait 10 "the database up" bash -c "[ \"\$($ZORCH_BIN pool stats --json --endpoint $POOL | jq .gauges.main_up)\" = 1 ]"
zt_broker
zt_worker w1 --config "$T/zorch.conf"

run () {
    zt_inject --ndjson "$T/$1.ndjson" --wait --timeout 60 --results "$T/$1.results" >"$T/$1.txt" 2>&1 || true
    zt_say "$1: $(tail -n 1 "$T/$1.txt")"
}
for i in $(seq 1 500); do echo "{\"id\":\"s$i\",\"type\":\"signup.created\",\"payload\":{\"email\":\"u$i@x.org\",\"name\":\"User $i\",\"age\":$((20 + i % 50))}}"; done >"$T/signups.ndjson"
run signups
zt_eq "500 inserts ok" "$(jq -c 'select(.ok and .result.count == 1)' "$T/signups.results" | wc -l)" 500
zt_eq "500 rows in the table" "$(zt_psql "$PPORT" "select count(*) from signups")" 500
zt_eq "zorch pool query: rows as JSON" "$(Q main 'select email, name, age from signups where email = $1' u7@x.org 2>/dev/null)" \
    '{"email":"u7@x.org","name":"User 7","age":27}'
zt_assert "at most 3 connections" test "$(zt_psql "$PPORT" "select count(*) from pg_stat_activity where datname = 'postgres' and backend_type = 'client backend'")" -le 4

echo '{"id":"look1","type":"signup.lookup","payload":{"param":"u9@x.org"}}' >"$T/look.ndjson"
run look
zt_eq "a plugin's zo_pool_query" "$(jq -c '[.ok, .result.count, (.result.rows | fromjson)]' "$T/look.results")" '[true,1,[{"name":"User 9","age":29}]]'

zt_say "a statement the server refuses"
echo '{"id":"dup","type":"signup.created","payload":{"email":"u7@x.org","name":"again","age":1}}' >"$T/dup.ndjson"
run dup
zt_eq "fails finally with the server's reason" "$(jq -c '[.ok, .attempts, (.error | test("duplicate key"))]' "$T/dup.results")" '[false,1,true]'
set +e; Q main 'select nonsense from nowhere' >/dev/null 2>"$T/q.err"; rc=$?; set -e
zt_eq "zorch pool query exits 1 on an SQL error" "$rc" 1
zt_assert "and says why" grep -q "nowhere" "$T/q.err"

zt_say "PostgreSQL stopped mid-run, then back"
kill -INT "$PG_PID"; wait "$PG_PID" 2>/dev/null || true
zt_wait 10 "the pool to see the database down" bash -c "[ \"\$($ZORCH_BIN pool stats --json --endpoint $POOL | jq .gauges.main_up)\" = 0 ]"
set +e; Q main 'select 1' >/dev/null 2>"$T/down.err"; rc=$?; set -e
zt_eq "a query while it is down fails" "$rc" 1
zt_say "while down: $(cat "$T/down.err")"
zt_pg "$PPORT"
zt_wait 20 "the pool to reconnect by itself" bash -c "[ \"\$($ZORCH_BIN pool stats --json --endpoint $POOL | jq .gauges.main_up)\" = 1 ]"
zt_eq "queries work again" "$(Q main 'select count(*) as n from signups' 2>/dev/null)" '{"n":500}'
echo '{"id":"after","type":"signup.created","payload":{"email":"late@x.org","name":"Late","age":30}}' >"$T/after.ndjson"
run after
zt_eq "and events insert again" "$(jq -c '[.ok, .result.count]' "$T/after.results")" '[true,1]'
zt_assert "the pool is alive" kill -0 "$POOL_PID"
