/*  plugin_pool: a test plugin for the typed pool client of
    zorch/handler.h. With route option op = request it sends
    zo_pool_request (service, method from the route; the payload's "path",
    and its "body" when there is one) and completes with {"status","body"};
    with op = query it sends zo_pool_query (database and sql from the
    route; the payload's "param" as $1) and completes with {"rows" (JSON
    text), "count"}. An error fails the event with the client's error.  */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zorch/handler.h"

typedef struct {
    const char *op, *service, *method, *database, *sql;
} pool_t;

static int
s_init (zo_handler_ctx_t *ctx, const zo_handler_conf_t *conf, void **state)
{
    pool_t *self = calloc (1, sizeof *self);
    if (!self)
        return -1;
    self->op = zo_handler_conf_get (conf, "op", "request");
    self->service = zo_handler_conf_get (conf, "service", "local");
    self->method = zo_handler_conf_get (conf, "method", "GET");
    self->database = zo_handler_conf_get (conf, "database", "main");
    self->sql = zo_handler_conf_get (conf, "sql", "select 1");
    *state = self;
    return 0;
}

static void
s_fini (void *state)
{
    free (state);
}

//  A string field of the payload map into out, or "" when absent.
static void
s_field (const zo_handler_event_t *event, const char *key, char *out, size_t size)
{
    out [0] = 0;
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    if (event->payload
    &&  msgpack_unpack_next (&u, (const char *) event->payload, event->payload_len, NULL)
        == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            msgpack_object_kv *kv = &u.data.via.map.ptr [i];
            if (kv->key.type == MSGPACK_OBJECT_STR && kv->val.type == MSGPACK_OBJECT_STR
            &&  kv->key.via.str.size == strlen (key)
            &&  memcmp (kv->key.via.str.ptr, key, kv->key.via.str.size) == 0
            &&  kv->val.via.str.size < size) {
                memcpy (out, kv->val.via.str.ptr, kv->val.via.str.size);
                out [kv->val.via.str.size] = 0;
            }
        }
    msgpack_unpacked_destroy (&u);
}

static void
s_complete (zo_handler_t *h, const char *k1, int64_t v1, const char *k2, const char *v2, size_t n2)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 2);
    msgpack_pack_str_with_body (&pk, k1, strlen (k1));
    msgpack_pack_int64 (&pk, v1);
    msgpack_pack_str_with_body (&pk, k2, strlen (k2));
    msgpack_pack_str_with_body (&pk, v2, n2);
    zo_handler_complete (h, 1, buf.data, buf.size, NULL);
    msgpack_sbuffer_destroy (&buf);
}

static void
s_answered (zo_handler_t *h, int status, int http_status, const void *body, size_t len,
            const char *error, void *arg)
{
    if (status != ZO_POOL_OK)
        zo_handler_complete (h, 0, NULL, 0, error);
    else
        s_complete (h, "status", http_status, "body", body, len);
}

static void
s_rows (zo_handler_t *h, int status, const char *rows, uint32_t count, const char *error, void *arg)
{
    if (status != ZO_POOL_OK)
        zo_handler_complete (h, 0, NULL, 0, error);
    else
        s_complete (h, "count", count, "rows", rows, strlen (rows));
}

static void
s_start (void *state, zo_handler_t *h, const zo_handler_event_t *event)
{
    pool_t *self = state;
    char path [512], body [512], param [512];
    s_field (event, "path", path, sizeof path);
    s_field (event, "body", body, sizeof body);
    s_field (event, "param", param, sizeof param);
    const char *headers [] = { "Content-Type: text/plain", NULL };
    const char *params [] = { param };
    int64_t id = strcmp (self->op, "query") == 0
               ? zo_pool_query (h, self->database, self->sql, params, 1, 0, s_rows, NULL)
               : zo_pool_request (h, self->service, self->method, path [0] ? path : "/ok", headers,
                                  body [0] ? body : NULL, strlen (body), 0, s_answered, NULL);
    if (id < 0)
        zo_handler_complete (h, 0, NULL, 0, "plugin_pool: cannot ask the pool");
}

const zo_handler_plugin_t zorch_handler_v2 = {
    .abi = ZO_HANDLER_ABI,
    .name = "plugin_pool",
    .init = s_init,
    .fini = s_fini,
    .start = s_start,
};
