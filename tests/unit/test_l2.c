/*  Tests of actors/cache/l2.c against a real redis-server, started by each
    test on 127.0.0.1 and a free port (tests/unit/zt_servers.c). A blocking
    hiredis client (tests only) fills Redis and looks at what the level
    left there. Every wait is bounded: the loop runs until a condition
    holds or a deadline passes.  */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <hiredis/hiredis.h>

#include "l2.h"
#include "zt_servers.h"

static zt_server_t redis;

static void
s_start (void)
{
    //  hiredis writes with write(2): a dead server must not kill us.
    signal (SIGPIPE, SIG_IGN);
    cr_assert_eq (zt_redis_start (&redis), 0);
}

static void s_stop (void) { zt_server_stop (&redis); }

static int
s_fds (void)
{
    int n = 0;
    DIR *dir = opendir ("/proc/self/fd");
    while (dir && readdir (dir))
        n++;
    if (dir)
        closedir (dir);
    return n;
}

static uint64_t
s_wall_ms (void)
{
    return zo_clock_wall_ns () / 1000000;
}

//  ---------------------------------------------------------------------
//  What a level's callbacks saw

typedef struct {
    int ups, downs;
    char error [256];
    int stars;                  //  on_remote "*" (a (re)subscription)
    int remotes;                //  every other on_remote
    bool pattern;               //  the last remote's
    char key [256];
    size_t key_len;
} level_t;

static void
s_on_state (void *arg, bool up, const char *error)
{
    level_t *lv = (level_t *) arg;
    if (up) {
        cr_expect_null (error);
        lv->ups++;
    }
    else {
        cr_expect (error && *error);
        lv->downs++;
        snprintf (lv->error, sizeof (lv->error), "%s", error);
    }
}

static void
s_on_remote (void *arg, bool pattern, const void *key, size_t len)
{
    level_t *lv = (level_t *) arg;
    if (pattern && len == 1 && *(const char *) key == '*') {
        lv->stars++;
        return;
    }
    lv->remotes++;
    lv->pattern = pattern;
    cr_assert (len <= sizeof (lv->key));
    memcpy (lv->key, key, len);
    lv->key_len = len;
}

static zo_l2_opts_t
s_opts (level_t *lv, const char *url, const char *node, const char *prefix)
{
    return (zo_l2_opts_t) {
        .url = url, .prefix = prefix, .node = node,
        .command_timeout_ms = 300, .backoff_min_ms = 50, .backoff_max_ms = 200,
        .on_state = s_on_state, .on_remote = s_on_remote, .arg = lv
    };
}

static char *
s_url (char *buf, size_t size, int port)
{
    snprintf (buf, size, "redis://127.0.0.1:%d", port);
    return buf;
}

//  What one operation's callback saw.
typedef struct {
    int calls;
    int rc;                     //  a get's zo_level_rc_t, a change's rc
    char value [64];
    size_t len;
    uint64_t count, expire_ms;
    int *total;                 //  if set, counted there too
} result_t;

static void
s_on_get (void *arg, zo_level_rc_t rc, const void *value, size_t len, uint64_t expire_ms)
{
    result_t *r = (result_t *) arg;
    r->calls++;
    r->rc = rc;
    r->len = len;
    r->expire_ms = expire_ms;
    if (rc == ZO_LEVEL_HIT) {
        cr_assert (value);
        memcpy (r->value, value, len < sizeof (r->value)? len: sizeof (r->value));
    }
    else
        cr_expect (!value && !len && !expire_ms);
    if (r->total)
        (*r->total)++;
}

static void
s_on_done (void *arg, int rc, uint64_t count)
{
    result_t *r = (result_t *) arg;
    r->calls++;
    r->rc = rc;
    r->count = count;
    if (r->total)
        (*r->total)++;
}

//  ---------------------------------------------------------------------
//  Bounded waits

typedef bool (s_cond_fn) (const void *arg);

typedef struct {
    s_cond_fn *cond;
    const void *arg;
} waiter_t;

static int
s_check (zo_loop_t *loop, int id, void *arg)
{
    waiter_t *w = (waiter_t *) arg;
    if (w->cond && w->cond (w->arg))
        zo_loop_stop (loop);
    return 0;
}

static int
s_deadline (zo_loop_t *loop, int id, void *arg)
{
    zo_loop_stop (loop);
    return 0;
}

//  Runs the loop until cond (NULL: never) holds or ms passed.
static bool
s_wait (zo_loop_t *loop, s_cond_fn *cond, const void *arg, uint64_t ms)
{
    if (cond && cond (arg))
        return true;
    waiter_t w = { cond, arg };
    int ticker = zo_loop_ticker (loop, 2, s_check, &w);
    int timer = zo_loop_timer (loop, ms, s_deadline, NULL);
    zo_loop_run (loop);
    zo_loop_cancel (loop, ticker);
    zo_loop_cancel (loop, timer);
    return !cond || cond (arg);
}

