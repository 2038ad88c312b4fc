/*  plugin: see plugin.h.  */
#include "peer_call.h"
#include "plugin.h"

#include <czmq.h>
#include <dlfcn.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zo_json.h"

/*  Open libraries, shared by the routes that use them.  */
typedef struct s_lib {
    struct s_lib *next;
    char *path;
    char *symbol;
    void *dl;
    const zo_handler_plugin_t *plugin;
    unsigned refs;
} s_lib_t;

static s_lib_t *s_libs;

/*  A route's state.  */
typedef struct {
    const zo_handler_plugin_t *plugin;
    void *state;
} s_route_t;

#define S_TIMERS   8            /* per event: the limits handler.h gives */
#define S_FDS      4
#define S_REQUESTS 8            /* a power of two: a request's handle holds its index */

//  The reply statuses handler.h promises are zo_rpc's.
_Static_assert (ZO_HANDLER_REPLY_OK == (int) ZO_RPC_OK
             && ZO_HANDLER_REPLY_TIMEOUT == (int) ZO_RPC_TIMEOUT
             && ZO_HANDLER_REPLY_TOO_LARGE == (int) ZO_RPC_TOO_LARGE
             && ZO_HANDLER_REPLY_BAD == (int) ZO_RPC_BAD_MESSAGE, "reply statuses");

/*  An event's state: what the API calls keep for it.  */
typedef struct {
    void *user;
    zo_handler_event_t view;    /* what the plugin sees */
    struct { int id; zo_handler_timer_fn *cb; void *arg; } timers [S_TIMERS];
    struct { zo_watch_t *watch; int fd; int events; zo_handler_fd_fn *cb; void *arg; } fds [S_FDS];
    /*  id is zo_rpc's, unique per peer; handle is what the plugin holds,
        unique per event: (a count of the event's requests << 3) | index.  */
    //  A typed request (zo_plugin_request_msg) has mcb instead of cb, and
    //  an arg of its own, freed when it ends.
    struct { uint64_t id; int64_t handle; zo_rpc_t *rpc; zo_handler_reply_fn *cb;
             zo_plugin_msg_fn *mcb; void *arg; }
        requests [S_REQUESTS];
    int64_t requests_made;
} s_event_t;

const zo_handler_plugin_t *
zo_plugin_open (const char *path, const char *symbol, char *why, size_t why_size)
{
    if (!symbol || !*symbol)
        symbol = "zorch_handler_v2";
    for (s_lib_t *lib = s_libs; lib; lib = lib->next)
        if (streq (lib->path, path) && streq (lib->symbol, symbol)) {
            lib->refs++;
            return lib->plugin;
        }
    void *dl = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        snprintf (why, why_size, "dlopen: %s", dlerror ());
        return NULL;
    }
    const zo_handler_plugin_t *plugin = dlsym (dl, symbol);
    if (!plugin && streq (symbol, "zorch_handler_v2") && dlsym (dl, "zorch_handler_v1")) {
        snprintf (why, why_size, "%s: built for handler ABI 1; rebuild it against "
                  "zorch/handler.h (ABI %d)", path, ZO_HANDLER_ABI);
        dlclose (dl);
        return NULL;
    }
    if (!plugin) {
        snprintf (why, why_size, "%s: no symbol %s", path, symbol);
        dlclose (dl);
        return NULL;
    }
    if (plugin->abi != ZO_HANDLER_ABI || !plugin->start) {
        snprintf (why, why_size, "%s: %s has ABI %u (want %u) or no start", path, symbol,
                  plugin->abi, ZO_HANDLER_ABI);
        dlclose (dl);
        return NULL;
    }
    s_lib_t *lib = calloc (1, sizeof (*lib));
    if (!lib || !(lib->path = strdup (path)) || !(lib->symbol = strdup (symbol))) {
        if (lib)
            free (lib->path);
        free (lib);
        dlclose (dl);
        snprintf (why, why_size, "out of memory");
        return NULL;
    }
    lib->dl = dl;
    lib->plugin = plugin;
    lib->refs = 1;
    lib->next = s_libs;
    s_libs = lib;
    return plugin;
}

void
zo_plugin_close (const zo_handler_plugin_t *plugin)
{
    for (s_lib_t **link = &s_libs; *link; link = &(*link)->next) {
        s_lib_t *lib = *link;
        if (lib->plugin == plugin) {
            if (--lib->refs == 0) {
                *link = lib->next;
                dlclose (lib->dl);
                free (lib->path);
                free (lib->symbol);
                free (lib);
            }
            return;
        }
    }
}

