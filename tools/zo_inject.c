/*  zo_inject: submit events from an input to a broker, pacing, batching,
    bounding what is in flight, and accounting for every event.  */
#include "zo_inject.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zo_rpc.h"

#define NIL UINT32_MAX

typedef enum {
    S_FREE,        /* on the free list */
    S_READY,       /* waiting to be (re)sent, on the ready queue */
    S_RETRY,       /* NACKed: on the retry queue until due_ns */
    S_SENT,        /* in a SUBMIT without reply yet */
    S_ACKED        /* acknowledged, waiting for its RESULT */
} s_state_t;

/*  One event in flight. Slots are recycled, so a steady stream allocates
    nothing per event once every buffer has grown to its event's size.  */
typedef struct {
    char id [ZO_MAX_ID + 1];
    char type [ZO_MAX_TYPE + 1];
    msgpack_sbuffer buf;       /* the encoded event map */
    uint64_t t0_ns;            /* due (rate) or first send time */
    uint64_t due_ns;           /* S_RETRY: when to resend */
    uint64_t seq;              /* S_SENT: the SUBMIT it is in */
    s_state_t state;
    bool sent_once;
    bool in_map;               /* its id is in the result map */
    bool got_result;           /* RESULT came before ACK */
    uint32_t next;             /* free list / queue / batch link */
} s_slot_t;

/*  A SUBMIT waiting for its reply: the argument of its zo_rpc request,
    which matches the reply by seq (so no map of our own).  */
typedef struct {
    zo_inject_t *owner;
    uint64_t seq;
    uint32_t head;             /* slots linked through next */
    uint32_t n;
    uint32_t next_free;
} s_batch_t;

typedef struct {
    uint32_t head, tail;
} s_queue_t;

struct _zo_inject_t {
    zo_loop_t *loop;
    zo_inject_opts_t opts;
    zo_input_t *input;
    zo_rpc_t *rpc;             /* to the broker's front */
    zo_inject_stats_t stats;
    zo_inject_outcome_fn *outcome_fn;
    void *outcome_arg;
    zo_inject_done_fn *done_fn;
    void *done_arg;

    s_slot_t *slots;
    uint32_t free_head;
    uint32_t in_use;
    s_queue_t ready;           /* to send first (resends) */
    s_queue_t retry;           /* NACKed, by due time */
    s_batch_t *batches;
    uint32_t batch_free;
    zhashx_t *by_id;           /* id -> slot (wait only) */
    zo_event_t *ev;            /* batch being built */
    uint32_t *ev_slot;

    uint64_t produced;         /* events taken from the input */
    uint64_t pending_dups;     /* acked duplicates still looking like waiters */
    uint32_t n_acked;          /* slots in S_ACKED */
    uint64_t last_progress_ns;
    bool started, input_done, finished;
    bool unwatched;            /* s_unwatch ran */
    zo_watch_t *input_watch;   /* the input fd's, while it would block */
    int rate_timer, retry_timer, again_timer, ticker;
};

void
zo_inject_opts_default (zo_inject_opts_t *opts)
{
    assert (opts);
    memset (opts, 0, sizeof *opts);
    opts->endpoint = "tcp://127.0.0.1:7010";
    opts->inflight = 1000;
    opts->retry = true;
    opts->timeout_ms = 30000;
    opts->batch_max = 100;
    opts->batch_bytes = 256 * 1024;
    opts->max_frame = ZO_MAX_FRAME;
    opts->pace_slack_us = 1000;
}

/*  ---------------------------------------------------------------------
    Slots, queues, batches  */

static void
s_push (zo_inject_t *self, s_queue_t *q, uint32_t i)
{
    self->slots [i].next = NIL;
    if (q->tail == NIL)
        q->head = i;
    else
        self->slots [q->tail].next = i;
    q->tail = i;
}

static uint32_t
s_pop (zo_inject_t *self, s_queue_t *q)
{
    uint32_t i = q->head;
    if (i != NIL) {
        q->head = self->slots [i].next;
        if (q->head == NIL)
            q->tail = NIL;
    }
    return i;
}

