/*  Tests of actors/pool/sql.c against a real PostgreSQL (zt_servers.c) on
    127.0.0.1 and a free port. initdb takes seconds, so each test that
    needs a server starts one and goes through several cases with it; the
    loop is always driven with a deadline, never left to run unbounded.  */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql.h"
#include "zt_servers.h"

//  ---------------------------------------------------------------------
//  Driving the loop

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

static int
s_end (zo_loop_t *loop, int id, void *arg)
{
    *(bool *) arg = true;
    zo_loop_stop (loop);
    return 0;
}

//  Runs the loop until *counter reaches target; false past ms.
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

//  Runs the loop for ms.
static void
s_run_for (zo_loop_t *loop, uint64_t ms)
{
    bool late = false;
    int timer = zo_loop_timer (loop, ms, s_end, &late);
    zo_loop_run (loop);
    zo_loop_cancel (loop, timer);
}

//  ---------------------------------------------------------------------
//  What the callbacks saw

typedef struct {
    int answers;
    int by_error [ZO_ERR_COUNT];
    zo_err_t error;
    char reason [256];
    char sqlstate [6];
    uint32_t count, attempts;
    char rows [4096];               //  the last result's rows, as msgpack
    size_t rows_len;
    char columns [1024];
    size_t columns_len;
    zo_databases_t **destroy_p;     //  destroy from the first callback
    double *watch;                  //  a gauge to follow
    double watch_max;
} st_t;

static void
s_on_result (void *arg, const zo_sql_result_t *r)
{
    st_t *st = (st_t *) arg;
    st->answers++;
    cr_assert (r->error < ZO_ERR_COUNT);
    st->by_error [r->error]++;
    st->error = r->error;
    snprintf (st->reason, sizeof (st->reason), "%s", r->reason);
    snprintf (st->sqlstate, sizeof (st->sqlstate), "%s", r->sqlstate);
    st->count = r->count;
    st->attempts = r->attempts;
    cr_assert (r->rows && r->columns);
    st->rows_len = r->rows_len < sizeof (st->rows)? r->rows_len: 0;
    memcpy (st->rows, r->rows, st->rows_len);
    st->columns_len = r->columns_len < sizeof (st->columns)? r->columns_len: 0;
    memcpy (st->columns, r->columns, st->columns_len);
    if (st->watch && *st->watch > st->watch_max)
        st->watch_max = *st->watch;
    if (st->destroy_p)
        zo_databases_destroy (st->destroy_p);
}

//  One query and its answer, within 10 s.
static void
s_query (zo_loop_t *loop, zo_databases_t *dbs, st_t *st, const char *sql, size_t n,
         const char *const *values, uint64_t timeout_ms)
{
    int before = st->answers;
    cr_assert_eq (zo_databases_query (dbs, "main", sql, n, values, NULL, timeout_ms,
                                      s_on_result, st), 0);
    cr_assert_eq (st->answers, before, "never from inside the call");
    cr_assert (s_wait (loop, &st->answers, before + 1, 10000), "no answer to %s", sql);
}

//  ---------------------------------------------------------------------
//  Against a server

static zt_server_t pg;
static void s_stop_pg (void) { zt_server_stop (&pg); }

static zo_database_conf_t
s_conf (char *conninfo, size_t size, uint32_t min, uint32_t max)
{
    snprintf (conninfo, size, "host=127.0.0.1 port=%d user=postgres dbname=postgres", pg.port);
    return (zo_database_conf_t) { .name = "main", .conninfo = conninfo, .min = min,
                                  .max = max, .statement_timeout_ms = 1000,
                                  .backoff_min_ms = 50, .backoff_max_ms = 200 };
}