static int
s_bind (zo_route_t *route, char *why, size_t why_size)
{
    const char *plugin_dir = route->ctx? zo_hctx_plugin_dir (route->ctx): "";
    char path [4096];
    const char *given = zo_route_opt (route, "path", NULL);
    if (streq (route->handler, "plugin")) {
        if (!given || !*given) {
            snprintf (why, why_size, "handler = plugin needs a path");
            return -1;
        }
        if (given [0] != '/' && plugin_dir && *plugin_dir)
            snprintf (path, sizeof (path), "%s/%s", plugin_dir, given);
        else
        if (!strchr (given, '/'))
            snprintf (path, sizeof (path), "./%s", given);
        else
            snprintf (path, sizeof (path), "%s", given);
    }
    else {
        if (!plugin_dir || !*plugin_dir) {
            snprintf (why, why_size, "unknown handler (and no worker/plugin_dir to look in)");
            return -1;
        }
        snprintf (path, sizeof (path), "%s/%s.so", plugin_dir, route->handler);
    }
    s_route_t *state = calloc (1, sizeof (*state));
    if (!state) {
        snprintf (why, why_size, "out of memory");
        return -1;
    }
    state->plugin = zo_plugin_open (path, zo_route_opt (route, "symbol", NULL), why, why_size);
    if (!state->plugin) {
        free (state);
        return -1;
    }
    if (state->plugin->init
    &&  state->plugin->init ((zo_handler_ctx_t *) route->ctx, (const zo_handler_conf_t *) route,
                             &state->state)) {
        snprintf (why, why_size, "%s: init refused the route", path);
        zo_plugin_close (state->plugin);
        free (state);
        return -1;
    }
    route->state = state;
    return 0;
}

static void
s_fini (zo_route_t *route)
{
    s_route_t *state = route->state;
    if (!state)
        return;
    if (state->plugin->fini)
        state->plugin->fini (state->state);
    zo_plugin_close (state->plugin);
    free (state);
    route->state = NULL;
}

static void
s_start (zo_slot_t *slot)
{
    s_route_t *state = slot->route->state;
    s_event_t *event = zo_slot_state (slot);
    zo_span_t payload = slot->item.event.payload;
    event->view = (zo_handler_event_t) {
        .id = slot->id, .type = slot->type, .source = slot->source,
        .payload = payload.len ? payload.ptr : NULL, .payload_len = payload.len,
        .attempt = slot->item.attempt, .timeout_ms = (uint32_t) slot->timeout_ms,
    };
    state->plugin->start (state->state, zo_slot_handle (slot), &event->view);
}

static void
s_cancel (zo_slot_t *slot)
{
    s_route_t *state = slot->route->state;
    if (state->plugin->cancel)
        state->plugin->cancel (state->state, zo_slot_handle (slot));
}

/*  The event ended: its timers, watches and requests go with it.  */
static void
s_end (zo_slot_t *slot)
{
    s_event_t *event = zo_slot_state (slot);
    zo_loop_t *loop = zo_inflight_loop (slot->owner);
    for (int i = 0; i < S_REQUESTS; i++)
        if (event->requests [i].id) {
            zo_rpc_cancel (event->requests [i].rpc, event->requests [i].id);
            event->requests [i].id = 0;
            if (event->requests [i].mcb)
                free (event->requests [i].arg);
        }
    for (int i = 0; i < S_TIMERS; i++)
        if (event->timers [i].id) {
            zo_loop_cancel (loop, event->timers [i].id);
            event->timers [i].id = 0;
        }
    for (int i = 0; i < S_FDS; i++)
        zo_loop_unwatch (loop, &event->fds [i].watch);
}

const zo_kind_t zo_kind_plugin = {
    .name = "plugin", .event_size = sizeof (s_event_t),
    .bind = s_bind, .fini = s_fini, .start = s_start, .cancel = s_cancel, .end = s_end
};

/*  The public API (zorch/handler.h).  */

uint64_t *
zo_handler_counter (zo_handler_ctx_t *ctx, const char *name)
{
    return ctx ? zo_hctx_counter ((zo_hctx_t *) ctx, name) : NULL;
}

const char *
zo_handler_conf_get (const zo_handler_conf_t *conf, const char *key, const char *dflt)
{
    return conf ? zo_route_opt ((const zo_route_t *) conf, key, dflt) : dflt;
}

static bool
s_one_value (const void *data, size_t len)
{
    zo_mp_t cur;
    zo_mp_init (&cur, data, len);
    return zo_mp_skip (&cur, NULL) == 0 && zo_mp_left (&cur) == 0;
}

