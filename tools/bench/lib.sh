#   tools/bench/lib.sh: what the benchmark scripts share. Sourced, never run.
#
#   bench_init NAME makes the run's scratch directory $SCRATCH (or uses the
#   one the caller named in SCRATCH, and keeps it), and arranges that
#   everything the script started and put in pids is stopped when it exits,
#   however it exits: in reverse order (the clients before the servers they
#   use), each waited for; PostgreSQL ($BENCH_PG_PID) gets SIGINT, its fast
#   shutdown, the rest SIGTERM. The scratch directory goes too, unless it
#   was named or a wait gave up (its logs then say why).

PY=${PY:-/usr/bin/python3}
pids=()
BENCH_PG_PID=""

bench_init () {
    BENCH_NAME=$1
    BENCH_KEEP=${SCRATCH:+1}
    SCRATCH=${SCRATCH:-$(mktemp -d "/tmp/zorch-bench-${BENCH_NAME%.sh}-XXXXXX")}
    mkdir -p "$SCRATCH"
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup () {
    local i p
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        p=${pids[i]}
        if [ "$p" = "$BENCH_PG_PID" ]; then kill -INT "$p" 2>/dev/null || true
        else kill -TERM "$p" 2>/dev/null || true; fi
        wait "$p" 2>/dev/null || true
    done
    [ -n "$BENCH_KEEP" ] || rm -rf "$SCRATCH"
}

#   bench_free_ports N: N free tcp ports on 127.0.0.1 (the kernel's pick).
bench_free_ports () {
    "$PY" -c 'import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])' "$1"
}

#   bench_wait SECONDS WHAT COMMAND...: until COMMAND succeeds, or fails the
#   script (keeping its logs).
bench_wait () {
    local secs=$1 what=$2; shift 2
    local i
    for ((i = 0; i < secs * 20; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "$BENCH_NAME: gave up waiting for $what (logs in $SCRATCH)" >&2
    BENCH_KEEP=1
    exit 1
}

#   bench_pg_start PORT [SETTING...]: a PostgreSQL cluster in $SCRATCH/pg
#   (trust, user postgres, fsync off) on 127.0.0.1:PORT, each SETTING a
#   further `-c name=value`, from $PG_BIN (default: the newest installed);
#   as root, run as the postgres user. Returns once it answers.
bench_pg_start () {
    local port=$1; shift
    PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
    [ -x "$PG_BIN/postgres" ] || { echo "$BENCH_NAME: no PostgreSQL (PG_BIN)" >&2; exit 2; }
    local run_as=() settings=() s
    if [ "$(id -u)" -eq 0 ]; then
        run_as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
        chmod 755 "$SCRATCH"
        mkdir -p "$SCRATCH/pg" && chown postgres "$SCRATCH/pg"
    fi
    for s in "$@"; do settings+=(-c "$s"); done
    "${run_as[@]}" "$PG_BIN/initdb" -D "$SCRATCH/pg" -A trust -U postgres >"$SCRATCH/initdb.log" 2>&1 \
        || { echo "$BENCH_NAME: initdb failed: $(tail -n 3 "$SCRATCH/initdb.log")" >&2; exit 1; }
    "${run_as[@]}" "$PG_BIN/postgres" -D "$SCRATCH/pg" -k "$SCRATCH/pg" -p "$port" \
        -c listen_addresses=127.0.0.1 -c fsync=off "${settings[@]}" >"$SCRATCH/pg.log" 2>&1 &
    BENCH_PG_PID=$!
    pids+=("$BENCH_PG_PID")
    bench_wait 30 "postgres on $port" "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1
}
