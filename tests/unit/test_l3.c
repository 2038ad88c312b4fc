/*  Tests of actors/cache/l3.c against a real PostgreSQL (zt_servers.c)
    on 127.0.0.1 and a free port. initdb takes seconds, so each test that
    needs a server starts one and goes through several cases with it; the
    loop is always driven with a deadline, never left to run unbounded.  */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include <libpq-fe.h>

#include "l3.h"
#include "zt_servers.h"

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
//  Driving the loop

static int
s_end (zo_loop_t *loop, int id, void *arg)
{
    *(bool *) arg = true;
    zo_loop_stop (loop);
    return 0;
}

typedef struct {
    const int *counter;
    int target;
} wait_t;

static int
s_check (zo_loop_t *loop, int id, void *arg)
{
    wait_t *w = (wait_t *) arg;
    if (*w->counter >= w->target)
        zo_loop_stop (loop);
    return 0;
}

//  Runs the loop until *counter reaches target, at most ms. True if it did.
static bool
s_wait (zo_loop_t *loop, const int *counter, int target, uint64_t ms)
{
    wait_t w = { counter, target };
    bool late = false;
    int ticker = zo_loop_ticker (loop, 2, s_check, &w);
    int timer = zo_loop_timer (loop, ms, s_end, &late);
    if (*counter < target)
        zo_loop_run (loop);
    zo_loop_cancel (loop, ticker);
    zo_loop_cancel (loop, timer);
    return *counter >= target;
}

//  Runs the loop for ms, whatever happens.
static void
s_spin (zo_loop_t *loop, uint64_t ms)
{
    bool late = false;
    zo_loop_timer (loop, ms, s_end, &late);
    while (!late)
        zo_loop_run (loop);
}

//  ---------------------------------------------------------------------
//  What the callbacks saw

typedef struct {
    zo_loop_t *loop;
    int ups, downs;
    char error [256];
    zo_l3_t **destroy_on_down;      //  destroys it from on_state (false)
} st_t;

static void
s_on_state (void *arg, bool up, const char *error)
{
    st_t *st = (st_t *) arg;
    if (up) {
        st->ups++;
        cr_expect_null (error);
    }
    else {
        st->downs++;
        cr_expect (error && *error);
        snprintf (st->error, sizeof (st->error), "%s", error? error: "");
        if (st->destroy_on_down)
            zo_l3_destroy (st->destroy_on_down);
    }
}

//  Every operation's outcome; callbacks count into s_calls.
static int s_calls;

typedef struct {
    int calls;
    int rc;                         //  get: zo_level_rc_t; done: 0 or -1
    uint64_t count, expire_ms;
    char *value;                    //  a copy, freed by s_res_reset
    size_t len;
    zo_l3_t **destroy;              //  destroys the level from the callback
} res_t;

static void
s_res_reset (res_t *r)
{
    free (r->value);
    memset (r, 0, sizeof (*r));
}

static void
s_on_get (void *arg, zo_level_rc_t rc, const void *value, size_t len, uint64_t expire_ms)
{
    res_t *r = (res_t *) arg;
    s_calls++;
    r->calls++;
    r->rc = rc;
    r->expire_ms = expire_ms;
    free (r->value);
    r->value = NULL;
    r->len = len;
    if (rc == ZO_LEVEL_HIT) {
        r->value = (char *) malloc (len + 1);
        memcpy (r->value, value, len);
    }
    else
        cr_expect_eq (len, 0);
    if (r->destroy)
        zo_l3_destroy (r->destroy);
}

static void
s_on_done (void *arg, int rc, uint64_t count)
{
    res_t *r = (res_t *) arg;
    s_calls++;
    r->calls++;
    r->rc = rc;
    r->count = count;
    if (rc)
        cr_expect_eq (count, 0);
    if (r->destroy)
        zo_l3_destroy (r->destroy);
}

//  One operation, waited for.
static void
s_get (zo_loop_t *loop, zo_l3_t *l3, const void *key, size_t len, res_t *r)
{
    s_res_reset (r);
    cr_assert_eq (zo_l3_get (l3, key, len, s_on_get, r), 0, "get: %s", strerror (errno));
    cr_assert_eq (r->calls, 0, "never from inside the call");
    cr_assert (s_wait (loop, &r->calls, 1, 5000), "get answered");
}

static void
s_done (zo_loop_t *loop, res_t *r)
{
    cr_assert_eq (r->calls, 0, "never from inside the call");
    cr_assert (s_wait (loop, &r->calls, 1, 5000), "answered");
    cr_assert_eq (r->calls, 1);
}

static void
s_set (zo_loop_t *loop, zo_l3_t *l3, const void *key, size_t len, const void *value,
       size_t vlen, uint64_t expire_ms)
{
    res_t r = { 0 };
    cr_assert_eq (zo_l3_set (l3, key, len, value, vlen, expire_ms, s_on_done, &r), 0);
    s_done (loop, &r);
    cr_assert_eq (r.rc, 0);
    cr_assert_eq (r.count, 1);
}

