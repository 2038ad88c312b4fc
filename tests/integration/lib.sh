#   tests/integration/lib.sh: what every integration test shares. Sourced,
#   never run. A test calls zt_init NAME BASE_PORT first; it then owns the
#   ports BASE_PORT..BASE_PORT+9 on 127.0.0.1 and a fresh temporary
#   directory $T, and everything it started with zt_broker / zt_worker /
#   zt_bg is killed when it exits, however it exits.
#
#   Binaries come from $ZT_BUILD_DIR (the meson build directory, set by
#   tests/meson.build); the source tree from $ZT_SRC_DIR. (Not ZORCH_*:
#   actors read every ZORCH_<SECTION>_<KEY> variable as configuration.)

set -euo pipefail

: "${ZT_BUILD_DIR:?ZT_BUILD_DIR must name the build directory}"
: "${ZT_SRC_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

BROKER_BIN="$ZT_BUILD_DIR/broker/zorch-broker"
WORKER_BIN="$ZT_BUILD_DIR/actors/worker/zorch-worker"
ZORCH_BIN="$ZT_BUILD_DIR/tools/zorch"
CACHE_BIN="$ZT_BUILD_DIR/actors/cache/zorch-cache"

ZT_PIDS=()          # every process we started, killed on exit
ZT_NAME=""
T=""

#   Prints a step of the test, so a failure log reads as a story.
zt_say () { printf '[%s %s] %s\n' "$ZT_NAME" "$(date +%T.%3N)" "$*"; }

#   Fails the test with a message (and, through the EXIT trap, the logs).
#   The reason is said again after the logs s_cleanup prints, where a
#   runner that keeps only a log's last lines (meson test) still shows it.
zt_fail () { ZT_FAILED="$*"; printf '[%s] FAIL: %s\n' "$ZT_NAME" "$*" >&2; exit 1; }

#   Asserts that a condition holds: zt_assert "what it means" test-args...
zt_assert () {
    local what="$1"; shift
    if "$@"; then zt_say "ok: $what"; else zt_fail "$what"; fi
}

#   Asserts two values are equal: zt_eq "what" actual expected
zt_eq () {
    if [ "$2" = "$3" ]; then
        zt_say "ok: $1 ($2)"
    else
        zt_fail "$1: got '$2', expected '$3'"
    fi
}