static bool s_is_up (const void *l2) { return zo_l2_up ((const zo_l2_t *) l2); }
static bool s_is_down (const void *l2) { return !zo_l2_up ((const zo_l2_t *) l2); }
static bool s_called (const void *r) { return ((const result_t *) r)->calls > 0; }

typedef struct {
    const int *value;
    int at_least;
} count_t;

static bool
s_reached (const void *arg)
{
    const count_t *c = (const count_t *) arg;
    return *c->value >= c->at_least;
}

static bool
s_wait_count (zo_loop_t *loop, const int *value, int at_least, uint64_t ms)
{
    count_t c = { value, at_least };
    return s_wait (loop, s_reached, &c, ms);
}

//  Waits for an operation just started (rc its return) to call back.
static void
s_finish (zo_loop_t *loop, int rc, result_t *r)
{
    cr_assert_eq (rc, 0, "the operation was refused (%s)", strerror (errno));
    cr_assert_eq (r->calls, 0, "never called back from inside the call");
    cr_assert (s_wait (loop, s_called, r, 3000), "no callback within 3 s");
    cr_assert_eq (r->calls, 1);
}

static result_t
s_get (zo_loop_t *loop, zo_l2_t *l2, const char *key, size_t len)
{
    result_t r = { 0 };
    s_finish (loop, zo_l2_get (l2, key, len, s_on_get, &r), &r);
    return r;
}

static result_t
s_set (zo_loop_t *loop, zo_l2_t *l2, const char *key, size_t len, const char *value,
       size_t vlen, uint64_t expire_ms)
{
    result_t r = { 0 };
    s_finish (loop, zo_l2_set (l2, key, len, value, vlen, expire_ms, s_on_done, &r), &r);
    return r;
}

static result_t
s_del (zo_loop_t *loop, zo_l2_t *l2, const char *key)
{
    result_t r = { 0 };
    s_finish (loop, zo_l2_del (l2, key, strlen (key), s_on_done, &r), &r);
    return r;
}

static result_t
s_touch (zo_loop_t *loop, zo_l2_t *l2, const char *key, uint64_t expire_ms)
{
    result_t r = { 0 };
    s_finish (loop, zo_l2_touch (l2, key, strlen (key), expire_ms, s_on_done, &r), &r);
    return r;
}

static result_t
s_invalidate (zo_loop_t *loop, zo_l2_t *l2, const char *pattern)
{
    result_t r = { 0 };
    s_finish (loop, zo_l2_invalidate (l2, pattern, strlen (pattern), s_on_done, &r), &r);
    return r;
}

//  ---------------------------------------------------------------------
//  The blocking client that looks at Redis

static redisContext *
s_client (void)
{
    redisContext *c = redisConnect ("127.0.0.1", redis.port);
    cr_assert (c && !c->err);
    return c;
}

static long long
s_integer (redisContext *c, const char *format, ...)
{
    va_list ap;
    va_start (ap, format);
    redisReply *reply = (redisReply *) redisvCommand (c, format, ap);
    va_end (ap);
    cr_assert (reply);
    cr_assert_eq (reply->type, REDIS_REPLY_INTEGER, "%s: %s", format,
                  reply->type == REDIS_REPLY_ERROR? reply->str: "not an integer");
    long long n = reply->integer;
    freeReplyObject (reply);
    return n;
}

//  SETs n keys named format % i, pipelined.
static void
s_fill (redisContext *c, const char *format, int n)
{
    char key [128];
    for (int i = 0; i < n; i++) {
        snprintf (key, sizeof (key), format, i);
        redisAppendCommand (c, "SET %s v", key);
    }
    for (int i = 0; i < n; i++) {
        redisReply *reply;
        cr_assert_eq (redisGetReply (c, (void **) &reply), REDIS_OK);
        freeReplyObject (reply);
    }
}

//  A level on the test's server, up.
static zo_l2_t *
s_level_up (zo_loop_t *loop, level_t *lv, const char *node, const char *prefix,
            zo_stats_t *stats)
{
    char url [64];
    zo_l2_opts_t opts = s_opts (lv, s_url (url, sizeof (url), redis.port), node, prefix);
    opts.stats = stats;
    char error [256] = "";
    zo_l2_t *l2 = zo_l2_new (loop, &opts, error, sizeof (error));
    cr_assert (l2, "%s", error);
    cr_assert (!zo_l2_up (l2), "down until the loop ran");
    cr_assert (s_wait (loop, s_is_up, l2, 3000), "up within 3 s (%s)", lv->error);
    return l2;
}

//  ---------------------------------------------------------------------

