/*  worker: see worker.h.  */
#include "worker.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "inflight.h"
#include "routes.h"
#include "zo_drain.h"
#include "zo_heartbeat.h"
#include "zo_pressure.h"
#include "zo_proto.h"
#include "zo_wire.h"

/*  A DONE is flushed before it would pass broker/max_frame: its bytes
    are counted as the results' own plus at most this much msgpack per
    result or emitted event (map headers, keys, numbers), plus the DONE's
    own fields. A single result larger than half the frame fails instead.  */
#define S_ITEM_OVERHEAD 64
#define S_DONE_OVERHEAD 256

/*  A received frame, kept alive while items that point into it run.  */
typedef struct s_frame {
    zmq_msg_t msg;
    uint32_t refs;
    struct s_frame *next_free;
} s_frame_t;

/*  A pending result / emitted event, as offsets into the arena (which may
    move when it grows); pointers are made at flush time.  */
typedef struct {
    uint32_t id_off, id_len, res_off, res_len, err_off, err_len;
    uint32_t emit_first, emit_count;
    uint64_t took_ns;
    bool ok, final;
} s_pend_t;

typedef struct {
    uint32_t id_off, id_len, type_off, type_len, payload_off, payload_len;
} s_pemit_t;

struct _zo_worker_t {
    zo_actor_t *actor;
    zo_loop_t *loop;
    const char *endpoint;
    uint32_t capacity;
    uint32_t window;            /* capacity, less under pressure: what credit fills */
    size_t max_frame;           /* broker/max_frame */
    uint64_t heartbeat_ms;
    uint64_t grace_ms;
    void *socket;
    zo_watch_t *watch;          /* the socket's, on the loop */
    zo_proto_t *decoder;
    zo_wire_t wire;             /* the wire rules, on decoder */
    zo_hctx_t *hctx;            /* what the handlers get (context.h) */
    zo_routes_t *routes;
    zo_inflight_t *inflight;
    /* flow control */
    uint32_t granted;           /* credit the broker has and has not used */
    zo_heartbeat_t hb;          /* with the broker */
    uint64_t ready_ms;
    int hb_ticker;
    zo_drain_t *drain;          /* SIGTERM/SIGINT: finish, BYE, stop */
    zo_pressure_src_t *pressure;
    bool stopping, stopped;
    bool quiet;                 /* the broker sends nothing more (QUIET) */
    /* the next DONE */
    s_pend_t pend [ZO_MAX_BATCH];
    uint32_t n_pend;
    s_pemit_t pemit [ZO_MAX_BATCH];
    uint32_t n_pemit;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    zo_result_t out_results [ZO_MAX_BATCH];
    zo_event_t out_events [ZO_MAX_BATCH];
    msgpack_sbuffer out;
    s_frame_t *frames_free;
    /* metrics */
    uint64_t *protocol_errors, *over_credit, *reconnects, *send_errors, *dropped, *dones;
    uint64_t *emit_refused;     /* NACKs: follow-ups the broker's queue could not take */
    uint64_t emit_refused_log_ms;
    double *inflight_gauge, *credit_gauge, *quiet_gauge, *window_gauge;
};

static int s_on_socket (zo_loop_t *loop, void *socket, void *arg);

static int
s_send (zo_worker_t *self, const zo_msg_t *msg)
{
    //  Counted by the wire in send_errors_total.
    if (zo_wire_send_msg (&self->wire, self->socket, NULL, 0, &self->out, msg)) {
        zo_log_warning ("worker: cannot send %s: %s", zo_cmd_name (msg->cmd),
                        zmq_strerror (zmq_errno ()));
        return -1;
    }
    zo_heartbeat_sent (&self->hb, zo_loop_now_ms (self->loop));
    return 0;
}

/*  What can be granted now: free slots of the window not yet promised.
    Nothing once stopping, or quiet (the broker would ignore it).  */
static uint32_t
s_free_credit (zo_worker_t *self)
{
    if (self->stopping || self->quiet)
        return 0;
    uint32_t used = zo_inflight_count (self->inflight) + self->granted;
    return used < self->window ? self->window - used : 0;
}

