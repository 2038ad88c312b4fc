/*  broker_front: what the broker does for producers on the front socket:
    SUBMIT, PING, the dead-letter commands, and for the autoscaler WORKERS
    and QUIET. Results go back through the outbox (broker.c, outbox.c).
*/
#include "broker_int.h"

#include <inttypes.h>
#include <string.h>

//  With the journal on, new batches are refused (queue_full) while this
//  many bytes wait for the disk: the disk is not keeping up, and the
//  journal's buffer must stay bounded.
#define S_JOURNAL_BACKLOG_MAX (64 * 1024 * 1024)

static void
s_nack (zo_broker_t *self, const void *ident, size_t ident_len, uint64_t seq,
        zo_err_t code, const char *reason, uint32_t events)
{
    *self->c [C_NACKED] += events;
    zo_msg_t reply = { .cmd = ZO_CMD_NACK, .seq = seq };
    reply.code = zo_span_str (zo_err_name (code));
    reply.reason = zo_span_str (reason);
    reply.retry_ms = (uint32_t) (self->retry_hint_ms > UINT32_MAX ? UINT32_MAX : self->retry_hint_ms);
    zo__broker_send (self, self->front, ident, ident_len, &reply);
}

//  A batch is taken whole or not at all: first count what is new, and
//  refuse the lot if the queue cannot take that many. Ids repeated inside
//  the batch are counted as new here (so a batch may be refused that
//  would just have fitted), then as duplicates when accepted.
static void
s_on_submit (zo_broker_t *self, const void *ident, size_t ident_len, zo_msg_t *msg)
{
    *self->c [C_SUBMITTED] += msg->n_events;
    if (self->draining) {
        s_nack (self, ident, ident_len, msg->seq, ZO_ERR_SHUTTING_DOWN,
                "the broker is shutting down", msg->n_events);
        return;
    }
    if (self->journal && zo_journal_failed (self->journal)) {
        s_nack (self, ident, ident_len, msg->seq, ZO_ERR_JOURNAL_FAILED,
                "the broker's journal cannot write to its disk: nothing is accepted "
                "until that is fixed and the broker restarted", msg->n_events);
        return;
    }
    if (self->journal && zo_journal_backlog (self->journal) > S_JOURNAL_BACKLOG_MAX) {
        char reason [128];
        snprintf (reason, sizeof (reason), "the journal is behind: %" PRIu64 " bytes wait for the disk",
                  zo_journal_backlog (self->journal));
        s_nack (self, ident, ident_len, msg->seq, ZO_ERR_QUEUE_FULL, reason, msg->n_events);
        return;
    }
    //  An event that could not travel alone in a DISPATCH would never
    //  reach a worker: refuse the batch now rather than dead-letter later.
    size_t largest = self->max_frame - ZO_DISPATCH_OVERHEAD - ZO_DISPATCH_ITEM_OVERHEAD;
    for (uint32_t i = 0; i < msg->n_events; i++)
        if (msg->events [i].raw.len > largest) {
            char reason [160];
            snprintf (reason, sizeof (reason), "event %u is %u bytes; at most %zu fit a DISPATCH "
                      "(broker/max_frame %zu)", i, msg->events [i].raw.len, largest, self->max_frame);
            zo__broker_error (self, self->front, ident, ident_len, msg->seq, ZO_ERR_TOO_LARGE,
                              reason);
            return;
        }
    zo_dedupe_expire (self->dedupe, zo_loop_now_ms (self->loop));
    size_t fresh = 0;
    for (uint32_t i = 0; i < msg->n_events; i++)
        if (!zo__broker_seen (self, msg->events [i].id))
            fresh++;
    if (fresh > zo_queue_room (&self->queue)) {
        char reason [128];
        snprintf (reason, sizeof (reason), "queue full: %zu waiting, room for %zu, batch has %zu new",
                  zo_queue_size (&self->queue), zo_queue_room (&self->queue), fresh);
        s_nack (self, ident, ident_len, msg->seq, ZO_ERR_QUEUE_FULL, reason, msg->n_events);
        return;
    }
    zo_msg_t reply = { .cmd = ZO_CMD_ACK, .seq = msg->seq };
    for (uint32_t i = 0; i < msg->n_events; i++) {
        const zo_event_t *event = &msg->events [i];
        if (zo__broker_seen (self, event->id))
            reply.duplicates++;
        else
        if (zo__broker_accept (self, event, ident, ident_len, msg->results))
            reply.accepted++;
        else {
            //  Out of memory: what was taken stays taken (it is queued);
            //  the producer hears about the rest.
            zo__broker_error (self, self->front, ident, ident_len, msg->seq, ZO_ERR_TOO_LARGE,
                              "broker out of memory");
            return;
        }
    }
    *self->c [C_DUPLICATES] += reply.duplicates;
    if (self->journal) {
        //  Held until the journal is durable up to here: that covers this
        //  batch's adds, and the earlier adds of its duplicates too.
        uint64_t due = msg->results ? zo_loop_now_ns (self->loop) + self->ack_delay_ns : 0;
        zo_outbox_ack (self->outbox, ident, ident_len, reply.seq, reply.accepted,
                       reply.duplicates, due, zo_journal_position (self->journal));
    }
    else
    if (msg->results && self->ack_delay_ns)
        zo_outbox_ack (self->outbox, ident, ident_len, reply.seq, reply.accepted,
                       reply.duplicates, zo_loop_now_ns (self->loop) + self->ack_delay_ns, 0);
    else
        zo__broker_send (self, self->front, ident, ident_len, &reply);
}

