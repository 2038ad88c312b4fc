/*  l2: the cache's second level, in Redis, shared by every cache actor,
    with the contract of level.h (asynchronous operations, one callback
    each, absolute wall-clock expiry).

    Two hiredis connections on the actor's loop (zo_redis): one for
    commands, one SUBSCRIBEd to the coherence channel. The level is up
    when both are: the command connection has answered its first command
    (SELECT db, or PING) and the subscription is confirmed. Anything else
    (refused, reset, an error reply to SELECT, the connect timeout, no
    reply within command_timeout_ms) takes both down: every operation in
    flight fails, on_state says why, and a loop timer tries again after a
    backoff (doubling from backoff_min_ms to backoff_max_ms, with jitter;
    back to the minimum once up). A host name in the URL is resolved on a
    thread (zo_resolve) at each attempt, so hiredis never resolves and
    nothing blocks the loop; each failed attempt moves on to the next of
    its addresses (up to 8).

    Keys are stored as prefix + key. A get is GET and PTTL, pipelined (not
    atomic: a key gone between the two is a miss); a set is SET ... PX;
    del is UNLINK; touch is PEXPIRE (PERSIST, with EXISTS for the count,
    for "never"); invalidate walks the key space with SCAN ... MATCH
    (never KEYS, which would stall Redis) and UNLINKs each batch.

    Coherence is Redis pub/sub, not client-side caching (CLIENT TRACKING):
    hiredis 0.14 speaks no RESP3, tracking's broadcast mode would send one
    message per key where an invalidation by pattern is one message here,
    and either way delivery is at most once. Every set, del, touch and
    invalidate PUBLISHes one message, after its change, on the channel
    prefix + "invalidate":
        <node> '\n' 'k' <key bytes>       a key changed (prefix removed)
        <node> '\n' 'p' <glob bytes>      keys matching a glob were removed
    The node id has no '\n', so the first one ends it; the rest is binary.
    A node ignores its own messages and hands the others to on_remote. A
    message published while a node's subscription is down is lost to it,
    so on every (re)subscription the level calls on_remote with the
    pattern "*" (drop everything), and the actor caps its L1 TTLs for what
    a lost message could leave stale while the subscription looks up.
    Channels are global to a Redis server, not per database: two
    deployments on one server need different prefixes.

    Liveness: when a connection has had nothing pending for
    command_timeout_ms it is pinged (PING; SUBSCRIBE again on the
    subscription, which Redis confirms, as hiredis 0.14 mishandles PING
    there), so a server that stops answering is noticed within 2.5
    timeouts even when idle (the checks run every quarter timeout).

    Ownership: keys, values and patterns are copied before a call returns;
    a get's value is lent to its callback. The loop must outlive the
    zo_l2_t. The process must ignore SIGPIPE (zo_signals_block does), as
    hiredis writes to its sockets with write(2).

    Callbacks (an operation's, on_state, on_remote) run from the loop,
    never from inside the call that caused them, except that
    zo_l2_destroy calls the callbacks of the operations still in flight
    with ERROR (done: rc -1) before it returns. Any callback may call any
    function here, zo_l2_destroy included.
*/
#ifndef ZO_L2_H_INCLUDED
#define ZO_L2_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "level.h"
#include "zo_loop.h"
#include "zo_stats.h"

typedef struct _zo_l2_t zo_l2_t;

/*  Another node changed something: drop it from the level above. pattern
    false: key is one key (len bytes, the prefix removed); pattern true: a
    Redis glob over keys ("*" after every (re)subscription). Lent until
    the callback returns.  */
typedef void (zo_l2_remote_fn) (void *arg, bool pattern, const void *key, size_t len);

