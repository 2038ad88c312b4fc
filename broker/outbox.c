/*  outbox: per-producer RESULT batches. See outbox.h.  */
#include "outbox.h"

#include <assert.h>
#include <czmq.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "evtab.h"
#include "zo_proto.h"
#include "zo_wire.h"

//  Past this many known producers an idle table is emptied, so that
//  short-lived producers do not accumulate.
#define S_KEEP_MAX 1024

typedef struct {
    uint64_t seq;
    uint32_t accepted, duplicates;
    uint64_t due_ns;         /* leaves by then (with a RESULT, sooner) */
    uint64_t pos;            /* journal position it waits for; 0 = none */
} s_ack_t;

typedef struct {
    uint8_t ident [255];
    uint8_t ident_len;
    uint64_t hash;
    size_t count;            /* results packed in sbuf */
    msgpack_sbuffer sbuf;    /* result maps, one after the other */
    msgpack_packer pk;
    uint32_t *ends;          /* where each result map ends in sbuf */
    size_t cap_ends;
    s_ack_t *acks;           /* ACKs held back, oldest first */
    size_t n_acks, cap_acks;
    bool active;             /* in the active list */
    bool muted;              /* lost an ACK to a failed journal: no more RESULTs */
} s_box_t;

struct _zo_outbox_t {
    void *socket;
    size_t batch_max;
    size_t flush_at;         /* a buffer this full is sent at once */
    size_t run_max;          /* results' bytes in one RESULT (max_frame less its envelope) */
    uint64_t *sent, *dropped;
    uint64_t scratch_sent, scratch_dropped;
    s_box_t **slots;         /* open addressing by identity */
    size_t mask, size;
    s_box_t **active;        /* boxes holding results */
    zo_result_t *batch;      /* batch_max results, to encode a RESULT */
    msgpack_sbuffer frame;   /* the ACK or RESULT being sent */
    zo_wire_t wire;          /* sends by the wire rules; drops counted here */
    size_t n_active, cap_active;
    size_t pending;
    uint64_t durable;        /* journal position synced so far */
    bool failed;             /* the journal failed: keep the muted boxes */
};

zo_outbox_t *
zo_outbox_new (void *socket, size_t batch_max, size_t max_frame,
               uint64_t *sent, uint64_t *dropped)
{
    zo_outbox_t *self = calloc (1, sizeof (zo_outbox_t));
    if (!self)
        return NULL;
    self->socket = socket;
    self->batch_max = batch_max ? batch_max : 1;
    assert (max_frame > ZO_DISPATCH_OVERHEAD);
    self->flush_at = max_frame / 2;
    self->run_max = max_frame - ZO_DISPATCH_OVERHEAD;
    self->sent = sent ? sent : &self->scratch_sent;
    self->dropped = dropped ? dropped : &self->scratch_dropped;
    self->mask = 63;
    self->slots = calloc (self->mask + 1, sizeof (s_box_t *));
    self->batch = calloc (self->batch_max, sizeof (zo_result_t));
    if (!self->slots || !self->batch) {
        free (self->slots);
        free (self->batch);
        free (self);
        return NULL;
    }
    msgpack_sbuffer_init (&self->frame);
    //  What is dropped is counted in results, not messages: see s_send.
    zo_wire_init (&self->wire, NULL, 0);
    return self;
}

static void
s_clear (zo_outbox_t *self)
{
    for (size_t i = 0; i <= self->mask; i++)
        if (self->slots [i]) {
            *self->dropped += self->slots [i]->count;
            msgpack_sbuffer_destroy (&self->slots [i]->sbuf);
            free (self->slots [i]->acks);
            free (self->slots [i]->ends);
            free (self->slots [i]);
            self->slots [i] = NULL;
        }
    self->size = 0;
    self->n_active = 0;
    self->pending = 0;
}

void
zo_outbox_destroy (zo_outbox_t **self_p)
{
    assert (self_p);
    zo_outbox_t *self = *self_p;
    if (!self)
        return;
    s_clear (self);
    free (self->slots);
    free (self->active);
    free (self->batch);
    msgpack_sbuffer_destroy (&self->frame);
    free (self);
    *self_p = NULL;
}

