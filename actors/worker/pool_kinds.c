/*  The built-in `http` and `sql` handlers: an event becomes one request to
    the pool actor (worker/pool), with the event's own time left as its
    deadline, and the answer becomes the event's result.

        route
            match = "github.issues.opened"
            handler = http
            service = github                    #   one of the pool's services
            method = POST                       #   default GET
            path = "/repos/{payload.repository.full_name}/issues/{payload.issue.number}/comments"
            body = '{{"body": "thanks, {payload.sender.login}"}}'   #   a template ({{ }}: braces); absent: no body
            content_type = application/json     #   with a body (the default)
        route
            match = "signup.created"
            handler = sql
            database = main                     #   one of the pool's databases
            statement = "insert into signups (email, name) values ($1, $2)"
            param1 = "{payload.email}"          #   param1..param16, templates
            param2 = "{payload.name}"

    Templates are template.h's. Results: http {"status", "body"} (the body
    as JSON when it is JSON, else a string); sql {"rows": [{column:
    value}...], "count"}. A 2xx or 3xx is a success; a 4xx other than 429
    fails the event finally (retrying cannot help); a 5xx or 429 after the
    pool's own retries, and the pool's unavailable, timeout and upstream
    errors, fail it for the broker to retry by the route's attempts.
*/
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer_call.h"
#include "template.h"
#include "zo_json.h"

#define S_PARAMS_MAX 16
#define S_TEXT_MAX 65536

typedef struct {
    char *service;              //  http
    char *method;
    char *path;                 //  a template
    char *body;                 //  a template, or NULL
    char *content_type;
    char *database;             //  sql
    char *statement;
    char *params [S_PARAMS_MAX];
    int n_params;
} s_conf_t;

static void
s_fini (zo_route_t *route)
{
    s_conf_t *conf = route->state;
    if (!conf)
        return;
    free (conf->service);
    free (conf->method);
    free (conf->path);
    free (conf->body);
    free (conf->content_type);
    free (conf->database);
    free (conf->statement);
    for (int i = 0; i < conf->n_params; i++)
        free (conf->params [i]);
    free (conf);
    route->state = NULL;
}

//  A copy of an option, or NULL (when absent and dflt is NULL).
static char *
s_opt (zo_route_t *route, const char *key, const char *dflt)
{
    const char *value = zo_route_opt (route, key, dflt);
    return value ? strdup (value) : NULL;
}

static int
s_bind_http (zo_route_t *route, char *why, size_t why_size)
{
    s_conf_t *conf = calloc (1, sizeof *conf);
    if (!conf)
        return -1;
    route->state = conf;
    conf->service = s_opt (route, "service", NULL);
    conf->method = s_opt (route, "method", "GET");
    conf->path = s_opt (route, "path", "/");
    conf->body = s_opt (route, "body", NULL);
    conf->content_type = s_opt (route, "content_type", "application/json");
    if (!conf->service || !*conf->service) {
        snprintf (why, why_size, "http: a route needs service (one of the pool's pool/services)");
        return -1;
    }
    if (!*conf->method || strlen (conf->method) > ZO_MAX_METHOD) {
        snprintf (why, why_size, "http: bad method '%s'", conf->method);
        return -1;
    }
    if (zo_template_check (conf->path, why, why_size)
    ||  (conf->body && zo_template_check (conf->body, why, why_size)))
        return -1;
    return 0;
}

static int
s_bind_sql (zo_route_t *route, char *why, size_t why_size)
{
    s_conf_t *conf = calloc (1, sizeof *conf);
    if (!conf)
        return -1;
    route->state = conf;
    conf->database = s_opt (route, "database", NULL);
    conf->statement = s_opt (route, "statement", NULL);
    if (!conf->database || !*conf->database || !conf->statement || !*conf->statement) {
        snprintf (why, why_size, "sql: a route needs database and statement");
        return -1;
    }
    for (int i = 0; i < S_PARAMS_MAX; i++) {
        char key [16];
        snprintf (key, sizeof key, "param%d", i + 1);
        const char *param = zo_route_opt (route, key, NULL);
        if (!param)
            break;
        if (zo_template_check (param, why, why_size))
            return -1;
        conf->params [conf->n_params++] = strdup (param);
    }
    return 0;
}

//  A body or a value into the result: JSON as a value, else a string.
static json_t *
s_json_or_string (zo_span_t bytes)
{
    json_t *json = json_loadb ((const char *) bytes.ptr, bytes.len, JSON_DECODE_ANY, NULL);
    return json ? json : json_stringn ((const char *) bytes.ptr, bytes.len);
}

static void
s_complete_json (zo_slot_t *slot, json_t *result)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    if (zo_json_pack (&pk, result) == 0)
        zo_slot_complete (slot, true, (zo_span_t) { (const uint8_t *) buf.data, (uint32_t) buf.size },
                          NULL, false);
    else
        zo_peer_fail (slot, true, "%s: a result that cannot be encoded", slot->route->handler);
    msgpack_sbuffer_destroy (&buf);
    json_decref (result);
}

