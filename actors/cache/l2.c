/*  l2: see l2.h.

    An operation is a record in the level's list (so that all of them can
    be failed at once) referenced by hiredis: each command sent for it
    holds a reference (its privdata), dropped by its reply callback, which
    hiredis calls exactly once (with NULL when the connection goes). The
    last reference ends the operation: its callback runs and it is freed.
    When the level goes down or is destroyed, its operations are detached
    (op->self NULL) and called back at once; the replies their abandoned
    contexts still owe them then only drop references.

    A context is abandoned by nulling ac->data before freeing it, so that
    its connect, disconnect and subscription callbacks, which find the
    level through ac->data, do nothing. hiredis 0.14 runs onConnect and
    onDisconnect outside its "in a callback" guard, where freeing that
    same context would free it under hiredis's feet: their handlers forget
    the context (conn->ac NULL) before taking the level down, so the
    teardown frees only the other one. Reply callbacks may free their own
    context: hiredis defers that until they return.

    Everything the loop or hiredis calls counts itself in (depth), and a
    zo_l2_destroy from inside frees the memory when the outermost returns.
*/
#include "l2.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <hiredis/async.h>

#include "zo_backoff.h"
#include "zo_redis.h"
#include "zo_resolve.h"

#define ZO_L2_PORT          6379
#define ZO_L2_CONNECT_MS    2000
#define ZO_L2_COMMAND_MS    1000
#define ZO_L2_BACKOFF_MIN   100
#define ZO_L2_BACKOFF_MAX   5000
#define ZO_L2_INFLIGHT      10000
#define ZO_L2_SCAN_COUNT    "1000"
#define ZO_L2_ADDRS         8       //  of a host name's, tried in turn

typedef enum { S_DOWN, S_RESOLVING, S_CONNECTING, S_UP } s_state_t;
typedef enum { OP_GET, OP_SET, OP_DEL, OP_TOUCH, OP_INVALIDATE } s_kind_t;

typedef struct _s_op_t {
    struct _s_op_t *prev, *next;
    zo_l2_t *self;                  //  NULL once detached
    s_kind_t kind;
    int refs;                       //  replies owed, and a teardown's hold
    bool failed;
    zo_level_get_fn *get_fn;
    zo_level_done_fn *done_fn;      //  may be NULL
    void *arg;
    uint64_t count;
    //  A get: the value (a copy), and its expiry from PTTL.
    char *value;
    size_t value_len;
    bool hit, gone;                 //  gone: PTTL said the key is not there
    uint64_t expire_ms;
    //  An invalidation: the MATCH pattern, and the caller's (published).
    char *match, *pattern;
    size_t match_len, pattern_len;
} s_op_t;

//  One of the two connections.
typedef struct {
    redisAsyncContext *ac;          //  NULL when none
    bool connected;                 //  the TCP connect is done
    bool ready;                     //  answered its first command
    uint32_t pending;               //  commands sent, not answered yet
    uint64_t progress_ms;           //  the last reply, or when pending left 0
} s_conn_t;

enum { C_HITS, C_MISSES, C_ERRORS, C_SETS, C_DELS, C_INVALIDATED, C_RECONNECTS,
       C_PUBLISHED, C_REMOTE, C_COUNTERS };
static const char *s_counter_names [C_COUNTERS] = {
    "l2_hits_total", "l2_misses_total", "l2_errors_total", "l2_sets_total",
    "l2_dels_total", "l2_invalidated_total", "l2_reconnects_total",
    "l2_published_total", "l2_remote_total"
};

struct _zo_l2_t {
    zo_loop_t *loop;
    zo_l2_opts_t opts;              //  defaults applied; strings are ours
    char *prefix, *channel, *tag;   //  tag: node '\n' and the op byte
    size_t prefix_len, channel_len, tag_len, node_len;
    char host [256];
    int port;
    int db;                         //  -1: no SELECT
    bool numeric;                   //  host is an address
    s_state_t state;
    s_conn_t cmd, sub;
    zo_resolve_t *resolve;
    int retry;                      //  the next attempt's timer, 0 when none
    uint64_t attempt_ms;            //  when the attempt began
    int ticker;                     //  command timeouts and heartbeats
    zo_backoff_t backoff;           //  the wait before the next attempt
    uint32_t failures;              //  attempts failed since the last up
    bool attempted;
    s_op_t *head, *tail;
    uint32_t inflight;
    int depth;
    bool doomed;
    char error [256];
    uint64_t *counters [C_COUNTERS];
    double *up, *inflight_gauge;
    uint64_t no_counters [C_COUNTERS];
    double no_gauges [2];
};

static uint64_t
s_wall_ms (void)
{
    return zo_clock_wall_ns () / 1000000;
}

static void
s_count (zo_l2_t *self, int counter, uint64_t n)
{
    *self->counters [counter] += n;
}

//  ---------------------------------------------------------------------
//  Byte strings made of two parts (prefix and key, tag and key), on the
//  stack when small.

typedef struct {
    char *ptr;
    size_t len;
    char small [240];
} s_buf_t;

static int
s_buf (s_buf_t *b, const void *a, size_t a_len, const void *c, size_t c_len)
{
    b->len = a_len + c_len;
    b->ptr = b->len <= sizeof (b->small)? b->small: (char *) malloc (b->len);
    if (!b->ptr)
        return -1;
    if (a_len)
        memcpy (b->ptr, a, a_len);
    if (c_len)
        memcpy (b->ptr + a_len, c, c_len);
    return 0;
}

