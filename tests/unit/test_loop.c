/*  Tests of actors/runtime/zo_loop.c: timers against a fake clock, tickers,
    cancel, fd and socket readiness, signals through the signalfd.  */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "zo_loop.h"

static uint64_t fake_now;

static uint64_t
s_fake_clock (void *arg)
{
    return *(uint64_t *) arg;
}

#define MS 1000000ull

//  Records the order timers ran in.
static int order [64];
static int n_order;

static int
s_record (zo_loop_t *loop, int id, void *arg)
{
    if (n_order < 64)
        order [n_order++] = (int) (intptr_t) arg;
    return 0;
}

Test (loop, timers_run_in_deadline_then_creation_order)
{
    zo_loop_t *loop = zo_loop_new ();
    cr_assert_not_null (loop);
    fake_now = 1000 * MS;
    zo_loop_set_clock (loop, s_fake_clock, &fake_now);
    n_order = 0;

    zo_loop_timer (loop, 30, s_record, (void *) 3);
    zo_loop_timer (loop, 10, s_record, (void *) 1);
    zo_loop_timer (loop, 20, s_record, (void *) 2);
    zo_loop_timer (loop, 10, s_record, (void *) 11);     //  tie: after 1
    zo_loop_timer_ns (loop, 10 * MS, s_record, (void *) 12);

    cr_assert_eq (zo_loop_run_timers (loop), 0);
    fake_now += 9 * MS;
    cr_assert_eq (zo_loop_run_timers (loop), 0);
    fake_now += 1 * MS;
    cr_assert_eq (zo_loop_run_timers (loop), 3);
    cr_assert_eq (n_order, 3);
    cr_assert_eq (order [0], 1);
    cr_assert_eq (order [1], 11);
    cr_assert_eq (order [2], 12);
    fake_now += 100 * MS;
    cr_assert_eq (zo_loop_run_timers (loop), 2);
    cr_assert_eq (order [3], 2);
    cr_assert_eq (order [4], 3);
    cr_assert_eq (zo_loop_run_timers (loop), 0);
    cr_assert_eq (zo_loop_now_ms (loop), 1110);
    zo_loop_destroy (&loop);
    cr_assert_null (loop);
    zo_loop_destroy (&loop);            //  harmless
}

Test (loop, many_timers_come_out_sorted)
{
    zo_loop_t *loop = zo_loop_new ();
    fake_now = 0;
    zo_loop_set_clock (loop, s_fake_clock, &fake_now);
    n_order = 0;
    //  Deadlines in a scrambled order; ids must all differ.
    int ids [64];
    for (int i = 0; i < 64; i++) {
        int delay = (i * 37) % 64;
        ids [i] = zo_loop_timer (loop, (uint64_t) delay, s_record, (void *) (intptr_t) delay);
        cr_assert_gt (ids [i], 0);
        for (int j = 0; j < i; j++)
            cr_assert_neq (ids [i], ids [j]);
    }
    fake_now = 1000 * MS;
    cr_assert_eq (zo_loop_run_timers (loop), 64);
    for (int i = 0; i < 64; i++)
        cr_assert_eq (order [i], i);
    zo_loop_destroy (&loop);
}

static int tick_count;

static int
s_tick (zo_loop_t *loop, int id, void *arg)
{
    tick_count++;
    return 0;
}

Test (loop, ticker_repeats_and_skips_missed_beats)
{
    zo_loop_t *loop = zo_loop_new ();
    fake_now = 0;
    zo_loop_set_clock (loop, s_fake_clock, &fake_now);
    tick_count = 0;
    int id = zo_loop_ticker (loop, 100, s_tick, NULL);
    cr_assert_gt (id, 0);
    for (int i = 1; i <= 5; i++) {
        fake_now = (uint64_t) i * 100 * MS;
        cr_assert_eq (zo_loop_run_timers (loop), 1);
    }
    cr_assert_eq (tick_count, 5);
    //  A stall of ten periods gives one tick, not ten.
    fake_now += 1000 * MS;
    cr_assert_eq (zo_loop_run_timers (loop), 1);
    cr_assert_eq (tick_count, 6);
    fake_now += 50 * MS;
    cr_assert_eq (zo_loop_run_timers (loop), 0);
    fake_now += 50 * MS;
    cr_assert_eq (zo_loop_run_timers (loop), 1);
    zo_loop_cancel (loop, id);
    fake_now += 1000 * MS;
    cr_assert_eq (zo_loop_run_timers (loop), 0);
    cr_assert_eq (tick_count, 7);
    zo_loop_destroy (&loop);
}

