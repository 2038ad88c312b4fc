/*  zo_loop: the one event loop of an actor process (see zo_loop.h).

    Every watch is a record of its own (zo_watch_t) whose address is the
    handle and the epoll_event's data, so an event leads straight to its
    handler and changing one watch never touches another. All watches are
    on one list, for zo_loop_destroy; ZeroMQ sockets are also on a small
    array in the order they were added, because they must be probed.

    A ZeroMQ socket's ZMQ_FD only says "commands are pending", not "a
    message is waiting": the socket's state is read with ZMQ_EVENTS, which
    also processes those commands and re-arms ZMQ_FD. So each socket is
    probed once before sleeping (a ready one makes the wait non-blocking)
    and after waking only if its ZMQ_FD fired. A socket's readiness changes
    only through commands that signal its ZMQ_FD, or through our own calls
    on it, which happen before the next probe; so nothing is missed. A
    paused socket (events 0) has its ZMQ_FD out of the epoll set, or the
    unread signal would wake the loop for ever.

    epoll refuses regular files (EPERM), which poll(2) reports as always
    ready; such an fd is kept as an "always ready" watch and reported
    ready on every iteration, as poll did, so `zorch inject < file` works.

    The wait is epoll_pwait2, which takes a timespec: timers fire to the
    microsecond, not to epoll_wait's whole millisecond. Where the kernel
    lacks it (ENOSYS, before 5.11) the wait falls back to epoll_wait with
    the timeout rounded up to a millisecond.

    A removed watch is unlinked from epoll at once (so its fd may be closed
    and reused at once), but its record is freed only after the dispatch
    pass, because readiness already collected may still point at it; a
    dead record never fires.

    Signals and before-sleep hooks are in zo_loop_calls.c; the record both
    files share is in zo_loop_int.h.

    Nothing here allocates per iteration: arrays only grow when watches,
    hooks or handlers are added.
*/
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zo_loop_int.h"

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

int
zo__loop_grow (void *array_p, size_t count, size_t *max, size_t elem)
{
    if (count < *max)
        return 0;
    size_t want = *max? *max * 2: 8;
    void *array = realloc (*(void **) array_p, want * elem);
    if (!array)
        return -1;
    *(void **) array_p = array;
    *max = want;
    return 0;
}


//  --------------------------------------------------------------------------
//  Constructor and destructor

zo_loop_t *
zo_loop_new (void)
{
    zo_loop_t *self = (zo_loop_t *) calloc (1, sizeof (zo_loop_t));
    if (!self)
        return NULL;
    self->signal_fd = -1;
    self->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
    self->timers = zo_timers_new ();
    if (self->epoll_fd < 0 || !self->timers)
        goto err;
    sigemptyset (&self->signal_mask);
    self->clock = s_clock_mono;
    self->now = zo_clock_mono_ns ();
    return self;
err:
    zo_loop_destroy (&self);
    return NULL;
}

static void
s_free_list (zo_watch_t *watch)
{
    while (watch) {
        zo_watch_t *next = watch->next;
        free (watch);
        watch = next;
    }
}

void
zo_loop_destroy (zo_loop_t **self_p)
{
    assert (self_p);
    zo_loop_t *self = *self_p;
    if (!self)
        return;
    s_free_list (self->watches);
    s_free_list (self->dead);
    if (self->signal_fd >= 0)
        close (self->signal_fd);
    if (self->epoll_fd >= 0)
        close (self->epoll_fd);
    free (self->sockets);
    free (self->always);
    free (self->ready);
    for (int i = 0; i < ZO_LOOP_MAX_SIGNALS; i++)
        free (self->signal_calls [i].v);
    free (self->hooks.v);
    zo_timers_destroy (&self->timers);
    free (self);
    *self_p = NULL;
}


//  --------------------------------------------------------------------------
//  Watches

//  What epoll waits for on a watch's fd.
static uint32_t
s_epoll_events (const zo_watch_t *watch)
{
    if (watch->socket)
        return EPOLLIN;
    return (watch->events & ZMQ_POLLIN? EPOLLIN: 0)
         | (watch->events & ZMQ_POLLOUT? EPOLLOUT: 0);
}

static int
s_epoll (zo_loop_t *self, zo_watch_t *watch, int op)
{
    struct epoll_event event = { .events = s_epoll_events (watch), .data.ptr = watch };
    return epoll_ctl (self->epoll_fd, op, watch->fd, &event);
}

//  Removes watch from an array of watches, keeping the others' order.
static void
s_array_remove (zo_watch_t **array, size_t *count, zo_watch_t *watch)
{
    for (size_t i = 0; i < *count; i++)
        if (array [i] == watch) {
            memmove (array + i, array + i + 1, (*count - i - 1) * sizeof (array [0]));
            (*count)--;
            return;
        }
}

