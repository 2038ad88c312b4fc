/*  l2_ops: the Redis level's operations (see l2.h and l2_int.h): the
    commands each sends and what their replies mean.
*/
#include "l2_int.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

//  ---------------------------------------------------------------------
//  Replies

//  What every reply callback of an operation starts with: counts the
//  reply, takes the level down on a NULL one (failing every operation,
//  this one too), marks the operation failed on an error reply. True when
//  there is a reply to read for a live operation.
static bool
s_reply (redisAsyncContext *ac, l2_op_t *op, const redisReply *reply)
{
    zo_l2_t *self = op->self;
    if (!self)
        return false;
    if (!reply) {
        zo__l2_lost (self, ac);
        return false;
    }
    zo__l2_replied (self, &self->cmd);
    if (reply->type == REDIS_REPLY_ERROR) {
        op->failed = true;
        return false;
    }
    return true;
}

static void
s_on_value (redisAsyncContext *ac, void *r, void *privdata)
{
    l2_op_t *op = (l2_op_t *) privdata;
    redisReply *reply = (redisReply *) r;
    zo_l2_t *self = zo__l2_enter (op->self);
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
    zo__l2_unref (op);
    zo__l2_leave (self);
}

static void
s_on_pttl (redisAsyncContext *ac, void *r, void *privdata)
{
    l2_op_t *op = (l2_op_t *) privdata;
    redisReply *reply = (redisReply *) r;
    zo_l2_t *self = zo__l2_enter (op->self);
    if (s_reply (ac, op, reply)) {
        if (reply->type != REDIS_REPLY_INTEGER)
            op->failed = true;
        else
        if (reply->integer == -2)
            op->gone = true;        //  gone since the GET
        else
        if (reply->integer >= 0)
            op->expire_ms = zo__l2_wall_ms () + (uint64_t) reply->integer;
    }
    zo__l2_unref (op);
    zo__l2_leave (self);
}

//  A reply whose content does not matter (SET's OK, PERSIST's 0 or 1).
static void
s_on_ok (redisAsyncContext *ac, void *r, void *privdata)
{
    l2_op_t *op = (l2_op_t *) privdata;
    zo_l2_t *self = zo__l2_enter (op->self);
    s_reply (ac, op, (redisReply *) r);
    zo__l2_unref (op);
    zo__l2_leave (self);
}

//  An integer reply that counts keys (UNLINK, PEXPIRE, EXISTS).
static void
s_on_count (redisAsyncContext *ac, void *r, void *privdata)
{
    l2_op_t *op = (l2_op_t *) privdata;
    redisReply *reply = (redisReply *) r;
    zo_l2_t *self = zo__l2_enter (op->self);
    if (s_reply (ac, op, reply)) {
        if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0)
            op->count += (uint64_t) reply->integer;
        else
            op->failed = true;
    }
    zo__l2_unref (op);
    zo__l2_leave (self);
}

static void
s_on_published (redisAsyncContext *ac, void *r, void *privdata)
{
    l2_op_t *op = (l2_op_t *) privdata;
    redisReply *reply = (redisReply *) r;
    zo_l2_t *self = zo__l2_enter (op->self);
    if (s_reply (ac, op, reply)) {
        if (reply->type == REDIS_REPLY_INTEGER)
            zo__l2_count (self, C_PUBLISHED, 1);
        else
            op->failed = true;
    }
    zo__l2_unref (op);
    zo__l2_leave (self);
}

//  ---------------------------------------------------------------------
//  Sending