static uint64_t
s_del (zo_loop_t *loop, zo_l3_t *l3, const void *key, size_t len)
{
    res_t r = { 0 };
    cr_assert_eq (zo_l3_del (l3, key, len, s_on_done, &r), 0);
    s_done (loop, &r);
    cr_assert_eq (r.rc, 0);
    return r.count;
}

static uint64_t
s_touch (zo_loop_t *loop, zo_l3_t *l3, const void *key, size_t len, uint64_t expire_ms)
{
    res_t r = { 0 };
    cr_assert_eq (zo_l3_touch (l3, key, len, expire_ms, s_on_done, &r), 0);
    s_done (loop, &r);
    cr_assert_eq (r.rc, 0);
    return r.count;
}

static uint64_t
s_invalidate (zo_loop_t *loop, zo_l3_t *l3, const char *glob, size_t len)
{
    res_t r = { 0 };
    cr_assert_eq (zo_l3_invalidate (l3, glob, len, s_on_done, &r), 0, "%s", strerror (errno));
    cr_assert_eq (r.calls, 0);
    cr_assert (s_wait (loop, &r.calls, 1, 20000), "invalidate %s answered", glob);
    cr_assert_eq (r.rc, 0, "invalidate %s", glob);
    return r.count;
}

#define S_STR(s) s, strlen (s)

static void
s_expect_hit (zo_loop_t *loop, zo_l3_t *l3, const char *key, const char *value)
{
    res_t r = { 0 };
    s_get (loop, l3, S_STR (key), &r);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT, "%s is there", key);
    if (r.rc == ZO_LEVEL_HIT && value)
        cr_expect (r.len == strlen (value) && !memcmp (r.value, value, r.len), "%s", key);
    s_res_reset (&r);
}

static void
s_expect_miss (zo_loop_t *loop, zo_l3_t *l3, const char *key)
{
    res_t r = { 0 };
    s_get (loop, l3, S_STR (key), &r);
    cr_expect_eq (r.rc, ZO_LEVEL_MISS, "%s is not there", key);
    s_res_reset (&r);
}

//  ---------------------------------------------------------------------
//  Outside the loop: a blocking connection of the test's own

static PGconn *
s_psql (const char *conninfo)
{
    PGconn *conn = PQconnectdb (conninfo);
    cr_assert_eq (PQstatus (conn), CONNECTION_OK, "%s", PQerrorMessage (conn));
    return conn;
}

static void
s_exec (PGconn *conn, const char *sql)
{
    PGresult *res = PQexec (conn, sql);
    ExecStatusType st = PQresultStatus (res);
    cr_assert (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
               PQresultErrorMessage (res));
    PQclear (res);
}

static long
s_count (const char *conninfo, const char *sql)
{
    PGconn *conn = s_psql (conninfo);
    PGresult *res = PQexec (conn, sql);
    cr_assert_eq (PQresultStatus (res), PGRES_TUPLES_OK, "%s: %s", sql,
                  PQresultErrorMessage (res));
    long n = atol (PQgetvalue (res, 0, 0));
    PQclear (res);
    PQfinish (conn);
    return n;
}

static zo_l3_t *
s_up (zo_loop_t *loop, zo_l3_opts_t *opts, st_t *st)
{
    opts->on_state = s_on_state;
    opts->arg = st;
    int ups = st->ups;
    zo_l3_t *l3 = zo_l3_new (loop, opts);
    cr_assert (l3, "new: %s", strerror (errno));
    cr_assert (!zo_l3_up (l3), "not up before the loop ran");
    cr_assert (s_wait (loop, &st->ups, ups + 1, 10000), "up (%s)", st->error);
    cr_assert (zo_l3_up (l3));
    return l3;
}

//  ---------------------------------------------------------------------
//  The cases