static int
s_complete (zo_handler_t *h, int ok, const void *result, size_t len, const char *error, bool final)
{
    zo_slot_t *slot = zo_inflight_slot (h, false);
    if (!slot)
        return -1;
    if (len && (!result || len > ZO_MAX_FRAME / 2 || !s_one_value (result, len))) {
        zo_slot_complete (slot, false, (zo_span_t) { NULL, 0 },
                          len > ZO_MAX_FRAME / 2 ? "handler result too large"
                                                 : "handler result is not one msgpack value",
                          false);
        return -1;
    }
    zo_slot_complete (slot, ok != 0, (zo_span_t) { result, (uint32_t) len }, error, final);
    return 0;
}

int
zo_handler_complete (zo_handler_t *h, int ok, const void *result, size_t len, const char *error)
{
    return s_complete (h, ok, result, len, error, false);
}

int
zo_handler_fail_final (zo_handler_t *h, const char *error)
{
    return s_complete (h, 0, NULL, 0, error, true);
}

/*  JSON text to msgpack in sbuf. 0 or -1.  */
static int
s_json_to_mp (const char *json, msgpack_sbuffer *sbuf)
{
    json_error_t jerr;
    json_t *value = json_loads (json, JSON_DECODE_ANY, &jerr);
    if (!value)
        return -1;
    msgpack_packer pk;
    msgpack_packer_init (&pk, sbuf, msgpack_sbuffer_write);
    int rc = zo_json_pack (&pk, value);
    json_decref (value);
    return rc;
}

int
zo_handler_complete_json (zo_handler_t *h, int ok, const char *json, const char *error)
{
    if (!json)
        return s_complete (h, ok, NULL, 0, error, false);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    int rc;
    if (s_json_to_mp (json, &sbuf)) {
        zo_slot_t *slot = zo_inflight_slot (h, false);
        if (slot)
            zo_slot_complete (slot, false, (zo_span_t) { NULL, 0 }, "handler result is not JSON", false);
        rc = -1;
    }
    else
        rc = s_complete (h, ok, sbuf.data, sbuf.size, error, false);
    msgpack_sbuffer_destroy (&sbuf);
    return rc;
}

int
zo_handler_emit (zo_handler_t *h, const char *type, const void *payload, size_t len)
{
    zo_slot_t *slot = zo_inflight_slot (h, false);
    if (!slot || (len && !payload))
        return -1;
    return zo_slot_emit (slot, type, payload, len);
}

int
zo_handler_emit_json (zo_handler_t *h, const char *type, const char *json)
{
    if (!json)
        return zo_handler_emit (h, type, NULL, 0);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    int rc = s_json_to_mp (json, &sbuf) ? -1 : zo_handler_emit (h, type, sbuf.data, sbuf.size);
    msgpack_sbuffer_destroy (&sbuf);
    return rc;
}

char *
zo_handler_payload_json (zo_handler_t *h)
{
    zo_slot_t *slot = zo_inflight_slot (h, true);
    if (!slot)
        return NULL;
    zo_span_t payload = slot->item.event.payload;
    return payload.len ? zo_handler_to_json (payload.ptr, payload.len) : strdup ("null");
}

void
zo_handler_set_data (zo_handler_t *h, void *data)
{
    zo_slot_t *slot = zo_inflight_slot (h, true);
    if (slot)
        ((s_event_t *) zo_slot_state (slot))->user = data;
}

void *
zo_handler_data (zo_handler_t *h)
{
    zo_slot_t *slot = zo_inflight_slot (h, true);
    return slot ? ((s_event_t *) zo_slot_state (slot))->user : NULL;
}

static int
s_timer_fire (zo_loop_t *loop, int id, void *arg)
{
    zo_slot_t *slot = arg;
    s_event_t *event = zo_slot_state (slot);
    for (int i = 0; i < S_TIMERS; i++)
        if (event->timers [i].id == id) {
            event->timers [i].id = 0;
            if (slot->state == ZO_SLOT_RUNNING)
                event->timers [i].cb (zo_slot_handle (slot), event->timers [i].arg);
            break;
        }
    return 0;
}

int
zo_handler_timer (zo_handler_t *h, uint64_t ms, zo_handler_timer_fn *cb, void *arg)
{
    zo_slot_t *slot = zo_inflight_slot (h, false);
    if (!slot || !cb)
        return -1;
    s_event_t *event = zo_slot_state (slot);
    for (int i = 0; i < S_TIMERS; i++)
        if (event->timers [i].id == 0) {
            int id = zo_loop_timer (zo_inflight_loop (slot->owner), ms, s_timer_fire, slot);
            if (id <= 0)
                return -1;
            event->timers [i].id = id;
            event->timers [i].cb = cb;
            event->timers [i].arg = arg;
            return id;
        }
    return -1;
}

