/*  sql: see sql.h.

    A request (s_req_t) is in one place at a time: a database's queue, on
    a connection (zo_pq holds it as its callback's arg), or on the list of
    outcomes not told yet (done). Callers are told only from s_on_wake, a
    timer due at once that every change sets: so no caller's callback runs
    inside zo_pq's own (which may then do anything, destroy included), and
    a callback's new requests wait for the next iteration. A request that
    timed out in flight is told at once but stays zo_pq's until its answer
    comes: it is freed when both have happened.

    The connection's own requests (the setup after a connect, the health
    checks) are s_req_t too, with no caller.
*/
#include "sql.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zo_actor.h"
#include "zo_backoff.h"
#include "zo_pq.h"

//  Type OIDs (catalog/pg_type_d.h, not in libpq's headers).
#define S_BOOL      16
#define S_INT8      20
#define S_INT2      21
#define S_INT4      23
#define S_FLOAT4    700
#define S_FLOAT8    701

#define S_QUERY_CANCELED    "57014"

typedef enum { K_QUERY, K_SETUP, K_HEALTH } s_kind_t;
typedef enum { C_IDLE, C_CONNECTING, C_SETUP, C_READY, C_WAITING } s_state_t;

typedef struct s_db s_db_t;
typedef struct s_conn s_conn_t;

typedef struct s_req {
    struct s_req *prev, *next;      //  the queue, or the done list
    bool queued, done;              //  on which
    s_db_t *db;
    s_conn_t *conn;                 //  while on a connection
    s_kind_t kind;
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
} s_req_t;

struct s_conn {
    s_db_t *db;
    int index;                      //  below db->conf.min: kept
    s_state_t state;
    zo_pq_t *pq;
    int retry_timer;
    zo_backoff_t backoff;
    uint32_t inflight;              //  requests on it, the connection's own included
    uint64_t answered_ms;           //  the last answer, or when requests began
    uint64_t idle_ms;               //  since when nothing is in flight
    const char *drop_why;           //  while dropping it
    char error [256];
};

struct s_db {
    zo_databases_t *self;
    zo_database_conf_t conf;        //  its strings are ours
    char name [ZO_SQL_NAME_MAX + 1];
    char *conninfo;
    char setup_sql [64];
    s_conn_t *conns;                //  conf.max of them
    s_req_t *head, *tail;           //  the queue
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
    s_db_t *dbs;
    size_t n;
    s_req_t *done_head, *done_tail;
    int wake_timer;
    int depth;
    bool doomed;
};

static void s_on_result (zo_pq_t *pq, const PGresult *res, const char *error, void *arg);
static void s_update (s_db_t *db);

//  ---------------------------------------------------------------------
//  Requests

static void
s_wake (zo_databases_t *self);

static void
s_req_free (s_req_t *req)
{
    if (req->timer)
        zo_loop_cancel (req->db->self->loop, req->timer);
    msgpack_sbuffer_destroy (&req->out);
    free (req);
}

static void
s_unqueue (s_db_t *db, s_req_t *req)
{
    assert (req->queued);
    if (req->prev)
        req->prev->next = req->next;
    else
        db->head = req->next;
    if (req->next)
        req->next->prev = req->prev;
    else
        db->tail = req->prev;
    req->prev = req->next = NULL;
    req->queued = false;
    *db->g_queued = --db->queued;
}

//  Requests on a connection: counted there and in the database's gauge.
static void
s_inflight_add (s_conn_t *conn, int delta)
{
    s_db_t *db = conn->db;
    if (delta > 0 && conn->inflight == 0)
        conn->answered_ms = zo_loop_now_ms (db->self->loop);
    conn->inflight = (uint32_t) ((int) conn->inflight + delta);
    db->inflight = (uint32_t) ((int) db->inflight + delta);
    *db->g_inflight = db->inflight;
    if (conn->inflight == 0)
        conn->idle_ms = zo_loop_now_ms (db->self->loop);
}

