/*  zo_redis: hiredis's asynchronous context driven by the actor's zo_loop.
    See zo_redis.h for the contract.
*/
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <zmq.h>
#include "zo_redis.h"

#define ZO_REDIS_CONNECT_TIMEOUT_MS 10000

//  What the adapter keeps per context, in ac->ev.data.
typedef struct {
    zo_loop_t *loop;
    redisAsyncContext *ac;
    zo_watch_t *watch;          //  NULL when hiredis has no socket
    int timer;                  //  the connect timeout, 0 when none
    //  Set while s_on_fd is calling into hiredis, which may free the
    //  context (and with it this state) from inside: cleanup then tells
    //  the handler through this flag not to touch anything.
    bool *freed_p;
} zo_redis_ev_t;

static void
s_events (zo_redis_ev_t *ev, short add, short del)
{
    if (!ev->watch)
        return;
    short events = (short) ((zo_watch_events (ev->watch) | add) & ~del);
    //  Fails only if epoll does, for a socket that is then broken anyway:
    //  hiredis will see the error on its next read or write.
    zo_loop_watch_events (ev->loop, ev->watch, events);
}

static void s_add_read (void *arg) { s_events ((zo_redis_ev_t *) arg, ZMQ_POLLIN, 0); }
static void s_del_read (void *arg) { s_events ((zo_redis_ev_t *) arg, 0, ZMQ_POLLIN); }
static void s_add_write (void *arg) { s_events ((zo_redis_ev_t *) arg, ZMQ_POLLOUT, 0); }
static void s_del_write (void *arg) { s_events ((zo_redis_ev_t *) arg, 0, ZMQ_POLLOUT); }

//  hiredis calls this from __redisAsyncFree, before it closes the socket.
static void
s_cleanup (void *arg)
{
    zo_redis_ev_t *ev = (zo_redis_ev_t *) arg;
    zo_loop_unwatch (ev->loop, &ev->watch);
    if (ev->timer)
        zo_loop_cancel (ev->loop, ev->timer);
    if (ev->freed_p)
        *ev->freed_p = true;
    ev->ac->ev.data = NULL;
    free (ev);
}

static bool
s_connected (const redisAsyncContext *ac)
{
    return (ac->c.flags & REDIS_CONNECTED) != 0;
}

static int
s_on_fd (zo_loop_t *loop, int fd, short revents, void *arg)
{
    zo_redis_ev_t *ev = (zo_redis_ev_t *) arg;
    redisAsyncContext *ac = ev->ac;
    bool freed = false;
    ev->freed_p = &freed;
    //  An error or hang-up goes to the side that will notice it: the
    //  connect check while connecting, a read (EOF, error) after.
    bool err = (revents & ZMQ_POLLERR) != 0;
    if ((revents & ZMQ_POLLOUT) || (err && !s_connected (ac)))
        redisAsyncHandleWrite (ac);
    if (!freed && ((revents & ZMQ_POLLIN) || (err && s_connected (ac))))
        redisAsyncHandleRead (ac);
    if (freed)
        return 0;
    ev->freed_p = NULL;
    if (ev->timer && s_connected (ac)) {
        zo_loop_cancel (loop, ev->timer);
        ev->timer = 0;
    }
    return 0;
}

int
zo_redis_attach (zo_loop_t *loop, redisAsyncContext *ac)
{
    assert (loop);
    assert (ac);
    if (ac->ev.data || ac->ev.addRead) {
        errno = EEXIST;
        return -1;
    }
    zo_redis_ev_t *ev = (zo_redis_ev_t *) calloc (1, sizeof (zo_redis_ev_t));
    if (!ev) {
        errno = ENOMEM;
        return -1;
    }
    ev->loop = loop;
    ev->ac = ac;
    if (ac->c.fd >= 0 && !ac->err) {
        //  Until connected, writable means "connect finished": see the
        //  header (hiredis 0.14 itself asks for it only in
        //  redisAsyncSetConnectCallback and on the first command).
        short events = s_connected (ac)? 0: ZMQ_POLLOUT;
        ev->watch = zo_loop_add_fd (loop, ac->c.fd, events, s_on_fd, ev);
        if (!ev->watch) {
            int saved = errno;
            free (ev);
            errno = saved;
            return -1;
        }
    }
    ac->ev.data = ev;
    ac->ev.addRead = s_add_read;
    ac->ev.delRead = s_del_read;
    ac->ev.addWrite = s_add_write;
    ac->ev.delWrite = s_del_write;
    ac->ev.cleanup = s_cleanup;
    return 0;
}

//  The connect timeout, or the report of a connect that failed at once.
static int
s_on_timeout (zo_loop_t *loop, int id, void *arg)
{
    zo_redis_ev_t *ev = (zo_redis_ev_t *) arg;
    redisAsyncContext *ac = ev->ac;
    ev->timer = 0;
    if (s_connected (ac))
        return 0;
    if (!ac->err) {
        ac->c.err = REDIS_ERR_IO;
        snprintf (ac->c.errstr, sizeof (ac->c.errstr), "Connection timed out");
    }
    ac->err = ac->c.err;
    ac->errstr = ac->c.errstr;
    //  As hiredis runs its own callbacks: a redisAsyncFree from inside
    //  on_connect only marks the context, and the free below does it.
    if (ac->onConnect) {
        ac->c.flags |= REDIS_IN_CALLBACK;
        ac->onConnect (ac, REDIS_ERR);
        ac->c.flags &= ~REDIS_IN_CALLBACK;
    }
    redisAsyncFree (ac);
    return 0;
}

redisAsyncContext *
zo_redis_connect (zo_loop_t *loop, const char *ip, int port, uint64_t timeout_ms,
                  redisConnectCallback *on_connect,
                  redisDisconnectCallback *on_disconnect, void *data)
{
    assert (loop);
    assert (ip);
    unsigned char addr [sizeof (struct in6_addr)];
    if ((inet_pton (AF_INET, ip, addr) != 1 && inet_pton (AF_INET6, ip, addr) != 1)
    ||  port <= 0 || port > 65535) {
        errno = EINVAL;
        return NULL;
    }
    redisAsyncContext *ac = redisAsyncConnect (ip, port);
    if (!ac) {
        errno = ENOMEM;
        return NULL;
    }
    ac->data = data;
    if (zo_redis_attach (loop, ac)) {
        int saved = errno;
        redisAsyncFree (ac);
        errno = saved;
        return NULL;
    }
    zo_redis_ev_t *ev = (zo_redis_ev_t *) ac->ev.data;
    //  A connect refused at once (hiredis set ac->err) is reported on the
    //  next iteration, like any other failure: callers have one path.
    ev->timer = zo_loop_timer (loop, ac->err? 0: (timeout_ms? timeout_ms: ZO_REDIS_CONNECT_TIMEOUT_MS),
                               s_on_timeout, ev);
    if (ev->timer < 0) {
        ev->timer = 0;
        redisAsyncFree (ac);
        errno = ENOMEM;
        return NULL;
    }
    //  hiredis 0.14's setter also asks for a write event: harmless, the
    //  watch waits for one already.
    if (on_connect)
        redisAsyncSetConnectCallback (ac, on_connect);
    if (on_disconnect)
        redisAsyncSetDisconnectCallback (ac, on_disconnect);
    return ac;
}