void
zo_handler_timer_cancel (zo_handler_t *h, int id)
{
    zo_slot_t *slot = zo_inflight_slot (h, true);
    if (!slot || id <= 0)
        return;
    s_event_t *event = zo_slot_state (slot);
    for (int i = 0; i < S_TIMERS; i++)
        if (event->timers [i].id == id) {
            zo_loop_cancel (zo_inflight_loop (slot->owner), id);
            event->timers [i].id = 0;
        }
}

static int
s_fd_fire (zo_loop_t *loop, int fd, short revents, void *arg)
{
    zo_slot_t *slot = arg;
    s_event_t *event = zo_slot_state (slot);
    for (int i = 0; i < S_FDS; i++)
        if (event->fds [i].watch && event->fds [i].fd == fd) {
            int events = ((revents & ZMQ_POLLIN) ? ZO_HANDLER_READ : 0)
                       | ((revents & ZMQ_POLLOUT) ? ZO_HANDLER_WRITE : 0)
                       | ((revents & ZMQ_POLLERR) ? ZO_HANDLER_ERROR : 0);
            if (slot->state == ZO_SLOT_RUNNING)
                event->fds [i].cb (zo_slot_handle (slot), fd, events, event->fds [i].arg);
            break;
        }
    return 0;
}

int
zo_handler_watch (zo_handler_t *h, int fd, int events, zo_handler_fd_fn *cb, void *arg)
{
    zo_slot_t *slot = zo_inflight_slot (h, false);
    if (!slot || !cb || fd < 0)
        return -1;
    s_event_t *event = zo_slot_state (slot);
    zo_loop_t *loop = zo_inflight_loop (slot->owner);
    short zevents = (short) (((events & ZO_HANDLER_READ) ? ZMQ_POLLIN : 0)
                           | ((events & ZO_HANDLER_WRITE) ? ZMQ_POLLOUT : 0));
    for (int i = 0; i < S_FDS; i++)
        if (event->fds [i].watch && event->fds [i].fd == fd) {
            event->fds [i].events = events;
            event->fds [i].cb = cb;
            event->fds [i].arg = arg;
            return zo_loop_watch_events (loop, event->fds [i].watch, zevents);
        }
    for (int i = 0; i < S_FDS; i++)
        if (!event->fds [i].watch) {
            event->fds [i].watch = zo_loop_add_fd (loop, fd, zevents, s_fd_fire, slot);
            if (!event->fds [i].watch)
                return -1;
            event->fds [i].fd = fd;
            event->fds [i].events = events;
            event->fds [i].cb = cb;
            event->fds [i].arg = arg;
            return 0;
        }
    return -1;
}

void
zo_handler_unwatch (zo_handler_t *h, int fd)
{
    zo_slot_t *slot = zo_inflight_slot (h, true);
    if (!slot)
        return;
    s_event_t *event = zo_slot_state (slot);
    for (int i = 0; i < S_FDS; i++)
        if (event->fds [i].watch && event->fds [i].fd == fd)
            zo_loop_unwatch (zo_inflight_loop (slot->owner), &event->fds [i].watch);
}

static void
s_reply (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
    zo_slot_t *slot = arg;
    s_event_t *event = zo_slot_state (slot);
    for (int i = 0; i < S_REQUESTS; i++)
        if (event->requests [i].id == reply->id && event->requests [i].rpc == rpc) {
            event->requests [i].id = 0;
            //  The callback may reuse this entry: take what it needs first.
            void *arg = event->requests [i].arg;
            zo_plugin_msg_fn *mcb = event->requests [i].mcb;
            zo_handler_reply_fn *cb = event->requests [i].cb;
            if (slot->state == ZO_SLOT_RUNNING && mcb)
                mcb (zo_slot_handle (slot), reply, arg);
            else
            if (slot->state == ZO_SLOT_RUNNING)
                cb (zo_slot_handle (slot), (int) reply->status,
                    reply->status == ZO_RPC_OK ? reply->data : NULL,
                    reply->status == ZO_RPC_OK ? reply->size : 0, arg);
            if (mcb)
                free (arg);
            break;
        }
}