static void
s_operations (zo_loop_t *loop, zo_l3_t *l3)
{
    res_t r = { 0 };
    s_expect_miss (loop, l3, "k");
    s_set (loop, l3, S_STR ("k"), S_STR ("v1"), 0);
    s_get (loop, l3, S_STR ("k"), &r);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT);
    cr_expect (r.len == 2 && !memcmp (r.value, "v1", 2));
    cr_expect_eq (r.expire_ms, 0, "never expires");
    //  Overwritten, now with an expiry, which comes back to the ms.
    uint64_t expire = s_wall_ms () + 60000;
    s_set (loop, l3, S_STR ("k"), S_STR ("value2"), expire);
    s_get (loop, l3, S_STR ("k"), &r);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT);
    cr_expect (r.len == 6 && !memcmp (r.value, "value2", 6));
    cr_expect_eq (r.expire_ms, expire);
    //  del counts what was there.
    cr_expect_eq (s_del (loop, l3, S_STR ("k")), 1);
    cr_expect_eq (s_del (loop, l3, S_STR ("k")), 0);
    s_expect_miss (loop, l3, "k");
    //  touch gives an unexpired row a new expiry, or never again.
    s_set (loop, l3, S_STR ("t"), S_STR ("x"), 0);
    expire = s_wall_ms () + 30000;
    cr_expect_eq (s_touch (loop, l3, S_STR ("t"), expire), 1);
    cr_expect_eq (s_touch (loop, l3, S_STR ("absent"), expire), 0);
    s_get (loop, l3, S_STR ("t"), &r);
    cr_expect_eq (r.expire_ms, expire);
    cr_expect_eq (s_touch (loop, l3, S_STR ("t"), 0), 1);
    s_get (loop, l3, S_STR ("t"), &r);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT);
    cr_expect_eq (r.expire_ms, 0);
    //  A far future is clamped, not an error.
    s_set (loop, l3, S_STR ("far"), S_STR ("x"), UINT64_MAX);
    s_get (loop, l3, S_STR ("far"), &r);
    cr_expect_eq (r.expire_ms, 253402300799999ULL);
    s_res_reset (&r);
}

static void
s_binary (zo_loop_t *loop, zo_l3_t *l3)
{
    res_t r = { 0 };
    const char k1 [] = { 'a', 0, 'b', (char) 0xff, '\'' };
    const char k2 [] = { 'a', 0, 'c', (char) 0xff, '\'' };
    const char v1 [] = { 0, 0, 'x', 0, '\\', (char) 0x80 };
    s_set (loop, l3, k1, sizeof k1, v1, sizeof v1, 0);
    s_set (loop, l3, k2, sizeof k2, "two", 3, 0);
    s_get (loop, l3, k1, sizeof k1, &r);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT);
    cr_expect (r.len == sizeof v1 && !memcmp (r.value, v1, sizeof v1), "NULs kept");
    s_get (loop, l3, k2, sizeof k2, &r);
    cr_expect (r.len == 3 && !memcmp (r.value, "two", 3), "keys differ after a NUL");
    //  The empty key and the empty value are like any other.
    s_set (loop, l3, "", 0, "", 0, 0);
    s_get (loop, l3, "", 0, &r);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT);
    cr_expect_eq (r.len, 0);
    cr_expect_eq (s_del (loop, l3, "", 0), 1);
    //  A 1 MiB value of every byte.
    size_t big_len = 1 << 20;
    char *big = (char *) malloc (big_len);
    for (size_t i = 0; i < big_len; i++)
        big [i] = (char) (i * 7919 >> 3);
    s_set (loop, l3, S_STR ("big"), big, big_len, 0);
    s_get (loop, l3, S_STR ("big"), &r);
    cr_expect_eq (r.rc, ZO_LEVEL_HIT);
    cr_expect (r.len == big_len && !memcmp (r.value, big, big_len), "1 MiB intact");
    free (big);
    //  fn may be NULL for changes: done all the same.
    cr_assert_eq (zo_l3_set (l3, S_STR ("nofn"), S_STR ("y"), 0, NULL, NULL), 0);
    cr_assert_eq (zo_l3_touch (l3, S_STR ("nofn"), 0, NULL, NULL), 0);
    s_expect_hit (loop, l3, "nofn", "y");
    cr_assert_eq (zo_l3_del (l3, S_STR ("nofn"), NULL, NULL), 0);
    s_expect_miss (loop, l3, "nofn");
    s_res_reset (&r);
}

//  Expired on the server's clock at once; the row itself stays until the
//  cleanup.
static void
s_ttl (zo_loop_t *loop, zo_l3_t *l3)
{
    s_set (loop, l3, S_STR ("ttl"), S_STR ("soon"), s_wall_ms () + 200);
    s_expect_hit (loop, l3, "ttl", "soon");
    s_spin (loop, 400);
    s_expect_miss (loop, l3, "ttl");
    cr_expect_eq (s_del (loop, l3, S_STR ("ttl")), 0, "an expired row is not there");
    cr_expect_eq (s_touch (loop, l3, S_STR ("ttl"), 0), 0, "nor touched back to life");
    s_expect_miss (loop, l3, "ttl");
}

//  The statement timeout is the server's: a get behind a lock fails after
//  it, and the level stays up.
static void
s_statement_timeout (zo_loop_t *loop, zo_l3_t *l3, const char *conninfo)
{
    PGconn *conn = s_psql (conninfo);
    s_exec (conn, "BEGIN");
    s_exec (conn, "LOCK TABLE zorch_cache IN ACCESS EXCLUSIVE MODE");
    res_t r = { 0 };
    uint64_t start = zo_loop_now_ms (loop);
    cr_assert_eq (zo_l3_get (l3, S_STR ("k"), s_on_get, &r), 0);
    cr_assert (s_wait (loop, &r.calls, 1, 5000));
    uint64_t took = zo_loop_now_ms (loop) - start;
    cr_expect_eq (r.rc, ZO_LEVEL_ERROR);
    cr_expect (took >= 900 && took < 3000, "failed after %lu ms", (unsigned long) took);
    s_exec (conn, "ROLLBACK");
    PQfinish (conn);
    cr_expect (zo_l3_up (l3));
    s_expect_miss (loop, l3, "k");
}

