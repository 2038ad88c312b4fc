/*  l2_conn: the Redis level's two connections (see l2_int.h): up, down,
    heartbeats, the retries and the URL they go to.
*/
#include "l2_int.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "zo_redis.h"

//  ---------------------------------------------------------------------
//  Going down

static void
s_abandon (l2_conn_t *conn)
{
    redisAsyncContext *ac = conn->ac;
    memset (conn, 0, sizeof (*conn));
    if (ac) {
        ac->data = NULL;
        redisAsyncFree (ac);
    }
}

void
zo__l2_teardown (zo_l2_t *self)
{
    self->state = S_DOWN;
    *self->up = 0;
    zo_resolve_cancel (&self->resolve);
    l2_op_t *list = self->head;
    self->head = self->tail = NULL;
    self->inflight = 0;
    *self->inflight_gauge = 0;
    //  Held, so that the contexts' NULL replies free none of them before
    //  its callback ran.
    for (l2_op_t *op = list; op; op = op->next) {
        op->self = NULL;
        op->refs++;
    }
    s_abandon (&self->cmd);
    s_abandon (&self->sub);
    while (list) {
        l2_op_t *op = list;
        list = op->next;
        op->failed = true;
        zo__l2_finish (self, op);
        zo__l2_unref (op);
    }
}


//  An attempt failed or the level went down: say why, try again later.
static void
s_down (zo_l2_t *self, const char *why)
{
    if (self->state == S_DOWN)
        return;
    if (why != self->error)
        snprintf (self->error, sizeof (self->error), "%s", why);
    zo__l2_teardown (self);
    self->failures++;
    if (self->doomed)
        return;
    if (self->opts.on_state)
        self->opts.on_state (self->opts.arg, false, self->error);
    if (self->doomed || self->retry)
        return;
    //  Out of memory for the timer: the ticker tries again.
    self->retry = zo_loop_timer (self->loop, zo_backoff_next (&self->backoff), zo__l2_on_retry, self);
    if (self->retry < 0)
        self->retry = 0;
}

void
zo__l2_lost (zo_l2_t *self, redisAsyncContext *ac)
{
    s_down (self, *ac->c.errstr? ac->c.errstr: "connection lost");
}

//  ---------------------------------------------------------------------
//  Connections

void
zo__l2_sent (zo_l2_t *self, l2_conn_t *conn)
{
    if (conn->pending++ == 0)
        conn->progress_ms = zo_loop_now_ms (self->loop);
}

void
zo__l2_replied (zo_l2_t *self, l2_conn_t *conn)
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

static l2_conn_t *
s_conn (zo_l2_t *self, const redisAsyncContext *ac)
{
    assert (ac == self->cmd.ac || ac == self->sub.ac);
    return ac == self->cmd.ac? &self->cmd: &self->sub;
}

static void
s_on_connect (const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *) cac;
    zo_l2_t *self = zo__l2_enter ((zo_l2_t *) ac->data);
    if (!self)
        return;
    l2_conn_t *conn = s_conn (self, ac);
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
    zo__l2_leave (self);
}

static void
s_on_disconnect (const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *) cac;
    zo_l2_t *self = zo__l2_enter ((zo_l2_t *) ac->data);
    if (!self)
        return;
    s_conn (self, ac)->ac = NULL;
    ac->data = NULL;
    s_down (self, *ac->c.errstr? ac->c.errstr: "connection closed");
    zo__l2_leave (self);
}

//  The answer to SELECT, or to a PING (the first, or a heartbeat), on the
//  command connection.
static void
s_on_hello (redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = (redisReply *) r;
    zo_l2_t *self = zo__l2_enter ((zo_l2_t *) ac->data);
    if (!self)
        return;
    if (!reply)
        zo__l2_lost (self, ac);
    else
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf (self->error, sizeof (self->error), "%s: %.*s",
                  self->db >= 0 && !self->cmd.ready? "SELECT": "PING",
                  (int) reply->len, reply->str);
        s_down (self, self->error);
    }
    else {
        zo__l2_replied (self, &self->cmd);
        if (!self->cmd.ready) {
            self->cmd.ready = true;
            s_check_up (self);
        }
    }
    zo__l2_leave (self);
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
        zo__l2_count (self, C_ERRORS, 1);
        return;
    }
    if (node_len == self->node_len && !memcmp (p, self->opts.node, node_len))
        return;
    zo__l2_count (self, C_REMOTE, 1);
    if (self->opts.on_remote)
        self->opts.on_remote (self->opts.arg, nl [1] == 'p', nl + 2, len - node_len - 2);
}

//  Everything the subscription receives: the confirmations of SUBSCRIBE
//  (the first, then heartbeats) and the messages.
static void
s_on_sub (redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = (redisReply *) r;
    zo_l2_t *self = zo__l2_enter ((zo_l2_t *) ac->data);
    if (!self)
        return;
    if (!reply)
        zo__l2_lost (self, ac);
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
            zo__l2_replied (self, &self->sub);
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
    zo__l2_leave (self);
}

static int
s_subscribe (zo_l2_t *self)
{
    const char *argv [2] = { "SUBSCRIBE", self->channel };
    size_t lens [2] = { 9, self->channel_len };
    if (redisAsyncCommandArgv (self->sub.ac, s_on_sub, NULL, 2, argv, lens) != REDIS_OK)
        return -1;
    zo__l2_sent (self, &self->sub);
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
    zo__l2_sent (self, &self->cmd);
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
    zo_l2_t *self = zo__l2_enter ((zo_l2_t *) arg);
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
    zo__l2_leave (self);
}

int
zo__l2_on_retry (zo_loop_t *loop, int id, void *arg)
{
    zo_l2_t *self = zo__l2_enter ((zo_l2_t *) arg);
    self->retry = 0;
    if (self->attempted)
        zo__l2_count (self, C_RECONNECTS, 1);
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
    zo__l2_leave (self);
    return 0;
}

static bool
s_stuck (const l2_conn_t *conn, uint64_t now, uint64_t limit)
{
    return conn->ac && conn->connected && conn->pending && now - conn->progress_ms >= limit;
}

static bool
s_idle (const l2_conn_t *conn, uint64_t now, uint64_t limit)
{
    return conn->ac && conn->ready && !conn->pending && now - conn->progress_ms >= limit;
}

int
zo__l2_on_tick (zo_loop_t *loop, int id, void *arg)
{
    zo_l2_t *self = zo__l2_enter ((zo_l2_t *) arg);
    uint64_t now = zo_loop_now_ms (loop);
    uint64_t limit = self->opts.command_timeout_ms;
    if (self->state == S_DOWN && !self->retry) {
        self->retry = zo_loop_timer (loop, zo_backoff_next (&self->backoff), zo__l2_on_retry, self);
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
    zo__l2_leave (self);
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

int
zo__l2_parse_url (zo_l2_t *self, const char *url, char *why, size_t size)
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