Test (l2, every_operation, .init = s_start, .fini = s_stop, .timeout = 30)
{
    int fds = s_fds ();
    zo_loop_t *loop = zo_loop_new ();
    zo_stats_t *stats = zo_stats_new ("cache", "test");
    level_t lv = { 0 };
    zo_l2_t *l2 = s_level_up (loop, &lv, "a", "zorch:", stats);
    cr_expect_eq (lv.ups, 1);
    cr_expect_eq (lv.downs, 0);
    cr_expect_eq (lv.stars, 1, "the first subscription flushes the level above");
    redisContext *c = s_client ();

    result_t r = s_get (loop, l2, "nokey", 5);
    cr_expect_eq (r.rc, ZO_LEVEL_MISS);

    //  Binary keys and values, stored under the prefix, no expiry.
    r = s_set (loop, l2, "k\0" "1", 3, "v\0\n1", 4, 0);
    cr_expect_eq (r.rc, 0);
    cr_expect_eq (r.count, 1);
    r = s_get (loop, l2, "k\0" "1", 3);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT);
    cr_expect_eq (r.len, 4);
    cr_expect_eq (memcmp (r.value, "v\0\n1", 4), 0);
    cr_expect_eq (r.expire_ms, 0, "no expiry: 0");
    cr_expect_eq (s_integer (c, "EXISTS %b", "zorch:k\0" "1", (size_t) 9), 1);
    cr_expect_eq (s_integer (c, "PTTL %b", "zorch:k\0" "1", (size_t) 9), -1);

    //  An expiry comes back as the same wall-clock time.
    uint64_t expire = s_wall_ms () + 60000;
    r = s_set (loop, l2, "k2", 2, "two", 3, expire);
    cr_expect_eq (r.rc, 0);
    r = s_get (loop, l2, "k2", 2);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT);
    cr_expect (r.expire_ms + 50 >= expire && r.expire_ms <= expire + 50,
               "expiry %llu, set %llu", (unsigned long long) r.expire_ms,
               (unsigned long long) expire);

    //  touch: never (PERSIST), a new time (PEXPIRE), a missing key.
    r = s_touch (loop, l2, "k2", 0);
    cr_expect_eq (r.rc, 0);
    cr_expect_eq (r.count, 1);
    cr_expect_eq (s_integer (c, "PTTL zorch:k2"), -1);
    r = s_get (loop, l2, "k2", 2);
    cr_expect_eq (r.expire_ms, 0);
    r = s_touch (loop, l2, "k2", 0);
    cr_expect_eq (r.count, 1, "a key without an expiry is there too");
    r = s_touch (loop, l2, "k2", s_wall_ms () + 30000);
    cr_expect_eq (r.count, 1);
    long long pttl = s_integer (c, "PTTL zorch:k2");
    cr_expect (pttl > 29000 && pttl <= 30000, "PTTL %lld", pttl);
    r = s_touch (loop, l2, "missing", s_wall_ms () + 30000);
    cr_expect_eq (r.rc, 0);
    cr_expect_eq (r.count, 0);
    r = s_touch (loop, l2, "missing", 0);
    cr_expect_eq (r.count, 0);

    //  del counts what was there.
    r = s_del (loop, l2, "k2");
    cr_expect_eq (r.rc, 0);
    cr_expect_eq (r.count, 1);
    r = s_del (loop, l2, "k2");
    cr_expect_eq (r.count, 0);
    r = s_get (loop, l2, "k2", 2);
    cr_expect_eq (r.rc, ZO_LEVEL_MISS);

    //  Fire and forget; what follows sees it (one connection, in order).
    cr_expect_eq (zo_l2_set (l2, "k3", 2, "three", 5, 0, NULL, NULL), 0);
    r = s_get (loop, l2, "k3", 2);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT);
    cr_expect_eq (memcmp (r.value, "three", 5), 0);

    //  An expiry already past removes the key, with a set or a touch.
    r = s_set (loop, l2, "k3", 2, "x", 1, s_wall_ms () - 1000);
    cr_expect_eq (r.rc, 0);
    cr_expect_eq (s_integer (c, "EXISTS zorch:k3"), 0);
    r = s_set (loop, l2, "k4", 2, "four", 4, 0);
    r = s_touch (loop, l2, "k4", s_wall_ms () - 1);
    cr_expect_eq (r.count, 1);
    cr_expect_eq (s_integer (c, "EXISTS zorch:k4"), 0);

    //  An empty value is a hit.
    r = s_set (loop, l2, "empty", 5, NULL, 0, 0);
    r = s_get (loop, l2, "empty", 5);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT);
    cr_expect_eq (r.len, 0);

    //  An error reply fails that operation only.
    cr_assert_eq (s_integer (c, "LPUSH zorch:list x"), 1);
    r = s_get (loop, l2, "list", 4);
    cr_expect_eq (r.rc, ZO_LEVEL_ERROR);
    r = s_set (loop, l2, "k5", 2, "five", 4, 0);
    cr_expect_eq (r.rc, 0);
    cr_expect (zo_l2_up (l2));
    cr_expect_eq (lv.remotes, 0, "a node does not hear itself");

    cr_expect_eq (*zo_stats_counter (stats, "l2_hits_total"), 5);
    cr_expect_eq (*zo_stats_counter (stats, "l2_misses_total"), 2);
    cr_expect_eq (*zo_stats_counter (stats, "l2_errors_total"), 1);
    cr_expect_eq (*zo_stats_counter (stats, "l2_sets_total"), 7);
    cr_expect_eq (*zo_stats_counter (stats, "l2_dels_total"), 2);
    cr_expect_eq (*zo_stats_counter (stats, "l2_published_total"), 15);
    cr_expect_eq (*zo_stats_counter (stats, "l2_reconnects_total"), 0);
    cr_expect_eq (*zo_stats_gauge (stats, "l2_up"), 1);
    cr_expect_eq (*zo_stats_gauge (stats, "l2_inflight"), 0);
    cr_expect_eq (zo_l2_inflight (l2), 0);

    redisFree (c);
    zo_l2_destroy (&l2);
    zo_l2_destroy (&l2);
    cr_expect_null (l2);
    cr_expect_eq (*zo_stats_gauge (stats, "l2_up"), 0);
    zo_stats_destroy (&stats);
    cr_expect_eq (zo_loop_run (loop), 0, "nothing left on the loop");
    zo_loop_destroy (&loop);
    cr_expect_eq (s_fds (), fds, "every fd closed");
}

