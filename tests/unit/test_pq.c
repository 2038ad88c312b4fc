/*  Tests of actors/runtime/zo_pq.c. One test starts a real PostgreSQL
    (initdb takes seconds, so once) on 127.0.0.1 and a free port
    (tests/unit/zt_servers.c) and goes through the cases that need it;
    the others need no server.  */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "zo_pq.h"
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

//  What the callbacks saw.
typedef struct {
    zo_loop_t *loop;
    int ups, downs;
    char error [256];
    uint64_t down_ms;
    int results, nulls, failed, out_of_order, expect;
    int stop_at;                    //  stop the loop after this many results
    int destroy_at;                 //  destroy *self_p after this many
    int notifies;
    char channel [64], payload [64];
    int ticks;
    uint64_t last_tick_ms, max_gap_ms;  //  the longest wait between ticks
    bool destroy_on_up;
    zo_pq_t **self_p;
} st_t;

static void
s_on_state (zo_pq_t *pq, bool up, const char *error, void *arg)
{
    st_t *st = (st_t *) arg;
    if (up)
        st->ups++;
    else {
        st->downs++;
        cr_expect (error && *error);
        snprintf (st->error, sizeof (st->error), "%s", error? error: "");
        st->down_ms = zo_loop_now_ms (st->loop);
    }
    if (up && st->destroy_on_up)
        zo_pq_destroy (st->self_p);
    zo_loop_stop (st->loop);
}

static void
s_on_notify (zo_pq_t *pq, const PGnotify *n, void *arg)
{
    st_t *st = (st_t *) arg;
    st->notifies++;
    snprintf (st->channel, sizeof (st->channel), "%s", n->relname);
    snprintf (st->payload, sizeof (st->payload), "%s", n->extra);
    zo_loop_stop (st->loop);
}

//  A request: "SELECT $1::int" answers its parameter n; requests are
//  numbered in the order sent and must come back in that order.
typedef struct {
    st_t *st;
    int n;
    bool expect_error;
    const char *want;               //  the answer, when not n
} req_t;

static void
s_on_result (zo_pq_t *pq, const PGresult *res, const char *error, void *arg)
{
    req_t *req = (req_t *) arg;
    st_t *st = req->st;
    st->results++;
    if (req->n != st->expect++)
        st->out_of_order++;
    if (!res) {
        st->nulls++;
        cr_expect (error && *error);
        snprintf (st->error, sizeof (st->error), "%s", error? error: "");
    }
    else
    if (error) {
        st->failed++;
        cr_expect (req->expect_error, "request %d failed: %s", req->n, error);
        cr_expect_eq (PQresultStatus (res), PGRES_FATAL_ERROR);
    }
    else {
        cr_expect (!req->expect_error, "request %d should have failed", req->n);
        if (req->want)
            cr_expect_str_eq (PQgetvalue (res, 0, 0), req->want);
        else
        if (PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1)
            cr_expect_eq (atoi (PQgetvalue (res, 0, 0)), req->n);
    }
    if (st->results == st->destroy_at)
        zo_pq_destroy (st->self_p);
    if (st->results == st->stop_at)
        zo_loop_stop (st->loop);
}

static int
s_end (zo_loop_t *loop, int id, void *arg)
{
    *(bool *) arg = true;
    zo_loop_stop (loop);
    return 0;
}

//  Runs the loop until a callback stops it; fails past ms.
static void
s_run (zo_loop_t *loop, uint64_t ms)
{
    bool late = false;
    int timer = zo_loop_timer (loop, ms, s_end, &late);
    cr_assert_eq (zo_loop_run (loop), 0);
    zo_loop_cancel (loop, timer);
    cr_assert (!late, "nothing happened in %lu ms", (unsigned long) ms);
}

static int
s_send_int (zo_pq_t *pq, req_t *req)
{
    char text [16];
    snprintf (text, sizeof (text), "%d", req->n);
    const char *values [] = { text };
    return zo_pq_send (pq, "SELECT $1::int", 1, NULL, values, NULL, NULL, 0,
                       s_on_result, req);
}

