/*  l3: the cache's third level, in PostgreSQL, which keeps entries across
    restarts of the actor (and of the server). It follows level.h: every
    operation is asynchronous, its callback runs exactly once from the
    loop, or the call returns -1 with errno and there is no callback.

    One table, made on every connect if it is not there:
        <table> (key bytea PRIMARY KEY, value bytea NOT NULL,
                 expires_at timestamptz)   -- NULL: never
    with an index on expires_at for the cleanup. Keys and values travel
    as binary parameters of prepared statements (no escaping of binary
    data anywhere); a key can hold any bytes, NUL included, up to the
    B-tree's limit for an index entry (about 2.7 kB, less compressed).

    Clocks: expiry is absolute wall-clock time in ms since the epoch, from
    the caller's clock (level.h). It is stored as to_timestamp (ms / 1000)
    and compared with now() on the server, so an entry's life is off by
    the difference between the two clocks: keep them in sync (NTP). now()
    is the start of each statement's own transaction (every request is one,
    in zo_pq's pipeline). A row past its expiry is invisible at once (get,
    del, touch and invalidate only see rows with expires_at > now()) and
    removed later by the background cleanup.

    The connection (zo_pq: non-blocking, pipelined, on the loop) is made by
    zo_l3_new and remade after every failure with backoff (doubling from
    backoff_min_ms to backoff_max_ms, with jitter, from a loop timer). Each
    time it comes up: SET statement_timeout, CREATE TABLE / INDEX IF NOT
    EXISTS, the prepared statements; the level is up only once all of them
    worked, and a failing one (say, no right to create the table) drops
    the connection and retries later, like a refused connect. Since every
    statement ends within statement_timeout on a working server, a
    connection with requests waiting and no answer for 2 x
    statement_timeout + 1 s (a stopped server, a network dropping
    everything) is dropped the same way, its requests ending ERROR.

    Ownership: the zo_l3_t owns its connection, its timers and its copies
    of the options' strings; the loop must outlive it.
*/
#ifndef ZO_L3_H_INCLUDED
#define ZO_L3_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "level.h"
#include "zo_loop.h"
#include "zo_stats.h"

typedef struct _zo_l3_t zo_l3_t;

/*  The longest table name: the index's name, <table>_expires_at, must fit
    PostgreSQL's 63 bytes too.  */
#define ZO_L3_TABLE_MAX 52

typedef struct {
    //  libpq conninfo ("host=127.0.0.1 port=5432 dbname=x user=y"); a
    //  host name is resolved off the loop (zo_pq).
    const char *conninfo;
    //  NULL: "zorch_cache". [a-z_][a-z0-9_]*, at most ZO_L3_TABLE_MAX.
    const char *table;
    uint64_t connect_timeout_ms;    //  0: 2000
    //  0: 1000. The server's statement_timeout (at most INT32_MAX), and
    //  the measure of the answer deadline above.
    uint64_t statement_timeout_ms;
    uint64_t backoff_min_ms;        //  0: 100; the first retry's delay
    uint64_t backoff_max_ms;        //  0: 5000 (at least backoff_min_ms)
    //  Every cleanup_interval_ms (0: never; 60000 is a fair choice),
    //  expired rows are deleted cleanup_batch at a time (0: 10000), batch
    //  after batch while one was full. cleanup_batch is also the page size
    //  of invalidate's scans and deletes.
    uint64_t cleanup_interval_ms;
    uint32_t cleanup_batch;
    //  Operations in flight at most (0: 10000): EAGAIN past it, counted
    //  in l3_rejected_total and logged.
    uint32_t max_inflight;
    //  Up and down (may be NULL), with arg. Called when the level came up,
    //  when it went down, and once after the first failed attempt to come
    //  up (at start, or after going down); not for each retry after that.
    //  May call zo_l3_destroy.
    zo_level_state_fn *on_state;
    void *arg;
    //  May be NULL. Counters: l3_hits_total, l3_misses_total (gets),
    //  l3_sets_total, l3_dels_total (done, with or without a row),
    //  l3_invalidated_total (rows), l3_expired_removed_total (rows the
    //  cleanup deleted), l3_errors_total (operations ended in ERROR, and
    //  failed setup or cleanup statements), l3_rejected_total (EAGAIN),
    //  l3_reconnects_total (connects started after a failure). Gauges:
    //  l3_up (0/1), l3_inflight (operations). The stats must outlive the
    //  zo_l3_t.
    zo_stats_t *stats;
} zo_l3_opts_t;

