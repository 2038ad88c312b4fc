/*  sql: see sql.h; the files' shared records and the life of a request
    are in sql_int.h.

    This file makes and destroys the databases (their confs checked and
    defaulted, their stats) and runs the wake: the one place callers are
    told, which then dispatches every database's queue. A request's life
    is in sql_query.c, the connections in sql_conn.c.

    Destroying runs inside callbacks too: the record is freed by whoever
    leaves it last (depth counts those inside it).
*/
#include "sql_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zo_actor.h"

//  ---------------------------------------------------------------------
//  The wake

static void
s_free (zo_databases_t *self)
{
    for (size_t i = 0; i < self->n; i++) {
        sql_db_t *db = &self->dbs [i];
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
    sql_req_t *tail = self->done_tail;
    while (self->done_head && !self->doomed) {
        sql_req_t *req = self->done_head;
        self->done_head = req->next;
        if (!self->done_head)
            self->done_tail = NULL;
        req->next = NULL;
        req->done = false;
        zo__sql_tell (req);
        if (req == tail)
            break;
    }
    for (size_t i = 0; i < self->n && !self->doomed; i++)
        zo__sql_dispatch (&self->dbs [i]);
    s_leave (self);
    return 0;
}

void
zo__sql_wake (zo_databases_t *self)
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

sql_db_t *
zo__sql_find (const zo_databases_t *self, const char *name)
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
s_metrics (sql_db_t *db, zo_stats_t *stats)
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
    if (!self || !(self->dbs = (sql_db_t *) calloc (n? n: 1, sizeof (sql_db_t))))
        goto nomem;
    self->loop = loop;
    for (size_t i = 0; i < n; i++) {
        sql_db_t *db = &self->dbs [i];
        db->self = self;
        db->conf = confs [i];
        snprintf (db->name, sizeof (db->name), "%s", confs [i].name);
        db->conf.name = db->name;
        db->conninfo = strdup (confs [i].conninfo);
        db->conf.conninfo = db->conninfo;
        db->conns = (sql_conn_t *) calloc (db->conf.max, sizeof (sql_conn_t));
        self->n++;
        if (!db->conninfo || !db->conns)
            goto nomem;
        snprintf (db->setup_sql, sizeof (db->setup_sql), "SET statement_timeout = %" PRIu64,
                  db->conf.statement_timeout_ms);
        s_metrics (db, stats);
        for (uint32_t k = 0; k < db->conf.max; k++) {
            sql_conn_t *conn = &db->conns [k];
            conn->db = db;
            conn->index = (int) k;
            zo_backoff_init (&conn->backoff, db->conf.backoff_min_ms, db->conf.backoff_max_ms);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (zo__sql_conns_start (&self->dbs [i]))
            goto nomem;
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
        sql_db_t *db = &self->dbs [i];
        zo__sql_conns_stop (db);
        while (db->head)
            zo__sql_finish (db->head, ZO_ERR_UNAVAILABLE, "stopping");
    }
    //  zo__sql_finish woke nobody (doomed): every caller hears now.
    while (self->done_head) {
        sql_req_t *req = self->done_head;
        self->done_head = req->next;
        if (!self->done_head)
            self->done_tail = NULL;
        req->done = false;
        zo__sql_tell (req);
    }
    s_leave (self);
}

bool
zo_databases_has (const zo_databases_t *self, const char *name)
{
    assert (self);
    return name && zo__sql_find (self, name);
}

zo_health_t
zo_databases_health (const zo_databases_t *self, const char *database)
{
    assert (self);
    const sql_db_t *db = database? zo__sql_find (self, database): NULL;
    return db? (zo_health_t) *db->g_health: ZO_HEALTH_DOWN;
}

uint32_t
zo_databases_trim (zo_databases_t *self)
{
    assert (self);
    uint32_t closed = 0;
    for (size_t i = 0; !self->doomed && i < self->n; i++)
        closed += zo__sql_conns_trim (&self->dbs [i]);
    return closed;
}
