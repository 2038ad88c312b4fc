/*  broker_back: what the broker does with workers on the back socket:
    READY, CREDIT, DONE, HEARTBEAT, BYE, PING; dispatching by credit; and
    the heartbeat check that declares silent workers dead.
*/
#include "broker_int.h"

#include <string.h>

static void
s_add_credit (zo_worker_t *worker, uint32_t credit)
{
    //  A quiet worker gets nothing more, whatever it grants. (The one
    //  branch QUIET costs the hot path.)
    if (worker->quiet)
        return;
    //  Credit is only ever what the worker granted; the cap keeps a
    //  confused worker from overflowing the sum.
    worker->credit += credit;
    if (worker->credit > UINT32_MAX)
        worker->credit = UINT32_MAX;
}

void
zo__back_lose (zo_broker_t *self, zo_worker_t *worker, bool counted, const char *error)
{
    size_t held = worker->held.count;
    while (worker->held.tail)
        //  From the tail, so that pushing each to the front of its lane
        //  keeps their order.
        zo__broker_take_back (self, worker->held.tail, counted, error);
    if (counted) {
        (*self->c [C_WORKERS_LOST])++;
        zsys_warning ("broker: worker %s lost, %zu events taken back", worker->name, held);
    }
    else
        zsys_info ("broker: worker %s left, %zu events taken back", worker->name, held);
    zo_workers_remove (self->workers, worker);
}

static void
s_on_ready (zo_broker_t *self, const void *ident, size_t ident_len, zo_msg_t *msg)
{
    zo_worker_t *worker = zo_workers_find (self->workers, ident, ident_len);
    bool fresh = !worker;
    if (!worker)
        worker = zo_workers_add (self->workers, ident, ident_len);
    if (!worker) {
        zsys_error ("broker: out of memory registering a worker");
        return;
    }
    size_t len = msg->name.len < sizeof (worker->name) - 1 ? msg->name.len : sizeof (worker->name) - 1;
    memcpy (worker->name, msg->name.ptr, len);
    worker->name [len] = 0;
    //  READY replaces any earlier credit (PROTOCOL.md), except that a
    //  quiet worker stays without.
    worker->credit = worker->quiet ? 0 : msg->credit;
    worker->capacity = msg->capacity;
    if (fresh)
        zo_heartbeat_start (&worker->hb, zo_loop_now_ms (self->loop));
    else
        zo_heartbeat_heard (&worker->hb, zo_loop_now_ms (self->loop));
    if (fresh)
        zsys_info ("broker: worker %s ready, capacity %u, credit %u",
                   worker->name, msg->capacity, msg->credit);
}

static void
s_on_done (zo_broker_t *self, zo_worker_t *worker, zo_msg_t *msg)
{
    s_add_credit (worker, msg->credit);
    uint32_t n_refused = 0;          //  results whose follow-ups did not fit
    zo_span_t first_refused = { NULL, 0 };
    for (uint32_t i = 0; i < msg->n_results; i++) {
        const zo_result_t *result = &msg->results_ [i];
        zo_rec_t *rec = zo_evtab_find (self->evtab, result->id, zo_evtab_hash (result->id));
        if (!rec || rec->state != ZO_REC_INFLIGHT || rec->worker != worker) {
            //  Taken back from this worker (dead, deadline); its follow-up
            //  events belong to a run that no longer counts.
            (*self->c [C_LATE_RESULTS])++;
            continue;
        }
        if (result->emit_invalid) {
            *self->c [C_EMIT_INVALID] += result->emit_invalid;
            zsys_warning ("worker %s: %u invalid follow-up events dropped",
                          worker->name, result->emit_invalid);
        }
        //  Follow-ups are held to queue_max like producers' events, all of
        //  an event's or none. When they do not fit, none is taken and a
        //  successful event fails (not final) with queue_full, so it is
        //  retried after the backoff and its handler emits them again
        //  under the same ids (dedupe keeps each once); past max_attempts
        //  it is dead with that error. A failed event fails as it said.
        //  They are taken before the parent ends, so that the journal
        //  holds their adds ahead of the parent's del.
        size_t fresh = 0;
        for (uint32_t e = 0; e < result->emit_count; e++)
            if (!zo__broker_seen (self, msg->events [result->emit_first + e].id))
                fresh++;
        bool refused = fresh > zo_queue_room (&self->queue);
        if (refused) {
            *self->c [C_EMIT_OVERFLOW] += fresh;
            if (!n_refused++)
                first_refused = result->id;
        }
        for (uint32_t e = 0; e < result->emit_count && !refused; e++) {
            const zo_event_t *event = &msg->events [result->emit_first + e];
            if (zo__broker_seen (self, event->id)) {
                (*self->c [C_DUPLICATES])++;
                continue;
            }
            if (zo__broker_accept (self, event, NULL, 0, false))
                (*self->c [C_EMITTED])++;
        }
        if (result->ok && !refused)
            zo__broker_complete (self, rec, result->result, result->took_ns);
        else
        if (result->ok) {
            (*self->c [C_FAILED])++;
            char error [160];
            snprintf (error, sizeof (error), "queue_full: %zu follow-up events do not fit the "
                      "queue (%zu waiting, room for %zu)", fresh, zo_queue_size (&self->queue),
                      zo_queue_room (&self->queue));
            zo_rec_set_error (rec, zo_span_str (error));
            zo__broker_failed (self, rec, false);
        }
        else {
            (*self->c [C_FAILED])++;
            if (result->error.len)
                zo_rec_set_error (rec, result->error);
            else {
                zo_span_t failed = zo_span_str ("failed");
                zo_rec_set_error (rec, failed);
            }
            zo__broker_failed (self, rec, result->final);
        }
    }
    if (n_refused) {
        //  One NACK per DONE tells the worker (PROTOCOL.md, DONE): it
        //  counts and logs it; the events come back after the backoff.
        char reason [256];
        snprintf (reason, sizeof (reason), "the follow-up events of %u results (the first: %.*s) "
                  "do not fit the broker's queue; those events failed and will be retried",
                  n_refused, (int) first_refused.len, (const char *) first_refused.ptr);
        zo_msg_t nack = { .cmd = ZO_CMD_NACK, .seq = 0 };
        nack.code = zo_span_str (zo_err_name (ZO_ERR_QUEUE_FULL));
        nack.reason = zo_span_str (reason);
        nack.retry_ms = (uint32_t) (self->retry_backoff_ms > UINT32_MAX ? UINT32_MAX
                                                                        : self->retry_backoff_ms);
        if (zo__broker_send (self, self->back, worker->ident, worker->ident_len, &nack) == 0)
            zo_heartbeat_sent (&worker->hb, zo_loop_now_ms (self->loop));
    }
}