static void
s_send_ready (zo_worker_t *self)
{
    uint32_t inflight = zo_inflight_count (self->inflight);
    uint32_t credit = self->stopping || self->quiet || inflight >= self->window
                    ? 0 : self->window - inflight;
    zo_msg_t msg = { .cmd = ZO_CMD_READY, .name = zo_span_str (self->actor->name),
                     .capacity = self->capacity, .credit = credit };
    if (s_send (self, &msg) == 0) {
        self->granted = credit;
        *self->credit_gauge = credit;
    }
    self->ready_ms = zo_loop_now_ms (self->loop);
}

static int
s_connect (zo_worker_t *self)
{
    self->socket = zo_actor_socket (self->actor, ZMQ_DEALER, self->endpoint, false, NULL);
    if (!self->socket)
        return -1;
    self->watch = zo_loop_add_socket (self->loop, self->socket, s_on_socket, self);
    if (!self->watch) {
        zmq_close (self->socket);
        self->socket = NULL;
        return -1;
    }
    zo_heartbeat_heard (&self->hb, zo_loop_now_ms (self->loop));
    s_send_ready (self);
    return 0;
}

static void
s_disconnect (zo_worker_t *self, int linger)
{
    if (!self->socket)
        return;
    zo_loop_unwatch (self->loop, &self->watch);
    zmq_setsockopt (self->socket, ZMQ_LINGER, &linger, sizeof (linger));
    zmq_close (self->socket);
    self->socket = NULL;
}

/*  Sends what is pending as one DONE (or a bare CREDIT).  */
static void
s_flush (zo_worker_t *self)
{
    if (!self->socket) {
        *self->dropped += self->n_pend;
        self->n_pend = self->n_pemit = 0;
        self->arena_len = 0;
        return;
    }
    uint32_t credit = s_free_credit (self);
    if (self->n_pend == 0 && credit == 0)
        return;
    zo_msg_t msg = { .cmd = self->n_pend ? ZO_CMD_DONE : ZO_CMD_CREDIT, .credit = credit };
    if (self->n_pend) {
        for (uint32_t i = 0; i < self->n_pemit; i++) {
            s_pemit_t *p = &self->pemit [i];
            self->out_events [i] = (zo_event_t) {
                .id = { self->arena + p->id_off, p->id_len },
                .type = { self->arena + p->type_off, p->type_len },
                .payload = { p->payload_len ? self->arena + p->payload_off : NULL, p->payload_len },
            };
        }
        for (uint32_t i = 0; i < self->n_pend; i++) {
            s_pend_t *p = &self->pend [i];
            self->out_results [i] = (zo_result_t) {
                .id = { self->arena + p->id_off, p->id_len },
                .ok = p->ok,
                .result = { p->res_len ? self->arena + p->res_off : NULL, p->res_len },
                .error = { p->err_len ? self->arena + p->err_off : NULL, p->err_len },
                .took_ns = p->took_ns,
                .final = p->final,
                .emit = p->emit_count ? &self->out_events [p->emit_first] : NULL,
                .emit_count = p->emit_count,
            };
        }
        msg.results_ = self->out_results;
        msg.n_results = self->n_pend;
        (*self->dones)++;
    }
    if (s_send (self, &msg) == 0)
        self->granted += credit;
    else
    if (self->n_pend)
        *self->dropped += self->n_pend;
    *self->credit_gauge = self->granted;
    self->n_pend = 0;
    self->n_pemit = 0;
    self->arena_len = 0;
}

static int
s_arena_put (zo_worker_t *self, const void *data, size_t len, uint32_t *off)
{
    if (self->arena_len + len > self->arena_cap) {
        size_t cap = self->arena_cap ? self->arena_cap : 64 * 1024;
        while (cap < self->arena_len + len)
            cap *= 2;
        uint8_t *arena = realloc (self->arena, cap);
        if (!arena)
            return -1;
        self->arena = arena;
        self->arena_cap = cap;
    }
    *off = (uint32_t) self->arena_len;
    if (len)
        memcpy (self->arena + self->arena_len, data, len);
    self->arena_len += len;
    return 0;
}

