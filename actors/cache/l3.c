/*  l3: see l3.h; what its files share, and how an operation lives and
    ends, is in l3_int.h. This file: the statements, the operations, the
    answers, and the interface. l3_inv.c runs the invalidations, l3_conn.c
    the connection (setup, retries, the watchdog) and the cleanup.
*/
#include "l3_int.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zo_actor.h"

#define S_TABLE         "zorch_cache"
#define S_LEN_MAX       (1u << 30)              //  a key or value, at most
#define S_EXPIRE_MAX    253402300799999ULL      //  9999-12-31T23:59:59.999Z

//  A row is there while it has not expired, on the server's clock.
#define S_LIVE          "(expires_at IS NULL OR expires_at > now())"
#define S_EXPIRY(p)     "CASE WHEN " p " = 0 THEN NULL ELSE to_timestamp (" p "::float8 / 1000) END"

//  The statements, prepared on each connect; {t} is the table's quoted
//  name. The _open variants are for a prefix with no upper bound (empty,
//  or all 0xff); they take the same parameters and ignore $2.
const zo__l3_stmt_t zo__l3_stmts [P_COUNT] = {
    { "zo_l3_get", "SELECT value, round (extract (epoch FROM expires_at) * 1000)::int8"
                   " FROM {t} WHERE key = $1 AND " S_LIVE,
      1, { ZO_L3_BYTEA } },
    { "zo_l3_set", "INSERT INTO {t} (key, value, expires_at) VALUES ($1, $2, " S_EXPIRY ("$3") ")"
                   " ON CONFLICT (key) DO UPDATE"
                   " SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at",
      3, { ZO_L3_BYTEA, ZO_L3_BYTEA, ZO_L3_INT8 } },
    { "zo_l3_del", "DELETE FROM {t} WHERE key = $1 AND " S_LIVE,
      1, { ZO_L3_BYTEA } },
    { "zo_l3_touch", "UPDATE {t} SET expires_at = " S_EXPIRY ("$2") " WHERE key = $1 AND " S_LIVE,
      2, { ZO_L3_BYTEA, ZO_L3_INT8 } },
    { "zo_l3_cleanup", "DELETE FROM {t} WHERE ctid IN"
                       " (SELECT ctid FROM {t} WHERE expires_at <= now () LIMIT $1)",
      1, { ZO_L3_INT8 } },
    { "zo_l3_like", "DELETE FROM {t} WHERE ctid IN (SELECT ctid FROM {t}"
                    " WHERE key >= $1 AND key < $2 AND key LIKE $3 AND " S_LIVE " LIMIT $4)",
      4, { ZO_L3_BYTEA, ZO_L3_BYTEA, ZO_L3_BYTEA, ZO_L3_INT8 } },
    { "zo_l3_like_open", "DELETE FROM {t} WHERE ctid IN (SELECT ctid FROM {t}"
                         " WHERE key >= $1 AND key LIKE $3 AND " S_LIVE " LIMIT $4)",
      4, { ZO_L3_BYTEA, ZO_L3_BYTEA, ZO_L3_BYTEA, ZO_L3_INT8 } },
    { "zo_l3_scan", "SELECT key FROM {t} WHERE key >= $1 AND key < $2 AND " S_LIVE
                    " ORDER BY key LIMIT $3",
      3, { ZO_L3_BYTEA, ZO_L3_BYTEA, ZO_L3_INT8 } },
    { "zo_l3_scan_open", "SELECT key FROM {t} WHERE key >= $1 AND " S_LIVE
                         " ORDER BY key LIMIT $3",
      3, { ZO_L3_BYTEA, ZO_L3_BYTEA, ZO_L3_INT8 } },
    { "zo_l3_del_keys", "DELETE FROM {t} WHERE key = ANY ($1) AND " S_LIVE,
      1, { ZO_L3_BYTEA_ARRAY } },
};

//  ---------------------------------------------------------------------
//  Small things

static uint64_t
s_get64 (const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p [i];
    return v;
}