//  The connections the server has from us (other than the asking one).
static int
s_backends (zo_loop_t *loop, zo_databases_t *dbs)
{
    st_t st = { 0 };
    s_query (loop, dbs, &st, "SELECT count(*)::int4 FROM pg_stat_activity"
                             " WHERE backend_type = 'client backend'", 0, NULL, 0);
    cr_assert_eq (st.error, ZO_ERR_NONE, "%s", st.reason);
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    cr_assert_eq (msgpack_unpack_next (&u, st.rows, st.rows_len, NULL), MSGPACK_UNPACK_SUCCESS);
    int n = (int) u.data.via.array.ptr [0].via.array.ptr [0].via.i64;
    msgpack_unpacked_destroy (&u);
    return n;
}

//  The server's count once it has settled on `want`, or what it still says
//  after 5 s: a backend whose client closed the connection leaves
//  pg_stat_activity only when it has noticed the close and exited.
static int
s_backends_settle (zo_loop_t *loop, zo_databases_t *dbs, int want)
{
    int n = s_backends (loop, dbs);
    for (int i = 0; i < 100 && n != want; i++) {
        s_run_for (loop, 50);
        n = s_backends (loop, dbs);
    }
    return n;
}

//  Every type: one row, checked field by field.
static void
s_types (zo_loop_t *loop, zo_databases_t *dbs)
{
    st_t st = { 0 };
    const char *values [] = { "42", "2.5", "true", "hello", NULL, "12345678901234567890.5",
                              "{\"a\": [1, 2]}", "-9000000000" };
    s_query (loop, dbs, &st,
             "SELECT $1::int4 AS i, $2::float8 AS f, $3::bool AS b, $4::text AS t,"
             " $5::text AS n, $6::numeric AS num, $7::json AS j, $8::int8 AS big,"
             " 7::int2 AS small, 1.5::float4 AS real, false AS no", 8, values, 0);
    cr_assert_eq (st.error, ZO_ERR_NONE, "%s", st.reason);
    cr_expect_eq (st.count, 1);
    cr_expect_eq (st.attempts, 1);
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    cr_assert_eq (msgpack_unpack_next (&u, st.columns, st.columns_len, NULL),
                  MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq (u.data.type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq (u.data.via.array.size, 11);
    cr_expect_eq (u.data.via.array.ptr [0].type, MSGPACK_OBJECT_STR);
    cr_expect (!strncmp (u.data.via.array.ptr [6].via.str.ptr, "j", 1));
    cr_assert_eq (msgpack_unpack_next (&u, st.rows, st.rows_len, NULL), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq (u.data.via.array.size, 1);
    msgpack_object *f = u.data.via.array.ptr [0].via.array.ptr;
    cr_assert_eq (u.data.via.array.ptr [0].via.array.size, 11);
    cr_expect_eq (f [0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    cr_expect_eq (f [0].via.u64, 42);
    cr_expect_eq (f [1].type, MSGPACK_OBJECT_FLOAT64);
    cr_expect_float_eq (f [1].via.f64, 2.5, 1e-9);
    cr_expect_eq (f [2].type, MSGPACK_OBJECT_BOOLEAN);
    cr_expect (f [2].via.boolean);
    cr_expect_eq (f [3].type, MSGPACK_OBJECT_STR);
    cr_expect (f [3].via.str.size == 5 && !memcmp (f [3].via.str.ptr, "hello", 5));
    cr_expect_eq (f [4].type, MSGPACK_OBJECT_NIL);
    cr_expect_eq (f [5].type, MSGPACK_OBJECT_STR);
    cr_expect (f [5].via.str.size == 22 && !memcmp (f [5].via.str.ptr, values [5], 22));
    cr_expect_eq (f [6].type, MSGPACK_OBJECT_STR);
    cr_expect (f [6].via.str.size == strlen (values [6])
               && !memcmp (f [6].via.str.ptr, values [6], strlen (values [6])));
    cr_expect_eq (f [7].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    cr_expect_eq (f [7].via.i64, -9000000000LL);
    cr_expect_eq (f [8].via.u64, 7);
    cr_expect_eq (f [9].type, MSGPACK_OBJECT_FLOAT64);
    cr_expect_float_eq (f [9].via.f64, 1.5, 1e-6);
    cr_expect_eq (f [10].type, MSGPACK_OBJECT_BOOLEAN);
    cr_expect (!f [10].via.boolean);
    msgpack_unpacked_destroy (&u);
}

//  Commands: their counts; errors: the server's message; bad requests.
static void
s_commands_and_errors (zo_loop_t *loop, zo_databases_t *dbs)
{
    st_t st = { 0 };
    s_query (loop, dbs, &st, "CREATE TABLE t (id int PRIMARY KEY, v text)", 0, NULL, 0);
    cr_assert_eq (st.error, ZO_ERR_NONE, "%s", st.reason);
    s_query (loop, dbs, &st, "INSERT INTO t SELECT g, 'x' FROM generate_series (1, $1::int) g",
             1, (const char *[]) { "5" }, 0);
    cr_assert_eq (st.error, ZO_ERR_NONE, "%s", st.reason);
    cr_expect_eq (st.count, 5);
    s_query (loop, dbs, &st, "UPDATE t SET v = $1 WHERE id > $2", 2,
             (const char *[]) { "y", "2" }, 0);
    cr_expect_eq (st.count, 3);
    s_query (loop, dbs, &st, "DELETE FROM t WHERE id = $1", 1, (const char *[]) { "1" }, 0);
    cr_expect_eq (st.count, 1);
    s_query (loop, dbs, &st, "SELECT id, v FROM t ORDER BY id", 0, NULL, 0);
    cr_expect_eq (st.count, 4);

    s_query (loop, dbs, &st, "SELEC 1", 0, NULL, 0);
    cr_expect_eq (st.error, ZO_ERR_UPSTREAM);
    cr_expect (strstr (st.reason, "syntax error"), "reason: %s", st.reason);
    cr_expect_str_eq (st.sqlstate, "42601");
    s_query (loop, dbs, &st, "INSERT INTO t VALUES (2, 'dup')", 0, NULL, 0);
    cr_expect_eq (st.error, ZO_ERR_UPSTREAM);
    cr_expect_str_eq (st.sqlstate, "23505");
    cr_log_info ("duplicate: %s", st.reason);

    s_query (loop, dbs, &st, "", 0, NULL, 0);
    cr_expect_eq (st.error, ZO_ERR_BAD_VALUE);
    cr_expect_eq (st.attempts, 0);
    size_t lengths [] = { 5 };
    int before = st.answers;
    cr_assert_eq (zo_databases_query (dbs, "main", "SELECT $1", 1, (const char *[]) { "ab" },
                                      lengths, 0, s_on_result, &st), 0);
    cr_assert (s_wait (loop, &st.answers, before + 1, 5000));
    cr_expect_eq (st.error, ZO_ERR_BAD_VALUE);
    errno = 0;
    cr_expect_eq (zo_databases_query (dbs, "nope", "SELECT 1", 0, NULL, NULL, 0, s_on_result,
                                      &st), -1);
    cr_expect_eq (errno, ENOENT);
    cr_expect (zo_databases_has (dbs, "main"));
    cr_expect (!zo_databases_has (dbs, "nope"));
}

//  A statement past statement_timeout (1 s): the server cancels it,
//  TIMEOUT with its message; a deadline shorter than the statement:
//  TIMEOUT at the deadline. The pool works on.
static void
s_timeouts (zo_loop_t *loop, zo_databases_t *dbs)
{
    st_t st = { 0 };
    uint64_t t0 = zo_clock_mono_ns ();
    s_query (loop, dbs, &st, "SELECT pg_sleep (3)", 0, NULL, 0);
    uint64_t took_ms = (zo_clock_mono_ns () - t0) / 1000000;
    cr_expect_eq (st.error, ZO_ERR_TIMEOUT);
    cr_expect_str_eq (st.sqlstate, "57014");
    cr_expect (took_ms >= 900 && took_ms < 2500, "took %llu ms", (unsigned long long) took_ms);
    cr_log_info ("statement timeout: %s", st.reason);

    t0 = zo_clock_mono_ns ();
    s_query (loop, dbs, &st, "SELECT pg_sleep (0.8)", 0, NULL, 200);
    took_ms = (zo_clock_mono_ns () - t0) / 1000000;
    cr_expect_eq (st.error, ZO_ERR_TIMEOUT);
    cr_expect (took_ms >= 190 && took_ms < 700, "took %llu ms", (unsigned long long) took_ms);
    cr_expect_str_eq (st.sqlstate, "");
    cr_log_info ("deadline: %s", st.reason);

    s_query (loop, dbs, &st, "SELECT 1", 0, NULL, 0);
    cr_expect_eq (st.error, ZO_ERR_NONE, "%s", st.reason);
}

Test (sql, against_a_server, .fini = s_stop_pg, .timeout = 60)
{
    cr_assert_eq (zt_pg_start (&pg), 0);
    char conninfo [128];
    zo_database_conf_t conf = s_conf (conninfo, sizeof (conninfo), 2, 4);
    zo_loop_t *loop = zo_loop_new ();
    zo_stats_t *stats = zo_stats_new ("pool", "test");
    char error [256];
    zo_databases_t *dbs = zo_databases_new (loop, stats, &conf, 1, error, sizeof (error));
    cr_assert (dbs, "%s", error);
    double *connections = zo_stats_gauge (stats, "main_connections");
    double *health = zo_stats_gauge (stats, "main_health");

    //  min connections at start, up.
    for (int i = 0; i < 500 && (*connections < 2 || zo_databases_health (dbs, "main") != ZO_HEALTH_UP); i++)
        s_run_for (loop, 10);
    cr_expect_eq (*connections, 2);
    cr_expect_eq (zo_databases_health (dbs, "main"), ZO_HEALTH_UP);
    cr_expect_eq (*health, 2);
    cr_expect_eq (s_backends (loop, dbs), 2);

    s_types (loop, dbs);
    s_commands_and_errors (loop, dbs);
    s_timeouts (loop, dbs);

    //  2,000 queries, 500 in flight at a time, over max 4 connections.
    st_t st = { .watch = connections };
    int sent = 0;
    while (st.answers < 2000) {
        while (sent < 2000 && sent - st.answers < 500) {
            char n [16];
            snprintf (n, sizeof (n), "%d", sent);
            cr_assert_eq (zo_databases_query (dbs, "main", "SELECT $1::int4 + 1", 1,
                                              (const char *[]) { n }, NULL, 10000,
                                              s_on_result, &st), 0);
            sent++;
        }
        cr_assert (s_wait (loop, &st.answers, st.answers + 1, 10000));
    }
    cr_expect_eq (st.by_error [ZO_ERR_NONE], 2000, "errors: %s", st.reason);
    cr_expect_eq (st.watch_max, 4, "connections at most %g", st.watch_max);
    int backends = s_backends (loop, dbs);
    cr_expect (backends <= 4 && backends >= 2, "%d backends", backends);
    cr_expect_eq (*zo_stats_counter (stats, "main_queries_total") >= 2000, true);
    cr_expect_eq (*zo_stats_gauge (stats, "main_queued"), 0);
    cr_expect_eq (*zo_stats_gauge (stats, "main_inflight"), 0);
    cr_expect (zo_stats_hist (stats, "main_query_ns")->count >= 2000);
    cr_expect (*zo_stats_counter (stats, "main_timeouts_total") >= 2);

    //  Pressure: the idle connections beyond min are closed at once, and
    //  more are opened on demand as before.
    uint32_t open = (uint32_t) *connections;
    cr_expect_eq (zo_databases_trim (dbs), open - 2, "%u were open", open);
    cr_expect_eq (*connections, 2);
    cr_expect_eq (zo_databases_trim (dbs), 0, "none left to close");
    cr_expect_eq (s_backends_settle (loop, dbs, 2), 2);
    st_t again = { .watch = connections };
    for (int i = 0; i < 100; i++)
        cr_assert_eq (zo_databases_query (dbs, "main", "SELECT pg_sleep (0.01)", 0, NULL, NULL, 10000,
                                          s_on_result, &again), 0);
    cr_assert (s_wait (loop, &again.answers, 100, 10000));
    cr_expect_eq (again.by_error [ZO_ERR_NONE], 100, "errors: %s", again.reason);
    cr_expect_gt (again.watch_max, 2, "opened on demand again: %g", again.watch_max);

    zo_databases_destroy (&dbs);
    cr_expect_null (dbs);
    zo_databases_destroy (&dbs);
    zo_stats_destroy (&stats);
    zo_loop_destroy (&loop);
}

//  Killed with queries in flight: they fail UPSTREAM, then requests fail
//  at once UNAVAILABLE and health is down; back by itself after restart.
//  Then destroyed with queries in flight and queued.
Test (sql, server_killed_and_back, .fini = s_stop_pg, .timeout = 60)
{
    cr_assert_eq (zt_pg_start (&pg), 0);
    char conninfo [128];
    zo_database_conf_t conf = s_conf (conninfo, sizeof (conninfo), 2, 2);
    conf.health_interval_ms = 100;
    conf.statement_timeout_ms = 20000;
    zo_loop_t *loop = zo_loop_new ();
    zo_stats_t *stats = zo_stats_new ("pool", "test");
    char error [256];
    zo_databases_t *dbs = zo_databases_new (loop, stats, &conf, 1, error, sizeof (error));
    cr_assert (dbs, "%s", error);
    double *up = zo_stats_gauge (stats, "main_up");
    for (int i = 0; i < 500 && zo_databases_health (dbs, "main") != ZO_HEALTH_UP; i++)
        s_run_for (loop, 10);
    cr_assert_eq (zo_databases_health (dbs, "main"), ZO_HEALTH_UP);

    st_t st = { 0 };
    for (int i = 0; i < 10; i++)
        cr_assert_eq (zo_databases_query (dbs, "main", "SELECT pg_sleep (10)", 0, NULL, NULL,
                                          15000, s_on_result, &st), 0);
    s_run_for (loop, 100);
    zt_server_kill (&pg);
    cr_assert (s_wait (loop, &st.answers, 10, 5000), "%d answers", st.answers);
    cr_expect_eq (st.by_error [ZO_ERR_UPSTREAM], 10, "%s", st.reason);
    cr_log_info ("in flight: %s", st.reason);
    for (int i = 0; i < 300 && zo_databases_health (dbs, "main") != ZO_HEALTH_DOWN; i++)
        s_run_for (loop, 10);
    cr_expect_eq (zo_databases_health (dbs, "main"), ZO_HEALTH_DOWN);
    cr_expect_eq (*up, 0);
    //  Fails fast, not at its deadline.
    uint64_t t0 = zo_clock_mono_ns ();
    st_t down = { 0 };
    for (int i = 0; i < 300 && down.error != ZO_ERR_UNAVAILABLE; i++) {
        down.error = ZO_ERR_NONE;
        s_query (loop, dbs, &down, "SELECT 1", 0, NULL, 5000);
    }
    cr_expect_eq (down.error, ZO_ERR_UNAVAILABLE);
    cr_expect ((zo_clock_mono_ns () - t0) / 1000000 < 4000);
    cr_log_info ("down: %s", down.reason);

    cr_assert_eq (zt_pg_restart (&pg), 0);
    for (int i = 0; i < 1000 && zo_databases_health (dbs, "main") != ZO_HEALTH_UP; i++)
        s_run_for (loop, 10);
    cr_expect_eq (zo_databases_health (dbs, "main"), ZO_HEALTH_UP);
    cr_expect_eq (*up, 1);
    cr_expect (*zo_stats_counter (stats, "main_reconnects_total") >= 2);
    st_t again = { 0 };
    s_query (loop, dbs, &again, "SELECT 1", 0, NULL, 0);
    cr_expect_eq (again.error, ZO_ERR_NONE, "%s", again.reason);

    //  Destroyed with 4 in flight (2 connections x 2) and 30 queued.
    st_t late = { 0 };
    for (int i = 0; i < 64; i++)
        cr_assert_eq (zo_databases_query (dbs, "main", "SELECT pg_sleep (5)", 0, NULL, NULL,
                                          15000, s_on_result, &late), 0);
    s_run_for (loop, 50);
    cr_expect_gt (*zo_stats_gauge (stats, "main_inflight"), 0);
    cr_expect_gt (*zo_stats_gauge (stats, "main_queued"), 0);
    zo_databases_destroy (&dbs);
    cr_expect_eq (late.answers, 64);
    cr_expect_eq (late.by_error [ZO_ERR_UNAVAILABLE], 64);
    cr_expect_str_eq (late.reason, "stopping");
    zo_stats_destroy (&stats);
    zo_loop_destroy (&loop);
}

//  Destroyed from inside a callback, with others in flight: they hear
//  "stopping" before it returns.
Test (sql, destroy_from_a_callback, .fini = s_stop_pg, .timeout = 60)
{
    cr_assert_eq (zt_pg_start (&pg), 0);
    char conninfo [128];
    zo_database_conf_t conf = s_conf (conninfo, sizeof (conninfo), 1, 1);
    zo_loop_t *loop = zo_loop_new ();
    char error [256];
    zo_databases_t *dbs = zo_databases_new (loop, NULL, &conf, 1, error, sizeof (error));
    cr_assert (dbs, "%s", error);
    st_t first = { .destroy_p = &dbs }, rest = { 0 };
    cr_assert_eq (zo_databases_query (dbs, "main", "SELECT 1", 0, NULL, NULL, 0, s_on_result,
                                      &first), 0);
    for (int i = 0; i < 20; i++)
        cr_assert_eq (zo_databases_query (dbs, "main", "SELECT pg_sleep (1)", 0, NULL, NULL, 0,
                                          s_on_result, &rest), 0);
    cr_assert (s_wait (loop, &first.answers, 1, 10000));
    cr_expect_null (dbs);
    cr_expect_eq (first.error, ZO_ERR_NONE, "%s", first.reason);
    cr_expect_eq (rest.answers, 20);
    cr_expect_eq (rest.by_error [ZO_ERR_UNAVAILABLE], 20);
    s_run_for (loop, 50);
    zo_loop_destroy (&loop);
}

//  A port nothing listens on: requests queued at start fail UNAVAILABLE
//  once the connect fails, not at their deadline.
Test (sql, no_server, .timeout = 30)
{
    char conninfo [128];
    snprintf (conninfo, sizeof (conninfo), "host=127.0.0.1 port=%d user=postgres",
              zt_free_port ());
    zo_database_conf_t conf = { .name = "main", .conninfo = conninfo, .backoff_min_ms = 50 };
    zo_loop_t *loop = zo_loop_new ();
    char error [256];
    zo_databases_t *dbs = zo_databases_new (loop, NULL, &conf, 1, error, sizeof (error));
    cr_assert (dbs, "%s", error);
    st_t st = { 0 };
    cr_assert_eq (zo_databases_query (dbs, "main", "SELECT 1", 0, NULL, NULL, 20000,
                                      s_on_result, &st), 0);
    cr_assert (s_wait (loop, &st.answers, 1, 5000));
    cr_expect_eq (st.error, ZO_ERR_UNAVAILABLE);
    cr_expect_eq (zo_databases_health (dbs, "main"), ZO_HEALTH_DOWN);
    cr_log_info ("%s", st.reason);
    zo_databases_destroy (&dbs);
    zo_loop_destroy (&loop);
}

//  A server that answers nothing: the watchdog drops the connection after
//  2 x statement_timeout + 1 s, its requests fail UPSTREAM; back after
//  SIGCONT.
Test (sql, server_stopped_is_dropped, .fini = s_stop_pg, .timeout = 60)
{
    cr_assert_eq (zt_pg_start (&pg), 0);
    char conninfo [128];
    zo_database_conf_t conf = s_conf (conninfo, sizeof (conninfo), 1, 1);
    conf.statement_timeout_ms = 200;
    conf.connect_timeout_ms = 500;
    zo_loop_t *loop = zo_loop_new ();
    char error [256];
    zo_databases_t *dbs = zo_databases_new (loop, NULL, &conf, 1, error, sizeof (error));
    cr_assert (dbs, "%s", error);
    st_t st = { 0 };
    s_query (loop, dbs, &st, "SELECT 1", 0, NULL, 0);
    cr_assert_eq (st.error, ZO_ERR_NONE, "%s", st.reason);
    cr_assert_eq (zt_server_signal (&pg, SIGSTOP), 0);
    uint64_t start = zo_loop_now_ms (loop);
    st_t r = { 0 };
    for (int i = 0; i < 3; i++)
        cr_assert_eq (zo_databases_query (dbs, "main", "SELECT pg_sleep (0.01)", 0, NULL, NULL, 10000,
                                          s_on_result, &r), 0);
    bool dropped = s_wait (loop, &r.answers, 3, 5000);
    uint64_t took = zo_loop_now_ms (loop) - start;
    cr_assert_eq (zt_server_signal (&pg, SIGCONT), 0);
    cr_assert (dropped, "dropped");
    cr_log_info ("stopped server: %s after %lu ms", r.reason, (unsigned long) took);
    cr_expect_eq (r.by_error [ZO_ERR_UPSTREAM], 3);
    cr_expect (strstr (r.reason, "no answer"), "%s", r.reason);
    cr_expect (took >= 1300 && took < 3000, "dropped after %lu ms", (unsigned long) took);
    for (int i = 0; i < 500 && zo_databases_health (dbs, "main") != ZO_HEALTH_UP; i++)
        s_run_for (loop, 10);
    cr_expect_eq (zo_databases_health (dbs, "main"), ZO_HEALTH_UP);
    s_query (loop, dbs, &st, "SELECT 1", 0, NULL, 0);
    cr_expect_eq (st.error, ZO_ERR_NONE, "%s", st.reason);
    zo_databases_destroy (&dbs);
    zo_loop_destroy (&loop);
}

Test (sql, bad_conf)
{
    zo_loop_t *loop = zo_loop_new ();
    char error [256];
    zo_database_conf_t good = { .name = "main", .conninfo = "host=127.0.0.1" };
    zo_database_conf_t bad [] = {
        { .name = "Main", .conninfo = "host=127.0.0.1" },
        { .name = "", .conninfo = "host=127.0.0.1" },
        { .name = NULL, .conninfo = "host=127.0.0.1" },
        { .name = "a_name_that_is_longer_than_32_bytes", .conninfo = "host=127.0.0.1" },
        { .name = "main", .conninfo = NULL },
        { .name = "main", .conninfo = "nonsense" },
        { .name = "main", .conninfo = "host=127.0.0.1", .min = 5, .max = 4 },
        { .name = "main", .conninfo = "host=127.0.0.1", .max = 65 },
        { .name = "main", .conninfo = "host=127.0.0.1", .statement_timeout_ms = 1ULL << 40 },
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad [0]); i++) {
        *error = 0;
        cr_expect_null (zo_databases_new (loop, NULL, &bad [i], 1, error, sizeof (error)),
                        "conf %zu", i);
        cr_expect (*error, "conf %zu says why", i);
        cr_log_info ("%s", error);
    }
    zo_database_conf_t twice [] = { good, good };
    cr_expect_null (zo_databases_new (loop, NULL, twice, 2, error, sizeof (error)));
    cr_expect (strstr (error, "twice"), "%s", error);
    zo_database_conf_t many [ZO_SQL_DATABASES + 1];
    cr_expect_null (zo_databases_new (loop, NULL, many, ZO_SQL_DATABASES + 1, error,
                                      sizeof (error)));
    zo_loop_destroy (&loop);
}