typedef struct {
    //  "redis://host[:port][/db]": host an IPv4 address, an IPv6 address
    //  in brackets, or a name; port 6379 by default; db (SELECT on every
    //  connect) none by default. No user or password.
    const char *url;
    const char *prefix;             //  before every key and the channel; NULL: ""
    const char *node;               //  this actor's id, unique, no '\n'
    uint64_t connect_timeout_ms;    //  0: 2000; for resolving, and for connecting
    //  0: 1000. A connection with commands pending and no reply for this
    //  long is stuck: both are dropped and made again.
    uint64_t command_timeout_ms;
    uint64_t backoff_min_ms;        //  0: 100
    uint64_t backoff_max_ms;        //  0: 5000 (at least backoff_min_ms)
    uint32_t max_inflight;          //  operations at most; 0: 10000
    zo_level_state_fn *on_state;    //  may be NULL
    zo_l2_remote_fn *on_remote;     //  may be NULL
    void *arg;                      //  given to on_state and on_remote
    //  May be NULL. Counters l2_hits_total, l2_misses_total,
    //  l2_errors_total (operations that failed, and coherence messages
    //  that could not be read), l2_sets_total, l2_dels_total,
    //  l2_invalidated_total (keys), l2_reconnects_total (attempts after
    //  the first), l2_published_total, l2_remote_total (messages handed
    //  to on_remote); gauges l2_up (0 or 1) and l2_inflight.
    zo_stats_t *stats;
} zo_l2_opts_t;

/*  Makes the level and starts connecting (on the next loop iteration);
    it is down until on_state says up. Strings in opts are copied.
    Returns NULL with errno set: EINVAL (a bad URL, no node or one with a
    '\n'; error, if not NULL, gets a line saying why), ENOMEM.  */
zo_l2_t *zo_l2_new (zo_loop_t *loop, const zo_l2_opts_t *opts, char *error,
                    size_t error_size);
/*  Fails the operations in flight (their callbacks run now, with ERROR or
    rc -1), closes both connections, frees the level and nulls *self_p;
    on_state is not called. NULL is ignored. From inside a callback the
    memory is freed when the callback returns.  */
void zo_l2_destroy (zo_l2_t **self_p);

/*  True while both connections are up and operations are taken.  */
bool zo_l2_up (const zo_l2_t *self);
/*  Operations in flight.  */
uint32_t zo_l2_inflight (const zo_l2_t *self);

/*  Every operation returns 0, its callback then running once from the
    loop; or -1 with errno set and no callback: ENOTCONN (down), EAGAIN
    (max_inflight operations in flight), ENOMEM. An operation fails (ERROR,
    rc -1) when any of its commands does: an error reply (a key holding
    another type), or the connection lost.  */

/*  Looks key up: fn (not NULL) gets HIT with the value and its expiry
    (wall-clock now + PTTL; 0 when it has none), or MISS.  */
int zo_l2_get (zo_l2_t *self, const void *key, size_t len, zo_level_get_fn *fn, void *arg);
/*  Stores key -> value, expiring at expire_ms (0: never; already past:
    the key is removed instead), then publishes. fn (may be NULL) gets
    count 1.  */
int zo_l2_set (zo_l2_t *self, const void *key, size_t len, const void *value,
               size_t value_len, uint64_t expire_ms, zo_level_done_fn *fn, void *arg);
/*  Removes key, then publishes. fn (may be NULL) gets count 1 if it was
    there, else 0.  */
int zo_l2_del (zo_l2_t *self, const void *key, size_t len, zo_level_done_fn *fn,
               void *arg);
/*  Sets key's expiry to expire_ms (0: never; already past: the key is
    removed), then publishes. fn (may be NULL) gets count 1 if the key was
    there, else 0.  */
int zo_l2_touch (zo_l2_t *self, const void *key, size_t len, uint64_t expire_ms,
                 zo_level_done_fn *fn, void *arg);
/*  Removes every key matching the Redis glob pattern (over keys without
    the prefix; the prefix is escaped, so its own *?[]\ match only
    themselves), a batch of about 1000 per SCAN step, then publishes the
    pattern once. Keys written meanwhile may or may not be removed, as
    SCAN promises. fn (may be NULL) gets the number of keys removed.  */
int zo_l2_invalidate (zo_l2_t *self, const char *pattern, size_t len,
                      zo_level_done_fn *fn, void *arg);

#endif
