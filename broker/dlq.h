/*  dlq: the dead-letter store. Events that failed max_attempts times, were
    marked final, passed their deadline or lost their worker too often end
    here with their last error, and stay until replayed or purged.

    On disk it is one append-only file, <dir>/dlq.msgpack, holding one
    msgpack map per dead letter: {event: <the raw event map>, error: str,
    attempts: uint, failed_ms: uint (wall clock)}. Appends are buffered and
    made durable by zo_dlq_flush (fflush + fdatasync), which the broker
    calls once per loop iteration. Replay and purge rewrite the file
    atomically (temporary file, fsync, rename) at the next flush. At
    start the file is read back; a corrupt tail (a crash mid-write) is
    logged, skipped and cut off, so later appends stay readable.

    The whole store is also kept in memory, oldest first, for listing.
*/
#ifndef ZO_DLQ_H_INCLUDED
#define ZO_DLQ_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "zo_mp.h"

#define ZO_DLQ_FILE "dlq.msgpack"

/*  One dead letter. Every span points into buf (the record as stored).  */
typedef struct {
    uint8_t *buf;
    uint32_t len;
    zo_span_t event;         /* the raw event map */
    zo_span_t id;            /* its id (may be empty if the map had none) */
    zo_span_t error;
    uint32_t attempts;
    uint64_t failed_ms;
} zo_dlq_entry_t;

typedef struct _zo_dlq_t zo_dlq_t;

/*  Creates dir (like mkdir -p) and loads dir/dlq.msgpack if it exists.
    NULL after logging why (dir cannot be made, file cannot be opened).  */
zo_dlq_t *zo_dlq_new (const char *dir);
/*  Flushes, closes and frees everything.  */
void zo_dlq_destroy (zo_dlq_t **self_p);

/*  Adds a dead letter (event is a raw event map, copied). 0, or -1 when
    the disk write failed (logged; the entry is still kept in memory and
    written again by the next rewrite).  */
int zo_dlq_add (zo_dlq_t *self, zo_span_t event, const char *error,
                uint32_t attempts, uint64_t failed_ms);
/*  Makes appends since the last flush durable. 0 or -1 (logged).  */
int zo_dlq_flush (zo_dlq_t *self);

size_t zo_dlq_size (const zo_dlq_t *self);
/*  Records skipped at load because they were no valid dead letter (a
    damaged or hand-edited file): logged, and dropped at the next rewrite.  */
size_t zo_dlq_invalid (const zo_dlq_t *self);
/*  The i-th oldest entry (i < size), borrowed until the store changes.  */
const zo_dlq_entry_t *zo_dlq_at (const zo_dlq_t *self, size_t i);

/*  Called for an entry being taken out; return 0 to take it, -1 to keep
    it in the store.  */
typedef int (zo_dlq_take_fn) (const zo_dlq_entry_t *entry, void *arg);

/*  Removes the entries whose id is one of ids (every entry when n_ids is
    0), calling fn (if not NULL) for each first. Returns how many were
    removed. The file is rewritten by the next zo_dlq_flush, so that a
    caller can first make durable what it did with them (the broker's
    journal, for replayed events); if the rewrite fails (logged) the memory
    copy is still updated and the next flush retries.  */
size_t zo_dlq_take (zo_dlq_t *self, const zo_span_t *ids, size_t n_ids,
                    zo_dlq_take_fn *fn, void *arg);

/*  The "id" string of a raw event map, or an empty span.  */
zo_span_t zo_dlq_event_id (zo_span_t event);

#endif
