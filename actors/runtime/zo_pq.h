/*  zo_pq: one PostgreSQL connection (libpq) driven by the actor's zo_loop.

    Nothing here blocks the loop: the connection is made with
    PQconnectStartParams and PQconnectPoll as its socket becomes ready; a
    host name in the conninfo is resolved on a short-lived thread that
    reports through an eventfd the loop watches (zo_resolve), and handed
    to libpq as `hostaddr` (every address found, in order, up to 8), so
    libpq resolves nothing itself; a loop timer bounds the whole connect. Once up, the
    connection runs in libpq's pipeline mode: each request is sent at once
    with its own sync point, so many are in flight on one connection, each
    its own implicit transaction (an error fails that request only), and
    results come back in the order sent. LISTEN/NOTIFY notifications go to
    on_notify as they arrive.

    Ownership: the zo_pq_t owns its PGconn, its watch, its timer and its
    resolver job; zo_pq_destroy frees all of them (a resolver thread still
    in getaddrinfo finishes alone and frees what it shares). Results and
    notifications are lent to the callbacks and freed when they return:
    copy what you keep. The loop must outlive the zo_pq_t.

    Callbacks: every accepted request's fn runs exactly once, from the
    loop (never from inside the call that sent it): with its result, or
    with NULL when the connection went down or was destroyed first. Any
    callback may call zo_pq_destroy or zo_pq_connect on this connection.
    Errors (bad conninfo, resolution, refused, timeout, server gone) reach
    on_state, never an assert: the zo_pq_t then waits, down, until
    zo_pq_connect or zo_pq_destroy.

    Limits: one host per conninfo (no host lists); no COPY; requests in
    flight bounded by max_inflight.
*/
#ifndef ZO_PQ_H_INCLUDED
#define ZO_PQ_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>
#include "zo_loop.h"

typedef struct _zo_pq_t zo_pq_t;

/*  The connection came up (up true, error NULL), or failed to come up or
    went down (up false, error says why; the text lives until the callback
    returns).  */
typedef void (zo_pq_state_fn) (zo_pq_t *pq, bool up, const char *error, void *arg);
/*  A request ended: result is its last PGresult (possibly with
    PQresultStatus PGRES_FATAL_ERROR, error then holding its message), or
    NULL with error set when there will be no answer.  */
typedef void (zo_pq_result_fn) (zo_pq_t *pq, const PGresult *result, const char *error,
                                void *arg);
/*  A NOTIFY on a channel this connection LISTENs to.  */
typedef void (zo_pq_notify_fn) (zo_pq_t *pq, const PGnotify *notify, void *arg);

typedef struct {
    zo_pq_state_fn *on_state;       //  may be NULL
    zo_pq_notify_fn *on_notify;     //  may be NULL
    void *arg;                      //  given to on_state and on_notify
    //  0: the conninfo's connect_timeout, else 10 s.
    uint64_t connect_timeout_ms;
    //  Requests in flight at most (0: 1024); zo_pq_send says EAGAIN past it.
    uint32_t max_inflight;
} zo_pq_opts_t;

/*  Makes a connection and starts connecting it (zo_pq_connect). conninfo
    is copied; opts may be NULL. Returns NULL only when out of memory;
    every other failure, a bad conninfo too, reaches on_state on a later
    iteration.  */
zo_pq_t *zo_pq_new (zo_loop_t *loop, const char *conninfo, const zo_pq_opts_t *opts);
/*  Fails the requests still in flight (fn gets NULL, "destroyed"), closes
    the connection, frees it and nulls *self_p; on_state is not called.
    From inside a callback the memory is freed when the callback returns.  */
void zo_pq_destroy (zo_pq_t **self_p);

/*  Starts connecting again, with a fresh resolution, if the connection is
    down; does nothing while it is up or connecting. Callers wanting
    backoff call it from a timer. 0, or -1 when out of memory (nothing
    started, no callback).  */
int zo_pq_connect (zo_pq_t *self);
/*  True while the connection is up and takes requests.  */
bool zo_pq_ready (const zo_pq_t *self);
/*  The underlying connection while up (for PQescapeLiteral and the like;
    do not send or read on it), else NULL.  */
PGconn *zo_pq_conn (zo_pq_t *self);

/*  Sends a query with parameters, as PQsendQueryParams (one statement; a
    command, LISTEN or NOTIFY included). Everything is copied into libpq's
    buffer before it returns. fn (not NULL) gets the outcome. Returns 0,
    or -1 with errno set and fn never called: ENOTCONN (not up), EAGAIN
    (max_inflight reached), EIO (libpq refused it: the connection is
    failing and on_state will say so).  */
int zo_pq_send (zo_pq_t *self, const char *command, int n_params, const Oid *types,
                const char *const *values, const int *lengths, const int *formats,
                int result_format, zo_pq_result_fn *fn, void *arg);
/*  As PQsendPrepare, with zo_pq_send's contract.  */
int zo_pq_prepare (zo_pq_t *self, const char *name, const char *query, int n_params,
                   const Oid *types, zo_pq_result_fn *fn, void *arg);
/*  As PQsendQueryPrepared, with zo_pq_send's contract.  */
int zo_pq_send_prepared (zo_pq_t *self, const char *name, int n_params,
                         const char *const *values, const int *lengths, const int *formats,
                         int result_format, zo_pq_result_fn *fn, void *arg);
/*  Requests in flight.  */
uint32_t zo_pq_inflight (const zo_pq_t *self);

#endif
