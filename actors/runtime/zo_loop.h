/*  zo_loop: the one event loop of an actor process.

    Watches ZeroMQ sockets (through their ZMQ_FD and ZMQ_EVENTS) and plain
    file descriptors with one epoll set, runs timers kept in a binary heap
    against a monotonic clock (to the microsecond: epoll_pwait2 takes a
    timespec), and calls its before-sleep hooks once per iteration (after
    every ready handler ran) so actors can flush batched output with one
    send per peer. Signals arrive through a signalfd, so handlers run on
    the loop, never in a signal context. The clock can be replaced so tests
    drive time by hand.

    A watch is a handle (zo_watch_t) returned by zo_loop_add_socket or
    zo_loop_add_fd; changing or removing it acts on that watch alone. An fd
    or socket is watched at most once (a second add fails with EEXIST):
    several users of one connection share its watch, as the adapters do.
    There is no cap on watches but memory and the process's fd limit.

    Every handler returns 0 to go on or -1 to stop the loop.
*/
#ifndef ZO_LOOP_H_INCLUDED
#define ZO_LOOP_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct _zo_loop_t zo_loop_t;
typedef struct _zo_watch_t zo_watch_t;

/*  Called when a socket is readable, or an fd has any of the asked events
    (revents holds what happened: ZMQ_POLLIN, ZMQ_POLLOUT, ZMQ_POLLERR; an
    error or hang-up is reported even on an fd watched for nothing).  */
typedef int (zo_loop_socket_fn) (zo_loop_t *loop, void *socket, void *arg);
typedef int (zo_loop_fd_fn) (zo_loop_t *loop, int fd, short revents, void *arg);
/*  Called when timer `id` is due. A one-shot timer is gone by then.  */
typedef int (zo_loop_timer_fn) (zo_loop_t *loop, int id, void *arg);
typedef int (zo_loop_signal_fn) (zo_loop_t *loop, int signum, void *arg);
typedef int (zo_loop_hook_fn) (zo_loop_t *loop, void *arg);
/*  A monotonic clock in nanoseconds.  */
typedef uint64_t (zo_clock_fn) (void *arg);

/*  Blocks SIGINT, SIGTERM, SIGHUP, SIGCHLD and SIGUSR1 in the calling thread
    and ignores SIGPIPE. Call it first in main, before any ZeroMQ context
    exists, so every thread inherits the mask and signals reach only the
    loop's signalfd.  */
void zo_signals_block (void);

/*  Returns NULL when out of memory or file descriptors.  */
zo_loop_t *zo_loop_new (void);
/*  Frees the loop and every watch still on it; does not close the sockets
    or fds it watched.  */
void zo_loop_destroy (zo_loop_t **self_p);

/*  Watches a ZeroMQ socket for input. Returns the watch, owned by the loop
    until zo_loop_unwatch; NULL with errno set (EEXIST: the socket is
    already watched; ENOMEM; or what zmq_getsockopt (ZMQ_FD) said).  */
zo_watch_t *zo_loop_add_socket (zo_loop_t *self, void *socket, zo_loop_socket_fn *fn,
                                void *arg);
/*  Watches a plain fd for ZMQ_POLLIN and/or ZMQ_POLLOUT (0: only errors
    and hang-ups). NULL with errno set (EEXIST: fd already watched; what
    epoll_ctl said, such as EPERM for a regular file).  */
zo_watch_t *zo_loop_add_fd (zo_loop_t *self, int fd, short events, zo_loop_fd_fn *fn,
                            void *arg);
/*  Changes what a watch waits for: ZMQ_POLLIN and/or ZMQ_POLLOUT for an
    fd; ZMQ_POLLIN or 0 (paused) for a socket. 0, or -1 with errno set.  */
int zo_loop_watch_events (zo_loop_t *self, zo_watch_t *watch, short events);
/*  What a watch waits for, and its fd (a socket's ZMQ_FD).  */
short zo_watch_events (const zo_watch_t *watch);
int zo_watch_fd (const zo_watch_t *watch);
/*  Stops watching and nulls *watch_p; a NULL *watch_p is ignored. Safe
    from inside any handler, also for the watch being handled: a removed
    watch never fires again, not even for readiness already collected.
    Call it before closing the fd.  */
