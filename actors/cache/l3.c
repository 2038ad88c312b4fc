/*  l3: see l3.h.

    Every request on the connection carries an s_op_t: the caller's
    operations (get ... invalidate) and the level's own (the setup after a
    connect, the cleanup). The ones waiting for an answer are on a list,
    so that zo_l3_destroy finds them.

    Callbacks may destroy the level. Handlers count themselves in (depth)
    and the memory goes when the last one leaves. One case needs more:
    when the server goes away, zo_pq fails its requests one by one and then
    calls on_state, even if a failed request's callback destroyed the
    connection meanwhile; so the level outlives that on_state (pq_dying),
    and an operation whose answer comes after zo_l3_destroy was detached
    from the level (its caller heard ERROR already): it is only freed.
*/
#include "l3.h"

#include <assert.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zo_actor.h"
#include "zo_backoff.h"
#include "zo_pq.h"

#define S_TABLE         "zorch_cache"
#define S_LEN_MAX       (1u << 30)              //  a key or value, at most
#define S_EXPIRE_MAX    253402300799999ULL      //  9999-12-31T23:59:59.999Z
#define S_HEADROOM      16                      //  requests besides operations

//  Type OIDs (catalog/pg_type_d.h, not in libpq's headers).
#define S_BYTEA         17
#define S_INT8          20
#define S_BYTEA_ARRAY   1001

//  A row is there while it has not expired, on the server's clock.
#define S_LIVE          "(expires_at IS NULL OR expires_at > now())"
#define S_EXPIRY(p)     "CASE WHEN " p " = 0 THEN NULL ELSE to_timestamp (" p "::float8 / 1000) END"

//  The statements, prepared on each connect; {t} is the table's quoted
//  name. The _open variants are for a prefix with no upper bound (empty,
//  or all 0xff); they take the same parameters and ignore $2.
enum { P_GET, P_SET, P_DEL, P_TOUCH, P_CLEANUP, P_LIKE, P_LIKE_OPEN, P_SCAN, P_SCAN_OPEN,
       P_DEL_KEYS, P_COUNT };

static const struct {
    const char *name;
    const char *sql;
    int n_params;
    Oid types [4];
} s_stmts [P_COUNT] = {
    { "zo_l3_get", "SELECT value, round (extract (epoch FROM expires_at) * 1000)::int8"
                   " FROM {t} WHERE key = $1 AND " S_LIVE,
      1, { S_BYTEA } },
    { "zo_l3_set", "INSERT INTO {t} (key, value, expires_at) VALUES ($1, $2, " S_EXPIRY ("$3") ")"
                   " ON CONFLICT (key) DO UPDATE"
                   " SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at",
      3, { S_BYTEA, S_BYTEA, S_INT8 } },
    { "zo_l3_del", "DELETE FROM {t} WHERE key = $1 AND " S_LIVE,
      1, { S_BYTEA } },
    { "zo_l3_touch", "UPDATE {t} SET expires_at = " S_EXPIRY ("$2") " WHERE key = $1 AND " S_LIVE,
      2, { S_BYTEA, S_INT8 } },
    { "zo_l3_cleanup", "DELETE FROM {t} WHERE ctid IN"
                       " (SELECT ctid FROM {t} WHERE expires_at <= now () LIMIT $1)",
      1, { S_INT8 } },
    { "zo_l3_like", "DELETE FROM {t} WHERE ctid IN (SELECT ctid FROM {t}"
                    " WHERE key >= $1 AND key < $2 AND key LIKE $3 AND " S_LIVE " LIMIT $4)",
      4, { S_BYTEA, S_BYTEA, S_BYTEA, S_INT8 } },
    { "zo_l3_like_open", "DELETE FROM {t} WHERE ctid IN (SELECT ctid FROM {t}"
                         " WHERE key >= $1 AND key LIKE $3 AND " S_LIVE " LIMIT $4)",
      4, { S_BYTEA, S_BYTEA, S_BYTEA, S_INT8 } },
    { "zo_l3_scan", "SELECT key FROM {t} WHERE key >= $1 AND key < $2 AND " S_LIVE
                    " ORDER BY key LIMIT $3",
      3, { S_BYTEA, S_BYTEA, S_INT8 } },
    { "zo_l3_scan_open", "SELECT key FROM {t} WHERE key >= $1 AND " S_LIVE
                         " ORDER BY key LIMIT $3",
      3, { S_BYTEA, S_BYTEA, S_INT8 } },
    { "zo_l3_del_keys", "DELETE FROM {t} WHERE key = ANY ($1) AND " S_LIVE,
      1, { S_BYTEA_ARRAY } },
};