static void
s_slot_free (zo_inject_t *self, uint32_t i)
{
    s_slot_t *s = &self->slots [i];
    if (s->in_map) {
        zhashx_delete (self->by_id, s->id);
        s->in_map = false;
    }
    if (s->state == S_ACKED)
        self->n_acked--;
    s->state = S_FREE;
    s->got_result = false;
    s->sent_once = false;
    s->next = self->free_head;
    self->free_head = i;
    self->in_use--;
}

static void
s_outcome (zo_inject_t *self, s_slot_t *s, zo_inject_status_t status, zo_span_t result,
           zo_span_t error, uint32_t attempts, uint64_t latency_ns)
{
    if (!self->outcome_fn)
        return;
    zo_inject_outcome_t o = { status, s ? s->id : "", s ? s->type : "", result, error,
                              attempts, latency_ns };
    self->outcome_fn (&o, self->outcome_arg);
}

static zo_rpc_fn s_on_reply;
static zo_rpc_msg_fn s_on_message;

/*  ---------------------------------------------------------------------  */

zo_inject_t *
zo_inject_new (zo_loop_t *loop, void *zmq_ctx, const zo_inject_opts_t *opts,
               zo_input_t **input_p)
{
    assert (loop);
    assert (opts && opts->endpoint);
    assert (input_p && *input_p);
    zo_inject_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->opts = *opts;
    if (self->opts.inflight == 0)
        self->opts.inflight = 1;
    if (self->opts.batch_max == 0 || self->opts.batch_max > ZO_MAX_BATCH)
        self->opts.batch_max = 100;
    if (self->opts.max_frame < ZO_MAX_FRAME_MIN || self->opts.max_frame > ZO_MAX_FRAME_MAX)
        self->opts.max_frame = ZO_MAX_FRAME;
    //  A SUBMIT is flushed at a quarter of the frame at most, and never
    //  grows past the frame (less its own fields).
    if (self->opts.batch_bytes == 0)
        self->opts.batch_bytes = 256 * 1024;
    if (self->opts.batch_bytes > self->opts.max_frame / 4)
        self->opts.batch_bytes = (uint32_t) (self->opts.max_frame / 4);
    self->input = *input_p;
    *input_p = NULL;
    zo_hist_reset (&self->stats.latency);
    self->stats.total = zo_input_total (self->input);
    self->stats.waited = self->opts.wait;

    uint32_t n = self->opts.inflight;
    self->slots = calloc (n, sizeof *self->slots);
    self->batches = calloc (n, sizeof *self->batches);
    self->ev = calloc (self->opts.batch_max, sizeof *self->ev);
    self->ev_slot = calloc (self->opts.batch_max, sizeof *self->ev_slot);
    self->by_id = zhashx_new ();
    if (!self->slots || !self->batches || !self->ev || !self->ev_slot || !self->by_id)
        goto err;
    zhashx_set_key_duplicator (self->by_id, NULL);
    zhashx_set_key_destructor (self->by_id, NULL);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_sbuffer_init (&self->slots [i].buf);
        self->slots [i].next = i + 1 < n ? i + 1 : NIL;
        self->batches [i].owner = self;
        self->batches [i].next_free = i + 1 < n ? i + 1 : NIL;
    }
    self->free_head = 0;
    self->batch_free = 0;
    self->ready.head = self->ready.tail = NIL;
    self->retry.head = self->retry.tail = NIL;

    //  Every batch holds at least one of the inflight slots, so a table
    //  of inflight requests is never full. Replies may be large (RESULT
    //  batches): accept what the protocol allows, whatever the broker's
    //  own max_frame is.
    zo_rpc_opts_t ropts = { .name = "inject", .max_pending = n,
                            .max_frame = 64 * ZO_MAX_FRAME };
    self->rpc = zo_rpc_new (loop, zmq_ctx, self->opts.endpoint, &ropts);
    if (!self->rpc)
        goto err;
    zo_rpc_on_message (self->rpc, s_on_message, self);
    return self;
err:
    zo_inject_destroy (&self);
    return NULL;
}

static int s_pump (zo_loop_t *loop, void *arg);

