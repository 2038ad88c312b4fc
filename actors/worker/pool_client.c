/*  The typed pool client of zorch/handler.h (zo_pool_request,
    zo_pool_query): a request made by the codec, sent to the "pool" peer
    with zo_plugin_request_msg, and its RESPONSE, ROWS or ERROR turned
    into the handler's callback.  */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "zo_json.h"

#define S_HEADERS_MAX 64
#define S_PARAMS_MAX ZO_MAX_BATCH

typedef struct {
    zo_pool_http_fn *http_cb;
    zo_pool_rows_fn *rows_cb;
    void *arg;
} s_call_t;

//  The rows of a ROWS as JSON objects; NULL when they do not decode.
static char *
s_rows_json (const zo_msg_t *msg)
{
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
    char *text = columns && rows ? json_dumps (objects, JSON_COMPACT) : NULL;
    json_decref (columns);
    json_decref (rows);
    json_decref (objects);
    return text;
}

static void
s_on_reply (zo_handler_t *h, const zo_rpc_reply_t *reply, void *arg)
{
    s_call_t *call = arg;
    const zo_msg_t *msg = reply->status == ZO_RPC_OK ? reply->msg : NULL;
    char error [512];
    if (!msg)
        snprintf (error, sizeof error, "the pool did not answer: %s", reply->reason);
    else
    if (msg->cmd == ZO_CMD_ERROR)
        snprintf (error, sizeof error, "the pool refused: %.*s: %.*s", (int) msg->code.len,
                  msg->code.ptr, (int) msg->reason.len, msg->reason.ptr);
    else
    if (call->http_cb && msg->cmd == ZO_CMD_RESPONSE) {
        call->http_cb (h, ZO_POOL_OK, (int) msg->status, msg->body.ptr, msg->body.len, NULL, call->arg);
        return;
    }
    else
    if (call->rows_cb && msg->cmd == ZO_CMD_ROWS) {
        char *rows = s_rows_json (msg);
        if (rows)
            call->rows_cb (h, ZO_POOL_OK, rows, msg->count, NULL, call->arg);
        else
            call->rows_cb (h, ZO_POOL_ERROR, NULL, 0, "rows that do not decode", call->arg);
        free (rows);
        return;
    }
    else
        snprintf (error, sizeof error, "the pool answered %s", zo_cmd_name (msg->cmd));
    if (call->http_cb)
        call->http_cb (h, ZO_POOL_ERROR, 0, NULL, 0, error, call->arg);
    else
        call->rows_cb (h, ZO_POOL_ERROR, NULL, 0, error, call->arg);
}

static int64_t
s_send (zo_handler_t *h, zo_msg_t *req, zo_pool_http_fn *http_cb, zo_pool_rows_fn *rows_cb, void *arg)
{
    s_call_t *call = malloc (sizeof *call);
    if (!call)
        return -1;
    *call = (s_call_t) { http_cb, rows_cb, arg };
    int64_t id = zo_plugin_request_msg (h, "pool", req, req->timeout_ms, s_on_reply, call);
    if (id < 0)
        free (call);
    return id;
}

int64_t
zo_pool_request (zo_handler_t *h, const char *service, const char *method, const char *path,
                 const char *const *headers, const void *body, size_t len, uint32_t timeout_ms,
                 zo_pool_http_fn *cb, void *arg)
{
    if (!cb || !service || !method || !path || len > UINT32_MAX || (len && !body))
        return -1;
    //  Headers as the map the protocol carries.
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    size_t n = 0;
    while (headers && headers [n] && n < S_HEADERS_MAX)
        n++;
    msgpack_pack_map (&pk, (uint32_t) n);
    for (size_t i = 0; i < n; i++) {
        const char *colon = strchr (headers [i], ':');
        if (!colon) {
            msgpack_sbuffer_destroy (&buf);
            return -1;
        }
        const char *value = colon + 1;
        while (*value == ' ')
            value++;
        msgpack_pack_str_with_body (&pk, headers [i], (size_t) (colon - headers [i]));
        zo_proto_pack_str (&pk, value);
    }
    zo_msg_t req = { .cmd = ZO_CMD_REQUEST, .service = zo_span_str (service),
                     .method = zo_span_str (method), .path = zo_span_str (path),
                     .timeout_ms = timeout_ms };
    if (n)
        req.headers = (zo_span_t) { (const uint8_t *) buf.data, (uint32_t) buf.size };
    if (body)
        req.body = (zo_span_t) { body, (uint32_t) len };
    int64_t id = s_send (h, &req, cb, NULL, arg);
    msgpack_sbuffer_destroy (&buf);
    return id;
}

int64_t
zo_pool_query (zo_handler_t *h, const char *database, const char *sql, const char *const *params,
               size_t n, uint32_t timeout_ms, zo_pool_rows_fn *cb, void *arg)
{
    if (!cb || !database || !sql || n > S_PARAMS_MAX || (n && !params))
        return -1;
    zo_span_t *values = n ? calloc (n, sizeof *values) : NULL;
    if (n && !values)
        return -1;
    for (size_t i = 0; i < n; i++)
        values [i] = params [i] ? zo_span_str (params [i]) : (zo_span_t) { NULL, 0 };
    zo_msg_t req = { .cmd = ZO_CMD_QUERY, .database = zo_span_str (database), .sql = zo_span_str (sql),
                     .values = values, .n_values = (uint32_t) n, .timeout_ms = timeout_ms };
    int64_t id = s_send (h, &req, NULL, cb, arg);
    free (values);
    return id;
}