//  The setup before them, in order.
enum { Q_QUIET, Q_TIMEOUT, Q_TABLE, Q_INDEX, Q_COUNT };
//  The connection takes max_inflight operations and the level's own
//  requests: the whole setup, or a cleanup batch.
_Static_assert (Q_COUNT + P_COUNT <= S_HEADROOM, "room for the setup");

typedef enum { K_GET, K_SET, K_DEL, K_TOUCH, K_INVALIDATE, K_SETUP, K_CLEANUP } s_kind_t;

typedef struct s_op {
    struct s_op *prev, *next;       //  the level's list
    zo_l3_t *self;                  //  NULL once detached by zo_l3_destroy
    s_kind_t kind;
    zo_level_get_fn *get_fn;
    zo_level_done_fn *done_fn;
    void *arg;
    //  An invalidation, which takes several requests.
    uint64_t count;                 //  rows deleted so far
    bool glob;                      //  with a class: scan and fnmatch
    bool deleting;                  //  glob: this request deletes a page's matches
    bool more;                      //  glob: that page was full
    char *pattern;                  //  the LIKE pattern; the glob (NUL-terminated)
    size_t pattern_len;
    unsigned char *lo, *hi;         //  the key range: lo <= key < hi (hi NULL: open)
    size_t lo_len, hi_len;
} s_op_t;

struct _zo_l3_t {
    zo_loop_t *loop;
    zo_l3_opts_t opts;              //  its strings are ours below
    char *conninfo;
    char *sql [P_COUNT];
    char *setup [Q_COUNT];
    zo_pq_t *pq;                    //  NULL after a failed setup, until the retry
    bool up;                        //  connected, and the setup done
    bool down_told;                 //  on_state (false) said since the last up
    uint32_t setup_left;            //  setup requests not answered yet
    int retry_timer, cleanup_timer, watchdog_timer;
    uint64_t answered_ms;           //  the last answer, or when requests began
    zo_backoff_t backoff;           //  the wait before the next retry
    bool cleaning;
    s_op_t *ops;                    //  waiting for an answer
    uint32_t inflight;              //  the caller's among them
    uint64_t rejected_log_ms;
    char *keybuf;                   //  a key NUL-terminated, for fnmatch
    size_t keybuf_size;
    int depth;
    bool doomed, pq_dying;
    //  Metrics, pointing into opts.stats, or at the sinks without one.
    uint64_t *hits, *misses, *errors, *sets, *dels, *invalidated, *expired, *reconnects,
             *rejected;
    double *g_up, *g_inflight;
    uint64_t sink [9];
    double gsink [2];
};

static void s_on_result (zo_pq_t *pq, const PGresult *res, const char *error, void *arg);

//  ---------------------------------------------------------------------
//  Small things

static void
s_put64 (unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p [i] = (unsigned char) v;
}

static uint64_t
s_get64 (const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p [i];
    return v;
}

static void
s_put32 (unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p [i] = (unsigned char) v;
}