static void
s_unwatch (zo_inject_t *self)
{
    if (!self->started || self->unwatched)
        return;
    self->unwatched = true;
    zo_loop_unwatch (self->loop, &self->input_watch);
    int *timers [] = { &self->rate_timer, &self->retry_timer, &self->again_timer,
                       &self->ticker };
    for (size_t i = 0; i < sizeof timers / sizeof timers [0]; i++)
        if (*timers [i] > 0) {
            zo_loop_cancel (self->loop, *timers [i]);
            *timers [i] = 0;
        }
    zo_loop_before_sleep_remove (self->loop, s_pump, self);
}

void
zo_inject_destroy (zo_inject_t **self_p)
{
    assert (self_p);
    zo_inject_t *self = *self_p;
    if (!self)
        return;
    s_unwatch (self);
    if (self->slots)
        for (uint32_t i = 0; i < self->opts.inflight; i++)
            msgpack_sbuffer_destroy (&self->slots [i].buf);
    //  Ends the SUBMITs still waiting (ZO_RPC_CLOSED, ignored).
    zo_rpc_destroy (&self->rpc);
    zo_input_destroy (&self->input);
    zhashx_destroy (&self->by_id);
    free (self->slots);
    free (self->batches);
    free (self->ev);
    free (self->ev_slot);
    free (self);
    *self_p = NULL;
}

void
zo_inject_on_outcome (zo_inject_t *self, zo_inject_outcome_fn *fn, void *arg)
{
    self->outcome_fn = fn;
    self->outcome_arg = arg;
}

void
zo_inject_on_done (zo_inject_t *self, zo_inject_done_fn *fn, void *arg)
{
    self->done_fn = fn;
    self->done_arg = arg;
}

bool
zo_inject_finished (const zo_inject_t *self)
{
    return self->finished;
}

const zo_inject_stats_t *
zo_inject_stats (const zo_inject_t *self)
{
    return &self->stats;
}

uint64_t
zo_inject_outstanding (const zo_inject_t *self)
{
    return self->in_use;
}

/*  ---------------------------------------------------------------------
    Finishing  */

static void
s_finish (zo_inject_t *self)
{
    if (self->finished)
        return;
    self->finished = true;
    self->stats.end_ns = zo_clock_mono_ns ();
    s_unwatch (self);
    if (self->done_fn)
        self->done_fn (self, self->done_arg);
}

/*  Every slot still in use is given up: lost (or a duplicate, when only
    known duplicates are left waiting).  */
static void
s_give_up (zo_inject_t *self)
{
    zo_span_t none = { 0 };
    bool dups_only = self->opts.wait && self->n_acked == self->in_use
                     && self->pending_dups >= self->n_acked;
    for (uint32_t i = 0; i < self->opts.inflight; i++) {
        s_slot_t *s = &self->slots [i];
        if (s->state == S_FREE)
            continue;
        if (dups_only)
            s_outcome (self, s, ZO_INJECT_DUPLICATE, none, none, 0, 0);
        else {
            self->stats.lost++;
            s_outcome (self, s, ZO_INJECT_LOST, none, zo_span_str ("no answer in time"), 0, 0);
        }
        s_slot_free (self, i);
    }
    self->pending_dups = 0;
}

/*  With wait: when every slot still waiting for a RESULT is one of the
    duplicates the broker reported, none of them will get one.  */
static void
s_settle_dups (zo_inject_t *self)
{
    if (!self->opts.wait || self->pending_dups == 0 || self->n_acked == 0
        || self->n_acked > self->pending_dups)
        return;
    zo_span_t none = { 0 };
    for (uint32_t i = 0; i < self->opts.inflight; i++)
        if (self->slots [i].state == S_ACKED && !self->slots [i].got_result) {
            s_outcome (self, &self->slots [i], ZO_INJECT_DUPLICATE, none, none, 0, 0);
            s_slot_free (self, i);
            self->pending_dups--;
        }
}

static void
s_check_done (zo_inject_t *self)
{
    s_settle_dups (self);
    if (self->input_done && self->in_use == 0)
        s_finish (self);
}

