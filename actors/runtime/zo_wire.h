/*  zo_wire: the wire rules every actor follows, in one place
    (proto/PROTOCOL.md, "Framing" and "Error codes").

    Sending: one encoded msgpack map per message, optionally after a
    routing identity frame (ROUTER sockets), always with ZMQ_DONTWAIT: an
    actor never blocks on a slow or vanished peer. A send that cannot be
    queued (EAGAIN: the peer's queue is at its high-water mark;
    EHOSTUNREACH: a ROUTER identity no longer connected) is dropped and
    counted, the same way everywhere.

    Receiving: exactly one body frame per message (after the identity
    frame on a ROUTER). A message of several body frames is rejected as
    bad_msgpack, a frame over the limit as too_large, before the codec sees
    it; the rest is decoded by zo_proto. Every rejected message is counted
    (in total and per error code) and leaves what a reply needs: the error
    code, a sentence, and the seq when it could be read. Actors that answer
    bad messages (the broker) send that ERROR with zo_wire_error.

    No allocation or copy per message: the caller owns the zmq_msg_t frames
    (initialised once, reused: zmq_msg_recv releases what they held), and a
    decoded zo_msg_t borrows from the body frame as zo_proto says.
*/
#ifndef ZO_WIRE_H_INCLUDED
#define ZO_WIRE_H_INCLUDED

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "zo_conf.h"
#include "zo_proto.h"
#include "zo_stats.h"

typedef struct {
    zo_proto_t *dec;               /* borrowed decoder; NULL: frame rules only */
    size_t max_frame;              /* largest body frame accepted */
    /* counters, each NULL until zo_wire_count sets it */
    uint64_t *dropped;             /* sends that could not be queued */
    uint64_t *rejected;            /* messages rejected on receive */
    uint64_t *rejected_by [ZO_ERR_COUNT];   /* the same, per error code */
    /* the last rejection, for the reply and the log */
    zo_err_t err;
    uint64_t seq;                  /* its seq when readable, else 0 */
    char reason [160];
} zo_wire_t;

/*  Sets up a wire on a decoder the caller keeps (may be NULL for callers
    that decode themselves with zo_wire_decode), with a frame limit
    (0: ZO_MAX_FRAME). No counters until zo_wire_count.  */
void zo_wire_init (zo_wire_t *self, zo_proto_t *dec, size_t max_frame);

/*  Counts into stats: dropped sends in the counter named dropped_name,
    rejected messages in rejected_name, and per error code in counters
    named by per_code_fmt (a printf format with one %s for the code, such
    as "errors_%s_total"). Any name may be NULL: that count is not kept.  */
void zo_wire_count (zo_wire_t *self, zo_stats_t *stats, const char *dropped_name,
                    const char *rejected_name, const char *per_code_fmt);

/*  Sends one message of size bytes, after the identity frame when ident
    is not NULL. 0 sent; -1 not queued (counted in dropped) with errno from
    ZeroMQ (EAGAIN, EHOSTUNREACH, ETERM; ENOTSOCK for a NULL socket).  */
int zo_wire_send (zo_wire_t *self, void *socket, const void *ident, size_t ident_len,
                  const void *data, size_t size);

/*  Encodes msg into buf (cleared first; the caller keeps it for reuse)
    and sends it as zo_wire_send does.  */
int zo_wire_send_msg (zo_wire_t *self, void *socket, const void *ident, size_t ident_len,
                      msgpack_sbuffer *buf, const zo_msg_t *msg);

/*  Sends ERROR {seq, code, reason} (reason may be NULL) as
    zo_wire_send_msg does. Counts nothing but a failed send: the caller
    counts the errors it decides on; zo_wire_recv counted its own.  */
int zo_wire_error (zo_wire_t *self, void *socket, const void *ident, size_t ident_len,
                   msgpack_sbuffer *buf, uint64_t seq, zo_err_t code, const char *reason);

/*  Receives one message without waiting: the identity frame into ident
    when ident is not NULL (a ROUTER socket), the body into body (both
    zmq_msg_init'ed by the caller). Applies the frame rules, then decodes
    into *msg, unless msg is NULL or the wire has no decoder (frame rules
    only: the caller decodes).
    Returns 1 with *msg decoded (it borrows from body); 0 when nothing is
    waiting (or the socket failed: errno says, e.g. ETERM), and ZeroMQ has
    emptied ident or body then, so reply before the next call; -1 when the
    message was rejected: counted, self->err, self->seq and self->reason
    say why (msg->seq and msg->cmd too, as far as they could be read), and
    ident still holds the sender for a reply.  */
int zo_wire_recv (zo_wire_t *self, void *socket, zmq_msg_t *ident, zmq_msg_t *body,
                  zo_msg_t *msg);

/*  Decodes data with the wire's decoder under its rules (size limit
    first); the same results as zo_wire_recv, for frames received another
    way. msg may be NULL for the size rule alone.  */
int zo_wire_decode (zo_wire_t *self, const void *data, size_t size, zo_msg_t *msg);

/*  Reads the top-level "seq" of a msgpack map without decoding the rest
    (for replies to commands the codec does not know, or a rejected
    frame). True with *seq set if the map has an unsigned integer seq.  */
bool zo_wire_peek_seq (const void *data, size_t size, uint64_t *seq);

/*  The cluster's frame limit, broker/max_frame, range-checked (a bad value
    marks conf bad and gives the default): the broker and the workers hold
    their sockets to it, tools size their requests by it.  */
size_t zo_wire_conf_max_frame (zo_conf_t *conf);

#endif
