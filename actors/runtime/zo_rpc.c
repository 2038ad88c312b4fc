/*  zo_rpc: pending requests in a fixed table, deadlines in a binary heap
    under one timer, replies matched by seq.

    A request's seq is its slot in the table in the low bits and a
    counter above them, so a reply finds its slot with one mask and a
    stale seq (a slot reused since) does not match. Free slots form a
    list; pending ones are also in a heap of deadlines (zo_heap), so a
    request, a reply and a cancel cost O(log n) whatever mix of timeouts
    the callers use.
*/
#include "zo_rpc.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "zo_actor.h"
#include "zo_heap.h"
#include "zo_wire.h"

#define S_NIL UINT32_MAX
//  Replies taken per wake-up before the loop's other watches get a turn
//  (the loop reports the socket again while more are waiting).
#define S_RECV_MAX 1024

typedef struct {
    uint64_t seq;               /* 0: free */
    zo_rpc_fn *fn;
    void *arg;
    bool raw;                   /* reply as bytes, undecoded */
    uint32_t next;              /* the free list */
} s_slot_t;

struct _zo_rpc_t {
    zo_loop_t *loop;
    void *socket;
    zo_watch_t *watch;
    char *endpoint;
    char name [33];
    s_slot_t *slots;
    uint32_t mask;              /* slots - 1; a power of two minus one */
    uint32_t bits;              /* log2 of the table size */
    uint32_t free_head;
    zo_heap_t heap;             /* pending slots by deadline (ns), then seq */
    uint32_t raw_pending;       /* of which raw (zo_rpc_request_raw) */
    uint64_t counter;           /* the high part of the next seq */
    int timer;                  /* 0: none armed */
    uint64_t timer_ns;          /* when it fires */
    zo_wire_t wire;
    zo_proto_t *dec;
    zmq_msg_t frame;            /* the last reply; callbacks borrow from it */
    msgpack_sbuffer sbuf;       /* reused for every request */
    zo_rpc_msg_fn *on_msg;
    void *on_msg_arg;
    uint64_t warned_ms;         /* rate limit of the warnings */
    /* counters: into stats, or into own */
    uint64_t *requests, *replies, *timeouts, *late, *errors;
    double *inflight;
    struct { uint64_t requests, replies, timeouts, late, errors, rejected, dropped; double inflight; } own;
};

static int s_on_socket (zo_loop_t *loop, void *socket, void *arg);

static void
s_warn (zo_rpc_t *self, const char *what, const char *why)
{
    //  A peer gone mad must not flood the log: one line a second.
    uint64_t now = zo_loop_now_ms (self->loop);
    if (self->warned_ms && now - self->warned_ms < 1000)
        return;
    self->warned_ms = now;
    zo_log_warning ("%s: %s from %s: %s (more of these are not logged for a second)",
                    self->name, what, self->endpoint, why);
}

static void
s_counter (zo_rpc_t *self, uint64_t **ptr, uint64_t *own, const char *what, zo_stats_t *stats)
{
    if (!stats) {
        *ptr = own;
        return;
    }
    char name [64];
    snprintf (name, sizeof name, "rpc_%s_%s_total", self->name, what);
    *ptr = zo_stats_counter (stats, name);
}