static zo_pq_t *
s_connect (zo_loop_t *loop, const char *conninfo, st_t *st)
{
    zo_pq_opts_t opts = { .on_state = s_on_state, .on_notify = s_on_notify, .arg = st,
                          .connect_timeout_ms = 5000 };
    zo_pq_t *pq = zo_pq_new (loop, conninfo, &opts);
    cr_assert (pq);
    cr_expect_eq (st->ups + st->downs, 0, "never from inside the call");
    s_run (loop, 10000);
    return pq;
}

static void
s_round_trip (zo_loop_t *loop, const char *conninfo)
{
    st_t st = { .loop = loop, .stop_at = 1 };
    zo_pq_t *pq = s_connect (loop, conninfo, &st);
    cr_assert_eq (st.ups, 1, "connected (%s)", st.error);
    cr_assert (zo_pq_ready (pq));
    req_t req = { &st, 0 };
    cr_assert_eq (s_send_int (pq, &req), 0);
    s_run (loop, 5000);
    cr_expect_eq (st.results, 1);
    cr_expect_eq (st.nulls + st.failed, 0);
    zo_pq_destroy (&pq);
    cr_expect_null (pq);
}

#define N_INFLIGHT 3000

//  Many requests at once on one connection, a failing one among them: it
//  fails alone, the others answer, all in order.
static void
s_many_in_flight (zo_loop_t *loop, const char *conninfo)
{
    st_t st = { .loop = loop, .stop_at = N_INFLIGHT };
    zo_pq_opts_t opts = { .on_state = s_on_state, .arg = &st, .max_inflight = N_INFLIGHT };
    zo_pq_t *pq = zo_pq_new (loop, conninfo, &opts);
    cr_assert (pq);
    s_run (loop, 10000);
    cr_assert_eq (st.ups, 1, "connected (%s)", st.error);
    req_t *reqs = (req_t *) calloc (N_INFLIGHT, sizeof (req_t));
    for (int i = 0; i < N_INFLIGHT; i++) {
        reqs [i] = (req_t) { &st, i, i == 100 };
        if (i == 100)
            cr_assert_eq (zo_pq_send (pq, "SELECT 1/0", 0, NULL, NULL, NULL, NULL, 0,
                                      s_on_result, &reqs [i]), 0);
        else
            cr_assert_eq (s_send_int (pq, &reqs [i]), 0);
    }
    cr_expect_eq (zo_pq_inflight (pq), N_INFLIGHT);
    req_t extra = { &st, -1 };
    errno = 0;
    cr_expect_eq (s_send_int (pq, &extra), -1, "bounded by max_inflight");
    cr_expect_eq (errno, EAGAIN);
    cr_expect_eq (st.results, 0, "no callback from inside a send");
    s_run (loop, 20000);
    cr_expect_eq (st.results, N_INFLIGHT);
    cr_expect_eq (st.out_of_order, 0);
    cr_expect_eq (st.failed, 1);
    cr_expect_eq (st.nulls, 0);
    cr_expect_eq (zo_pq_inflight (pq), 0);
    zo_pq_destroy (&pq);
    free (reqs);
}

//  Prepared statements go through the same pipeline.
static void
s_prepared (zo_loop_t *loop, const char *conninfo)
{
    st_t st = { .loop = loop, .stop_at = 3 };
    zo_pq_t *pq = s_connect (loop, conninfo, &st);
    cr_assert_eq (st.ups, 1);
    req_t reqs [3] = { { &st, 0 }, { &st, 1, .want = "14" }, { &st, 2, .want = "16" } };
    cr_assert_eq (zo_pq_prepare (pq, "twice", "SELECT $1::int * 2", 1, NULL,
                                 s_on_result, &reqs [0]), 0);
    const char *v7 [] = { "7" }, *v8 [] = { "8" };
    cr_assert_eq (zo_pq_send_prepared (pq, "twice", 1, v7, NULL, NULL, 0,
                                       s_on_result, &reqs [1]), 0);
    cr_assert_eq (zo_pq_send_prepared (pq, "twice", 1, v8, NULL, NULL, 0,
                                       s_on_result, &reqs [2]), 0);
    s_run (loop, 5000);
    cr_expect_eq (st.results, 3);
    cr_expect_eq (st.nulls, 0);
    zo_pq_destroy (&pq);
}