Test (l2, ttl_expires, .init = s_start, .fini = s_stop, .timeout = 30)
{
    zo_loop_t *loop = zo_loop_new ();
    level_t lv = { 0 };
    zo_l2_t *l2 = s_level_up (loop, &lv, "a", "zorch:", NULL);
    uint64_t expire = s_wall_ms () + 150;
    result_t r = s_set (loop, l2, "t", 1, "soon", 4, expire);
    cr_expect_eq (r.rc, 0);
    r = s_get (loop, l2, "t", 1);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT);
    cr_expect (r.expire_ms + 20 >= expire && r.expire_ms <= expire + 20,
               "expiry %lld ms off", (long long) (r.expire_ms - expire));
    s_wait (loop, NULL, NULL, 300);
    r = s_get (loop, l2, "t", 1);
    cr_expect_eq (r.rc, ZO_LEVEL_MISS, "expired in Redis");
    zo_l2_destroy (&l2);
    zo_loop_destroy (&loop);
}

Test (l2, invalidate_by_pattern, .init = s_start, .fini = s_stop, .timeout = 30)
{
    zo_loop_t *loop = zo_loop_new ();
    zo_stats_t *stats = zo_stats_new ("cache", "test");
    level_t lv = { 0 };
    zo_l2_t *l2 = s_level_up (loop, &lv, "a", "zorch:", stats);
    redisContext *c = s_client ();
    s_fill (c, "zorch:user:%d", 3000);
    s_fill (c, "zorch:other:%d", 100);
    s_fill (c, "elsewhere:zorch:user:%d", 50);
    s_fill (c, "zorchuser:%d", 10);
    cr_assert_eq (s_integer (c, "DBSIZE"), 3160);
    result_t r = s_invalidate (loop, l2, "user:*");
    cr_expect_eq (r.rc, 0);
    cr_expect_eq (r.count, 3000);
    cr_expect_eq (s_integer (c, "DBSIZE"), 160, "only the pattern's keys went");
    cr_expect_eq (s_integer (c, "EXISTS zorch:other:99"), 1);
    cr_expect_eq (s_integer (c, "EXISTS elsewhere:zorch:user:7"), 1);
    cr_expect_eq (s_integer (c, "EXISTS zorchuser:7"), 1);
    r = s_invalidate (loop, l2, "user:*");
    cr_expect_eq (r.count, 0);
    r = s_invalidate (loop, l2, "other:?");
    cr_expect_eq (r.count, 10);
    cr_expect_eq (*zo_stats_counter (stats, "l2_invalidated_total"), 3010);
    cr_expect_eq (*zo_stats_counter (stats, "l2_published_total"), 3);
    redisFree (c);
    zo_l2_destroy (&l2);
    zo_stats_destroy (&stats);
    zo_loop_destroy (&loop);
}

//  Unescaped, MATCH z*[1]?\:a* would take zfoo1x:a7 too.
Test (l2, invalidate_escapes_the_prefix, .init = s_start, .fini = s_stop, .timeout = 30)
{
    zo_loop_t *loop = zo_loop_new ();
    level_t lv = { 0 };
    const char *prefix = "z*[1]?\\:";
    zo_l2_t *l2 = s_level_up (loop, &lv, "a", prefix, NULL);
    redisContext *c = s_client ();
    s_set (loop, l2, "a1", 2, "v", 1, 0);
    s_set (loop, l2, "a2", 2, "v", 1, 0);
    s_set (loop, l2, "b1", 2, "v", 1, 0);
    s_fill (c, "zfoo1x:a%d", 5);
    s_fill (c, "z*[1]?:a%d", 5);
    cr_assert_eq (s_integer (c, "EXISTS %s", "z*[1]?\\:a1"), 1);
    result_t r = s_invalidate (loop, l2, "a*");
    cr_expect_eq (r.rc, 0);
    cr_expect_eq (r.count, 2);
    cr_expect_eq (s_integer (c, "DBSIZE"), 11);
    cr_expect_eq (s_integer (c, "EXISTS %s", "z*[1]?\\:b1"), 1);
    r = s_get (loop, l2, "b1", 2);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT);
    redisFree (c);
    zo_l2_destroy (&l2);
    zo_loop_destroy (&loop);
}