//  Past max_inflight: EAGAIN, counted; the accepted ones answer.
static void
s_bounded (zo_loop_t *loop, const char *conninfo, zo_stats_t *stats)
{
    st_t st = { loop };
    zo_l3_opts_t opts = { .conninfo = conninfo, .max_inflight = 4, .stats = stats };
    zo_l3_t *l3 = s_up (loop, &opts, &st);
    res_t r [5] = { { 0 } };
    for (int i = 0; i < 4; i++)
        cr_assert_eq (zo_l3_get (l3, S_STR ("k"), s_on_get, &r [i]), 0);
    errno = 0;
    cr_expect_eq (zo_l3_get (l3, S_STR ("k"), s_on_get, &r [4]), -1);
    cr_expect_eq (errno, EAGAIN);
    cr_expect_eq (*zo_stats_counter (stats, "l3_rejected_total"), 1);
    cr_expect_eq (*zo_stats_gauge (stats, "l3_inflight"), 4);
    int calls = s_calls;
    cr_assert (s_wait (loop, &s_calls, calls + 4, 5000));
    cr_expect_eq (r [4].calls, 0);
    cr_expect_eq (*zo_stats_gauge (stats, "l3_inflight"), 0);
    zo_l3_destroy (&l3);
}

//  The ticker deletes expired rows, in batches while they come full; rows
//  not expired stay.
static void
s_cleanup (zo_loop_t *loop, const char *conninfo)
{
    zo_stats_t *stats = zo_stats_new ("cache", "cleanup");
    st_t st = { loop };
    zo_l3_opts_t opts = { .conninfo = conninfo, .table = "zt_cleanup",
                          .cleanup_interval_ms = 150, .cleanup_batch = 7, .stats = stats };
    zo_l3_t *l3 = s_up (loop, &opts, &st);
    uint64_t soon = s_wall_ms () + 1000;
    char key [32];
    int calls = s_calls;
    res_t r [55] = { { 0 } };
    for (int i = 0; i < 55; i++) {
        snprintf (key, sizeof key, "c%d", i);
        cr_assert_eq (zo_l3_set (l3, S_STR (key), S_STR ("v"), i < 50? soon: 0,
                                 s_on_done, &r [i]), 0);
    }
    cr_assert (s_wait (loop, &s_calls, calls + 55, 5000));
    cr_expect_eq (s_count (conninfo, "SELECT count(*) FROM zt_cleanup"), 55);
    //  50 rows at 7 a batch: 8 batches in one round.
    uint64_t *removed = zo_stats_counter (stats, "l3_expired_removed_total");
    for (int i = 0; i < 100 && *removed < 50; i++)
        s_spin (loop, 50);
    cr_expect_eq (*removed, 50);
    cr_expect_eq (s_count (conninfo, "SELECT count(*) FROM zt_cleanup"), 5);
    s_expect_hit (loop, l3, "c50", "v");
    zo_l3_destroy (&l3);
    zo_stats_destroy (&stats);
}

