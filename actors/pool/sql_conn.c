/*  sql_conn: a database's connections (see sql_int.h). The min kept ones
    are opened at start and reconnected after a backoff when lost; more
    are opened on demand, one at a time, up to max, and closed when lost
    or idle. Each is set up (its statement_timeout) before it takes
    requests, watched (the watchdog drops one that stopped answering) and
    probed (SELECT 1 on idle ones). Requests go from the queue to the up
    connection with the fewest in flight, ZO_SQL_PIPELINE at most on
    each; zo_pq's answers come back here, a query's handed on to
    sql_query.c. The database's health and gauges follow from the
    connections' states.
*/
#include "sql_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zo_actor.h"

static void s_on_result (zo_pq_t *pq, const PGresult *res, const char *error, void *arg);
static void s_update (sql_db_t *db);

//  ---------------------------------------------------------------------
//  Connections

static int s_on_retry (zo_loop_t *loop, int id, void *arg);
static void s_on_pq_state (zo_pq_t *pq, bool up, const char *error, void *arg);

//  Requests on a connection: counted there and in the database's gauge.
static void
s_inflight_add (sql_conn_t *conn, int delta)
{
    sql_db_t *db = conn->db;
    if (delta > 0 && conn->inflight == 0)
        conn->answered_ms = zo_loop_now_ms (db->self->loop);
    conn->inflight = (uint32_t) ((int) conn->inflight + delta);
    db->inflight = (uint32_t) ((int) db->inflight + delta);
    *db->g_inflight = db->inflight;
    if (conn->inflight == 0)
        conn->idle_ms = zo_loop_now_ms (db->self->loop);
}