Test (l2, coherence_between_nodes, .init = s_start, .fini = s_stop, .timeout = 30)
{
    zo_loop_t *loop = zo_loop_new ();
    level_t a = { 0 }, b = { 0 }, o = { 0 };
    zo_l2_t *la = s_level_up (loop, &a, "node-a", "zorch:", NULL);
    zo_l2_t *lb = s_level_up (loop, &b, "node-b", "zorch:", NULL);
    //  Another deployment on the same server: another channel.
    zo_l2_t *lo = s_level_up (loop, &o, "node-o", "other:", NULL);
    cr_expect_eq (a.stars, 1);
    cr_expect_eq (b.stars, 1);

    s_set (loop, la, "k", 1, "v", 1, 0);
    cr_assert (s_wait_count (loop, &b.remotes, 1, 2000), "B heard A's set");
    cr_expect_not (b.pattern);
    cr_expect_eq (b.key_len, 1);
    cr_expect_eq (*b.key, 'k');
    //  Binary keys come through whole, newlines and all.
    s_set (loop, la, "x\n\0y", 4, "v", 1, 0);
    cr_assert (s_wait_count (loop, &b.remotes, 2, 2000));
    cr_expect_eq (b.key_len, 4);
    cr_expect_eq (memcmp (b.key, "x\n\0y", 4), 0);
    s_del (loop, la, "k");
    cr_assert (s_wait_count (loop, &b.remotes, 3, 2000), "B heard A's del");
    cr_expect_eq (*b.key, 'k');
    s_touch (loop, la, "k", 0);
    cr_assert (s_wait_count (loop, &b.remotes, 4, 2000), "B heard A's touch");
    s_invalidate (loop, la, "user:*");
    cr_assert (s_wait_count (loop, &b.remotes, 5, 2000), "B heard A's invalidate");
    cr_expect (b.pattern);
    cr_expect_eq (b.key_len, 6);
    cr_expect_eq (memcmp (b.key, "user:*", 6), 0);

    s_set (loop, lb, "from-b", 6, "v", 1, 0);
    cr_assert (s_wait_count (loop, &a.remotes, 1, 2000), "A heard B");
    cr_expect_eq (a.key_len, 6);
    cr_expect_eq (memcmp (a.key, "from-b", 6), 0);
    //  Time for anything else to arrive: nothing does.
    s_wait (loop, NULL, NULL, 200);
    cr_expect_eq (a.remotes, 1, "A did not hear itself");
    cr_expect_eq (b.remotes, 5, "B did not hear itself");
    cr_expect_eq (o.remotes, 0, "another prefix hears nothing");
    zo_l2_destroy (&la);
    zo_l2_destroy (&lb);
    zo_l2_destroy (&lo);
    zo_loop_destroy (&loop);
}

//  Keeps gets in flight; kills the server after 200 answers.
typedef struct {
    zo_l2_t *l2;
    int accepted, refused, answered, failed, wrong_errno;
    bool killed;
    result_t results [4096];
    int n;
} storm_t;

static void s_on_storm (void *arg, zo_level_rc_t rc, const void *value, size_t len,
                        uint64_t expire_ms);

static void
s_storm_send (storm_t *st, int n)
{
    for (int i = 0; i < n && st->n < 4096; i++) {
        if (zo_l2_get (st->l2, "k", 1, s_on_storm, st) == 0)
            st->accepted++;
        else {
            st->refused++;
            if (errno != ENOTCONN)
                st->wrong_errno++;
        }
    }
}

static void
s_on_storm (void *arg, zo_level_rc_t rc, const void *value, size_t len, uint64_t expire_ms)
{
    storm_t *st = (storm_t *) arg;
    if (rc == ZO_LEVEL_ERROR)
        st->failed++;
    else
    if (++st->answered == 200 && !st->killed) {
        //  Sent now, but the server is dead before it can answer them.
        s_storm_send (st, 20);
        st->killed = true;
        zt_server_kill (&redis);
    }
}

static int
s_storm (zo_loop_t *loop, int id, void *arg)
{
    s_storm_send ((storm_t *) arg, 10);
    return 0;
}