/*  The inflight sink: appends one outcome to the next DONE.  */
static void
s_on_result (void *arg, const zo_result_t *res, const zo_event_t *emits, uint32_t n_emits)
{
    zo_worker_t *self = arg;
    size_t bytes = res->id.len + res->result.len + res->error.len;
    for (uint32_t i = 0; i < n_emits; i++)
        bytes += emits [i].id.len + emits [i].type.len + emits [i].payload.len;
    size_t result_max = self->max_frame / 2;
    bool too_large = bytes > result_max;
    if (too_large) {
        zo_log_warning ("worker: result of %.*s is %zu bytes, over %zu: reported as failed",
                        (int) res->id.len, res->id.ptr, bytes, result_max);
        n_emits = 0;
        bytes = res->id.len + 32;
    }
    size_t items = (size_t) self->n_pend + self->n_pemit + 1 + n_emits;
    if (self->n_pend == ZO_MAX_BATCH || self->n_pemit + n_emits > ZO_MAX_BATCH
    ||  self->arena_len + bytes + items * S_ITEM_OVERHEAD + S_DONE_OVERHEAD > self->max_frame)
        s_flush (self);
    s_pend_t *p = &self->pend [self->n_pend];
    memset (p, 0, sizeof (*p));
    p->ok = res->ok && !too_large;
    p->final = res->final;
    p->took_ns = res->took_ns;
    p->id_len = res->id.len;
    int rc = s_arena_put (self, res->id.ptr, res->id.len, &p->id_off);
    if (too_large) {
        const char *error = "result too large";
        p->err_len = (uint32_t) strlen (error);
        rc |= s_arena_put (self, error, p->err_len, &p->err_off);
    }
    else {
        p->res_len = res->result.len;
        p->err_len = res->error.len;
        rc |= s_arena_put (self, res->result.ptr, res->result.len, &p->res_off);
        rc |= s_arena_put (self, res->error.ptr, res->error.len, &p->err_off);
        p->emit_first = self->n_pemit;
        for (uint32_t i = 0; i < n_emits && rc == 0; i++) {
            s_pemit_t *e = &self->pemit [self->n_pemit + i];
            e->id_len = emits [i].id.len;
            e->type_len = emits [i].type.len;
            e->payload_len = emits [i].payload.len;
            rc |= s_arena_put (self, emits [i].id.ptr, e->id_len, &e->id_off);
            rc |= s_arena_put (self, emits [i].type.ptr, e->type_len, &e->type_off);
            rc |= s_arena_put (self, emits [i].payload.ptr, e->payload_len, &e->payload_off);
        }
        p->emit_count = n_emits;
    }
    if (rc) {
        (*self->dropped)++;
        zo_log_error ("worker: out of memory, result of %.*s dropped", (int) res->id.len, res->id.ptr);
        return;
    }
    self->n_pemit += p->emit_count;
    self->n_pend++;
}

static void
s_frame_release (void *arg, void *frame_)
{
    zo_worker_t *self = arg;
    s_frame_t *frame = frame_;
    assert (frame->refs > 0);
    if (--frame->refs == 0) {
        zmq_msg_close (&frame->msg);
        frame->next_free = self->frames_free;
        self->frames_free = frame;
    }
}

static void
s_on_dispatch (zo_worker_t *self, const zo_msg_t *msg, s_frame_t *frame)
{
    for (uint32_t i = 0; i < msg->n_items; i++) {
        const zo_item_t *item = &msg->items [i];
        if (self->granted > 0)
            self->granted--;
        else {
            (*self->over_credit)++;
            zo_log_warning ("worker: broker sent %.*s beyond the credit granted",
                            (int) item->event.id.len, item->event.id.ptr);
        }
        frame->refs++;
        if (zo_inflight_start (self->inflight, item, frame)) {
            frame->refs--;
            zo_result_t res = { .id = item->event.id, .ok = false,
                                .error = zo_span_str ("worker over capacity") };
            s_on_result (self, &res, NULL, 0);
        }
    }
    *self->credit_gauge = self->granted;
}

