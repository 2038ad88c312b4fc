/*  sql_query: a request's life (see sql_int.h), from zo_databases_query
    to its caller told: queued in its database's FIFO, its deadline, its
    outcome on the done list, the server's answer turned into msgpack rows
    or an error code, the caller told and counted. Sending it on a
    connection is sql_conn.c's; telling happens from sql.c's wake.
*/
#include "sql_int.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zo_actor.h"

//  Type OIDs (catalog/pg_type_d.h, not in libpq's headers).
#define S_BOOL      16
#define S_INT8      20
#define S_INT2      21
#define S_INT4      23
#define S_FLOAT4    700
#define S_FLOAT8    701

#define S_QUERY_CANCELED    "57014"

//  ---------------------------------------------------------------------
//  Requests

void
zo__sql_req_free (sql_req_t *req)
{
    if (req->timer)
        zo_loop_cancel (req->db->self->loop, req->timer);
    msgpack_sbuffer_destroy (&req->out);
    free (req);
}

void
zo__sql_unqueue (sql_db_t *db, sql_req_t *req)
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

//  The request's outcome is known: it goes on the done list, off its
//  queue and its timer; the caller hears from the wake (sql.c).
void
zo__sql_finish (sql_req_t *req, zo_err_t error, const char *reason)
{
    assert (req->kind == K_QUERY && !req->finished);
    zo_databases_t *self = req->db->self;
    if (req->queued)
        zo__sql_unqueue (req->db, req);
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
    zo__sql_wake (self);
}

//  Tells the caller, counts, and frees the request unless zo_pq still
//  holds it.
void
zo__sql_tell (sql_req_t *req)
{
    sql_db_t *db = req->db;
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
        zo__sql_req_free (req);
}

//  The deadline passed: queued or in flight, the caller hears TIMEOUT.
static int
s_on_deadline (zo_loop_t *loop, int id, void *arg)
{
    sql_req_t *req = (sql_req_t *) arg;
    req->timer = 0;
    char why [96];
    snprintf (why, sizeof (why), "%s within %" PRIu64 " ms",
              req->on_pq? "no answer": "no connection free", req->timeout_ms);
    zo__sql_finish (req, ZO_ERR_TIMEOUT, why);
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
s_convert (sql_req_t *req, const PGresult *res)
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
            zo__sql_finish (req, ZO_ERR_UPSTREAM, "result too large");
            return;
        }
    }
    if (rc) {
        zo__sql_finish (req, ZO_ERR_UPSTREAM, "out of memory for the result");
        return;
    }
    req->result.columns = req->out.data;
    req->result.columns_len = columns_len;
    req->result.rows = req->out.data + columns_len;
    req->result.rows_len = req->out.size - columns_len;
    req->result.count = (uint32_t) rows;
    zo__sql_finish (req, ZO_ERR_NONE, "");
}

static void
s_on_answer (sql_req_t *req, const PGresult *res, const char *error)
{
    if (!res) {
        sql_db_t *db = req->db;
        const char *why = req->conn && req->conn->drop_why? req->conn->drop_why: error;
        if (db->self->doomed)
            zo__sql_finish (req, ZO_ERR_UNAVAILABLE, "stopping");
        else {
            snprintf (req->reason, sizeof (req->reason), "connection lost: %s", why);
            zo__sql_finish (req, ZO_ERR_UPSTREAM, req->reason);
        }
        return;
    }
    if (error) {
        const char *state = PQresultErrorField ((PGresult *) res, PG_DIAG_SQLSTATE);
        const char *primary = PQresultErrorField ((PGresult *) res, PG_DIAG_MESSAGE_PRIMARY);
        snprintf (req->sqlstate, sizeof (req->sqlstate), "%s", state? state: "");
        zo__sql_finish (req, state && !strcmp (state, S_QUERY_CANCELED)? ZO_ERR_TIMEOUT
                                                                      : ZO_ERR_UPSTREAM,
                        primary? primary: error);
        return;
    }
    if (PQresultStatus (res) == PGRES_TUPLES_OK)
        s_convert (req, res);
    else {
        req->result.count = (uint32_t) strtoul (PQcmdTuples ((PGresult *) res), NULL, 10);
        zo__sql_finish (req, ZO_ERR_NONE, "");
    }
}

void
zo__sql_answer (sql_req_t *req, const PGresult *res, const char *error)
{
    if (req->finished) {
        req->conn = NULL;
        if (!req->done)
            zo__sql_req_free (req);     //  told already
        return;
    }
    s_on_answer (req, res, error);
    req->conn = NULL;
}

//  ---------------------------------------------------------------------
//  The request

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
    sql_db_t *db = zo__sql_find (self, database);
    if (!db) {
        errno = ENOENT;
        return -1;
    }
    //  The struct, the pointers, the statement and the values in one block.
    bool bad = n_params > ZO_SQL_PARAMS_MAX || !*sql;
    size_t size = sizeof (sql_req_t) + strlen (sql) + 1;
    if (!bad)
        size += n_params * sizeof (char *);
    for (size_t i = 0; i < n_params && !bad; i++)
        if (values [i]) {
            size_t len = strlen (values [i]);
            if (lengths && lengths [i] != len)
                bad = true;
            size += len + 1;
        }
    sql_req_t *req = (sql_req_t *) calloc (1, size);
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
        zo__sql_req_free (req);
        errno = ENOMEM;
        return -1;
    }
    if (bad)
        zo__sql_finish (req, ZO_ERR_BAD_VALUE, !*sql? "empty statement"
                      : n_params > ZO_SQL_PARAMS_MAX? "too many parameters"
                      : "a parameter's length is not its text's (a NUL byte inside?)");
    else
    if (db->down) {
        char why [320];
        snprintf (why, sizeof (why), "no connection to the database: %s", db->error);
        zo__sql_finish (req, ZO_ERR_UNAVAILABLE, why);
    }
    else
    if (db->queued >= db->conf.queue_max) {
        uint64_t now = zo_loop_now_ms (self->loop);
        if (now - db->full_log_ms >= 1000 || !db->full_log_ms) {
            db->full_log_ms = now;
            zo_log_warning ("sql %s: %" PRIu32 " requests queued, refusing more", db->name,
                            db->queued);
        }
        zo__sql_finish (req, ZO_ERR_UNAVAILABLE, "queue full");
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
        zo__sql_wake (self);
    }
    return 0;
}
