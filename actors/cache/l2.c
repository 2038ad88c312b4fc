/*  l2: see l2.h, and l2_int.h for how it is built. This file makes and
    destroys the level and ends its operations.
*/
#include "l2_int.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_counter_names [C_COUNTERS] = {
    "l2_hits_total", "l2_misses_total", "l2_errors_total", "l2_sets_total",
    "l2_dels_total", "l2_invalidated_total", "l2_reconnects_total",
    "l2_published_total", "l2_remote_total"
};

uint64_t
zo__l2_wall_ms (void)
{
    return zo_clock_wall_ns () / 1000000;
}

//  ---------------------------------------------------------------------
//  Operations

void
zo__l2_op_free (l2_op_t *op)
{
    free (op->value);
    free (op->match);
    free (op->pattern);
    free (op);
}

static void
s_unlink_op (zo_l2_t *self, l2_op_t *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        self->head = op->next;
    if (op->next)
        op->next->prev = op->prev;
    else
        self->tail = op->prev;
    op->prev = op->next = NULL;
    self->inflight--;
    *self->inflight_gauge = self->inflight;
}

void
zo__l2_finish (zo_l2_t *self, l2_op_t *op)
{
    bool ok = !op->failed;
    if (!ok)
        zo__l2_count (self, C_ERRORS, 1);
    if (op->kind == OP_GET) {
        zo_level_rc_t rc = !ok? ZO_LEVEL_ERROR:
                           op->hit && !op->gone? ZO_LEVEL_HIT: ZO_LEVEL_MISS;
        if (rc != ZO_LEVEL_ERROR)
            zo__l2_count (self, rc == ZO_LEVEL_HIT? C_HITS: C_MISSES, 1);
        zo_level_get_fn *fn = op->get_fn;
        op->get_fn = NULL;
        if (rc == ZO_LEVEL_HIT)
            fn (op->arg, rc, op->value, op->value_len, op->expire_ms);
        else
            fn (op->arg, rc, NULL, 0, 0);
        return;
    }
    if (ok && op->kind == OP_SET)
        zo__l2_count (self, C_SETS, 1);
    if (ok && op->kind == OP_DEL)
        zo__l2_count (self, C_DELS, 1);
    if (ok && op->kind == OP_INVALIDATE)
        zo__l2_count (self, C_INVALIDATED, op->count);
    zo_level_done_fn *fn = op->done_fn;
    op->done_fn = NULL;
    if (fn)
        fn (op->arg, ok? 0: -1, ok? op->count: 0);
}

void
zo__l2_unref (l2_op_t *op)
{
    assert (op->refs > 0);
    if (--op->refs > 0)
        return;
    zo_l2_t *self = op->self;
    if (self) {
        s_unlink_op (self, op);
        zo__l2_finish (self, op);
    }
    zo__l2_op_free (op);
}

zo_l2_t *
zo__l2_enter (zo_l2_t *self)
{
    if (self)
        self->depth++;
    return self;
}

void
zo__l2_leave (zo_l2_t *self)
{
    if (!self || --self->depth > 0 || !self->doomed)
        return;
    free (self->prefix);
    free (self->channel);
    free (self->tag);
    free ((char *) self->opts.node);
    free (self);
}

