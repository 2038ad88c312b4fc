/*  The built-in `cache` handler: asks the cache actor (worker/cache) for
    a key made from the event, or changes it.

        route
            match = "github.push"
            handler = cache
            op = set                            #   get (default), set, del, invalidate
            key = "repo:{payload.repository.full_name}"   #   a template (template.h); a glob for invalidate
            value = payload.repository          #   set: what to store, payload or payload.<field> (default payload)
            ttl = 1h                            #   set: time to live (default: the cache's cache/ttl)

    Values are stored as JSON text, so that `zorch cache get`, redis-cli and
    psql read them as they are. Results: get {"found": bool, "value": <the
    stored JSON as a value, or the bytes as a string when they are not
    JSON>, "level": "memory" | "redis" | "postgres"}; the others {"count":
    keys changed}.
    A miss is a success (found false). A cache that does not answer in
    time fails the event, to be retried like any failure; a request the
    cache refuses as malformed or too large fails it finally.
*/
#include <jansson.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer_call.h"
#include "template.h"
#include "zo_json.h"
#include "zo_rpc.h"

typedef enum { S_GET, S_SET, S_DEL, S_INVALIDATE } s_op_t;
static const char *s_op_names [] = { "get", "set", "del", "invalidate" };

typedef struct {
    s_op_t op;
    char *key;                  //  a template
    char *value;                //  set: "payload" or "payload.<path>"
    uint64_t ttl_ms;
} s_conf_t;


static int
s_bind (zo_route_t *route, char *why, size_t why_size)
{
    const char *op = zo_route_opt (route, "op", "get");
    const char *key = zo_route_opt (route, "key", NULL);
    const char *value = zo_route_opt (route, "value", "payload");
    const char *ttl = zo_route_opt (route, "ttl", "0");
    int which = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp (op, s_op_names [i]) == 0)
            which = i;
    if (which < 0) {
        snprintf (why, why_size, "cache: op '%s' is not get, set, del or invalidate", op);
        return -1;
    }
    if (!key || !*key) {
        snprintf (why, why_size, "cache: a route needs a key (a template such as \"repo:{payload.id}\")");
        return -1;
    }
    if (zo_template_check (key, why, why_size))
        return -1;
    if (strcmp (value, "payload") != 0 && strncmp (value, "payload.", 8) != 0) {
        snprintf (why, why_size, "cache: value '%s' is not payload or payload.<field>", value);
        return -1;
    }
    int64_t ttl_ms = zo_routes_parse_ms (ttl);
    if (ttl_ms < 0) {
        snprintf (why, why_size, "cache: bad ttl '%s'", ttl);
        return -1;
    }
    s_conf_t *conf = calloc (1, sizeof *conf);
    if (!conf || !(conf->key = strdup (key)) || !(conf->value = strdup (value))) {
        if (conf)
            free (conf->key);
        free (conf);
        snprintf (why, why_size, "cache: out of memory");
        return -1;
    }
    conf->op = (s_op_t) which;
    conf->ttl_ms = (uint64_t) ttl_ms;
    route->state = conf;
    return 0;
}

static void
s_fini (zo_route_t *route)
{
    s_conf_t *conf = route->state;
    if (conf) {
        free (conf->key);
        free (conf->value);
        free (conf);
    }
    route->state = NULL;
}


//  A stored value into the result: its JSON as a value, else the bytes
//  as a string.
static void
s_pack_value (msgpack_packer *pk, zo_span_t bytes)
{
    json_t *json = json_loadb ((const char *) bytes.ptr, bytes.len, JSON_DECODE_ANY, NULL);
    if (!json || zo_json_pack (pk, json))
        msgpack_pack_str_with_body (pk, bytes.ptr, bytes.len);
    json_decref (json);
}

static void
s_on_reply (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
    zo_slot_t *slot = arg;
    const zo_msg_t *msg = zo_peer_call_reply (slot, reply, "cache");
    if (!msg)
        return;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    if (msg->cmd == ZO_CMD_VALUE) {
        msgpack_pack_map (&pk, msg->found ? 3 : 1);
        zo_proto_pack_str (&pk, "found");
        if (msg->found) {
            msgpack_pack_true (&pk);
            zo_proto_pack_str (&pk, "value");
            s_pack_value (&pk, msg->value);
            zo_proto_pack_str (&pk, "level");
            msgpack_pack_str_with_body (&pk, msg->level.ptr, msg->level.len);
        }
        else
            msgpack_pack_false (&pk);
    }
    else
    if (msg->cmd == ZO_CMD_OK) {
        msgpack_pack_map (&pk, 1);
        zo_proto_pack_str (&pk, "count");
        msgpack_pack_uint32 (&pk, msg->count);
    }
    else {
        msgpack_sbuffer_destroy (&buf);
        zo_peer_fail (slot, false, "cache answered %s", zo_cmd_name (msg->cmd));
        return;
    }
    zo_slot_complete (slot, true, (zo_span_t) { (const uint8_t *) buf.data, (uint32_t) buf.size },
                      NULL, false);
    msgpack_sbuffer_destroy (&buf);
}

static void
s_start (zo_slot_t *slot)
{
    s_conf_t *conf = slot->route->state;
    const zo_event_t *event = &slot->item.event;
    char key [ZO_MAX_KEY + 1], why [160];
    int len = zo_template_expand (conf->key, event, key, sizeof key, why, sizeof why);
    if (len <= 0) {
        zo_peer_fail (slot, true, "cache: key: %s", len == 0 ? "empty" : why);
        return;
    }
    zo_msg_t req = { .key = { (const uint8_t *) key, (uint32_t) len } };
    char *text = NULL;              //  set: the value as JSON
    switch (conf->op) {
        case S_GET: req.cmd = ZO_CMD_GET; break;
        case S_DEL: req.cmd = ZO_CMD_DEL; break;
        case S_INVALIDATE:
            req.cmd = ZO_CMD_INVALIDATE;
            req.pattern = req.key;
            req.key = (zo_span_t) { NULL, 0 };
            break;
        case S_SET: {
            req.cmd = ZO_CMD_SET;
            req.ttl_ms = conf->ttl_ms;
            zo_span_t value = event->payload;
            if (strcmp (conf->value, "payload") != 0
            &&  zo_template_lookup (event->payload, conf->value + 8, strlen (conf->value + 8), &value)) {
                zo_peer_fail (slot, true, "cache: the event has no %s", conf->value);
                return;
            }
            json_t *json = value.len ? zo_json_from_span (value) : NULL;
            text = json ? json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            json_decref (json);
            if (!text) {
                zo_peer_fail (slot, true, "cache: the event has no %s to store", conf->value);
                return;
            }
            req.value = zo_span_str (text);
            break;
        }
    }
    zo_peer_call (slot, "cache", &req, s_on_reply);
    free (text);
}

const zo_kind_t zo_kind_cache = {
    .name = "cache", .event_size = sizeof (zo_peer_call_t),
    .bind = s_bind, .fini = s_fini, .start = s_start, .end = zo_peer_call_end,
};