static void
s_listen_notify (zo_loop_t *loop, const char *conninfo)
{
    st_t ls = { .loop = loop, .stop_at = 1 }, ns = { .loop = loop, .stop_at = 1 };
    zo_pq_t *listener = s_connect (loop, conninfo, &ls);
    zo_pq_t *notifier = s_connect (loop, conninfo, &ns);
    cr_assert_eq (ls.ups + ns.ups, 2);
    req_t lreq = { &ls, 0 }, nreq = { &ns, 0 };
    cr_assert_eq (zo_pq_send (listener, "LISTEN zo_test", 0, NULL, NULL, NULL, NULL, 0,
                              s_on_result, &lreq), 0);
    s_run (loop, 5000);
    cr_assert_eq (ls.results, 1);
    const char *payload [] = { "hello" };
    cr_assert_eq (zo_pq_send (notifier, "SELECT pg_notify('zo_test', $1)", 1, NULL, payload,
                              NULL, NULL, 0, s_on_result, &nreq), 0);
    //  Stops at the notifier's result or the notification, whichever is
    //  first; then waits for the notification if need be.
    s_run (loop, 5000);
    if (!ls.notifies)
        s_run (loop, 5000);
    cr_expect_eq (ls.notifies, 1);
    cr_expect_str_eq (ls.channel, "zo_test");
    cr_expect_str_eq (ls.payload, "hello");
    cr_expect_eq (ns.notifies, 0, "only listeners hear it");
    zo_pq_destroy (&listener);
    zo_pq_destroy (&notifier);
}

//  host=localhost goes through the resolver thread, and libpq is given
//  the addresses (hostaddr) with the name kept for messages.
static void
s_localhost (zo_loop_t *loop, int port)
{
    char conninfo [128];
    snprintf (conninfo, sizeof (conninfo), "host=localhost port=%d user=postgres dbname=postgres",
              port);
    st_t st = { .loop = loop };
    zo_pq_t *pq = s_connect (loop, conninfo, &st);
    cr_assert_eq (st.ups, 1, "connected to localhost (%s)", st.error);
    cr_expect_str_eq (PQhost (zo_pq_conn (pq)), "localhost");
    cr_expect_str_eq (PQhostaddr (zo_pq_conn (pq)), "127.0.0.1");
    //  libpq was handed the addresses: had it resolved the name itself
    //  (blocking), its hostaddr option would be empty.
    PQconninfoOption *opts = PQconninfo (zo_pq_conn (pq));
    const char *hostaddr = NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (!strcmp (o->keyword, "hostaddr"))
            hostaddr = o->val;
    cr_expect (hostaddr && strstr (hostaddr, "127.0.0.1"), "hostaddr %s",
               hostaddr? hostaddr: "(none)");
    cr_log_info ("localhost: hostaddr=%s", hostaddr? hostaddr: "(none)");
    PQconninfoFree (opts);
    zo_pq_destroy (&pq);
}

static int
s_tick (zo_loop_t *loop, int id, void *arg)
{
    st_t *st = (st_t *) arg;
    uint64_t now = zo_loop_now_ms (loop);
    if (st->ticks++ && now - st->last_tick_ms > st->max_gap_ms)
        st->max_gap_ms = now - st->last_tick_ms;
    st->last_tick_ms = now;
    return 0;
}

