/*  seen: an example plugin that uses the cache actor (zorch/handler.h's
    zo_cache_* calls): it counts how often each key was seen, cluster-wide.

        route
            match = "signup.*"
            handler = seen           #   found as <worker/plugin_dir>/seen.so
            field = email            #   the payload field that is the key (default "key")
            ttl_ms = 3600000         #   how long a count lives (default: cache/ttl)

    For each event it reads "seen:<value of field>" from the cache, adds
    one, stores it back, and completes with {"key", "seen", "level"}:
    seen 1 the first time, and level where the old count was found
    ("memory", "redis", "postgres"; absent the first time). Both requests
    are asynchronous: thousands of events wait on the cache at once. A
    cache that does not answer fails the event (the broker retries it).
    Two workers counting one key at the same instant may both read the
    same count: good enough for an example, not a counter to bill with.
*/
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zorch/handler.h"

typedef struct {
    char field [64];
    uint64_t ttl_ms;
} seen_t;

typedef struct {
    seen_t *self;
    char key [300];
    uint64_t count;
    char level [16];
} job_t;

static int
s_init (zo_handler_ctx_t *ctx, const zo_handler_conf_t *conf, void **state)
{
    seen_t *self = calloc (1, sizeof *self);
    if (!self)
        return -1;
    snprintf (self->field, sizeof self->field, "%s", zo_handler_conf_get (conf, "field", "key"));
    self->ttl_ms = strtoull (zo_handler_conf_get (conf, "ttl_ms", "0"), NULL, 10);
    *state = self;
    return 0;
}

static void
s_fini (void *state)
{
    free (state);
}

//  The value of a string field of the payload map, or NULL.
static int
s_field (const zo_handler_event_t *event, const char *field, char *out, size_t size)
{
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    int rc = -1;
    if (event->payload
    &&  msgpack_unpack_next (&u, (const char *) event->payload, event->payload_len, NULL)
        == MSGPACK_UNPACK_SUCCESS
    &&  u.data.type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            msgpack_object_kv *kv = &u.data.via.map.ptr [i];
            if (kv->key.type == MSGPACK_OBJECT_STR && kv->val.type == MSGPACK_OBJECT_STR
            &&  kv->key.via.str.size == strlen (field)
            &&  memcmp (kv->key.via.str.ptr, field, kv->key.via.str.size) == 0
            &&  kv->val.via.str.size > 0 && kv->val.via.str.size < size) {
                memcpy (out, kv->val.via.str.ptr, kv->val.via.str.size);
                out [kv->val.via.str.size] = 0;
                rc = 0;
            }
        }
    msgpack_unpacked_destroy (&u);
    return rc;
}

static void
s_stored (zo_handler_t *h, int status, uint32_t count, const char *error, void *arg)
{
    job_t *job = arg;
    if (status != ZO_CACHE_OK) {
        zo_handler_complete (h, 0, NULL, 0, error);
        free (job);
        return;
    }
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, job->level [0] ? 3 : 2);
    msgpack_pack_str_with_body (&pk, "key", 3);
    msgpack_pack_str_with_body (&pk, job->key, strlen (job->key));
    msgpack_pack_str_with_body (&pk, "seen", 4);
    msgpack_pack_uint64 (&pk, job->count);
    if (job->level [0]) {
        msgpack_pack_str_with_body (&pk, "level", 5);
        msgpack_pack_str_with_body (&pk, job->level, strlen (job->level));
    }
    zo_handler_complete (h, 1, buf.data, buf.size, NULL);
    msgpack_sbuffer_destroy (&buf);
    free (job);
}

static void
s_found (zo_handler_t *h, int status, const void *value, size_t len, const char *level,
         const char *error, void *arg)
{
    job_t *job = arg;
    if (status == ZO_CACHE_ERROR) {
        zo_handler_complete (h, 0, NULL, 0, error);
        free (job);
        return;
    }
    char text [24] = "0";
    if (status == ZO_CACHE_HIT && len < sizeof text) {
        memcpy (text, value, len);
        text [len] = 0;
        snprintf (job->level, sizeof job->level, "%s", level);
    }
    job->count = strtoull (text, NULL, 10) + 1;
    snprintf (text, sizeof text, "%llu", (unsigned long long) job->count);
    if (zo_cache_set (h, job->key, text, strlen (text), job->self->ttl_ms, 0, s_stored, job) < 0) {
        zo_handler_complete (h, 0, NULL, 0, "seen: cannot ask the cache");
        free (job);
    }
}

static void
s_start (void *state, zo_handler_t *h, const zo_handler_event_t *event)
{
    seen_t *self = state;
    job_t *job = calloc (1, sizeof *job);
    char value [256];
    if (!job || s_field (event, self->field, value, sizeof value)) {
        free (job);
        zo_handler_fail_final (h, "seen: the payload has no string field to count");
        return;
    }
    job->self = self;
    snprintf (job->key, sizeof job->key, "seen:%s", value);
    zo_handler_set_data (h, job);
    if (zo_cache_get (h, job->key, 0, s_found, job) < 0) {
        free (job);
        zo_handler_complete (h, 0, NULL, 0, "seen: cannot ask the cache");
    }
}

//  The event timed out while a request was pending: the worker drops the
//  request (its callback will not run); the job is ours to free.
static void
s_cancel (void *state, zo_handler_t *h)
{
    free (zo_handler_data (h));
}

const zo_handler_plugin_t zorch_handler_v2 = {
    .abi = ZO_HANDLER_ABI,
    .name = "seen",
    .init = s_init,
    .fini = s_fini,
    .start = s_start,
    .cancel = s_cancel,
};