static void
s_buf_free (s_buf_t *b)
{
    if (b->ptr != b->small)
        free (b->ptr);
    b->ptr = NULL;
}

//  ---------------------------------------------------------------------
//  Operations

static void
s_op_free (s_op_t *op)
{
    free (op->value);
    free (op->match);
    free (op->pattern);
    free (op);
}

static void
s_unlink_op (zo_l2_t *self, s_op_t *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        self->head = op->next;
    if (op->next)
        op->next->prev = op->prev;
    else
        self->tail = op->prev;
    op->prev = op->next = NULL;
    self->inflight--;
    *self->inflight_gauge = self->inflight;
}

//  Counts the outcome and calls the operation's callback, once.
static void
s_finish (zo_l2_t *self, s_op_t *op)
{
    bool ok = !op->failed;
    if (!ok)
        s_count (self, C_ERRORS, 1);
    if (op->kind == OP_GET) {
        zo_level_rc_t rc = !ok? ZO_LEVEL_ERROR:
                           op->hit && !op->gone? ZO_LEVEL_HIT: ZO_LEVEL_MISS;
        if (rc != ZO_LEVEL_ERROR)
            s_count (self, rc == ZO_LEVEL_HIT? C_HITS: C_MISSES, 1);
        zo_level_get_fn *fn = op->get_fn;
        op->get_fn = NULL;
        if (rc == ZO_LEVEL_HIT)
            fn (op->arg, rc, op->value, op->value_len, op->expire_ms);
        else
            fn (op->arg, rc, NULL, 0, 0);
        return;
    }
    if (ok && op->kind == OP_SET)
        s_count (self, C_SETS, 1);
    if (ok && op->kind == OP_DEL)
        s_count (self, C_DELS, 1);
    if (ok && op->kind == OP_INVALIDATE)
        s_count (self, C_INVALIDATED, op->count);
    zo_level_done_fn *fn = op->done_fn;
    op->done_fn = NULL;
    if (fn)
        fn (op->arg, ok? 0: -1, ok? op->count: 0);
}

//  Drops a reference; the last one ends the operation.
static void
s_unref (s_op_t *op)
{
    assert (op->refs > 0);
    if (--op->refs > 0)
        return;
    zo_l2_t *self = op->self;
    if (self) {
        s_unlink_op (self, op);
        s_finish (self, op);
    }
    s_op_free (op);
}

static zo_l2_t *
s_enter (zo_l2_t *self)
{
    if (self)
        self->depth++;
    return self;
}

static void
s_leave (zo_l2_t *self)
{
    if (!self || --self->depth > 0 || !self->doomed)
        return;
    free (self->prefix);
    free (self->channel);
    free (self->tag);
    free ((char *) self->opts.node);
    free (self);
}

//  ---------------------------------------------------------------------
//  Going down

static void
s_abandon (s_conn_t *conn)
{
    redisAsyncContext *ac = conn->ac;
    memset (conn, 0, sizeof (*conn));
    if (ac) {
        ac->data = NULL;
        redisAsyncFree (ac);
    }
}

//  Closes both connections and fails every operation in flight, whose
//  callbacks run now. Callers check doomed after it.
static void
s_teardown (zo_l2_t *self)
{
    self->state = S_DOWN;
    *self->up = 0;
    zo_resolve_cancel (&self->resolve);
    s_op_t *list = self->head;
    self->head = self->tail = NULL;
    self->inflight = 0;
    *self->inflight_gauge = 0;
    //  Held, so that the contexts' NULL replies free none of them before
    //  its callback ran.
    for (s_op_t *op = list; op; op = op->next) {
        op->self = NULL;
        op->refs++;
    }
    s_abandon (&self->cmd);
    s_abandon (&self->sub);
    while (list) {
        s_op_t *op = list;
        list = op->next;
        op->failed = true;
        s_finish (self, op);
        s_unref (op);
    }
}


static int s_on_retry (zo_loop_t *loop, int id, void *arg);

//  An attempt failed or the level went down: say why, try again later.
static void
s_down (zo_l2_t *self, const char *why)
{
    if (self->state == S_DOWN)
        return;
    if (why != self->error)
        snprintf (self->error, sizeof (self->error), "%s", why);
    s_teardown (self);
    self->failures++;
    if (self->doomed)
        return;
    if (self->opts.on_state)
        self->opts.on_state (self->opts.arg, false, self->error);
    if (self->doomed || self->retry)
        return;
    //  Out of memory for the timer: the ticker tries again.
    self->retry = zo_loop_timer (self->loop, zo_backoff_next (&self->backoff), s_on_retry, self);
    if (self->retry < 0)
        self->retry = 0;
}

//  A connection's context reported a NULL reply: hiredis is freeing it.
static void
s_lost (zo_l2_t *self, redisAsyncContext *ac)
{
    s_down (self, *ac->c.errstr? ac->c.errstr: "connection lost");
}

//  ---------------------------------------------------------------------
//  Connections

static void
s_sent (zo_l2_t *self, s_conn_t *conn)
{
    if (conn->pending++ == 0)
        conn->progress_ms = zo_loop_now_ms (self->loop);
}

static void
s_replied (zo_l2_t *self, s_conn_t *conn)
{
    if (conn->pending)
        conn->pending--;
    conn->progress_ms = zo_loop_now_ms (self->loop);
}