void
zo__back_handle (zo_broker_t *self, const void *ident, size_t ident_len, zo_msg_t *msg)
{
    if (msg->cmd == ZO_CMD_READY) {
        s_on_ready (self, ident, ident_len, msg);
        return;
    }
    if (msg->cmd == ZO_CMD_PING) {
        zo_msg_t reply = { .cmd = ZO_CMD_PONG, .seq = msg->seq };
        zo__broker_send (self, self->back, ident, ident_len, &reply);
        return;
    }
    if (msg->cmd != ZO_CMD_DONE && msg->cmd != ZO_CMD_CREDIT
    &&  msg->cmd != ZO_CMD_HEARTBEAT && msg->cmd != ZO_CMD_BYE && msg->cmd != ZO_CMD_PONG) {
        char reason [96];
        snprintf (reason, sizeof (reason), "%s is not for the back socket", zo_cmd_name (msg->cmd));
        zo__broker_error (self, self->back, ident, ident_len, msg->seq, ZO_ERR_UNEXPECTED, reason);
        return;
    }
    zo_worker_t *worker = zo_workers_find (self->workers, ident, ident_len);
    if (!worker) {
        if (msg->cmd == ZO_CMD_DONE)
            *self->c [C_LATE_RESULTS] += msg->n_results;
        if (msg->cmd != ZO_CMD_BYE && msg->cmd != ZO_CMD_PONG)
            zo__broker_error (self, self->back, ident, ident_len, msg->seq, ZO_ERR_NOT_READY,
                              "send READY first");
        return;
    }
    zo_heartbeat_heard (&worker->hb, zo_loop_now_ms (self->loop));
    switch (msg->cmd) {
        case ZO_CMD_DONE:
            s_on_done (self, worker, msg);
            break;
        case ZO_CMD_CREDIT:
            s_add_credit (worker, msg->credit);
            break;
        case ZO_CMD_BYE:
            zo__back_lose (self, worker, false, NULL);
            break;
        default:
            break;                   //  HEARTBEAT, PONG: a sign of life
    }
}

