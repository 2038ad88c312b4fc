/*  sql_int: what the databases' files share: the records of a database,
    a connection and a request, and the calls each file makes into the
    others. sql.c makes and destroys the databases and tells callers from
    the wake; sql_query.c is a request's life, from zo_databases_query to
    its caller told; sql_conn.c is the connections and the requests sent
    on them. Not a public header.

    A request (sql_req_t) is in one place at a time: a database's queue,
    on a connection (zo_pq holds it as its callback's arg), or on the list
    of outcomes not told yet (done). Callers are told only from the wake
    (zo__sql_wake), a timer due at once that every change sets: so no
    caller's callback runs inside zo_pq's own (which may then do
    anything, destroy included), and a callback's new requests wait for
    the next iteration. A request that timed out in flight is told at
    once but stays zo_pq's until its answer comes: it is freed when both
    have happened.

    The connection's own requests (the setup after a connect, the health
    checks) are sql_req_t too, with no caller.
*/
#ifndef ZO_SQL_INT_H_INCLUDED
#define ZO_SQL_INT_H_INCLUDED

#include <msgpack.h>

#include "sql.h"
#include "zo_backoff.h"
#include "zo_pq.h"

typedef enum { K_QUERY, K_SETUP, K_HEALTH } sql_kind_t;
typedef enum { C_IDLE, C_CONNECTING, C_SETUP, C_READY, C_WAITING } sql_state_t;

typedef struct _sql_db_t sql_db_t;
typedef struct _sql_conn_t sql_conn_t;

typedef struct _sql_req_t {
    struct _sql_req_t *prev, *next; //  the queue, or the done list
    bool queued, done;              //  on which
    sql_db_t *db;
    sql_conn_t *conn;               //  while on a connection
    sql_kind_t kind;
    bool on_pq;                     //  zo_pq will answer it
    bool finished;                  //  its outcome is known
    zo_sql_fn *fn;
    void *arg;
    int timer;                      //  the deadline
    uint64_t start_ns, timeout_ms;
    //  The request, in one block with the struct.
    char *sql;
    int n_params;
    const char **values;
    //  The outcome.
    zo_sql_result_t result;
    msgpack_sbuffer out;            //  columns, then rows
    char reason [256];
    char sqlstate [6];
} sql_req_t;

struct _sql_conn_t {
    sql_db_t *db;
    int index;                      //  below db->conf.min: kept
    sql_state_t state;
    zo_pq_t *pq;
    int retry_timer;
    zo_backoff_t backoff;
    uint32_t inflight;              //  requests on it, the connection's own included
    uint64_t answered_ms;           //  the last answer, or when requests began
    uint64_t idle_ms;               //  since when nothing is in flight
    const char *drop_why;           //  while dropping it
    char error [256];
};

struct _sql_db_t {
    zo_databases_t *self;
    zo_database_conf_t conf;        //  its strings are ours
    char name [ZO_SQL_NAME_MAX + 1];
    char *conninfo;
    char setup_sql [64];
    sql_conn_t *conns;              //  conf.max of them
    sql_req_t *head, *tail;         //  the queue
    uint32_t queued;
    uint32_t inflight;              //  on every connection
    bool down;                      //  none up, after a failure
    uint64_t full_log_ms;
    int watchdog_timer, health_timer;
    char error [256];               //  the last connection failure
    uint64_t *queries, *errors, *timeouts, *reconnects;
    double *g_up, *g_health, *g_connections, *g_queued, *g_inflight;
    zo_hist_t *h_query;
    uint64_t sink [4];
    double gsink [5];
    zo_hist_t hsink;
};

struct _zo_databases_t {
    zo_loop_t *loop;
    sql_db_t *dbs;
    size_t n;
    sql_req_t *done_head, *done_tail;
    int wake_timer;
    int depth;
    bool doomed;
};

//  sql.c: the databases.

/*  The database of that name, or NULL.  */
sql_db_t *zo__sql_find (const zo_databases_t *self, const char *name);
/*  Sets the wake (unless set, or being destroyed): it tells the callers
    on the done list, then dispatches every database's queue. Logged if
    out of memory for the timer: answers wait for the next wake.  */
void zo__sql_wake (zo_databases_t *self);

//  sql_query.c: a request's life.

/*  Frees the request and cancels its deadline.  */
void zo__sql_req_free (sql_req_t *req);
/*  Takes the request off its database's queue (it must be on it).  */
void zo__sql_unqueue (sql_db_t *db, sql_req_t *req);
/*  The query's outcome is known: it goes on the done list, off its queue
    and its deadline, and the wake is set; the caller hears from it.
    reason may be req->reason.  */
void zo__sql_finish (sql_req_t *req, zo_err_t error, const char *reason);
/*  Tells the caller (the request is off the done list), counts, and frees
    the request unless zo_pq still holds it.  */
void zo__sql_tell (sql_req_t *req);
/*  zo_pq answered a query: res, with error for an SQL error, or no res
    when its connection went. Finishes it by what the server said; one
    that had finished already (its deadline) is freed if its caller was
    told, else zo__sql_tell frees it.  */
void zo__sql_answer (sql_req_t *req, const PGresult *res, const char *error);

//  sql_conn.c: the connections.

/*  Starts the database's watchdog and health checks and opens its min
    connections (a failed open is retried after its backoff). 0, or -1
    when out of memory for a timer.  */
int zo__sql_conns_start (sql_db_t *db);
/*  Stops the database's timers and closes its connections: their
    requests in flight are answered by zo_pq with no result (so finished
    "stopping", on the done list).  */
void zo__sql_conns_stop (sql_db_t *db);
/*  Sends what is queued while connections have room; opens one more when
    every up one is busy.  */
void zo__sql_dispatch (sql_db_t *db);
/*  Closes every connection beyond min that is up with nothing in flight
    (pressure); returns how many.  */
uint32_t zo__sql_conns_trim (sql_db_t *db);

#endif