static void
s_check_up (zo_l2_t *self)
{
    if (self->doomed || self->state != S_CONNECTING || !self->cmd.ready || !self->sub.ready)
        return;
    self->state = S_UP;
    zo_backoff_reset (&self->backoff);
    self->failures = 0;
    *self->up = 1;
    if (self->opts.on_state)
        self->opts.on_state (self->opts.arg, true, NULL);
}

static s_conn_t *
s_conn (zo_l2_t *self, const redisAsyncContext *ac)
{
    assert (ac == self->cmd.ac || ac == self->sub.ac);
    return ac == self->cmd.ac? &self->cmd: &self->sub;
}

static void
s_on_connect (const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *) cac;
    zo_l2_t *self = s_enter ((zo_l2_t *) ac->data);
    if (!self)
        return;
    s_conn_t *conn = s_conn (self, ac);
    if (status == REDIS_OK) {
        conn->connected = true;
        conn->progress_ms = zo_loop_now_ms (self->loop);
    }
    else {
        //  hiredis or zo_redis frees it when this returns.
        conn->ac = NULL;
        ac->data = NULL;
        s_down (self, *ac->c.errstr? ac->c.errstr: "connect failed");
    }
    s_leave (self);
}

static void
s_on_disconnect (const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *) cac;
    zo_l2_t *self = s_enter ((zo_l2_t *) ac->data);
    if (!self)
        return;
    s_conn (self, ac)->ac = NULL;
    ac->data = NULL;
    s_down (self, *ac->c.errstr? ac->c.errstr: "connection closed");
    s_leave (self);
}

//  The answer to SELECT, or to a PING (the first, or a heartbeat), on the
//  command connection.
static void
s_on_hello (redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = (redisReply *) r;
    zo_l2_t *self = s_enter ((zo_l2_t *) ac->data);
    if (!self)
        return;
    if (!reply)
        s_lost (self, ac);
    else
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf (self->error, sizeof (self->error), "%s: %.*s",
                  self->db >= 0 && !self->cmd.ready? "SELECT": "PING",
                  (int) reply->len, reply->str);
        s_down (self, self->error);
    }
    else {
        s_replied (self, &self->cmd);
        if (!self->cmd.ready) {
            self->cmd.ready = true;
            s_check_up (self);
        }
    }
    s_leave (self);
}

//  A coherence message: hand it on unless it is ours.
static void
s_message (zo_l2_t *self, const redisReply *payload)
{
    const char *p = payload->str;
    size_t len = payload->type == REDIS_REPLY_STRING? payload->len: 0;
    const char *nl = len? (const char *) memchr (p, '\n', len): NULL;
    size_t node_len = nl? (size_t) (nl - p): 0;
    if (!nl || node_len + 2 > len || (nl [1] != 'k' && nl [1] != 'p')) {
        s_count (self, C_ERRORS, 1);
        return;
    }
    if (node_len == self->node_len && !memcmp (p, self->opts.node, node_len))
        return;
    s_count (self, C_REMOTE, 1);
    if (self->opts.on_remote)
        self->opts.on_remote (self->opts.arg, nl [1] == 'p', nl + 2, len - node_len - 2);
}

//  Everything the subscription receives: the confirmations of SUBSCRIBE
//  (the first, then heartbeats) and the messages.
static void
s_on_sub (redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = (redisReply *) r;
    zo_l2_t *self = s_enter ((zo_l2_t *) ac->data);
    if (!self)
        return;
    if (!reply)
        s_lost (self, ac);
    else
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf (self->error, sizeof (self->error), "SUBSCRIBE: %.*s",
                  (int) reply->len, reply->str);
        s_down (self, self->error);
    }
    else
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3
    &&  reply->element [0]->type == REDIS_REPLY_STRING) {
        const char *kind = reply->element [0]->str;
        if (!strcmp (kind, "message")) {
            self->sub.progress_ms = zo_loop_now_ms (self->loop);
            s_message (self, reply->element [2]);
        }
        else
        if (!strcmp (kind, "subscribe")) {
            s_replied (self, &self->sub);
            if (!self->sub.ready) {
                //  Whatever was published while we were not subscribed
                //  is lost to us: the level above forgets everything.
                self->sub.ready = true;
                if (self->opts.on_remote)
                    self->opts.on_remote (self->opts.arg, true, "*", 1);
                s_check_up (self);
            }
        }
    }
    s_leave (self);
}

static int
s_subscribe (zo_l2_t *self)
{
    const char *argv [2] = { "SUBSCRIBE", self->channel };
    size_t lens [2] = { 9, self->channel_len };
    if (redisAsyncCommandArgv (self->sub.ac, s_on_sub, NULL, 2, argv, lens) != REDIS_OK)
        return -1;
    s_sent (self, &self->sub);
    return 0;
}

static int
s_hello (zo_l2_t *self)
{
    char db [16];
    const char *argv [2] = { "SELECT", db };
    size_t lens [2] = { 6, 0 };
    int argc = 2;
    if (self->db >= 0 && !self->cmd.ready)
        lens [1] = (size_t) snprintf (db, sizeof (db), "%d", self->db);
    else {
        argv [0] = "PING";
        lens [0] = 4;
        argc = 1;
    }
    if (redisAsyncCommandArgv (self->cmd.ac, s_on_hello, NULL, argc, argv, lens) != REDIS_OK)
        return -1;
    s_sent (self, &self->cmd);
    return 0;
}