Test (l2, server_killed_mid_run, .init = s_start, .fini = s_stop, .timeout = 30)
{
    int fds = s_fds ();
    zo_loop_t *loop = zo_loop_new ();
    zo_stats_t *stats = zo_stats_new ("cache", "test");
    level_t lv = { 0 };
    storm_t st = { 0 };
    st.l2 = s_level_up (loop, &lv, "a", "zorch:", stats);
    int storm = zo_loop_ticker (loop, 1, s_storm, &st);
    cr_assert (s_wait (loop, s_is_down, st.l2, 3000), "down after the kill");
    cr_expect (st.killed);
    cr_expect_eq (lv.downs, 1);
    cr_log_info ("killed: %s", lv.error);
    s_wait (loop, NULL, NULL, 100);
    zo_loop_cancel (loop, storm);
    cr_expect_eq (st.answered + st.failed, st.accepted, "every accepted get called back once");
    cr_expect (st.failed >= 20, "the gets in flight failed (%d)", st.failed);
    cr_expect (st.refused > 0, "refused while down");
    cr_expect_eq (st.wrong_errno, 0, "refused with ENOTCONN");
    errno = 0;
    cr_expect_eq (zo_l2_set (st.l2, "k", 1, "v", 1, 0, NULL, NULL), -1);
    cr_expect_eq (errno, ENOTCONN);
    cr_expect_eq (zo_l2_invalidate (st.l2, "*", 1, NULL, NULL), -1);
    cr_expect_eq (zo_l2_inflight (st.l2), 0);
    cr_expect_eq (*zo_stats_gauge (stats, "l2_up"), 0);

    //  Attempts fail meanwhile, and are said to.
    s_wait (loop, NULL, NULL, 500);
    cr_expect_not (zo_l2_up (st.l2));
    cr_expect (lv.downs >= 2, "each failed attempt reported (%d)", lv.downs);

    cr_assert_eq (zt_redis_restart (&redis), 0);
    cr_assert (s_wait (loop, s_is_up, st.l2, 3000), "up again by itself");
    cr_expect_eq (lv.ups, 2);
    cr_expect_eq (lv.stars, 2, "the resubscription flushes the level above");
    cr_expect (*zo_stats_counter (stats, "l2_reconnects_total") >= 1);
    result_t r = s_set (loop, st.l2, "k", 1, "back", 4, 0);
    cr_expect_eq (r.rc, 0);
    r = s_get (loop, st.l2, "k", 1);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT);
    zo_l2_destroy (&st.l2);
    zo_stats_destroy (&stats);
    zo_loop_destroy (&loop);
    cr_expect_eq (s_fds (), fds, "every fd closed");
}

Test (l2, server_down_at_start, .init = s_start, .fini = s_stop, .timeout = 30)
{
    zt_server_kill (&redis);
    zo_loop_t *loop = zo_loop_new ();
    level_t lv = { 0 };
    char url [64];
    zo_l2_opts_t opts = s_opts (&lv, s_url (url, sizeof (url), redis.port), "a", "zorch:");
    zo_l2_t *l2 = zo_l2_new (loop, &opts, NULL, 0);
    cr_assert (l2);
    s_wait (loop, NULL, NULL, 400);
    cr_expect_not (zo_l2_up (l2));
    cr_expect (lv.downs >= 1, "the failure is reported");
    cr_expect_eq (lv.ups, 0);
    cr_log_info ("down at start: %s", lv.error);
    errno = 0;
    result_t r = { 0 };
    cr_expect_eq (zo_l2_get (l2, "k", 1, s_on_get, &r), -1);
    cr_expect_eq (errno, ENOTCONN);
    cr_assert_eq (zt_redis_restart (&redis), 0);
    cr_assert (s_wait (loop, s_is_up, l2, 3000), "up once the server is");
    cr_expect_eq (lv.ups, 1);
    r = s_set (loop, l2, "k", 1, "v", 1, 0);
    cr_expect_eq (r.rc, 0);
    zo_l2_destroy (&l2);
    zo_loop_destroy (&loop);
    cr_expect_eq (r.calls, 1);
}

Test (l2, stopped_server_times_out, .init = s_start, .fini = s_stop, .timeout = 30)
{
    zo_loop_t *loop = zo_loop_new ();
    level_t lv = { 0 };
    zo_l2_t *l2 = s_level_up (loop, &lv, "a", "zorch:", NULL);
    result_t r = s_set (loop, l2, "k", 1, "v", 1, 0);

    //  An operation waiting on a server that stopped answering.
    kill (redis.pid, SIGSTOP);
    uint64_t start = zo_loop_now_ms (loop);
    r = (result_t) { 0 };
    s_finish (loop, zo_l2_get (l2, "k", 1, s_on_get, &r), &r);
    uint64_t took = zo_loop_now_ms (loop) - start;
    cr_expect_eq (r.rc, ZO_LEVEL_ERROR);
    cr_expect (took >= 300 && took < 800, "failed after %llu ms", (unsigned long long) took);
    cr_expect_not (zo_l2_up (l2));
    cr_expect_eq (lv.downs, 1);
    cr_expect (strstr (lv.error, "no reply"), "%s", lv.error);
    //  Attempts meanwhile connect (the kernel accepts) but get no answer.
    s_wait (loop, NULL, NULL, 500);
    cr_expect_not (zo_l2_up (l2));
    kill (redis.pid, SIGCONT);
    cr_assert (s_wait (loop, s_is_up, l2, 5000), "up again after SIGCONT");
    r = s_get (loop, l2, "k", 1);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT);

    //  Idle: the heartbeats notice, within about 2.5 timeouts.
    kill (redis.pid, SIGSTOP);
    start = zo_loop_now_ms (loop);
    cr_expect (s_wait (loop, s_is_down, l2, 2000), "down while idle");
    took = zo_loop_now_ms (loop) - start;
    cr_expect (took < 1100, "noticed after %llu ms", (unsigned long long) took);
    kill (redis.pid, SIGCONT);
    cr_assert (s_wait (loop, s_is_up, l2, 5000), "up again after SIGCONT");
    cr_expect_eq (lv.ups, 3);
    zo_l2_destroy (&l2);
    zo_loop_destroy (&loop);
}