//  msg was decoded from frame (and borrows from it).
static void
s_on_message (zo_worker_t *self, s_frame_t *frame, zo_msg_t *msg_)
{
    zo_msg_t msg = *msg_;
    switch (msg.cmd) {
        case ZO_CMD_DISPATCH:
            s_on_dispatch (self, &msg, frame);
            break;
        case ZO_CMD_HEARTBEAT:
        case ZO_CMD_PONG:
            break;
        case ZO_CMD_PING: {
            zo_msg_t pong = { .cmd = ZO_CMD_PONG, .seq = msg.seq };
            s_send (self, &pong);
            break;
        }
        case ZO_CMD_NACK: {
            /*  The broker's queue could not take the follow-up events of
                some results of a DONE (PROTOCOL.md): those events failed
                there and come back after the backoff. Logged once per
                heartbeat at most, counted always.  */
            (*self->emit_refused)++;
            uint64_t now = zo_loop_now_ms (self->loop);
            if (now - self->emit_refused_log_ms >= self->heartbeat_ms || !self->emit_refused_log_ms) {
                self->emit_refused_log_ms = now;
                zo_log_warning ("worker: broker says %.*s: %.*s", (int) msg.code.len, msg.code.ptr,
                                (int) msg.reason.len, msg.reason.ptr);
            }
            break;
        }
        case ZO_CMD_QUIET:
            /*  Before a scale-down (PROTOCOL.md): nothing more comes; what
                runs finishes and is reported as usual, and SIGTERM stops
                the worker as ever. Quiet is for good, so no more credit
                is granted, even to a broker this worker reconnects to.  */
            if (!self->quiet) {
                self->quiet = true;
                *self->quiet_gauge = 1;
                zo_log_info ("worker: quiet: the broker sends no more events; %u in flight finish",
                             zo_inflight_count (self->inflight));
                zo_stats_note (self->actor->stats, "quiet: %u in flight finish",
                               zo_inflight_count (self->inflight));
            }
            break;
        case ZO_CMD_ERROR:
            if (zo_err_lookup (msg.code) == ZO_ERR_NOT_READY) {
                /*  Replies to what was sent before the last READY say
                    nothing new: answer once per heartbeat at most.  */
                uint64_t now = zo_loop_now_ms (self->loop);
                if (now - self->ready_ms >= self->heartbeat_ms || self->ready_ms == 0) {
                    zo_log_info ("worker: broker does not know us (not_ready): READY again");
                    s_send_ready (self);
                }
            }
            else {
                (*self->protocol_errors)++;
                zo_log_warning ("worker: broker says %.*s: %.*s", (int) msg.code.len, msg.code.ptr,
                                (int) msg.reason.len, msg.reason.ptr);
            }
            break;
        default:
            (*self->protocol_errors)++;
            zo_log_warning ("worker: unexpected %s from broker", zo_cmd_name (msg.cmd));
    }
}

static int
s_on_socket (zo_loop_t *loop, void *socket, void *arg)
{
    zo_worker_t *self = arg;
    while (self->socket == socket) {
        s_frame_t *frame = self->frames_free;
        if (frame)
            self->frames_free = frame->next_free;
        else
        if (!(frame = malloc (sizeof (*frame)))) {
            zo_log_error ("worker: out of memory");
            break;
        }
        zmq_msg_init (&frame->msg);
        frame->refs = 1;        /* ours, while we read it */
        zo_msg_t msg;
        int rc = zo_wire_recv (&self->wire, socket, NULL, &frame->msg, &msg);
        if (rc == 0) {
            s_frame_release (self, frame);
            break;
        }
        zo_heartbeat_heard (&self->hb, zo_loop_now_ms (loop));
        if (rc < 0)
            //  Counted by the wire in protocol_errors_total. No ERROR goes
            //  back: a broker that sends bad messages would not read it.
            zo_log_warning ("worker: bad message from broker: %s: %s",
                            zo_err_name (self->wire.err), self->wire.reason);
        else
            s_on_message (self, frame, &msg);
        s_frame_release (self, frame);
    }
    return 0;
}

static void
s_say_bye (zo_worker_t *self)
{
    s_flush (self);
    zo_msg_t bye = { .cmd = ZO_CMD_BYE };
    if (self->socket)
        s_send (self, &bye);
    zo_log_info ("worker: %s stopped", self->actor->name);
    self->stopped = true;
    zo_loop_stop (self->loop);
}

static int
s_before_sleep (zo_loop_t *loop, void *arg)
{
    zo_worker_t *self = arg;
    if (self->stopping) {
        if (zo_inflight_count (self->inflight) == 0 && !self->stopped)
            s_say_bye (self);
        return self->stopped ? -1 : 0;
    }
    s_flush (self);
    return 0;
}

//  The first SIGTERM or SIGINT (zo_drain): no more credit; before-sleep
//  says BYE once nothing runs.
static int
s_on_drain (void *arg, int signum)
{
    zo_worker_t *self = arg;
    self->stopping = true;
    zo_log_info ("worker: stopping, %u events in flight (grace %" PRIu64 " ms)",
                 zo_inflight_count (self->inflight), self->grace_ms);
    return 0;
}

