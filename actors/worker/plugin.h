/*  plugin: custom handlers as shared objects (zorch/handler.h), and the
    implementation of that header's API over the worker's slots and loop.

        route
            match = "text.*"
            handler = plugin
            path = /usr/lib/zorch/upper.so     #   relative: under worker/plugin_dir
            symbol = zorch_handler_v2          #   the default
    or `handler = upper`, found as <worker/plugin_dir>/upper.so.

    A library is opened once however many routes use it (RTLD_NOW |
    RTLD_LOCAL) and closed when the last route goes. Its API calls
    (zo_handler_complete, ...) resolve against the worker executable, which
    is linked with --export-dynamic.
*/
#ifndef ZO_PLUGIN_H_INCLUDED
#define ZO_PLUGIN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "handlers.h"
#include "zo_rpc.h"
#include "zorch/handler.h"

/*  Opens path and finds symbol (NULL: "zorch_handler_v2"), checking its
    ABI. The plugin, or NULL with why.  */
const zo_handler_plugin_t *zo_plugin_open (const char *path, const char *symbol,
                                           char *why, size_t why_size);
/*  Drops one reference taken by zo_plugin_open.  */
void zo_plugin_close (const zo_handler_plugin_t *plugin);

/*  zo_handler_request for the typed clients (the cache's, in
    cache_client.c): req is encoded by the codec, the reply comes decoded
    (zo_rpc's reply: reply->msg when reply->status is ZO_RPC_OK), and arg
    is malloc'ed memory the worker frees when the request ends, answered
    or cancelled (on -1 it is still the caller's).  */
typedef void (zo_plugin_msg_fn) (zo_handler_t *h, const zo_rpc_reply_t *reply, void *arg);
int64_t zo_plugin_request_msg (zo_handler_t *h, const char *peer, zo_msg_t *req,
                               uint32_t timeout_ms, zo_plugin_msg_fn *cb, void *arg);

#endif