//  Opens both connections to ip; the first commands wait in hiredis's
//  buffers until the connects are done.
static void
s_open (zo_l2_t *self, const char *ip)
{
    self->state = S_CONNECTING;
    uint64_t timeout = self->opts.connect_timeout_ms;
    self->cmd.ac = zo_redis_connect (self->loop, ip, self->port, timeout, s_on_connect,
                                     s_on_disconnect, self);
    if (self->cmd.ac)
        self->sub.ac = zo_redis_connect (self->loop, ip, self->port, timeout, s_on_connect,
                                         s_on_disconnect, self);
    if (!self->cmd.ac || !self->sub.ac) {
        snprintf (self->error, sizeof (self->error), "connect to %s: %s", ip, strerror (errno));
        s_down (self, self->error);
    }
    else
    if (s_hello (self) || s_subscribe (self))
        s_down (self, "hiredis refused the first commands");
}

static void
s_on_resolved (const char *addrs, int n, const char *error, void *arg)
{
    zo_l2_t *self = s_enter ((zo_l2_t *) arg);
    self->resolve = NULL;
    if (error || n < 1) {
        snprintf (self->error, sizeof (self->error), "%.128s: %s", self->host,
                  error? error: "no address");
        s_down (self, self->error);
    }
    else {
        //  The next address after each failed attempt, so that one dead
        //  address of several does not keep the level down.
        for (uint32_t i = self->failures % (uint32_t) n; i > 0; i--)
            addrs = strchr (addrs, ',') + 1;
        char ip [64];
        snprintf (ip, sizeof (ip), "%.*s", (int) strcspn (addrs, ","), addrs);
        s_open (self, ip);
    }
    s_leave (self);
}

static int
s_on_retry (zo_loop_t *loop, int id, void *arg)
{
    zo_l2_t *self = s_enter ((zo_l2_t *) arg);
    self->retry = 0;
    if (self->attempted)
        s_count (self, C_RECONNECTS, 1);
    self->attempted = true;
    self->attempt_ms = zo_loop_now_ms (loop);
    *self->error = 0;
    if (self->numeric)
        s_open (self, self->host);
    else {
        self->state = S_RESOLVING;
        self->resolve = zo_resolve_start (loop, self->host, ZO_L2_ADDRS, s_on_resolved,
                                          self);
        if (!self->resolve) {
            snprintf (self->error, sizeof (self->error), "resolver: %s", strerror (errno));
            s_down (self, self->error);
        }
    }
    s_leave (self);
    return 0;
}

static bool
s_stuck (const s_conn_t *conn, uint64_t now, uint64_t limit)
{
    return conn->ac && conn->connected && conn->pending && now - conn->progress_ms >= limit;
}

static bool
s_idle (const s_conn_t *conn, uint64_t now, uint64_t limit)
{
    return conn->ac && conn->ready && !conn->pending && now - conn->progress_ms >= limit;
}

//  A quarter of the command timeout: bounds a resolution, drops a stuck
//  connection, pings an idle one.
static int
s_on_tick (zo_loop_t *loop, int id, void *arg)
{
    zo_l2_t *self = s_enter ((zo_l2_t *) arg);
    uint64_t now = zo_loop_now_ms (loop);
    uint64_t limit = self->opts.command_timeout_ms;
    if (self->state == S_DOWN && !self->retry) {
        self->retry = zo_loop_timer (loop, zo_backoff_next (&self->backoff), s_on_retry, self);
        if (self->retry < 0)
            self->retry = 0;
    }
    else
    if (self->state == S_RESOLVING
    &&  now - self->attempt_ms >= self->opts.connect_timeout_ms) {
        //  Its thread finishes alone (zo_resolve_cancel).
        snprintf (self->error, sizeof (self->error), "%.128s: not resolved in %llu ms",
                  self->host, (unsigned long long) self->opts.connect_timeout_ms);
        s_down (self, self->error);
    }
    else
    if (s_stuck (&self->cmd, now, limit) || s_stuck (&self->sub, now, limit)) {
        snprintf (self->error, sizeof (self->error),
                  "no reply from Redis in %llu ms: connection dropped",
                  (unsigned long long) limit);
        s_down (self, self->error);
    }
    else {
        //  A failure to send shows as the connection's loss, soon.
        if (s_idle (&self->cmd, now, limit))
            s_hello (self);
        if (s_idle (&self->sub, now, limit))
            s_subscribe (self);
    }
    s_leave (self);
    return 0;
}

//  ---------------------------------------------------------------------
//  Making one

static int
s_number (const char **p, long max, long *value)
{
    const char *s = *p;
    long v = 0;
    while (*s >= '0' && *s <= '9' && v <= max)
        v = v * 10 + (*s++ - '0');
    if (s == *p || v > max)
        return -1;
    *p = s;
    *value = v;
    return 0;
}

