/*  peer_call: what the built-in kinds that ask another actor share (cache,
    http, sql): one request per event to a peer of the worker's context
    (worker/cache, worker/pool), answered to the kind's callback, and
    cancelled when the event ends, however it ends.

    A kind keeps a zo_peer_call_t at the start of its per-event state
    (zo_slot_state) and names zo_peer_call_end as its `end`.
*/
#ifndef ZO_PEER_CALL_H_INCLUDED
#define ZO_PEER_CALL_H_INCLUDED

#include <stdbool.h>

#include "handlers.h"
#include "zo_rpc.h"

typedef struct {
    zo_rpc_t *rpc;
    uint64_t request;               //  pending, else 0
} zo_peer_call_t;

/*  The deadline to give a peer for the event in slot: a little less than
    its time left, so that the peer's answer, its timeout too, comes back
    before the worker gives the event up.  */
static inline uint32_t
zo_peer_deadline (const zo_slot_t *slot)
{
    uint64_t theirs = slot->timeout_ms > 200 ? slot->timeout_ms - 100 : slot->timeout_ms / 2 + 1;
    return theirs > UINT32_MAX ? UINT32_MAX : (uint32_t) theirs;
}

/*  Sends req to peer for the event in slot, with the event's own time
    left as the deadline (less a margin, so that the peer's answer, a
    timeout too, comes before the worker gives the event up). fn gets the
    reply with slot as its arg. On failure the event is failed (not
    finally: the broker retries it) and -1 returned.  */
int zo_peer_call (zo_slot_t *slot, const char *peer, zo_msg_t *req, zo_rpc_fn *fn);
/*  The kind's `end`: cancels a pending request.  */
void zo_peer_call_end (zo_slot_t *slot);
/*  Takes the reply's slot and marks its request answered; NULL and the
    event failed when the reply is not one (a timeout, a bad frame), and
    with an ERROR also (finally unless its code is worth a retry:
    queue_full, unavailable, timeout, upstream), naming who (the kind).  */
const zo_msg_t *zo_peer_call_reply (zo_slot_t *slot, const zo_rpc_reply_t *reply, const char *who);
/*  Fails the event with a formatted error.  */
void zo_peer_fail (zo_slot_t *slot, bool final, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#endif
