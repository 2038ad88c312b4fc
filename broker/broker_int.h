/*  broker_int: the broker's state, shared by broker.c (life cycle, sockets,
    timers, an event's fate), broker_front.c (producers) and broker_back.c
    (workers). Not a public header.
*/
#ifndef ZO_BROKER_INT_H_INCLUDED
#define ZO_BROKER_INT_H_INCLUDED

#include <czmq.h>
#include <msgpack.h>

#include "broker.h"
#include "dedupe.h"
#include "dlq.h"
#include "evtab.h"
#include "journal.h"
#include "outbox.h"
#include "queue.h"
#include "workers.h"
#include "zo_drain.h"
#include "zo_pressure.h"
#include "zo_proto.h"
#include "zo_wire.h"

//  Counters, by name in zo_stats (see s_counter_names in broker.c).
typedef enum {
    C_SUBMITTED, C_ACCEPTED, C_DUPLICATES, C_NACKED, C_DISPATCHED,
    C_COMPLETED, C_FAILED, C_RETRIED, C_DEAD, C_EXPIRED, C_REDELIVERED,
    C_LATE_RESULTS, C_ERRORS, C_RESULTS_SENT, C_RESULTS_DROPPED, C_EMITTED,
    C_EMIT_OVERFLOW, C_UNROUTABLE, C_WORKERS_LOST, C_DLQ_REPLAYED,
    C_DLQ_PURGED, C_SPOOLED, C_RESTORED, C_EMIT_INVALID,
    C_JOURNAL_APPENDS, C_JOURNAL_SYNCS, C_JOURNAL_BYTES, C_JOURNAL_RECOVERED,
    C_JOURNAL_CORRUPT, C_JOURNAL_ERRORS, C_JOURNAL_CHECKPOINTS, C_DLQ_INVALID,
    C_WORKERS_QUIETED, C_COUNT
} zo__counter_t;

typedef enum {
    G_QUEUE_HIGH, G_QUEUE_NORMAL, G_QUEUE_LOW, G_QUEUE, G_INFLIGHT,
    G_DELAYED, G_WORKERS, G_WORKER_CREDIT, G_DLQ, G_DEDUPE, G_JOURNAL_BACKLOG,
    G_WORKERS_QUIET, G_LOW_DEFERRED, G_COUNT
} zo__gauge_t;

struct _zo_broker_t {
    zo_actor_t *actor;
    zo_loop_t *loop;
    void *front, *back;
    zo_watch_t *front_watch, *back_watch, *journal_watch;
    char front_ep [256], back_ep [256];
    zo_proto_t *dec;             /* for frames from the sockets */
    zo_wire_t wire;              /* the wire rules, on dec and max_frame */
    zo_proto_t *evdec;           /* for stored events (spool, replay) */
    msgpack_sbuffer sbuf;        /* replies and DISPATCH, reused */
    msgpack_sbuffer evbuf;       /* zo__broker_parse_event's scratch */

    //  Settings (broker/...).
    size_t queue_max, max_frame, batch_max;
    uint32_t max_attempts;
    uint64_t deadline_ms, heartbeat_ms, retry_hint_ms, retry_backoff_ms, grace_ms;
    uint64_t ack_delay_ns;       /* hold ACKs of SUBMITs that want results */
    char *data_dir;

    //  State.
    zo_evtab_t *evtab;           /* owns every record */
    zo_queue_t queue;
    zo_rlist_t delayed;          /* waiting for a retry */
    zo_dedupe_t *dedupe;
    zo_dlq_t *dlq;
    zo_workers_t *workers;
    zo_outbox_t *outbox;
    zo_journal_t *journal;       /* NULL unless broker/journal */
    bool restoring;              /* loading stored events: not journaled again */
    bool journal_down;           /* the journal failed (zo_outbox_fail done) */
    size_t inflight;             /* records held by workers */
    size_t rr;                   /* dispatch starts at this worker */
    zo_item_t *items;            /* batch_max DISPATCH items */
    zo_dead_t *dead_items;       /* ZO_MAX_BATCH DLQ_ITEMS */
    zo_rec_t **scratch;          /* records collected by the ticker */
    size_t scratch_cap;
    int ticker;
    int ack_timer;               /* > 0 while one is armed */
    uint64_t ack_timer_ns;       /* when it fires */
    zo_drain_t *drain;           /* SIGTERM/SIGINT: drain, then stop */
    zo_pressure_src_t *pressure; /* at step 1 and above the low lane waits */
    bool draining, finished;