static int
s_grow (zo_outbox_t *self)
{
    size_t slots = (self->mask + 1) * 2;
    s_box_t **fresh = calloc (slots, sizeof (s_box_t *));
    if (!fresh)
        return -1;
    for (size_t i = 0; i <= self->mask; i++) {
        s_box_t *box = self->slots [i];
        if (!box)
            continue;
        size_t j = box->hash & (slots - 1);
        while (fresh [j])
            j = (j + 1) & (slots - 1);
        fresh [j] = box;
    }
    free (self->slots);
    self->slots = fresh;
    self->mask = slots - 1;
    return 0;
}

static s_box_t *
s_box (zo_outbox_t *self, const void *ident, size_t len)
{
    zo_span_t key = { ident, (uint32_t) len };
    uint64_t hash = zo_evtab_hash (key);
    size_t i = hash & self->mask;
    for (s_box_t *box; (box = self->slots [i]); i = (i + 1) & self->mask)
        if (box->hash == hash && box->ident_len == len && memcmp (box->ident, ident, len) == 0)
            return box;
    if ((self->size + 1) * 2 > self->mask + 1) {
        if (s_grow (self))
            return NULL;
        for (i = hash & self->mask; self->slots [i]; i = (i + 1) & self->mask)
            ;
    }
    s_box_t *box = calloc (1, sizeof (s_box_t));
    if (!box)
        return NULL;
    memcpy (box->ident, ident, len);
    box->ident_len = (uint8_t) len;
    box->hash = hash;
    msgpack_sbuffer_init (&box->sbuf);
    msgpack_packer_init (&box->pk, &box->sbuf, msgpack_sbuffer_write);
    self->slots [i] = box;
    self->size++;
    return box;
}

//  Puts a box on the active list (once). 0 or -1 when out of memory.
static int
s_activate (zo_outbox_t *self, s_box_t *box)
{
    if (box->active)
        return 0;
    if (self->n_active == self->cap_active) {
        size_t cap = self->cap_active ? self->cap_active * 2 : 16;
        s_box_t **active = realloc (self->active, cap * sizeof (s_box_t *));
        if (!active)
            return -1;
        self->active = active;
        self->cap_active = cap;
    }
    self->active [self->n_active++] = box;
    box->active = true;
    return 0;
}

static void
s_send_ack (zo_outbox_t *self, const void *ident, size_t ident_len, const s_ack_t *ack)
{
    zo_msg_t reply = { .cmd = ZO_CMD_ACK, .seq = ack->seq, .accepted = ack->accepted,
                       .duplicates = ack->duplicates };
    if (zo_wire_send_msg (&self->wire, self->socket, ident, ident_len, &self->frame, &reply))
        (*self->dropped)++;
}

//  Sends the ACKs a box holds that may leave now, oldest first: those
//  whose events are durable and that are due by now_ns (UINT64_MAX: all
//  durable ones, as when RESULTs follow them). True when none is left.
static bool
s_send_acks (zo_outbox_t *self, s_box_t *box, uint64_t now_ns)
{
    size_t sent = 0;
    while (sent < box->n_acks && box->acks [sent].pos <= self->durable
    &&     box->acks [sent].due_ns <= now_ns) {
        s_send_ack (self, box->ident, box->ident_len, &box->acks [sent]);
        sent++;
    }
    if (sent) {
        box->n_acks -= sent;
        memmove (box->acks, box->acks + sent, box->n_acks * sizeof (s_ack_t));
    }
    return box->n_acks == 0;
}

//  Sends one box's results as RESULT messages (of at most batch_max
//  results and max_frame bytes each) and empties it; the ACKs it holds go
//  first. While an ACK waits for the journal, the results wait behind it.
static void
s_send (zo_outbox_t *self, s_box_t *box)
{
    if (!s_send_acks (self, box, UINT64_MAX) || !box->count)
        return;
    //  The results were encoded as they came; each RESULT wraps a run.
    const uint8_t *data = (const uint8_t *) box->sbuf.data;
    uint32_t start = 0;
    for (size_t first = 0; first < box->count; ) {
        uint32_t run_start = start;
        size_t n = 0;
        //  A result that would take the run over the frame starts the next
        //  one (the worker holds each result to half a frame).
        while (first + n < box->count && n < self->batch_max) {
            uint32_t end = box->ends [first + n];
            if (n > 0 && end - run_start > self->run_max)
                break;
            self->batch [n].raw.ptr = data + start;
            self->batch [n].raw.len = end - start;
            start = end;
            n++;
        }
        zo_msg_t result = { .cmd = ZO_CMD_RESULT, .results_ = self->batch,
                            .n_results = (uint32_t) n };
        int rc = zo_wire_send_msg (&self->wire, self->socket, box->ident, box->ident_len,
                                   &self->frame, &result);
        if (rc < 0)
            *self->dropped += n;
        else
            *self->sent += n;
        first += n;
    }
    assert (self->pending >= box->count);
    self->pending -= box->count;
    box->count = 0;
    msgpack_sbuffer_clear (&box->sbuf);
}