//  The request's outcome is known: it goes on the done list, off its
//  queue and its timer; the caller hears from s_on_wake.
static void
s_finish (s_req_t *req, zo_err_t error, const char *reason)
{
    assert (req->kind == K_QUERY && !req->finished);
    zo_databases_t *self = req->db->self;
    if (req->queued)
        s_unqueue (req->db, req);
    if (req->timer)
        zo_loop_cancel (self->loop, req->timer);
    req->timer = 0;
    req->finished = true;
    req->result.error = error;
    if (reason != req->reason)
        snprintf (req->reason, sizeof (req->reason), "%s", reason? reason: "");
    //  libpq's messages span lines, with tabs: one line, as a log's.
    char *o = req->reason;
    for (const char *p = req->reason; *p; p++)
        if (*p != '\n' && *p != '\t')
            *o++ = *p;
        else
        if (o > req->reason && o [-1] != ' ' && p [1])
            *o++ = ' ';
    *o = 0;
    req->result.took_ns = zo_loop_now_ns (self->loop) - req->start_ns;
    req->done = true;
    req->prev = self->done_tail;
    req->next = NULL;
    if (self->done_tail)
        self->done_tail->next = req;
    else
        self->done_head = req;
    self->done_tail = req;
    s_wake (self);
}

//  Tells the caller, counts, and frees the request unless zo_pq still
//  holds it.
static void
s_tell (s_req_t *req)
{
    s_db_t *db = req->db;
    zo_sql_result_t *r = &req->result;
    r->reason = req->reason;
    r->sqlstate = req->sqlstate;
    if (r->error || !r->columns) {
        static const char empty [] = { (char) 0x90 };
        r->columns = r->rows = empty;
        r->columns_len = r->rows_len = 1;
        if (r->error)
            r->count = 0;
    }
    (*db->queries)++;
    if (r->error)
        (*db->errors)++;
    if (r->error == ZO_ERR_TIMEOUT)
        (*db->timeouts)++;
    if (r->attempts)
        zo_hist_record (db->h_query, r->took_ns);
    req->fn (req->arg, r);
    if (!req->on_pq)
        s_req_free (req);
}

//  The deadline passed: queued or in flight, the caller hears TIMEOUT.
static int
s_on_deadline (zo_loop_t *loop, int id, void *arg)
{
    s_req_t *req = (s_req_t *) arg;
    req->timer = 0;
    char why [96];
    snprintf (why, sizeof (why), "%s within %" PRIu64 " ms",
              req->on_pq? "no answer": "no connection free", req->timeout_ms);
    s_finish (req, ZO_ERR_TIMEOUT, why);
    return 0;
}

//  ---------------------------------------------------------------------
//  Results

//  One column's text value as msgpack, by its type.
static int
s_pack_value (msgpack_packer *pk, Oid type, const char *text, int len)
{
    char *end;
    switch (type) {
        case S_BOOL:
            return *text == 't'? msgpack_pack_true (pk): msgpack_pack_false (pk);
        case S_INT2:
        case S_INT4:
        case S_INT8: {
            errno = 0;
            long long v = strtoll (text, &end, 10);
            if (!errno && end != text && !*end)
                return msgpack_pack_int64 (pk, v);
            break;
        }
        case S_FLOAT4:
        case S_FLOAT8: {
            double v = strtod (text, &end);
            if (end != text && !*end)
                return msgpack_pack_double (pk, v);
            break;
        }
        default:
            break;
    }
    return msgpack_pack_str_with_body (pk, text, (size_t) len);
}

//  A result with its rows: columns and rows into req->out.
static void
s_convert (s_req_t *req, const PGresult *res)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, &req->out, msgpack_sbuffer_write);
    int rows = PQntuples (res), cols = PQnfields (res);
    int rc = msgpack_pack_array (&pk, (size_t) cols);
    for (int c = 0; c < cols && rc == 0; c++) {
        const char *name = PQfname (res, c);
        rc = msgpack_pack_str_with_body (&pk, name, strlen (name));
    }
    size_t columns_len = req->out.size;
    if (rc == 0)
        rc = msgpack_pack_array (&pk, (size_t) rows);
    for (int r = 0; r < rows && rc == 0; r++) {
        rc = msgpack_pack_array (&pk, (size_t) cols);
        for (int c = 0; c < cols && rc == 0; c++)
            rc = PQgetisnull (res, r, c)? msgpack_pack_nil (&pk)
               : s_pack_value (&pk, PQftype (res, c), PQgetvalue (res, r, c),
                               PQgetlength (res, r, c));
        if (req->out.size > ZO_SQL_RESULT_MAX) {
            s_finish (req, ZO_ERR_UPSTREAM, "result too large");
            return;
        }
    }
    if (rc) {
        s_finish (req, ZO_ERR_UPSTREAM, "out of memory for the result");
        return;
    }
    req->result.columns = req->out.data;
    req->result.columns_len = columns_len;
    req->result.rows = req->out.data + columns_len;
    req->result.rows_len = req->out.size - columns_len;
    req->result.count = (uint32_t) rows;
    s_finish (req, ZO_ERR_NONE, "");
}