static int64_t s_request (zo_handler_t *h, const char *peer, const void *request, size_t len,
                          zo_msg_t *msg, uint32_t timeout_ms, zo_handler_reply_fn *cb,
                          zo_plugin_msg_fn *mcb, void *arg);

int64_t
zo_handler_request (zo_handler_t *h, const char *peer, const void *request, size_t len,
                    uint32_t timeout_ms, zo_handler_reply_fn *cb, void *arg)
{
    if (!cb || !request || !len)
        return -1;
    return s_request (h, peer, request, len, NULL, timeout_ms, cb, NULL, arg);
}

int64_t
zo_plugin_request_msg (zo_handler_t *h, const char *peer, zo_msg_t *req, uint32_t timeout_ms,
                       zo_plugin_msg_fn *cb, void *arg)
{
    if (!cb || !req)
        return -1;
    return s_request (h, peer, NULL, 0, req, timeout_ms, NULL, cb, arg);
}

//  A raw request (request, len) or a typed one (msg).
static int64_t
s_request (zo_handler_t *h, const char *peer, const void *request, size_t len, zo_msg_t *msg,
           uint32_t timeout_ms, zo_handler_reply_fn *cb, zo_plugin_msg_fn *mcb, void *arg)
{
    zo_slot_t *slot = zo_inflight_slot (h, false);
    if (!slot || !slot->route->ctx)
        return -1;
    //  A typed request without a deadline of its own gets the event's.
    if (msg && !msg->timeout_ms)
        msg->timeout_ms = zo_peer_deadline (slot);
    s_event_t *event = zo_slot_state (slot);
    int free_at = -1;
    for (int i = S_REQUESTS - 1; i >= 0; i--)
        if (!event->requests [i].id)
            free_at = i;
    zo_rpc_t *rpc = free_at < 0 ? NULL : zo_hctx_peer (slot->route->ctx, peer);
    if (!rpc)
        return -1;
    //  As long as the event: its own timeout ends it first, and the request
    //  with it.
    if (!timeout_ms)
        timeout_ms = slot->timeout_ms + 1000 > UINT32_MAX ? UINT32_MAX
                                                          : (uint32_t) slot->timeout_ms + 1000;
    uint64_t id = msg ? zo_rpc_request (rpc, msg, timeout_ms, s_reply, slot)
                      : zo_rpc_request_raw (rpc, request, len, timeout_ms, s_reply, slot);
    if (!id)
        return -1;
    int64_t handle = (++event->requests_made << 3) | free_at;
    event->requests [free_at].id = id;
    event->requests [free_at].handle = handle;
    event->requests [free_at].rpc = rpc;
    event->requests [free_at].cb = cb;
    event->requests [free_at].mcb = mcb;
    event->requests [free_at].arg = arg;
    return handle;
}

int64_t
zo_handler_request_json (zo_handler_t *h, const char *peer, const char *json,
                         uint32_t timeout_ms, zo_handler_reply_fn *cb, void *arg)
{
    if (!json)
        return -1;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    int64_t id = s_json_to_mp (json, &sbuf) ? -1
               : zo_handler_request (h, peer, sbuf.data, sbuf.size, timeout_ms, cb, arg);
    msgpack_sbuffer_destroy (&sbuf);
    return id;
}

void
zo_handler_request_cancel (zo_handler_t *h, int64_t id)
{
    zo_slot_t *slot = zo_inflight_slot (h, true);
    if (!slot || id <= 0)
        return;
    s_event_t *event = zo_slot_state (slot);
    int i = (int) (id & (S_REQUESTS - 1));
    if (event->requests [i].id && event->requests [i].handle == id) {
        zo_rpc_cancel (event->requests [i].rpc, event->requests [i].id);
        event->requests [i].id = 0;
        if (event->requests [i].mcb)
            free (event->requests [i].arg);
    }
}

char *
zo_handler_to_json (const void *value, size_t len)
{
    if (!value || !len || len > UINT32_MAX)
        return NULL;
    json_t *json = zo_json_from_span ((zo_span_t) { value, (uint32_t) len });
    if (!json)
        return NULL;
    char *text = json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref (json);
    return text;
}

void
zo_handler_log (zo_handler_t *h, int level, const char *text)
{
    zo_slot_t *slot = zo_inflight_slot (h, true);
    const char *id = slot ? slot->id : "?";
    if (level <= 0)
        zsys_error ("event %s: %s", id, text);
    else
    if (level == 1)
        zsys_warning ("event %s: %s", id, text);
    else
    if (level == 2)
        zsys_info ("event %s: %s", id, text);
    else
        zsys_debug ("event %s: %s", id, text);
}
