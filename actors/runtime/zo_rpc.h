/*  zo_rpc: an asynchronous request/reply client on a zo_loop, the way
    workers, tools and actors reach one another (proto/PROTOCOL.md: every
    request carries a "seq" chosen by the client; the reply echoes it).

    One DEALER socket connected to one endpoint. Each request gets a seq
    from the client, a deadline and a callback; the callback runs exactly
    once, with the reply or an error (timeout, a rejected reply), unless
    the request is cancelled first. Replies may come in any order: they are
    matched by seq in a table of pending requests (a fixed array, so
    lookup and cancel are O(1) and the table is bounded: a request made
    while it is full fails at once). Deadlines are kept in a heap (O(log n)
    per request, reply and cancel, whatever the mix of timeouts) watched
    by one loop timer for the earliest, re-armed lazily, so thousands of
    requests in flight cost no timer each.

    Reconnecting is ZeroMQ's: a peer that went away and came back answers
    the requests sent after it returned; requests lost with it end by
    their deadline, and a reply arriving after its deadline (or after a
    cancel) is counted as late and dropped.

    Replies pass the wire rules (zo_wire): one frame, at most max_frame
    bytes, a well-formed message; a rejected reply whose seq can be read
    ends its request with ZO_RPC_TOO_LARGE or ZO_RPC_BAD_MESSAGE, any
    other is counted and dropped.

    Counters, in the actor's zo_stats when given one (with <name> from the
    options): rpc_<name>_requests_total, _replies_total, _timeouts_total,
    _late_total, _errors_total (rejected or unmatched replies, failed
    sends, a full table) and the gauge rpc_<name>_inflight.
*/
#ifndef ZO_RPC_H_INCLUDED
#define ZO_RPC_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zo_loop.h"
#include "zo_proto.h"
#include "zo_stats.h"

#define ZO_RPC_MAX_PENDING (1u << 20)   /* the largest table there can be */

typedef struct _zo_rpc_t zo_rpc_t;

typedef enum {
    ZO_RPC_OK = 0,          /* a reply came (it may be an ERROR message) */
    ZO_RPC_TIMEOUT,         /* no reply by the deadline */
    ZO_RPC_TOO_LARGE,       /* the reply was over max_frame */
    ZO_RPC_BAD_MESSAGE,     /* the reply had several frames or did not decode */
    ZO_RPC_CLOSED           /* the client was destroyed first */
} zo_rpc_status_t;

typedef struct {
    uint64_t id;            /* the request's id (its seq) */
    zo_rpc_status_t status;
    /*  ZO_RPC_OK for zo_rpc_request: the decoded reply. NULL otherwise.  */
    const zo_msg_t *msg;
    /*  The reply's bytes (OK, TOO_LARGE, BAD_MESSAGE), else NULL / 0. For
        zo_rpc_request_raw this is the reply: one msgpack map.  */
    const void *data;
    size_t size;
    /*  Why it failed, a sentence; "" on success.  */
    const char *reason;
} zo_rpc_reply_t;

/*  Called once per request. The reply and everything it points to are
    borrowed: valid only during the call. The callback may make and cancel
    requests; it must not destroy the client.  */
typedef void (zo_rpc_fn) (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg);

/*  Called for a decoded message that carries no seq (such as RESULT,
    which a broker sends when events end), borrowed during the call.  */
typedef void (zo_rpc_msg_fn) (zo_rpc_t *rpc, const zo_msg_t *msg, void *arg);

typedef struct {
    const char *name;       /* for counters and logs; default "rpc" (<= 32 bytes) */
    uint32_t max_pending;   /* table size, rounded up to a power of two;
                               default 4096, at most ZO_RPC_MAX_PENDING */
    size_t max_frame;       /* largest reply accepted; default ZO_MAX_FRAME */
    int sndhwm, rcvhwm;     /* the socket's queues; default 100000 each */
    zo_stats_t *stats;      /* where counters go; NULL: kept privately */
} zo_rpc_opts_t;

/*  Counters as numbers (zo_rpc_counts).  */
typedef struct {
    uint64_t requests, replies, timeouts, late, errors;
    uint32_t inflight;
} zo_rpc_counts_t;

/*  Makes a DEALER on zmq_ctx (the actor's context), connects it to
    endpoint in the background and watches it on loop. opts may be NULL
    (all defaults). NULL with a log line if the endpoint is malformed, the
    options are out of range, or memory ran out.  */
zo_rpc_t *zo_rpc_new (zo_loop_t *loop, void *zmq_ctx, const char *endpoint,
                      const zo_rpc_opts_t *opts);
/*  Ends every pending request with ZO_RPC_CLOSED (callbacks run here),
    closes the socket (linger 0), frees everything and nulls *self_p.
    Harmless on NULL; not from inside one of its callbacks.  */
void zo_rpc_destroy (zo_rpc_t **self_p);

/*  Sends req with a fresh seq (set in req->seq) and waits up to
    timeout_ms (0 is taken as 1) for its reply, calling fn then. Returns
    the request's id (> 0), or 0 if it was not sent, errno saying why
    (ENOBUFS: the table is full; EAGAIN: the socket's queue is full;
    anything else ZeroMQ said); fn is then never called. Counted either
    way. req is encoded before this returns: it is not kept.  */
uint64_t zo_rpc_request (zo_rpc_t *self, zo_msg_t *req, uint32_t timeout_ms, zo_rpc_fn *fn,
                         void *arg);

/*  The same for a request built elsewhere (a plugin): map is one msgpack
    map of the request's fields without "v" and "seq" (at most max_frame
    bytes); the client sends it with v and seq added in front. The reply
    comes as raw bytes (reply->data), whatever its command, and is not
    decoded. 0 with errno EINVAL if map is not exactly one map, or already
    has "v" or "seq".  */
uint64_t zo_rpc_request_raw (zo_rpc_t *self, const void *map, size_t size,
                             uint32_t timeout_ms, zo_rpc_fn *fn, void *arg);

/*  Forgets a pending request: its callback will not run and a reply to it
    counts as late. 0, or -1 if no such request is pending.  */
int zo_rpc_cancel (zo_rpc_t *self, uint64_t id);

/*  Sets who gets decoded messages without a seq (NULL: they are counted
    as errors and dropped, the default).  */
void zo_rpc_on_message (zo_rpc_t *self, zo_rpc_msg_fn *fn, void *arg);

/*  For command-line tools: sends req like zo_rpc_request and runs the
    client's loop until the reply comes or the deadline passes, calling fn
    (may be NULL) with it before returning. Returns the request's status
    (ZO_RPC_OK ...), or -1 when it could not be sent (errno as for
    zo_rpc_request) or the loop was stopped by something else first (the
    request is cancelled). Not from inside a handler of that loop.  */
int zo_rpc_call (zo_rpc_t *self, zo_msg_t *req, uint32_t timeout_ms, zo_rpc_fn *fn, void *arg);

/*  PING -> PONG within timeout_ms, blocking like zo_rpc_call. 0 if the
    peer answered PONG, else -1.  */
int zo_rpc_ping (zo_rpc_t *self, uint32_t timeout_ms);

/*  Requests waiting for their reply.  */
uint32_t zo_rpc_pending (const zo_rpc_t *self);
zo_rpc_counts_t zo_rpc_counts (const zo_rpc_t *self);
const char *zo_rpc_endpoint (const zo_rpc_t *self);
/*  The DEALER, owned by the client (for socket options such as CURVE).  */
void *zo_rpc_socket (zo_rpc_t *self);
const char *zo_rpc_status_name (zo_rpc_status_t status);

#endif