static void
s_on_answer (s_req_t *req, const PGresult *res, const char *error)
{
    if (!res) {
        s_db_t *db = req->db;
        const char *why = req->conn && req->conn->drop_why? req->conn->drop_why: error;
        if (db->self->doomed)
            s_finish (req, ZO_ERR_UNAVAILABLE, "stopping");
        else {
            snprintf (req->reason, sizeof (req->reason), "connection lost: %s", why);
            s_finish (req, ZO_ERR_UPSTREAM, req->reason);
        }
        return;
    }
    if (error) {
        const char *state = PQresultErrorField ((PGresult *) res, PG_DIAG_SQLSTATE);
        const char *primary = PQresultErrorField ((PGresult *) res, PG_DIAG_MESSAGE_PRIMARY);
        snprintf (req->sqlstate, sizeof (req->sqlstate), "%s", state? state: "");
        s_finish (req, state && !strcmp (state, S_QUERY_CANCELED)? ZO_ERR_TIMEOUT
                                                                : ZO_ERR_UPSTREAM,
                  primary? primary: error);
        return;
    }
    if (PQresultStatus (res) == PGRES_TUPLES_OK)
        s_convert (req, res);
    else {
        req->result.count = (uint32_t) strtoul (PQcmdTuples ((PGresult *) res), NULL, 10);
        s_finish (req, ZO_ERR_NONE, "");
    }
}

//  ---------------------------------------------------------------------
//  Connections

static int s_on_retry (zo_loop_t *loop, int id, void *arg);
static void s_on_pq_state (zo_pq_t *pq, bool up, const char *error, void *arg);

static void
s_retry_later (s_conn_t *conn)
{
    zo_databases_t *self = conn->db->self;
    conn->state = C_WAITING;
    if (conn->retry_timer)
        return;
    conn->retry_timer = zo_loop_timer (self->loop, zo_backoff_next (&conn->backoff),
                                       s_on_retry, conn);
    if (conn->retry_timer < 0) {
        conn->retry_timer = 0;
        zo_log_error ("sql %s: out of memory for the reconnect timer", conn->db->name);
    }
}

//  The connection failed to come up, or went down, or was dropped: a kept
//  one comes back after its backoff, one made on demand is closed.
static void
s_lost (s_conn_t *conn, const char *why)
{
    s_db_t *db = conn->db;
    if (conn->state == C_READY || conn->state == C_SETUP)
        zo_log_warning ("sql %s: connection %d down: %s", db->name, conn->index, why);
    else
    if (!db->down)
        zo_log_warning ("sql %s: connection %d cannot come up: %s", db->name, conn->index, why);
    snprintf (db->error, sizeof (db->error), "%s", why);
    if ((uint32_t) conn->index < db->conf.min)
        s_retry_later (conn);
    else {
        conn->state = C_IDLE;
        zo_pq_destroy (&conn->pq);
    }
    s_update (db);
}

//  Closes the connection: its requests fail with why (UPSTREAM).
static void
s_drop (s_conn_t *conn, const char *why)
{
    char text [256];
    snprintf (text, sizeof (text), "%s", why);
    conn->drop_why = text;
    zo_pq_destroy (&conn->pq);
    conn->drop_why = NULL;
    s_inflight_add (conn, -(int) conn->inflight);
    s_lost (conn, text);
}

//  Sends one of the connection's own requests. 0 or -1.
static int
s_send_own (s_conn_t *conn, s_kind_t kind, const char *sql)
{
    s_req_t *req = (s_req_t *) calloc (1, sizeof (s_req_t));
    if (!req)
        return -1;
    req->db = conn->db;
    req->conn = conn;
    req->kind = kind;
    msgpack_sbuffer_init (&req->out);
    if (zo_pq_send (conn->pq, sql, 0, NULL, NULL, NULL, NULL, 0, s_on_result, req)) {
        free (req);
        return -1;
    }
    req->on_pq = true;
    s_inflight_add (conn, 1);
    return 0;
}