//  A plain lower-case SQL identifier, short enough for its index's name.
static bool
s_identifier (const char *name)
{
    size_t len = strlen (name);
    if (len == 0 || len > ZO_L3_TABLE_MAX || (name [0] >= '0' && name [0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((name [i] >= 'a' && name [i] <= 'z') || (name [i] >= '0' && name [i] <= '9')
        ||    name [i] == '_'))
            return false;
    return true;
}

//  sql with {t} as the quoted table and {i} as its index. NULL: no memory.
static char *
s_sql (const char *sql, const char *table)
{
    size_t size = strlen (sql) + 1;
    for (const char *p = sql; (p = strchr (p, '{')); p++)
        size += strlen (table) + 16;
    char *out = (char *) malloc (size), *o = out;
    if (!out)
        return NULL;
    for (const char *p = sql; *p; p++)
        if (!strncmp (p, "{t}", 3) || !strncmp (p, "{i}", 3)) {
            o += sprintf (o, "\"%s%s\"", table, p [1] == 'i'? "_expires_at": "");
            p += 2;
        }
        else
            *o++ = *p;
    *o = 0;
    return out;
}

//  ---------------------------------------------------------------------
//  Operations

void
zo__l3_link (zo_l3_t *self, l3_op_t *op)
{
    if (!self->ops)
        self->answered_ms = zo_loop_now_ms (self->loop);
    op->prev = NULL;
    op->next = self->ops;
    if (self->ops)
        self->ops->prev = op;
    self->ops = op;
    if (op->kind < K_SETUP)
        *self->g_inflight = ++self->inflight;
}

void
zo__l3_unlink (zo_l3_t *self, l3_op_t *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        self->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
    if (op->kind < K_SETUP)
        *self->g_inflight = --self->inflight;
}

void
zo__l3_op_free (l3_op_t *op)
{
    int saved = errno;
    free (op->pattern);
    free (op->lo);
    free (op->hi);
    free (op);
    errno = saved;
}

//  Tells the caller how its operation ended (ok false: ERROR), and frees
//  it. The op is off the list already.
static void
s_tell (l3_op_t *op, bool ok, zo_level_rc_t rc, const void *value, size_t len,
        uint64_t expire_ms)
{
    if (op->kind == K_GET)
        op->get_fn (op->arg, ok? rc: ZO_LEVEL_ERROR, value, len, expire_ms);
    else
    if (op->done_fn)
        op->done_fn (op->arg, ok? 0: -1, ok? op->count: 0);
    zo__l3_op_free (op);
}

void
zo__l3_finish (zo_l3_t *self, l3_op_t *op, bool ok, zo_level_rc_t rc, const void *value,
               size_t len, uint64_t expire_ms)
{
    zo__l3_unlink (self, op);
    if (!ok)
        (*self->errors)++;
    else
    if (op->kind == K_GET)
        (*(rc == ZO_LEVEL_HIT? self->hits: self->misses))++;
    else
    if (op->kind == K_SET)
        (*self->sets)++;
    else
    if (op->kind == K_DEL)
        (*self->dels)++;
    s_tell (op, ok, rc, value, len, expire_ms);
}

int
zo__l3_send (zo_l3_t *self, l3_op_t *op, int stmt, const char *const *values, const int *lengths)
{
    static const int formats [4] = { 1, 1, 1, 1 };
    if (!self->pq || zo_pq_send_prepared (self->pq, zo__l3_stmts [stmt].name,
                                          zo__l3_stmts [stmt].n_params, values, lengths, formats,
                                          1, zo__l3_on_result, op)) {
        if (!self->pq || errno == EIO)
            errno = ENOTCONN;
        return -1;
    }
    return 0;
}

//  A new operation of the caller's, if the level takes one. NULL with
//  errno set.
static l3_op_t *
s_begin (zo_l3_t *self, l3_kind_t kind, size_t len)
{
    if (!self->up) {
        errno = ENOTCONN;
        return NULL;
    }
    if (len > S_LEN_MAX) {
        errno = EINVAL;
        return NULL;
    }
    if (self->inflight >= self->opts.max_inflight) {
        (*self->rejected)++;
        uint64_t now = zo_loop_now_ms (self->loop);
        if (!self->rejected_log_ms || now - self->rejected_log_ms >= 1000) {
            self->rejected_log_ms = now;
            zo_log_warning ("l3: %" PRIu32 " operations in flight, refusing more (%" PRIu64
                            " refused so far)", self->inflight, *self->rejected);
        }
        errno = EAGAIN;
        return NULL;
    }
    l3_op_t *op = (l3_op_t *) calloc (1, sizeof (l3_op_t));
    if (!op) {
        errno = ENOMEM;
        return NULL;
    }
    op->self = self;
    op->kind = kind;
    return op;
}

//  Sends op's first request and lists it; on failure frees it. 0 or -1.
static int
s_go (zo_l3_t *self, l3_op_t *op, int stmt, const char *const *values, const int *lengths)
{
    if (zo__l3_send (self, op, stmt, values, lengths)) {
        zo__l3_op_free (op);
        return -1;
    }
    zo__l3_link (self, op);
    return 0;
}

//  ---------------------------------------------------------------------
//  Answers

static void
s_free (zo_l3_t *self)
{
    for (int i = 0; i < P_COUNT; i++)
        free (self->sql [i]);
    for (int i = 0; i < Q_COUNT; i++)
        free (self->setup [i]);
    free ((char *) self->opts.table);
    free (self->conninfo);
    free (self->keybuf);
    free (self);
}

void
zo__l3_leave (zo_l3_t *self)
{
    if (--self->depth == 0 && self->doomed && !self->pq_dying)
        s_free (self);
}

static void
s_on_reply (zo_l3_t *self, l3_op_t *op, const PGresult *res)
{
    if (op->kind != K_GET) {
        op->count = op->kind == K_SET? 1: zo__l3_rows (res);
        zo__l3_finish (self, op, true, ZO_LEVEL_HIT, NULL, 0, 0);
        return;
    }
    if (PQntuples (res) == 0) {
        zo__l3_finish (self, op, true, ZO_LEVEL_MISS, NULL, 0, 0);
        return;
    }
    //  What the server sends cannot reach an assert: an odd shape is an
    //  ERROR.
    if (PQnfields (res) != 2
    ||  (!PQgetisnull (res, 0, 1) && PQgetlength (res, 0, 1) != 8)) {
        zo__l3_finish (self, op, false, ZO_LEVEL_ERROR, NULL, 0, 0);
        return;
    }
    uint64_t expire_ms = PQgetisnull (res, 0, 1)
                       ? 0: s_get64 ((const unsigned char *) PQgetvalue (res, 0, 1));
    zo__l3_finish (self, op, true, ZO_LEVEL_HIT, PQgetvalue (res, 0, 0),
                   (size_t) PQgetlength (res, 0, 0), expire_ms);
}

void
zo__l3_on_result (zo_pq_t *pq, const PGresult *res, const char *error, void *arg)
{
    l3_op_t *op = (l3_op_t *) arg;
    zo_l3_t *self = op->self;
    if (!self) {
        zo__l3_op_free (op);             //  its caller heard in zo_l3_destroy
        return;
    }
    self->depth++;
    self->answered_ms = zo_loop_now_ms (self->loop);
    //  The connection fails its requests before its on_state: we must
    //  live until then, whatever the callbacks do.
    if (!res && pq == self->pq)
        self->pq_dying = true;
    if (op->kind == K_SETUP)
        zo__l3_on_setup (self, op, pq, res, error);
    else
    if (op->kind == K_CLEANUP)
        zo__l3_on_cleanup (self, op, res, error);
    else
    if (!res || error)
        zo__l3_finish (self, op, false, ZO_LEVEL_ERROR, NULL, 0, 0);
    else
    if (op->kind == K_INVALIDATE)
        zo__l3_on_invalidate (self, op, res);
    else
        s_on_reply (self, op, res);
    zo__l3_leave (self);
}

//  ---------------------------------------------------------------------
//  The interface

zo_l3_t *
zo_l3_new (zo_loop_t *loop, const zo_l3_opts_t *opts)
{
    assert (loop);
    assert (opts);
    const char *table = opts->table? opts->table: S_TABLE;
    if (!opts->conninfo || !s_identifier (table)) {
        errno = EINVAL;
        return NULL;
    }
    zo_l3_t *self = (zo_l3_t *) calloc (1, sizeof (zo_l3_t));
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    self->loop = loop;
    self->opts = *opts;
    zo_l3_opts_t *o = &self->opts;
    o->table = strdup (table);
    self->conninfo = strdup (opts->conninfo);
    o->conninfo = self->conninfo;
    if (!o->connect_timeout_ms)
        o->connect_timeout_ms = 2000;
    if (!o->statement_timeout_ms)
        o->statement_timeout_ms = 1000;
    if (o->statement_timeout_ms > INT32_MAX)
        o->statement_timeout_ms = INT32_MAX;    //  the server's limit
    if (!o->backoff_min_ms)
        o->backoff_min_ms = 100;
    if (!o->backoff_max_ms)
        o->backoff_max_ms = 5000;
    if (o->backoff_max_ms < o->backoff_min_ms)
        o->backoff_max_ms = o->backoff_min_ms;
    if (!o->cleanup_batch)
        o->cleanup_batch = 10000;
    if (!o->max_inflight)
        o->max_inflight = 10000;
    if (o->max_inflight > UINT32_MAX - ZO_L3_HEADROOM)
        o->max_inflight = UINT32_MAX - ZO_L3_HEADROOM;
    zo_backoff_init (&self->backoff, o->backoff_min_ms, o->backoff_max_ms);

    uint64_t **counters [] = { &self->hits, &self->misses, &self->errors, &self->sets,
                               &self->dels, &self->invalidated, &self->expired,
                               &self->reconnects, &self->rejected };
    const char *names [] = { "l3_hits_total", "l3_misses_total", "l3_errors_total",
                             "l3_sets_total", "l3_dels_total", "l3_invalidated_total",
                             "l3_expired_removed_total", "l3_reconnects_total",
                             "l3_rejected_total" };
    for (size_t i = 0; i < sizeof (names) / sizeof (names [0]); i++)
        *counters [i] = o->stats? zo_stats_counter (o->stats, names [i]): &self->sink [i];
    self->g_up = o->stats? zo_stats_gauge (o->stats, "l3_up"): &self->gsink [0];
    self->g_inflight = o->stats? zo_stats_gauge (o->stats, "l3_inflight"): &self->gsink [1];
    *self->g_up = 0;
    *self->g_inflight = 0;

    if (!o->table || !self->conninfo)
        goto err;
    char timeout [64];
    snprintf (timeout, sizeof (timeout), "SET statement_timeout = %" PRIu64,
              o->statement_timeout_ms);
    const char *setup [Q_COUNT] = {
        //  No NOTICE on stderr for a table or index already there.
        [Q_QUIET] = "SET client_min_messages = warning",
        [Q_TIMEOUT] = timeout,
        [Q_TABLE] = "CREATE TABLE IF NOT EXISTS {t}"
                    " (key bytea PRIMARY KEY, value bytea NOT NULL, expires_at timestamptz)",
        [Q_INDEX] = "CREATE INDEX IF NOT EXISTS {i} ON {t} (expires_at)",
    };
    for (int i = 0; i < Q_COUNT; i++)
        if (!(self->setup [i] = s_sql (setup [i], o->table)))
            goto err;
    for (int i = 0; i < P_COUNT; i++)
        if (!(self->sql [i] = s_sql (zo__l3_stmts [i].sql, o->table)))
            goto err;
    zo_pq_opts_t pq_opts = { .on_state = zo__l3_on_pq_state, .arg = self,
                             .connect_timeout_ms = o->connect_timeout_ms,
                             .max_inflight = o->max_inflight + ZO_L3_HEADROOM };
    self->pq = zo_pq_new (loop, self->conninfo, &pq_opts);
    if (!self->pq)
        goto err;
    uint64_t every = zo__l3_hung_ms (self) / 4;
    self->watchdog_timer = zo_loop_ticker (loop, every > 5000? 5000: every,
                                           zo__l3_on_watchdog, self);
    if (self->watchdog_timer < 0) {
        self->watchdog_timer = 0;
        goto err;
    }
    if (o->cleanup_interval_ms) {
        self->cleanup_timer = zo_loop_ticker (loop, o->cleanup_interval_ms,
                                              zo__l3_on_cleanup_tick, self);
        if (self->cleanup_timer < 0) {
            self->cleanup_timer = 0;
            goto err;
        }
    }
    return self;
err:
    if (self->watchdog_timer)
        zo_loop_cancel (loop, self->watchdog_timer);
    zo_pq_destroy (&self->pq);
    s_free (self);
    errno = ENOMEM;
    return NULL;
}

void
zo_l3_destroy (zo_l3_t **self_p)
{
    assert (self_p);
    zo_l3_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    if (self->doomed)
        return;
    self->doomed = true;
    self->up = false;
    *self->g_up = 0;
    self->depth++;
    if (self->retry_timer)
        zo_loop_cancel (self->loop, self->retry_timer);
    if (self->cleanup_timer)
        zo_loop_cancel (self->loop, self->cleanup_timer);
    if (self->watchdog_timer)
        zo_loop_cancel (self->loop, self->watchdog_timer);
    self->retry_timer = self->cleanup_timer = self->watchdog_timer = 0;
    //  Fails every request still in flight: the callers hear ERROR.
    zo_pq_destroy (&self->pq);
    //  Called from inside the connection's own failure, the requests it
    //  has not failed yet are still listed: the callers hear now, and the
    //  answers, when they come, find the operations detached.
    while (self->ops) {
        l3_op_t *op = self->ops;
        zo__l3_unlink (self, op);
        op->self = NULL;
        if (op->kind < K_SETUP) {
            (*self->errors)++;
            if (op->kind == K_GET)
                op->get_fn (op->arg, ZO_LEVEL_ERROR, NULL, 0, 0);
            else
            if (op->done_fn)
                op->done_fn (op->arg, -1, 0);
        }
    }
    zo__l3_leave (self);
}

bool
zo_l3_up (const zo_l3_t *self)
{
    assert (self);
    return self->up;
}

//  A key's parameter: libpq takes a NULL value for SQL NULL.
#define S_BYTES(p, len) ((len)? (const char *) (p): "")

int
zo_l3_get (zo_l3_t *self, const void *key, size_t len, zo_level_get_fn *fn, void *arg)
{
    assert (self);
    assert (key || !len);
    assert (fn);
    l3_op_t *op = s_begin (self, K_GET, len);
    if (!op)
        return -1;
    op->get_fn = fn;
    op->arg = arg;
    const char *values [] = { S_BYTES (key, len) };
    int lengths [] = { (int) len };
    return s_go (self, op, P_GET, values, lengths);
}

int
zo_l3_set (zo_l3_t *self, const void *key, size_t len, const void *value, size_t vlen,
           uint64_t expire_ms, zo_level_done_fn *fn, void *arg)
{
    assert (self);
    assert ((key || !len) && (value || !vlen));
    l3_op_t *op = s_begin (self, K_SET, len > vlen? len: vlen);
    if (!op)
        return -1;
    op->done_fn = fn;
    op->arg = arg;
    unsigned char expire [8];
    zo__l3_put64 (expire, expire_ms > S_EXPIRE_MAX? S_EXPIRE_MAX: expire_ms);
    const char *values [] = { S_BYTES (key, len), S_BYTES (value, vlen), (const char *) expire };
    int lengths [] = { (int) len, (int) vlen, 8 };
    return s_go (self, op, P_SET, values, lengths);
}

int
zo_l3_del (zo_l3_t *self, const void *key, size_t len, zo_level_done_fn *fn, void *arg)
{
    assert (self);
    assert (key || !len);
    l3_op_t *op = s_begin (self, K_DEL, len);
    if (!op)
        return -1;
    op->done_fn = fn;
    op->arg = arg;
    const char *values [] = { S_BYTES (key, len) };
    int lengths [] = { (int) len };
    return s_go (self, op, P_DEL, values, lengths);
}

int
zo_l3_touch (zo_l3_t *self, const void *key, size_t len, uint64_t expire_ms,
             zo_level_done_fn *fn, void *arg)
{
    assert (self);
    assert (key || !len);
    l3_op_t *op = s_begin (self, K_TOUCH, len);
    if (!op)
        return -1;
    op->done_fn = fn;
    op->arg = arg;
    unsigned char expire [8];
    zo__l3_put64 (expire, expire_ms > S_EXPIRE_MAX? S_EXPIRE_MAX: expire_ms);
    const char *values [] = { S_BYTES (key, len), (const char *) expire };
    int lengths [] = { (int) len, 8 };
    return s_go (self, op, P_TOUCH, values, lengths);
}

int
zo_l3_invalidate (zo_l3_t *self, const char *pattern, size_t len, zo_level_done_fn *fn,
                  void *arg)
{
    assert (self);
    assert (pattern || !len);
    l3_op_t *op = s_begin (self, K_INVALIDATE, 2 * len);
    if (!op)
        return -1;
    op->done_fn = fn;
    op->arg = arg;
    if (zo__l3_inv_parse (op, pattern, len) || zo__l3_inv_send (self, op, NULL, 0)) {
        zo__l3_op_free (op);
        return -1;
    }
    zo__l3_link (self, op);
    return 0;
}
