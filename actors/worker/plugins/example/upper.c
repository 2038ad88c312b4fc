/*  upper: an example zorch handler plugin (zorch/handler.h).

    Completes each event after a timer (route option `delay_ms`, default 10,
    or the payload's "delay_ms") with its payload where every string value
    is upper-cased. If the payload is a map with "emit": "<type>", it also
    emits one follow-up event of that type carrying the same result.

        route
            match = "text.*"
            handler = upper          #   found as <worker/plugin_dir>/upper.so
            delay_ms = 5

    It counts the strings it upper-cased in the worker's STATS
    (handler_upper_strings_total). It uses nothing of the worker but the
    public header (and msgpack-c to read and write values).
*/
#include <ctype.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "zorch/handler.h"

typedef struct {
    uint64_t delay_ms;
    uint64_t *strings;          /* handler_upper_strings_total, in the worker's STATS */
} upper_t;

/*  One event's work: the upper-cased payload, waiting for the timer.  */
typedef struct {
    msgpack_sbuffer result;
} job_t;

static int
s_init (zo_handler_ctx_t *ctx, const zo_handler_conf_t *conf, void **state)
{
    upper_t *self = calloc (1, sizeof (*self));
    if (!self)
        return -1;
    self->strings = zo_handler_counter (ctx, "upper_strings");
    self->delay_ms = strtoull (zo_handler_conf_get (conf, "delay_ms", "10"), NULL, 10);
    *state = self;
    return 0;
}

static void
s_fini (void *state)
{
    free (state);
}

/*  Packs obj with every string value upper-cased (map keys kept), adding
    the strings it changed to *strings (when there is a counter).  */
static void
s_pack_upper (msgpack_packer *pk, const msgpack_object *obj, uint64_t *strings)
{
    switch (obj->type) {
        case MSGPACK_OBJECT_STR: {
            if (strings)
                (*strings)++;
            msgpack_pack_str (pk, obj->via.str.size);
            char buf [256];
            for (uint32_t off = 0; off < obj->via.str.size; off += sizeof (buf)) {
                uint32_t n = obj->via.str.size - off;
                if (n > sizeof (buf))
                    n = sizeof (buf);
                for (uint32_t i = 0; i < n; i++)
                    buf [i] = (char) toupper ((unsigned char) obj->via.str.ptr [off + i]);
                msgpack_pack_str_body (pk, buf, n);
            }
            break;
        }
        case MSGPACK_OBJECT_ARRAY:
            msgpack_pack_array (pk, obj->via.array.size);
            for (uint32_t i = 0; i < obj->via.array.size; i++)
                s_pack_upper (pk, &obj->via.array.ptr [i], strings);
            break;
        case MSGPACK_OBJECT_MAP:
            msgpack_pack_map (pk, obj->via.map.size);
            for (uint32_t i = 0; i < obj->via.map.size; i++) {
                msgpack_pack_object (pk, obj->via.map.ptr [i].key);
                s_pack_upper (pk, &obj->via.map.ptr [i].val, strings);
            }
            break;
        default:
            msgpack_pack_object (pk, *obj);
    }
}

/*  A map's value for a string key, or NULL.  */
static const msgpack_object *
s_lookup (const msgpack_object *map, const char *key)
{
    if (map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t len = strlen (key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr [i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len
        &&  memcmp (k->via.str.ptr, key, len) == 0)
            return &map->via.map.ptr [i].val;
    }
    return NULL;
}

static void
s_job_free (job_t *job)
{
    if (job) {
        msgpack_sbuffer_destroy (&job->result);
        free (job);
    }
}

static void
s_on_timer (zo_handler_t *h, void *arg)
{
    job_t *job = arg;
    zo_handler_set_data (h, NULL);
    zo_handler_complete (h, 1, job->result.data, job->result.size, NULL);
    s_job_free (job);
}

static void
s_start (void *state, zo_handler_t *h, const zo_handler_event_t *event)
{
    upper_t *self = state;
    job_t *job = calloc (1, sizeof (*job));
    if (!job) {
        zo_handler_complete (h, 0, NULL, 0, "upper: out of memory");
        return;
    }
    msgpack_sbuffer_init (&job->result);
    uint64_t delay = self->delay_ms;
    if (event->payload) {
        msgpack_zone zone;
        msgpack_zone_init (&zone, 2048);
        msgpack_object obj;
        size_t off = 0;
        if (msgpack_unpack ((const char *) event->payload, event->payload_len, &off, &zone, &obj)
            != MSGPACK_UNPACK_SUCCESS) {
            msgpack_zone_destroy (&zone);
            s_job_free (job);
            zo_handler_fail_final (h, "upper: unreadable payload");
            return;
        }
        msgpack_packer pk;
        msgpack_packer_init (&pk, &job->result, msgpack_sbuffer_write);
        s_pack_upper (&pk, &obj, self->strings);
        const msgpack_object *d = s_lookup (&obj, "delay_ms");
        if (d && d->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            delay = d->via.u64;
        const msgpack_object *emit = s_lookup (&obj, "emit");
        if (emit && emit->type == MSGPACK_OBJECT_STR && emit->via.str.size < 256) {
            char type [256];
            memcpy (type, emit->via.str.ptr, emit->via.str.size);
            type [emit->via.str.size] = 0;
            zo_handler_emit (h, type, job->result.data, job->result.size);
        }
        msgpack_zone_destroy (&zone);
    }
    zo_handler_set_data (h, job);
    if (zo_handler_timer (h, delay, s_on_timer, job) < 0) {
        zo_handler_set_data (h, NULL);
        s_job_free (job);
        zo_handler_complete (h, 0, NULL, 0, "upper: no timer");
    }
}

/*  Timed out: the worker drops our timer; free the job.  */
static void
s_cancel (void *state, zo_handler_t *h)
{
    s_job_free (zo_handler_data (h));
    zo_handler_set_data (h, NULL);
}

const zo_handler_plugin_t zorch_handler_v2 = {
    .abi = ZO_HANDLER_ABI,
    .name = "upper",
    .init = s_init,
    .fini = s_fini,
    .start = s_start,
    .cancel = s_cancel,
};