//  Sends worker up to n events from the queue in one DISPATCH. Returns
//  how many it sent; 0 if the worker could not be sent to (it is then
//  dropped if gone, or marked busy for this round if not reading).
static size_t
s_dispatch_to (zo_broker_t *self, zo_worker_t *worker, size_t n, bool *gone)
{
    uint64_t now_ms = zo_loop_now_ms (self->loop);
    size_t count = 0;
    //  Bounded by bytes too: the worker decodes at most broker/max_frame,
    //  and a SUBMIT's events may be up to that size each.
    size_t bytes = ZO_DISPATCH_OVERHEAD;
    while (count < n) {
        zo_rec_t *rec = zo_queue_pop (&self->queue);
        if (!rec)
            break;
        if (rec->deadline_ms && rec->deadline_ms <= now_ms) {
            //  Not worth a trip: the worker would fail it at once. Put it
            //  back where it was so that its state holds for the removal.
            zo_queue_push_front (&self->queue, rec);
            (*self->c [C_EXPIRED])++;
            zo__broker_dead (self, rec, "deadline exceeded");
            continue;
        }
        size_t need = zo_rec_raw (rec).len + ZO_DISPATCH_ITEM_OVERHEAD;
        if (bytes + need > self->max_frame) {
            zo_queue_push_front (&self->queue, rec);
            if (count)
                break;          //  it opens the next DISPATCH
            //  Too large to travel even alone: SUBMIT refuses such events,
            //  but one stored by a broker with a larger max_frame (spool,
            //  journal, dead letters replayed) can come back. A worker
            //  would refuse the frame; the dead letters keep it.
            zo__broker_dead (self, rec, "too large for a DISPATCH under broker/max_frame");
            continue;
        }
        bytes += need;
        rec->attempt++;
        rec->state = ZO_REC_INFLIGHT;
        rec->worker = worker;
        zo_rlist_push_tail (&worker->held, rec);
        self->inflight++;
        zo_item_t *item = &self->items [count++];
        memset (item, 0, sizeof (*item));
        item->event.raw = zo_rec_raw (rec);
        item->event.id = zo_rec_id (rec);
        item->attempt = rec->attempt;
        if (rec->deadline_ms) {
            uint64_t left = rec->deadline_ms - now_ms;
            item->deadline_ms = left > UINT32_MAX ? UINT32_MAX : (uint32_t) left;
        }
    }
    if (!count)
        return 0;
    zo_msg_t msg = { .cmd = ZO_CMD_DISPATCH, .items = self->items, .n_items = (uint32_t) count };
    if (zo__broker_send (self, self->back, worker->ident, worker->ident_len, &msg)) {
        *gone = zmq_errno () == EHOSTUNREACH;
        //  Not delivered: back to the front of the queue, no attempt used.
        for (size_t i = 0; i < count; i++) {
            zo_rec_t *rec = worker->held.tail;
            zo__broker_take_back (self, rec, false, NULL);
            (*self->c [C_REDELIVERED])--;
        }
        return 0;
    }
    worker->credit -= count;
    worker->dispatched += count;
    zo_heartbeat_sent (&worker->hb, now_ms);
    *self->c [C_DISPATCHED] += count;
    return count;
}

//  Spreads the queue over the workers with credit: each round gives every
//  such worker an equal share (at most its credit and batch_max), starting
//  one worker further each time so that no worker is always first. What
//  is ready is the queue less a deferred low lane (zo_queue_ready: the
//  one select pressure costs this path; zo_queue_pop looks only at the
//  open lanes).
void
zo__back_dispatch (zo_broker_t *self)
{
    size_t n_workers = zo_workers_size (self->workers);
    if (!n_workers || !zo_queue_ready (&self->queue))
        return;
    bool busy [n_workers];
    memset (busy, 0, sizeof (busy));
    size_t start = self->rr++ % n_workers;
    while (zo_queue_ready (&self->queue)) {
        size_t open = 0;
        for (size_t i = 0; i < n_workers; i++)
            if (!busy [i] && zo_workers_at (self->workers, i)->credit)
                open++;
        if (!open)
            break;
        size_t share = (zo_queue_ready (&self->queue) + open - 1) / open;
        for (size_t k = 0; k < n_workers && zo_queue_ready (&self->queue); k++) {
            size_t i = (start + k) % n_workers;
            zo_worker_t *worker = zo_workers_at (self->workers, i);
            if (busy [i] || !worker->credit)
                continue;
            size_t n = share;
            if (n > worker->credit)
                n = worker->credit;
            if (n > self->batch_max)
                n = self->batch_max;
            bool gone = false;
            if (s_dispatch_to (self, worker, n, &gone) == 0) {
                if (gone) {
                    //  Vanished without BYE: what it held may have run.
                    zo__back_lose (self, worker, true, "worker lost");
                    return;          //  the array changed; next iteration
                }
                busy [i] = true;
            }
        }
    }
}

void
zo__back_tick (zo_broker_t *self, uint64_t now_ms)
{
    for (size_t i = 0; i < zo_workers_size (self->workers); ) {
        zo_worker_t *worker = zo_workers_at (self->workers, i);
        zo_heartbeat_due_t due = zo_heartbeat_due (&worker->hb, now_ms, self->heartbeat_ms);
        if (due == ZO_HEARTBEAT_DEAD) {
            zo__back_lose (self, worker, true, "worker lost");
            continue;                //  slot i now holds another worker
        }
        if (due == ZO_HEARTBEAT_SEND) {
            zo_msg_t msg = { .cmd = ZO_CMD_HEARTBEAT };
            if (zo__broker_send (self, self->back, worker->ident, worker->ident_len, &msg) == 0)
                zo_heartbeat_sent (&worker->hb, now_ms);
            else
            if (zmq_errno () == EHOSTUNREACH) {
                zo__back_lose (self, worker, true, "worker lost");
                continue;
            }
        }
        i++;
    }
}
