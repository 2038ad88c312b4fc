/*  broker_journal: the broker's side of its journal (broker/journal;
    journal.h is the log itself): what goes in it, what comes out at
    start, and the checkpoint a new segment begins with. The ACKs it gates
    are held in the outbox (outbox.h); when adds and dels are appended is
    decided in broker_fate.c.
*/
#include "broker_int.h"

#include <inttypes.h>

void
zo__broker_journal_add (zo_broker_t *self, const zo_rec_t *rec)
{
    //  The loop's clock is not the wall clock: a deadline is stored as wall
    //  time, so that it still means something to the next process.
    uint64_t left = zo__left_ms (rec->deadline_ms, zo_loop_now_ms (self->loop));
    uint64_t deadline = left ? zo_clock_wall_ns () / 1000000 + left : 0;
    zo_journal_add (self->journal, zo_rec_raw (rec), rec->attempt, deadline);
}

//  The journal's recovery: deadlines are wall-clock there.
static void
s_restore_journaled (zo_span_t raw, uint32_t attempts, uint64_t deadline_ms, void *arg)
{
    zo__broker_restore (raw, attempts, zo__left_ms (deadline_ms, zo_clock_wall_ns () / 1000000), arg);
}

//  An id the journal saw done: a resend of it (its ACK may have been lost
//  in the crash) is a duplicate for another dedupe window.
static void
s_restore_done (zo_span_t id, void *arg)
{
    zo_broker_t *self = arg;
    zo_dedupe_add (self->dedupe, zo_evtab_hash (id), zo_loop_now_ms (self->loop));
}

static void
s_checkpoint_rec (zo_rec_t *rec, void *arg)
{
    zo__broker_journal_add ((zo_broker_t *) arg, rec);
}

//  A new journal segment starts with every live event.
static void
s_checkpoint (zo_journal_t *journal, void *arg)
{
    zo_broker_t *self = arg;
    zo_evtab_foreach (self->evtab, s_checkpoint_rec, self);
}

int
zo__broker_journal_open (zo_broker_t *self, uint64_t segment_max)
{
    char dir [4096];
    snprintf (dir, sizeof (dir), "%s/%s", self->data_dir, ZO_JOURNAL_DIR);
    self->journal = zo_journal_new (dir, segment_max, s_checkpoint, self,
                                    zo_stats_hist (self->actor->stats, "journal_sync_ns"));
    if (!self->journal)
        return -1;
    int recovered = zo_journal_recover (self->journal, s_restore_journaled, s_restore_done, self);
    if (recovered > 0)
        zsys_info ("broker: %d events recovered from the journal in %s", recovered, dir);
    else
    if (recovered == 0)
        zsys_info ("broker: journal in %s (segments of %" PRIu64 " bytes)", dir, segment_max);
    return recovered < 0 ? -1 : 0;
}

//  The journal's sync thread finished a batch: the synced position moves
//  (before-sleep then lets the ACKs it covers go).
static int
s_on_sync (zo_loop_t *loop, int fd, short revents, void *arg)
{
    zo_journal_collect (((zo_broker_t *) arg)->journal);
    return 0;
}

int
zo__broker_journal_start (zo_broker_t *self)
{
    if (zo_journal_start (self->journal))
        return -1;
    self->journal_watch = zo_loop_add_fd (self->loop, zo_journal_fd (self->journal), ZMQ_POLLIN,
                                          s_on_sync, self);
    return self->journal_watch? 0: -1;
}