static void
s_retry_later (sql_conn_t *conn)
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
s_lost (sql_conn_t *conn, const char *why)
{
    sql_db_t *db = conn->db;
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
s_drop (sql_conn_t *conn, const char *why)
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
s_send_own (sql_conn_t *conn, sql_kind_t kind, const char *sql)
{
    sql_req_t *req = (sql_req_t *) calloc (1, sizeof (sql_req_t));
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
    sql_conn_t *conn = (sql_conn_t *) arg;
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
s_open (sql_conn_t *conn)
{
    sql_db_t *db = conn->db;
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
    sql_conn_t *conn = (sql_conn_t *) arg;
    conn->retry_timer = 0;
    (*conn->db->reconnects)++;
    s_open (conn);
    return 0;
}

//  How long a connection may stay silent with requests on it.
static uint64_t
s_hung_ms (const sql_db_t *db)
{
    return 2 * db->conf.statement_timeout_ms + 1000;
}

//  Closes a connection made on demand that nothing is in flight on.
static void
s_close_idle (sql_conn_t *conn, const char *why)
{
    sql_db_t *db = conn->db;
    zo_log_info ("sql %s: closing connection %d, %s", db->name, conn->index, why);
    zo_pq_destroy (&conn->pq);
    conn->state = C_IDLE;
    s_update (db);
}

//  Drops the connections that stopped answering, closes those made on
//  demand that stayed idle.
static int
s_on_watchdog (zo_loop_t *loop, int id, void *arg)
{
    sql_db_t *db = (sql_db_t *) arg;
    uint64_t now = zo_loop_now_ms (loop);
    for (uint32_t i = 0; i < db->conf.max; i++) {
        sql_conn_t *conn = &db->conns [i];
        if (conn->state != C_READY && conn->state != C_SETUP)
            continue;
        if (conn->inflight && now - conn->answered_ms >= s_hung_ms (db)) {
            char why [96];
            snprintf (why, sizeof (why), "no answer from the server in %" PRIu64 " ms",
                      s_hung_ms (db));
            s_drop (conn, why);
        }
        else
        if (!conn->inflight && i >= db->conf.min && now - conn->idle_ms >= ZO_SQL_IDLE_MS)
            s_close_idle (conn, "idle");
    }
    return 0;
}

uint32_t
zo__sql_conns_trim (sql_db_t *db)
{
    uint32_t closed = 0;
    for (uint32_t i = db->conf.min; i < db->conf.max; i++) {
        sql_conn_t *conn = &db->conns [i];
        if (conn->state == C_READY && !conn->inflight) {
            s_close_idle (conn, "idle, under pressure");
            closed++;
        }
    }
    return closed;
}

static int
s_on_health (zo_loop_t *loop, int id, void *arg)
{
    sql_db_t *db = (sql_db_t *) arg;
    for (uint32_t i = 0; i < db->conf.max; i++) {
        sql_conn_t *conn = &db->conns [i];
        if (conn->state == C_READY && !conn->inflight && s_send_own (conn, K_HEALTH, "SELECT 1"))
            s_drop (conn, "health check: cannot send");
    }
    return 0;
}

//  The gauges, the health, and the fall to "down": what is queued fails.
static void
s_update (sql_db_t *db)
{
    uint32_t ready = 0, open = 0, kept = 0;
    for (uint32_t i = 0; i < db->conf.max; i++) {
        sql_conn_t *conn = &db->conns [i];
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
        zo__sql_finish (db->head, ZO_ERR_UNAVAILABLE, why);
}

//  ---------------------------------------------------------------------
//  Answers from zo_pq

static void
s_on_result (zo_pq_t *pq, const PGresult *res, const char *error, void *arg)
{
    sql_req_t *req = (sql_req_t *) arg;
    sql_conn_t *conn = req->conn;
    sql_db_t *db = req->db;
    uint64_t now = zo_loop_now_ms (db->self->loop);
    req->on_pq = false;
    if (res) {
        conn->answered_ms = now;
        s_inflight_add (conn, -1);
        zo__sql_wake (db->self);    //  room on the connection
    }
    if (req->kind != K_QUERY) {
        sql_kind_t kind = req->kind;
        zo__sql_req_free (req);
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
    zo__sql_answer (req, res, error);
}

//  ---------------------------------------------------------------------
//  Dispatch

//  The up connection with the fewest in flight and room, or NULL.
static sql_conn_t *
s_pick (sql_db_t *db)
{
    sql_conn_t *best = NULL;
    for (uint32_t i = 0; i < db->conf.max; i++) {
        sql_conn_t *conn = &db->conns [i];
        if (conn->state == C_READY && conn->inflight < ZO_SQL_PIPELINE
        &&  (!best || conn->inflight < best->inflight))
            best = conn;
    }
    return best;
}

static void
s_send (sql_conn_t *conn, sql_req_t *req)
{
    //  Text parameters: libpq takes no lengths for them.
    if (zo_pq_send (conn->pq, req->sql, req->n_params, NULL, req->values, NULL, NULL, 0,
                    s_on_result, req)) {
        char why [128];
        snprintf (why, sizeof (why), "cannot send: %s", strerror (errno));
        zo__sql_finish (req, ZO_ERR_UPSTREAM, why);
        return;
    }
    req->on_pq = true;
    req->conn = conn;
    req->result.attempts = 1;
    s_inflight_add (conn, 1);
}

void
zo__sql_dispatch (sql_db_t *db)
{
    sql_conn_t *conn;
    while (db->head && (conn = s_pick (db))) {
        sql_req_t *req = db->head;
        zo__sql_unqueue (db, req);
        s_send (conn, req);
    }
    if (!db->head || db->down)
        return;
    sql_conn_t *idle = NULL;
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

//  ---------------------------------------------------------------------
//  Start and stop

int
zo__sql_conns_start (sql_db_t *db)
{
    zo_loop_t *loop = db->self->loop;
    uint64_t every = s_hung_ms (db) / 4;
    db->watchdog_timer = zo_loop_ticker (loop, every > 1000? 1000: every, s_on_watchdog, db);
    if (db->watchdog_timer < 0)
        return -1;
    if (db->conf.health_interval_ms) {
        db->health_timer = zo_loop_ticker (loop, db->conf.health_interval_ms, s_on_health, db);
        if (db->health_timer < 0)
            return -1;
    }
    //  A failed start is retried as any other (s_open).
    for (uint32_t k = 0; k < db->conf.min; k++)
        s_open (&db->conns [k]);
    return 0;
}

void
zo__sql_conns_stop (sql_db_t *db)
{
    zo_loop_t *loop = db->self->loop;
    if (db->watchdog_timer > 0)
        zo_loop_cancel (loop, db->watchdog_timer);
    if (db->health_timer > 0)
        zo_loop_cancel (loop, db->health_timer);
    for (uint32_t k = 0; db->conns && k < db->conf.max; k++) {
        sql_conn_t *conn = &db->conns [k];
        if (conn->retry_timer)
            zo_loop_cancel (loop, conn->retry_timer);
        //  Fails its requests: they join the done list, "stopping".
        zo_pq_destroy (&conn->pq);
        conn->state = C_IDLE;
    }
}