static void
s_on_pq_state (zo_pq_t *pq, bool up, const char *error, void *arg)
{
    s_conn_t *conn = (s_conn_t *) arg;
    if (!up) {
        s_inflight_add (conn, -(int) conn->inflight);
        s_lost (conn, error);
        return;
    }
    conn->state = C_SETUP;
    if (s_send_own (conn, K_SETUP, conn->db->setup_sql))
        s_drop (conn, "setup: cannot send");
    else
        s_update (conn->db);
}

//  Makes (or remakes) the connection's zo_pq_t and starts it.
static int
s_open (s_conn_t *conn)
{
    s_db_t *db = conn->db;
    conn->state = C_CONNECTING;
    if (!conn->pq) {
        zo_pq_opts_t opts = { .on_state = s_on_pq_state, .arg = conn,
                              .connect_timeout_ms = db->conf.connect_timeout_ms,
                              .max_inflight = ZO_SQL_PIPELINE + 2 };
        conn->pq = zo_pq_new (db->self->loop, db->conninfo, &opts);
    }
    if (!conn->pq || zo_pq_connect (conn->pq)) {
        s_retry_later (conn);
        return -1;
    }
    return 0;
}

static int
s_on_retry (zo_loop_t *loop, int id, void *arg)
{
    s_conn_t *conn = (s_conn_t *) arg;
    conn->retry_timer = 0;
    (*conn->db->reconnects)++;
    s_open (conn);
    return 0;
}

//  How long a connection may stay silent with requests on it.
static uint64_t
s_hung_ms (const s_db_t *db)
{
    return 2 * db->conf.statement_timeout_ms + 1000;
}

//  Drops the connections that stopped answering, closes those made on
//  demand that stayed idle.
static int
s_on_watchdog (zo_loop_t *loop, int id, void *arg)
{
    s_db_t *db = (s_db_t *) arg;
    uint64_t now = zo_loop_now_ms (loop);
    for (uint32_t i = 0; i < db->conf.max; i++) {
        s_conn_t *conn = &db->conns [i];
        if (conn->state != C_READY && conn->state != C_SETUP)
            continue;
        if (conn->inflight && now - conn->answered_ms >= s_hung_ms (db)) {
            char why [96];
            snprintf (why, sizeof (why), "no answer from the server in %" PRIu64 " ms",
                      s_hung_ms (db));
            s_drop (conn, why);
        }
        else
        if (!conn->inflight && i >= db->conf.min && now - conn->idle_ms >= ZO_SQL_IDLE_MS) {
            zo_log_info ("sql %s: closing connection %u, idle", db->name, i);
            zo_pq_destroy (&conn->pq);
            conn->state = C_IDLE;
            s_update (db);
        }
    }
    return 0;
}

static int
s_on_health (zo_loop_t *loop, int id, void *arg)
{
    s_db_t *db = (s_db_t *) arg;
    for (uint32_t i = 0; i < db->conf.max; i++) {
        s_conn_t *conn = &db->conns [i];
        if (conn->state == C_READY && !conn->inflight && s_send_own (conn, K_HEALTH, "SELECT 1"))
            s_drop (conn, "health check: cannot send");
    }
    return 0;
}

//  The gauges, the health, and the fall to "down": what is queued fails.
static void
s_update (s_db_t *db)
{
    uint32_t ready = 0, open = 0, kept = 0;
    for (uint32_t i = 0; i < db->conf.max; i++) {
        s_conn_t *conn = &db->conns [i];
        ready += conn->state == C_READY;
        open += conn->state == C_READY || conn->state == C_SETUP;
        kept += i < db->conf.min && conn->state == C_READY;
    }
    zo_health_t health = !ready? ZO_HEALTH_DOWN
                       : kept < db->conf.min? ZO_HEALTH_DEGRADED: ZO_HEALTH_UP;
    *db->g_up = ready > 0;
    *db->g_health = health;
    *db->g_connections = open;
    if (ready) {
        if (db->down)
            zo_log_info ("sql %s: up", db->name);
        db->down = false;
        return;
    }
    bool failed = false;
    for (uint32_t i = 0; i < db->conf.min; i++)
        failed |= db->conns [i].state == C_WAITING;
    if (!failed || db->self->doomed)
        return;
    db->down = true;
    char why [320];
    snprintf (why, sizeof (why), "no connection to the database: %s", db->error);
    while (db->head)
        s_finish (db->head, ZO_ERR_UNAVAILABLE, why);
}

