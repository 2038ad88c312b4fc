/*  broker_fate: what happens to an accepted event - completed, failed and
    retried, taken back from a worker, or dead - each taking the record out
    of wherever its state says it is. See broker_int.h.
*/
#include "broker_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

bool
zo__broker_seen (zo_broker_t *self, zo_span_t id)
{
    uint64_t hash = zo_evtab_hash (id);
    return zo_dedupe_seen (self->dedupe, hash) || zo_evtab_find (self->evtab, id, hash);
}

zo_rec_t *
zo__broker_accept (zo_broker_t *self, const zo_event_t *event,
                   const void *ident, size_t ident_len, bool want_results)
{
    if (!want_results)
        ident_len = 0;
    zo_rec_t *rec = zo_rec_new (event->raw, event->id, ident, ident_len);
    if (!rec) {
        zsys_error ("broker: out of memory accepting an event");
        return NULL;
    }
    uint64_t now_ms = zo_loop_now_ms (self->loop);
    uint64_t deadline = event->deadline_ms ? event->deadline_ms : self->deadline_ms;
    rec->deadline_ms = deadline ? now_ms + deadline : 0;
    rec->accept_ns = zo_loop_now_ns (self->loop);
    rec->max_attempts = event->max_attempts ? event->max_attempts : self->max_attempts;
    rec->prio = (uint8_t) event->priority;
    rec->want_results = want_results;
    if (zo_evtab_insert (self->evtab, rec)) {
        //  Callers check zo__broker_seen first; only memory can fail here.
        zsys_error ("broker: cannot index an event (out of memory or duplicate)");
        zo_rec_destroy (&rec);
        return NULL;
    }
    zo_dedupe_add (self->dedupe, rec->hash, now_ms);
    zo_queue_push (&self->queue, rec, true);
    (*self->c [C_ACCEPTED])++;
    if (self->journal && !self->restoring)
        zo__broker_journal_add (self, rec);
    return rec;
}

//  Takes rec out of the list its state names (it stays in the table).
static void
s_unlink (zo_broker_t *self, zo_rec_t *rec)
{
    if (rec->state == ZO_REC_QUEUED)
        zo_queue_remove (&self->queue, rec);
    else
    if (rec->state == ZO_REC_DELAYED)
        zo_rlist_remove (&self->delayed, rec);
    else {
        zo_worker_t *worker = rec->worker;
        assert (worker);
        zo_rlist_remove (&worker->held, rec);
        rec->worker = NULL;
        assert (self->inflight > 0);
        self->inflight--;
    }
}

static void
s_forget (zo_broker_t *self, zo_rec_t *rec)
{
    if (self->journal)
        zo_journal_del (self->journal, zo_rec_id (rec));
    zo_evtab_remove (self->evtab, rec);
    zo_rec_destroy (&rec);
}

void
zo__broker_complete (zo_broker_t *self, zo_rec_t *rec, zo_span_t result, uint64_t took_ns)
{
    s_unlink (self, rec);
    (*self->c [C_COMPLETED])++;
    zo_hist_record (self->latency, zo_loop_now_ns (self->loop) - rec->accept_ns);
    if (rec->want_results)
        zo_outbox_add (self->outbox, zo_rec_ident (rec), rec->ident_len, zo_rec_id (rec),
                       true, result, NULL, took_ns, rec->attempt);
    s_forget (self, rec);
}

void
zo__broker_dead (zo_broker_t *self, zo_rec_t *rec, const char *error)
{
    s_unlink (self, rec);
    (*self->c [C_DEAD])++;
    zo_span_t id = zo_rec_id (rec);
    zsys_debug ("broker: event %.*s dead after %u attempts: %s",
                (int) id.len, (const char *) id.ptr, rec->attempt, error);
    zo_dlq_add (self->dlq, zo_rec_raw (rec), error, rec->attempt,
                zo_clock_wall_ns () / 1000000);
    if (rec->want_results) {
        zo_span_t none = { NULL, 0 };
        zo_outbox_add (self->outbox, zo_rec_ident (rec), rec->ident_len, id,
                       false, none, error, 0, rec->attempt);
    }
    s_forget (self, rec);
}

void
zo__broker_failed (zo_broker_t *self, zo_rec_t *rec, bool final)
{
    if (final || rec->attempt >= rec->max_attempts) {
        char *error = rec->error;
        rec->error = NULL;
        zo__broker_dead (self, rec, error ? error : "failed");
        free (error);
        return;
    }
    s_unlink (self, rec);
    (*self->c [C_RETRIED])++;
    //  retry_backoff × 2^(attempt − 1), the shift clamped so it cannot
    //  overflow.
    unsigned shift = rec->attempt > 0 ? rec->attempt - 1 : 0;
    if (shift > 20)
        shift = 20;
    rec->due_ms = zo_loop_now_ms (self->loop) + (self->retry_backoff_ms << shift);
    rec->state = ZO_REC_DELAYED;
    zo_rlist_push_tail (&self->delayed, rec);
}

void
zo__broker_take_back (zo_broker_t *self, zo_rec_t *rec, bool counted, const char *error)
{
    assert (rec->state == ZO_REC_INFLIGHT);
    if (counted && rec->attempt >= rec->max_attempts) {
        zo__broker_dead (self, rec, error);
        return;
    }
    s_unlink (self, rec);
    if (!counted && rec->attempt > 0)
        rec->attempt--;
    (*self->c [C_REDELIVERED])++;
    zo_queue_push_front (&self->queue, rec);
}

int
zo__broker_parse_event (zo_broker_t *self, zo_span_t raw, zo_event_t *event)
{
    //  A stored event goes through the same codec as one from the wire,
    //  wrapped in a SUBMIT, so the rules cannot differ.
    static const char head [] = "\x84\xa1v\x01\xa3" "cmd\xa6SUBMIT\xa3seq\x00\xa6" "events\x91";
    msgpack_sbuffer_clear (&self->evbuf);
    msgpack_sbuffer_write (&self->evbuf, head, sizeof (head) - 1);
    msgpack_sbuffer_write (&self->evbuf, (const char *) raw.ptr, raw.len);
    zo_msg_t msg;
    if (zo_proto_decode (self->evdec, self->evbuf.data, self->evbuf.size, &msg)
    ||  msg.n_events != 1)
        return -1;
    *event = msg.events [0];
    return 0;
}

void
zo__broker_restore (zo_span_t raw, uint32_t attempts, uint64_t left, void *arg)
{
    zo_broker_t *self = arg;
    zo_event_t event;
    if (zo__broker_parse_event (self, raw, &event)) {
        zsys_warning ("broker: stored event does not decode, dropped");
        return;
    }
    if (zo__broker_seen (self, event.id))
        return;
    zo_rec_t *rec = zo__broker_accept (self, &event, NULL, 0, false);
    if (rec) {
        (*self->c [C_ACCEPTED])--;   //  accepted by the last broker already
        (*self->c [C_RESTORED])++;
        rec->attempt = attempts;
        if (left)
            rec->deadline_ms = zo_loop_now_ms (self->loop) + left;
    }
}
