/*  Tests of actors/runtime/zo_redis.c against a real redis-server, started
    by each test on 127.0.0.1 and a free port (tests/unit/zt_servers.c).  */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "zo_redis.h"
#include "zt_servers.h"

static zt_server_t redis;

static void s_start (void) { cr_assert_eq (zt_redis_start (&redis), 0); }
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

//  What a test's callbacks saw, in ac->data.
typedef struct {
    zo_loop_t *loop;
    int connected, connect_failed, disconnected, disconnect_status;
    char errstr [128];
    int replies, null_replies, out_of_order;
    uint64_t connect_done_ms;
    int ticks;
    uint64_t last_tick_ms, max_gap_ms;  //  the longest wait between ticks
    bool killed;
} state_t;

static void
s_on_connect (const redisAsyncContext *ac, int status)
{
    state_t *st = (state_t *) ac->data;
    if (status == REDIS_OK)
        st->connected++;
    else {
        st->connect_failed++;
        snprintf (st->errstr, sizeof (st->errstr), "%s", ac->errstr? ac->errstr: "");
        zo_loop_stop (st->loop);
    }
    st->connect_done_ms = zo_loop_now_ms (st->loop);
}

static void
s_on_disconnect (const redisAsyncContext *ac, int status)
{
    state_t *st = (state_t *) ac->data;
    st->disconnected++;
    st->disconnect_status = status;
    zo_loop_stop (st->loop);
}

static void
s_on_get (redisAsyncContext *ac, void *r, void *privdata)
{
    state_t *st = (state_t *) ac->data;
    redisReply *reply = (redisReply *) r;
    if (!reply) {
        st->null_replies++;
        return;
    }
    st->replies++;
    cr_expect_eq (reply->type, REDIS_REPLY_STRING);
    cr_expect_str_eq (reply->str, "v1");
    redisAsyncDisconnect (ac);
}

Test (redis, round_trip, .init = s_start, .fini = s_stop, .timeout = 30)
{
    int fds = s_fds ();
    zo_loop_t *loop = zo_loop_new ();
    state_t st = { .loop = loop };
    redisAsyncContext *ac = zo_redis_connect (loop, "127.0.0.1", redis.port, 5000,
                                              s_on_connect, s_on_disconnect, &st);
    cr_assert (ac);
    //  Commands before the connection is up wait in hiredis's buffer.
    cr_assert_eq (redisAsyncCommand (ac, NULL, NULL, "SET k1 v1"), REDIS_OK);
    cr_assert_eq (redisAsyncCommand (ac, s_on_get, NULL, "GET k1"), REDIS_OK);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_expect_eq (st.connected, 1);
    cr_expect_eq (st.replies, 1);
    cr_expect_eq (st.null_replies, 0);
    cr_expect_eq (st.disconnected, 1);
    cr_expect_eq (st.disconnect_status, REDIS_OK);
    zo_loop_destroy (&loop);
    cr_expect_eq (s_fds (), fds, "every fd closed");
}

#define N_INFLIGHT 20000

static void
s_on_incr (redisAsyncContext *ac, void *r, void *privdata)
{
    state_t *st = (state_t *) ac->data;
    redisReply *reply = (redisReply *) r;
    if (!reply) {
        st->null_replies++;
        return;
    }
    //  Replies come in the order sent: the n-th INCR answers n.
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != (long long) (intptr_t) privdata)
        st->out_of_order++;
    if (++st->replies == N_INFLIGHT)
        redisAsyncDisconnect (ac);
}

static void
s_send_all (const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *) cac;
    s_on_connect (cac, status);
    for (intptr_t i = 1; i <= N_INFLIGHT; i++)
        cr_assert_eq (redisAsyncCommand (ac, s_on_incr, (void *) i, "INCR counter"), REDIS_OK);
}

