/*  zo_loop: the one event loop of an actor process (see zo_loop.h).

    Watched items live in three parallel arrays: zmq_pollitem_t records
    (socket or fd, the events asked for, the events seen), the struct
    pollfd array handed to ppoll, and our handler records. Removing an item
    while handlers run only marks it; the arrays are compacted after the
    dispatch pass, so indexes stay valid while we walk them.

    The loop polls by itself instead of through zmq_poll, for two reasons.
    zmq_poll takes whole milliseconds, so a timer due in 0.2 ms would fire
    up to a millisecond late; ppoll takes nanoseconds. And zmq_poll probes
    every socket twice per call (a zero-timeout pass, then after the wait),
    each probe a getpid and a poll inside libzmq; here each socket is probed
    once before sleeping (ZMQ_EVENTS, which also re-arms its ZMQ_FD) and
    after waking only if its ZMQ_FD fired. A socket's readiness changes only
    through commands that signal its ZMQ_FD, or through our own calls on it,
    which happen before the next probe; so nothing is missed.

    Timers are kept by zo_timers (a heap with an id map); the loop gives
    them its clock and runs their handlers.

    Nothing here allocates per iteration: the arrays only grow when items
    or timers are added.
*/
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "zo_loop.h"
#include "zo_timers.h"

#define ZO_LOOP_MAX_ITEMS   4096        /* sockets + fds watched at once */
#define ZO_LOOP_MAX_SIGNALS 65

typedef struct {
    zo_loop_socket_fn *socket_fn;
    zo_loop_fd_fn *fd_fn;
    void *arg;
    bool dead;                  /* removed; compacted after dispatch */
} s_item_t;

struct _zo_loop_t {
    //  Watched sockets and fds
    zmq_pollitem_t *pollset;
    struct pollfd *pfds;        /* sockets: their ZMQ_FD, for POLLIN */
    s_item_t *items;
    size_t n_items;
    size_t max_items;
    bool dispatching;           /* inside the dispatch pass */
    bool need_compact;

    zo_timers_t *timers;

    //  Signals
    int signal_fd;
    sigset_t signal_mask;
    zo_loop_signal_fn *signal_fn [ZO_LOOP_MAX_SIGNALS];
    void *signal_arg [ZO_LOOP_MAX_SIGNALS];

    //  Everything else
    zo_loop_hook_fn *before_sleep;
    void *before_sleep_arg;
    uint64_t spin_ns;
    uint64_t slack_ns;          /* timers may wait this much longer */
    zo_clock_fn *clock;
    void *clock_arg;
    uint64_t now;               /* cached once per iteration */
    bool running;
    bool stopped;
};


uint64_t
zo_clock_mono_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

uint64_t
zo_clock_wall_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static uint64_t
s_clock_mono (void *arg)
{
    (void) arg;
    return zo_clock_mono_ns ();
}

static uint64_t
s_sat_add (uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b? UINT64_MAX: a + b;
}

static uint64_t
s_ms_to_ns (uint64_t ms)
{
    return ms > UINT64_MAX / 1000000u? UINT64_MAX: ms * 1000000u;
}

void
zo_signals_block (void)
{
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGINT);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGHUP);
    sigaddset (&set, SIGCHLD);
    sigaddset (&set, SIGUSR1);
    pthread_sigmask (SIG_BLOCK, &set, NULL);
    signal (SIGPIPE, SIG_IGN);
}


//  --------------------------------------------------------------------------
//  Constructor and destructor

zo_loop_t *
zo_loop_new (void)
{
    zo_loop_t *self = (zo_loop_t *) calloc (1, sizeof (zo_loop_t));
    if (!self)
        return NULL;
    self->max_items = 16;
    self->pollset = (zmq_pollitem_t *) calloc (self->max_items, sizeof (zmq_pollitem_t));
    self->pfds = (struct pollfd *) calloc (self->max_items, sizeof (struct pollfd));
    self->items = (s_item_t *) calloc (self->max_items, sizeof (s_item_t));
    self->timers = zo_timers_new ();
    if (!self->pollset || !self->pfds || !self->items || !self->timers)
        goto err;
    self->signal_fd = -1;
    sigemptyset (&self->signal_mask);
    self->clock = s_clock_mono;
    self->now = zo_clock_mono_ns ();
    return self;
err:
    zo_loop_destroy (&self);
    return NULL;
}

