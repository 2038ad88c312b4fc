/*  inflight: see inflight.h.  */
#include "inflight.h"

#include <assert.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "handlers.h"

_Static_assert (sizeof (uintptr_t) == 8, "handles pack 64 bits into a pointer");

struct _zo_inflight_t {
    zo_loop_t *loop;
    zo_routes_t *routes;
    uint32_t capacity;
    uint32_t count;
    zo_slot_t *slots;
    zo_slot_t *free_list;
    uint8_t *kind_states;         /* capacity records of the largest event_size */
    zo_inflight_sink_fn *sink;
    void *sink_arg;
    zo_inflight_release_fn *release;
    void *release_arg;
    void *exec_state;
    zo_event_t emit_events [ZO_EMIT_MAX];
    /* metrics (into zo_stats, or into the dummies below) */
    uint64_t *events_total, *ok_total, *failed_total, *final_total, *timeouts_total;
    uint64_t *late_total, *no_route_total;
    double *inflight_gauge;
    zo_hist_t *handler_ns;
    uint64_t dummy [7];
    double dummy_gauge;
    zo_hist_t *dummy_hist;
};

static zo_inflight_t *s_current;

zo_inflight_t *
zo_inflight_new (zo_loop_t *loop, zo_routes_t *routes, uint32_t capacity, zo_stats_t *stats,
                 zo_inflight_sink_fn *sink, void *sink_arg)
{
    assert (loop && routes && sink);
    assert (capacity > 0 && capacity <= 1000000);
    zo_inflight_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->slots = calloc (capacity, sizeof (zo_slot_t));
    if (!self->slots) {
        free (self);
        return NULL;
    }
    //  Every slot gets room for the largest per-event state of the kinds
    //  its routes use, so that no event allocates.
    size_t stride = 0;
    for (size_t i = 0; i < zo_routes_size (routes); i++) {
        const zo_kind_t *kind = zo_routes_get (routes, i)->kind;
        if (kind && kind->event_size > stride)
            stride = kind->event_size;
    }
    stride = (stride + 15) & ~(size_t) 15;
    if (stride && !(self->kind_states = calloc (capacity, stride))) {
        free (self->slots);
        free (self);
        return NULL;
    }
    self->loop = loop;
    self->routes = routes;
    self->capacity = capacity;
    self->sink = sink;
    self->sink_arg = sink_arg;
    for (uint32_t i = capacity; i-- > 0;) {
        zo_slot_t *slot = &self->slots [i];
        slot->owner = self;
        slot->index = i;
        slot->kind_state = stride? self->kind_states + (size_t) i * stride: NULL;
        slot->next_free = self->free_list;
        self->free_list = slot;
    }
    if (stats) {
        self->events_total = zo_stats_counter (stats, "events_total");
        self->ok_total = zo_stats_counter (stats, "ok_total");
        self->failed_total = zo_stats_counter (stats, "failed_total");
        self->final_total = zo_stats_counter (stats, "final_total");
        self->timeouts_total = zo_stats_counter (stats, "timeouts_total");
        self->late_total = zo_stats_counter (stats, "late_total");
        self->no_route_total = zo_stats_counter (stats, "no_route_total");
        self->inflight_gauge = zo_stats_gauge (stats, "inflight");
        self->handler_ns = zo_stats_hist (stats, "handler_ns");
    }
    else {
        self->dummy_hist = calloc (1, sizeof (zo_hist_t));
        if (!self->dummy_hist) {
            free (self->kind_states);
            free (self->slots);
            free (self);
            return NULL;
        }
        zo_hist_reset (self->dummy_hist);
        uint64_t **counters [] = { &self->events_total, &self->ok_total, &self->failed_total,
                                   &self->final_total, &self->timeouts_total, &self->late_total,
                                   &self->no_route_total };
        for (size_t i = 0; i < 7; i++)
            *counters [i] = &self->dummy [i];
        self->inflight_gauge = &self->dummy_gauge;
        self->handler_ns = self->dummy_hist;
    }
    s_current = self;
    return self;
}

void
zo_inflight_destroy (zo_inflight_t **self_p)
{
    assert (self_p);
    zo_inflight_t *self = *self_p;
    if (!self)
        return;
    zo_inflight_cancel_all (self, "worker stopping", false);
    zo_exec_destroy (self);
    for (uint32_t i = 0; i < self->capacity; i++) {
        free (self->slots [i].ebuf);
        free (self->slots [i].emits);
    }
    free (self->slots);
    free (self->kind_states);
    free (self->dummy_hist);
    if (s_current == self)
        s_current = NULL;
    free (self);
    *self_p = NULL;
}

void
zo_inflight_set_release (zo_inflight_t *self, zo_inflight_release_fn *fn, void *arg)
{
    self->release = fn;
    self->release_arg = arg;
}

void
zo_inflight_set_current (zo_inflight_t *self)
{
    s_current = self;
}