//  "redis://host[:port][/db]" into host, port and db. 0, or -1 with why.
static int
s_parse_url (zo_l2_t *self, const char *url, char *why, size_t size)
{
    const char *p = url;
    if (strncmp (p, "redis://", 8)) {
        snprintf (why, size, "%s: expected redis://host[:port][/db]", url);
        return -1;
    }
    p += 8;
    if (strchr (p, '@')) {
        snprintf (why, size, "%s: a user or password is not supported", url);
        return -1;
    }
    const char *host = p;
    size_t host_len;
    bool bracketed = *p == '[';
    if (bracketed) {
        const char *end = strchr (++host, ']');
        if (!end) {
            snprintf (why, size, "%s: no ']' after the IPv6 address", url);
            return -1;
        }
        host_len = (size_t) (end - host);
        p = end + 1;
    }
    else {
        host_len = strcspn (p, ":/");
        p += host_len;
    }
    if (!host_len || host_len >= sizeof (self->host)) {
        snprintf (why, size, "%s: %s host", url, host_len? "too long a": "no");
        return -1;
    }
    memcpy (self->host, host, host_len);
    self->host [host_len] = 0;
    if (strspn (self->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "0123456789.-_:") != host_len) {
        snprintf (why, size, "%s: the host is not a name or an address", url);
        return -1;
    }
    long port = ZO_L2_PORT, db = -1;
    if (*p == ':' && (++p, s_number (&p, 65535, &port) || port == 0)) {
        snprintf (why, size, "%s: the port is not a number in 1..65535", url);
        return -1;
    }
    if (*p == '/' && *++p && s_number (&p, INT_MAX, &db)) {
        snprintf (why, size, "%s: the database is not a number", url);
        return -1;
    }
    if (*p) {
        snprintf (why, size, "%s: unexpected \"%s\"", url, p);
        return -1;
    }
    unsigned char addr [sizeof (struct in6_addr)];
    bool v6 = inet_pton (AF_INET6, self->host, addr) == 1;
    if (bracketed != v6) {
        snprintf (why, size, "%s: an IPv6 address goes in brackets, and only one", url);
        return -1;
    }
    self->numeric = v6 || inet_pton (AF_INET, self->host, addr) == 1;
    self->port = (int) port;
    self->db = (int) db;
    return 0;
}

//  The prefix with the glob's special characters escaped, then pattern.
static char *
s_match (const zo_l2_t *self, const char *pattern, size_t len, size_t *match_len)
{
    char *match = (char *) malloc (2 * self->prefix_len + len + 1);
    if (!match)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < self->prefix_len; i++) {
        if (strchr ("*?[]\\", self->prefix [i]))
            match [n++] = '\\';
        match [n++] = self->prefix [i];
    }
    if (len)
        memcpy (match + n, pattern, len);
    *match_len = n + len;
    return match;
}

zo_l2_t *
zo_l2_new (zo_loop_t *loop, const zo_l2_opts_t *opts, char *error, size_t error_size)
{
    assert (loop);
    assert (opts);
    char why [256] = "out of memory";
    int err = ENOMEM;
    zo_l2_t *self = (zo_l2_t *) calloc (1, sizeof (zo_l2_t));
    if (!self)
        goto err;
    self->loop = loop;
    self->opts = *opts;
    self->opts.url = NULL;          //  not kept
    zo_l2_opts_t *o = &self->opts;
    o->connect_timeout_ms = o->connect_timeout_ms? o->connect_timeout_ms: ZO_L2_CONNECT_MS;
    o->command_timeout_ms = o->command_timeout_ms? o->command_timeout_ms: ZO_L2_COMMAND_MS;
    o->backoff_min_ms = o->backoff_min_ms? o->backoff_min_ms: ZO_L2_BACKOFF_MIN;
    o->backoff_max_ms = o->backoff_max_ms? o->backoff_max_ms: ZO_L2_BACKOFF_MAX;
    if (o->backoff_max_ms < o->backoff_min_ms)
        o->backoff_max_ms = o->backoff_min_ms;
    o->max_inflight = o->max_inflight? o->max_inflight: ZO_L2_INFLIGHT;
    zo_backoff_init (&self->backoff, o->backoff_min_ms, o->backoff_max_ms);
    o->node = NULL;
    if (!opts->url || s_parse_url (self, opts->url, why, sizeof (why))) {
        if (!opts->url)
            snprintf (why, sizeof (why), "no URL");
        err = EINVAL;
        goto err;
    }
    if (!opts->node || !*opts->node || strchr (opts->node, '\n')) {
        snprintf (why, sizeof (why), "the node id must be set, without a newline");
        err = EINVAL;
        goto err;
    }
    const char *prefix = opts->prefix? opts->prefix: "";
    self->prefix_len = strlen (prefix);
    self->node_len = strlen (opts->node);
    self->channel_len = self->prefix_len + strlen ("invalidate");
    self->tag_len = self->node_len + 2;
    self->prefix = strdup (prefix);
    self->channel = (char *) malloc (self->channel_len + 1);
    self->tag = (char *) malloc (self->tag_len);
    o->node = strdup (opts->node);
    if (!self->prefix || !self->channel || !self->tag || !o->node)
        goto err;
    o->prefix = self->prefix;
    snprintf (self->channel, self->channel_len + 1, "%sinvalidate", prefix);
    memcpy (self->tag, opts->node, self->node_len);
    self->tag [self->node_len] = '\n';
    for (int i = 0; i < C_COUNTERS; i++)
        self->counters [i] = o->stats? zo_stats_counter (o->stats, s_counter_names [i])
                                     : &self->no_counters [i];
    self->up = o->stats? zo_stats_gauge (o->stats, "l2_up"): &self->no_gauges [0];
    self->inflight_gauge = o->stats? zo_stats_gauge (o->stats, "l2_inflight")
                                   : &self->no_gauges [1];
    *self->up = 0;
    *self->inflight_gauge = 0;
    uint64_t tick = o->command_timeout_ms / 4? o->command_timeout_ms / 4: 1;
    self->ticker = zo_loop_ticker (loop, tick, s_on_tick, self);
    self->retry = zo_loop_timer (loop, 0, s_on_retry, self);
    if (self->ticker < 0 || self->retry < 0)
        goto err;
    return self;
err:
    if (self) {
        if (self->ticker > 0)
            zo_loop_cancel (loop, self->ticker);
        if (self->retry > 0)
            zo_loop_cancel (loop, self->retry);
        free (self->prefix);
        free (self->channel);
        free (self->tag);
        free ((char *) self->opts.node);
        free (self);
    }
    if (error && error_size)
        snprintf (error, error_size, "%s", why);
    errno = err;
    return NULL;
}