void
zo_loop_destroy (zo_loop_t **self_p)
{
    assert (self_p);
    zo_loop_t *self = *self_p;
    if (!self)
        return;
    if (self->signal_fd >= 0)
        close (self->signal_fd);
    free (self->pollset);
    free (self->pfds);
    free (self->items);
    zo_timers_destroy (&self->timers);
    free (self);
    *self_p = NULL;
}


//  --------------------------------------------------------------------------
//  Watched items

//  ZMQ_POLLIN/OUT asked for a plain fd, as poll(2) events.
static short
s_poll_events (short events)
{
    return (short) ((events & ZMQ_POLLIN ? POLLIN : 0) | (events & ZMQ_POLLOUT ? POLLOUT : 0));
}

static int
s_item_add (zo_loop_t *self, void *socket, int fd, short events,
            zo_loop_socket_fn *socket_fn, zo_loop_fd_fn *fd_fn, void *arg)
{
    if (self->n_items == self->max_items) {
        if (self->max_items >= ZO_LOOP_MAX_ITEMS)
            return -1;
        size_t max = self->max_items * 2;
        zmq_pollitem_t *pollset = (zmq_pollitem_t *)
            realloc (self->pollset, max * sizeof (zmq_pollitem_t));
        if (!pollset)
            return -1;
        self->pollset = pollset;
        struct pollfd *pfds = (struct pollfd *) realloc (self->pfds, max * sizeof (struct pollfd));
        if (!pfds)
            return -1;
        self->pfds = pfds;
        s_item_t *items = (s_item_t *) realloc (self->items, max * sizeof (s_item_t));
        if (!items)
            return -1;
        self->items = items;
        self->max_items = max;
    }
    struct pollfd pfd = { .fd = fd, .events = s_poll_events (events) };
    if (socket) {
        size_t size = sizeof (pfd.fd);
        if (zmq_getsockopt (socket, ZMQ_FD, &pfd.fd, &size))
            return -1;
        pfd.events = POLLIN;
    }
    self->pfds [self->n_items] = pfd;
    self->pollset [self->n_items] = (zmq_pollitem_t) {
        .socket = socket, .fd = fd, .events = events, .revents = 0
    };
    self->items [self->n_items] = (s_item_t) {
        .socket_fn = socket_fn, .fd_fn = fd_fn, .arg = arg, .dead = false
    };
    self->n_items++;
    return 0;
}

//  Drops the items marked dead, keeping the order of the others.
static void
s_items_compact (zo_loop_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->n_items; i++) {
        if (self->items [i].dead)
            continue;
        if (kept != i) {
            self->pollset [kept] = self->pollset [i];
            self->pfds [kept] = self->pfds [i];
            self->items [kept] = self->items [i];
        }
        kept++;
    }
    self->n_items = kept;
    self->need_compact = false;
}

static void
s_item_kill (zo_loop_t *self, size_t index)
{
    self->items [index].dead = true;
    //  A dead item must not fire even if it is polled before compaction.
    self->pollset [index].events = 0;
    self->pollset [index].revents = 0;
    self->pfds [index].fd = -1;         //  ppoll skips negative fds
    self->need_compact = true;
}

int
zo_loop_add_socket (zo_loop_t *self, void *socket, zo_loop_socket_fn *fn, void *arg)
{
    assert (self);
    assert (socket);
    assert (fn);
    return s_item_add (self, socket, -1, ZMQ_POLLIN, fn, NULL, arg);
}