/*  ---------------------------------------------------------------------
    Sending  */

static int s_on_timer (zo_loop_t *loop, int id, void *arg);

static void
s_flush (zo_inject_t *self, uint32_t n)
{
    if (n == 0)
        return;
    uint32_t b = self->batch_free;
    assert (b != NIL);   /* every batch holds >= 1 of the <= inflight slots */
    s_batch_t *batch = &self->batches [b];
    zo_msg_t msg = { .cmd = ZO_CMD_SUBMIT, .results = self->opts.wait, .events = self->ev,
                     .n_events = n };
    uint32_t timeout_ms = self->opts.timeout_ms > UINT32_MAX ? UINT32_MAX
                                                             : (uint32_t) self->opts.timeout_ms;
    uint64_t seq = zo_rpc_request (self->rpc, &msg, timeout_ms, s_on_reply, batch);
    if (seq == 0) {
        /*  The socket's queue is full: put them back first in line.  */
        if (errno != EAGAIN)
            zsys_warning ("inject: cannot send SUBMIT to %s: %s", self->opts.endpoint,
                          zmq_strerror (errno));
        s_queue_t back = { NIL, NIL };
        for (uint32_t k = 0; k < n; k++)
            s_push (self, &back, self->ev_slot [k]);
        if (self->ready.head != NIL)
            self->slots [back.tail].next = self->ready.head;
        else
            self->ready.tail = back.tail;
        self->ready.head = back.head;
        if (!self->again_timer)
            self->again_timer = zo_loop_timer (self->loop, 1, s_on_timer, self);
        return;
    }
    self->stats.batches++;
    self->batch_free = batch->next_free;
    batch->seq = seq;
    batch->n = n;
    batch->head = NIL;
    uint64_t now = zo_loop_now_ns (self->loop);
    for (uint32_t k = n; k-- > 0;) {
        uint32_t i = self->ev_slot [k];
        s_slot_t *s = &self->slots [i];
        s->state = S_SENT;
        s->seq = seq;
        if (!s->sent_once) {
            s->sent_once = true;
            self->stats.sent++;
            self->last_progress_ns = now;
            if (self->opts.rate <= 0)
                s->t0_ns = now;
        }
        s->next = batch->head;
        batch->head = i;
    }
}

static int
s_on_input (zo_loop_t *loop, int fd, short revents, void *arg)
{
    zo_inject_t *self = arg;
    zo_loop_unwatch (loop, &self->input_watch);
    return 0;
}

/*  Takes the next event from the input into a free slot. 1 got one, 0 none
    now, -1 input finished.  */
static int
s_produce (zo_inject_t *self, uint32_t *slot_out)
{
    while (true) {
        uint32_t i = self->free_head;
        assert (i != NIL);
        s_slot_t *s = &self->slots [i];
        msgpack_sbuffer_clear (&s->buf);
        char err [512];
        int rc = zo_input_next (self->input, &s->buf, s->id, s->type, err, sizeof err);
        if (rc == -2) {
            self->stats.invalid++;
            self->stats.failed++;
            zo_span_t none = { 0 };
            s_outcome (self, NULL, ZO_INJECT_INVALID, none, zo_span_str (err), 0, 0);
            continue;
        }
        if (rc == 0) {
            int fd = zo_input_fd (self->input);
            if (fd >= 0 && !self->input_watch) {
                self->input_watch = zo_loop_add_fd (self->loop, fd, ZMQ_POLLIN, s_on_input, self);
                if (!self->input_watch) {
                    //  Nothing would ever tell us the input has more.
                    zsys_error ("inject: cannot watch the input: %s", strerror (errno));
                    self->input_done = true;
                    return -1;
                }
            }
            return 0;
        }
        if (rc < 0) {
            self->input_done = true;
            return -1;
        }
        self->free_head = s->next;
        self->in_use++;
        s->state = S_READY;
        if (self->opts.rate > 0)
            s->t0_ns = self->stats.start_ns
                       + (uint64_t) ((double) self->produced * 1e9 / self->opts.rate);
        self->produced++;
        if (self->opts.wait) {
            if (zhashx_insert (self->by_id, s->id, s) == 0)
                s->in_map = true;
        }
        *slot_out = i;
        return 1;
    }
}