//  Globs: * and ? through LIKE, [..] through fnmatch, over a few thousand
//  keys, a page of 500 at a time; others left alone.
static void
s_invalidation (zo_loop_t *loop, const char *conninfo)
{
    st_t st = { loop };
    zo_stats_t *stats = zo_stats_new ("cache", "inv");
    zo_l3_opts_t opts = { .conninfo = conninfo, .table = "zt_inv", .cleanup_batch = 500,
                          .stats = stats };
    zo_l3_t *l3 = s_up (loop, &opts, &st);
    const char *groups [] = { "a", "b", "c" };
    char key [32];
    int calls = s_calls;
    static res_t r [3100];
    memset (r, 0, sizeof r);
    for (int i = 0; i < 3100; i++) {
        if (i < 3000)
            snprintf (key, sizeof key, "inv:%s:%d", groups [i / 1000], i % 1000);
        else
            snprintf (key, sizeof key, "other:%d", i);
        cr_assert_eq (zo_l3_set (l3, S_STR (key), S_STR ("v"), 0, s_on_done, &r [i]), 0);
    }
    cr_assert (s_wait (loop, &s_calls, calls + 3100, 15000));
    //  A class: fnmatch over the keys under "inv:", in pages.
    cr_expect_eq (s_invalidate (loop, l3, S_STR ("inv:[ab]:*")), 2000);
    s_expect_miss (loop, l3, "inv:a:5");
    s_expect_miss (loop, l3, "inv:b:999");
    s_expect_hit (loop, l3, "inv:c:5", "v");
    cr_expect_eq (s_count (conninfo, "SELECT count(*) FROM zt_inv"), 1100);
    cr_expect_eq (*zo_stats_counter (stats, "l3_invalidated_total"), 2000);
    //  ? is one byte; * any, over two batches of 500.
    cr_expect_eq (s_invalidate (loop, l3, S_STR ("inv:c:1?")), 10);
    s_expect_hit (loop, l3, "inv:c:1", "v");
    s_expect_hit (loop, l3, "inv:c:100", "v");
    cr_expect_eq (s_invalidate (loop, l3, S_STR ("inv:c:*")), 990);
    cr_expect_eq (s_count (conninfo, "SELECT count(*) FROM zt_inv"), 100);
    cr_expect_eq (s_invalidate (loop, l3, S_STR ("nothing*")), 0);
    //  A class with no literal prefix scans everything; negation and
    //  ranges as fnmatch has them.
    cr_expect_eq (s_invalidate (loop, l3, S_STR ("[o]ther:30[!0-4]?")), 50);
    cr_expect_eq (s_count (conninfo, "SELECT count(*) FROM zt_inv"), 50);
    cr_expect_eq (s_invalidate (loop, l3, S_STR ("*")), 50);

    //  LIKE's own metacharacters are literal bytes of the glob.
    const char *keys [] = { "100%", "100x", "a_b", "axb", "back\\slash", "backxslash",
                            "star*", "starx", "[x]", "x" };
    for (size_t i = 0; i < sizeof keys / sizeof keys [0]; i++)
        s_set (loop, l3, S_STR (keys [i]), S_STR ("v"), 0);
    cr_expect_eq (s_invalidate (loop, l3, S_STR ("100%")), 1);
    s_expect_hit (loop, l3, "100x", "v");
    cr_expect_eq (s_invalidate (loop, l3, S_STR ("a_b")), 1);
    s_expect_hit (loop, l3, "axb", "v");
    cr_expect_eq (s_invalidate (loop, l3, S_STR ("back\\\\slash")), 1);
    s_expect_hit (loop, l3, "backxslash", "v");
    cr_expect_eq (s_invalidate (loop, l3, S_STR ("star\\*")), 1, "an escaped *");
    s_expect_hit (loop, l3, "starx", "v");
    cr_expect_eq (s_invalidate (loop, l3, S_STR ("\\[x]")), 1, "an escaped [");
    s_expect_hit (loop, l3, "x", "v");
    //  A NUL byte: fine in a LIKE, refused with a class.
    s_set (loop, l3, "n\0l", 3, "v", 1, 0);
    cr_expect_eq (s_invalidate (loop, l3, "n\0*", 3), 1);
    errno = 0;
    cr_expect_eq (zo_l3_invalidate (l3, "[n]\0*", 5, NULL, NULL), -1);
    cr_expect_eq (errno, EINVAL);
    //  Expired rows are not counted (nor deleted: the cleanup's).
    s_set (loop, l3, S_STR ("gone1"), S_STR ("v"), s_wall_ms () - 1000);
    s_set (loop, l3, S_STR ("gone2"), S_STR ("v"), 0);
    cr_expect_eq (s_invalidate (loop, l3, S_STR ("gone*")), 1);
    cr_expect_eq (s_invalidate (loop, l3, S_STR ("gon[e]*")), 0);
    zo_l3_destroy (&l3);
    zo_stats_destroy (&stats);
}

//  The table outlives the level: a new one finds what the old one set.
static void
s_persistence (zo_loop_t *loop, const char *conninfo)
{
    st_t st = { loop };
    zo_l3_opts_t opts = { .conninfo = conninfo };
    zo_l3_t *l3 = s_up (loop, &opts, &st);
    s_set (loop, l3, S_STR ("persist"), S_STR ("yes"), 0);
    zo_l3_destroy (&l3);
    cr_expect_null (l3);
    zo_l3_destroy (&l3);            //  harmless
    l3 = s_up (loop, &opts, &st);
    s_expect_hit (loop, l3, "persist", "yes");
    zo_l3_destroy (&l3);
}