//  A second signal or the grace's end: what runs is cancelled as
//  retryable, so the broker gives it to another worker.
static int
s_on_force (void *arg, zo_drain_why_t why)
{
    zo_worker_t *self = arg;
    if (why == ZO_DRAIN_SIGNAL)
        zo_log_info ("worker: second signal, cancelling what runs");
    else
    if (zo_inflight_count (self->inflight))
        zo_log_warning ("worker: grace over, %u events cancelled (they will be retried)",
                        zo_inflight_count (self->inflight));
    zo_inflight_cancel_all (self->inflight, "worker stopping", false);
    return 0;
}

static int
s_on_heartbeat (zo_loop_t *loop, int id, void *arg)
{
    zo_worker_t *self = arg;
    uint64_t now = zo_loop_now_ms (loop);
    zo_heartbeat_due_t due = zo_heartbeat_due (&self->hb, now, self->heartbeat_ms);
    if (due == ZO_HEARTBEAT_DEAD) {
        (*self->reconnects)++;
        zo_log_warning ("worker: broker silent for %" PRIu64 " ms, reconnecting to %s",
                        now - self->hb.heard_ms, self->endpoint);
        s_disconnect (self, 0);
        if (s_connect (self))
            zo_heartbeat_heard (&self->hb, now);    /* try again in 3 intervals */
        return 0;
    }
    if (self->socket && due == ZO_HEARTBEAT_SEND) {
        zo_msg_t hb = { .cmd = ZO_CMD_HEARTBEAT };
        s_send (self, &hb);
    }
    return 0;
}

/*  Pressure (zo_pressure): the window shrinks to 75, 50, 25 % of
    capacity at steps 1, 2, 3. Credit the broker holds is not taken back:
    less is granted as events finish, until what is promised fits the
    window again; when the window grows, before-sleep grants the room.  */
static void
s_on_pressure (void *arg, int step, int before)
{
    zo_worker_t *self = arg;
    static const uint32_t percent [ZO_PRESSURE_STEPS + 1] = { 100, 75, 50, 25 };
    uint64_t window = (uint64_t) self->capacity * percent [step] / 100;
    window = window ? window : 1;
    if (window == self->window)
        return;
    zo_log_info ("worker: pressure step %d: credit window %" PRIu64 " of %u (was %u)", step,
                 window, self->capacity, self->window);
    zo_stats_note (self->actor->stats, "pressure step %d: credit window %" PRIu64 " of %u", step,
                   window, self->capacity);
    self->window = (uint32_t) window;
    *self->window_gauge = (double) window;
}