static int
s_pump (zo_loop_t *loop, void *arg)
{
    zo_inject_t *self = arg;
    if (self->finished)
        return 0;
    uint32_t n = 0;
    size_t bytes = 0;
    uint64_t now = zo_loop_now_ns (loop);
    while (true) {
        if (n == self->opts.batch_max || bytes >= self->opts.batch_bytes) {
            s_flush (self, n);
            n = bytes = 0;
            if (self->again_timer)
                break;
        }
        uint32_t i = s_pop (self, &self->ready);
        if (i == NIL) {
            if (self->input_done || self->free_head == NIL || self->again_timer)
                break;
            if (self->opts.rate > 0) {
                uint64_t due = self->stats.start_ns
                               + (uint64_t) ((double) self->produced * 1e9 / self->opts.rate);
                if (due > now) {
                    if (!self->rate_timer)
                        self->rate_timer = zo_loop_timer_ns (loop, due - now, s_on_timer, self);
                    break;
                }
            }
            if (s_produce (self, &i) != 1)
                break;
        }
        s_slot_t *s = &self->slots [i];
        if (n > 0 && bytes + s->buf.size > self->opts.max_frame - ZO_DISPATCH_OVERHEAD) {
            s_flush (self, n);
            n = bytes = 0;
            if (self->again_timer) {
                s_push (self, &self->ready, i);
                break;
            }
        }
        self->ev [n] = (zo_event_t) { .raw = { (const uint8_t *) s->buf.data,
                                               (uint32_t) s->buf.size } };
        self->ev_slot [n] = i;
        n++;
        bytes += s->buf.size;
    }
    s_flush (self, n);
    s_check_done (self);
    return 0;
}

/*  ---------------------------------------------------------------------
    Replies  */

/*  Gives a batch back once its reply is handled; still readable until
    the next flush.  */
static void
s_batch_free (zo_inject_t *self, s_batch_t *batch)
{
    batch->next_free = self->batch_free;
    self->batch_free = (uint32_t) (batch - self->batches);
}

static void
s_on_ack (zo_inject_t *self, s_batch_t *batch, const zo_msg_t *msg)
{
    uint64_t now = zo_loop_now_ns (self->loop);
    self->last_progress_ns = now;
    self->stats.acked += batch->n;
    self->stats.duplicates += msg->duplicates;
    bool all_dups = msg->duplicates >= batch->n;
    if (self->opts.wait && !all_dups)
        self->pending_dups += msg->duplicates;
    zo_span_t none = { 0 };
    for (uint32_t i = batch->head, next; i != NIL; i = next) {
        s_slot_t *s = &self->slots [i];
        next = s->next;
        if (s->state != S_SENT || s->seq != msg->seq)
            continue;
        if (!self->opts.wait || s->got_result) {
            if (!self->opts.wait) {
                uint64_t lat = now - s->t0_ns;
                zo_hist_record (&self->stats.latency, lat);
                s_outcome (self, s, ZO_INJECT_OK, none, none, 0, lat);
            }
            s_slot_free (self, i);
        }
        else if (all_dups) {
            s_outcome (self, s, ZO_INJECT_DUPLICATE, none, none, 0, 0);
            s_slot_free (self, i);
        }
        else {
            s->state = S_ACKED;
            self->n_acked++;
        }
    }
}

static void
s_refuse (zo_inject_t *self, s_batch_t *batch, uint64_t seq, zo_span_t why)
{
    zo_span_t none = { 0 };
    for (uint32_t i = batch->head, next; i != NIL; i = next) {
        s_slot_t *s = &self->slots [i];
        next = s->next;
        if (s->state != S_SENT || s->seq != seq)
            continue;
        self->stats.nacked++;
        s_outcome (self, s, ZO_INJECT_NACKED, none, why, 0, 0);
        s_slot_free (self, i);
    }
}