//  ---------------------------------------------------------------------
//  Answers from zo_pq

static void
s_on_result (zo_pq_t *pq, const PGresult *res, const char *error, void *arg)
{
    s_req_t *req = (s_req_t *) arg;
    s_conn_t *conn = req->conn;
    s_db_t *db = req->db;
    uint64_t now = zo_loop_now_ms (db->self->loop);
    req->on_pq = false;
    if (res) {
        conn->answered_ms = now;
        s_inflight_add (conn, -1);
        s_wake (db->self);          //  room on the connection
    }
    if (req->kind != K_QUERY) {
        s_kind_t kind = req->kind;
        s_req_free (req);
        if (!res || db->self->doomed)
            return;                 //  going down: on_state or s_drop says so
        if (error) {
            char why [300];
            snprintf (why, sizeof (why), "%s: %s", kind == K_SETUP? "setup": "health check",
                      error);
            s_drop (conn, why);
        }
        else
        if (kind == K_SETUP) {
            conn->state = C_READY;
            conn->idle_ms = now;
            zo_backoff_reset (&conn->backoff);
            s_update (db);
        }
        return;
    }
    if (req->finished) {
        req->conn = NULL;
        if (!req->done)
            s_req_free (req);       //  told already
        return;
    }
    s_on_answer (req, res, error);
    req->conn = NULL;
}

//  ---------------------------------------------------------------------
//  Dispatch

//  The up connection with the fewest in flight and room, or NULL.
static s_conn_t *
s_pick (s_db_t *db)
{
    s_conn_t *best = NULL;
    for (uint32_t i = 0; i < db->conf.max; i++) {
        s_conn_t *conn = &db->conns [i];
        if (conn->state == C_READY && conn->inflight < ZO_SQL_PIPELINE
        &&  (!best || conn->inflight < best->inflight))
            best = conn;
    }
    return best;
}

static void
s_send (s_conn_t *conn, s_req_t *req)
{
    //  Text parameters: libpq takes no lengths for them.
    if (zo_pq_send (conn->pq, req->sql, req->n_params, NULL, req->values, NULL, NULL, 0,
                    s_on_result, req)) {
        char why [128];
        snprintf (why, sizeof (why), "cannot send: %s", strerror (errno));
        s_finish (req, ZO_ERR_UPSTREAM, why);
        return;
    }
    req->on_pq = true;
    req->conn = conn;
    req->result.attempts = 1;
    s_inflight_add (conn, 1);
}

//  Sends what is queued while connections have room; opens one more when
//  every up one is busy.
static void
s_dispatch (s_db_t *db)
{
    s_conn_t *conn;
    while (db->head && (conn = s_pick (db))) {
        s_req_t *req = db->head;
        s_unqueue (db, req);
        s_send (conn, req);
    }
    if (!db->head || db->down)
        return;
    s_conn_t *idle = NULL;
    uint32_t ready = 0;
    for (uint32_t i = 0; i < db->conf.max; i++) {
        conn = &db->conns [i];
        if (conn->state == C_CONNECTING || conn->state == C_SETUP)
            return;                 //  one at a time
        ready += conn->state == C_READY;
        if (conn->state == C_READY && !conn->inflight)
            return;                 //  not every one busy
        if (conn->state == C_IDLE && !idle)
            idle = conn;
    }
    if (ready && idle) {
        zo_log_debug ("sql %s: opening connection %d", db->name, idle->index);
        s_open (idle);
    }
}

static void
s_free (zo_databases_t *self)
{
    for (size_t i = 0; i < self->n; i++) {
        s_db_t *db = &self->dbs [i];
        free (db->conns);
        free (db->conninfo);
    }
    free (self->dbs);
    free (self);
}

static void
s_leave (zo_databases_t *self)
{
    if (--self->depth == 0 && self->doomed)
        s_free (self);
}