//  Destroyed with operations in flight: each ends ERROR before destroy
//  returns. Then destroyed from inside a callback, others in flight.
static void
s_destroy_pending (zo_loop_t *loop, const char *conninfo)
{
    st_t st = { loop };
    zo_l3_opts_t opts = { .conninfo = conninfo };
    zo_l3_t *l3 = s_up (loop, &opts, &st);
    res_t r [10] = { { 0 } };
    for (int i = 0; i < 5; i++) {
        cr_assert_eq (zo_l3_get (l3, S_STR ("persist"), s_on_get, &r [i]), 0);
        cr_assert_eq (zo_l3_set (l3, S_STR ("p2"), S_STR ("v"), 0, s_on_done, &r [5 + i]), 0);
    }
    zo_l3_destroy (&l3);
    for (int i = 0; i < 10; i++) {
        cr_expect_eq (r [i].calls, 1, "op %d called back in destroy", i);
        cr_expect_eq (r [i].rc, i < 5? ZO_LEVEL_ERROR: -1);
    }
    for (int i = 0; i < 10; i++)
        s_res_reset (&r [i]);
    l3 = s_up (loop, &opts, &st);
    r [0].destroy = &l3;
    cr_assert_eq (zo_l3_get (l3, S_STR ("persist"), s_on_get, &r [0]), 0);
    for (int i = 1; i < 10; i++)
        cr_assert_eq (zo_l3_get (l3, S_STR ("persist"), s_on_get, &r [i]), 0);
    cr_assert (s_wait (loop, &r [0].calls, 1, 5000));
    cr_expect_null (l3);
    cr_expect_eq (r [0].rc, ZO_LEVEL_HIT);
    for (int i = 1; i < 10; i++) {
        cr_expect_eq (r [i].calls, 1);
        cr_expect_eq (r [i].rc, ZO_LEVEL_ERROR);
    }
    for (int i = 0; i < 10; i++)
        s_res_reset (&r [i]);
    //  Nothing of it is left on the loop.
    s_spin (loop, 50);
}

static zt_server_t pg;
static void s_stop_pg (void) { zt_server_stop (&pg); }

static void
s_conninfo (char *buf, size_t size)
{
    snprintf (buf, size, "host=127.0.0.1 port=%d user=postgres dbname=postgres", pg.port);
}

Test (l3, operations_against_a_server, .fini = s_stop_pg, .timeout = 60)
{
    cr_assert_eq (zt_pg_start (&pg), 0);
    char conninfo [128];
    s_conninfo (conninfo, sizeof conninfo);
    //  The level logs through zsys, whose first line makes its context
    //  (and its fds): made before counting.
    zsys_init ();
    int fds = s_fds ();
    zo_loop_t *loop = zo_loop_new ();
    zo_stats_t *stats = zo_stats_new ("cache", "test");
    st_t st = { loop };
    zo_l3_opts_t opts = { .conninfo = conninfo, .stats = stats };
    zo_l3_t *l3 = s_up (loop, &opts, &st);
    cr_expect_eq (*zo_stats_gauge (stats, "l3_up"), 1);
    cr_expect_eq (s_count (conninfo, "SELECT count(*) FROM pg_indexes"
                                     " WHERE indexname = 'zorch_cache_expires_at'"), 1);
    s_operations (loop, l3);
    s_binary (loop, l3);
    s_ttl (loop, l3);
    s_statement_timeout (loop, l3, conninfo);
    cr_expect_gt (*zo_stats_counter (stats, "l3_hits_total"), 5);
    cr_expect_gt (*zo_stats_counter (stats, "l3_misses_total"), 3);
    cr_expect_gt (*zo_stats_counter (stats, "l3_sets_total"), 5);
    cr_expect_gt (*zo_stats_counter (stats, "l3_dels_total"), 3);
    cr_expect_eq (*zo_stats_counter (stats, "l3_errors_total"), 1, "the timed-out get");
    cr_expect_eq (*zo_stats_counter (stats, "l3_reconnects_total"), 0);
    zo_l3_destroy (&l3);
    cr_expect_eq (*zo_stats_gauge (stats, "l3_up"), 0);
    zo_stats_destroy (&stats);
    stats = zo_stats_new ("cache", "bounded");
    s_bounded (loop, conninfo, stats);
    zo_stats_destroy (&stats);
    s_cleanup (loop, conninfo);
    s_invalidation (loop, conninfo);
    s_persistence (loop, conninfo);
    s_destroy_pending (loop, conninfo);
    zo_loop_destroy (&loop);
    cr_expect_eq (s_fds (), fds, "every fd closed");
}

