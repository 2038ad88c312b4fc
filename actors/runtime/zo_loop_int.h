/*  zo_loop_int.h: what zo_loop.c and zo_loop_calls.c share: the loop's
    record and its watches. Not for use outside the loop's own files.
*/
#ifndef ZO_LOOP_INT_H_INCLUDED
#define ZO_LOOP_INT_H_INCLUDED

#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <zmq.h>

#include "zo_loop.h"
#include "zo_timers.h"

#define ZO_LOOP_MAX_SIGNALS 65
#define ZO_LOOP_EVENTS      256         /* epoll events taken per wait */

struct _zo_watch_t {
    void *socket;               /* NULL for a plain fd */
    int fd;                     /* the fd, or the socket's ZMQ_FD */
    short events;               /* ZMQ_POLLIN | ZMQ_POLLOUT asked for */
    short revents;              /* collected for this dispatch pass */
    bool in_epoll;              /* registered in the epoll set */
    bool always;                /* a regular file: always ready */
    bool listed;                /* on the ready array this pass */
    bool dead;
    zo_loop_socket_fn *socket_fn;
    zo_loop_fd_fn *fd_fn;
    void *arg;
    zo_watch_t *prev, *next;    /* all watches; dead ones on the dead list */
};

//  A list of callbacks, for signal handlers and before-sleep hooks.
typedef void (s_any_fn) (void);
typedef struct {
    struct { s_any_fn *fn; void *arg; } *v;
    size_t n, cap;
    int walking;                /* walks in progress */
    bool holes;                 /* entries cleared during a walk */
} s_calls_t;

struct _zo_loop_t {
    int epoll_fd;
    zo_watch_t *watches;        /* every live watch */
    zo_watch_t *dead;           /* removed during dispatch, freed after */
    size_t n_watches;
    zo_watch_t **sockets;       /* socket watches, in the order added */
    size_t n_sockets, max_sockets;
    zo_watch_t **always;        /* always-ready watches */
    size_t n_always, max_always;
    zo_watch_t **ready;         /* this pass: sockets, always, epoll */
    size_t n_ready, max_ready;
    struct epoll_event events [ZO_LOOP_EVENTS];
    bool dispatching;
    bool no_pwait2;             /* the kernel has no epoll_pwait2 */

    zo_timers_t *timers;

    int signal_fd;
    zo_watch_t *signal_watch;
    sigset_t signal_mask;
    s_calls_t signal_calls [ZO_LOOP_MAX_SIGNALS];

    s_calls_t hooks;            /* before sleep */
    uint64_t spin_ns;
    uint64_t slack_ns;          /* timers may wait this much longer */
    zo_clock_fn *clock;
    void *clock_arg;
    uint64_t now;               /* cached once per iteration */
    bool running;
    bool stopped;
};

/*  Grows *array_p (elem-byte entries, *max of them) so that it holds at
    least count + 1. 0, or -1 when out of memory (nothing changed).  */
int zo__loop_grow (void *array_p, size_t count, size_t *max, size_t elem);

/*  Runs the before-sleep hooks in order; -1 if one asked to stop.  */
int zo__loop_run_hooks (zo_loop_t *self);

#endif
