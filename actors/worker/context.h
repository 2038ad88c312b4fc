/*  context: what a worker lends its handler kinds and plugins, made before
    the routes are bound: the worker's loop, its stats (counters a handler
    adds show in the worker's STATS), where plugins are found, the
    configuration the handlers read beyond their route's options, and the
    zo_rpc clients through which handlers reach other actors (the peers:
    "cache" at worker/cache, "pool" at worker/pool), each made on first use
    so that a worker whose handlers never ask keeps no connection.

    One context serves every route and event of a worker; the kinds reach
    it through their route (route->ctx) at bind time and through their
    slot's inflight table afterwards. Plugins see it as the opaque
    zo_handler_ctx_t of zorch/handler.h.
*/
#ifndef ZO_CONTEXT_H_INCLUDED
#define ZO_CONTEXT_H_INCLUDED

#include "zo_conf.h"
#include "zo_loop.h"
#include "zo_rpc.h"
#include "zo_stats.h"

typedef struct _zo_hctx_t zo_hctx_t;

/*  loop is required; zmq_ctx (NULL: no peers), stats (NULL: counters go
    to a private sink), conf (NULL: the peers' default endpoints) and
    plugin_dir ("" or NULL: none) are borrowed and may be NULL. NULL when
    out of memory, or when a peer's endpoint or worker/requests_max in
    conf is bad (logged, and zo_conf_bad: the worker exits 2).  */
zo_hctx_t *zo_hctx_new (zo_loop_t *loop, void *zmq_ctx, zo_stats_t *stats, zo_conf_t *conf,
                        const char *plugin_dir);
void zo_hctx_destroy (zo_hctx_t **self_p);

zo_loop_t *zo_hctx_loop (zo_hctx_t *self);
/*  NULL when the worker reports no stats (tests).  */
zo_stats_t *zo_hctx_stats (zo_hctx_t *self);
/*  NULL when there is no configuration (tests).  */
zo_conf_t *zo_hctx_conf (zo_hctx_t *self);
/*  "" when none.  */
const char *zo_hctx_plugin_dir (zo_hctx_t *self);

/*  A counter named name in the worker's STATS (a private one when there
    are no stats, so the pointer is always good). NULL only when out of
    memory or name is not [a-z0-9_]+.  */
uint64_t *zo_hctx_counter (zo_hctx_t *self, const char *name);

/*  The client for requests to peer ("cache" or "pool"), made on first use
    (its counters are rpc_<peer>_* in the worker's STATS) and kept until
    the context is destroyed. NULL with errno EINVAL for another name,
    ENOTSUP when the context has no ZeroMQ context, or what zo_rpc_new
    met.  */
zo_rpc_t *zo_hctx_peer (zo_hctx_t *self, const char *peer);

#endif