uint32_t zo_inflight_count (zo_inflight_t *self) { return self->count; }
uint32_t zo_inflight_capacity (zo_inflight_t *self) { return self->capacity; }
zo_loop_t *zo_inflight_loop (zo_inflight_t *self) { return self->loop; }
void **zo_inflight_exec_state (zo_inflight_t *self) { return &self->exec_state; }

static void
s_copy_str (char *dest, size_t size, zo_span_t span)
{
    size_t len = span.len < size - 1 ? span.len : size - 1;
    if (len)
        memcpy (dest, span.ptr, len);
    dest [len] = 0;
}

static void s_abort (zo_slot_t *slot, const char *error, bool final);

static int
s_timeout (zo_loop_t *loop, int id, void *arg)
{
    zo_slot_t *slot = arg;
    zo_inflight_t *self = slot->owner;
    slot->timeout_timer = 0;
    if (slot->state != ZO_SLOT_RUNNING)
        return 0;
    (*self->timeouts_total)++;
    char error [64];
    snprintf (error, sizeof (error), "timeout after %" PRIu64 " ms", slot->timeout_ms);
    s_abort (slot, error, false);
    return 0;
}

int
zo_inflight_start (zo_inflight_t *self, const zo_item_t *item, void *frame)
{
    assert (self && item);
    zo_slot_t *slot = self->free_list;
    if (!slot)
        return -1;
    self->free_list = slot->next_free;
    slot->next_free = NULL;
    self->count++;
    *self->inflight_gauge = self->count;
    (*self->events_total)++;

    slot->gen++;
    slot->state = ZO_SLOT_RUNNING;
    slot->item = *item;
    slot->frame = frame;
    s_copy_str (slot->id, sizeof (slot->id), item->event.id);
    s_copy_str (slot->type, sizeof (slot->type), item->event.type);
    s_copy_str (slot->source, sizeof (slot->source), item->event.source);
    slot->start_ns = zo_clock_mono_ns ();
    slot->timeout_timer = 0;
    slot->n_emits = 0;
    slot->ebuf_len = 0;

    slot->route = zo_routes_match (self->routes, slot->type);
    if (!slot->route) {
        (*self->no_route_total)++;
        char error [ZO_MAX_TYPE + 32];
        snprintf (error, sizeof (error), "no route for type %s", slot->type);
        zo_slot_complete (slot, false, (zo_span_t) { NULL, 0 }, error, true);
        return 0;
    }
    if (slot->route->kind->event_size)
        memset (slot->kind_state, 0, slot->route->kind->event_size);
    slot->timeout_ms = slot->route->timeout_ms;
    if (item->deadline_ms && item->deadline_ms < slot->timeout_ms)
        slot->timeout_ms = item->deadline_ms;

    uint32_t gen = slot->gen;
    slot->route->kind->start (slot);
    /*  Most handlers (noop, echo, fail) end inside start: arm the timeout
        only for those that did not, which keeps the timer heap out of the
        hot path.  */
    if (slot->state == ZO_SLOT_RUNNING && slot->gen == gen) {
        int id = zo_loop_timer (self->loop, slot->timeout_ms, s_timeout, slot);
        if (id < 0) {
            s_abort (slot, "out of memory", false);
        }
        else
            slot->timeout_timer = id;
    }
    return 0;
}

/*  Reports the outcome and frees the slot (its state is ZO_SLOT_ENDING).  */
static void
s_finish (zo_slot_t *slot, bool ok, zo_span_t result, const char *error, bool final)
{
    zo_inflight_t *self = slot->owner;
    if (slot->timeout_timer) {
        zo_loop_cancel (self->loop, slot->timeout_timer);
        slot->timeout_timer = 0;
    }
    if (slot->route && slot->route->kind->end)
        slot->route->kind->end (slot);

    uint64_t took = zo_clock_mono_ns () - slot->start_ns;
    zo_hist_record (self->handler_ns, took);
    if (ok)
        (*self->ok_total)++;
    else {
        (*self->failed_total)++;
        if (slot->route && slot->item.attempt >= slot->route->attempts)
            final = true;
        if (final)
            (*self->final_total)++;
    }
    zo_result_t res = {
        .id = slot->item.event.id,
        .ok = ok,
        .result = result,
        .error = (!ok && error) ? zo_span_str (error) : (zo_span_t) { NULL, 0 },
        .took_ns = took,
        .final = !ok && final,
    };
    if (res.error.len > ZO_MAX_TEXT)
        res.error.len = ZO_MAX_TEXT;
    uint32_t n_emits = 0;
    for (uint32_t i = 0; i < slot->n_emits; i++) {
        zo_emit_rec_t *rec = &slot->emits [i];
        zo_event_t *ev = &self->emit_events [n_emits++];
        memset (ev, 0, sizeof (*ev));
        ev->id = (zo_span_t) { slot->ebuf + rec->id_off, rec->id_len };
        ev->type = (zo_span_t) { slot->ebuf + rec->type_off, rec->type_len };
        ev->payload = (zo_span_t) { rec->payload_len ? slot->ebuf + rec->payload_off : NULL,
                                    rec->payload_len };
    }
    self->sink (self->sink_arg, &res, n_emits ? self->emit_events : NULL, n_emits);

    if (slot->frame && self->release)
        self->release (self->release_arg, slot->frame);
    slot->frame = NULL;
    slot->state = ZO_SLOT_FREE;
    slot->gen++;
    slot->route = NULL;
    slot->n_emits = 0;
    slot->next_free = self->free_list;
    self->free_list = slot;
    self->count--;
    *self->inflight_gauge = self->count;
}