static void
s_on_nack (zo_inject_t *self, s_batch_t *batch, const zo_msg_t *msg)
{
    bool retry = self->opts.retry && zo_span_eq (msg->code, "queue_full");
    if (!retry) {
        char why [ZO_MAX_TEXT + ZO_MAX_CODE + 8];
        snprintf (why, sizeof why, "%.*s: %.*s", (int) msg->code.len, msg->code.ptr,
                  (int) msg->reason.len, msg->reason.ptr);
        s_refuse (self, batch, msg->seq, zo_span_str (why));
        return;
    }
    uint64_t delay_ms = msg->retry_ms ? msg->retry_ms : 100;
    uint64_t due = zo_loop_now_ns (self->loop) + delay_ms * 1000000;
    for (uint32_t i = batch->head, next; i != NIL; i = next) {
        s_slot_t *s = &self->slots [i];
        next = s->next;
        if (s->state != S_SENT || s->seq != msg->seq)
            continue;
        s->state = S_RETRY;
        s->due_ns = due;
        self->stats.resent++;
        s_push (self, &self->retry, i);
    }
    if (!self->retry_timer)
        self->retry_timer = zo_loop_timer (self->loop, delay_ms, s_on_timer, self);
}

static void
s_on_error (zo_inject_t *self, s_batch_t *batch, const zo_msg_t *msg)
{
    char why [ZO_MAX_TEXT + ZO_MAX_CODE + 8];
    snprintf (why, sizeof why, "%.*s: %.*s", (int) msg->code.len, msg->code.ptr,
              (int) msg->reason.len, msg->reason.ptr);
    if (!batch) {
        zsys_warning ("inject: broker error: %s", why);
        return;
    }
    s_refuse (self, batch, msg->seq, zo_span_str (why));
}

/*  A SUBMIT whose answer did not come, or could not be read: nobody knows
    whether the broker took its events, so they are lost (what a run that
    gives up says of everything still outstanding).  */
static void
s_lose (zo_inject_t *self, s_batch_t *batch, const char *why)
{
    zo_span_t none = { 0 };
    for (uint32_t i = batch->head, next; i != NIL; i = next) {
        s_slot_t *s = &self->slots [i];
        next = s->next;
        if (s->state != S_SENT || s->seq != batch->seq)
            continue;
        self->stats.lost++;
        s_outcome (self, s, ZO_INJECT_LOST, none, zo_span_str (why), 0, 0);
        s_slot_free (self, i);
    }
}

static void
s_on_results (zo_inject_t *self, const zo_msg_t *msg)
{
    uint64_t now = zo_loop_now_ns (self->loop);
    for (uint32_t k = 0; k < msg->n_results; k++) {
        const zo_result_t *r = &msg->results_ [k];
        char id [ZO_MAX_ID + 1];
        if (r->id.len == 0 || r->id.len > ZO_MAX_ID) {
            self->stats.unmatched++;
            continue;
        }
        memcpy (id, r->id.ptr, r->id.len);
        id [r->id.len] = 0;
        s_slot_t *s = zhashx_lookup (self->by_id, id);
        if (!s) {
            self->stats.unmatched++;
            continue;
        }
        zhashx_delete (self->by_id, id);
        s->in_map = false;
        self->last_progress_ns = now;
        uint64_t lat = now - s->t0_ns;
        zo_hist_record (&self->stats.latency, lat);
        if (r->ok)
            self->stats.ok++;
        else
            self->stats.failed++;
        s_outcome (self, s, r->ok ? ZO_INJECT_OK : ZO_INJECT_FAILED, r->result, r->error,
                   r->attempts, lat);
        uint32_t i = (uint32_t) (s - self->slots);
        if (s->state == S_SENT)
            s->got_result = true;     /* freed when its ACK comes */
        else
            s_slot_free (self, i);
    }
}