//  PostgreSQL dies with operations in flight (held behind a lock, so that
//  none can have been answered): each ends ERROR, on_state says down once,
//  operations are refused while down, and the level comes back by itself
//  after the server does, with what it had.
Test (l3, server_killed_mid_run, .fini = s_stop_pg, .timeout = 60)
{
    cr_assert_eq (zt_pg_start (&pg), 0);
    char conninfo [128];
    s_conninfo (conninfo, sizeof conninfo);
    zo_loop_t *loop = zo_loop_new ();
    zo_stats_t *stats = zo_stats_new ("cache", "killed");
    st_t st = { loop };
    zo_l3_opts_t opts = { .conninfo = conninfo, .statement_timeout_ms = 20000,
                          .backoff_min_ms = 20, .backoff_max_ms = 200, .stats = stats };
    zo_l3_t *l3 = s_up (loop, &opts, &st);
    s_set (loop, l3, S_STR ("kept"), S_STR ("before"), 0);
    PGconn *conn = s_psql (conninfo);
    s_exec (conn, "BEGIN");
    s_exec (conn, "LOCK TABLE zorch_cache IN ACCESS EXCLUSIVE MODE");
    res_t r [20] = { { 0 } };
    for (int i = 0; i < 20; i++)
        if (i % 2)
            cr_assert_eq (zo_l3_get (l3, S_STR ("kept"), s_on_get, &r [i]), 0);
        else
            cr_assert_eq (zo_l3_set (l3, S_STR ("x"), S_STR ("y"), 0, s_on_done, &r [i]), 0);
    int calls = s_calls;
    s_spin (loop, 200);             //  sent, and waiting for the lock
    cr_expect_eq (s_calls, calls, "held");
    zt_server_kill (&pg);
    PQfinish (conn);
    cr_assert (s_wait (loop, &st.downs, 1, 10000), "down");
    cr_log_info ("server killed: %s", st.error);
    for (int i = 0; i < 20; i++) {
        cr_expect_eq (r [i].calls, 1);
        cr_expect_eq (r [i].rc, i % 2? ZO_LEVEL_ERROR: -1);
        s_res_reset (&r [i]);
    }
    cr_expect (!zo_l3_up (l3));
    cr_expect_eq (*zo_stats_gauge (stats, "l3_up"), 0);
    cr_expect_eq (*zo_stats_counter (stats, "l3_errors_total"), 20);
    //  Retrying meanwhile, without telling on_state each time.
    s_spin (loop, 500);
    cr_expect_eq (st.downs, 1);
    cr_expect_gt (*zo_stats_counter (stats, "l3_reconnects_total"), 2);
    errno = 0;
    cr_expect_eq (zo_l3_get (l3, S_STR ("kept"), s_on_get, &r [0]), -1);
    cr_expect_eq (errno, ENOTCONN);
    errno = 0;
    cr_expect_eq (zo_l3_set (l3, S_STR ("k"), S_STR ("v"), 0, NULL, NULL), -1);
    cr_expect_eq (errno, ENOTCONN);
    cr_expect_eq (zo_l3_invalidate (l3, S_STR ("*"), NULL, NULL), -1);
    cr_expect_eq (r [0].calls, 0);

    cr_assert_eq (zt_pg_restart (&pg), 0);
    cr_assert (s_wait (loop, &st.ups, 2, 10000), "up again by itself (%s)", st.error);
    s_expect_hit (loop, l3, "kept", "before");
    s_set (loop, l3, S_STR ("after"), S_STR ("v"), 0);
    s_expect_hit (loop, l3, "after", "v");
    cr_expect_eq (*zo_stats_gauge (stats, "l3_up"), 1);

    //  Killed again, destroyed from the first failed operation's callback
    //  while the connection fails the others: they end ERROR all the same.
    conn = s_psql (conninfo);
    s_exec (conn, "BEGIN");
    s_exec (conn, "LOCK TABLE zorch_cache IN ACCESS EXCLUSIVE MODE");
    r [0].destroy = &l3;
    for (int i = 0; i < 5; i++)
        cr_assert_eq (zo_l3_get (l3, S_STR ("kept"), s_on_get, &r [i]), 0);
    s_spin (loop, 100);
    zt_server_kill (&pg);
    PQfinish (conn);
    cr_assert (s_wait (loop, &r [0].calls, 1, 10000));
    cr_expect_null (l3);
    cr_expect_eq (st.downs, 1, "destroyed: on_state is not called");
    for (int i = 0; i < 5; i++) {
        cr_expect_eq (r [i].calls, 1);
        cr_expect_eq (r [i].rc, ZO_LEVEL_ERROR);
        s_res_reset (&r [i]);
    }
    //  And destroyed from its own on_state (false).
    cr_assert_eq (zt_pg_restart (&pg), 0);
    st = (st_t) { loop, .destroy_on_down = &l3 };
    l3 = s_up (loop, &opts, &st);
    zt_server_kill (&pg);
    cr_assert (s_wait (loop, &st.downs, 1, 10000), "down again");
    cr_expect_null (l3);
    s_spin (loop, 100);
    zo_loop_destroy (&loop);
    zo_stats_destroy (&stats);
}