zo_l2_t *
zo_l2_new (zo_loop_t *loop, const zo_l2_opts_t *opts, char *error, size_t error_size)
{
    assert (loop);
    assert (opts);
    char why [256] = "out of memory";
    int err = ENOMEM;
    zo_l2_t *self = (zo_l2_t *) calloc (1, sizeof (zo_l2_t));
    if (!self)
        goto err;
    self->loop = loop;
    self->opts = *opts;
    self->opts.url = NULL;          //  not kept
    zo_l2_opts_t *o = &self->opts;
    o->connect_timeout_ms = o->connect_timeout_ms? o->connect_timeout_ms: ZO_L2_CONNECT_MS;
    o->command_timeout_ms = o->command_timeout_ms? o->command_timeout_ms: ZO_L2_COMMAND_MS;
    o->backoff_min_ms = o->backoff_min_ms? o->backoff_min_ms: ZO_L2_BACKOFF_MIN;
    o->backoff_max_ms = o->backoff_max_ms? o->backoff_max_ms: ZO_L2_BACKOFF_MAX;
    if (o->backoff_max_ms < o->backoff_min_ms)
        o->backoff_max_ms = o->backoff_min_ms;
    o->max_inflight = o->max_inflight? o->max_inflight: ZO_L2_INFLIGHT;
    zo_backoff_init (&self->backoff, o->backoff_min_ms, o->backoff_max_ms);
    o->node = NULL;
    if (!opts->url || zo__l2_parse_url (self, opts->url, why, sizeof (why))) {
        if (!opts->url)
            snprintf (why, sizeof (why), "no URL");
        err = EINVAL;
        goto err;
    }
    if (!opts->node || !*opts->node || strchr (opts->node, '\n')) {
        snprintf (why, sizeof (why), "the node id must be set, without a newline");
        err = EINVAL;
        goto err;
    }
    const char *prefix = opts->prefix? opts->prefix: "";
    self->prefix_len = strlen (prefix);
    self->node_len = strlen (opts->node);
    self->channel_len = self->prefix_len + strlen ("invalidate");
    self->tag_len = self->node_len + 2;
    self->prefix = strdup (prefix);
    self->channel = (char *) malloc (self->channel_len + 1);
    self->tag = (char *) malloc (self->tag_len);
    o->node = strdup (opts->node);
    if (!self->prefix || !self->channel || !self->tag || !o->node)
        goto err;
    o->prefix = self->prefix;
    snprintf (self->channel, self->channel_len + 1, "%sinvalidate", prefix);
    memcpy (self->tag, opts->node, self->node_len);
    self->tag [self->node_len] = '\n';
    for (int i = 0; i < C_COUNTERS; i++)
        self->counters [i] = o->stats? zo_stats_counter (o->stats, s_counter_names [i])
                                     : &self->no_counters [i];
    self->up = o->stats? zo_stats_gauge (o->stats, "l2_up"): &self->no_gauges [0];
    self->inflight_gauge = o->stats? zo_stats_gauge (o->stats, "l2_inflight")
                                   : &self->no_gauges [1];
    *self->up = 0;
    *self->inflight_gauge = 0;
    uint64_t tick = o->command_timeout_ms / 4? o->command_timeout_ms / 4: 1;
    self->ticker = zo_loop_ticker (loop, tick, zo__l2_on_tick, self);
    self->retry = zo_loop_timer (loop, 0, zo__l2_on_retry, self);
    if (self->ticker < 0 || self->retry < 0)
        goto err;
    return self;
err:
    if (self) {
        if (self->ticker > 0)
            zo_loop_cancel (loop, self->ticker);
        if (self->retry > 0)
            zo_loop_cancel (loop, self->retry);
        free (self->prefix);
        free (self->channel);
        free (self->tag);
        free ((char *) self->opts.node);
        free (self);
    }
    if (error && error_size)
        snprintf (error, error_size, "%s", why);
    errno = err;
    return NULL;
}

void
zo_l2_destroy (zo_l2_t **self_p)
{
    assert (self_p);
    zo_l2_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    if (self->doomed)
        return;
    //  Doomed first: a callback destroying us again does nothing.
    self->doomed = true;
    zo__l2_enter (self);
    zo_loop_cancel (self->loop, self->ticker);
    if (self->retry)
        zo_loop_cancel (self->loop, self->retry);
    self->retry = 0;
    zo__l2_teardown (self);
    zo__l2_leave (self);
}

bool
zo_l2_up (const zo_l2_t *self)
{
    assert (self);
    return self->state == S_UP && !self->doomed;
}

uint32_t
zo_l2_inflight (const zo_l2_t *self)
{
    assert (self);
    return self->inflight;
}