static void
s_on_dlq_list (zo_broker_t *self, const void *ident, size_t ident_len, zo_msg_t *msg)
{
    size_t total = zo_dlq_size (self->dlq);
    size_t limit = msg->limit && msg->limit < ZO_MAX_BATCH ? msg->limit : ZO_MAX_BATCH;
    zo_msg_t reply = { .cmd = ZO_CMD_DLQ_ITEMS, .seq = msg->seq };
    reply.total = total > UINT32_MAX ? UINT32_MAX : (uint32_t) total;
    reply.dead = self->dead_items;
    //  Stop early rather than send a frame the client would refuse.
    size_t bytes = 64;
    for (size_t i = 0; i < total && reply.n_dead < limit; i++) {
        const zo_dlq_entry_t *entry = zo_dlq_at (self->dlq, i);
        bytes += entry->len + 16;
        if (bytes > self->max_frame && reply.n_dead > 0)
            break;
        zo_dead_t *dead = &self->dead_items [reply.n_dead++];
        memset (dead, 0, sizeof (*dead));
        dead->event.raw = entry->event;
        dead->event.id = entry->id;
        dead->error = entry->error;
        dead->attempts = entry->attempts;
        dead->failed_ms = entry->failed_ms;
    }
    zo__broker_send (self, self->front, ident, ident_len, &reply);
}

//  Moves one dead letter back into the queue with fresh attempts and
//  deadline; an id being processed right now stays in the store.
static int
s_replay_one (const zo_dlq_entry_t *entry, void *arg)
{
    zo_broker_t *self = arg;
    zo_event_t event;
    if (zo__broker_parse_event (self, entry->event, &event)) {
        zsys_warning ("broker: dead letter %.*s does not decode; kept",
                      (int) entry->id.len, (const char *) entry->id.ptr);
        return -1;
    }
    uint64_t hash = zo_evtab_hash (event.id);
    if (zo_evtab_find (self->evtab, event.id, hash))
        return -1;
    if (!zo__broker_accept (self, &event, NULL, 0, false))
        return -1;
    return 0;
}

static void
s_on_dlq_change (zo_broker_t *self, const void *ident, size_t ident_len, zo_msg_t *msg)
{
    bool replay = msg->cmd == ZO_CMD_DLQ_REPLAY;
    if (replay && self->draining) {
        s_nack (self, ident, ident_len, msg->seq, ZO_ERR_SHUTTING_DOWN,
                "the broker is shutting down", 0);
        return;
    }
    if (replay && self->journal && zo_journal_failed (self->journal)) {
        s_nack (self, ident, ident_len, msg->seq, ZO_ERR_JOURNAL_FAILED,
                "the broker's journal cannot write to its disk", 0);
        return;
    }
    size_t count = zo_dlq_take (self->dlq, msg->ids, msg->n_ids,
                                replay ? s_replay_one : NULL, self);
    //  Replayed events are made durable in the journal before their dead
    //  letters leave the file, so that a crash in between cannot lose
    //  them. The loop waits for that fdatasync; replays are rare.
    if (replay && count && self->journal && zo_journal_sync (self->journal))
        zsys_error ("broker: %zu replayed dead letters are in memory only", count);
    zo_dlq_flush (self->dlq);
    *self->c [replay ? C_DLQ_REPLAYED : C_DLQ_PURGED] += count;
    if (count)
        zsys_info ("broker: %zu dead letters %s", count, replay ? "replayed" : "purged");
    zo_msg_t reply = { .cmd = ZO_CMD_DLQ_DONE, .seq = msg->seq };
    reply.count = (uint32_t) count;
    zo__broker_send (self, self->front, ident, ident_len, &reply);
}