static int cancel_target;

static int
s_cancel_other (zo_loop_t *loop, int id, void *arg)
{
    zo_loop_cancel (loop, cancel_target);
    zo_loop_cancel (loop, id);          //  itself: already gone, ignored
    tick_count++;
    return 0;
}

Test (loop, cancel)
{
    zo_loop_t *loop = zo_loop_new ();
    fake_now = 0;
    zo_loop_set_clock (loop, s_fake_clock, &fake_now);
    n_order = 0;
    tick_count = 0;
    int a = zo_loop_timer (loop, 10, s_record, (void *) 1);
    int b = zo_loop_timer (loop, 20, s_record, (void *) 2);
    int c = zo_loop_timer (loop, 30, s_record, (void *) 3);
    zo_loop_cancel (loop, b);
    zo_loop_cancel (loop, b);           //  twice: ignored
    zo_loop_cancel (loop, 0);
    zo_loop_cancel (loop, -5);
    zo_loop_cancel (loop, 99999);
    //  A timer that runs first cancels one due later in the same pass.
    zo_loop_timer (loop, 5, s_cancel_other, NULL);
    cancel_target = c;
    fake_now = 100 * MS;
    cr_assert_eq (zo_loop_run_timers (loop), 2);
    cr_assert_eq (tick_count, 1);
    cr_assert_eq (n_order, 1);
    cr_assert_eq (order [0], 1);
    zo_loop_cancel (loop, a);           //  already ran: ignored
    //  Ids are not reused right away.
    int d = zo_loop_timer (loop, 1, s_record, NULL);
    cr_assert (d != a && d != b && d != c);
    zo_loop_destroy (&loop);
}

Test (loop, cancel_many_keeps_heap_consistent)
{
    zo_loop_t *loop = zo_loop_new ();
    fake_now = 0;
    zo_loop_set_clock (loop, s_fake_clock, &fake_now);
    enum { N = 2000 };
    static int ids [N];
    for (int i = 0; i < N; i++)
        ids [i] = zo_loop_timer (loop, (uint64_t) ((i * 7919) % N), s_tick, NULL);
    for (int i = 0; i < N; i += 3)
        zo_loop_cancel (loop, ids [i]);
    tick_count = 0;
    fake_now = (uint64_t) N * MS;
    int expected = N - (N + 2) / 3;
    cr_assert_eq (zo_loop_run_timers (loop), expected);
    cr_assert_eq (tick_count, expected);
    zo_loop_destroy (&loop);
}

//  --------------------------------------------------------------------------
//  Running for real

static int
s_stop (zo_loop_t *loop, int id, void *arg)
{
    (*(int *) arg)++;
    return -1;
}

static int hook_calls;

static int
s_hook (zo_loop_t *loop, void *arg)
{
    hook_calls++;
    return 0;
}