//  Tells the callers whose outcome is known, then sends what is queued.
//  What the callbacks add waits for the next iteration.
static int
s_on_wake (zo_loop_t *loop, int id, void *arg)
{
    zo_databases_t *self = (zo_databases_t *) arg;
    self->wake_timer = 0;
    self->depth++;
    s_req_t *tail = self->done_tail;
    while (self->done_head && !self->doomed) {
        s_req_t *req = self->done_head;
        self->done_head = req->next;
        if (!self->done_head)
            self->done_tail = NULL;
        req->next = NULL;
        req->done = false;
        s_tell (req);
        if (req == tail)
            break;
    }
    for (size_t i = 0; i < self->n && !self->doomed; i++)
        s_dispatch (&self->dbs [i]);
    s_leave (self);
    return 0;
}

static void
s_wake (zo_databases_t *self)
{
    if (self->wake_timer || self->doomed)
        return;
    self->wake_timer = zo_loop_timer (self->loop, 0, s_on_wake, self);
    if (self->wake_timer < 0) {
        self->wake_timer = 0;
        zo_log_error ("sql: out of memory for a timer: answers wait for the next one");
    }
}

//  ---------------------------------------------------------------------
//  The interface

static s_db_t *
s_find (const zo_databases_t *self, const char *name)
{
    for (size_t i = 0; i < self->n; i++)
        if (!strcmp (self->dbs [i].name, name))
            return &self->dbs [i];
    return NULL;
}

static bool
s_name_ok (const char *name)
{
    size_t len = name? strlen (name): 0;
    if (len == 0 || len > ZO_SQL_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((name [i] >= 'a' && name [i] <= 'z') || (name [i] >= '0' && name [i] <= '9')
        ||    name [i] == '_'))
            return false;
    return true;
}

//  The conf with its defaults, checked. 0, or -1 with error written.
static int
s_conf (const zo_database_conf_t *in, zo_database_conf_t *c, char *error, size_t size)
{
    *c = *in;
    if (!s_name_ok (c->name)) {
        snprintf (error, size, "database name \"%s\": [a-z0-9_]{1,%d} expected",
                  c->name? c->name: "", ZO_SQL_NAME_MAX);
        return -1;
    }
    char *errmsg = NULL;
    PQconninfoOption *opts = c->conninfo? PQconninfoParse (c->conninfo, &errmsg): NULL;
    if (!opts) {
        snprintf (error, size, "database %s: conninfo: %s", c->name,
                  !c->conninfo? "missing": errmsg? errmsg: "out of memory");
        size_t len = strlen (error);
        while (len && error [len - 1] == '\n')
            error [--len] = 0;
        PQfreemem (errmsg);
        return -1;
    }
    PQconninfoFree (opts);
    c->min = c->min? c->min: 1;
    c->max = c->max? c->max: 4;
    if (c->min > c->max || c->max > ZO_SQL_CONNS_MAX) {
        snprintf (error, size, "database %s: connections min %" PRIu32 " max %" PRIu32
                  ": 1 <= min <= max <= %d expected", c->name, c->min, c->max,
                  ZO_SQL_CONNS_MAX);
        return -1;
    }
    c->statement_timeout_ms = c->statement_timeout_ms? c->statement_timeout_ms: 5000;
    if (c->statement_timeout_ms > INT32_MAX) {
        snprintf (error, size, "database %s: statement timeout above %d ms", c->name,
                  INT32_MAX);
        return -1;
    }
    c->connect_timeout_ms = c->connect_timeout_ms? c->connect_timeout_ms: 2000;
    c->backoff_min_ms = c->backoff_min_ms? c->backoff_min_ms: 100;
    c->backoff_max_ms = c->backoff_max_ms? c->backoff_max_ms: 5000;
    c->queue_max = c->queue_max? c->queue_max: 10000;
    return 0;
}

static void
s_metrics (s_db_t *db, zo_stats_t *stats)
{
    static const char *counters [] = { "queries_total", "errors_total", "timeouts_total",
                                       "reconnects_total" };
    static const char *gauges [] = { "up", "health", "connections", "queued", "inflight" };
    uint64_t **c [] = { &db->queries, &db->errors, &db->timeouts, &db->reconnects };
    double **g [] = { &db->g_up, &db->g_health, &db->g_connections, &db->g_queued,
                      &db->g_inflight };
    char name [64];
    for (int i = 0; i < 4; i++) {
        snprintf (name, sizeof (name), "%s_%s", db->name, counters [i]);
        *c [i] = stats? zo_stats_counter (stats, name): &db->sink [i];
    }
    for (int i = 0; i < 5; i++) {
        snprintf (name, sizeof (name), "%s_%s", db->name, gauges [i]);
        *g [i] = stats? zo_stats_gauge (stats, name): &db->gsink [i];
        **g [i] = 0;
    }
    snprintf (name, sizeof (name), "%s_query_ns", db->name);
    db->h_query = stats? zo_stats_hist (stats, name): &db->hsink;
}