/*  The reply to one SUBMIT (the rpc matched it by seq).  */
static void
s_on_reply (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
    s_batch_t *batch = arg;
    zo_inject_t *self = batch->owner;
    if (reply->status == ZO_RPC_CLOSED || self->finished)
        return;     //  being destroyed, or given up already: counted then
    assert (reply->id == batch->seq);
    if (reply->status == ZO_RPC_OK) {
        const zo_msg_t *msg = reply->msg;
        switch (msg->cmd) {
            case ZO_CMD_ACK:   s_on_ack (self, batch, msg); break;
            case ZO_CMD_NACK:  s_on_nack (self, batch, msg); break;
            case ZO_CMD_ERROR: s_on_error (self, batch, msg); break;
            default: {
                char why [64];
                snprintf (why, sizeof why, "SUBMIT answered with %s", zo_cmd_name (msg->cmd));
                zsys_warning ("inject: %s", why);
                s_lose (self, batch, why);
            }
        }
    }
    else {
        //  Past the deadline (the same timeout_ms as the run's), or a reply
        //  the wire rules rejected (too large, not one decodable map).
        if (reply->status == ZO_RPC_TIMEOUT)
            self->stats.timed_out = true;
        else
            zsys_warning ("inject: bad reply from %s: %s", self->opts.endpoint, reply->reason);
        s_lose (self, batch, reply->status == ZO_RPC_TIMEOUT ? "no answer in time"
                                                              : reply->reason);
    }
    s_batch_free (self, batch);
    //  The loop's before-sleep hook (s_pump) sends what this made room for
    //  and checks whether the run is done.
}

/*  A message without seq: RESULTs, or an ERROR the broker could not tie
    to a request.  */
static void
s_on_message (zo_rpc_t *rpc, const zo_msg_t *msg, void *arg)
{
    zo_inject_t *self = arg;
    if (self->finished)
        return;
    switch (msg->cmd) {
        case ZO_CMD_RESULT: s_on_results (self, msg); break;
        case ZO_CMD_ERROR:  s_on_error (self, NULL, msg); break;
        default:
            zsys_debug ("inject: ignoring %s", zo_cmd_name (msg->cmd));
    }
}

/*  ---------------------------------------------------------------------
    Timers  */

static int
s_on_timer (zo_loop_t *loop, int id, void *arg)
{
    zo_inject_t *self = arg;
    uint64_t now = zo_loop_now_ns (loop);
    if (id == self->rate_timer)
        self->rate_timer = 0;
    else if (id == self->again_timer)
        self->again_timer = 0;
    else if (id == self->retry_timer) {
        self->retry_timer = 0;
        uint32_t i;
        while ((i = self->retry.head) != NIL && self->slots [i].due_ns <= now + 1000000) {
            s_pop (self, &self->retry);
            self->slots [i].state = S_READY;
            s_push (self, &self->ready, i);
        }
        if (i != NIL)
            self->retry_timer = zo_loop_timer_ns (loop, self->slots [i].due_ns - now,
                                                  s_on_timer, self);
    }
    else if (id == self->ticker) {
        bool waiting = self->in_use > 0;
        if (waiting && now - self->last_progress_ns >= self->opts.timeout_ms * 1000000) {
            self->stats.timed_out = true;
            s_give_up (self);
            self->input_done = true;
            s_finish (self);
        }
    }
    return 0;
}

int
zo_inject_start (zo_inject_t *self)
{
    assert (self);
    assert (!self->started);
    self->started = true;
    self->stats.start_ns = zo_loop_now_ns (self->loop);
    self->last_progress_ns = self->stats.start_ns;
    self->ticker = zo_loop_ticker (self->loop, 100, s_on_timer, self);
    //  Every wake-up costs the whole pipeline CPU (the send wakes the
    //  broker, the broker the workers): at 10,000 events/s, waking once per
    //  event left less CPU for the events themselves than waking at most
    //  once a millisecond (BENCHMARKS.md, W3).
    zo_loop_set_slack (self->loop, self->opts.rate > 0 ? (uint64_t) self->opts.pace_slack_us * 1000 : 0);
    if (zo_loop_before_sleep (self->loop, s_pump, self))
        return -1;
    return self->ticker > 0 ? 0 : -1;
}

void
zo_inject_stop (zo_inject_t *self)
{
    assert (self);
    if (self->finished)
        return;
    self->stats.interrupted = true;
    s_give_up (self);
    self->input_done = true;
    s_finish (self);
}
