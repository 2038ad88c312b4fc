/*  zo_mhd: libmicrohttpd's external epoll mode on the loop (see zo_mhd.h).
*/
#include <assert.h>
#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <zmq.h>

#include "zo_mhd.h"

//  MHD_run calls in a row while MHD says it has more ready (its epoll set
//  is edge-triggered, so it may stop with work left and report a timeout
//  of 0). Past this the rest waits for the next iteration, so that one
//  busy daemon cannot starve the loop's other watches.
#define S_RUNS_MAX 8

struct _zo_mhd_t {
    zo_loop_t *loop;
    struct MHD_Daemon *daemon;
    zo_watch_t *watch;          //  MHD's epoll fd, for input
    int timer;                  //  when MHD must run next, 0 if never
    uint64_t timer_due_ms;
    uint64_t runs;
    zhashx_t *suspended;        //  connections suspended, by pointer
};

static int s_on_timer (zo_loop_t *loop, int id, void *arg);

static size_t
s_ptr_hash (const void *key)
{
    uintptr_t p = (uintptr_t) key;
    return (size_t) (p ^ (p >> 17));
}

static int
s_ptr_cmp (const void *a, const void *b)
{
    return a < b? -1: a > b? 1: 0;
}

//  Keeps the one timer at what MHD_get_timeout says now.
static void
s_arm (zo_mhd_t *self)
{
    MHD_UNSIGNED_LONG_LONG timeout;
    bool wanted = MHD_get_timeout (self->daemon, &timeout) == MHD_YES;
    uint64_t due = wanted? zo_loop_now_ms (self->loop) + (uint64_t) timeout: 0;
    if (self->timer && wanted && due == self->timer_due_ms)
        return;
    if (self->timer) {
        zo_loop_cancel (self->loop, self->timer);
        self->timer = 0;
    }
    if (!wanted)
        return;
    int id = zo_loop_timer (self->loop, (uint64_t) timeout, s_on_timer, self);
    if (id < 0) {
        //  The next request still runs MHD; only idle timeouts wait.
        zsys_error ("mhd: out of memory for a loop timer");
        return;
    }
    self->timer = id;
    self->timer_due_ms = due;
}

static void
s_run (zo_mhd_t *self)
{
    for (int i = 0; i < S_RUNS_MAX; i++) {
        MHD_run (self->daemon);
        self->runs++;
        MHD_UNSIGNED_LONG_LONG timeout;
        if (MHD_get_timeout (self->daemon, &timeout) != MHD_YES || timeout > 0)
            break;
    }
    s_arm (self);
}

static int
s_on_ready (zo_loop_t *loop, int fd, short revents, void *arg)
{
    s_run ((zo_mhd_t *) arg);
    return 0;
}

static int
s_on_timer (zo_loop_t *loop, int id, void *arg)
{
    zo_mhd_t *self = (zo_mhd_t *) arg;
    self->timer = 0;
    s_run (self);
    return 0;
}

zo_mhd_t *
zo_mhd_new (zo_loop_t *loop, struct MHD_Daemon **daemon_p)
{
    assert (loop);
    assert (daemon_p && *daemon_p);
    struct MHD_Daemon *daemon = *daemon_p;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (daemon, MHD_DAEMON_INFO_FLAGS);
    assert (info);
    assert (info->flags & MHD_USE_EPOLL);
    assert (!(info->flags & MHD_USE_INTERNAL_POLLING_THREAD));
    info = MHD_get_daemon_info (daemon, MHD_DAEMON_INFO_EPOLL_FD);
    int epoll_fd = info? info->epoll_fd: -1;
    if (epoll_fd < 0) {
        zsys_error ("mhd: the daemon has no epoll descriptor");
        return NULL;
    }
    zo_mhd_t *self = (zo_mhd_t *) calloc (1, sizeof (zo_mhd_t));
    if (!self) {
        zsys_error ("mhd: out of memory");
        return NULL;
    }
    self->loop = loop;
    self->daemon = daemon;
    self->suspended = zhashx_new ();
    if (!self->suspended) {
        zsys_error ("mhd: out of memory");
        free (self);
        return NULL;
    }
    zhashx_set_key_hasher (self->suspended, s_ptr_hash);
    zhashx_set_key_comparator (self->suspended, s_ptr_cmp);
    zhashx_set_key_duplicator (self->suspended, NULL);
    zhashx_set_key_destructor (self->suspended, NULL);
    self->watch = zo_loop_add_fd (loop, epoll_fd, ZMQ_POLLIN, s_on_ready, self);
    if (!self->watch) {
        zsys_error ("mhd: cannot watch the daemon's epoll fd: %s", strerror (errno));
        zhashx_destroy (&self->suspended);
        free (self);
        return NULL;
    }
    *daemon_p = NULL;
    //  Connections queued before the hand-over, or a timeout, are served
    //  without waiting for the next event.
    s_arm (self);
    return self;
}

void
zo_mhd_destroy (zo_mhd_t **self_p)
{
    assert (self_p);
    zo_mhd_t *self = *self_p;
    if (!self)
        return;
    zo_loop_unwatch (self->loop, &self->watch);
    if (self->timer)
        zo_loop_cancel (self->loop, self->timer);
    //  Stopping with a connection suspended is fatal to MHD; resumed ones
    //  are closed like the others.
    for (void *conn = zhashx_first (self->suspended); conn; conn = zhashx_next (self->suspended))
        MHD_resume_connection ((struct MHD_Connection *) conn);
    zhashx_destroy (&self->suspended);
    MHD_stop_daemon (self->daemon);
    free (self);
    *self_p = NULL;
}

int
zo_mhd_suspend (zo_mhd_t *self, struct MHD_Connection *conn)
{
    assert (self);
    assert (conn);
    if (zhashx_insert (self->suspended, conn, conn))
        return -1;
    MHD_suspend_connection (conn);
    return 0;
}

void
zo_mhd_resume (zo_mhd_t *self, struct MHD_Connection *conn)
{
    assert (self);
    if (!zhashx_lookup (self->suspended, conn))
        return;
    zhashx_delete (self->suspended, conn);
    MHD_resume_connection (conn);
    //  MHD does not wake its epoll fd for this: run it next iteration.
    if (self->timer && self->timer_due_ms <= zo_loop_now_ms (self->loop))
        return;
    if (self->timer)
        zo_loop_cancel (self->loop, self->timer);
    self->timer = zo_loop_timer (self->loop, 0, s_on_timer, self);
    self->timer_due_ms = zo_loop_now_ms (self->loop);
    if (self->timer < 0) {
        self->timer = 0;
        zsys_error ("mhd: out of memory for a loop timer");
    }
}

size_t
zo_mhd_suspended (const zo_mhd_t *self)
{
    assert (self);
    return zhashx_size (((zo_mhd_t *) self)->suspended);
}

struct MHD_Daemon *
zo_mhd_daemon (zo_mhd_t *self)
{
    assert (self);
    return self->daemon;
}

uint16_t
zo_mhd_port (zo_mhd_t *self)
{
    assert (self);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon,
                                                            MHD_DAEMON_INFO_BIND_PORT);
    return info? info->port: 0;
}

uint64_t
zo_mhd_runs (const zo_mhd_t *self)
{
    assert (self);
    return self->runs;
}
