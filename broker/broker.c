/*  broker: the actor's life cycle, its sockets and timers. See broker.h;
    producers are served in broker_front.c, workers in broker_back.c, and
    an event's fate (accepted, completed, failed, taken back, dead) is
    decided in broker_fate.c.
*/
#include "broker_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"

//  Messages taken from one socket per wakeup before the other gets a turn
//  (zmq_poll reports the socket again if more are waiting).
#define S_RECV_MAX 2048

static const char *s_counter_names [C_COUNT] = {
    "submitted_total", "accepted_total", "duplicates_total", "nacked_total",
    "dispatched_total", "completed_total", "failed_total", "retried_total",
    "dead_total", "expired_total", "redelivered_total", "late_results_total",
    "errors_total", "results_sent_total", "results_dropped_total", "emitted_total",
    "emit_overflow_total", "unroutable_total", "workers_lost_total",
    "dlq_replayed_total", "dlq_purged_total", "spooled_total", "restored_total",
    "emit_invalid_total", "journal_appends_total", "journal_syncs_total",
    "journal_bytes_total", "journal_recovered_total", "journal_corrupt_total",
    "journal_errors_total", "journal_checkpoints_total", "dlq_invalid_total",
    "workers_quieted_total"
};

static const char *s_gauge_names [G_COUNT] = {
    "queue_depth_high", "queue_depth_normal", "queue_depth_low", "queue_depth",
    "inflight", "delayed", "workers", "worker_credit", "dlq_size", "dedupe_size",
    "journal_backlog_bytes", "workers_quiet", "low_lane_deferred"
};

static void
s_finish (zo_broker_t *self);

//  ---------------------------------------------------------------------
//  Sending

int
zo__broker_send (zo_broker_t *self, void *socket, const void *ident, size_t ident_len,
                 const zo_msg_t *msg)
{
    return zo_wire_send_msg (&self->wire, socket, ident, ident_len, &self->sbuf, msg);
}

void
zo__broker_error (zo_broker_t *self, void *socket, const void *ident, size_t ident_len,
                  uint64_t seq, zo_err_t code, const char *reason)
{
    (*self->c [C_ERRORS])++;
    if (code > ZO_ERR_NONE && code < ZO_ERR_COUNT)
        (*self->errors [code])++;
    zsys_debug ("broker: ERROR %s to a %s peer: %s", zo_err_name (code),
                socket == self->front ? "front" : "back", reason ? reason : "");
    zo_wire_error (&self->wire, socket, ident, ident_len, &self->sbuf, seq, code, reason);
}

//  ---------------------------------------------------------------------
//  Sockets

static int
s_drain (zo_broker_t *self, void *socket)
{
    bool front = socket == self->front;
    zmq_msg_t ident, body;
    zmq_msg_init (&ident);
    zmq_msg_init (&body);
    for (int n = 0; n < S_RECV_MAX; n++) {
        zo_msg_t msg;
        int rc = zo_wire_recv (&self->wire, socket, &ident, &body, &msg);
        if (rc == 0)
            break;
        const void *id = zmq_msg_data (&ident);
        size_t id_len = zmq_msg_size (&ident);
        if (rc < 0) {
            //  Counted by the wire in errors_total and errors_<code>_total,
            //  like every ERROR the broker decides on.
            zsys_debug ("broker: ERROR %s to a %s peer: %s", zo_err_name (self->wire.err),
                        front ? "front" : "back", self->wire.reason);
            zo_wire_error (&self->wire, socket, id, id_len, &self->sbuf, self->wire.seq,
                           self->wire.err, self->wire.reason);
        }
        else
        if (front)
            zo__front_handle (self, id, id_len, &msg);
        else
            zo__back_handle (self, id, id_len, &msg);
    }
    zmq_msg_close (&body);
    zmq_msg_close (&ident);
    return 0;
}

static int
s_on_socket (zo_loop_t *loop, void *socket, void *arg)
{
    return s_drain ((zo_broker_t *) arg, socket);
}

//  ---------------------------------------------------------------------
//  Timers