zo_rpc_t *
zo_rpc_new (zo_loop_t *loop, void *zmq_ctx, const char *endpoint, const zo_rpc_opts_t *opts)
{
    assert (loop);
    assert (zmq_ctx);
    assert (endpoint);
    zo_rpc_opts_t o = opts ? *opts : (zo_rpc_opts_t) { 0 };
    if (!o.name)
        o.name = "rpc";
    if (!o.max_pending)
        o.max_pending = 4096;
    if (!o.sndhwm)
        o.sndhwm = 100000;
    if (!o.rcvhwm)
        o.rcvhwm = 100000;
    if (o.max_pending > ZO_RPC_MAX_PENDING || strlen (o.name) > 32) {
        zsys_error ("rpc: max_pending %u (at most %u) or name '%s' (at most 32 bytes) out of range",
                    o.max_pending, ZO_RPC_MAX_PENDING, o.name);
        return NULL;
    }
    zo_rpc_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    snprintf (self->name, sizeof self->name, "%s", o.name);
    zmq_msg_init (&self->frame);
    msgpack_sbuffer_init (&self->sbuf);
    uint32_t size = 1;
    while (size < o.max_pending) {
        size <<= 1;
        self->bits++;
    }
    self->mask = size - 1;
    self->slots = calloc (size, sizeof (s_slot_t));
    self->endpoint = strdup (endpoint);
    self->dec = zo_proto_new ();
    if (zo_heap_init (&self->heap, size) || !self->slots || !self->endpoint || !self->dec)
        goto err;
    for (uint32_t i = 0; i < size; i++)
        self->slots [i].next = i + 1 < size ? i + 1 : S_NIL;
    self->free_head = 0;
    //  The frame limit is the wire's; the decoder must not refuse less.
    zo_proto_set_max_frame (self->dec, o.max_frame ? o.max_frame : ZO_MAX_FRAME);
    zo_wire_init (&self->wire, self->dec, o.max_frame);
    if (o.stats) {
        char rejected [64];
        snprintf (rejected, sizeof rejected, "rpc_%s_rejected_total", self->name);
        zo_wire_count (&self->wire, o.stats, NULL, rejected, NULL);
    }
    else
        self->wire.rejected = &self->own.rejected;
    s_counter (self, &self->requests, &self->own.requests, "requests", o.stats);
    s_counter (self, &self->replies, &self->own.replies, "replies", o.stats);
    s_counter (self, &self->timeouts, &self->own.timeouts, "timeouts", o.stats);
    s_counter (self, &self->late, &self->own.late, "late", o.stats);
    s_counter (self, &self->errors, &self->own.errors, "errors", o.stats);
    //  Failed sends are counted as errors, where the caller hears of them.
    self->wire.dropped = NULL;
    if (o.stats) {
        char name [64];
        snprintf (name, sizeof name, "rpc_%s_inflight", self->name);
        self->inflight = zo_stats_gauge (o.stats, name);
    }
    else
        self->inflight = &self->own.inflight;

    self->socket = zmq_socket (zmq_ctx, ZMQ_DEALER);
    if (!self->socket)
        goto err;
    int linger = 0;
    zmq_setsockopt (self->socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (self->socket, ZMQ_SNDHWM, &o.sndhwm, sizeof o.sndhwm);
    zmq_setsockopt (self->socket, ZMQ_RCVHWM, &o.rcvhwm, sizeof o.rcvhwm);
    if (zmq_connect (self->socket, endpoint)) {
        zsys_error ("%s: cannot connect to %s: %s", self->name, endpoint, zmq_strerror (errno));
        goto err;
    }
    self->watch = zo_loop_add_socket (loop, self->socket, s_on_socket, self);
    if (!self->watch)
        goto err;
    return self;
err:
    zo_rpc_destroy (&self);
    return NULL;
}

//  ---------------------------------------------------------------------
//  The table and the deadline list

static s_slot_t *
s_find (zo_rpc_t *self, uint64_t seq)
{
    if (seq == 0)
        return NULL;
    s_slot_t *slot = &self->slots [seq & self->mask];
    return slot->seq == seq ? slot : NULL;
}

//  Takes a pending slot out of the table; the caller then runs its
//  callback (which may make new requests, even in this slot).
static void
s_release (zo_rpc_t *self, s_slot_t *slot)
{
    uint32_t i = (uint32_t) (slot - self->slots);
    zo_heap_remove (&self->heap, i);
    slot->seq = 0;
    slot->next = self->free_head;
    self->free_head = i;
    if (slot->raw)
        self->raw_pending--;
    *self->inflight = self->heap.size;
}

//  Keeps one timer armed for the earliest deadline. A timer armed for a
//  later deadline is moved earlier; one armed earlier than needed (its
//  request answered) is left to fire and re-arm, which costs one wake-up
//  instead of a heap operation per reply.
static void
s_arm (zo_rpc_t *self);

static int
s_on_timer (zo_loop_t *loop, int id, void *arg)
{
    zo_rpc_t *self = arg;
    self->timer = 0;
    uint64_t now = zo_loop_now_ns (loop);
    while (self->heap.size && zo_heap_top (&self->heap)->key <= now) {
        s_slot_t *slot = &self->slots [zo_heap_top (&self->heap)->slot];
        zo_rpc_reply_t reply = { .id = slot->seq, .status = ZO_RPC_TIMEOUT,
                                 .reason = "no reply by the deadline" };
        zo_rpc_fn *fn = slot->fn;
        void *fn_arg = slot->arg;
        s_release (self, slot);
        (*self->timeouts)++;
        fn (self, &reply, fn_arg);
    }
    s_arm (self);
    return 0;
}

static void
s_arm (zo_rpc_t *self)
{
    if (!self->heap.size)
        return;
    uint64_t at = zo_heap_top (&self->heap)->key;
    if (self->timer && self->timer_ns <= at)
        return;
    if (self->timer)
        zo_loop_cancel (self->loop, self->timer);
    uint64_t now = zo_loop_now_ns (self->loop);
    self->timer = zo_loop_timer_ns (self->loop, at > now ? at - now : 0, s_on_timer, self);
    //  Out of memory for one timer: the next request or reply tries again;
    //  meanwhile deadlines wait.
    self->timer_ns = self->timer > 0 ? at : 0;
    if (self->timer < 0)
        self->timer = 0;
}

//  Takes a free slot and gives it a seq; NULL if the table is full.
static s_slot_t *
s_take (zo_rpc_t *self)
{
    if (self->free_head == S_NIL)
        return NULL;
    uint32_t i = self->free_head;
    s_slot_t *slot = &self->slots [i];
    self->free_head = slot->next;
    slot->seq = (++self->counter << self->bits) | i;
    return slot;
}

//  Gives a slot back that was taken but not sent.
static void
s_untake (zo_rpc_t *self, s_slot_t *slot)
{
    uint32_t i = (uint32_t) (slot - self->slots);
    slot->seq = 0;
    slot->next = self->free_head;
    self->free_head = i;
}

//  Makes a sent slot pending: in the deadline heap, under the timer.
static uint64_t
s_pend (zo_rpc_t *self, s_slot_t *slot, uint32_t timeout_ms, zo_rpc_fn *fn, void *arg,
        bool raw)
{
    uint32_t i = (uint32_t) (slot - self->slots);
    slot->fn = fn;
    slot->arg = arg;
    slot->raw = raw;
    uint64_t deadline_ns = zo_loop_now_ns (self->loop)
                         + (uint64_t) (timeout_ms ? timeout_ms : 1) * 1000000ull;
    zo_heap_push (&self->heap, i, deadline_ns, slot->seq);
    if (raw)
        self->raw_pending++;
    *self->inflight = self->heap.size;
    (*self->requests)++;
    s_arm (self);
    return slot->seq;
}

//  ---------------------------------------------------------------------
//  Requests

static uint64_t
s_send_pending (zo_rpc_t *self, s_slot_t *slot, uint32_t timeout_ms, zo_rpc_fn *fn, void *arg,
                bool raw)
{
    if (zo_wire_send (&self->wire, self->socket, NULL, 0, self->sbuf.data, self->sbuf.size)) {
        int e = errno;
        s_untake (self, slot);
        (*self->errors)++;
        errno = e;
        return 0;
    }
    return s_pend (self, slot, timeout_ms, fn, arg, raw);
}

uint64_t
zo_rpc_request (zo_rpc_t *self, zo_msg_t *req, uint32_t timeout_ms, zo_rpc_fn *fn, void *arg)
{
    assert (self);
    assert (req);
    assert (fn);
    s_slot_t *slot = s_take (self);
    if (!slot) {
        (*self->errors)++;
        errno = ENOBUFS;
        return 0;
    }
    req->seq = slot->seq;
    msgpack_sbuffer_clear (&self->sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &self->sbuf, msgpack_sbuffer_write);
    zo_proto_encode (&pk, req);
    return s_send_pending (self, slot, timeout_ms, fn, arg, false);
}

//  True if map is exactly one msgpack map with neither "v" nor "seq";
//  *pairs and *body (where its pairs begin) are set.
static bool
s_check_raw (const void *map, size_t size, uint32_t *pairs, const uint8_t **body)
{
    zo_mp_t mp;
    zo_mp_init (&mp, map, size);
    if (zo_mp_read_map (&mp, pairs) || *pairs > UINT32_MAX - 2)
        return false;
    *body = mp.pos;
    for (uint32_t i = 0; i < *pairs; i++) {
        zo_span_t key;
        if (zo_mp_read_str (&mp, &key) == 0) {
            if (zo_span_eq (key, "v") || zo_span_eq (key, "seq"))
                return false;
        }
        else
        if (zo_mp_skip (&mp, NULL))
            return false;
        if (zo_mp_skip (&mp, NULL))
            return false;
    }
    return zo_mp_left (&mp) == 0;
}

uint64_t
zo_rpc_request_raw (zo_rpc_t *self, const void *map, size_t size, uint32_t timeout_ms,
                    zo_rpc_fn *fn, void *arg)
{
    assert (self);
    assert (map || size == 0);
    assert (fn);
    uint32_t pairs;
    const uint8_t *body;
    if (size > self->wire.max_frame || !s_check_raw (map, size, &pairs, &body)) {
        (*self->errors)++;
        errno = EINVAL;
        return 0;
    }
    s_slot_t *slot = s_take (self);
    if (!slot) {
        (*self->errors)++;
        errno = ENOBUFS;
        return 0;
    }
    msgpack_sbuffer_clear (&self->sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &self->sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, pairs + 2);
    zo_proto_pack_str (&pk, "v");
    msgpack_pack_uint32 (&pk, ZO_PROTO_VERSION);
    zo_proto_pack_str (&pk, "seq");
    msgpack_pack_uint64 (&pk, slot->seq);
    msgpack_sbuffer_write (&self->sbuf, (const char *) body,
                           size - (size_t) (body - (const uint8_t *) map));
    return s_send_pending (self, slot, timeout_ms, fn, arg, true);
}

int
zo_rpc_cancel (zo_rpc_t *self, uint64_t id)
{
    assert (self);
    s_slot_t *slot = s_find (self, id);
    if (!slot)
        return -1;
    s_release (self, slot);
    return 0;
}

void
zo_rpc_on_message (zo_rpc_t *self, zo_rpc_msg_fn *fn, void *arg)
{
    assert (self);
    self->on_msg = fn;
    self->on_msg_arg = arg;
}

//  ---------------------------------------------------------------------
//  Replies

static void
s_complete (zo_rpc_t *self, s_slot_t *slot, zo_rpc_reply_t *reply)
{
    zo_rpc_fn *fn = slot->fn;
    void *arg = slot->arg;
    reply->id = slot->seq;
    s_release (self, slot);
    fn (self, reply, arg);
}

static void
s_on_reply (zo_rpc_t *self, int rc)
{
    const void *data = zmq_msg_data (&self->frame);
    size_t size = zmq_msg_size (&self->frame);
    if (rc < 0) {
        //  Rejected by the frame rules (counted there): its request, if
        //  its seq could be read, ends with the reason.
        (*self->errors)++;
        s_slot_t *slot = s_find (self, self->wire.seq);
        if (slot) {
            zo_rpc_reply_t reply = {
                .status = self->wire.err == ZO_ERR_TOO_LARGE ? ZO_RPC_TOO_LARGE
                                                             : ZO_RPC_BAD_MESSAGE,
                .data = data, .size = size, .reason = self->wire.reason };
            s_complete (self, slot, &reply);
        }
        s_warn (self, "a reply rejected", self->wire.reason);
        return;
    }
    //  A raw request's reply is not ours to decode (a plugin's command the
    //  codec may not know): while one is pending, find the seq first. The
    //  common case decodes once and takes the seq from the result, so a
    //  large RESULT is not walked twice.
    uint64_t seq = 0;
    s_slot_t *slot = NULL;
    if (self->raw_pending) {
        zo_wire_peek_seq (data, size, &seq);
        slot = s_find (self, seq);
        if (slot && slot->raw) {
            (*self->replies)++;
            zo_rpc_reply_t reply = { .status = ZO_RPC_OK, .data = data, .size = size,
                                     .reason = "" };
            s_complete (self, slot, &reply);
            return;
        }
    }
    zo_msg_t msg;
    if (zo_wire_decode (&self->wire, data, size, &msg) < 0) {
        (*self->errors)++;
        slot = s_find (self, self->wire.seq);
        if (slot) {
            zo_rpc_reply_t reply = { .status = ZO_RPC_BAD_MESSAGE, .data = data, .size = size,
                                     .reason = self->wire.reason };
            s_complete (self, slot, &reply);
        }
        s_warn (self, "a bad reply", self->wire.reason);
        return;
    }
    seq = msg.seq;
    slot = s_find (self, seq);
    if (slot) {
        (*self->replies)++;
        zo_rpc_reply_t reply = { .status = ZO_RPC_OK, .msg = &msg, .data = data, .size = size,
                                 .reason = "" };
        s_complete (self, slot, &reply);
    }
    else
    if (seq) {
        //  Its request timed out or was cancelled (or never was ours).
        (*self->late)++;
    }
    else
    if (self->on_msg)
        self->on_msg (self, &msg, self->on_msg_arg);
    else {
        (*self->errors)++;
        s_warn (self, "a message that answers nothing", zo_cmd_name (msg.cmd));
    }
}

static int
s_on_socket (zo_loop_t *loop, void *socket, void *arg)
{
    zo_rpc_t *self = arg;
    for (int n = 0; n < S_RECV_MAX; n++) {
        int rc = zo_wire_recv (&self->wire, socket, NULL, &self->frame, NULL);
        if (rc == 0)
            break;
        s_on_reply (self, rc);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Blocking, for tools

typedef struct {
    zo_rpc_fn *fn;
    void *arg;
    bool done;
    zo_rpc_status_t status;
} s_call_t;

static void
s_on_call (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
    s_call_t *call = arg;
    call->done = true;
    call->status = reply->status;
    if (call->fn)
        call->fn (rpc, reply, call->arg);
    zo_loop_stop (rpc->loop);
}

int
zo_rpc_call (zo_rpc_t *self, zo_msg_t *req, uint32_t timeout_ms, zo_rpc_fn *fn, void *arg)
{
    assert (self);
    s_call_t call = { .fn = fn, .arg = arg };
    uint64_t id = zo_rpc_request (self, req, timeout_ms, s_on_call, &call);
    if (!id)
        return -1;
    zo_loop_run (self->loop);
    if (!call.done) {
        zo_rpc_cancel (self, id);
        errno = EINTR;
        return -1;
    }
    return (int) call.status;
}

static void
s_on_pong (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
    *(bool *) arg = reply->msg && reply->msg->cmd == ZO_CMD_PONG;
}

int
zo_rpc_ping (zo_rpc_t *self, uint32_t timeout_ms)
{
    zo_msg_t req = { .cmd = ZO_CMD_PING };
    bool pong = false;
    return zo_rpc_call (self, &req, timeout_ms, s_on_pong, &pong) == ZO_RPC_OK && pong ? 0 : -1;
}

//  ---------------------------------------------------------------------

uint32_t
zo_rpc_pending (const zo_rpc_t *self)
{
    assert (self);
    return self->heap.size;
}

zo_rpc_counts_t
zo_rpc_counts (const zo_rpc_t *self)
{
    assert (self);
    return (zo_rpc_counts_t) { .requests = *self->requests, .replies = *self->replies,
                               .timeouts = *self->timeouts, .late = *self->late,
                               .errors = *self->errors, .inflight = self->heap.size };
}

const char *
zo_rpc_endpoint (const zo_rpc_t *self)
{
    assert (self);
    return self->endpoint;
}

void *
zo_rpc_socket (zo_rpc_t *self)
{
    assert (self);
    return self->socket;
}

const char *
zo_rpc_status_name (zo_rpc_status_t status)
{
    static const char *names [] = { "ok", "timeout", "too_large", "bad_message", "closed" };
    return (unsigned) status < sizeof names / sizeof names [0] ? names [status] : "?";
}

void
zo_rpc_destroy (zo_rpc_t **self_p)
{
    assert (self_p);
    zo_rpc_t *self = *self_p;
    if (!self)
        return;
    while (self->heap.size) {
        zo_rpc_reply_t reply = { .status = ZO_RPC_CLOSED, .reason = "the client was closed" };
        s_complete (self, &self->slots [zo_heap_top (&self->heap)->slot], &reply);
    }
    if (self->timer)
        zo_loop_cancel (self->loop, self->timer);
    zo_loop_unwatch (self->loop, &self->watch);
    if (self->socket)
        zmq_close (self->socket);
    zmq_msg_close (&self->frame);
    zo_proto_destroy (&self->dec);
    msgpack_sbuffer_destroy (&self->sbuf);
    free (self->slots);
    zo_heap_fini (&self->heap);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}