int
zo_loop_add_fd (zo_loop_t *self, int fd, short events, zo_loop_fd_fn *fn, void *arg)
{
    assert (self);
    assert (fd >= 0);
    assert (fn);
    return s_item_add (self, NULL, fd, events, NULL, fn, arg);
}

void
zo_loop_set_fd_events (zo_loop_t *self, int fd, short events)
{
    assert (self);
    for (size_t i = 0; i < self->n_items; i++)
        if (!self->pollset [i].socket && self->pollset [i].fd == fd
        && !self->items [i].dead) {
            self->pollset [i].events = events;
            self->pfds [i].events = s_poll_events (events);
        }
}

void
zo_loop_remove_socket (zo_loop_t *self, void *socket)
{
    assert (self);
    for (size_t i = 0; i < self->n_items; i++)
        if (self->pollset [i].socket == socket && !self->items [i].dead)
            s_item_kill (self, i);
    if (!self->dispatching && self->need_compact)
        s_items_compact (self);
}

void
zo_loop_remove_fd (zo_loop_t *self, int fd)
{
    assert (self);
    for (size_t i = 0; i < self->n_items; i++)
        if (!self->pollset [i].socket && self->pollset [i].fd == fd
        && !self->items [i].dead)
            s_item_kill (self, i);
    if (!self->dispatching && self->need_compact)
        s_items_compact (self);
}


static void
s_refresh_now (zo_loop_t *self)
{
    self->now = self->clock (self->clock_arg);
}

static int
s_timer_new (zo_loop_t *self, uint64_t delay_ns, uint64_t interval_ns,
             zo_loop_timer_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    //  Outside zo_loop_run the cached time may be old: read the clock.
    if (!self->running)
        s_refresh_now (self);
    return zo_timers_add (self->timers, s_sat_add (self->now, delay_ns), interval_ns,
                          (zo_timers_fn *) fn, arg);
}

int
zo_loop_timer (zo_loop_t *self, uint64_t delay_ms, zo_loop_timer_fn *fn, void *arg)
{
    return s_timer_new (self, s_ms_to_ns (delay_ms), 0, fn, arg);
}

int
zo_loop_timer_ns (zo_loop_t *self, uint64_t delay_ns, zo_loop_timer_fn *fn, void *arg)
{
    return s_timer_new (self, delay_ns, 0, fn, arg);
}

int
zo_loop_ticker (zo_loop_t *self, uint64_t interval_ms, zo_loop_timer_fn *fn, void *arg)
{
    //  A zero interval would spin; the smallest ticker is 1 ms.
    uint64_t interval_ns = s_ms_to_ns (interval_ms? interval_ms: 1);
    return s_timer_new (self, interval_ns, interval_ns, fn, arg);
}

void
zo_loop_cancel (zo_loop_t *self, int id)
{
    assert (self);
    zo_timers_cancel (self->timers, id);
}

//  Runs the timers due by the cached time that existed when the pass
//  began; timers made during the pass wait for the next one, so a handler
//  that re-arms a zero-delay timer cannot starve the loop.
static int
s_run_timers (zo_loop_t *self)
{
    int ran = 0;
    uint64_t mark = zo_timers_mark (self->timers);
    int id;
    zo_timers_fn *fn;
    void *arg;
    while (!self->stopped && zo_timers_pop (self->timers, self->now, mark, &id, &fn, &arg)) {
        ran++;
        if (((zo_loop_timer_fn *) fn) (self, id, arg) == -1)
            self->stopped = true;
    }
    return ran;
}

int
zo_loop_run_timers (zo_loop_t *self)
{
    assert (self);
    s_refresh_now (self);
    if (!self->running)
        self->stopped = false;
    return s_run_timers (self);
}


//  --------------------------------------------------------------------------
//  Signals

