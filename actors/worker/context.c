/*  context: see context.h.  */
#include "context.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zo_wire.h"

/*  Counters handlers may name, beyond the worker's own: zo_stats holds at
    most ZO_STATS_MAX counters and asserts past that, so names coming from
    plugins are bounded here.  */
#define S_COUNTERS 16

/*  The actors handlers may ask, with the key naming each one's endpoint.  */
static const struct { const char *name, *key, *dflt; } s_peers [] = {
    { "cache", "worker/cache", "tcp://127.0.0.1:7013" },
    { "pool",  "worker/pool",  "tcp://127.0.0.1:7014" },
};
#define S_PEERS (sizeof (s_peers) / sizeof (s_peers [0]))

struct _zo_hctx_t {
    zo_loop_t *loop;
    zo_stats_t *stats;
    zo_conf_t *conf;
    void *zmq_ctx;
    char *plugin_dir;
    struct { const char *endpoint; zo_rpc_t *rpc; } peers [S_PEERS];   /* borrowed from conf */
    zo_rpc_opts_t rpc_opts;     /* the same for every peer but its name */
    struct { char name [64]; uint64_t *value; uint64_t own; } counters [S_COUNTERS];
    size_t n_counters;
};

zo_hctx_t *
zo_hctx_new (zo_loop_t *loop, void *zmq_ctx, zo_stats_t *stats, zo_conf_t *conf,
             const char *plugin_dir)
{
    assert (loop);
    zo_hctx_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->loop = loop;
    self->zmq_ctx = zmq_ctx;
    self->stats = stats;
    self->conf = conf;
    self->plugin_dir = strdup (plugin_dir? plugin_dir: "");
    if (!self->plugin_dir)
        goto fail;
    //  Replies are held to the frame limit the whole cluster shares; the
    //  table bounds what one worker's handlers have pending per peer.
    self->rpc_opts = (zo_rpc_opts_t) {
        .stats = stats,
        .max_frame = conf ? zo_wire_conf_max_frame (conf) : ZO_MAX_FRAME,
        .max_pending = conf ? (uint32_t) zo_conf_int_range (conf, "worker/requests_max", 4096,
                                                           1, ZO_RPC_MAX_PENDING)
                            : 4096,
    };
    for (size_t i = 0; i < S_PEERS; i++)
        self->peers [i].endpoint = conf ? zo_conf_endpoint (conf, s_peers [i].key, s_peers [i].dflt)
                                        : s_peers [i].dflt;
    if (conf && zo_conf_bad (conf))
        goto fail;
    return self;
fail:
    zo_hctx_destroy (&self);
    return NULL;
}

void
zo_hctx_destroy (zo_hctx_t **self_p)
{
    assert (self_p);
    zo_hctx_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < S_PEERS; i++)
        zo_rpc_destroy (&self->peers [i].rpc);
    free (self->plugin_dir);
    free (self);
    *self_p = NULL;
}

zo_loop_t *zo_hctx_loop (zo_hctx_t *self) { return self->loop; }
zo_stats_t *zo_hctx_stats (zo_hctx_t *self) { return self->stats; }
zo_conf_t *zo_hctx_conf (zo_hctx_t *self) { return self->conf; }
const char *zo_hctx_plugin_dir (zo_hctx_t *self) { return self->plugin_dir; }

uint64_t *
zo_hctx_counter (zo_hctx_t *self, const char *name)
{
    assert (self);
    size_t len = name? strlen (name): 0;
    if (len == 0 || len > 40 || strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
        return NULL;
    //  Handlers' counters carry a prefix, so they cannot collide with the
    //  worker's own.
    char full [64];
    snprintf (full, sizeof (full), "handler_%s_total", name);
    for (size_t i = 0; i < self->n_counters; i++)
        if (strcmp (self->counters [i].name, full) == 0)
            return self->counters [i].value;
    if (self->n_counters == S_COUNTERS)
        return NULL;
    size_t i = self->n_counters++;
    snprintf (self->counters [i].name, sizeof (self->counters [i].name), "%s", full);
    self->counters [i].value = self->stats? zo_stats_counter (self->stats, full)
                                          : &self->counters [i].own;
    return self->counters [i].value;
}

zo_rpc_t *
zo_hctx_peer (zo_hctx_t *self, const char *peer)
{
    assert (self);
    for (size_t i = 0; peer && i < S_PEERS; i++) {
        if (strcmp (peer, s_peers [i].name) != 0)
            continue;
        if (!self->peers [i].rpc) {
            if (!self->zmq_ctx) {
                errno = ENOTSUP;
                return NULL;
            }
            zo_rpc_opts_t opts = self->rpc_opts;
            opts.name = s_peers [i].name;
            self->peers [i].rpc = zo_rpc_new (self->loop, self->zmq_ctx,
                                              self->peers [i].endpoint, &opts);
        }
        return self->peers [i].rpc;
    }
    errno = EINVAL;
    return NULL;
}