//  The server dies with requests in flight: each gets NULL and the
//  reason, on_state says down, the loop goes on. Then the server comes
//  back and zo_pq_connect makes a new connection (a new socket) on the
//  same zo_pq_t.
static void
s_killed_and_back (zo_loop_t *loop, zt_server_t *pg, const char *conninfo)
{
    st_t st = { .loop = loop };
    zo_pq_t *pq = s_connect (loop, conninfo, &st);
    cr_assert_eq (st.ups, 1);
    int fd_before = PQsocket (zo_pq_conn (pq));
    req_t reqs [5];
    for (int i = 0; i < 5; i++) {
        reqs [i] = (req_t) { &st, i };
        cr_assert_eq (zo_pq_send (pq, "SELECT pg_sleep(10)", 0, NULL, NULL, NULL, NULL, 0,
                                  s_on_result, &reqs [i]), 0);
    }
    int ticker = zo_loop_ticker (loop, 10, s_tick, &st);
    zt_server_kill (pg);
    s_run (loop, 10000);            //  on_state (down) stops it
    cr_expect_eq (st.downs, 1);
    cr_expect_eq (st.results, 5);
    cr_expect_eq (st.nulls, 5);
    cr_expect_eq (st.out_of_order, 0);
    cr_expect (!zo_pq_ready (pq));
    cr_log_info ("server killed: %s", st.error);
    //  The loop still runs: the ticker counts on while the zo_pq_t is down.
    int ticks = st.ticks;
    bool late = false;
    zo_loop_timer (loop, 100, s_end, &late);
    zo_loop_run (loop);
    cr_expect (st.ticks >= ticks + 8, "ticks %d -> %d late %d", ticks, st.ticks, late);
    errno = 0;
    req_t r = { &st, 5 };
    cr_expect_eq (s_send_int (pq, &r), -1);
    cr_expect_eq (errno, ENOTCONN);

    cr_assert_eq (zt_pg_restart (pg), 0);
    cr_assert_eq (zo_pq_connect (pq), 0);
    s_run (loop, 10000);
    cr_assert_eq (st.ups, 2, "reconnected (%s) ups %d downs %d", st.error, st.ups, st.downs);
    cr_log_info ("socket %d before, %d after", fd_before, PQsocket (zo_pq_conn (pq)));
    st.stop_at = 6;
    cr_assert_eq (s_send_int (pq, &r), 0);
    s_run (loop, 5000);
    cr_expect_eq (st.results, 6);
    cr_expect_eq (st.nulls, 5);
    zo_loop_cancel (loop, ticker);
    zo_pq_destroy (&pq);
}

//  Destroyed from inside its callbacks: from on_state (up), and from a
//  request's callback with others in flight, which get "destroyed".
static void
s_destroy_in_callbacks (zo_loop_t *loop, const char *conninfo)
{
    st_t st = { .loop = loop, .destroy_on_up = true };
    zo_pq_t *pq = zo_pq_new (loop, conninfo, &(zo_pq_opts_t) { .on_state = s_on_state,
                                                               .arg = &st });
    cr_assert (pq);
    st.self_p = &pq;
    s_run (loop, 10000);
    cr_expect_eq (st.ups, 1);
    cr_expect_null (pq, "destroyed by its on_state");
    st = (st_t) { .loop = loop };
    zo_pq_t *pq2 = s_connect (loop, conninfo, &st);
    cr_assert_eq (st.ups, 1);
    st.self_p = &pq2;
    req_t reqs [4];
    for (int i = 0; i < 4; i++) {
        reqs [i] = (req_t) { &st, i };
        cr_assert_eq (s_send_int (pq2, &reqs [i]), 0);
    }
    st.stop_at = 4;
    st.destroy_at = 1;
    s_run (loop, 5000);
    cr_expect_null (pq2);
    cr_expect_eq (st.results, 4);
    cr_expect_eq (st.nulls, 3);
    cr_expect_str_eq (st.error, "destroyed");
}

//  Stopped by the fixture, so that a failed assertion leaves no server
//  and no temp dir behind.
static zt_server_t pg;
static void s_stop_pg (void) { zt_server_stop (&pg); }

Test (pq, against_a_server, .fini = s_stop_pg, .timeout = 150)
{
    cr_assert_eq (zt_pg_start (&pg), 0);
    char conninfo [128];
    snprintf (conninfo, sizeof (conninfo),
              "host=127.0.0.1 port=%d user=postgres dbname=postgres", pg.port);
    int fds = s_fds ();
    zo_loop_t *loop = zo_loop_new ();
    s_round_trip (loop, conninfo);
    s_many_in_flight (loop, conninfo);
    s_prepared (loop, conninfo);
    s_listen_notify (loop, conninfo);
    s_localhost (loop, pg.port);
    s_destroy_in_callbacks (loop, conninfo);
    s_killed_and_back (loop, &pg, conninfo);
    zo_loop_destroy (&loop);
    cr_expect_eq (s_fds (), fds, "every fd closed");
}