//  Replies WORKERS {seq, workers}: the broker's view of each worker. Rare
//  (an autoscaler asks about once a second), so the list has a buffer of
//  its own each time.
static void
s_send_workers (zo_broker_t *self, const void *ident, size_t ident_len, uint64_t seq)
{
    msgpack_sbuffer list;
    msgpack_sbuffer_init (&list);
    //  The list and the reply's own few fields within one frame.
    zo_workers_pack (self->workers, &list, self->max_frame - 64);
    zo_msg_t reply = { .cmd = ZO_CMD_WORKERS, .seq = seq };
    reply.workers = (zo_span_t) { (const uint8_t *) list.data, (uint32_t) list.size };
    zo__broker_send (self, self->front, ident, ident_len, &reply);
    msgpack_sbuffer_destroy (&list);
}

//  Every worker of that name stops getting events: its credit goes to 0
//  and stays there (s_add_credit, s_on_ready), what it holds ends as
//  usual. The worker hears it with a QUIET of its own.
static void
s_on_quiet (zo_broker_t *self, const void *ident, size_t ident_len, zo_msg_t *msg)
{
    if (!msg->name.len) {
        zo__broker_error (self, self->front, ident, ident_len, msg->seq, ZO_ERR_MISSING_FIELD,
                          "QUIET wants the name of the worker to quiet");
        return;
    }
    uint64_t now_ms = zo_loop_now_ms (self->loop);
    for (size_t i = 0; i < zo_workers_size (self->workers); i++) {
        zo_worker_t *worker = zo_workers_at (self->workers, i);
        if (worker->quiet || !zo_span_eq (msg->name, worker->name))
            continue;
        worker->quiet = true;
        worker->credit = 0;
        (*self->c [C_WORKERS_QUIETED])++;
        zsys_info ("broker: worker %s quiet, %zu events to finish", worker->name,
                   worker->held.count);
        //  A worker that is gone is found out by the heartbeat check.
        zo_msg_t quiet = { .cmd = ZO_CMD_QUIET };
        if (zo__broker_send (self, self->back, worker->ident, worker->ident_len, &quiet) == 0)
            zo_heartbeat_sent (&worker->hb, now_ms);
    }
    s_send_workers (self, ident, ident_len, msg->seq);
}

void
zo__front_handle (zo_broker_t *self, const void *ident, size_t ident_len, zo_msg_t *msg)
{
    switch (msg->cmd) {
        case ZO_CMD_SUBMIT:
            s_on_submit (self, ident, ident_len, msg);
            break;
        case ZO_CMD_PING: {
            zo_msg_t reply = { .cmd = ZO_CMD_PONG, .seq = msg->seq };
            zo__broker_send (self, self->front, ident, ident_len, &reply);
            break;
        }
        case ZO_CMD_DLQ_LIST:
            s_on_dlq_list (self, ident, ident_len, msg);
            break;
        case ZO_CMD_DLQ_REPLAY:
        case ZO_CMD_DLQ_PURGE:
            s_on_dlq_change (self, ident, ident_len, msg);
            break;
        case ZO_CMD_WORKERS:
            s_send_workers (self, ident, ident_len, msg->seq);
            break;
        case ZO_CMD_QUIET:
            s_on_quiet (self, ident, ident_len, msg);
            break;
        case ZO_CMD_PONG:
            break;
        default: {
            char reason [96];
            snprintf (reason, sizeof (reason), "%s is not for the front socket",
                      zo_cmd_name (msg->cmd));
            zo__broker_error (self, self->front, ident, ident_len, msg->seq,
                              ZO_ERR_UNEXPECTED, reason);
        }
    }
}