zo_databases_t *
zo_databases_new (zo_loop_t *loop, zo_stats_t *stats, const zo_database_conf_t *conf,
                  size_t n, char *error, size_t error_size)
{
    assert (loop);
    assert (conf || !n);
    assert (error && error_size);
    *error = 0;
    if (n > ZO_SQL_DATABASES) {
        snprintf (error, error_size, "%zu databases: %d at most", n, ZO_SQL_DATABASES);
        return NULL;
    }
    zo_database_conf_t confs [ZO_SQL_DATABASES];
    for (size_t i = 0; i < n; i++) {
        if (s_conf (&conf [i], &confs [i], error, error_size))
            return NULL;
        for (size_t j = 0; j < i; j++)
            if (!strcmp (confs [i].name, confs [j].name)) {
                snprintf (error, error_size, "database %s named twice", confs [i].name);
                return NULL;
            }
    }
    zo_databases_t *self = (zo_databases_t *) calloc (1, sizeof (zo_databases_t));
    if (!self || !(self->dbs = (s_db_t *) calloc (n? n: 1, sizeof (s_db_t))))
        goto nomem;
    self->loop = loop;
    for (size_t i = 0; i < n; i++) {
        s_db_t *db = &self->dbs [i];
        db->self = self;
        db->conf = confs [i];
        snprintf (db->name, sizeof (db->name), "%s", confs [i].name);
        db->conf.name = db->name;
        db->conninfo = strdup (confs [i].conninfo);
        db->conf.conninfo = db->conninfo;
        db->conns = (s_conn_t *) calloc (db->conf.max, sizeof (s_conn_t));
        self->n++;
        if (!db->conninfo || !db->conns)
            goto nomem;
        snprintf (db->setup_sql, sizeof (db->setup_sql), "SET statement_timeout = %" PRIu64,
                  db->conf.statement_timeout_ms);
        s_metrics (db, stats);
        for (uint32_t k = 0; k < db->conf.max; k++) {
            s_conn_t *conn = &db->conns [k];
            conn->db = db;
            conn->index = (int) k;
            zo_backoff_init (&conn->backoff, db->conf.backoff_min_ms, db->conf.backoff_max_ms);
        }
    }
    for (size_t i = 0; i < n; i++) {
        s_db_t *db = &self->dbs [i];
        uint64_t every = s_hung_ms (db) / 4;
        db->watchdog_timer = zo_loop_ticker (loop, every > 1000? 1000: every, s_on_watchdog, db);
        if (db->watchdog_timer < 0)
            goto nomem;
        if (db->conf.health_interval_ms) {
            db->health_timer = zo_loop_ticker (loop, db->conf.health_interval_ms, s_on_health,
                                               db);
            if (db->health_timer < 0)
                goto nomem;
        }
        //  A failed start is retried as any other (s_open).
        for (uint32_t k = 0; k < db->conf.min; k++)
            s_open (&db->conns [k]);
    }
    return self;
nomem:
    snprintf (error, error_size, "out of memory");
    zo_databases_destroy (&self);
    return NULL;
}

void
zo_databases_destroy (zo_databases_t **self_p)
{
    assert (self_p);
    zo_databases_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    if (self->doomed)
        return;
    self->doomed = true;
    self->depth++;
    if (self->wake_timer)
        zo_loop_cancel (self->loop, self->wake_timer);
    self->wake_timer = 0;
    for (size_t i = 0; i < self->n; i++) {
        s_db_t *db = &self->dbs [i];
        if (db->watchdog_timer > 0)
            zo_loop_cancel (self->loop, db->watchdog_timer);
        if (db->health_timer > 0)
            zo_loop_cancel (self->loop, db->health_timer);
        for (uint32_t k = 0; db->conns && k < db->conf.max; k++) {
            s_conn_t *conn = &db->conns [k];
            if (conn->retry_timer)
                zo_loop_cancel (self->loop, conn->retry_timer);
            //  Fails its requests: they join the done list, "stopping".
            zo_pq_destroy (&conn->pq);
            conn->state = C_IDLE;
        }
        while (db->head)
            s_finish (db->head, ZO_ERR_UNAVAILABLE, "stopping");
    }
    //  s_finish woke nobody (doomed): every caller hears now.
    while (self->done_head) {
        s_req_t *req = self->done_head;
        self->done_head = req->next;
        if (!self->done_head)
            self->done_tail = NULL;
        req->done = false;
        s_tell (req);
    }
    s_leave (self);
}

