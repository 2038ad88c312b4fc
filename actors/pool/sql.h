/*  sql: the pool actor's PostgreSQL databases, a pool of connections
    (zo_pq) each, driven by the actor's loop. Follows service.h's contract
    (asynchronous requests, callbacks run exactly once from the loop,
    errors as protocol codes, health as gauges).

    Statements are parameterised only (PQsendQueryParams, text parameters,
    text results). Columns are converted by type: bool to a msgpack bool;
    int2, int4 and int8 to integers; float4 and float8 to floats; NULL to
    nil; everything else (numeric, text, json, timestamps, arrays...) to
    its text as a str. A result bigger than ZO_SQL_RESULT_MAX of msgpack
    fails ZO_ERR_UPSTREAM "result too large".

    The pool: `min` connections are made at start and kept (reconnected
    with backoff when lost); more are opened on demand, one at a time, up
    to `max`, while every open one is busy and at least one is up; those
    beyond min are closed when lost or idle for ZO_SQL_IDLE_MS. A request
    goes to the up connection with the fewest requests in flight, each
    connection taking ZO_SQL_PIPELINE at most (zo_pq pipelines them: the
    server runs one connection's statements one after another, so a
    deeper pipeline only makes requests wait behind a slow statement
    while hiding nothing more of the round trip); the others wait in a
    FIFO queue of at most queue_max.

    Deadlines: each request has one (timeout_ms, or 0: the statement
    timeout plus ZO_SQL_GRACE_MS, so that the server's own cancel is what
    normally reports), counting its wait in the queue. Past it, queued or
    in flight, it fails ZO_ERR_TIMEOUT at once; one in flight still holds
    its place in its connection's pipeline until the server answers it.
    A statement the server cancels (statement_timeout, SQLSTATE 57014)
    fails ZO_ERR_TIMEOUT too, with the server's message. A connection
    that answers nothing for 2 x statement_timeout + 1 s while requests
    wait on it is taken for dead (a stopped server, a silent network) and
    dropped, as the cache's l3 does.

    Failures: a connection lost (or dropped) fails its requests in flight
    ZO_ERR_UPSTREAM: they may or may not have run, and are never retried
    (a statement need not be idempotent: the caller decides). While no
    connection is up, after a connect failed or a connection was lost,
    requests fail at once ZO_ERR_UNAVAILABLE (and those queued then fail
    so too), as the pool's circuit breaker does for HTTP; only before the
    first connect has had its outcome do requests wait in the queue. An
    SQL error is ZO_ERR_UPSTREAM with the server's message in reason and
    its SQLSTATE in sqlstate. A request that cannot be sent (too many
    parameters, a NUL byte in a parameter, an empty statement) is
    ZO_ERR_BAD_VALUE. The queue full is ZO_ERR_UNAVAILABLE "queue full".

    Health, per database: up (every one of the min connections is up),
    degraded (some are up), down (none is). `SELECT 1` runs every
    health_interval_ms on each idle connection, so that a connection the
    server or the network dropped is found without traffic.

    Stats, per database (with stats, else kept to itself): gauges
    <name>_up, <name>_health, <name>_connections (open now),
    <name>_queued, <name>_inflight; counters <name>_queries_total,
    <name>_errors_total, <name>_timeouts_total, <name>_reconnects_total;
    histogram <name>_query_ns (every request that ran, from the call to
    its answer).
*/
#ifndef ZO_SQL_H_INCLUDED
#define ZO_SQL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "service.h"
#include "zo_loop.h"
#include "zo_stats.h"

#define ZO_SQL_NAME_MAX     32              //  bytes of a database's name
#define ZO_SQL_DATABASES    8               //  databases at most (the stats' room)
#define ZO_SQL_CONNS_MAX    64              //  max at most
#define ZO_SQL_PARAMS_MAX   65535           //  the protocol's limit
#define ZO_SQL_PIPELINE     16              //  requests in flight per connection
#define ZO_SQL_RESULT_MAX   (8u << 20)      //  bytes of msgpack per result
#define ZO_SQL_GRACE_MS     1000
#define ZO_SQL_IDLE_MS      60000