Test (l2, destroy_fails_what_is_in_flight, .init = s_start, .fini = s_stop, .timeout = 30)
{
    int fds = s_fds ();
    zo_loop_t *loop = zo_loop_new ();
    level_t lv = { 0 };
    zo_l2_t *l2 = s_level_up (loop, &lv, "a", "zorch:", NULL);
    int total = 0;
    result_t gets [10] = { 0 }, sets [10] = { 0 };
    for (int i = 0; i < 10; i++) {
        gets [i].total = sets [i].total = &total;
        cr_assert_eq (zo_l2_get (l2, "k", 1, s_on_get, &gets [i]), 0);
        cr_assert_eq (zo_l2_set (l2, "k", 1, "v", 1, 0, s_on_done, &sets [i]), 0);
        cr_assert_eq (zo_l2_set (l2, "k", 1, "v", 1, 0, NULL, NULL), 0);
    }
    cr_assert_eq (zo_l2_invalidate (l2, "*", 1, NULL, NULL), 0);
    cr_expect_eq (zo_l2_inflight (l2), 31);
    cr_expect_eq (total, 0);
    int downs = lv.downs;
    zo_l2_destroy (&l2);
    cr_expect_eq (total, 20, "called back from inside destroy");
    for (int i = 0; i < 10; i++) {
        cr_expect_eq (gets [i].rc, ZO_LEVEL_ERROR);
        cr_expect_eq (sets [i].rc, -1);
        cr_expect_eq (sets [i].count, 0);
    }
    cr_expect_eq (lv.downs, downs, "no on_state from destroy");
    s_wait (loop, NULL, NULL, 100);
    cr_expect_eq (total, 20, "and never again");
    zo_loop_destroy (&loop);
    cr_expect_eq (s_fds (), fds, "every fd closed");
}

//  A get's callback destroys the level while others are in flight.
typedef struct {
    zo_l2_t *l2;
    int calls, errors;
} suicide_t;

static void
s_on_suicide (void *arg, zo_level_rc_t rc, const void *value, size_t len, uint64_t expire_ms)
{
    suicide_t *s = (suicide_t *) arg;
    s->calls++;
    if (rc == ZO_LEVEL_ERROR)
        s->errors++;
    if (s->l2) {
        zo_l2_t *l2 = s->l2;
        s->l2 = NULL;
        zo_l2_destroy (&l2);
        cr_expect_null (l2);
    }
}

Test (l2, destroy_from_a_callback, .init = s_start, .fini = s_stop, .timeout = 30)
{
    zo_loop_t *loop = zo_loop_new ();
    level_t lv = { 0 };
    suicide_t s = { 0 };
    s.l2 = s_level_up (loop, &lv, "a", "zorch:", NULL);
    for (int i = 0; i < 50; i++)
        cr_assert_eq (zo_l2_get (s.l2, "k", 1, s_on_suicide, &s), 0);
    cr_assert (s_wait_count (loop, &s.calls, 50, 3000));
    cr_expect_eq (s.calls, 50);
    cr_expect_eq (s.errors, 49, "the others failed from inside destroy");
    s_wait (loop, NULL, NULL, 100);
    cr_expect_eq (s.calls, 50);
    zo_loop_destroy (&loop);
}

Test (l2, a_host_name_and_a_database, .init = s_start, .fini = s_stop, .timeout = 30)
{
    zo_loop_t *loop = zo_loop_new ();
    level_t lv = { 0 };
    char url [64];
    snprintf (url, sizeof (url), "redis://localhost:%d/3", redis.port);
    zo_l2_opts_t opts = s_opts (&lv, url, "a", "zorch:");
    zo_l2_t *l2 = zo_l2_new (loop, &opts, NULL, 0);
    cr_assert (l2);
    cr_assert (s_wait (loop, s_is_up, l2, 3000), "up (%s)", lv.error);
    s_set (loop, l2, "k", 1, "v", 1, 0);
    redisContext *c = s_client ();
    cr_expect_eq (s_integer (c, "EXISTS zorch:k"), 0, "not in db 0");
    redisReply *reply = (redisReply *) redisCommand (c, "SELECT 3");
    freeReplyObject (reply);
    cr_expect_eq (s_integer (c, "EXISTS zorch:k"), 1, "in db 3");
    redisFree (c);
    zo_l2_destroy (&l2);

    //  A database the server does not have: down, with Redis's reason.
    snprintf (url, sizeof (url), "redis://127.0.0.1:%d/99", redis.port);
    lv = (level_t) { 0 };
    opts = s_opts (&lv, url, "a", "zorch:");
    l2 = zo_l2_new (loop, &opts, NULL, 0);
    cr_assert (l2);
    s_wait (loop, NULL, NULL, 300);
    cr_expect_not (zo_l2_up (l2));
    cr_expect (lv.downs >= 1);
    cr_expect (strstr (lv.error, "SELECT"), "%s", lv.error);
    zo_l2_destroy (&l2);

    //  A name that does not resolve.
    lv = (level_t) { 0 };
    opts = s_opts (&lv, "redis://no-such-host.invalid:6379", "a", "zorch:");
    l2 = zo_l2_new (loop, &opts, NULL, 0);
    cr_assert (l2);
    s_wait (loop, NULL, NULL, 1000);
    cr_expect_not (zo_l2_up (l2));
    cr_expect (lv.downs >= 1);
    cr_log_info ("unresolved: %s", lv.error);
    zo_l2_destroy (&l2);
    zo_loop_destroy (&loop);
}