void
zo_l2_destroy (zo_l2_t **self_p)
{
    assert (self_p);
    zo_l2_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    if (self->doomed)
        return;
    //  Doomed first: a callback destroying us again does nothing.
    self->doomed = true;
    s_enter (self);
    zo_loop_cancel (self->loop, self->ticker);
    if (self->retry)
        zo_loop_cancel (self->loop, self->retry);
    self->retry = 0;
    s_teardown (self);
    s_leave (self);
}

bool
zo_l2_up (const zo_l2_t *self)
{
    assert (self);
    return self->state == S_UP && !self->doomed;
}

uint32_t
zo_l2_inflight (const zo_l2_t *self)
{
    assert (self);
    return self->inflight;
}

//  ---------------------------------------------------------------------
//  Replies

//  What every reply callback of an operation starts with: counts the
//  reply, takes the level down on a NULL one (failing every operation,
//  this one too), marks the operation failed on an error reply. True when
//  there is a reply to read for a live operation.
static bool
s_reply (redisAsyncContext *ac, s_op_t *op, const redisReply *reply)
{
    zo_l2_t *self = op->self;
    if (!self)
        return false;
    if (!reply) {
        s_lost (self, ac);
        return false;
    }
    s_replied (self, &self->cmd);
    if (reply->type == REDIS_REPLY_ERROR) {
        op->failed = true;
        return false;
    }
    return true;
}

static void
s_on_value (redisAsyncContext *ac, void *r, void *privdata)
{
    s_op_t *op = (s_op_t *) privdata;
    redisReply *reply = (redisReply *) r;
    zo_l2_t *self = s_enter (op->self);
    if (s_reply (ac, op, reply)) {
        if (reply->type == REDIS_REPLY_STRING) {
            op->value = (char *) malloc (reply->len + 1);
            if (op->value) {
                memcpy (op->value, reply->str, reply->len);
                op->value [reply->len] = 0;
                op->value_len = reply->len;
                op->hit = true;
            }
            else
                op->failed = true;
        }
        else
        if (reply->type != REDIS_REPLY_NIL)
            op->failed = true;
    }
    s_unref (op);
    s_leave (self);
}

static void
s_on_pttl (redisAsyncContext *ac, void *r, void *privdata)
{
    s_op_t *op = (s_op_t *) privdata;
    redisReply *reply = (redisReply *) r;
    zo_l2_t *self = s_enter (op->self);
    if (s_reply (ac, op, reply)) {
        if (reply->type != REDIS_REPLY_INTEGER)
            op->failed = true;
        else
        if (reply->integer == -2)
            op->gone = true;        //  gone since the GET
        else
        if (reply->integer >= 0)
            op->expire_ms = s_wall_ms () + (uint64_t) reply->integer;
    }
    s_unref (op);
    s_leave (self);
}

//  A reply whose content does not matter (SET's OK, PERSIST's 0 or 1).
static void
s_on_ok (redisAsyncContext *ac, void *r, void *privdata)
{
    s_op_t *op = (s_op_t *) privdata;
    zo_l2_t *self = s_enter (op->self);
    s_reply (ac, op, (redisReply *) r);
    s_unref (op);
    s_leave (self);
}

//  An integer reply that counts keys (UNLINK, PEXPIRE, EXISTS).
static void
s_on_count (redisAsyncContext *ac, void *r, void *privdata)
{
    s_op_t *op = (s_op_t *) privdata;
    redisReply *reply = (redisReply *) r;
    zo_l2_t *self = s_enter (op->self);
    if (s_reply (ac, op, reply)) {
        if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0)
            op->count += (uint64_t) reply->integer;
        else
            op->failed = true;
    }
    s_unref (op);
    s_leave (self);
}

static void
s_on_published (redisAsyncContext *ac, void *r, void *privdata)
{
    s_op_t *op = (s_op_t *) privdata;
    redisReply *reply = (redisReply *) r;
    zo_l2_t *self = s_enter (op->self);
    if (s_reply (ac, op, reply)) {
        if (reply->type == REDIS_REPLY_INTEGER)
            s_count (self, C_PUBLISHED, 1);
        else
            op->failed = true;
    }
    s_unref (op);
    s_leave (self);
}

//  ---------------------------------------------------------------------
//  Sending

