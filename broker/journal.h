/*  journal: the broker's write-ahead log, so that an acknowledged event
    survives a crash of the broker (kill -9, power loss), not only SIGTERM.

    On disk: <data_dir>/journal/NNNNNNNNNN.msgpack, numbered segments, each
    a run of records (jrec.h): an "add" when an event is accepted (raw event,
    attempts, absolute wall-clock deadline) and a "del" when it is done
    (completed, or its dead letter is durable). Attempts are not journaled
    on each delivery: after a crash an event restarts from the attempts of
    its last add (its acceptance, or the last checkpoint).

    Group commit: appends go to an in-memory buffer and return a position
    (bytes appended since the journal was opened). zo_journal_kick, called
    once per loop iteration, hands the buffer to a sync thread, which writes
    it and fdatasyncs while the loop goes on with the next buffer; when it is
    done it signals an eventfd (zo_journal_fd) and the loop calls
    zo_journal_collect, which moves the synced position. Whatever was
    appended while the thread was busy goes in the next batch, so one
    fdatasync covers every append of its interval.

    Compaction: once segment_max bytes were appended to a segment after its
    checkpoint, the next kick starts a new segment that begins with a
    checkpoint, an add for every live event (written by the checkpoint
    callback, which the owner implements by walking its table); when that
    segment is synced, the older ones are deleted. The journal so holds
    about one segment, two while one is being replaced. A fresh segment
    with a checkpoint is also started by zo_journal_start, which is how the
    segments read at recovery go away.

    Recovery reads every segment in order and applies the records: an add
    for an id already there replaces it, a del for an unknown id is ignored.
    A record that does not decode ends its segment: it is logged, counted
    and the file is cut there (a crash mid-write leaves such a tail).

    A failed write or fdatasync (disk full, I/O error) is logged, counted
    and final: the journal stops writing, zo_journal_failed is true and the
    synced position never moves again; the owner must stop acknowledging.
    Records of the failed batch that reached the file before the error are
    read back at recovery like any others (that is at least once).
*/
#ifndef ZO_JOURNAL_H_INCLUDED
#define ZO_JOURNAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zo_hist.h"
#include "zo_mp.h"

#define ZO_JOURNAL_DIR "journal"

typedef struct _zo_journal_t zo_journal_t;

/*  Cumulative, for the owner's counters.  */
typedef struct {
    uint64_t appends;        /* records appended */
    uint64_t syncs;          /* batches written and fdatasync'd */
    uint64_t bytes;          /* bytes appended */
    uint64_t recovered;      /* live events found at recovery */
    uint64_t corrupt;        /* corrupt tails cut at recovery */
    uint64_t errors;         /* failed writes or syncs */
    uint64_t checkpoints;    /* segments started */
} zo_journal_stats_t;

/*  Called when a new segment starts: must append (zo_journal_add) an add
    for every live event, and nothing else.  */
typedef void (zo_journal_checkpoint_fn) (zo_journal_t *journal, void *arg);

/*  A journal in dir (made like mkdir -p), not yet started: recover, then
    start. A segment is replaced after segment_max bytes (at least 4 KiB).
    sync_ns, if not NULL, gets the time of each write + fdatasync (borrowed;
    only the loop's thread touches it). NULL after logging why.  */
zo_journal_t *zo_journal_new (const char *dir, uint64_t segment_max,
                              zo_journal_checkpoint_fn *checkpoint, void *arg,
                              zo_hist_t *sync_ns);
/*  Makes everything appended durable (zo_journal_sync), stops the thread,
    closes and frees; nulls the pointer.  */
void zo_journal_destroy (zo_journal_t **self_p);

/*  Called at recovery for each live event (spans valid during the call).  */
typedef void (zo_journal_live_fn) (zo_span_t event, uint32_t attempts,
                                   uint64_t deadline_ms, void *arg);
/*  Called at recovery for each id whose last record is a del.  */
typedef void (zo_journal_gone_fn) (zo_span_t id, void *arg);
/*  Reads the segments on disk (before zo_journal_start), cutting corrupt
    tails, then calls live for every live event, in the order of their
    last add, and gone (if not NULL) for every id done. Returns how many
    were live, or -1 if a segment cannot be read or memory ran out (logged;
    nothing was called then).  */
int zo_journal_recover (zo_journal_t *self, zo_journal_live_fn *live,
                        zo_journal_gone_fn *gone, void *arg);
/*  Starts the sync thread and a fresh segment with a checkpoint, and waits
    until that is durable (the segments read at recovery are then deleted).
    0, or -1 (logged).  */
int zo_journal_start (zo_journal_t *self);

/*  Appends a record and returns the journal position just past it. Nothing
    is written before the next kick; nothing at all once failed.  */
uint64_t zo_journal_add (zo_journal_t *self, zo_span_t event, uint32_t attempts,
                         uint64_t deadline_ms);
uint64_t zo_journal_del (zo_journal_t *self, zo_span_t id);

/*  Hands what was appended to the sync thread, unless it is busy (then the
    next kick after zo_journal_collect does). Starts a new segment first
    when the current one is full. Cheap when there is nothing to do.  */
void zo_journal_kick (zo_journal_t *self);
/*  The eventfd the thread signals when a batch is done: watch it for input
    and call zo_journal_collect.  */
int zo_journal_fd (const zo_journal_t *self);
/*  Takes a finished batch's outcome: the synced position moves, or the
    journal fails. 0, or -1 once failed.  */
int zo_journal_collect (zo_journal_t *self);
/*  Blocks until everything appended so far is durable (for shutdown and
    rare commands, never on the hot path). 0, or -1 if failed.  */
int zo_journal_sync (zo_journal_t *self);

/*  Position after the last append, and up to where it is durable.  */
uint64_t zo_journal_position (const zo_journal_t *self);
uint64_t zo_journal_synced (const zo_journal_t *self);
/*  Bytes appended and not yet durable.  */
uint64_t zo_journal_backlog (const zo_journal_t *self);
bool zo_journal_failed (const zo_journal_t *self);
const zo_journal_stats_t *zo_journal_stats (const zo_journal_t *self);

#endif
