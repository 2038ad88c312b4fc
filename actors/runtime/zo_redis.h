/*  zo_redis: hiredis's asynchronous context driven by the actor's zo_loop.

    The adapter in the sense of hiredis's own adapters/ (ae, libevent...):
    zo_redis_attach sets a redisAsyncContext's ev hooks so that hiredis
    reads and writes when the loop says its socket is ready. A connection
    has one loop watch; hiredis's addRead/delRead/addWrite/delWrite only
    change what that watch waits for (zo_loop_watch_events).

    Ownership: hiredis owns the context and frees it (redisAsyncFree, or by
    itself after an error or a disconnect); its cleanup hook removes the
    watch and frees the adapter's state, so nothing else is to be freed.
    The loop must outlive every context attached to it: free or disconnect
    them before zo_loop_destroy.

    The installed hiredis (0.14) has no scheduleTimer hook and no connect
    timeout of its own: zo_redis_connect adds one on a loop timer. It also
    resolves nothing: hiredis would call getaddrinfo, which blocks, so the
    address must be numeric (IPv4 or IPv6).

    Commands, replies and callbacks are hiredis's own API
    (redisAsyncCommand...): every command's callback is called exactly once,
    with a NULL reply when the connection failed or was freed first.
*/
#ifndef ZO_REDIS_H_INCLUDED
#define ZO_REDIS_H_INCLUDED

#include <stdint.h>
#include <hiredis/async.h>
#include "zo_loop.h"

/*  Puts ac on the loop. Returns 0, or -1 with errno set: EEXIST if ac is
    attached to an event library already (its ev hooks are set), EEXIST or
    what epoll said if its socket cannot be watched, ENOMEM. On failure ac
    is unchanged and still the caller's to free. Until connected, the
    socket is watched for writing, which is how hiredis learns that the
    connection is up (or failed) even before any command is sent.  */
int zo_redis_attach (zo_loop_t *loop, redisAsyncContext *ac);

/*  Connects to ip:port (numeric only) without blocking, attached to the
    loop, with ac->data = data and the given hiredis callbacks (either may
    be NULL). If the connection is not up after timeout_ms (0: 10 s), or
    fails at once, on_connect gets REDIS_ERR with ac->errstr saying why, on
    a later loop iteration, never from inside this call; then the context
    is freed (pending commands get NULL replies), as hiredis does for a
    connect error: on_connect must not free it. Returns the context, or
    NULL with errno set (EINVAL: ip is not a numeric address, or port out
    of range; ENOMEM) and no callback.  */
redisAsyncContext *zo_redis_connect (zo_loop_t *loop, const char *ip, int port,
                                     uint64_t timeout_ms,
                                     redisConnectCallback *on_connect,
                                     redisDisconnectCallback *on_disconnect, void *data);

#endif