static bool
s_idle (zo_broker_t *self)
{
    return zo_queue_size (&self->queue) == 0 && self->delayed.count == 0 && self->inflight == 0;
}

typedef struct {
    zo_broker_t *broker;
    uint64_t now_ms;
    size_t n;
} s_collect_t;

static void
s_collect_expired (zo_rec_t *rec, void *arg)
{
    s_collect_t *col = arg;
    zo_broker_t *self = col->broker;
    if (!rec->deadline_ms || rec->deadline_ms > col->now_ms)
        return;
    if (col->n == self->scratch_cap) {
        size_t cap = self->scratch_cap ? self->scratch_cap * 2 : 256;
        zo_rec_t **scratch = realloc (self->scratch, cap * sizeof (zo_rec_t *));
        if (!scratch)
            return;                  //  the next tick gets the rest
        self->scratch = scratch;
        self->scratch_cap = cap;
    }
    self->scratch [col->n++] = rec;
}

static void
s_update_gauges (zo_broker_t *self)
{
    *self->g [G_QUEUE_HIGH] = (double) zo_queue_lane_size (&self->queue, ZO_PRIO_HIGH);
    *self->g [G_QUEUE_NORMAL] = (double) zo_queue_lane_size (&self->queue, ZO_PRIO_NORMAL);
    *self->g [G_QUEUE_LOW] = (double) zo_queue_lane_size (&self->queue, ZO_PRIO_LOW);
    *self->g [G_QUEUE] = (double) zo_queue_size (&self->queue);
    *self->g [G_INFLIGHT] = (double) self->inflight;
    *self->g [G_DELAYED] = (double) self->delayed.count;
    *self->g [G_WORKERS] = (double) zo_workers_size (self->workers);
    *self->g [G_WORKER_CREDIT] = (double) zo_workers_credit (self->workers);
    *self->g [G_WORKERS_QUIET] = (double) zo_workers_quiet (self->workers);
    *self->g [G_DLQ] = (double) zo_dlq_size (self->dlq);
    *self->c [C_DLQ_INVALID] = zo_dlq_invalid (self->dlq);
    *self->g [G_DEDUPE] = (double) zo_dedupe_size (self->dedupe);
    if (self->journal) {
        //  The journal keeps its own figures (its sync thread must not
        //  touch the stats); copied here, as often as the gauges.
        const zo_journal_stats_t *js = zo_journal_stats (self->journal);
        *self->c [C_JOURNAL_APPENDS] = js->appends;
        *self->c [C_JOURNAL_SYNCS] = js->syncs;
        *self->c [C_JOURNAL_BYTES] = js->bytes;
        *self->c [C_JOURNAL_RECOVERED] = js->recovered;
        *self->c [C_JOURNAL_CORRUPT] = js->corrupt;
        *self->c [C_JOURNAL_ERRORS] = js->errors;
        *self->c [C_JOURNAL_CHECKPOINTS] = js->checkpoints;
        *self->g [G_JOURNAL_BACKLOG] = (double) zo_journal_backlog (self->journal);
    }
}

static int
s_on_tick (zo_loop_t *loop, int id, void *arg)
{
    zo_broker_t *self = arg;
    uint64_t now_ms = zo_loop_now_ms (loop);
    zo_dedupe_expire (self->dedupe, now_ms);

    //  Retries whose backoff is over go back to the queue.
    zo_rec_t *rec = self->delayed.head;
    while (rec) {
        zo_rec_t *next = rec->next;
        if (rec->due_ms <= now_ms) {
            zo_rlist_remove (&self->delayed, rec);
            zo_queue_push (&self->queue, rec, true);
        }
        rec = next;
    }
    //  Events past their deadline, wherever they are.
    s_collect_t col = { self, now_ms, 0 };
    zo_evtab_foreach (self->evtab, s_collect_expired, &col);
    for (size_t i = 0; i < col.n; i++) {
        (*self->c [C_EXPIRED])++;
        zo__broker_dead (self, self->scratch [i], "deadline exceeded");
    }
    zo__back_tick (self, now_ms);
    //  Gauges are read once a second (STATS); refreshing them here, not
    //  on every wake-up, keeps the per-worker sum off the hot path.
    s_update_gauges (self);
    return 0;
}