s_cleanup () {
    local rc=$?
    trap - EXIT
    set +e
    local p
    for p in "${ZT_PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
    #   Up to 12 s: a broker drains its in-flight events on SIGTERM, and a
    #   sanitizer build checks for leaks at exit.
    local i
    for i in $(seq 1 120); do
        local alive=0
        for p in "${ZT_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    for p in "${ZT_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    #   A sanitizer report from any process we ran fails the test, even
    #   when the process was only stopping (leaks are reported at exit).
    local san='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' f bad=()
    if [ -n "$T" ] && [ -d "$T" ]; then
        for f in "$T"/*.log "$T"/*.err; do
            [ -f "$f" ] && grep -qE "$san" "$f" && bad+=("$f")
        done
    fi
    if [ "${#bad[@]}" -gt 0 ]; then
        echo "[$ZT_NAME] FAIL: sanitizer report in ${bad[*]##*/}" >&2
        grep -hE -A25 "$san" "${bad[@]}" | head -n 60 >&2
        [ "$rc" -eq 0 ] && rc=1
    fi
    if [ "$rc" -ne 0 ] && [ -n "$T" ] && [ -d "$T" ]; then
        for f in "$T"/*.log; do
            [ -f "$f" ] || continue
            echo "----- last lines of $(basename "$f") -----" >&2
            tail -n 25 "$f" >&2
        done
    fi
    if [ -n "$T" ] && [ -z "${ZT_KEEP:-}" ]; then rm -rf "$T"; fi
    [ "$rc" -eq 0 ] && zt_say "PASS" || echo "[$ZT_NAME] FAILED (exit $rc)${ZT_FAILED:+: $ZT_FAILED}" >&2
    exit "$rc"
}

#   zt_init NAME BASE_PORT: temp dir, ports, traps, binary checks.
zt_init () {
    ZT_NAME="$1"
    local base="$2"
    T="$(mktemp -d "${TMPDIR:-/tmp}/zorch-it-$1.XXXXXX")"
    DATA="$T/data"
    mkdir -p "$DATA"
    FRONT="tcp://127.0.0.1:$base"
    BACK="tcp://127.0.0.1:$((base + 1))"
    STATS="tcp://127.0.0.1:$((base + 2))"
    PORT_BASE="$base"
    trap s_cleanup EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    local b
    for b in "$BROKER_BIN" "$WORKER_BIN" "$ZORCH_BIN"; do
        [ -x "$b" ] || zt_fail "binary $b is not built"
    done
    for b in jq ps; do
        command -v "$b" >/dev/null || zt_fail "$b is not installed (deploy/setup.sh installs it)"
    done
    #   Every actor reports stats to our own port, never to the default.
    export ZORCH_STATS_ENDPOINT="$STATS"
    zt_say "temp dir $T, front $FRONT, back $BACK"
}

#   Waits until a command succeeds: zt_wait SECONDS what command...
zt_wait () {
    local secs="$1" what="$2"; shift 2
    local deadline=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
    while ! "$@"; do
        if [ $(( $(date +%s%N) / 1000000 )) -ge "$deadline" ]; then
            zt_fail "timed out after ${secs}s waiting for $what"
        fi
        sleep 0.1
    done
}

#   zt_broker [flags...]: starts a broker on this test's ports and data dir,
#   waits for its "ready" log line; BROKER_PID is its pid. The log is
#   $T/broker.log (appended to, so a restarted broker keeps one log).
zt_broker () {
    local before
    before=$(s_ready_lines)
    "$BROKER_BIN" --broker-front "$FRONT" --broker-back "$BACK" \
        --broker-data-dir "$DATA" "$@" >>"$T/broker.log" 2>&1 &
    BROKER_PID=$!
    ZT_PIDS+=("$BROKER_PID")
    zt_wait 10 "the broker's ready line" s_broker_ready "$before"
    zt_say "broker up (pid $BROKER_PID)"
}
s_ready_lines () {
    local n
    n=$(grep -c 'ready front=' "$T/broker.log" 2>/dev/null || true)
    echo "${n:-0}"
}
s_broker_ready () {
    kill -0 "$BROKER_PID" 2>/dev/null || zt_fail "the broker exited at start"
    [ "$(s_ready_lines)" -gt "$1" ]
}

#   zt_worker NAME [flags...]: starts a worker connected to this test's
#   broker and waits until the broker has it; WORKER_PID is its pid. Log:
#   $T/worker-NAME.log. The broker must be running (zt_broker).
zt_worker () {
    local name="$1"; shift
    local before
    before=$(s_worker_lines "$name")
    "$WORKER_BIN" --worker-broker "$BACK" --worker-name "$name" "$@" \
        >>"$T/worker-$name.log" 2>&1 &
    WORKER_PID=$!
    ZT_PIDS+=("$WORKER_PID")
    #   Ready when the broker logs "worker <name> ready" (once more than
    #   before: a restarted worker may reuse a name).
    zt_wait 10 "the broker to log worker $name ready" s_worker_ready "$name" "$before"
    zt_say "worker $name up (pid $WORKER_PID)"
}
s_worker_lines () {
    local n
    n=$(grep -cE "worker [^ ]*$1 ready" "$T/broker.log" 2>/dev/null || true)
    echo "${n:-0}"
}
s_worker_ready () {
    kill -0 "$WORKER_PID" 2>/dev/null || zt_fail "worker $1 exited at start"
    [ "$(s_worker_lines "$1")" -gt "$2" ]
}

#   zt_cache NAME ENDPOINT [flags...]: starts a cache actor bound to
#   ENDPOINT, waits for its ready line; CACHE_PID is its pid. Log:
#   $T/cache-NAME.log (appended to, so a restart keeps one log).
zt_cache () {
    local name="$1" ep="$2"; shift 2
    local before
    before=$(s_cache_lines "$name")
    "$CACHE_BIN" --cache-endpoint "$ep" --cache-name "$name" "$@" >>"$T/cache-$name.log" 2>&1 &
    CACHE_PID=$!
    ZT_PIDS+=("$CACHE_PID")
    zt_wait 10 "cache $name's ready line" s_cache_ready "$name" "$before"
    zt_say "cache $name up on $ep (pid $CACHE_PID)"
}
s_cache_lines () {
    local n
    n=$(grep -c 'cache: ready on' "$T/cache-$1.log" 2>/dev/null || true)
    echo "${n:-0}"
}
s_cache_ready () {
    kill -0 "$CACHE_PID" 2>/dev/null || zt_fail "cache $1 exited at start"
    [ "$(s_cache_lines "$1")" -gt "$2" ]
}
#   zt_cache_stat ENDPOINT NAME: a counter or gauge of that cache actor.
zt_cache_stat () {
    "$ZORCH_BIN" cache stats --json --endpoint "$1" | jq -r --arg n "$2" '.counters[$n] // .gauges[$n]'
}

#   Real servers for the cache's levels, children of this test on
#   127.0.0.1, their files under $T, killed on exit like the actors.
#   zt_redis PORT: redis-server without persistence; REDIS_PID.
zt_redis () {
    command -v redis-server >/dev/null || zt_fail "redis-server is not installed (deploy/setup.sh)"
    redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --dir "$T" \
        >>"$T/redis-$1.log" 2>&1 &
    REDIS_PID=$!
    ZT_PIDS+=("$REDIS_PID")
    zt_wait 10 "redis on $1" s_redis_up "$1"
    zt_say "redis up on $1 (pid $REDIS_PID)"
}
s_redis_up () { kill -0 "$REDIS_PID" 2>/dev/null && redis-cli -p "$1" ping 2>/dev/null | grep -q PONG; }

#   zt_pg PORT: a PostgreSQL cluster in $T/pg (made once: initdb, trust)
#   and its postmaster on PORT; PG_PID. As root it runs as postgres.
PG_BIN="${ZT_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
#   As root, PostgreSQL's programs run as postgres (a prefix, not a shell
#   function, so that $! is the postmaster itself).
PG_AS=()
[ "$(id -u)" -eq 0 ] && PG_AS=(setpriv --reuid=postgres --regid=postgres --init-groups --)
zt_pg () {
    [ -x "$PG_BIN/postgres" ] || zt_fail "PostgreSQL is not installed (deploy/setup.sh)"
    if [ ! -d "$T/pg" ]; then
        mkdir -p "$T/pg"
        [ "$(id -u)" -eq 0 ] && chown postgres "$T/pg" && chmod 755 "$T"
        "${PG_AS[@]}" "$PG_BIN/initdb" -D "$T/pg" -A trust -U postgres >"$T/initdb.log" 2>&1 \
            || zt_fail "initdb failed: $(tail -3 "$T/initdb.log")"
    fi
    "${PG_AS[@]}" "$PG_BIN/postgres" -D "$T/pg" -k "$T/pg" -p "$1" -c listen_addresses=127.0.0.1 \
        -c fsync=off >>"$T/pg.log" 2>&1 &
    PG_PID=$!
    ZT_PIDS+=("$PG_PID")
    zt_wait 30 "postgres on $1" s_pg_up "$1"
    zt_say "postgres up on $1 (pid $PG_PID)"
}
s_pg_up () { kill -0 "$PG_PID" 2>/dev/null && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -t 1; }
#   zt_psql PORT SQL: one statement, its rows unaligned.
zt_psql () { "$PG_BIN/psql" -h 127.0.0.1 -p "$1" -U postgres -d postgres -XAtq -c "$2"; }

#   zt_sleep_pair MS: a broker and two workers w1, w2 (20 in flight each)
#   whose route "test.sleep" waits MS ms (config in $T/worker.conf); W1 is
#   w1's pid, for the tests that kill or stop it mid-run.
zt_sleep_pair () {
    cat >"$T/worker.conf" <<CONF
worker
    routes
        route
            match = "test.sleep"
            handler = sleep
            ms = $1
CONF
    zt_broker
    zt_worker w1 --config "$T/worker.conf" --worker-capacity 20
    W1=$WORKER_PID
    zt_worker w2 --config "$T/worker.conf" --worker-capacity 20
}

#   zt_recorder_conf FILE MATCH [SLEEP_S]: a worker config whose route MATCH
#   runs an exec handler that waits SLEEP_S seconds (if given), then appends
#   the event to a file of its own under $T/done; zt_done prints the id of
#   every event processed, once per time it was processed.
zt_recorder_conf () {
    local wait=""
    [ -n "${3:-}" ] && wait="sleep $3; "
    mkdir -p "$T/done"
    cat >"$1" <<CONF
worker
    routes
        route
            match = "$2"
            handler = exec
            command = '${wait}read -r e; printf "%s\\n" "\$e" >> $T/done/e.\$\$'
CONF
}
zt_done () { cat "$T"/done/e.* 2>/dev/null | jq -r .id; }

#   True when a process has exited (gone, or a zombie waiting for us).
zt_gone () {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null || true)
    [ -z "$st" ] || [[ "$st" == Z* ]]
}

#   zt_stop PID [SECONDS] [SIGNAL]: signals a process we started (TERM by
#   default), waits for it to exit; its exit code goes to REAP_RC.
zt_stop () {
    kill -"${3:-TERM}" "$1" 2>/dev/null || true
    zt_wait "${2:-15}" "pid $1 to exit" zt_gone "$1"
    zt_reap "$1"
}

#   zt_bg OUT command...: runs a binary in the background (stdout to OUT,
#   stderr to OUT.err), killed on exit; BG_PID is its pid. Give it a
#   binary, not a shell function, so that the pid is the program's own.
zt_bg () {
    local out="$1"; shift
    "$@" >"$out" 2>"$out.err" &
    BG_PID=$!
    ZT_PIDS+=("$BG_PID")
}

#   Waits for a background pid; its exit code goes to REAP_RC (never fails).
#   (Not usable as $(zt_reap ...): a subshell cannot wait for our children.)
zt_reap () { REAP_RC=0; wait "$1" || REAP_RC=$?; }

#   zorch inject / dlq against this test's broker.
zt_inject () { "$ZORCH_BIN" inject --broker "$FRONT" "$@"; }
zt_dlq () { local sub="$1"; shift; "$ZORCH_BIN" dlq "$sub" --broker "$FRONT" "$@"; }

#   Prints the event ids held in dead letters, one a line. Accepts
#   `zorch dlq list --json` as one object {total, items:[{event:{id..}..}]},
#   an array of items, or one item per line.
zt_dlq_ids () {
    zt_dlq list --json --limit 1000 | jq -r -s '
        [ .[] | if type == "array" then .[]
                elif type == "object" and has("items") then .items[]
                else . end ]
        | .[] | (.event.id // .id)'
}
#   The dead letters as a JSON array of items (same input formats).
zt_dlq_items () {
    zt_dlq list --json --limit 1000 | jq -c -s '
        [ .[] | if type == "array" then .[]
                elif type == "object" and has("items") then .items[]
                else . end ]'
}

#   Counts lines of a file (0 when it does not exist).
zt_lines () { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

#   Writes NDJSON events PREFIX-1..PREFIX-N of TYPE to FILE:
#   zt_events FILE PREFIX N TYPE [extra JSON fields, e.g. '"deadline_ms":50']
zt_events () {
    local file="$1" prefix="$2" n="$3" type="$4" extra="${5:-}"
    [ -n "$extra" ] && extra=",$extra"
    seq 1 "$n" | awk -v p="$prefix" -v t="$type" -v x="$extra" \
        '{ printf "{\"id\":\"%s-%d\",\"type\":\"%s\",\"payload\":{\"n\":%d}%s}\n", p, $1, t, $1, x }' >"$file"
}
