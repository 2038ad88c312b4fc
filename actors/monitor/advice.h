/*  zo_advice: what an operator should change, from measured figures (the
    design's "optimization recommendations"), for /api/stats, /api/advice,
    the dashboard and zorch status.

    Fed once per monitor tick with the cluster sample and the actors'
    records, and the monitor's monotonic clock; no I/O, so tests drive an
    hour of ticks by hand. Every rule must hold for a sustained time, never
    a single tick, and its advice goes away as soon as it no longer holds.
    The rules, with W the window (monitor/advice_window, 5 min by default):

    autoscaler_max  an autoscaler (not on an operator's size) has had
                    workers at its max for 2 W while the load score was
                    above its up threshold: raise autoscaler/max.
    io_wait         p95 above 80 % of the latency objective for W while the
                    workers' mean CPU is below 50 %: they wait on I/O;
                    raise worker/capacity.
    dead_rising     the dead-letter rate over the last W is above zero, at
                    least twice that of the W before, and dead letters came
                    in at least half of the last W (a burst is not a rise).
    cache_memory    the caches' memory hit rate over the last W is below
                    50 % with at least 1000 lookups, spread over at least
                    half of W: raise cache/memory or add cache/redis.
    more_hosts      workers at the autoscaler's max above 80 % CPU for W
                    while the queue grew: the hosts are full; add hosts.

    Each advice's text carries the figures behind it. Thresholds are the
    named constants at the top of advice.c.
*/
#ifndef ZO_ADVICE_H_INCLUDED
#define ZO_ADVICE_H_INCLUDED

#include <stdint.h>

#include "actors.h"

#define ZO_ADVICE_MAX   8           /* rules, hence advices at once */
#define ZO_ADVICE_TEXT  256

typedef struct {
    const char *id;                 /* "autoscaler_max", ...: static */
    char text [ZO_ADVICE_TEXT];     /* one sentence, with the figures */
    uint64_t since_ms;              /* wall clock ms when it was first given */
} zo_advice_item_t;

typedef struct {
    uint64_t window_ms;             /* W above; 5 min */
    double latency_objective_ms;    /* monitor/latency_objective */
    double load_up;                 /* the autoscaler's up threshold (autoscaler/up) */
} zo_advice_conf_t;

typedef struct _zo_advice_t zo_advice_t;

/*  Fills conf with the defaults (5 min, 100 ms, 0.8).  */
void zo_advice_conf_defaults (zo_advice_conf_t *conf);

/*  A rule set following conf (copied; window_ms at least 10 ms). NULL when
    out of memory.  */
zo_advice_t *zo_advice_new (const zo_advice_conf_t *conf);
void zo_advice_destroy (zo_advice_t **self_p);

/*  One tick at monotonic now_ms: sample (borrowed; its ts_ms is the wall
    clock) and the actors recs [0..n-1] (borrowed, down ones skipped).
    Updates the advice list.  */
void zo_advice_tick (zo_advice_t *self, uint64_t now_ms, const zo_sample_t *sample,
                     const zo_arec_t *const *recs, uint32_t n);

/*  The advices given now, in rule order; borrowed until the next tick.  */
uint32_t zo_advice_size (const zo_advice_t *self);
const zo_advice_item_t *zo_advice_at (const zo_advice_t *self, uint32_t index);

#endif
