/*  outbox: RESULT messages on their way to producers, batched per
    producer (ROUTER identity) and sent once per loop iteration.

    Results are packed as they come (one msgpack map each, per
    PROTOCOL.md "Events and results") into the producer's buffer; flush
    wraps each buffer in a RESULT envelope and sends it as one frame. A
    buffer that reaches batch_max results or max_bytes is sent at once.
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

/*  socket is the front ROUTER (borrowed). Results sent and dropped are
    added to *sent and *dropped (both may be NULL).  */
zo_outbox_t *zo_outbox_new (void *socket, size_t batch_max, size_t max_bytes,
                            uint64_t *sent, uint64_t *dropped);
/*  Frees pending results without sending them (counted as dropped).  */
void zo_outbox_destroy (zo_outbox_t **self_p);

/*  Queues one result for the producer with this identity. result is raw
    msgpack (may be empty), error may be NULL.  */
void zo_outbox_add (zo_outbox_t *self, const void *ident, size_t ident_len,
                    zo_span_t id, bool ok, zo_span_t result, const char *error,
                    uint64_t took_ns, uint32_t attempts);
/*  Sends every pending batch.  */
void zo_outbox_flush (zo_outbox_t *self);
/*  Results waiting for the next flush.  */
size_t zo_outbox_pending (const zo_outbox_t *self);

#endif
