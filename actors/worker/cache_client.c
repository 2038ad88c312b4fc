/*  The typed cache client of zorch/handler.h (zo_cache_get ...): a
    request made by the codec, sent to the "cache" peer with
    zo_plugin_request_msg, and its VALUE, OK or ERROR turned into the
    handler's callback.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

typedef struct {
    zo_cache_value_fn *value_cb;
    zo_cache_done_fn *done_cb;
    void *arg;
} s_call_t;

static void
s_on_reply (zo_handler_t *h, const zo_rpc_reply_t *reply, void *arg)
{
    s_call_t *call = arg;
    const zo_msg_t *msg = reply->status == ZO_RPC_OK ? reply->msg : NULL;
    char error [256];
    if (!msg)
        snprintf (error, sizeof error, "the cache did not answer: %s", reply->reason);
    else
    if (msg->cmd == ZO_CMD_ERROR)
        snprintf (error, sizeof error, "the cache refused: %.*s: %.*s", (int) msg->code.len,
                  msg->code.ptr, (int) msg->reason.len, msg->reason.ptr);
    else
    if (call->value_cb && msg->cmd == ZO_CMD_VALUE) {
        char level [32];
        snprintf (level, sizeof level, "%.*s", (int) msg->level.len, msg->level.ptr);
        call->value_cb (h, msg->found ? ZO_CACHE_HIT : ZO_CACHE_MISS, msg->value.ptr,
                        msg->value.len, msg->found ? level : NULL, NULL, call->arg);
        return;
    }
    else
    if (!call->value_cb && msg->cmd == ZO_CMD_OK) {
        if (call->done_cb)
            call->done_cb (h, ZO_CACHE_OK, msg->count, NULL, call->arg);
        return;
    }
    else
        snprintf (error, sizeof error, "the cache answered %s", zo_cmd_name (msg->cmd));
    if (call->value_cb)
        call->value_cb (h, ZO_CACHE_ERROR, NULL, 0, NULL, error, call->arg);
    else
    if (call->done_cb)
        call->done_cb (h, ZO_CACHE_ERROR, 0, error, call->arg);
}

static int64_t
s_send (zo_handler_t *h, zo_msg_t *req, const char *key, uint32_t timeout_ms,
        zo_cache_value_fn *value_cb, zo_cache_done_fn *done_cb, void *arg)
{
    size_t len = key ? strlen (key) : 0;
    if (len == 0 || len > ZO_MAX_KEY)
        return -1;
    if (req->cmd == ZO_CMD_INVALIDATE)
        req->pattern = (zo_span_t) { (const uint8_t *) key, (uint32_t) len };
    else
        req->key = (zo_span_t) { (const uint8_t *) key, (uint32_t) len };
    s_call_t *call = malloc (sizeof *call);
    if (!call)
        return -1;
    *call = (s_call_t) { value_cb, done_cb, arg };
    int64_t id = zo_plugin_request_msg (h, "cache", req, timeout_ms, s_on_reply, call);
    if (id < 0)
        free (call);
    return id;
}

int64_t
zo_cache_get (zo_handler_t *h, const char *key, uint32_t timeout_ms, zo_cache_value_fn *cb,
              void *arg)
{
    if (!cb)
        return -1;
    zo_msg_t req = { .cmd = ZO_CMD_GET };
    return s_send (h, &req, key, timeout_ms, cb, NULL, arg);
}

int64_t
zo_cache_set (zo_handler_t *h, const char *key, const void *value, size_t len, uint64_t ttl_ms,
              uint32_t timeout_ms, zo_cache_done_fn *cb, void *arg)
{
    if ((!value && len) || len > UINT32_MAX)
        return -1;
    zo_msg_t req = { .cmd = ZO_CMD_SET, .ttl_ms = ttl_ms,
                     .value = { value ? value : (const void *) "", (uint32_t) len } };
    return s_send (h, &req, key, timeout_ms, NULL, cb, arg);
}

int64_t
zo_cache_del (zo_handler_t *h, const char *key, uint32_t timeout_ms, zo_cache_done_fn *cb,
              void *arg)
{
    zo_msg_t req = { .cmd = ZO_CMD_DEL };
    return s_send (h, &req, key, timeout_ms, NULL, cb, arg);
}

int64_t
zo_cache_invalidate (zo_handler_t *h, const char *pattern, uint32_t timeout_ms,
                     zo_cache_done_fn *cb, void *arg)
{
    zo_msg_t req = { .cmd = ZO_CMD_INVALIDATE };
    return s_send (h, &req, pattern, timeout_ms, NULL, cb, arg);
}