bool
zo_databases_has (const zo_databases_t *self, const char *name)
{
    assert (self);
    return name && s_find (self, name);
}

zo_health_t
zo_databases_health (const zo_databases_t *self, const char *database)
{
    assert (self);
    const s_db_t *db = database? s_find (self, database): NULL;
    return db? (zo_health_t) *db->g_health: ZO_HEALTH_DOWN;
}

int
zo_databases_query (zo_databases_t *self, const char *database, const char *sql,
                    size_t n_params, const char *const *values, const size_t *lengths,
                    uint64_t timeout_ms, zo_sql_fn *fn, void *arg)
{
    assert (self);
    assert (database && sql && fn);
    assert (values || !n_params);
    if (self->doomed) {
        errno = ESHUTDOWN;
        return -1;
    }
    s_db_t *db = s_find (self, database);
    if (!db) {
        errno = ENOENT;
        return -1;
    }
    //  The struct, the pointers, the statement and the values in one block.
    bool bad = n_params > ZO_SQL_PARAMS_MAX || !*sql;
    size_t size = sizeof (s_req_t) + strlen (sql) + 1;
    if (!bad)
        size += n_params * sizeof (char *);
    for (size_t i = 0; i < n_params && !bad; i++)
        if (values [i]) {
            size_t len = strlen (values [i]);
            if (lengths && lengths [i] != len)
                bad = true;
            size += len + 1;
        }
    s_req_t *req = (s_req_t *) calloc (1, size);
    if (!req) {
        errno = ENOMEM;
        return -1;
    }
    req->db = db;
    req->kind = K_QUERY;
    req->fn = fn;
    req->arg = arg;
    req->start_ns = zo_loop_now_ns (self->loop);
    req->timeout_ms = timeout_ms? timeout_ms: db->conf.statement_timeout_ms + ZO_SQL_GRACE_MS;
    msgpack_sbuffer_init (&req->out);
    char *p = (char *) (req + 1);
    if (!bad) {
        req->values = (const char **) p;
        p += n_params * sizeof (char *);
        req->n_params = (int) n_params;
        for (size_t i = 0; i < n_params; i++)
            if (values [i]) {
                size_t len = strlen (values [i]);
                req->values [i] = memcpy (p, values [i], len + 1);
                p += len + 1;
            }
    }
    req->sql = strcpy (p, sql);
    req->timer = zo_loop_timer (self->loop, req->timeout_ms, s_on_deadline, req);
    if (req->timer < 0) {
        req->timer = 0;
        s_req_free (req);
        errno = ENOMEM;
        return -1;
    }
    if (bad)
        s_finish (req, ZO_ERR_BAD_VALUE, !*sql? "empty statement"
                : n_params > ZO_SQL_PARAMS_MAX? "too many parameters"
                : "a parameter's length is not its text's (a NUL byte inside?)");
    else
    if (db->down) {
        char why [320];
        snprintf (why, sizeof (why), "no connection to the database: %s", db->error);
        s_finish (req, ZO_ERR_UNAVAILABLE, why);
    }
    else
    if (db->queued >= db->conf.queue_max) {
        uint64_t now = zo_loop_now_ms (self->loop);
        if (now - db->full_log_ms >= 1000 || !db->full_log_ms) {
            db->full_log_ms = now;
            zo_log_warning ("sql %s: %" PRIu32 " requests queued, refusing more", db->name,
                            db->queued);
        }
        s_finish (req, ZO_ERR_UNAVAILABLE, "queue full");
    }
    else {
        req->queued = true;
        req->prev = db->tail;
        if (db->tail)
            db->tail->next = req;
        else
            db->head = req;
        db->tail = req;
        *db->g_queued = ++db->queued;
        s_wake (self);
    }
    return 0;
}