Test (redis, many_in_flight, .init = s_start, .fini = s_stop, .timeout = 60)
{
    zo_loop_t *loop = zo_loop_new ();
    state_t st = { .loop = loop };
    redisAsyncContext *ac = zo_redis_connect (loop, "127.0.0.1", redis.port, 5000,
                                              s_send_all, s_on_disconnect, &st);
    cr_assert (ac);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_expect_eq (st.replies, N_INFLIGHT);
    cr_expect_eq (st.out_of_order, 0);
    cr_expect_eq (st.null_replies, 0);
    cr_expect_eq (st.disconnect_status, REDIS_OK);
    zo_loop_destroy (&loop);
}

//  Pings every 5 ms; kills the server after 20 answers.
static void
s_on_pong (redisAsyncContext *ac, void *r, void *privdata)
{
    state_t *st = (state_t *) ac->data;
    if (!r) {
        st->null_replies++;
        return;
    }
    if (++st->replies == 20 && !st->killed) {
        //  Sent, but the server is dead before it can answer them.
        for (int i = 0; i < 3; i++)
            redisAsyncCommand (ac, s_on_pong, NULL, "PING");
        st->killed = true;
        zt_server_kill (&redis);
    }
}

static int
s_ping (zo_loop_t *loop, int id, void *arg)
{
    redisAsyncContext **ac_p = (redisAsyncContext **) arg;
    if (*ac_p)
        //  Several in flight when the server dies: each gets NULL.
        for (int i = 0; i < 3; i++)
            redisAsyncCommand (*ac_p, s_on_pong, NULL, "PING");
    return 0;
}

static redisAsyncContext *killed_ac;

static void
s_on_lost (const redisAsyncContext *ac, int status)
{
    state_t *st = (state_t *) ac->data;
    st->disconnected++;
    st->disconnect_status = status;
    snprintf (st->errstr, sizeof (st->errstr), "%s", ac->errstr? ac->errstr: "");
    killed_ac = NULL;               //  hiredis frees it after this
}

static int
s_tick (zo_loop_t *loop, int id, void *arg)
{
    state_t *st = (state_t *) arg;
    uint64_t now = zo_loop_now_ms (loop);
    if (st->ticks++ && now - st->last_tick_ms > st->max_gap_ms)
        st->max_gap_ms = now - st->last_tick_ms;
    st->last_tick_ms = now;
    return 0;
}

static int
s_end (zo_loop_t *loop, int id, void *arg)
{
    zo_loop_stop (loop);
    return 0;
}

Test (redis, server_killed_mid_run, .init = s_start, .fini = s_stop, .timeout = 30)
{
    int fds = s_fds ();
    zo_loop_t *loop = zo_loop_new ();
    state_t st = { .loop = loop };
    killed_ac = zo_redis_connect (loop, "127.0.0.1", redis.port, 5000,
                                  s_on_connect, s_on_lost, &st);
    cr_assert (killed_ac);
    int pinger = zo_loop_ticker (loop, 5, s_ping, &killed_ac);
    //  The loop goes on after the loss: this ticker counts on.
    zo_loop_ticker (loop, 10, s_tick, &st);
    zo_loop_timer (loop, 1500, s_end, NULL);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_expect_eq (st.connected, 1);
    cr_expect (st.replies >= 20);
    cr_expect_eq (st.disconnected, 1);
    cr_expect_eq (st.disconnect_status, REDIS_ERR);
    cr_expect (st.null_replies >= 3, "commands in flight get NULL (%d)", st.null_replies);
    cr_expect (killed_ac == NULL);
    cr_expect (st.ticks >= 100, "the loop kept running (%d ticks)", st.ticks);
    cr_log_info ("lost redis: %s", st.errstr);
    zo_loop_cancel (loop, pinger);
    zo_loop_destroy (&loop);
    cr_expect_eq (s_fds (), fds, "every fd closed");
}