static void
s_on_response (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
    zo_slot_t *slot = arg;
    const zo_msg_t *msg = zo_peer_call_reply (slot, reply, "pool");
    if (!msg)
        return;
    if (msg->cmd != ZO_CMD_RESPONSE) {
        zo_peer_fail (slot, false, "pool answered %s", zo_cmd_name (msg->cmd));
        return;
    }
    if (msg->status >= 400) {
        //  The start of the body says why, often.
        zo_peer_fail (slot, msg->status != 429 && msg->status < 500, "http: %s answered %u: %.*s",
                      ((s_conf_t *) slot->route->state)->service, msg->status,
                      (int) (msg->body.len > 200 ? 200 : msg->body.len), msg->body.ptr);
        return;
    }
    json_t *result = json_object ();
    json_object_set_new (result, "status", json_integer (msg->status));
    json_object_set_new (result, "body", s_json_or_string (msg->body));
    s_complete_json (slot, result);
}

static void
s_on_rows (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
    zo_slot_t *slot = arg;
    const zo_msg_t *msg = zo_peer_call_reply (slot, reply, "pool");
    if (!msg)
        return;
    if (msg->cmd != ZO_CMD_ROWS) {
        zo_peer_fail (slot, false, "pool answered %s", zo_cmd_name (msg->cmd));
        return;
    }
    json_t *columns = zo_json_from_span (msg->columns);
    json_t *rows = zo_json_from_span (msg->rows);
    json_t *objects = json_array ();
    size_t i, c;
    json_t *row, *name;
    json_array_foreach (rows, i, row) {
        json_t *o = json_object ();
        json_array_foreach (columns, c, name)
            if (json_is_string (name))
                json_object_set (o, json_string_value (name),
                                 json_array_get (row, c) ? json_array_get (row, c) : json_null ());
        json_array_append_new (objects, o);
    }
    json_decref (columns);
    json_decref (rows);
    json_t *result = json_object ();
    json_object_set_new (result, "rows", objects);
    json_object_set_new (result, "count", json_integer (msg->count));
    s_complete_json (slot, result);
}

static void
s_start_http (zo_slot_t *slot)
{
    s_conf_t *conf = slot->route->state;
    const zo_event_t *event = &slot->item.event;
    char path [ZO_MAX_TEXT + 1], why [160];
    char *body = conf->body ? malloc (S_TEXT_MAX) : NULL;
    int body_len = 0;
    if (zo_template_expand (conf->path, event, path, sizeof path, why, sizeof why) <= 0
    ||  (conf->body && (!body || (body_len = zo_template_expand (conf->body, event, body, S_TEXT_MAX,
                                                                 why, sizeof why)) < 0))) {
        free (body);
        zo_peer_fail (slot, true, "http: %s", why);
        return;
    }
    msgpack_sbuffer headers;
    msgpack_sbuffer_init (&headers);
    zo_msg_t req = { .cmd = ZO_CMD_REQUEST, .service = zo_span_str (conf->service),
                     .method = zo_span_str (conf->method), .path = zo_span_str (path) };
    if (body) {
        msgpack_packer pk;
        msgpack_packer_init (&pk, &headers, msgpack_sbuffer_write);
        msgpack_pack_map (&pk, 1);
        zo_proto_pack_str (&pk, "Content-Type");
        zo_proto_pack_str (&pk, conf->content_type);
        req.headers = (zo_span_t) { (const uint8_t *) headers.data, (uint32_t) headers.size };
        req.body = (zo_span_t) { (const uint8_t *) body, (uint32_t) body_len };
    }
    zo_peer_call (slot, "pool", &req, s_on_response);
    msgpack_sbuffer_destroy (&headers);
    free (body);
}

static void
s_start_sql (zo_slot_t *slot)
{
    s_conf_t *conf = slot->route->state;
    const zo_event_t *event = &slot->item.event;
    char *texts [S_PARAMS_MAX] = { NULL };
    zo_span_t params [S_PARAMS_MAX];
    char why [160];
    for (int i = 0; i < conf->n_params; i++) {
        int len = (texts [i] = malloc (S_TEXT_MAX))
                ? zo_template_expand (conf->params [i], event, texts [i], S_TEXT_MAX, why, sizeof why)
                : -1;
        if (len < 0) {
            for (int j = 0; j <= i; j++)
                free (texts [j]);
            zo_peer_fail (slot, true, "sql: param%d: %s", i + 1, texts [i] ? why : "out of memory");
            return;
        }
        params [i] = (zo_span_t) { (const uint8_t *) texts [i], (uint32_t) len };
    }
    zo_msg_t req = { .cmd = ZO_CMD_QUERY, .database = zo_span_str (conf->database),
                     .sql = zo_span_str (conf->statement), .values = params,
                     .n_values = (uint32_t) conf->n_params };
    zo_peer_call (slot, "pool", &req, s_on_rows);
    for (int i = 0; i < conf->n_params; i++)
        free (texts [i]);
}

const zo_kind_t zo_kind_http = {
    .name = "http", .event_size = sizeof (zo_peer_call_t),
    .bind = s_bind_http, .fini = s_fini, .start = s_start_http, .end = zo_peer_call_end,
};

const zo_kind_t zo_kind_sql = {
    .name = "sql", .event_size = sizeof (zo_peer_call_t),
    .bind = s_bind_sql, .fini = s_fini, .start = s_start_sql, .end = zo_peer_call_end,
};