//  A server that stops answering (SIGSTOP: the connection stays open):
//  with requests waiting and no answer past 2 x statement_timeout + 1 s,
//  the level drops the connection, its requests end ERROR, and it comes
//  back once the server answers again.
Test (l3, server_stopped_is_dropped, .fini = s_stop_pg, .timeout = 60)
{
    cr_assert_eq (zt_pg_start (&pg), 0);
    char conninfo [128];
    s_conninfo (conninfo, sizeof conninfo);
    zo_loop_t *loop = zo_loop_new ();
    st_t st = { loop };
    zo_l3_opts_t opts = { .conninfo = conninfo, .statement_timeout_ms = 200,
                          .connect_timeout_ms = 500, .backoff_min_ms = 20,
                          .backoff_max_ms = 100 };
    zo_l3_t *l3 = s_up (loop, &opts, &st);
    s_set (loop, l3, S_STR ("k"), S_STR ("v"), 0);
    cr_assert_eq (zt_server_signal (&pg, SIGSTOP), 0);
    res_t r [3] = { { 0 } };
    uint64_t start = zo_loop_now_ms (loop);
    for (int i = 0; i < 3; i++)
        cr_assert_eq (zo_l3_get (l3, S_STR ("k"), s_on_get, &r [i]), 0);
    bool down = s_wait (loop, &st.downs, 1, 5000);
    uint64_t took = zo_loop_now_ms (loop) - start;
    cr_assert_eq (zt_server_signal (&pg, SIGCONT), 0);
    cr_assert (down, "dropped");
    cr_log_info ("stopped server: %s after %lu ms", st.error, (unsigned long) took);
    cr_expect (strstr (st.error, "no answer"), "%s", st.error);
    cr_expect (took >= 1400 && took < 2500, "dropped after %lu ms", (unsigned long) took);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq (r [i].calls, 1);
        cr_expect_eq (r [i].rc, ZO_LEVEL_ERROR);
    }
    cr_assert (s_wait (loop, &st.ups, 2, 10000), "up again (%s)", st.error);
    s_expect_hit (loop, l3, "k", "v");
    zo_l3_destroy (&l3);
    zo_loop_destroy (&loop);
}

//  No server at first: the level is made all the same, says down once,
//  refuses operations, and comes up when the server appears. A table it
//  cannot use fails the setup: down, and up once the table is fixed.
Test (l3, down_at_start_then_up, .fini = s_stop_pg, .timeout = 60)
{
    cr_assert_eq (zt_pg_start (&pg), 0);
    zt_server_kill (&pg);           //  the port is known, nothing there
    char conninfo [128];
    s_conninfo (conninfo, sizeof conninfo);
    zo_loop_t *loop = zo_loop_new ();
    st_t st = { loop };
    zo_l3_opts_t opts = { .conninfo = conninfo, .backoff_min_ms = 20, .backoff_max_ms = 100,
                          .on_state = s_on_state, .arg = &st };
    zo_l3_t *l3 = zo_l3_new (loop, &opts);
    cr_assert (l3);
    cr_assert (s_wait (loop, &st.downs, 1, 5000));
    s_spin (loop, 300);
    cr_expect_eq (st.downs, 1, "told once");
    cr_expect_eq (st.ups, 0);
    cr_expect (strstr (st.error, "refused"), "%s", st.error);
    errno = 0;
    cr_expect_eq (zo_l3_touch (l3, S_STR ("k"), 0, NULL, NULL), -1);
    cr_expect_eq (errno, ENOTCONN);
    cr_assert_eq (zt_pg_restart (&pg), 0);
    cr_assert (s_wait (loop, &st.ups, 1, 10000), "up (%s)", st.error);
    s_set (loop, l3, S_STR ("k"), S_STR ("v"), 0);
    s_expect_hit (loop, l3, "k", "v");
    zo_l3_destroy (&l3);

    PGconn *conn = s_psql (conninfo);
    s_exec (conn, "CREATE TABLE zt_bad (key text PRIMARY KEY)");
    st = (st_t) { loop };
    opts.table = "zt_bad";
    l3 = zo_l3_new (loop, &opts);
    cr_assert (l3);
    cr_assert (s_wait (loop, &st.downs, 1, 5000));
    cr_expect (strstr (st.error, "setup"), "%s", st.error);
    cr_log_info ("bad table: %s", st.error);
    cr_expect (!zo_l3_up (l3));
    s_exec (conn, "DROP TABLE zt_bad");
    PQfinish (conn);
    cr_assert (s_wait (loop, &st.ups, 1, 5000), "up once the table is fixed");
    s_set (loop, l3, S_STR ("k"), S_STR ("v"), 0);
    zo_l3_destroy (&l3);
    zo_loop_destroy (&loop);
}

Test (l3, bad_options)
{
    zo_loop_t *loop = zo_loop_new ();
    const char *bad [] = { "", "Upper", "1abc", "a-b", "a b", "x\"y",
                           "a23456789012345678901234567890123456789012345678901" "23" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        errno = 0;
        zo_l3_opts_t opts = { .conninfo = "host=127.0.0.1", .table = bad [i] };
        cr_expect_null (zo_l3_new (loop, &opts), "table %s", bad [i]);
        cr_expect_eq (errno, EINVAL);
    }
    errno = 0;
    cr_expect_null (zo_l3_new (loop, &(zo_l3_opts_t) { .table = "t" }), "no conninfo");
    cr_expect_eq (errno, EINVAL);
    //  The longest name fits; made and destroyed before it ever connects.
    zo_l3_opts_t opts = { .conninfo = "host=127.0.0.1 port=1",
                          .table = "_23456789012345678901234567890123456789012345678901" "2" };
    zo_l3_t *l3 = zo_l3_new (loop, &opts);
    cr_expect (l3);
    zo_l3_destroy (&l3);
    cr_expect_eq (zo_loop_run (loop), 0, "nothing left on the loop");
    zo_loop_destroy (&loop);
}
