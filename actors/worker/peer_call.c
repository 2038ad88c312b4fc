/*  peer_call: see peer_call.h.  */
#include "peer_call.h"

#include <stdarg.h>
#include <stdio.h>

#include "context.h"

void
zo_peer_fail (zo_slot_t *slot, bool final, const char *fmt, ...)
{
    char error [512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (error, sizeof error, fmt, args);
    va_end (args);
    zo_slot_complete (slot, false, (zo_span_t) { NULL, 0 }, error, final);
}

int
zo_peer_call (zo_slot_t *slot, const char *peer, zo_msg_t *req, zo_rpc_fn *fn)
{
    zo_peer_call_t *call = zo_slot_state (slot);
    //  The peer gets a little less than the event's time left for its own
    //  deadline (the pool carries it into libcurl and libpq), and the
    //  request a little more, so that the peer's answer, its timeout too,
    //  comes before this side gives up.
    uint64_t left = slot->timeout_ms > 100 ? slot->timeout_ms - 20 : slot->timeout_ms;
    req->timeout_ms = zo_peer_deadline (slot);
    call->rpc = slot->route->ctx ? zo_hctx_peer (slot->route->ctx, peer) : NULL;
    call->request = call->rpc
                  ? zo_rpc_request (call->rpc, req, left > UINT32_MAX ? UINT32_MAX : (uint32_t) left,
                                    fn, slot)
                  : 0;
    if (call->request)
        return 0;
    zo_peer_fail (slot, false, "%s: cannot reach the %s actor (%s)", slot->route->handler, peer,
                  call->rpc ? "its queue is full" : "no endpoint");
    return -1;
}

void
zo_peer_call_end (zo_slot_t *slot)
{
    zo_peer_call_t *call = zo_slot_state (slot);
    if (call->request)
        zo_rpc_cancel (call->rpc, call->request);
    call->request = 0;
}

const zo_msg_t *
zo_peer_call_reply (zo_slot_t *slot, const zo_rpc_reply_t *reply, const char *who)
{
    ((zo_peer_call_t *) zo_slot_state (slot))->request = 0;
    if (reply->status != ZO_RPC_OK) {
        zo_peer_fail (slot, false, "%s: %s", who, reply->reason);
        return NULL;
    }
    const zo_msg_t *msg = reply->msg;
    if (msg->cmd == ZO_CMD_ERROR) {
        //  Busy, down or slow is worth a retry; a request it cannot take
        //  is not.
        bool retry = zo_span_eq (msg->code, "queue_full") || zo_span_eq (msg->code, "unavailable")
                  || zo_span_eq (msg->code, "timeout") || zo_span_eq (msg->code, "upstream");
        zo_peer_fail (slot, !retry, "%s refused: %.*s: %.*s", who, (int) msg->code.len,
                      msg->code.ptr, (int) msg->reason.len, msg->reason.ptr);
        return NULL;
    }
    return msg;
}