    uint64_t *c [C_COUNT];
    uint64_t *errors [ZO_ERR_COUNT];
    double *g [G_COUNT];
    zo_hist_t *latency;
};

/*  Milliseconds from now_ms to an absolute deadline_ms (same clock), as
    the spool and the journal carry them: 0 when there is no deadline, at
    least 1 when there is one, so that an expired event stays expired.  */
static inline uint64_t
zo__left_ms (uint64_t deadline_ms, uint64_t now_ms)
{
    if (!deadline_ms)
        return 0;
    return deadline_ms > now_ms ? deadline_ms - now_ms : 1;
}

//  broker_fate.c: an event's fate. Each takes the record out of wherever its
//  state says it is.

/*  Accepts one valid event: a record in the table, the dedupe window and
    the queue (ignoring the queue bound), and an add in the journal. ident
    is the producer to send the result to, if want_results. NULL if out of
    memory.  */
zo_rec_t *zo__broker_accept (zo_broker_t *self, const zo_event_t *event,
                             const void *ident, size_t ident_len, bool want_results);
/*  True if the id is being processed or was seen inside the window.  */
bool zo__broker_seen (zo_broker_t *self, zo_span_t id);
/*  The event succeeded: result to its producer, a del to the journal,
    record freed.  */
void zo__broker_complete (zo_broker_t *self, zo_rec_t *rec, zo_span_t result, uint64_t took_ns);
/*  The event failed for good: to the dead letters with error, failure
    result to its producer, a del to the journal (written after the dead
    letter is durable: the broker flushes the store before it kicks the
    journal), record freed.  */
void zo__broker_dead (zo_broker_t *self, zo_rec_t *rec, const char *error);
/*  A worker failed it: retry after the backoff, or dead letters when its
    attempts are used up or final.  */
void zo__broker_failed (zo_broker_t *self, zo_rec_t *rec, bool final);
/*  Takes rec back from its worker into the queue (head of its lane). If
    counted, the delivery counts as an attempt, and an event out of
    attempts goes to the dead letters with error instead.  */
void zo__broker_take_back (zo_broker_t *self, zo_rec_t *rec, bool counted, const char *error);
/*  Queues an event stored by an earlier broker (spool, journal; a
    zo_spool_fn): its attempts so far, and the time left to its deadline
    (0 = as the event says). A duplicate or an event that does not decode
    is skipped.  */
void zo__broker_restore (zo_span_t raw, uint32_t attempts, uint64_t left, void *arg);
/*  Turns a stored raw event back into a zo_event_t (spans into a scratch
    buffer, valid until the next call). -1 if it does not decode.  */
int zo__broker_parse_event (zo_broker_t *self, zo_span_t raw, zo_event_t *event);

/*  Encodes msg and sends it to ident on socket. 0, or -1 (counted as
    unroutable) if the peer is gone or not reading.  */
int zo__broker_send (zo_broker_t *self, void *socket, const void *ident, size_t ident_len,
                     const zo_msg_t *msg);
/*  Replies ERROR code (with reason) and counts it.  */
void zo__broker_error (zo_broker_t *self, void *socket, const void *ident, size_t ident_len,
                       uint64_t seq, zo_err_t code, const char *reason);

//  broker_journal.c: the journal's side of the broker.
/*  Opens data_dir/journal and queues the events it holds (with
    self->restoring set). 0, or -1 (logged).  */
int zo__broker_journal_open (zo_broker_t *self, uint64_t segment_max);
/*  Makes a first checkpoint durable and watches the journal's eventfd.
    0 or -1.  */
int zo__broker_journal_start (zo_broker_t *self);
/*  Appends an add for rec to the journal (which must be on): its raw
    event, attempts so far and deadline as wall-clock time.  */
void zo__broker_journal_add (zo_broker_t *self, const zo_rec_t *rec);

//  broker_front.c: one decoded message from a producer (or a client:
//  dead letters, WORKERS, QUIET).
void zo__front_handle (zo_broker_t *self, const void *ident, size_t ident_len, zo_msg_t *msg);

//  broker_back.c: one decoded message from a worker; dispatching; the
//  heartbeat check (per tick).
void zo__back_handle (zo_broker_t *self, const void *ident, size_t ident_len, zo_msg_t *msg);
void zo__back_dispatch (zo_broker_t *self);
void zo__back_tick (zo_broker_t *self, uint64_t now_ms);
/*  Takes back every event the worker holds and forgets it.  */
void zo__back_lose (zo_broker_t *self, zo_worker_t *worker, bool counted, const char *error);

#endif
