/*  Helpers shared by the worker's unit tests (test_routes, test_handlers,
    test_exec, test_plugin): items built from JSON, and a sink that records
    outcomes and stops the loop once enough arrived.  */
#ifndef TEST_WORKER_UTIL_H_INCLUDED
#define TEST_WORKER_UTIL_H_INCLUDED

#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "inflight.h"
#include "routes.h"
#include "zo_json.h"
#include "zo_loop.h"

#define T_MAX 64

typedef struct {
    char id [160];
    bool ok, final;
    char result [4096];         /* as compact JSON with sorted keys, "" when none */
    char error [4200];
    uint64_t took_ns;
    uint32_t n_emits;
    char emit_id [4] [160];
    char emit_type [4] [300];
    char emit_payload [4] [1024];
} t_out_t;

typedef struct {
    zo_loop_t *loop;
    t_out_t out [T_MAX];
    int n;
    int want;                   /* stop the loop when n reaches it */
} t_rec_t;

static inline void
t_span_json (zo_span_t span, char *dest, size_t size)
{
    dest [0] = 0;
    if (span.len == 0)
        return;
    json_t *json = zo_json_from_span (span);
    cr_assert (json, "result is not readable msgpack");
    char *text = json_dumps (json, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    snprintf (dest, size, "%s", text);
    free (text);
    json_decref (json);
}

static inline void
t_sink (void *arg, const zo_result_t *r, const zo_event_t *emits, uint32_t n_emits)
{
    t_rec_t *rec = arg;
    cr_assert_lt (rec->n, T_MAX);
    t_out_t *o = &rec->out [rec->n++];
    snprintf (o->id, sizeof (o->id), "%.*s", (int) r->id.len, r->id.ptr);
    o->ok = r->ok;
    o->final = r->final;
    o->took_ns = r->took_ns;
    t_span_json (r->result, o->result, sizeof (o->result));
    snprintf (o->error, sizeof (o->error), "%.*s", (int) r->error.len, r->error.ptr ? (const char *) r->error.ptr : "");
    o->n_emits = n_emits;
    for (uint32_t i = 0; i < n_emits && i < 4; i++) {
        snprintf (o->emit_id [i], 160, "%.*s", (int) emits [i].id.len, emits [i].id.ptr);
        snprintf (o->emit_type [i], 300, "%.*s", (int) emits [i].type.len, emits [i].type.ptr);
        t_span_json (emits [i].payload, o->emit_payload [i], 1024);
    }
    if (rec->want && rec->n >= rec->want)
        zo_loop_stop (rec->loop);
}

/*  An item whose spans point into static storage that lives for the test.  */
static inline zo_item_t
t_item (const char *id, const char *type, const char *payload_json, uint32_t attempt,
        uint32_t deadline_ms)
{
    static char store [T_MAX] [4096];
    static int next;
    cr_assert_lt (next, T_MAX);
    zo_item_t item;
    memset (&item, 0, sizeof (item));
    item.event.id = zo_span_str (id);
    item.event.type = zo_span_str (type);
    item.attempt = attempt;
    item.deadline_ms = deadline_ms;
    if (payload_json) {
        json_error_t err;
        json_t *json = json_loads (payload_json, JSON_DECODE_ANY, &err);
        cr_assert (json, "bad test JSON %s", payload_json);
        msgpack_sbuffer sbuf;
        msgpack_sbuffer_init (&sbuf);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
        cr_assert_eq (zo_json_pack (&pk, json), 0);
        json_decref (json);
        cr_assert_lt (sbuf.size, sizeof (store [0]));
        memcpy (store [next], sbuf.data, sbuf.size);
        item.event.payload = (zo_span_t) { (const uint8_t *) store [next], (uint32_t) sbuf.size };
        next++;
        msgpack_sbuffer_destroy (&sbuf);
    }
    return item;
}

static int
t_give_up (zo_loop_t *loop, int id, void *arg)
{
    return -1;
}

/*  Runs the loop until the recorder has `want` outcomes or max_ms passes.  */
static inline void
t_run (t_rec_t *rec, int want, uint64_t max_ms)
{
    rec->want = want;
    if (rec->n >= want)
        return;
    int id = zo_loop_timer (rec->loop, max_ms, t_give_up, NULL);
    zo_loop_run (rec->loop);
    zo_loop_cancel (rec->loop, id);
}

#endif