Test (redis, closed_port_fails_through_the_callback, .timeout = 30)
{
    int fds = s_fds ();
    zo_loop_t *loop = zo_loop_new ();
    state_t st = { .loop = loop };
    uint64_t start = zo_loop_now_ms (loop);
    redisAsyncContext *ac = zo_redis_connect (loop, "127.0.0.1", zt_free_port (), 2000,
                                              s_on_connect, s_on_disconnect, &st);
    cr_assert (ac);
    cr_expect_eq (st.connect_failed, 0, "never from inside the call");
    cr_assert_eq (redisAsyncCommand (ac, s_on_pong, NULL, "PING"), REDIS_OK);
    zo_loop_timer (loop, 3000, s_end, NULL);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_expect_eq (st.connect_failed, 1);
    cr_expect_eq (st.connected, 0);
    cr_expect_eq (st.disconnected, 0, "hiredis calls on_disconnect only once up");
    cr_expect_eq (st.null_replies, 1, "the waiting command got NULL");
    cr_expect (st.connect_done_ms - start < 2000);
    cr_expect (strlen (st.errstr) > 0);
    cr_log_info ("closed port: %s", st.errstr);
    zo_loop_destroy (&loop);
    cr_expect_eq (s_fds (), fds, "every fd closed");
}

//  A listener whose accept queue is full: the kernel drops further SYNs,
//  so a connect neither succeeds nor fails until our timeout.
Test (redis, connect_timeout_while_timers_run_on_time, .timeout = 30)
{
    int lfd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t len = sizeof (sa);
    cr_assert_eq (bind (lfd, (struct sockaddr *) &sa, sizeof (sa)), 0);
    cr_assert_eq (listen (lfd, 0), 0);
    cr_assert_eq (getsockname (lfd, (struct sockaddr *) &sa, &len), 0);
    int fillers [4];
    for (int i = 0; i < 4; i++) {
        fillers [i] = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect (fillers [i], (struct sockaddr *) &sa, sizeof (sa));
    }
    usleep (50000);
    int fds = s_fds ();
    zo_loop_t *loop = zo_loop_new ();
    state_t st = { .loop = loop };
    uint64_t start = zo_loop_now_ms (loop);
    redisAsyncContext *ac = zo_redis_connect (loop, "127.0.0.1", ntohs (sa.sin_port), 400,
                                              s_on_connect, s_on_disconnect, &st);
    cr_assert (ac);
    zo_loop_ticker (loop, 10, s_tick, &st);
    zo_loop_timer (loop, 3000, s_end, NULL);
    cr_assert_eq (zo_loop_run (loop), 0);
    uint64_t took = st.connect_done_ms - start;
    cr_expect_eq (st.connect_failed, 1);
    cr_expect_str_eq (st.errstr, "Connection timed out");
    cr_expect (took >= 400 && took < 700, "failed after %lu ms", (unsigned long) took);
    //  A loop blocked in the connect would show one gap of 400 ms.
    cr_expect (st.ticks >= 20, "%d ticks in %lu ms", st.ticks, (unsigned long) took);
    cr_expect (st.max_gap_ms < 150, "a tick came %lu ms late", (unsigned long) st.max_gap_ms);
    zo_loop_destroy (&loop);
    cr_expect_eq (s_fds (), fds, "every fd closed");
    for (int i = 0; i < 4; i++)
        close (fillers [i]);
    close (lfd);
}

Test (redis, refuses_names_and_double_attach)
{
    zo_loop_t *loop = zo_loop_new ();
    errno = 0;
    cr_expect_null (zo_redis_connect (loop, "localhost", 6379, 0, NULL, NULL, NULL));
    cr_expect_eq (errno, EINVAL);
    cr_expect_null (zo_redis_connect (loop, "127.0.0.1", 70000, 0, NULL, NULL, NULL));
    state_t st = { .loop = loop };
    redisAsyncContext *ac = zo_redis_connect (loop, "127.0.0.1", zt_free_port (), 0,
                                              NULL, NULL, &st);
    cr_assert (ac);
    errno = 0;
    cr_expect_eq (zo_redis_attach (loop, ac), -1);
    cr_expect_eq (errno, EEXIST);
    //  Freed by the caller before the loop: the cleanup hook unwatches
    //  and cancels the timer.
    redisAsyncFree (ac);
    cr_expect_eq (zo_loop_run (loop), 0, "nothing left on the loop");
    zo_loop_destroy (&loop);
}