void zo_loop_unwatch (zo_loop_t *self, zo_watch_t **watch_p);

/*  One-shot timer after delay_ms (0 = next iteration); a ticker repeats
    every interval_ms (0 is taken as 1), keeping its phase and skipping
    beats missed during a stall. Return a timer id > 0, or -1 when out of
    memory. Ids are not reused until 2^31 timers later. Timers due at the
    same instant run in the order they were made. Delays count from the
    iteration's cached time inside handlers, from a fresh clock read
    outside zo_loop_run.  */
int zo_loop_timer (zo_loop_t *self, uint64_t delay_ms, zo_loop_timer_fn *fn, void *arg);
int zo_loop_timer_ns (zo_loop_t *self, uint64_t delay_ns, zo_loop_timer_fn *fn, void *arg);
int zo_loop_ticker (zo_loop_t *self, uint64_t interval_ms, zo_loop_timer_fn *fn, void *arg);
/*  Cancels a timer; unknown or already-run ids are ignored.  */
void zo_loop_cancel (zo_loop_t *self, int id);

/*  Adds fn to the handlers of signum (one of those zo_signals_block
    blocks; the signal is also blocked in the calling thread here, as a
    signalfd needs). Handlers of one signal run in the order they were
    added. 0, or -1 (bad signal number, out of memory, no signalfd).  */
int zo_loop_on_signal (zo_loop_t *self, int signum, zo_loop_signal_fn *fn, void *arg);
/*  Removes the handler added with this signum, fn and arg, if any.  */
void zo_loop_off_signal (zo_loop_t *self, int signum, zo_loop_signal_fn *fn, void *arg);

/*  Adds a hook called once per iteration, after handlers and timers,
    before polling; hooks run in the order they were added. 0 or -1 (out
    of memory).  */
int zo_loop_before_sleep (zo_loop_t *self, zo_loop_hook_fn *fn, void *arg);
/*  Removes the hook added with this fn and arg, if any. Safe from inside
    a hook.  */
void zo_loop_before_sleep_remove (zo_loop_t *self, zo_loop_hook_fn *fn, void *arg);

/*  Lets timers fire up to slack_ns late (0, the default: on time): a wait
    for the next timer is rounded up to a multiple of slack_ns, so that what
    becomes due meanwhile is handled in the same wake-up. For loops where
    fewer wake-ups matter more than punctuality, like a paced producer.  */
void zo_loop_set_slack (zo_loop_t *self, uint64_t slack_ns);

/*  When nothing is ready, keep polling without blocking for up to spin_us
    microseconds before parking in the kernel (0, the default, never spins).
    Trades a little CPU under light load for fewer wake-up delays.  */
void zo_loop_set_spin (zo_loop_t *self, uint32_t spin_us);

/*  Runs until a handler (or a before-sleep hook) returns -1 or
    zo_loop_stop is called; also returns at once when nothing is watched
    and no timer is pending, since nothing could wake it. Returns 0, or -1
    if polling failed for a reason other than EINTR.  */
int zo_loop_run (zo_loop_t *self);
/*  Makes zo_loop_run return after the current iteration.  */
void zo_loop_stop (zo_loop_t *self);

/*  The clock, read once per iteration (cheap); outside zo_loop_run it is
    read on each call. now_ms is derived.  */
uint64_t zo_loop_now_ns (zo_loop_t *self);
uint64_t zo_loop_now_ms (zo_loop_t *self);
/*  The loop's clock read now, not the iteration's cached time: for a
    moment someone else named on a real clock (a server's "retry at"),
    which the time spent in this iteration must not bring forward.  */
uint64_t zo_loop_clock_ms (zo_loop_t *self);
/*  Replace the clock (tests). NULL restores CLOCK_MONOTONIC.  */
void zo_loop_set_clock (zo_loop_t *self, zo_clock_fn *fn, void *arg);
/*  Runs the timers that are due now by the loop's clock, without polling
    (tests that drive a replaced clock). Returns how many ran.  */
int zo_loop_run_timers (zo_loop_t *self);

/*  CLOCK_MONOTONIC and CLOCK_REALTIME in ns.  */
uint64_t zo_clock_mono_ns (void);
uint64_t zo_clock_wall_ns (void);

#endif