typedef struct _zo_databases_t zo_databases_t;

typedef struct {
    const char *name;               //  [a-z0-9_]+, in the stats' names
    const char *conninfo;           //  libpq conninfo (one host)
    uint32_t min, max;              //  connections kept / at most (0: 1, 4)
    uint64_t statement_timeout_ms;  //  SET on each connection (0: 5000)
    uint64_t connect_timeout_ms;    //  0: 2000
    uint64_t backoff_min_ms;        //  reconnect waits (0: 100, 5000), zo_backoff
    uint64_t backoff_max_ms;
    uint64_t health_interval_ms;    //  SELECT 1 on idle connections (0: never)
    uint32_t queue_max;             //  requests waiting at most (0: 10000)
} zo_database_conf_t;

typedef struct {
    zo_err_t error;                 //  ZO_ERR_NONE or UNAVAILABLE, TIMEOUT, UPSTREAM, BAD_VALUE
    const char *reason;             //  "" on success
    const char *sqlstate;           //  the server's SQLSTATE for its errors, else ""
    const void *columns;            //  a msgpack array of the column names (str)
    size_t columns_len;
    const void *rows;               //  a msgpack array of rows, arrays in column order
    size_t rows_len;
    uint32_t count;                 //  rows returned, or changed (INSERT/UPDATE/DELETE)
    uint32_t attempts;              //  1 when sent to the server, else 0
    uint64_t took_ns;               //  from the call to the outcome
} zo_sql_result_t;

/*  A request ended. Everything result points to is lent until it returns.
    May call any zo_databases_* function, destroy included.  */
typedef void (zo_sql_fn) (void *arg, const zo_sql_result_t *result);

/*  Makes the n databases of conf (copied) and starts their min
    connections. Returns NULL with a sentence in error for a bad conf (a
    name not [a-z0-9_]+ or repeated, no conninfo or one libpq cannot
    parse, min above max, max above ZO_SQL_CONNS_MAX, more than
    ZO_SQL_DATABASES) or when out of memory. stats may be NULL; loop and
    stats must outlive the databases.  */
zo_databases_t *zo_databases_new (zo_loop_t *loop, zo_stats_t *stats,
                                  const zo_database_conf_t *conf, size_t n, char *error,
                                  size_t error_size);
/*  Fails every request not answered yet with ZO_ERR_UNAVAILABLE
    "stopping" (one answered but not told yet gets its answer), running
    their callbacks before it returns; closes the connections, frees
    everything and nulls *self_p. Safe from inside a callback.  */
void zo_databases_destroy (zo_databases_t **self_p);

/*  True if there is a database of that name.  */
bool zo_databases_has (const zo_databases_t *self, const char *name);

/*  Runs sql with n_params text parameters on database: values [i] is
    NUL-terminated, or NULL for SQL NULL; lengths may be NULL (a length
    given must be its strlen: a NUL inside is ZO_ERR_BAD_VALUE).
    Everything is copied. timeout_ms: the deadline (0: the statement
    timeout and a grace). Returns 0 and fn runs once, later, from the
    loop; or -1 with errno (ENOENT: no such database; ENOMEM; ESHUTDOWN:
    being destroyed) and fn never runs.  */
int zo_databases_query (zo_databases_t *self, const char *database, const char *sql,
                        size_t n_params, const char *const *values, const size_t *lengths,
                        uint64_t timeout_ms, zo_sql_fn *fn, void *arg);

/*  Pressure (the pool's, pool.h): closes, on every database, the
    connections beyond min that are idle now (up, nothing in flight);
    nothing waiting or running is disturbed, and more connections are
    still opened on demand. Call it again while the pressure holds (every
    tick): those opened meanwhile are closed once idle. Returns how many
    were closed.  */
uint32_t zo_databases_trim (zo_databases_t *self);

/*  The database's health now (ZO_HEALTH_DOWN for an unknown name).  */
zo_health_t zo_databases_health (const zo_databases_t *self, const char *database);

#endif
