/*  outbox: RESULT messages on their way to producers, batched per
    producer (ROUTER identity) and sent once per loop iteration, and the
    ACKs of SUBMITs that asked for results, held back a little so they
    travel with the first RESULT.

    An ACK held back for up to ack_delay lets one wake-up of the producer
    carry both the ACK and the RESULT of a fast event, instead of two; the
    ACK always leaves before any RESULT to the same producer, and no later
    than its due time.

    With the broker's journal on, every ACK is held here until the journal
    has synced past the position of its batch (zo_outbox_set_durable): an
    ACK leaves only once its events are durable, and a producer's RESULTs
    wait behind its own ACKs that are not, so ACK-before-RESULT still holds.
    If the journal fails, such a producer gets no RESULT any more.

    Results are packed as they come (one msgpack map each, per
    PROTOCOL.md "Events and results") into the producer's buffer; flush
    wraps each buffer in RESULT envelopes of at most batch_max results and
    max_frame bytes each. A buffer that reaches batch_max results or half
    of max_frame is sent at once.
    A producer that is gone (EHOSTUNREACH on a ROUTER_MANDATORY socket) or
    not reading (its queue is full) loses those results; they are counted
    in *dropped, the event itself is done.
*/
#ifndef ZO_OUTBOX_H_INCLUDED
#define ZO_OUTBOX_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zo_mp.h"

typedef struct _zo_outbox_t zo_outbox_t;

/*  socket is the front ROUTER (borrowed). Results sent are added to
    *sent; results and ACKs that could not be sent to *dropped (both may
    be NULL).  */
zo_outbox_t *zo_outbox_new (void *socket, size_t batch_max, size_t max_frame,
                            uint64_t *sent, uint64_t *dropped);
/*  Frees pending results without sending them (counted as dropped).  */
void zo_outbox_destroy (zo_outbox_t **self_p);

/*  Queues one result for the producer with this identity. result is raw
    msgpack (may be empty), error may be NULL.  */
void zo_outbox_add (zo_outbox_t *self, const void *ident, size_t ident_len,
                    zo_span_t id, bool ok, zo_span_t result, const char *error,
                    uint64_t took_ns, uint32_t attempts);
/*  Holds an ACK (seq, accepted, duplicates) for this producer until the
    journal is durable up to pos (0 = no journal: at once), and then until
    a RESULT goes to it or due_ns passes, whichever is first. ACKs to one
    producer leave in the order they were held. If it cannot be held (out
    of memory) it is sent at once when durable, else dropped (counted).  */
void zo_outbox_ack (zo_outbox_t *self, const void *ident, size_t ident_len,
                    uint64_t seq, uint32_t accepted, uint32_t duplicates, uint64_t due_ns,
                    uint64_t pos);
/*  Sends every pending RESULT batch, with the ACKs held for those
    producers, and every ACK due by now_ns (UINT64_MAX: all of them), as
    far as the journal allows. Returns when the earliest ACK still held
    for its due time is due, or 0 if none is (ACKs held for the journal
    need no timer: the journal's sync wakes the loop).  */
uint64_t zo_outbox_flush (zo_outbox_t *self, uint64_t now_ns);
/*  The journal is durable up to synced: ACKs held for positions up to it
    may leave with the next flush.  */
void zo_outbox_set_durable (zo_outbox_t *self, uint64_t synced);
/*  The journal failed and will not sync again. The held ACKs that are
    durable are sent; a producer left with ACKs that never will be gets
    neither them nor any RESULT from then on (all counted as dropped): its
    events were not acknowledged, so no RESULT may show them, and a RESULT
    must never come before its ACK.  */
void zo_outbox_fail (zo_outbox_t *self);
/*  Results waiting for the next flush.  */
size_t zo_outbox_pending (const zo_outbox_t *self);

#endif