static int
s_signal_ready (zo_loop_t *self, int fd, short revents, void *arg)
{
    struct signalfd_siginfo info [8];
    while (true) {
        ssize_t rc = read (fd, info, sizeof (info));
        if (rc <= 0)
            break;              //  EAGAIN: all read
        size_t count = (size_t) rc / sizeof (info [0]);
        for (size_t i = 0; i < count; i++) {
            int signum = (int) info [i].ssi_signo;
            if (signum > 0 && signum < ZO_LOOP_MAX_SIGNALS && self->signal_fn [signum])
                if (self->signal_fn [signum] (self, signum, self->signal_arg [signum]) == -1)
                    return -1;
        }
    }
    return 0;
}

int
zo_loop_on_signal (zo_loop_t *self, int signum, zo_loop_signal_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    if (signum <= 0 || signum >= ZO_LOOP_MAX_SIGNALS)
        return -1;
    sigset_t mask = self->signal_mask;
    sigaddset (&mask, signum);
    //  The signal must be blocked to be read from a signalfd; block it here
    //  too in case zo_signals_block was not called (or does not cover it).
    sigset_t one;
    sigemptyset (&one);
    sigaddset (&one, signum);
    pthread_sigmask (SIG_BLOCK, &one, NULL);

    int fd = signalfd (self->signal_fd, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (self->signal_fd < 0) {
        if (zo_loop_add_fd (self, fd, ZMQ_POLLIN, s_signal_ready, NULL)) {
            close (fd);
            return -1;
        }
        self->signal_fd = fd;
    }
    self->signal_mask = mask;
    self->signal_fn [signum] = fn;
    self->signal_arg [signum] = arg;
    return 0;
}


//  --------------------------------------------------------------------------
//  Running

void
zo_loop_set_before_sleep (zo_loop_t *self, zo_loop_hook_fn *fn, void *arg)
{
    assert (self);
    self->before_sleep = fn;
    self->before_sleep_arg = arg;
}

void
zo_loop_set_slack (zo_loop_t *self, uint64_t slack_ns)
{
    assert (self);
    self->slack_ns = slack_ns;
}

void
zo_loop_set_spin (zo_loop_t *self, uint32_t spin_us)
{
    assert (self);
    self->spin_ns = (uint64_t) spin_us * 1000u;
}

//  Nanoseconds to block: until the next timer, by a fresh clock read so
//  the wait ends on time (rounded up to a multiple of the slack, if one is
//  set); -1 when there is no timer.
static int64_t
s_timeout_ns (zo_loop_t *self)
{
    if (zo_timers_size (self->timers) == 0)
        return -1;
    s_refresh_now (self);
    uint64_t deadline = zo_timers_first (self->timers);
    if (deadline <= self->now)
        return 0;
    uint64_t ns = deadline - self->now;
    if (self->slack_ns)
        ns = s_sat_add (ns, self->slack_ns - 1) / self->slack_ns * self->slack_ns;
    return ns > (uint64_t) INT64_MAX? INT64_MAX: (int64_t) ns;
}

//  ZMQ_POLLIN if the socket has a message waiting. Reading ZMQ_EVENTS also
//  processes the socket's pending commands, which re-arms its ZMQ_FD.
static short
s_socket_events (void *socket)
{
    int events = 0;
    size_t size = sizeof (events);
    if (zmq_getsockopt (socket, ZMQ_EVENTS, &events, &size))
        return 0;
    return events & ZMQ_POLLIN? ZMQ_POLLIN: 0;
}

//  One poll of every item, blocking up to timeout_ns (-1: no limit) when
//  nothing is ready. Fills pollset [].revents; returns how many items are
//  ready, or -1 (errno set).
static int
s_poll_once (zo_loop_t *self, int64_t timeout_ns)
{
    int ready = 0;
    for (size_t i = 0; i < self->n_items; i++) {
        zmq_pollitem_t *item = &self->pollset [i];
        item->revents = item->socket && item->events? s_socket_events (item->socket): 0;
        if (item->revents)
            ready++;
    }
    struct timespec ts, *tsp = NULL;
    if (ready)
        timeout_ns = 0;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t) (timeout_ns / 1000000000);
        ts.tv_nsec = (long) (timeout_ns % 1000000000);
        tsp = &ts;
    }
    int rc = ppoll (self->pfds, (nfds_t) self->n_items, tsp, NULL);
    if (rc < 0)
        return -1;
    for (size_t i = 0; rc > 0 && i < self->n_items; i++) {
        short revents = self->pfds [i].revents;
        zmq_pollitem_t *item = &self->pollset [i];
        if (!revents)
            continue;
        if (item->socket) {
            if (item->events && !item->revents
            &&  (item->revents = s_socket_events (item->socket)))
                ready++;
        }
        else {
            //  As zmq_poll does: errors and hang-ups are reported even for
            //  an fd watched for nothing, or poll would return at once for
            //  ever.
            item->revents = (short) ((revents & POLLIN? ZMQ_POLLIN: 0)
                                   | (revents & POLLOUT? ZMQ_POLLOUT: 0)
                                   | (revents & ~(POLLIN | POLLOUT)? ZMQ_POLLERR: 0));
            ready++;
        }
    }
    return ready;
}