//  Wakes the loop when held ACKs are due; before-sleep sends them.
static int
s_on_ack_timer (zo_loop_t *loop, int id, void *arg)
{
    ((zo_broker_t *) arg)->ack_timer = 0;
    return 0;
}

static int
s_before_sleep (zo_loop_t *loop, void *arg)
{
    zo_broker_t *self = arg;
    if (self->finished)
        return 0;
    zo__back_dispatch (self);
    if (self->journal) {
        zo_outbox_set_durable (self->outbox, zo_journal_synced (self->journal));
        if (zo_journal_failed (self->journal) && !self->journal_down) {
            self->journal_down = true;
            zo_outbox_fail (self->outbox);
        }
    }
    uint64_t now_ns = zo_loop_now_ns (loop);
    uint64_t ack_due = zo_outbox_flush (self->outbox, now_ns);
    if (ack_due && self->ack_timer && ack_due < self->ack_timer_ns) {
        //  ACKs are held for the same delay, so the first held is the first
        //  due, except when the journal releases an older one late.
        zo_loop_cancel (loop, self->ack_timer);
        self->ack_timer = 0;
    }
    if (ack_due && !self->ack_timer) {
        self->ack_timer = zo_loop_timer_ns (loop, ack_due > now_ns ? ack_due - now_ns : 0,
                                            s_on_ack_timer, self);
        if (self->ack_timer < 0)
            self->ack_timer = 0;
        self->ack_timer_ns = ack_due;
    }
    else
    if (!ack_due && self->ack_timer) {
        //  Every held ACK left with a RESULT: no reason to wake up.
        zo_loop_cancel (loop, self->ack_timer);
        self->ack_timer = 0;
    }
    //  Dead letters are durable before the journal's dels of their events
    //  are written: a failed flush holds the journal back until it works.
    if (zo_dlq_flush (self->dlq) == 0 && self->journal)
        zo_journal_kick (self->journal);
    if (self->draining && s_idle (self)) {
        zsys_info ("broker: drained");
        s_finish (self);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Shutdown and the spool

static void
s_spool_rec (zo_rec_t *rec, void *arg)
{
    zo_broker_t *self = ((void **) arg) [0];
    zo_spool_t *spool = ((void **) arg) [1];
    uint64_t left = zo__left_ms (rec->deadline_ms, zo_loop_now_ms (self->loop));
    zo_spool_add (spool, zo_rec_raw (rec), rec->attempt, left);
}

//  Writes every record still held to the spool (or removes an old spool
//  when there is none).
static void
s_spool (zo_broker_t *self)
{
    zo_spool_t *spool = zo_spool_new ();
    if (!spool) {
        zsys_error ("broker: out of memory: %zu events not spooled", zo_evtab_size (self->evtab));
        return;
    }
    void *args [2] = { self, spool };
    zo_evtab_foreach (self->evtab, s_spool_rec, args);
    if (zo_spool_save (spool, self->data_dir) == 0 && zo_spool_count (spool)) {
        *self->c [C_SPOOLED] += zo_spool_count (spool);
        zsys_info ("broker: %zu events spooled to %s/%s", zo_spool_count (spool),
                   self->data_dir, ZO_SPOOL_FILE);
    }
    zo_spool_destroy (&spool);
}

//  Makes what is held durable before the process goes: dead letters, then
//  the journal (whatever is still live stays in it for the next start), or
//  without a working journal the spool; ACKs and RESULTs still held are
//  sent.
static void
s_persist (zo_broker_t *self)
{
    zo_dlq_flush (self->dlq);
    if (self->journal) {
        zo_journal_sync (self->journal);
        zo_outbox_set_durable (self->outbox, zo_journal_synced (self->journal));
        if (zo_journal_failed (self->journal))
            zo_outbox_fail (self->outbox);
    }
    zo_outbox_flush (self->outbox, UINT64_MAX);
    //  A failed journal lacks what came after the failure: the spool may
    //  still keep it (on another disk's luck), and what is in both comes
    //  back once.
    if (!self->journal || zo_journal_failed (self->journal))
        s_spool (self);
}

static void
s_finish (zo_broker_t *self)
{
    if (self->finished)
        return;
    self->finished = true;
    s_persist (self);
    s_update_gauges (self);
    zo_loop_stop (self->loop);
}

//  The first SIGTERM or SIGINT (zo_drain): refuse new events, finish
//  what is held; before-sleep stops once idle.
static int
s_on_drain (void *arg, int signum)
{
    zo_broker_t *self = arg;
    self->draining = true;
    //  Finishing means all of it: a deferred low lane runs again.
    if (zo_queue_low_deferred (&self->queue)) {
        zo_queue_defer_low (&self->queue, false);
        *self->g [G_LOW_DEFERRED] = 0;
        zsys_info ("broker: draining: the low lane runs again");
    }
    zsys_info ("broker: draining (%zu queued, %zu delayed, %zu in flight; grace %llu ms)",
               zo_queue_size (&self->queue), self->delayed.count, self->inflight,
               (unsigned long long) self->grace_ms);
    return 0;
}

//  A second signal or the grace's end: what is left is persisted.
static int
s_on_force (void *arg, zo_drain_why_t why)
{
    zo_broker_t *self = arg;
    if (self->finished)
        return 0;
    if (why == ZO_DRAIN_SIGNAL)
        zsys_warning ("broker: second signal, stopping now");
    else
        zsys_warning ("broker: grace period over with %zu queued, %zu delayed, %zu in flight",
                      zo_queue_size (&self->queue), self->delayed.count, self->inflight);
    s_finish (self);
    return 0;
}

//  Pressure (zo_pressure): from step 1 the low lane is deferred, until the
//  step is 0 again. Dispatch sees it only in the queue (zo_queue_ready,
//  zo_queue_pop), and the next before-sleep dispatches what was deferred.
static void
s_on_pressure (void *arg, int step, int before)
{
    zo_broker_t *self = arg;
    bool defer = step >= 1 && !self->draining;
    if (defer == zo_queue_low_deferred (&self->queue))
        return;
    zo_queue_defer_low (&self->queue, defer);
    *self->g [G_LOW_DEFERRED] = defer;
    size_t low = zo_queue_lane_size (&self->queue, ZO_PRIO_LOW);
    if (defer)
        zsys_info ("broker: pressure step %d: the low lane is deferred (%zu low events wait)",
                   step, low);
    else
        zsys_info ("broker: pressure step %d: the low lane runs again (%zu low events)", step, low);
    zo_stats_note (self->actor->stats, "pressure step %d: low lane %s, %zu low events queued",
                   step, defer ? "deferred" : "runs again", low);
}

void
zo_broker_drain (zo_broker_t *self)
{
    zo_drain_start (self->drain, 0);
}

//  ---------------------------------------------------------------------
//  Construction

static void *
s_socket (zo_broker_t *self, const char *endpoint, char *bound, size_t size)
{
    void *socket = zo_actor_socket (self->actor, ZMQ_ROUTER, endpoint, true,
                                    &(zo_sockopts_t) { .hwm = 100000 });
    if (!socket)
        return NULL;
    //  Sends to a vanished peer fail (EHOSTUNREACH) and are counted rather
    //  than dropped silently. A short linger lets the last RESULTs of a
    //  drain leave before the process exits.
    int one = 1, linger = 1000;
    zmq_setsockopt (socket, ZMQ_ROUTER_MANDATORY, &one, sizeof (one));
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof (linger));
    zmq_getsockopt (socket, ZMQ_LAST_ENDPOINT, bound, &size);
    return socket;
}

zo_broker_t *
zo_broker_new (zo_actor_t *actor)
{
    zo_broker_t *self = calloc (1, sizeof (zo_broker_t));
    if (!self)
        return NULL;
    self->actor = actor;
    self->loop = actor->loop;
    zo_conf_t *conf = actor->conf;
    //  Every number is range-checked: a value out of range stops the
    //  start (exit 2) with the key and its range in the log, rather than
    //  wrapping (a negative queue_max would be an unbounded queue) or
    //  being clamped without a word.
    self->queue_max = (size_t) zo_conf_int_range (conf, "broker/queue_max", 10000, 1, 100000000);
    self->max_frame = zo_wire_conf_max_frame (conf);
    self->batch_max = (size_t) zo_conf_int_range (conf, "broker/batch_max", 256, 1, ZO_MAX_BATCH);
    self->max_attempts = (uint32_t) zo_conf_int_range (conf, "broker/max_attempts", 3, 1, 1000000);
    //  Deadlines travel as uint32 ms (an event's deadline_ms).
    self->deadline_ms = zo_conf_ms_range (conf, "broker/deadline", 300000, 0, UINT32_MAX);
    self->heartbeat_ms = zo_conf_ms_range (conf, "broker/heartbeat", 1000, 10, 3600000);
    self->retry_hint_ms = zo_conf_ms_range (conf, "broker/retry_hint", 100, 0, 3600000);
    self->retry_backoff_ms = zo_conf_ms_range (conf, "broker/retry_backoff", 100, 0, 3600000);
    self->grace_ms = zo_conf_ms_range (conf, "broker/grace", 10000, 0, 86400000);
    self->ack_delay_ns = zo_conf_ms_range (conf, "broker/ack_delay", 1, 0, 10000) * 1000000;
    uint64_t window = zo_conf_ms_range (conf, "broker/dedupe_window", 600000, 0, 7 * 86400000ull);
    int64_t dedupe_max = zo_conf_int_range (conf, "broker/dedupe_max", 1000000, 1, 100000000);
    self->data_dir = strdup (zo_conf_str (conf, "broker/data_dir", "/tmp/zorch"));
    bool journal = zo_conf_bool (conf, "broker/journal", false);
    uint64_t segment_max = zo_conf_size_range (conf, "broker/journal_segment", 64 << 20,
                                               1 << 20, 64ull << 30);
    //  0 = a quarter of the heartbeat: deadlines, retries and dead workers
    //  are then noticed within that much.
    uint64_t tick_ms = zo_conf_ms_range (conf, "broker/tick", 0, 0, 60000);
    if (tick_ms == 0)
        tick_ms = zo_heartbeat_tick_ms (self->heartbeat_ms);
    if (zo_conf_bad (conf)) {
        zsys_error ("broker: bad configuration: %s", zo_conf_errstr (conf));
        free (self->data_dir);
        free (self);
        return NULL;
    }

    msgpack_sbuffer_init (&self->sbuf);
    msgpack_sbuffer_init (&self->evbuf);
    zo_queue_init (&self->queue, self->queue_max);
    for (int i = 0; i < C_COUNT; i++)
        self->c [i] = zo_stats_counter (actor->stats, s_counter_names [i]);
    for (int i = ZO_ERR_NONE + 1; i < ZO_ERR_COUNT; i++) {
        char name [64];
        snprintf (name, sizeof (name), "errors_%s_total", zo_err_name ((zo_err_t) i));
        self->errors [i] = zo_stats_counter (actor->stats, name);
    }
    for (int i = 0; i < G_COUNT; i++)
        self->g [i] = zo_stats_gauge (actor->stats, s_gauge_names [i]);
    self->latency = zo_stats_hist (actor->stats, "latency_ns");

    if (!self->data_dir
    ||  !(self->dec = zo_proto_new ())
    ||  !(self->evdec = zo_proto_new ())
    ||  !(self->evtab = zo_evtab_new ())
    ||  !(self->dedupe = zo_dedupe_new (window, (size_t) dedupe_max))
    ||  !(self->workers = zo_workers_new ())
    ||  !(self->items = calloc (self->batch_max, sizeof (zo_item_t)))
    ||  !(self->dead_items = calloc (ZO_MAX_BATCH, sizeof (zo_dead_t))))
        goto err;
    zo_proto_set_max_frame (self->dec, self->max_frame);
    zo_wire_init (&self->wire, self->dec, self->max_frame);
    zo_wire_count (&self->wire, actor->stats, s_counter_names [C_UNROUTABLE],
                   s_counter_names [C_ERRORS], "errors_%s_total");
    if (!(self->dlq = zo_dlq_new (self->data_dir)))
        goto err;
    if (!(self->front = s_socket (self, zo_conf_str (conf, "broker/front", "tcp://127.0.0.1:7010"),
                                  self->front_ep, sizeof (self->front_ep)))
    ||  !(self->back = s_socket (self, zo_conf_str (conf, "broker/back", "tcp://127.0.0.1:7011"),
                                 self->back_ep, sizeof (self->back_ep))))
        goto err;
    self->outbox = zo_outbox_new (self->front, self->batch_max, self->max_frame,
                                  self->c [C_RESULTS_SENT], self->c [C_RESULTS_DROPPED]);
    if (!self->outbox)
        goto err;
    //  Stored events come back from the journal, then from a spool left
    //  by a broker that ran without one; the journal's first checkpoint,
    //  made durable before the loop starts, then holds them all.
    self->restoring = true;
    if (journal && zo__broker_journal_open (self, segment_max))
        goto err;
    int restored = zo_spool_load (self->data_dir, zo__broker_restore, self);
    if (restored > 0)
        zsys_info ("broker: %d events restored from the spool", restored);
    self->restoring = false;
    if (self->journal && zo__broker_journal_start (self))
        goto err;

    if (!(self->front_watch = zo_loop_add_socket (self->loop, self->front, s_on_socket, self))
    ||  !(self->back_watch = zo_loop_add_socket (self->loop, self->back, s_on_socket, self))
    ||  (self->ticker = zo_loop_ticker (self->loop, tick_ms, s_on_tick, self)) < 0
    ||  !(self->drain = zo_drain_new (self->loop, self->grace_ms, s_on_drain, s_on_force, self))
    ||  !(self->pressure = zo_pressure_src_start (actor, "broker", s_on_pressure, self))
    ||  zo_loop_before_sleep (self->loop, s_before_sleep, self))
        goto err;
    zsys_info ("ready front=%s back=%s", self->front_ep, self->back_ep);
    return self;
err:
    zsys_error ("broker: cannot start");
    self->finished = true;           //  nothing to spool
    zo_broker_destroy (&self);
    return NULL;
}

void
zo_broker_destroy (zo_broker_t **self_p)
{
    assert (self_p);
    zo_broker_t *self = *self_p;
    if (!self)
        return;
    if (!self->finished && self->evtab && self->dlq)
        s_persist (self);
    if (self->loop) {
        zo_loop_before_sleep_remove (self->loop, s_before_sleep, self);
        zo_drain_destroy (&self->drain);
        zo_pressure_src_destroy (&self->pressure);
        if (self->ticker > 0)
            zo_loop_cancel (self->loop, self->ticker);
        zo_loop_unwatch (self->loop, &self->front_watch);
        zo_loop_unwatch (self->loop, &self->back_watch);
        zo_loop_unwatch (self->loop, &self->journal_watch);
    }
    //  Before the table: a last sync may start a segment, whose checkpoint
    //  reads the table.
    zo_journal_destroy (&self->journal);
    zo_outbox_destroy (&self->outbox);
    if (self->front)
        zmq_close (self->front);
    if (self->back)
        zmq_close (self->back);
    //  Records held by workers are freed with the table.
    zo_workers_destroy (&self->workers);
    zo_evtab_destroy (&self->evtab);
    zo_dedupe_destroy (&self->dedupe);
    zo_dlq_destroy (&self->dlq);
    zo_proto_destroy (&self->dec);
    zo_proto_destroy (&self->evdec);
    msgpack_sbuffer_destroy (&self->sbuf);
    msgpack_sbuffer_destroy (&self->evbuf);
    free (self->items);
    free (self->dead_items);
    free (self->scratch);
    free (self->data_dir);
    free (self);
    *self_p = NULL;
}

const char *
zo_broker_front_endpoint (zo_broker_t *self)
{
    return self->front_ep;
}

const char *
zo_broker_back_endpoint (zo_broker_t *self)
{
    return self->back_ep;
}
