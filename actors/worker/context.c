/*  context: see context.h.  */
#include "context.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Counters handlers may name, beyond the worker's own: zo_stats holds at
    most ZO_STATS_MAX counters and asserts past that, so names coming from
    plugins are bounded here.  */
#define S_COUNTERS 16

struct _zo_hctx_t {
    zo_loop_t *loop;
    zo_stats_t *stats;
    zo_conf_t *conf;
    char *plugin_dir;
    struct { char name [64]; uint64_t *value; uint64_t own; } counters [S_COUNTERS];
    size_t n_counters;
};

zo_hctx_t *
zo_hctx_new (zo_loop_t *loop, zo_stats_t *stats, zo_conf_t *conf, const char *plugin_dir)
{
    assert (loop);
    zo_hctx_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->plugin_dir = strdup (plugin_dir? plugin_dir: "");
    if (!self->plugin_dir) {
        free (self);
        return NULL;
    }
    self->loop = loop;
    self->stats = stats;
    self->conf = conf;
    return self;
}

void
zo_hctx_destroy (zo_hctx_t **self_p)
{
    assert (self_p);
    zo_hctx_t *self = *self_p;
    if (!self)
        return;
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