//  A new operation, if the level takes one; NULL with errno set if not.
static s_op_t *
s_op_new (zo_l2_t *self, s_kind_t kind, void *arg)
{
    if (self->doomed || self->state != S_UP) {
        errno = ENOTCONN;
        return NULL;
    }
    if (self->inflight >= self->opts.max_inflight) {
        errno = EAGAIN;
        return NULL;
    }
    s_op_t *op = (s_op_t *) calloc (1, sizeof (s_op_t));
    if (!op) {
        errno = ENOMEM;
        return NULL;
    }
    op->kind = kind;
    op->arg = arg;
    return op;
}

//  Sends one more command of an operation in flight; a failure fails it.
static void
s_then (zo_l2_t *self, s_op_t *op, redisCallbackFn *fn, int argc, const char **argv,
        const size_t *lens)
{
    if (redisAsyncCommandArgv (self->cmd.ac, fn, op, argc, argv, lens) != REDIS_OK) {
        op->failed = true;
        return;
    }
    s_sent (self, &self->cmd);
    op->refs++;
}

//  Sends an operation's first command: then it is in flight. 0, or -1
//  (op freed, errno set).
static int
s_first (zo_l2_t *self, s_op_t *op, redisCallbackFn *fn, int argc, const char **argv,
         const size_t *lens)
{
    op->self = self;
    s_then (self, op, fn, argc, argv, lens);
    if (op->failed) {
        //  Refused only while hiredis is dropping the connection.
        s_op_free (op);
        errno = ENOTCONN;
        return -1;
    }
    op->prev = self->tail;
    if (self->tail)
        self->tail->next = op;
    else
        self->head = op;
    self->tail = op;
    self->inflight++;
    *self->inflight_gauge = self->inflight;
    return 0;
}

//  Pipelined after the change, so that Redis runs it after the change.
static void
s_publish (zo_l2_t *self, s_op_t *op, char kind, const void *key, size_t len)
{
    s_buf_t msg;
    if (s_buf (&msg, self->tag, self->tag_len, key, len)) {
        op->failed = true;
        return;
    }
    msg.ptr [self->tag_len - 1] = kind;
    const char *argv [3] = { "PUBLISH", self->channel, msg.ptr };
    size_t lens [3] = { 7, self->channel_len, msg.len };
    s_then (self, op, s_on_published, 3, argv, lens);
    s_buf_free (&msg);
}

//  The common shape of set, del and touch: a command or two on one key,
//  then the message.
static int
s_keyed (zo_l2_t *self, s_op_t *op, const void *key, size_t len, int n,
         const char *const names [], redisCallbackFn *const fns [], const char *extra [],
         const size_t *extra_lens, int n_extra)
{
    s_buf_t k;
    if (s_buf (&k, self->prefix, self->prefix_len, key, len)) {
        s_op_free (op);
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n && !op->failed; i++) {
        const char *argv [5] = { names [i], k.ptr };
        size_t lens [5] = { strlen (names [i]), k.len };
        int argc = 2;
        //  The extra arguments go with the last command.
        for (int j = 0; i == n - 1 && j < n_extra; j++, argc++) {
            argv [argc] = extra [j];
            lens [argc] = extra_lens [j];
        }
        if (i == 0)
            rc = s_first (self, op, fns [i], argc, argv, lens);
        else
            s_then (self, op, fns [i], argc, argv, lens);
        if (rc)
            break;
    }
    if (rc == 0)
        s_publish (self, op, 'k', key, len);
    s_buf_free (&k);
    return rc;
}

int
zo_l2_get (zo_l2_t *self, const void *key, size_t len, zo_level_get_fn *fn, void *arg)
{
    assert (self);
    assert (key || !len);
    assert (fn);
    s_op_t *op = s_op_new (self, OP_GET, arg);
    if (!op)
        return -1;
    op->get_fn = fn;
    s_buf_t k;
    if (s_buf (&k, self->prefix, self->prefix_len, key, len)) {
        s_op_free (op);
        errno = ENOMEM;
        return -1;
    }
    const char *argv [2] = { "GET", k.ptr };
    size_t lens [2] = { 3, k.len };
    int rc = s_first (self, op, s_on_value, 2, argv, lens);
    if (rc == 0) {
        argv [0] = "PTTL";
        lens [0] = 4;
        s_then (self, op, s_on_pttl, 2, argv, lens);
    }
    s_buf_free (&k);
    return rc;
}

int
zo_l2_set (zo_l2_t *self, const void *key, size_t len, const void *value, size_t value_len,
           uint64_t expire_ms, zo_level_done_fn *fn, void *arg)
{
    assert (self);
    assert (key || !len);
    assert (value || !value_len);
    s_op_t *op = s_op_new (self, OP_SET, arg);
    if (!op)
        return -1;
    op->done_fn = fn;
    op->count = 1;
    uint64_t now = s_wall_ms ();
    char px [24];
    const char *extra [3] = { value? (const char *) value: "", "PX", px };
    size_t extra_lens [3] = { value_len, 2, 0 };
    int n_extra = 1;
    if (expire_ms && expire_ms <= now) {
        //  Already expired: what Redis would do with it at once.
        static const char *const names [1] = { "UNLINK" };
        static redisCallbackFn *const fns [1] = { s_on_ok };
        return s_keyed (self, op, key, len, 1, names, fns, NULL, NULL, 0);
    }
    if (expire_ms) {
        extra_lens [2] = (size_t) snprintf (px, sizeof (px), "%llu",
                                            (unsigned long long) (expire_ms - now));
        n_extra = 3;
    }
    static const char *const names [1] = { "SET" };
    static redisCallbackFn *const fns [1] = { s_on_ok };
    return s_keyed (self, op, key, len, 1, names, fns, extra, extra_lens, n_extra);
}