//  Nothing listens there: the failure comes through on_state, soon, and
//  a ticker meanwhile keeps its time.
Test (pq, closed_port_fails_through_the_callback, .timeout = 30)
{
    int fds = s_fds ();
    zo_loop_t *loop = zo_loop_new ();
    char conninfo [128];
    snprintf (conninfo, sizeof (conninfo), "host=127.0.0.1 port=%d user=postgres",
              zt_free_port ());
    st_t st = { .loop = loop };
    uint64_t start = zo_loop_now_ms (loop);
    zo_pq_t *pq = s_connect (loop, conninfo, &st);
    cr_expect_eq (st.downs, 1);
    cr_expect_eq (st.ups, 0);
    cr_expect (strstr (st.error, "refused"), "%s", st.error);
    cr_expect (st.down_ms - start < 5000);
    //  Down, it waits: nothing on the loop is left of it.
    cr_expect_eq (zo_loop_run (loop), 0);
    zo_pq_destroy (&pq);
    zo_loop_destroy (&loop);
    cr_expect_eq (s_fds (), fds, "every fd closed");
}

//  A server that accepts and never answers: the connect timeout ends it,
//  on time, while a ticker keeps its time.
Test (pq, connect_timeout_while_timers_run_on_time, .timeout = 30)
{
    int lfd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t len = sizeof (sa);
    cr_assert_eq (bind (lfd, (struct sockaddr *) &sa, sizeof (sa)), 0);
    cr_assert_eq (listen (lfd, 8), 0);
    cr_assert_eq (getsockname (lfd, (struct sockaddr *) &sa, &len), 0);
    char conninfo [128];
    snprintf (conninfo, sizeof (conninfo), "host=127.0.0.1 port=%d user=postgres",
              ntohs (sa.sin_port));
    int fds = s_fds ();
    zo_loop_t *loop = zo_loop_new ();
    st_t st = { .loop = loop };
    zo_loop_ticker (loop, 10, s_tick, &st);
    zo_pq_opts_t opts = { .on_state = s_on_state, .arg = &st, .connect_timeout_ms = 400 };
    uint64_t start = zo_loop_now_ms (loop);
    zo_pq_t *pq = zo_pq_new (loop, conninfo, &opts);
    cr_assert (pq);
    s_run (loop, 5000);
    uint64_t took = st.down_ms - start;
    cr_expect_eq (st.downs, 1);
    cr_expect (strstr (st.error, "timed out"), "%s", st.error);
    cr_expect (took >= 400 && took < 700, "failed after %lu ms", (unsigned long) took);
    //  A loop blocked in the connect would show one gap of 400 ms.
    cr_expect (st.ticks >= 20, "%d ticks in %lu ms", st.ticks, (unsigned long) took);
    cr_expect (st.max_gap_ms < 150, "a tick came %lu ms late", (unsigned long) st.max_gap_ms);
    zo_pq_destroy (&pq);
    zo_loop_destroy (&loop);
    cr_expect_eq (s_fds (), fds, "every fd closed");
    close (lfd);
}

Test (pq, bad_conninfo_and_host_lists_fail_through_the_callback, .timeout = 30)
{
    zo_loop_t *loop = zo_loop_new ();
    st_t st = { .loop = loop };
    zo_pq_t *pq = s_connect (loop, "nonsense=1", &st);
    cr_expect_eq (st.downs, 1);
    cr_expect (strstr (st.error, "nonsense"), "%s", st.error);
    zo_pq_destroy (&pq);
    st = (st_t) { .loop = loop };
    pq = s_connect (loop, "host=a.example,b.example", &st);
    cr_expect_eq (st.downs, 1);
    cr_expect (strstr (st.error, "host lists"), "%s", st.error);
    //  Down, zo_pq_connect starts again (and fails again, the same way).
    cr_expect_eq (zo_pq_connect (pq), 0);
    s_run (loop, 5000);
    cr_expect_eq (st.downs, 2);
    zo_pq_destroy (&pq);
    zo_loop_destroy (&loop);
}

//  Destroyed while its resolver thread runs: the thread finishes alone.
Test (pq, destroy_while_resolving, .timeout = 30)
{
    zo_loop_t *loop = zo_loop_new ();
    zo_pq_t *pq = zo_pq_new (loop, "host=localhost port=1", NULL);
    cr_assert (pq);
    zo_pq_destroy (&pq);
    cr_expect_null (pq);
    cr_expect_eq (zo_loop_run (loop), 0, "nothing left on the loop");
    zo_loop_destroy (&loop);
    //  Gives the thread time to end before the leak check at exit.
    usleep (200000);
}