static int
s_poll (zo_loop_t *self)
{
    int64_t timeout = s_timeout_ns (self);
    if (self->spin_ns && timeout != 0) {
        uint64_t end = s_sat_add (self->now, self->spin_ns);
        if (zo_timers_size (self->timers) && zo_timers_first (self->timers) < end)
            end = zo_timers_first (self->timers);
        while (true) {
            int rc = s_poll_once (self, 0);
            if (rc != 0)
                return rc;
            s_refresh_now (self);
            if (self->now >= end)
                break;
        }
        timeout = s_timeout_ns (self);
        if (timeout == 0)
            return 0;
    }
    return s_poll_once (self, timeout);
}

static void
s_dispatch (zo_loop_t *self)
{
    self->dispatching = true;
    //  Items added by handlers go past n and wait for the next poll.
    size_t n = self->n_items;
    for (size_t i = 0; i < n && !self->stopped; i++) {
        short revents = self->pollset [i].revents;
        if (!revents || self->items [i].dead)
            continue;
        self->pollset [i].revents = 0;
        s_item_t item = self->items [i];
        int rc;
        if (item.socket_fn)
            rc = item.socket_fn (self, self->pollset [i].socket, item.arg);
        else
            rc = item.fd_fn (self, self->pollset [i].fd, revents, item.arg);
        if (rc == -1)
            self->stopped = true;
    }
    self->dispatching = false;
    if (self->need_compact)
        s_items_compact (self);
}

int
zo_loop_run (zo_loop_t *self)
{
    assert (self);
    assert (!self->running);
    self->running = true;
    self->stopped = false;
    int result = 0;
    s_refresh_now (self);
    while (!self->stopped) {
        s_run_timers (self);
        if (self->stopped)
            break;
        if (self->before_sleep
        &&  self->before_sleep (self, self->before_sleep_arg) == -1)
            break;
        if (self->stopped)
            break;
        if (self->n_items == 0 && zo_timers_size (self->timers) == 0)
            break;              //  Nothing could ever wake us.
        int rc = s_poll (self);
        s_refresh_now (self);
        if (rc == -1) {
            if (errno == EINTR)
                continue;
            result = -1;
            break;
        }
        if (rc > 0)
            s_dispatch (self);
    }
    self->running = false;
    self->stopped = false;
    return result;
}

void
zo_loop_stop (zo_loop_t *self)
{
    assert (self);
    self->stopped = true;
}

uint64_t
zo_loop_now_ns (zo_loop_t *self)
{
    assert (self);
    if (!self->running)
        s_refresh_now (self);
    return self->now;
}

uint64_t
zo_loop_now_ms (zo_loop_t *self)
{
    return zo_loop_now_ns (self) / 1000000u;
}

void
zo_loop_set_clock (zo_loop_t *self, zo_clock_fn *fn, void *arg)
{
    assert (self);
    self->clock = fn? fn: s_clock_mono;
    self->clock_arg = fn? arg: NULL;
    s_refresh_now (self);
}