static bool
s_fd_watched (zo_loop_t *self, int fd)
{
    //  epoll tells duplicates itself (EEXIST); only always-ready fds and
    //  paused sockets are outside it, and those are few.
    for (size_t i = 0; i < self->n_always; i++)
        if (self->always [i]->fd == fd)
            return true;
    for (size_t i = 0; i < self->n_sockets; i++)
        if (self->sockets [i]->fd == fd)
            return true;
    return false;
}

static zo_watch_t *
s_watch_add (zo_loop_t *self, void *socket, int fd, short events,
             zo_loop_socket_fn *socket_fn, zo_loop_fd_fn *fd_fn, void *arg)
{
    if (socket) {
        size_t size = sizeof (fd);
        if (zmq_getsockopt (socket, ZMQ_FD, &fd, &size))
            return NULL;
        events = ZMQ_POLLIN;
    }
    if (s_fd_watched (self, fd)) {
        errno = EEXIST;
        return NULL;
    }
    //  Room first, so that nothing fails once the watch is in epoll.
    if (zo__loop_grow (&self->ready, self->n_sockets + self->n_always + ZO_LOOP_EVENTS,
                &self->max_ready, sizeof (zo_watch_t *))
    ||  (socket && zo__loop_grow (&self->sockets, self->n_sockets, &self->max_sockets,
                           sizeof (zo_watch_t *)))) {
        errno = ENOMEM;
        return NULL;
    }
    zo_watch_t *watch = (zo_watch_t *) calloc (1, sizeof (zo_watch_t));
    if (!watch) {
        errno = ENOMEM;
        return NULL;
    }
    *watch = (zo_watch_t) {
        .socket = socket, .fd = fd, .events = events,
        .socket_fn = socket_fn, .fd_fn = fd_fn, .arg = arg
    };
    if (s_epoll (self, watch, EPOLL_CTL_ADD) == 0)
        watch->in_epoll = true;
    else
    if (errno == EPERM && !socket
    &&  zo__loop_grow (&self->always, self->n_always, &self->max_always, sizeof (zo_watch_t *)) == 0)
        //  A regular file: poll(2) would call it always ready.
        watch->always = true;
    else {
        int saved = errno;
        free (watch);
        errno = saved;
        return NULL;
    }
    if (socket)
        self->sockets [self->n_sockets++] = watch;
    if (watch->always)
        self->always [self->n_always++] = watch;
    watch->next = self->watches;
    if (self->watches)
        self->watches->prev = watch;
    self->watches = watch;
    self->n_watches++;
    return watch;
}

zo_watch_t *
zo_loop_add_socket (zo_loop_t *self, void *socket, zo_loop_socket_fn *fn, void *arg)
{
    assert (self);
    assert (socket);
    assert (fn);
    return s_watch_add (self, socket, -1, ZMQ_POLLIN, fn, NULL, arg);
}

zo_watch_t *
zo_loop_add_fd (zo_loop_t *self, int fd, short events, zo_loop_fd_fn *fn, void *arg)
{
    assert (self);
    assert (fd >= 0);
    assert (fn);
    return s_watch_add (self, NULL, fd, events, NULL, fn, arg);
}

int
zo_loop_watch_events (zo_loop_t *self, zo_watch_t *watch, short events)
{
    assert (self);
    assert (watch);
    assert (!watch->dead);
    events &= ZMQ_POLLIN | ZMQ_POLLOUT;
    if (events == watch->events)
        return 0;
    short was = watch->events;
    watch->events = events;
    int rc = 0;
    if (watch->socket) {
        //  A paused socket leaves the epoll set (see the top of the file).
        watch->events &= ZMQ_POLLIN;
        if (watch->events && !watch->in_epoll) {
            rc = s_epoll (self, watch, EPOLL_CTL_ADD);
            watch->in_epoll = rc == 0;
        }
        else
        if (!watch->events && watch->in_epoll) {
            rc = s_epoll (self, watch, EPOLL_CTL_DEL);
            watch->in_epoll = false;
        }
    }
    else
    if (watch->in_epoll)
        rc = s_epoll (self, watch, EPOLL_CTL_MOD);
    if (rc)
        watch->events = was;
    return rc;
}

short
zo_watch_events (const zo_watch_t *watch)
{
    assert (watch);
    return watch->events;
}

int
zo_watch_fd (const zo_watch_t *watch)
{
    assert (watch);
    return watch->fd;
}