zo_worker_t *
zo_worker_new (zo_actor_t *actor)
{
    zo_worker_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    zo_conf_t *conf = actor->conf;
    self->actor = actor;
    self->loop = actor->loop;
    self->endpoint = zo_conf_str (conf, "worker/broker", "tcp://127.0.0.1:7011");
    //  Every number is range-checked: out of range, the worker does not
    //  start (exit 2) and the log names the key and its range.
    int64_t capacity = zo_conf_int_range (conf, "worker/capacity", 1000, 1, 1000000);
    self->capacity = self->window = (uint32_t) capacity;
    //  The frame limit both sides of the back socket share: a DISPATCH is
    //  decoded, and a DONE packed, up to the broker's own limit.
    self->max_frame = zo_wire_conf_max_frame (conf);
    self->heartbeat_ms = zo_conf_ms_range (conf, "worker/heartbeat", 1000, 10, 3600000);
    self->grace_ms = zo_conf_ms_range (conf, "worker/grace", 10000, 0, 86400000);
    uint64_t timeout = zo_conf_ms_range (conf, "worker/timeout", 30000, 1, ZO_ROUTE_TIMEOUT_MAX);
    int64_t attempts = zo_conf_int_range (conf, "worker/attempts", 3, 1, 1000000);
    if (zo_conf_bad (conf)) {
        zo_log_error ("worker: bad configuration: %s", zo_conf_errstr (conf));
        goto fail;
    }
    zo_stats_t *stats = actor->stats;
    self->protocol_errors = zo_stats_counter (stats, "protocol_errors_total");
    self->over_credit = zo_stats_counter (stats, "over_credit_total");
    self->reconnects = zo_stats_counter (stats, "reconnects_total");
    self->send_errors = zo_stats_counter (stats, "send_errors_total");
    self->dropped = zo_stats_counter (stats, "dropped_total");
    self->dones = zo_stats_counter (stats, "done_messages_total");
    self->emit_refused = zo_stats_counter (stats, "emit_refused_total");
    *zo_stats_gauge (stats, "capacity") = (double) capacity;
    self->credit_gauge = zo_stats_gauge (stats, "credit");
    self->quiet_gauge = zo_stats_gauge (stats, "quiet");
    self->window_gauge = zo_stats_gauge (stats, "capacity_effective");
    *self->window_gauge = (double) capacity;
    self->hctx = zo_hctx_new (self->loop, actor->zmq_ctx, stats, conf,
                              zo_conf_str (conf, "worker/plugin_dir", ""));
    if (!self->hctx)
        goto fail;
    self->routes = zo_routes_new (timeout, (uint32_t) attempts, self->hctx);
    if (!self->routes)
        goto fail;
    if (zo_routes_load (self->routes, zconfig_locate (zo_conf_tree (conf), "worker/routes"))) {
        //  A bad route is a bad configuration: exit 2, as for any key.
        zo_conf_refuse (conf, "worker/routes: %s", zo_routes_errstr (self->routes));
        goto fail;
    }
    if (zo_routes_size (self->routes) == 0)
        zo_log_warning ("worker: no routes: every event will fail with 'no route'");
    self->inflight = zo_inflight_new (self->loop, self->routes, self->capacity, actor->stats,
                                      s_on_result, self);
    self->decoder = zo_proto_new ();
    if (!self->inflight || !self->decoder)
        goto fail;
    zo_proto_set_max_frame (self->decoder, self->max_frame);
    zo_inflight_set_release (self->inflight, s_frame_release, self);
    msgpack_sbuffer_init (&self->out);
    //  The wire checks a frame's size before the decoder does: both hold
    //  the limit the broker sends within (broker/max_frame).
    zo_wire_init (&self->wire, self->decoder, self->max_frame);
    zo_wire_count (&self->wire, actor->stats, "send_errors_total", "protocol_errors_total", NULL);


    self->hb_ticker = zo_loop_ticker (self->loop, zo_heartbeat_tick_ms (self->heartbeat_ms),
                                      s_on_heartbeat, self);
    if (self->hb_ticker < 0
    ||  !(self->drain = zo_drain_new (self->loop, self->grace_ms, s_on_drain, s_on_force, self)))
        goto fail;
    //  The first reading may shrink the window before READY offers it.
    if (!(self->pressure = zo_pressure_src_start (actor, "worker", s_on_pressure, self))
    ||  zo_loop_before_sleep (self->loop, s_before_sleep, self)
    ||  s_connect (self))
        goto fail;
    zo_log_info ("worker: %s ready broker=%s capacity=%u window=%u routes=%zu", actor->name,
                 self->endpoint, self->capacity, self->window, zo_routes_size (self->routes));
    return self;
fail:
    zo_worker_destroy (&self);
    return NULL;
}

void
zo_worker_destroy (zo_worker_t **self_p)
{
    assert (self_p);
    zo_worker_t *self = *self_p;
    if (!self)
        return;
    if (self->hb_ticker > 0)
        zo_loop_cancel (self->loop, self->hb_ticker);
    zo_drain_destroy (&self->drain);
    zo_pressure_src_destroy (&self->pressure);
    zo_loop_before_sleep_remove (self->loop, s_before_sleep, self);
    /*  Events still running are dropped, not reported: without the BYE
        the broker takes them back when our heartbeats stop.  */
    void *socket = self->socket;
    self->socket = NULL;
    zo_inflight_destroy (&self->inflight);
    self->socket = socket;
    s_disconnect (self, 1000);
    zo_routes_destroy (&self->routes);
    zo_hctx_destroy (&self->hctx);
    zo_proto_destroy (&self->decoder);
    msgpack_sbuffer_destroy (&self->out);
    while (self->frames_free) {
        s_frame_t *frame = self->frames_free;
        self->frames_free = frame->next_free;
        free (frame);
    }
    free (self->arena);
    free (self);
    *self_p = NULL;
}
