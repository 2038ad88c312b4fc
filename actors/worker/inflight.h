/*  inflight: the events a worker is running, in a free-list of slots sized
    to its capacity (no allocation per event), each with its route, its
    timeout timer and whatever its handler keeps.

    An item starts in a slot; its handler completes it now or later
    (zo_slot_complete); the outcome goes to a sink (the worker appends it to
    its next DONE; tests record it) and the slot is free again. A slot that
    outlives its timeout is cancelled and fails with "timeout after N ms".
    Whether a failure is final follows the route's attempts.
*/
#ifndef ZO_INFLIGHT_H_INCLUDED
#define ZO_INFLIGHT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "zo_loop.h"
#include "zo_proto.h"
#include "zo_stats.h"
#include "zorch/handler.h"

#include "routes.h"

#define ZO_EMIT_MAX    100

typedef struct _zo_inflight_t zo_inflight_t;

/*  Gets each outcome. Spans are valid only during the call.  */
typedef void (zo_inflight_sink_fn) (void *arg, const zo_result_t *result,
                                    const zo_event_t *emits, uint32_t n_emits);
/*  Drops one reference to the frame an item's spans point into.  */
typedef void (zo_inflight_release_fn) (void *arg, void *frame);

typedef enum { ZO_SLOT_FREE = 0, ZO_SLOT_RUNNING, ZO_SLOT_ENDING } zo_slot_state_t;

typedef struct {
    uint32_t id_off, id_len;
    uint32_t type_off, type_len;
    uint32_t payload_off, payload_len;
} zo_emit_rec_t;

typedef struct zo_slot {
    zo_inflight_t *owner;
    uint32_t index;
    uint32_t gen;                 /* bumped per event: stale handles fail */
    zo_slot_state_t state;
    zo_route_t *route;
    zo_item_t item;               /* spans into frame */
    void *frame;
    char id [ZO_MAX_ID + 1];
    char type [ZO_MAX_TYPE + 1];
    char source [ZO_MAX_SOURCE + 1];
    uint64_t start_ns;
    uint64_t timeout_ms;
    int timeout_timer;            /* 0 = none */
    void *kind_state;             /* the kind's per-event state (zo_slot_state) */
    /* follow-up events, kept until the event ends */
    uint8_t *ebuf;
    uint32_t ebuf_len, ebuf_cap;
    zo_emit_rec_t *emits;         /* ZO_EMIT_MAX, allocated on first emit */
    uint32_t n_emits;
    struct zo_slot *next_free;
} zo_slot_t;

/*  capacity slots (1..1,000,000). stats may be NULL. NULL when out of
    memory.  */
zo_inflight_t *zo_inflight_new (zo_loop_t *loop, zo_routes_t *routes, uint32_t capacity,
                                zo_stats_t *stats, zo_inflight_sink_fn *sink, void *sink_arg);
/*  Cancels what still runs (reported to the sink as failed, non-final,
    "worker stopping"), frees all.  */
void zo_inflight_destroy (zo_inflight_t **self_p);
void zo_inflight_set_release (zo_inflight_t *self, zo_inflight_release_fn *fn, void *arg);

/*  Starts an item. frame (may be NULL) is released when the event ends;
    the item's spans must stay valid until then. 0 (the event may already
    have ended), or -1 when every slot is busy (frame not taken).  */
int zo_inflight_start (zo_inflight_t *self, const zo_item_t *item, void *frame);
/*  Cancels every running event and reports it as failed with error (final
    or not).  */
void zo_inflight_cancel_all (zo_inflight_t *self, const char *error, bool final);

uint32_t zo_inflight_count (zo_inflight_t *self);
uint32_t zo_inflight_capacity (zo_inflight_t *self);
zo_loop_t *zo_inflight_loop (zo_inflight_t *self);

/*  The per-event state of the slot's kind: its event_size bytes, zeroed
    before the kind's start (NULL for kinds that keep none).  */
static inline void *
zo_slot_state (zo_slot_t *slot)
{
    return slot->kind_state;
}

/*  Ends a running event: result is one msgpack value (len 0: none), copied
    by the sink. final forces a final failure; otherwise a failure is final
    when the item's attempt >= the route's attempts. The slot is free
    after it.  */
void zo_slot_complete (zo_slot_t *slot, bool ok, zo_span_t result, const char *error, bool final);
/*  Adds a follow-up event (payload: one msgpack value, or len 0). 0 or -1.  */
int zo_slot_emit (zo_slot_t *slot, const char *type, const void *payload, size_t len);

/*  Handles for plugins: a slot index and generation packed in a pointer.
    zo_inflight_slot gives NULL (and counts late_total) for a stale one;
    with ending_ok it also resolves an event being cancelled.  */
zo_handler_t *zo_slot_handle (zo_slot_t *slot);
zo_slot_t *zo_inflight_slot (zo_handler_t *handle, bool ending_ok);
/*  The inflight table handles resolve against (the last one made).  */
void zo_inflight_set_current (zo_inflight_t *self);

/*  Where the exec module keeps its state (one per inflight table).  */
void **zo_inflight_exec_state (zo_inflight_t *self);

#endif