//  The rows a command changed, from its tag.
static uint64_t
s_rows (const PGresult *res)
{
    return strtoull (PQcmdTuples ((PGresult *) res), NULL, 10);
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

static void
s_link (zo_l3_t *self, s_op_t *op)
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

static void
s_unlink (zo_l3_t *self, s_op_t *op)
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

static void
s_op_free (s_op_t *op)
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
s_tell (s_op_t *op, bool ok, zo_level_rc_t rc, const void *value, size_t len,
        uint64_t expire_ms)
{
    if (op->kind == K_GET)
        op->get_fn (op->arg, ok? rc: ZO_LEVEL_ERROR, value, len, expire_ms);
    else
    if (op->done_fn)
        op->done_fn (op->arg, ok? 0: -1, ok? op->count: 0);
    s_op_free (op);
}

//  The operation ended: off the list, counted, told.
static void
s_finish (zo_l3_t *self, s_op_t *op, bool ok, zo_level_rc_t rc, const void *value,
          size_t len, uint64_t expire_ms)
{
    s_unlink (self, op);
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

//  Sends statement stmt for op, every parameter binary, results binary.
//  0, or -1 with errno (EIO, the connection failing, as ENOTCONN).
static int
s_send (zo_l3_t *self, s_op_t *op, int stmt, const char *const *values, const int *lengths)
{
    static const int formats [4] = { 1, 1, 1, 1 };
    if (!self->pq || zo_pq_send_prepared (self->pq, s_stmts [stmt].name,
                                          s_stmts [stmt].n_params, values, lengths, formats,
                                          1, s_on_result, op)) {
        if (!self->pq || errno == EIO)
            errno = ENOTCONN;
        return -1;
    }
    return 0;
}

//  A new operation of the caller's, if the level takes one. NULL with
//  errno set.
static s_op_t *
s_begin (zo_l3_t *self, s_kind_t kind, size_t len)
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
    s_op_t *op = (s_op_t *) calloc (1, sizeof (s_op_t));
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
s_go (zo_l3_t *self, s_op_t *op, int stmt, const char *const *values, const int *lengths)
{
    if (s_send (self, op, stmt, values, lengths)) {
        s_op_free (op);
        return -1;
    }
    s_link (self, op);
    return 0;
}

//  ---------------------------------------------------------------------
//  Invalidation

//  The smallest key greater than every key starting with prefix, into
//  op->hi; none (hi NULL) for an empty prefix or one of 0xff bytes only.
static void
s_upper_bound (s_op_t *op)
{
    size_t len = op->lo_len;
    while (len && op->lo [len - 1] == 0xff)
        len--;
    if (len == 0)
        return;
    memcpy (op->hi, op->lo, len);
    op->hi [len - 1]++;
    op->hi_len = len;
}

//  Reads the glob into op: the literal prefix (lo, hi), and either the
//  LIKE pattern or, with a class, the glob for fnmatch. 0, or -1 with
//  errno (ENOMEM; EINVAL for a NUL byte in a glob with a class).
static int
s_parse (s_op_t *op, const char *glob, size_t len)
{
    op->lo = (unsigned char *) malloc (len + 1);
    op->hi = (unsigned char *) malloc (len + 1);
    op->pattern = (char *) malloc (2 * len + 1);
    if (!op->lo || !op->hi || !op->pattern) {
        errno = ENOMEM;
        return -1;
    }
    bool prefix = true;
    char *like = op->pattern;
    for (size_t i = 0; i < len; i++) {
        char c = glob [i];
        if (c == '*' || c == '?') {
            *like++ = c == '*'? '%': '_';
            prefix = false;
            continue;
        }
        if (c == '[') {
            op->glob = true;
            break;
        }
        //  A backslash escapes the next byte; a last one is itself.
        if (c == '\\' && i + 1 < len)
            c = glob [++i];
        if (prefix)
            op->lo [op->lo_len++] = (unsigned char) c;
        if (c == '%' || c == '_' || c == '\\')
            *like++ = '\\';
        *like++ = c;
    }
    op->pattern_len = (size_t) (like - op->pattern);
    if (op->glob) {
        if (memchr (glob, 0, len)) {
            errno = EINVAL;
            return -1;
        }
        memcpy (op->pattern, glob, len);
        op->pattern [len] = 0;
        op->pattern_len = len;
    }
    s_upper_bound (op);
    if (!op->hi_len) {
        free (op->hi);
        op->hi = NULL;
    }
    return 0;
}

//  The next request of an invalidation: a LIKE batch, a page of keys, or
//  the deletion of a page's matches (in array, array_len).
static int
s_inv_send (zo_l3_t *self, s_op_t *op, const unsigned char *array, size_t array_len)
{
    unsigned char limit [8];
    s_put64 (limit, self->opts.cleanup_batch);
    const char *lo = op->lo_len? (const char *) op->lo: "";
    const char *hi = op->hi? (const char *) op->hi: "";
    if (op->deleting) {
        const char *values [] = { (const char *) array };
        int lengths [] = { (int) array_len };
        return s_send (self, op, P_DEL_KEYS, values, lengths);
    }
    if (op->glob) {
        const char *values [] = { lo, hi, (const char *) limit };
        int lengths [] = { (int) op->lo_len, (int) op->hi_len, 8 };
        return s_send (self, op, op->hi? P_SCAN: P_SCAN_OPEN, values, lengths);
    }
    const char *values [] = { lo, hi, op->pattern_len? op->pattern: "", (const char *) limit };
    int lengths [] = { (int) op->lo_len, (int) op->hi_len, (int) op->pattern_len, 8 };
    return s_send (self, op, op->hi? P_LIKE: P_LIKE_OPEN, values, lengths);
}

//  A page of keys came: the next scan starts after its last key, and its
//  keys matching the glob are deleted as a bytea[] in binary (a header,
//  then each element's length and bytes). 1: the deletion is sent; 0: no
//  match; -1: out of memory or the send failed, an ERROR.
static int
s_inv_page (zo_l3_t *self, s_op_t *op, const PGresult *res)
{
    int n = PQntuples (res);
    op->more = (uint32_t) n >= self->opts.cleanup_batch;
    if (n == 0)
        return 0;
    size_t last = (size_t) PQgetlength (res, n - 1, 0);
    unsigned char *lo = (unsigned char *) realloc (op->lo, last + 1);
    bool *match = (bool *) calloc ((size_t) n, sizeof (bool));
    if (lo)
        op->lo = lo;
    if (!lo || !match) {
        free (match);
        return -1;
    }
    memcpy (op->lo, PQgetvalue (res, n - 1, 0), last);
    op->lo [last] = 0;
    op->lo_len = last + 1;
    size_t size = 20;
    int matches = 0;
    for (int i = 0; i < n; i++) {
        size_t len = (size_t) PQgetlength (res, i, 0);
        const char *key = PQgetvalue (res, i, 0);
        if (memchr (key, 0, len))
            continue;               //  fnmatch would see less than the key
        if (len + 1 > self->keybuf_size) {
            char *buf = (char *) realloc (self->keybuf, len + 1);
            if (!buf) {
                free (match);
                return -1;
            }
            self->keybuf = buf;
            self->keybuf_size = len + 1;
        }
        memcpy (self->keybuf, key, len);
        self->keybuf [len] = 0;
        if (fnmatch (op->pattern, self->keybuf, 0) == 0) {
            match [i] = true;
            matches++;
            size += 4 + len;
        }
    }
    if (!matches) {
        free (match);
        return 0;
    }
    int rc = -1;
    unsigned char *array = size <= INT32_MAX? (unsigned char *) malloc (size): NULL;
    if (array) {
        unsigned char *p = array + 20;
        s_put32 (array, 1);                     //  dimensions
        s_put32 (array + 4, 0);                 //  no NULLs
        s_put32 (array + 8, S_BYTEA);
        s_put32 (array + 12, (uint32_t) matches);
        s_put32 (array + 16, 1);                //  the lower bound
        for (int i = 0; i < n; i++)
            if (match [i]) {
                uint32_t len = (uint32_t) PQgetlength (res, i, 0);
                s_put32 (p, len);
                memcpy (p + 4, PQgetvalue (res, i, 0), len);
                p += 4 + len;
            }
        op->deleting = true;
        rc = s_inv_send (self, op, array, size);
    }
    free (array);
    free (match);
    return rc == 0? 1: -1;
}

//  An invalidation's request answered: the next one, or the end.
static void
s_on_invalidate (zo_l3_t *self, s_op_t *op, const PGresult *res)
{
    if (op->glob && !op->deleting) {
        int rc = s_inv_page (self, op, res);
        if (rc < 0)
            s_finish (self, op, false, ZO_LEVEL_ERROR, NULL, 0, 0);
        if (rc)
            return;                 //  ERROR, or its matches are being deleted
    }
    else {
        uint64_t rows = s_rows (res);
        op->count += rows;
        *self->invalidated += rows;
        op->deleting = false;
        if (!op->glob)
            op->more = rows >= self->opts.cleanup_batch;
    }
    if (!op->more)
        s_finish (self, op, true, ZO_LEVEL_HIT, NULL, 0, 0);
    else
    if (s_inv_send (self, op, NULL, 0))
        s_finish (self, op, false, ZO_LEVEL_ERROR, NULL, 0, 0);
}

//  ---------------------------------------------------------------------
//  Connection, setup, backoff

static int s_on_retry (zo_loop_t *loop, int id, void *arg);

//  A retry after the backoff, jittered to between half of it and all of
//  it (so that the levels of many actors do not come back in step).
static void
s_retry_later (zo_l3_t *self)
{
    if (self->retry_timer)
        return;
    self->retry_timer = zo_loop_timer (self->loop, zo_backoff_next (&self->backoff), s_on_retry,
                                       self);
    if (self->retry_timer < 0) {
        self->retry_timer = 0;
        zo_log_error ("l3: out of memory for the reconnect timer: staying down");
    }
}

//  The connect failed, the setup failed, or the connection went down.
static void
s_down (zo_l3_t *self, const char *why)
{
    bool was_up = self->up;
    self->up = false;
    *self->g_up = 0;
    if (was_up || !self->down_told)
        zo_log_warning ("l3: %s: %s", was_up? "down": "cannot come up", why);
    if (!self->down_told) {
        self->down_told = true;
        if (self->opts.on_state) {
            self->opts.on_state (self->opts.arg, false, why);
            if (self->doomed)
                return;
        }
    }
    s_retry_later (self);
}

//  The setup failed on a working connection (an SQL error): close it, and
//  try again later on a new one.
static void
s_setup_failed (zo_l3_t *self, const char *why)
{
    (*self->errors)++;
    char text [256];
    snprintf (text, sizeof (text), "setup: %s", why);
    size_t len = strlen (text);
    while (len && text [len - 1] == '\n')
        text [--len] = 0;
    //  The setup's other requests come back, NULL, to a connection that is
    //  no longer self->pq: they are dropped.
    zo_pq_destroy (&self->pq);
    s_down (self, text);
}

static void
s_on_setup (zo_l3_t *self, s_op_t *op, zo_pq_t *pq, const PGresult *res, const char *error)
{
    s_unlink (self, op);
    s_op_free (op);
    if (pq != self->pq || !res)
        return;                     //  dropped, or going down: on_state will say
    if (error) {
        s_setup_failed (self, error);
        return;
    }
    if (--self->setup_left)
        return;
    self->up = true;
    self->down_told = false;
    zo_backoff_reset (&self->backoff);
    *self->g_up = 1;
    zo_log_info ("l3: up, table \"%s\"", self->opts.table);
    if (self->opts.on_state)
        self->opts.on_state (self->opts.arg, true, NULL);
}

//  Connected: make the table and prepare the statements, all at once in
//  the pipeline.
static void
s_setup (zo_l3_t *self)
{
    self->setup_left = 0;
    for (int i = 0; i < Q_COUNT + P_COUNT; i++) {
        s_op_t *op = (s_op_t *) calloc (1, sizeof (s_op_t));
        int rc = -1;
        if (op) {
            op->self = self;
            op->kind = K_SETUP;
            if (i < Q_COUNT)
                rc = zo_pq_send (self->pq, self->setup [i], 0, NULL, NULL, NULL, NULL, 0,
                                 s_on_result, op);
            else {
                int p = i - Q_COUNT;
                rc = zo_pq_prepare (self->pq, s_stmts [p].name, self->sql [p],
                                    s_stmts [p].n_params, s_stmts [p].types, s_on_result, op);
            }
        }
        else
            errno = ENOMEM;
        if (rc) {
            free (op);
            s_setup_failed (self, strerror (errno));
            return;
        }
        s_link (self, op);
        self->setup_left++;
    }
}

static void
s_leave (zo_l3_t *self);

static void
s_on_pq_state (zo_pq_t *pq, bool up, const char *error, void *arg)
{
    zo_l3_t *self = (zo_l3_t *) arg;
    self->depth++;
    self->pq_dying = false;
    if (pq == self->pq && !self->doomed) {
        if (up)
            s_setup (self);
        else
            s_down (self, error);
    }
    s_leave (self);
}

static int
s_on_retry (zo_loop_t *loop, int id, void *arg)
{
    zo_l3_t *self = (zo_l3_t *) arg;
    self->retry_timer = 0;
    (*self->reconnects)++;
    if (!self->pq) {
        zo_pq_opts_t opts = { .on_state = s_on_pq_state, .arg = self,
                              .connect_timeout_ms = self->opts.connect_timeout_ms,
                              .max_inflight = self->opts.max_inflight + S_HEADROOM };
        self->pq = zo_pq_new (self->loop, self->conninfo, &opts);
    }
    if (!self->pq || zo_pq_connect (self->pq))
        s_retry_later (self);
    return 0;
}

//  A connection that answers nothing for this long while requests wait is
//  taken for dead (a stopped server, a network that drops everything):
//  on a working server every statement ends within statement_timeout.
static uint64_t
s_hung_ms (const zo_l3_t *self)
{
    return 2 * self->opts.statement_timeout_ms + 1000;
}

static int
s_on_watchdog (zo_loop_t *loop, int id, void *arg)
{
    zo_l3_t *self = (zo_l3_t *) arg;
    if (!self->pq || !self->ops
    ||  zo_loop_now_ms (loop) - self->answered_ms < s_hung_ms (self))
        return 0;
    char why [96];
    snprintf (why, sizeof (why), "no answer from the server in %" PRIu64 " ms",
              s_hung_ms (self));
    self->depth++;
    //  Fails every request: the callers hear ERROR, and may destroy us.
    zo_pq_destroy (&self->pq);
    if (!self->doomed)
        s_down (self, why);
    s_leave (self);
    return 0;
}

//  ---------------------------------------------------------------------
//  Cleanup

static int
s_cleanup_send (zo_l3_t *self, s_op_t *op)
{
    unsigned char limit [8];
    s_put64 (limit, self->opts.cleanup_batch);
    const char *values [] = { (const char *) limit };
    int lengths [] = { 8 };
    return s_send (self, op, P_CLEANUP, values, lengths);
}

static int
s_on_cleanup_tick (zo_loop_t *loop, int id, void *arg)
{
    zo_l3_t *self = (zo_l3_t *) arg;
    if (!self->up || self->cleaning)
        return 0;
    s_op_t *op = (s_op_t *) calloc (1, sizeof (s_op_t));
    if (!op)
        return 0;
    op->self = self;
    op->kind = K_CLEANUP;
    if (s_cleanup_send (self, op)) {
        free (op);
        return 0;
    }
    s_link (self, op);
    self->cleaning = true;
    return 0;
}

//  A batch of the cleanup done: another while they come full.
static void
s_on_cleanup (zo_l3_t *self, s_op_t *op, const PGresult *res, const char *error)
{
    if (res && !error) {
        uint64_t rows = s_rows (res);
        *self->expired += rows;
        if (rows >= self->opts.cleanup_batch && self->up && s_cleanup_send (self, op) == 0)
            return;
    }
    else
    if (res) {
        (*self->errors)++;
        zo_log_warning ("l3: cleanup: %s", error);
    }
    self->cleaning = false;
    s_unlink (self, op);
    s_op_free (op);
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

static void
s_leave (zo_l3_t *self)
{
    if (--self->depth == 0 && self->doomed && !self->pq_dying)
        s_free (self);
}

static void
s_on_reply (zo_l3_t *self, s_op_t *op, const PGresult *res)
{
    if (op->kind != K_GET) {
        op->count = op->kind == K_SET? 1: s_rows (res);
        s_finish (self, op, true, ZO_LEVEL_HIT, NULL, 0, 0);
        return;
    }
    if (PQntuples (res) == 0) {
        s_finish (self, op, true, ZO_LEVEL_MISS, NULL, 0, 0);
        return;
    }
    //  What the server sends cannot reach an assert: an odd shape is an
    //  ERROR.
    if (PQnfields (res) != 2
    ||  (!PQgetisnull (res, 0, 1) && PQgetlength (res, 0, 1) != 8)) {
        s_finish (self, op, false, ZO_LEVEL_ERROR, NULL, 0, 0);
        return;
    }
    uint64_t expire_ms = PQgetisnull (res, 0, 1)
                       ? 0: s_get64 ((const unsigned char *) PQgetvalue (res, 0, 1));
    s_finish (self, op, true, ZO_LEVEL_HIT, PQgetvalue (res, 0, 0),
              (size_t) PQgetlength (res, 0, 0), expire_ms);
}

static void
s_on_result (zo_pq_t *pq, const PGresult *res, const char *error, void *arg)
{
    s_op_t *op = (s_op_t *) arg;
    zo_l3_t *self = op->self;
    if (!self) {
        s_op_free (op);             //  its caller heard in zo_l3_destroy
        return;
    }
    self->depth++;
    self->answered_ms = zo_loop_now_ms (self->loop);
    //  The connection fails its requests before its on_state: we must
    //  live until then, whatever the callbacks do.
    if (!res && pq == self->pq)
        self->pq_dying = true;
    if (op->kind == K_SETUP)
        s_on_setup (self, op, pq, res, error);
    else
    if (op->kind == K_CLEANUP)
        s_on_cleanup (self, op, res, error);
    else
    if (!res || error)
        s_finish (self, op, false, ZO_LEVEL_ERROR, NULL, 0, 0);
    else
    if (op->kind == K_INVALIDATE)
        s_on_invalidate (self, op, res);
    else
        s_on_reply (self, op, res);
    s_leave (self);
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
    if (o->max_inflight > UINT32_MAX - S_HEADROOM)
        o->max_inflight = UINT32_MAX - S_HEADROOM;
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
        if (!(self->sql [i] = s_sql (s_stmts [i].sql, o->table)))
            goto err;
    zo_pq_opts_t pq_opts = { .on_state = s_on_pq_state, .arg = self,
                             .connect_timeout_ms = o->connect_timeout_ms,
                             .max_inflight = o->max_inflight + S_HEADROOM };
    self->pq = zo_pq_new (loop, self->conninfo, &pq_opts);
    if (!self->pq)
        goto err;
    uint64_t every = s_hung_ms (self) / 4;
    self->watchdog_timer = zo_loop_ticker (loop, every > 5000? 5000: every,
                                           s_on_watchdog, self);
    if (self->watchdog_timer < 0) {
        self->watchdog_timer = 0;
        goto err;
    }
    if (o->cleanup_interval_ms) {
        self->cleanup_timer = zo_loop_ticker (loop, o->cleanup_interval_ms,
                                              s_on_cleanup_tick, self);
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
        s_op_t *op = self->ops;
        s_unlink (self, op);
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
    s_leave (self);
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
    s_op_t *op = s_begin (self, K_GET, len);
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
    s_op_t *op = s_begin (self, K_SET, len > vlen? len: vlen);
    if (!op)
        return -1;
    op->done_fn = fn;
    op->arg = arg;
    unsigned char expire [8];
    s_put64 (expire, expire_ms > S_EXPIRE_MAX? S_EXPIRE_MAX: expire_ms);
    const char *values [] = { S_BYTES (key, len), S_BYTES (value, vlen), (const char *) expire };
    int lengths [] = { (int) len, (int) vlen, 8 };
    return s_go (self, op, P_SET, values, lengths);
}

int
zo_l3_del (zo_l3_t *self, const void *key, size_t len, zo_level_done_fn *fn, void *arg)
{
    assert (self);
    assert (key || !len);
    s_op_t *op = s_begin (self, K_DEL, len);
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
    s_op_t *op = s_begin (self, K_TOUCH, len);
    if (!op)
        return -1;
    op->done_fn = fn;
    op->arg = arg;
    unsigned char expire [8];
    s_put64 (expire, expire_ms > S_EXPIRE_MAX? S_EXPIRE_MAX: expire_ms);
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
    s_op_t *op = s_begin (self, K_INVALIDATE, 2 * len);
    if (!op)
        return -1;
    op->done_fn = fn;
    op->arg = arg;
    if (s_parse (op, pattern, len) || s_inv_send (self, op, NULL, 0)) {
        s_op_free (op);
        return -1;
    }
    s_link (self, op);
    return 0;
}
