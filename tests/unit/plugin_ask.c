/*  plugin_ask: a test plugin that asks a peer for every event
    (zo_handler_request): it sends the event's payload, a map such as
    {"cmd": "PING"}, to the route's `peer` (default "cache") with the
    route's `timeout_ms` (default 0: the event's own), and completes the
    event with the reply as its result, or fails it with "request <status>".
    A payload that is not a map fails with "request refused". Replies are
    counted in handler_ask_replies_total.  */
#include <stdio.h>
#include <stdlib.h>

#include "zorch/handler.h"

typedef struct {
    const char *peer;
    uint32_t timeout_ms;
    uint64_t *replies;
} ask_t;

static int
s_init (zo_handler_ctx_t *ctx, const zo_handler_conf_t *conf, void **state)
{
    ask_t *self = calloc (1, sizeof (*self));
    if (!self)
        return -1;
    self->peer = zo_handler_conf_get (conf, "peer", "cache");
    self->timeout_ms = (uint32_t) strtoul (zo_handler_conf_get (conf, "timeout_ms", "0"), NULL, 10);
    self->replies = zo_handler_counter (ctx, "ask_replies");
    *state = self;
    return 0;
}

static void
s_fini (void *state)
{
    free (state);
}

static void
s_on_reply (zo_handler_t *h, int status, const void *reply, size_t len, void *arg)
{
    ask_t *self = arg;
    if (status != ZO_HANDLER_REPLY_OK) {
        char error [64];
        snprintf (error, sizeof (error), "request %s",
                  status == ZO_HANDLER_REPLY_TIMEOUT ? "timeout" : "rejected");
        zo_handler_complete (h, 0, NULL, 0, error);
        return;
    }
    if (self->replies)
        (*self->replies)++;
    zo_handler_complete (h, 1, reply, len, NULL);
}

static void
s_start (void *state, zo_handler_t *h, const zo_handler_event_t *event)
{
    ask_t *self = state;
    if (zo_handler_request (h, self->peer, event->payload, event->payload_len, self->timeout_ms,
                            s_on_reply, self) < 0)
        zo_handler_complete (h, 0, NULL, 0, "request refused");
}

const zo_handler_plugin_t zorch_handler_v2 = {
    .abi = ZO_HANDLER_ABI,
    .name = "ask",
    .init = s_init,
    .fini = s_fini,
    .start = s_start,
};