int
zo_l2_del (zo_l2_t *self, const void *key, size_t len, zo_level_done_fn *fn, void *arg)
{
    assert (self);
    assert (key || !len);
    s_op_t *op = s_op_new (self, OP_DEL, arg);
    if (!op)
        return -1;
    op->done_fn = fn;
    static const char *const names [1] = { "UNLINK" };
    static redisCallbackFn *const fns [1] = { s_on_count };
    return s_keyed (self, op, key, len, 1, names, fns, NULL, NULL, 0);
}

int
zo_l2_touch (zo_l2_t *self, const void *key, size_t len, uint64_t expire_ms,
             zo_level_done_fn *fn, void *arg)
{
    assert (self);
    assert (key || !len);
    s_op_t *op = s_op_new (self, OP_TOUCH, arg);
    if (!op)
        return -1;
    op->done_fn = fn;
    if (!expire_ms) {
        //  PERSIST says 0 for a key without an expiry too: EXISTS counts.
        static const char *const names [2] = { "EXISTS", "PERSIST" };
        static redisCallbackFn *const fns [2] = { s_on_count, s_on_ok };
        return s_keyed (self, op, key, len, 2, names, fns, NULL, NULL, 0);
    }
    uint64_t now = s_wall_ms ();
    char ms [24];
    const char *extra [1] = { ms };
    //  0 for an expiry already past: Redis removes the key.
    size_t extra_lens [1] = { (size_t) snprintf (ms, sizeof (ms), "%llu",
                                                 (unsigned long long) (expire_ms > now? expire_ms - now: 0)) };
    static const char *const names [1] = { "PEXPIRE" };
    static redisCallbackFn *const fns [1] = { s_on_count };
    return s_keyed (self, op, key, len, 1, names, fns, extra, extra_lens, 1);
}

static void s_on_scan (redisAsyncContext *ac, void *r, void *privdata);

static void
s_scan (zo_l2_t *self, s_op_t *op, const char *cursor, size_t len)
{
    const char *argv [6] = { "SCAN", cursor, "MATCH", op->match, "COUNT", ZO_L2_SCAN_COUNT };
    size_t lens [6] = { 4, len, 5, op->match_len, 5, strlen (ZO_L2_SCAN_COUNT) };
    s_then (self, op, s_on_scan, 6, argv, lens);
}

//  Removes one SCAN step's keys and asks for the next step. False when
//  the walk is over: the end, or a failure.
static bool
s_scan_step (zo_l2_t *self, s_op_t *op, const redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
    ||  reply->element [0]->type != REDIS_REPLY_STRING
    ||  reply->element [1]->type != REDIS_REPLY_ARRAY) {
        op->failed = true;
        return false;
    }
    const redisReply *cursor = reply->element [0], *keys = reply->element [1];
    size_t n = keys->elements;
    if (n) {
        const char **argv = (const char **) malloc ((n + 1) * sizeof (char *));
        size_t *lens = (size_t *) malloc ((n + 1) * sizeof (size_t));
        size_t argc = 0;
        if (argv && lens) {
            argv [argc] = "UNLINK";
            lens [argc++] = 6;
            for (size_t i = 0; i < n; i++)
                if (keys->element [i]->type == REDIS_REPLY_STRING) {
                    argv [argc] = keys->element [i]->str;
                    lens [argc++] = keys->element [i]->len;
                }
            if (argc > 1)
                s_then (self, op, s_on_count, (int) argc, argv, lens);
        }
        else
            op->failed = true;
        free (argv);
        free (lens);
    }
    if (op->failed || (cursor->len == 1 && *cursor->str == '0'))
        return false;
    s_scan (self, op, cursor->str, cursor->len);
    return !op->failed;
}

static void
s_on_scan (redisAsyncContext *ac, void *r, void *privdata)
{
    s_op_t *op = (s_op_t *) privdata;
    redisReply *reply = (redisReply *) r;
    zo_l2_t *self = s_enter (op->self);
    bool ok = s_reply (ac, op, reply);
    //  Still up: the walk goes on, or it ended (or failed after removing
    //  some keys maybe) and the others are told.
    if (op->self && !(ok && s_scan_step (self, op, reply)))
        s_publish (self, op, 'p', op->pattern, op->pattern_len);
    s_unref (op);
    s_leave (self);
}

int
zo_l2_invalidate (zo_l2_t *self, const char *pattern, size_t len, zo_level_done_fn *fn,
                  void *arg)
{
    assert (self);
    assert (pattern || !len);
    s_op_t *op = s_op_new (self, OP_INVALIDATE, arg);
    if (!op)
        return -1;
    op->done_fn = fn;
    op->match = s_match (self, pattern, len, &op->match_len);
    op->pattern = (char *) malloc (len + 1);
    if (!op->match || !op->pattern) {
        s_op_free (op);
        errno = ENOMEM;
        return -1;
    }
    if (len)
        memcpy (op->pattern, pattern, len);
    op->pattern_len = len;
    const char *argv [6] = { "SCAN", "0", "MATCH", op->match, "COUNT", ZO_L2_SCAN_COUNT };
    size_t lens [6] = { 4, 1, 5, op->match_len, 5, strlen (ZO_L2_SCAN_COUNT) };
    return s_first (self, op, s_on_scan, 6, argv, lens);
}