/*  Makes the level and starts connecting (nothing is sent before the loop
    runs). The strings in opts are copied. Returns NULL with errno EINVAL
    (no conninfo, or a table name that is not a plain SQL identifier) or
    ENOMEM. A server that is not there is no failure: the level stays down
    and keeps trying, up (on_state) once the server answers.  */
zo_l3_t *zo_l3_new (zo_loop_t *loop, const zo_l3_opts_t *opts);
/*  Closes the connection, cancels the timers, frees the level and nulls
    *self_p. Operations still pending end with ERROR (get: ZO_LEVEL_ERROR;
    done: rc -1) before it returns; their callbacks may call anything on
    the level (they get -1 ENOTCONN), destroy included (a no-op). on_state
    is not called. Safe from inside any of the level's callbacks.  */
void zo_l3_destroy (zo_l3_t **self_p);

/*  True while the level is up and takes operations.  */
bool zo_l3_up (const zo_l3_t *self);

/*  Looks key up among the unexpired rows: fn gets HIT with the value (lent
    until fn returns) and its expiry (0: never), MISS, or ERROR. 0, or -1
    with errno ENOTCONN (down), EAGAIN (max_inflight), EINVAL (key over
    1 GiB), ENOMEM.  */
int zo_l3_get (zo_l3_t *self, const void *key, size_t len, zo_level_get_fn *fn, void *arg);
/*  Stores key -> value (replacing any row), expiring at expire_ms (0:
    never; past the year 9999 is taken as the end of that year). fn (may
    be NULL) gets rc 0, count 1, or rc -1. Errors as zo_l3_get.  */
int zo_l3_set (zo_l3_t *self, const void *key, size_t len, const void *value, size_t vlen,
               uint64_t expire_ms, zo_level_done_fn *fn, void *arg);
/*  Deletes key: count 1 if an unexpired row was there, else 0 (an expired
    row is left to the cleanup). fn may be NULL. Errors as zo_l3_get.  */
int zo_l3_del (zo_l3_t *self, const void *key, size_t len, zo_level_done_fn *fn, void *arg);
/*  Gives an unexpired row the expiry expire_ms (0: never): count 1, or 0
    when there is none. fn may be NULL. Errors as zo_l3_get.  */
int zo_l3_touch (zo_l3_t *self, const void *key, size_t len, uint64_t expire_ms,
                 zo_level_done_fn *fn, void *arg);
/*  Deletes the unexpired rows whose keys match a Redis-style glob of len
    bytes: * (any bytes), ? (one byte), [abc] [a-z] [!a] [^a] (a class),
    \ (the next byte literally). fn (may be NULL) gets the count of rows
    deleted. Without a class the glob becomes a bytea LIKE (with % _ \
    escaped), run cleanup_batch rows at a time. With one, the keys starting
    with the glob's literal prefix are scanned in key order, a page of
    cleanup_batch at a time, matched with fnmatch(3) (so keys holding a NUL
    byte never match such a glob), and the matches deleted. Either way the
    prefix bounds an index range scan, and rows set while it runs may or
    may not be deleted. Errors as zo_l3_get; also EINVAL for a glob with a
    class and a NUL byte. On an ERROR part of the rows may be gone.  */
int zo_l3_invalidate (zo_l3_t *self, const char *pattern, size_t len, zo_level_done_fn *fn,
                      void *arg);

#endif