//  A new operation, if the level takes one; NULL with errno set if not.
static l2_op_t *
s_op_new (zo_l2_t *self, l2_kind_t kind, void *arg)
{
    if (self->doomed || self->state != S_UP) {
        errno = ENOTCONN;
        return NULL;
    }
    if (self->inflight >= self->opts.max_inflight) {
        errno = EAGAIN;
        return NULL;
    }
    l2_op_t *op = (l2_op_t *) calloc (1, sizeof (l2_op_t));
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
s_then (zo_l2_t *self, l2_op_t *op, redisCallbackFn *fn, int argc, const char **argv,
        const size_t *lens)
{
    if (redisAsyncCommandArgv (self->cmd.ac, fn, op, argc, argv, lens) != REDIS_OK) {
        op->failed = true;
        return;
    }
    zo__l2_sent (self, &self->cmd);
    op->refs++;
}

//  Sends an operation's first command: then it is in flight. 0, or -1
//  (op freed, errno set).
static int
s_first (zo_l2_t *self, l2_op_t *op, redisCallbackFn *fn, int argc, const char **argv,
         const size_t *lens)
{
    op->self = self;
    s_then (self, op, fn, argc, argv, lens);
    if (op->failed) {
        //  Refused only while hiredis is dropping the connection.
        zo__l2_op_free (op);
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
s_publish (zo_l2_t *self, l2_op_t *op, char kind, const void *key, size_t len)
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
s_keyed (zo_l2_t *self, l2_op_t *op, const void *key, size_t len, int n,
         const char *const names [], redisCallbackFn *const fns [], const char *extra [],
         const size_t *extra_lens, int n_extra)
{
    s_buf_t k;
    if (s_buf (&k, self->prefix, self->prefix_len, key, len)) {
        zo__l2_op_free (op);
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
    l2_op_t *op = s_op_new (self, OP_GET, arg);
    if (!op)
        return -1;
    op->get_fn = fn;
    s_buf_t k;
    if (s_buf (&k, self->prefix, self->prefix_len, key, len)) {
        zo__l2_op_free (op);
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
    l2_op_t *op = s_op_new (self, OP_SET, arg);
    if (!op)
        return -1;
    op->done_fn = fn;
    op->count = 1;
    uint64_t now = zo__l2_wall_ms ();
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
    l2_op_t *op = s_op_new (self, OP_DEL, arg);
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
    l2_op_t *op = s_op_new (self, OP_TOUCH, arg);
    if (!op)
        return -1;
    op->done_fn = fn;
    if (!expire_ms) {
        //  PERSIST says 0 for a key without an expiry too: EXISTS counts.
        static const char *const names [2] = { "EXISTS", "PERSIST" };
        static redisCallbackFn *const fns [2] = { s_on_count, s_on_ok };
        return s_keyed (self, op, key, len, 2, names, fns, NULL, NULL, 0);
    }
    uint64_t now = zo__l2_wall_ms ();
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
s_scan (zo_l2_t *self, l2_op_t *op, const char *cursor, size_t len)
{
    const char *argv [6] = { "SCAN", cursor, "MATCH", op->match, "COUNT", ZO_L2_SCAN_COUNT };
    size_t lens [6] = { 4, len, 5, op->match_len, 5, strlen (ZO_L2_SCAN_COUNT) };
    s_then (self, op, s_on_scan, 6, argv, lens);
}

//  Removes one SCAN step's keys and asks for the next step. False when
//  the walk is over: the end, or a failure.
static bool
s_scan_step (zo_l2_t *self, l2_op_t *op, const redisReply *reply)
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
    l2_op_t *op = (l2_op_t *) privdata;
    redisReply *reply = (redisReply *) r;
    zo_l2_t *self = zo__l2_enter (op->self);
    bool ok = s_reply (ac, op, reply);
    //  Still up: the walk goes on, or it ended (or failed after removing
    //  some keys maybe) and the others are told.
    if (op->self && !(ok && s_scan_step (self, op, reply)))
        s_publish (self, op, 'p', op->pattern, op->pattern_len);
    zo__l2_unref (op);
    zo__l2_leave (self);
}

int
zo_l2_invalidate (zo_l2_t *self, const char *pattern, size_t len, zo_level_done_fn *fn,
                  void *arg)
{
    assert (self);
    assert (pattern || !len);
    l2_op_t *op = s_op_new (self, OP_INVALIDATE, arg);
    if (!op)
        return -1;
    op->done_fn = fn;
    op->match = s_match (self, pattern, len, &op->match_len);
    op->pattern = (char *) malloc (len + 1);
    if (!op->match || !op->pattern) {
        zo__l2_op_free (op);
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