void
zo_outbox_add (zo_outbox_t *self, const void *ident, size_t ident_len,
               zo_span_t id, bool ok, zo_span_t result, const char *error,
               uint64_t took_ns, uint32_t attempts)
{
    s_box_t *box = s_box (self, ident, ident_len);
    if (!box || box->muted) {
        (*self->dropped)++;
        return;
    }
    if (s_activate (self, box)) {
        (*self->dropped)++;
        return;
    }
    if (box->count == box->cap_ends) {
        size_t cap = box->cap_ends ? box->cap_ends * 2 : 16;
        uint32_t *ends = realloc (box->ends, cap * sizeof (uint32_t));
        if (!ends) {
            (*self->dropped)++;
            return;
        }
        box->ends = ends;
        box->cap_ends = cap;
    }
    zo_result_t r = { .id = id, .ok = ok, .result = result, .error = zo_span_str (error),
                      .took_ns = took_ns, .attempts = attempts };
    if (r.error.len > ZO_MAX_TEXT)
        r.error.len = ZO_MAX_TEXT;
    zo_proto_encode_result (&box->pk, &r);
    box->ends [box->count] = (uint32_t) box->sbuf.size;
    box->count++;
    self->pending++;
    if (box->count >= self->batch_max || box->sbuf.size >= self->flush_at)
        s_send (self, box);
}

void
zo_outbox_ack (zo_outbox_t *self, const void *ident, size_t ident_len,
               uint64_t seq, uint32_t accepted, uint32_t duplicates, uint64_t due_ns,
               uint64_t pos)
{
    s_ack_t ack = { seq, accepted, duplicates, due_ns, pos };
    s_box_t *box = s_box (self, ident, ident_len);
    if (box && box->n_acks == box->cap_acks) {
        size_t cap = box->cap_acks ? box->cap_acks * 2 : 4;
        s_ack_t *acks = realloc (box->acks, cap * sizeof (s_ack_t));
        if (acks) {
            box->acks = acks;
            box->cap_acks = cap;
        }
    }
    if (!box || box->n_acks == box->cap_acks || s_activate (self, box)) {
        //  Out of memory: an ACK that is not durable yet cannot be sent.
        if (pos <= self->durable)
            s_send_ack (self, ident, ident_len, &ack);
        else
            (*self->dropped)++;
        return;
    }
    box->acks [box->n_acks++] = ack;
}

uint64_t
zo_outbox_flush (zo_outbox_t *self, uint64_t now_ns)
{
    uint64_t next_due = 0;
    size_t kept = 0;
    for (size_t i = 0; i < self->n_active; i++) {
        s_box_t *box = self->active [i];
        if (box->count)
            s_send (self, box);
        else
            s_send_acks (self, box, now_ns);
        if (box->n_acks || box->count) {
            //  Held: for the journal (its sync wakes the loop) or for its
            //  due time (the caller's timer does).
            const s_ack_t *first = &box->acks [0];
            if (box->n_acks && first->pos <= self->durable && (!next_due || first->due_ns < next_due))
                next_due = first->due_ns;
            self->active [kept++] = box;
        }
        else
            box->active = false;
    }
    self->n_active = kept;
    if (self->size > S_KEEP_MAX && kept == 0 && !self->failed)
        s_clear (self);
    return next_due;
}

void
zo_outbox_set_durable (zo_outbox_t *self, uint64_t synced)
{
    self->durable = synced;
}

void
zo_outbox_fail (zo_outbox_t *self)
{
    self->failed = true;
    for (size_t i = 0; i <= self->mask; i++) {
        s_box_t *box = self->slots [i];
        if (!box || s_send_acks (self, box, UINT64_MAX))
            continue;
        //  What is left waits for a journal that will not sync again.
        *self->dropped += box->n_acks + box->count;
        box->n_acks = 0;
        assert (self->pending >= box->count);
        self->pending -= box->count;
        box->count = 0;
        msgpack_sbuffer_clear (&box->sbuf);
        box->muted = true;
    }
}

size_t
zo_outbox_pending (const zo_outbox_t *self)
{
    return self->pending;
}