Test (loop, run_until_handler_stops)
{
    zo_loop_t *loop = zo_loop_new ();
    int fired = 0;
    hook_calls = 0;
    tick_count = 0;
    cr_assert_eq (zo_loop_before_sleep (loop, s_hook, NULL), 0);
    zo_loop_ticker (loop, 1, s_tick, NULL);
    uint64_t start = zo_clock_mono_ns ();
    zo_loop_timer (loop, 20, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    uint64_t took = zo_clock_mono_ns () - start;
    cr_assert_eq (fired, 1);
    cr_assert_geq (took, 20 * MS);
    cr_assert_lt (took, 2000 * MS);
    cr_assert_geq (tick_count, 5);
    cr_assert_geq (hook_calls, 5);
    zo_loop_destroy (&loop);
}

Test (loop, zero_delay_timer_runs_on_next_iteration)
{
    zo_loop_t *loop = zo_loop_new ();
    int fired = 0;
    zo_loop_timer (loop, 0, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (fired, 1);
    //  Nothing to watch and no timers: run returns at once.
    cr_assert_eq (zo_loop_run (loop), 0);
    zo_loop_destroy (&loop);
}

Test (loop, spin_still_runs_timers)
{
    zo_loop_t *loop = zo_loop_new ();
    zo_loop_set_spin (loop, 500);
    int fired = 0;
    uint64_t start = zo_clock_mono_ns ();
    zo_loop_timer (loop, 5, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (fired, 1);
    cr_assert_geq (zo_clock_mono_ns () - start, 5 * MS);
    zo_loop_destroy (&loop);
}

typedef struct {
    int reads;
    short revents;
    int fd;
    zo_watch_t *watch;
} fd_state_t;

static int
s_fd_ready (zo_loop_t *loop, int fd, short revents, void *arg)
{
    fd_state_t *state = (fd_state_t *) arg;
    char buffer [16];
    state->revents = revents;
    state->fd = fd;
    if (read (fd, buffer, sizeof (buffer)) > 0)
        state->reads++;
    //  Removing the watch being handled must be safe.
    zo_loop_unwatch (loop, &state->watch);
    return 0;
}

static int
s_write_pipe (zo_loop_t *loop, int id, void *arg)
{
    cr_assert_eq (write (*(int *) arg, "x", 1), 1);
    return 0;
}

Test (loop, fd_readiness_with_a_pipe)
{
    int fds [2];
    cr_assert_eq (pipe (fds), 0);
    zo_loop_t *loop = zo_loop_new ();
    fd_state_t state = { 0, 0, -1, NULL };
    int fired = 0;
    state.watch = zo_loop_add_fd (loop, fds [0], ZMQ_POLLIN, s_fd_ready, &state);
    cr_assert_not_null (state.watch);
    zo_loop_timer (loop, 5, s_write_pipe, &fds [1]);
    zo_loop_timer (loop, 50, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (state.reads, 1);
    cr_assert_eq (state.fd, fds [0]);
    cr_assert (state.revents & ZMQ_POLLIN);
    cr_assert_eq (fired, 1);

    //  Removed inside the handler: a second write is not seen.
    state.reads = 0;
    cr_assert_eq (write (fds [1], "y", 1), 1);
    fired = 0;
    zo_loop_timer (loop, 20, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (state.reads, 0);
    zo_loop_destroy (&loop);
    close (fds [0]);
    close (fds [1]);
}

static zo_watch_t *writable_watch;

static int
s_fd_writable (zo_loop_t *loop, int fd, short revents, void *arg)
{
    int *count = (int *) arg;
    (*count)++;
    cr_assert (revents & ZMQ_POLLOUT);
    cr_assert_eq (zo_loop_watch_events (loop, writable_watch, 0), 0);
    cr_assert_eq (zo_watch_events (writable_watch), 0);
    return 0;
}

//  An fd watched for nothing still reports a hang-up (as zmq_poll did), so
//  its owner can drop it instead of the loop waking at once for ever.
Test (loop, fd_watched_for_nothing_reports_hangup)
{
    int fds [2];
    cr_assert_eq (pipe (fds), 0);
    zo_loop_t *loop = zo_loop_new ();
    fd_state_t state = { 0, 0, -1, NULL };
    int fired = 0;
    state.watch = zo_loop_add_fd (loop, fds [0], ZMQ_POLLIN, s_fd_ready, &state);
    cr_assert_not_null (state.watch);
    cr_assert_eq (zo_loop_watch_events (loop, state.watch, 0), 0);
    close (fds [1]);
    zo_loop_timer (loop, 2000, s_stop, &fired);     //  safety net
    zo_loop_timer (loop, 50, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (state.fd, fds [0]);
    cr_assert (state.revents & ZMQ_POLLERR);
    cr_assert_eq (state.reads, 0);
    zo_loop_destroy (&loop);
    close (fds [0]);
}

Test (loop, fd_pollout_and_set_events)
{
    int fds [2];
    cr_assert_eq (pipe (fds), 0);
    zo_loop_t *loop = zo_loop_new ();
    int writable = 0, fired = 0;
    writable_watch = zo_loop_add_fd (loop, fds [1], ZMQ_POLLOUT, s_fd_writable, &writable);
    cr_assert_not_null (writable_watch);
    zo_loop_timer (loop, 20, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (writable, 1);
    zo_loop_destroy (&loop);
    close (fds [0]);
    close (fds [1]);
}

static int signals_seen;
static int last_signal;

static int
s_on_signal (zo_loop_t *loop, int signum, void *arg)
{
    signals_seen++;
    last_signal = signum;
    return signals_seen == 2? -1: 0;
}

static int
s_raise_usr1 (zo_loop_t *loop, int id, void *arg)
{
    raise (SIGUSR1);
    return 0;
}

static int
s_kill_term (zo_loop_t *loop, int id, void *arg)
{
    kill (getpid (), SIGTERM);
    return 0;
}

Test (loop, signals_arrive_through_signalfd)
{
    zo_signals_block ();
    zo_loop_t *loop = zo_loop_new ();
    signals_seen = 0;
    cr_assert_eq (zo_loop_on_signal (loop, SIGUSR1, s_on_signal, NULL), 0);
    cr_assert_eq (zo_loop_on_signal (loop, SIGTERM, s_on_signal, NULL), 0);
    cr_assert_eq (zo_loop_on_signal (loop, 0, s_on_signal, NULL), -1);
    zo_loop_timer (loop, 5, s_raise_usr1, NULL);
    zo_loop_timer (loop, 10, s_kill_term, NULL);
    int fired = 0;
    zo_loop_timer (loop, 5000, s_stop, &fired);     //  safety net
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (signals_seen, 2);
    cr_assert_eq (last_signal, SIGTERM);
    cr_assert_eq (fired, 0);
    zo_loop_destroy (&loop);
}

typedef struct {
    int received;
    void *added;                //  a socket added from inside a handler
} sock_state_t;

static int
s_socket_ready (zo_loop_t *loop, void *socket, void *arg)
{
    sock_state_t *state = (sock_state_t *) arg;
    char buffer [16];
    while (zmq_recv (socket, buffer, sizeof (buffer), ZMQ_DONTWAIT) >= 0)
        state->received++;
    return state->received >= 3? -1: 0;
}

//  What a sending timer sends: count messages on socket.
typedef struct {
    void *socket;
    int count;
} send_t;

static int
s_send (zo_loop_t *loop, int id, void *arg)
{
    send_t *send = (send_t *) arg;
    for (int i = 0; i < send->count; i++)
        cr_assert_eq (zmq_send (send->socket, "abc", 3, 0), 3);
    return 0;
}

static void
s_close_pair (void *ctx, void *a, void *b)
{
    int linger = 0;
    zmq_setsockopt (a, ZMQ_LINGER, &linger, sizeof (linger));
    zmq_setsockopt (b, ZMQ_LINGER, &linger, sizeof (linger));
    zmq_close (a);
    zmq_close (b);
    zmq_ctx_term (ctx);
}

Test (loop, socket_readiness_with_inproc_pair)
{
    void *ctx = zmq_ctx_new ();
    void *a = zmq_socket (ctx, ZMQ_PAIR);
    void *b = zmq_socket (ctx, ZMQ_PAIR);
    cr_assert_eq (zmq_bind (a, "inproc://test-loop"), 0);
    cr_assert_eq (zmq_connect (b, "inproc://test-loop"), 0);
    zo_loop_t *loop = zo_loop_new ();
    sock_state_t state = { 0, NULL };
    zo_watch_t *watch = zo_loop_add_socket (loop, a, s_socket_ready, &state);
    cr_assert_not_null (watch);
    cr_assert_null (zo_loop_add_socket (loop, a, s_socket_ready, &state));
    cr_assert_eq (errno, EEXIST);
    send_t three = { b, 3 };
    zo_loop_timer (loop, 5, s_send, &three);
    int fired = 0;
    zo_loop_timer (loop, 5000, s_stop, &fired);     //  safety net
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (state.received, 3);
    cr_assert_eq (fired, 0);

    //  Removed: messages no longer reach the handler.
    zo_loop_unwatch (loop, &watch);
    cr_assert_null (watch);
    zo_loop_unwatch (loop, &watch);         //  harmless
    state.received = 0;
    zmq_send (b, "x", 1, 0);
    zo_loop_timer (loop, 20, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (state.received, 0);
    cr_assert_eq (fired, 1);

    zo_loop_destroy (&loop);
    s_close_pair (ctx, a, b);
}

//  A handler that takes one message per call leaves the socket readable;
//  the loop must see that (ZMQ_FD does not fire again for it) and call it
//  again without sleeping, also while messages keep arriving over tcp
//  through libzmq's I/O thread.
static int
s_take_one (zo_loop_t *loop, void *socket, void *arg)
{
    sock_state_t *state = (sock_state_t *) arg;
    char buffer [16];
    if (zmq_recv (socket, buffer, sizeof (buffer), ZMQ_DONTWAIT) >= 0)
        state->received++;
    return state->received >= 200? -1: 0;
}

Test (loop, socket_read_one_at_a_time_over_tcp)
{
    void *ctx = zmq_ctx_new ();
    void *a = zmq_socket (ctx, ZMQ_PULL);
    void *b = zmq_socket (ctx, ZMQ_PUSH);
    cr_assert_eq (zmq_bind (a, "tcp://127.0.0.1:*"), 0);
    char endpoint [256];
    size_t size = sizeof (endpoint);
    cr_assert_eq (zmq_getsockopt (a, ZMQ_LAST_ENDPOINT, endpoint, &size), 0);
    cr_assert_eq (zmq_connect (b, endpoint), 0);
    zo_loop_t *loop = zo_loop_new ();
    sock_state_t state = { 0, NULL };
    cr_assert_not_null (zo_loop_add_socket (loop, a, s_take_one, &state));
    send_t hundred = { b, 100 };
    zo_loop_timer (loop, 1, s_send, &hundred);
    zo_loop_timer (loop, 30, s_send, &hundred);
    int fired = 0;
    zo_loop_timer (loop, 5000, s_stop, &fired);     //  safety net
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (state.received, 200);
    cr_assert_eq (fired, 0);
    zo_loop_destroy (&loop);
    s_close_pair (ctx, a, b);
}

//  With a slack, a 1 ms timer waits for the slack's 40 ms (never less: the
//  wait is rounded up to it).
Test (loop, timer_slack_rounds_the_wait_up)
{
    zo_loop_t *loop = zo_loop_new ();
    int fired = 0;
    zo_loop_set_slack (loop, 40 * 1000000ull);
    uint64_t start = zo_clock_mono_ns ();
    zo_loop_timer (loop, 1, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (fired, 1);
    cr_assert_geq (zo_clock_mono_ns () - start, 40 * 1000000ull);
    zo_loop_destroy (&loop);
}

//  A second watch on one fd is refused; each watch is its own: removing
//  or changing one leaves the other fd's watch alone (the loop used to act
//  on every item with a given fd number).
Test (loop, watches_are_handles)
{
    int p1 [2], p2 [2];
    cr_assert_eq (pipe (p1), 0);
    cr_assert_eq (pipe (p2), 0);
    zo_loop_t *loop = zo_loop_new ();
    fd_state_t one = { 0, 0, -1, NULL }, two = { 0, 0, -1, NULL };
    one.watch = zo_loop_add_fd (loop, p1 [0], ZMQ_POLLIN, s_fd_ready, &one);
    two.watch = zo_loop_add_fd (loop, p2 [0], ZMQ_POLLIN, s_fd_ready, &two);
    cr_assert_not_null (one.watch);
    cr_assert_not_null (two.watch);
    cr_assert_eq (zo_watch_fd (one.watch), p1 [0]);
    errno = 0;
    cr_assert_null (zo_loop_add_fd (loop, p1 [0], ZMQ_POLLOUT, s_fd_ready, &one));
    cr_assert_eq (errno, EEXIST);

    zo_loop_unwatch (loop, &one.watch);
    cr_assert_eq (write (p1 [1], "a", 1), 1);
    cr_assert_eq (write (p2 [1], "b", 1), 1);
    int fired = 0;
    zo_loop_timer (loop, 20, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (one.reads, 0);
    cr_assert_eq (two.reads, 1);
    cr_assert_null (two.watch);

    //  The fd is free again once unwatched.
    one.watch = zo_loop_add_fd (loop, p1 [0], ZMQ_POLLIN, s_fd_ready, &one);
    cr_assert_not_null (one.watch);
    fired = 0;
    zo_loop_timer (loop, 20, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (one.reads, 1);
    zo_loop_destroy (&loop);
    for (int i = 0; i < 2; i++) {
        close (p1 [i]);
        close (p2 [i]);
    }
}

//  Two fds ready in the same pass: the first handler removes the second's
//  watch, which then must not fire although its readiness was collected.
static int
s_unwatch_other (zo_loop_t *loop, int fd, short revents, void *arg)
{
    fd_state_t *pair = (fd_state_t *) arg;
    char buffer [16];
    fd_state_t *self = pair [0].fd == fd? &pair [0]: &pair [1];
    fd_state_t *other = self == &pair [0]? &pair [1]: &pair [0];
    if (read (fd, buffer, sizeof (buffer)) > 0)
        self->reads++;
    zo_loop_unwatch (loop, &other->watch);
    zo_loop_unwatch (loop, &self->watch);
    return 0;
}

Test (loop, removed_watch_never_fires_in_the_same_pass)
{
    int p1 [2], p2 [2];
    cr_assert_eq (pipe (p1), 0);
    cr_assert_eq (pipe (p2), 0);
    cr_assert_eq (write (p1 [1], "a", 1), 1);
    cr_assert_eq (write (p2 [1], "b", 1), 1);
    zo_loop_t *loop = zo_loop_new ();
    fd_state_t pair [2] = { { 0, 0, p1 [0], NULL }, { 0, 0, p2 [0], NULL } };
    pair [0].watch = zo_loop_add_fd (loop, p1 [0], ZMQ_POLLIN, s_unwatch_other, pair);
    pair [1].watch = zo_loop_add_fd (loop, p2 [0], ZMQ_POLLIN, s_unwatch_other, pair);
    int fired = 0;
    zo_loop_timer (loop, 20, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (pair [0].reads + pair [1].reads, 1);
    zo_loop_destroy (&loop);
    for (int i = 0; i < 2; i++) {
        close (p1 [i]);
        close (p2 [i]);
    }
}

//  Thousands of watches (a pool's connections): no cap, and readiness on
//  a few of them reaches exactly those.
typedef struct {
    int fired [16];
    int total;
} many_t;

static int
s_many_ready (zo_loop_t *loop, int fd, short revents, void *arg)
{
    many_t *many = (many_t *) arg;
    uint64_t value;
    cr_assert_eq (read (fd, &value, sizeof (value)), (ssize_t) sizeof (value));
    many->total++;
    return many->total == 3? -1: 0;
}

Test (loop, ten_thousand_watches)
{
    struct rlimit limit;
    cr_assert_eq (getrlimit (RLIMIT_NOFILE, &limit), 0);
    const int count = 10000;
    if (limit.rlim_cur < (rlim_t) count + 100) {
        limit.rlim_cur = limit.rlim_max < (rlim_t) count + 100? limit.rlim_max: (rlim_t) count + 100;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
    cr_assert_eq (getrlimit (RLIMIT_NOFILE, &limit), 0);
    int n = limit.rlim_cur > (rlim_t) count + 100? count: (int) limit.rlim_cur - 100;
    cr_assert_geq (n, 900, "fd limit too low for the test: %d", n);
    int *fds = calloc ((size_t) n, sizeof (int));
    zo_watch_t **watches = calloc ((size_t) n, sizeof (zo_watch_t *));
    zo_loop_t *loop = zo_loop_new ();
    many_t many = { { 0 }, 0 };
    for (int i = 0; i < n; i++) {
        fds [i] = eventfd (0, EFD_NONBLOCK);
        cr_assert_geq (fds [i], 0);
        watches [i] = zo_loop_add_fd (loop, fds [i], ZMQ_POLLIN, s_many_ready, &many);
        cr_assert_not_null (watches [i], "watch %d refused", i);
    }
    uint64_t one = 1;
    int picks [3] = { 0, n / 2, n - 1 };
    for (int i = 0; i < 3; i++)
        cr_assert_eq (write (fds [picks [i]], &one, sizeof (one)), (ssize_t) sizeof (one));
    int fired = 0;
    zo_loop_timer (loop, 5000, s_stop, &fired);     //  safety net
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (many.total, 3);
    cr_assert_eq (fired, 0);
    for (int i = 0; i < n; i += 2)
        zo_loop_unwatch (loop, &watches [i]);
    zo_loop_destroy (&loop);                        //  frees the rest
    for (int i = 0; i < n; i++)
        close (fds [i]);
    free (fds);
    free (watches);
}

//  Several hooks run in the order added, each once per iteration; one
//  removed from inside a hook does not run again.
static int hook_log [64];
static int n_hook_log;

static int
s_hook_a (zo_loop_t *loop, void *arg)
{
    if (n_hook_log < 64)
        hook_log [n_hook_log++] = 1;
    //  Stops after a count of iterations, not a time: a loaded machine
    //  runs fewer iterations in a given time.
    return n_hook_log >= 7? -1: 0;
}

static int
s_hook_b (zo_loop_t *loop, void *arg)
{
    if (n_hook_log < 64)
        hook_log [n_hook_log++] = 2;
    //  After its second call, hook b takes itself off.
    int *calls = (int *) arg;
    if (++*calls == 2)
        zo_loop_before_sleep_remove (loop, s_hook_b, arg);
    return 0;
}

Test (loop, before_sleep_hooks_are_a_list)
{
    zo_loop_t *loop = zo_loop_new ();
    n_hook_log = 0;
    int b_calls = 0;
    cr_assert_eq (zo_loop_before_sleep (loop, s_hook_a, NULL), 0);
    cr_assert_eq (zo_loop_before_sleep (loop, s_hook_b, &b_calls), 0);
    zo_loop_ticker (loop, 1, s_tick, NULL);
    int fired = 0;
    zo_loop_timer (loop, 5000, s_stop, &fired);     //  safety net
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (fired, 0);
    cr_assert_eq (b_calls, 2);
    cr_assert_eq (n_hook_log, 7);
    cr_assert_eq (hook_log [0], 1);
    cr_assert_eq (hook_log [1], 2);
    cr_assert_eq (hook_log [2], 1);
    cr_assert_eq (hook_log [3], 2);
    for (int i = 4; i < n_hook_log; i++)
        cr_assert_eq (hook_log [i], 1);
    zo_loop_destroy (&loop);
}

//  Two owners of SIGUSR1 (as exec.c and zorch up share SIGCHLD): both run,
//  in order; one taken off no longer runs.
static int usr1_a, usr1_b, usr1_a_before_b;

static int
s_usr1_a (zo_loop_t *loop, int signum, void *arg)
{
    usr1_a++;
    return 0;
}

static int
s_usr1_b (zo_loop_t *loop, int signum, void *arg)
{
    usr1_b++;
    usr1_a_before_b = usr1_a;
    return 0;
}

Test (loop, several_handlers_per_signal)
{
    zo_signals_block ();
    zo_loop_t *loop = zo_loop_new ();
    usr1_a = usr1_b = 0;
    cr_assert_eq (zo_loop_on_signal (loop, SIGUSR1, s_usr1_a, NULL), 0);
    cr_assert_eq (zo_loop_on_signal (loop, SIGUSR1, s_usr1_b, NULL), 0);
    zo_loop_timer (loop, 5, s_raise_usr1, NULL);
    int fired = 0;
    zo_loop_timer (loop, 100, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (usr1_a, 1);
    cr_assert_eq (usr1_b, 1);
    cr_assert_eq (usr1_a_before_b, 1);      //  a ran first
    zo_loop_off_signal (loop, SIGUSR1, s_usr1_a, NULL);
    zo_loop_timer (loop, 5, s_raise_usr1, NULL);
    zo_loop_timer (loop, 100, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (usr1_a, 1);
    cr_assert_eq (usr1_b, 2);
    zo_loop_destroy (&loop);
}

//  epoll refuses regular files; the loop reports them always ready, as
//  poll(2) did, so input from a file is read.
Test (loop, regular_file_is_always_ready)
{
    char path [] = "/tmp/zo-test-loop-XXXXXX";
    int fd = mkstemp (path);
    cr_assert_geq (fd, 0);
    cr_assert_eq (write (fd, "abc", 3), 3);
    lseek (fd, 0, SEEK_SET);
    unlink (path);
    zo_loop_t *loop = zo_loop_new ();
    fd_state_t state = { 0, 0, -1, NULL };
    state.watch = zo_loop_add_fd (loop, fd, ZMQ_POLLIN, s_fd_ready, &state);
    cr_assert_not_null (state.watch);
    cr_assert_null (zo_loop_add_fd (loop, fd, ZMQ_POLLIN, s_fd_ready, &state));
    int fired = 0;
    zo_loop_timer (loop, 1000, s_stop, &fired);     //  safety net
    zo_loop_timer (loop, 20, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (state.reads, 1);
    cr_assert (state.revents & ZMQ_POLLIN);
    zo_loop_destroy (&loop);
    close (fd);
}

//  A paused socket neither fires nor keeps the loop awake; resumed, it
//  delivers what arrived meanwhile.
static int
s_count_wakeups (zo_loop_t *loop, void *arg)
{
    (*(int *) arg)++;
    return 0;
}

Test (loop, paused_socket_does_not_spin)
{
    void *ctx = zmq_ctx_new ();
    void *a = zmq_socket (ctx, ZMQ_PAIR);
    void *b = zmq_socket (ctx, ZMQ_PAIR);
    cr_assert_eq (zmq_bind (a, "inproc://test-loop-pause"), 0);
    cr_assert_eq (zmq_connect (b, "inproc://test-loop-pause"), 0);
    zo_loop_t *loop = zo_loop_new ();
    sock_state_t state = { 0, NULL };
    zo_watch_t *watch = zo_loop_add_socket (loop, a, s_socket_ready, &state);
    cr_assert_eq (zo_loop_watch_events (loop, watch, 0), 0);
    int wakeups = 0;
    zo_loop_before_sleep (loop, s_count_wakeups, &wakeups);
    send_t three = { b, 3 };
    zo_loop_timer (loop, 5, s_send, &three);
    int fired = 0;
    zo_loop_timer (loop, 50, s_stop, &fired);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (state.received, 0);
    cr_assert_lt (wakeups, 10, "a paused socket woke the loop %d times", wakeups);
    cr_assert_eq (zo_loop_watch_events (loop, watch, ZMQ_POLLIN), 0);
    zo_loop_timer (loop, 5000, s_stop, &fired);     //  safety net
    fired = 0;
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (state.received, 3);
    cr_assert_eq (fired, 0);
    zo_loop_destroy (&loop);
    s_close_pair (ctx, a, b);
}

Test (loop, clocks)
{
    uint64_t a = zo_clock_mono_ns ();
    uint64_t b = zo_clock_mono_ns ();
    cr_assert_geq (b, a);
    //  The wall clock is after 2020 and before 2100.
    uint64_t wall_s = zo_clock_wall_ns () / 1000000000ull;
    cr_assert_gt (wall_s, 1577836800ull);
    cr_assert_lt (wall_s, 4102444800ull);
}