void
zo_loop_unwatch (zo_loop_t *self, zo_watch_t **watch_p)
{
    assert (self);
    assert (watch_p);
    zo_watch_t *watch = *watch_p;
    if (!watch)
        return;
    *watch_p = NULL;
    assert (!watch->dead);
    if (watch->in_epoll)
        //  May fail when the fd was closed already: epoll dropped it then.
        epoll_ctl (self->epoll_fd, EPOLL_CTL_DEL, watch->fd, NULL);
    if (watch->socket)
        s_array_remove (self->sockets, &self->n_sockets, watch);
    if (watch->always)
        s_array_remove (self->always, &self->n_always, watch);
    if (watch->prev)
        watch->prev->next = watch->next;
    else
        self->watches = watch->next;
    if (watch->next)
        watch->next->prev = watch->prev;
    self->n_watches--;
    watch->dead = true;
    watch->revents = 0;
    if (self->dispatching || watch->listed) {
        watch->prev = NULL;
        watch->next = self->dead;
        self->dead = watch;
    }
    else
        free (watch);
}


//  --------------------------------------------------------------------------
//  Timers

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
//  Running

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

static void
s_list (zo_loop_t *self, zo_watch_t *watch, short revents)
{
    watch->revents = revents;
    if (!watch->listed) {
        watch->listed = true;
        self->ready [self->n_ready++] = watch;
    }
}

static int
s_wait (zo_loop_t *self, int64_t timeout_ns)
{
    if (!self->no_pwait2) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = (time_t) (timeout_ns / 1000000000);
            ts.tv_nsec = (long) (timeout_ns % 1000000000);
            tsp = &ts;
        }
        int rc = epoll_pwait2 (self->epoll_fd, self->events, ZO_LOOP_EVENTS, tsp, NULL);
        if (rc >= 0 || errno != ENOSYS)
            return rc;
        self->no_pwait2 = true;
    }
    int ms = -1;
    if (timeout_ns >= 0) {
        int64_t up = timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
        ms = up > INT_MAX? INT_MAX: (int) up;
    }
    return epoll_wait (self->epoll_fd, self->events, ZO_LOOP_EVENTS, ms);
}

//  One poll of every watch, blocking up to timeout_ns (-1: no limit) when
//  nothing is ready. Fills the ready array; returns how many watches are
//  on it, or -1 (errno set).
static int
s_poll_once (zo_loop_t *self, int64_t timeout_ns)
{
    for (size_t i = 0; i < self->n_sockets; i++) {
        zo_watch_t *watch = self->sockets [i];
        short revents = watch->events? s_socket_events (watch->socket): 0;
        if (revents)
            s_list (self, watch, revents);
    }
    for (size_t i = 0; i < self->n_always; i++) {
        zo_watch_t *watch = self->always [i];
        if (watch->events)
            s_list (self, watch, watch->events);
    }
    if (self->n_ready)
        timeout_ns = 0;
    int rc = s_wait (self, timeout_ns);
    if (rc < 0)
        return -1;
    for (int i = 0; i < rc; i++) {
        zo_watch_t *watch = (zo_watch_t *) self->events [i].data.ptr;
        uint32_t got = self->events [i].events;
        if (watch->socket) {
            short revents;
            if (watch->events && !watch->listed
            &&  (revents = s_socket_events (watch->socket)))
                s_list (self, watch, revents);
        }
        else
            //  As poll(2) does: errors and hang-ups are reported even for
            //  an fd watched for nothing.
            s_list (self, watch, (short) ((got & EPOLLIN? ZMQ_POLLIN: 0)
                                        | (got & EPOLLOUT? ZMQ_POLLOUT: 0)
                                        | (got & (EPOLLERR | EPOLLHUP)? ZMQ_POLLERR: 0)));
    }
    return (int) self->n_ready;
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
    for (size_t i = 0; i < self->n_ready; i++) {
        zo_watch_t *watch = self->ready [i];
        short revents = watch->revents;
        watch->revents = 0;
        if (!revents || watch->dead || self->stopped)
            continue;
        int rc;
        if (watch->socket_fn)
            rc = watch->socket_fn (self, watch->socket, watch->arg);
        else
            rc = watch->fd_fn (self, watch->fd, revents, watch->arg);
        if (rc == -1)
            self->stopped = true;
    }
    for (size_t i = 0; i < self->n_ready; i++)
        self->ready [i]->listed = false;
    self->n_ready = 0;
    self->dispatching = false;
    s_free_list (self->dead);
    self->dead = NULL;
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
        if (self->hooks.n && zo__loop_run_hooks (self) == -1)
            break;
        if (self->stopped)
            break;
        if (self->n_watches == 0 && zo_timers_size (self->timers) == 0)
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

uint64_t
zo_loop_clock_ms (zo_loop_t *self)
{
    assert (self);
    return self->clock (self->clock_arg) / 1000000u;
}

void
zo_loop_set_clock (zo_loop_t *self, zo_clock_fn *fn, void *arg)
{
    assert (self);
    self->clock = fn? fn: s_clock_mono;
    self->clock_arg = fn? arg: NULL;
    s_refresh_now (self);
}