Test (l2, max_inflight, .init = s_start, .fini = s_stop, .timeout = 30)
{
    zo_loop_t *loop = zo_loop_new ();
    level_t lv = { 0 };
    char url [64];
    zo_l2_opts_t opts = s_opts (&lv, s_url (url, sizeof (url), redis.port), "a", "zorch:");
    opts.max_inflight = 5;
    zo_l2_t *l2 = zo_l2_new (loop, &opts, NULL, 0);
    cr_assert (s_wait (loop, s_is_up, l2, 3000));
    int total = 0;
    result_t r [6] = { 0 };
    for (int i = 0; i < 5; i++) {
        r [i].total = &total;
        cr_assert_eq (zo_l2_get (l2, "k", 1, s_on_get, &r [i]), 0);
    }
    errno = 0;
    cr_expect_eq (zo_l2_get (l2, "k", 1, s_on_get, &r [5]), -1);
    cr_expect_eq (errno, EAGAIN);
    cr_expect_eq (zo_l2_del (l2, "k", 1, NULL, NULL), -1, "fire and forget counts too");
    cr_assert (s_wait_count (loop, &total, 5, 3000));
    cr_expect_eq (r [5].calls, 0);
    cr_expect_eq (zo_l2_del (l2, "k", 1, NULL, NULL), 0, "room again");
    zo_l2_destroy (&l2);
    zo_loop_destroy (&loop);
}

Test (l2, refuses_bad_options)
{
    zo_loop_t *loop = zo_loop_new ();
    level_t lv = { 0 };
    const char *bad [] = {
        "http://127.0.0.1", "redis://", "redis://:6379", "redis://127.0.0.1:0",
        "redis://127.0.0.1:70000", "redis://127.0.0.1:x", "redis://127.0.0.1:6379/x",
        "redis://127.0.0.1:6379/0/1", "redis://127.0.0.1?db=1", "redis://[::1",
        "redis://::1:6379", "redis://[127.0.0.1]:6379", "redis://user:pw@127.0.0.1", NULL
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad [0]); i++) {
        zo_l2_opts_t opts = s_opts (&lv, bad [i], "a", "zorch:");
        char error [256] = "";
        errno = 0;
        cr_expect_null (zo_l2_new (loop, &opts, error, sizeof (error)), "%s", bad [i]);
        cr_expect_eq (errno, EINVAL, "%s", bad [i]);
        cr_expect (*error, "%s: a reason", bad [i]);
        cr_log_info ("%s", error);
    }
    const char *nodes [] = { NULL, "", "a\nb" };
    for (size_t i = 0; i < 3; i++) {
        zo_l2_opts_t opts = s_opts (&lv, "redis://127.0.0.1", nodes [i], "zorch:");
        errno = 0;
        cr_expect_null (zo_l2_new (loop, &opts, NULL, 0));
        cr_expect_eq (errno, EINVAL);
    }
    const char *good [] = {
        "redis://127.0.0.1", "redis://127.0.0.1:6380", "redis://127.0.0.1/", "redis://[::1]:6380/3",
        "redis://localhost:1/0"
    };
    for (size_t i = 0; i < sizeof (good) / sizeof (good [0]); i++) {
        zo_l2_opts_t opts = s_opts (&lv, good [i], "a", NULL);
        zo_l2_t *l2 = zo_l2_new (loop, &opts, NULL, 0);
        cr_expect (l2, "%s", good [i]);
        cr_expect_not (zo_l2_up (l2));
        errno = 0;
        cr_expect_eq (zo_l2_del (l2, "k", 1, NULL, NULL), -1);
        cr_expect_eq (errno, ENOTCONN);
        zo_l2_destroy (&l2);
    }
    cr_expect_eq (lv.downs + lv.ups, 0, "nothing called back");
    cr_expect_eq (zo_loop_run (loop), 0, "nothing left on the loop");
    zo_loop_destroy (&loop);
}