static int
s_ebuf_append (zo_slot_t *slot, const void *data, size_t len, uint32_t *offset)
{
    if ((uint64_t) slot->ebuf_len + len > ZO_MAX_FRAME / 2)
        return -1;
    if (slot->ebuf_len + len > slot->ebuf_cap) {
        uint32_t cap = slot->ebuf_cap ? slot->ebuf_cap : 256;
        while (cap < slot->ebuf_len + len)
            cap *= 2;
        uint8_t *buf = realloc (slot->ebuf, cap);
        if (!buf)
            return -1;
        slot->ebuf = buf;
        slot->ebuf_cap = cap;
    }
    *offset = slot->ebuf_len;
    if (len)
        memcpy (slot->ebuf + slot->ebuf_len, data, len);
    slot->ebuf_len += (uint32_t) len;
    return 0;
}

int
zo_slot_emit (zo_slot_t *slot, const char *type, const void *payload, size_t len)
{
    if (slot->state != ZO_SLOT_RUNNING || !type)
        return -1;
    size_t type_len = strlen (type);
    if (type_len == 0 || type_len > ZO_MAX_TYPE || slot->n_emits == ZO_EMIT_MAX)
        return -1;
    if (len) {
        zo_mp_t cur;
        zo_mp_init (&cur, payload, len);
        if (zo_mp_skip (&cur, NULL) || zo_mp_left (&cur))
            return -1;
    }
    if (!slot->emits) {
        slot->emits = malloc (ZO_EMIT_MAX * sizeof (zo_emit_rec_t));
        if (!slot->emits)
            return -1;
    }
    char id [ZO_MAX_ID + 1];
    int id_len = snprintf (id, sizeof (id), "%.*s.%u", ZO_MAX_ID - 4, slot->id, slot->n_emits + 1);
    if (id_len > ZO_MAX_ID)
        id_len = ZO_MAX_ID;
    zo_emit_rec_t rec = { .id_len = (uint32_t) id_len, .type_len = (uint32_t) type_len,
                          .payload_len = (uint32_t) len };
    uint32_t saved = slot->ebuf_len;
    if (s_ebuf_append (slot, id, (size_t) id_len, &rec.id_off)
    ||  s_ebuf_append (slot, type, type_len, &rec.type_off)
    ||  s_ebuf_append (slot, payload, len, &rec.payload_off)) {
        slot->ebuf_len = saved;
        return -1;
    }
    slot->emits [slot->n_emits++] = rec;
    return 0;
}

void
zo_slot_complete (zo_slot_t *slot, bool ok, zo_span_t result, const char *error, bool final)
{
    assert (slot);
    if (slot->state != ZO_SLOT_RUNNING) {
        (*slot->owner->late_total)++;
        return;
    }
    slot->state = ZO_SLOT_ENDING;
    s_finish (slot, ok, result, error, final);
}

/*  The worker ends a running event (timeout, stop): the handler is told to
    let go first. Its handle is already stale then, so a complete() from
    inside cancel is ignored.  */
static void
s_abort (zo_slot_t *slot, const char *error, bool final)
{
    slot->state = ZO_SLOT_ENDING;
    if (slot->route && slot->route->kind->cancel)
        slot->route->kind->cancel (slot);
    s_finish (slot, false, (zo_span_t) { NULL, 0 }, error, final);
}

void
zo_inflight_cancel_all (zo_inflight_t *self, const char *error, bool final)
{
    for (uint32_t i = 0; i < self->capacity; i++)
        if (self->slots [i].state == ZO_SLOT_RUNNING)
            s_abort (&self->slots [i], error, final);
}

zo_handler_t *
zo_slot_handle (zo_slot_t *slot)
{
    return (zo_handler_t *) (uintptr_t) (((uint64_t) slot->gen << 32) | (slot->index + 1));
}

zo_slot_t *
zo_inflight_slot (zo_handler_t *handle, bool ending_ok)
{
    zo_inflight_t *self = s_current;
    uint64_t bits = (uint64_t) (uintptr_t) handle;
    uint32_t index = (uint32_t) (bits & 0xffffffffu);
    uint32_t gen = (uint32_t) (bits >> 32);
    if (!self || index == 0 || index > self->capacity)
        return NULL;
    zo_slot_t *slot = &self->slots [index - 1];
    if (slot->gen != gen || !(slot->state == ZO_SLOT_RUNNING
                              || (ending_ok && slot->state == ZO_SLOT_ENDING))) {
        (*self->late_total)++;
        return NULL;
    }
    return slot;
}
