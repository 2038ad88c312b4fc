/*  zo_advice: the monitor's advice to the operator (see advice.h).

    Two kinds of rule. A held rule (autoscaler_max, io_wait, more_hosts)
    is a condition checked at every tick that must hold without a break
    for its duration; a tick without data (no p95 in a second without
    events) neither breaks nor extends it. A window rule (dead_rising,
    cache_memory) reads counts over the last window(s): each tick adds its
    rates times the time since the last tick into the current slice, a
    slice is W / S_SLICES long, and the last 2 * S_SLICES complete slices
    are kept, so the figures are exact sums over whole slices.
*/
#include <assert.h>
#include <czmq.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advice.h"

//  The thresholds.
#define S_MAX_HOLD          2.0     //  windows at the autoscaler's max before autoscaler_max
#define S_LATENCY_NEAR      0.8     //  p95 above this share of the objective is near it
#define S_CPU_IDLE          0.5     //  workers' mean CPU (of a core) below this: waiting
#define S_CPU_BUSY          0.8     //  ... above this: the hosts are busy
#define S_DEAD_FACTOR       2.0     //  the last window's dead letters against the one before
#define S_CACHE_LOW         0.5     //  memory hit rate below this is low
#define S_CACHE_LOOKUPS     1000    //  ... over at least this many lookups
#define S_SPREAD            0.5     //  share of a window's slices that must have events
#define S_SLICES            10      //  slices per window
#define S_RING              (2 * S_SLICES)

//  The cache's memory level is l1 (actors/cache/cache.c), the one below it
//  (Redis) l2.
#define S_MEMORY_HITS       "l1_hits_total"
#define S_MEMORY_MISSES     "l1_misses_total"
#define S_L2_HITS           "l2_hits_total"

enum { R_HOSTS, R_MAX, R_IO, R_DEAD, R_CACHE, R_COUNT };
static const char *s_ids [R_COUNT] = {
    "more_hosts", "autoscaler_max", "io_wait", "dead_rising", "cache_memory"
};

//  A held condition and the figures summed while it holds.
typedef struct {
    bool on;
    uint64_t start_ms;
    double first [2];               //  the figures at its first tick
    double sum [2];
    uint64_t n;
} s_hold_t;

typedef struct {
    double dead, hits, misses;
} s_slice_t;

struct _zo_advice_t {
    zo_advice_conf_t conf;
    uint64_t slice_ms;
    bool started;
    uint64_t last_ms;               //  the previous tick
    s_slice_t cur;                  //  the open slice, since cur_ms
    uint64_t cur_ms;
    s_slice_t ring [S_RING];        //  complete slices; ring [head - 1] the newest
    uint32_t head, n_slices;
    s_hold_t hold [R_COUNT];
    bool l2;                        //  a cache has a level below memory
    uint64_t since [R_COUNT];       //  wall ms, 0 = not given
    zo_advice_item_t items [ZO_ADVICE_MAX];
    uint32_t n_items;
};

void
zo_advice_conf_defaults (zo_advice_conf_t *conf)
{
    assert (conf);
    conf->window_ms = 300000;
    conf->latency_objective_ms = 100;
    conf->load_up = 0.8;
}

zo_advice_t *
zo_advice_new (const zo_advice_conf_t *conf)
{
    assert (conf);
    assert (ZO_ADVICE_MAX >= R_COUNT);
    zo_advice_t *self = (zo_advice_t *) calloc (1, sizeof (zo_advice_t));
    if (!self)
        return NULL;
    self->conf = *conf;
    if (self->conf.window_ms < S_SLICES)
        self->conf.window_ms = S_SLICES;
    self->slice_ms = self->conf.window_ms / S_SLICES;
    return self;
}

void
zo_advice_destroy (zo_advice_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Helpers

//  cond: 1 holds, 0 does not, -1 unknown (no data: left as it is).
static void
s_hold (s_hold_t *hold, int cond, uint64_t now_ms, double a, double b)
{
    if (cond == 0)
        hold->on = false;
    if (cond != 1)
        return;
    if (!hold->on) {
        memset (hold, 0, sizeof (*hold));
        hold->on = true;
        hold->start_ms = now_ms;
        hold->first [0] = a;
        hold->first [1] = b;
    }
    hold->sum [0] += a;
    hold->sum [1] += b;
    hold->n++;
}

static bool
s_held (const s_hold_t *hold, uint64_t now_ms, double windows, uint64_t window_ms)
{
    return hold->on && (double) (now_ms - hold->start_ms) >= windows * (double) window_ms;
}

static double
s_mean (const s_hold_t *hold, int which)
{
    return hold->n? hold->sum [which] / (double) hold->n: NAN;
}

//  "12 min", "45 s", "2 h".
static void
s_fmt_span (char *buf, size_t size, uint64_t ms)
{
    double s = (double) ms / 1000.0;
    if (s < 120)
        snprintf (buf, size, "%.0f s", s);
    else
    if (s < 7200)
        snprintf (buf, size, "%.0f min", s / 60);
    else
        snprintf (buf, size, "%.1f h", s / 3600);
}

//  12400 as "12,400".
static void
s_fmt_count (char *buf, size_t size, double value)
{
    char digits [32];
    int n = snprintf (digits, sizeof (digits), "%.0f", value > 0? value: 0);
    size_t at = 0;
    for (int i = 0; i < n && at + 2 < size; i++) {
        if (i && (n - i) % 3 == 0)
            buf [at++] = ',';
        buf [at++] = digits [i];
    }
    buf [at] = 0;
}

static double
s_gauge (const zo_arec_t *rec, const char *name, double otherwise)
{
    const zo_agauge_t *g = zo_arec_gauge (rec, name);
    return g? g->value: otherwise;
}

static double
s_rate (const zo_arec_t *rec, const char *name)
{
    const zo_acounter_t *c = zo_arec_counter (rec, name);
    return c && isfinite (c->rate)? c->rate: 0;
}

//  Sums `count` slices, the newest `skip` left out; *spread counts the
//  slices where field was above zero.
static s_slice_t
s_window (const zo_advice_t *self, uint32_t skip, uint32_t count, uint32_t spread [2])
{
    s_slice_t sum = { 0, 0, 0 };
    spread [0] = spread [1] = 0;
    for (uint32_t k = skip; k < skip + count; k++) {
        const s_slice_t *s = &self->ring [(self->head + S_RING - 1 - k) % S_RING];
        sum.dead += s->dead;
        sum.hits += s->hits;
        sum.misses += s->misses;
        spread [0] += s->dead > 0;
        spread [1] += s->hits + s->misses > 0;
    }
    return sum;
}

//  ---------------------------------------------------------------------
//  The tick

static void
s_slices (zo_advice_t *self, uint64_t now_ms, const zo_sample_t *sample,
          const zo_arec_t *const *recs, uint32_t n)
{
    if (!self->started) {
        self->started = true;
        self->cur_ms = now_ms;
    }
    else {
        //  The rates of this tick stand for the time since the last one.
        double dt = (double) (now_ms - self->last_ms) / 1000.0;
        if (isfinite (sample->dead))
            self->cur.dead += sample->dead * dt;
        for (uint32_t i = 0; i < n; i++)
            if (!recs [i]->down && streq (recs [i]->kind, "cache")) {
                self->cur.hits += s_rate (recs [i], S_MEMORY_HITS) * dt;
                self->cur.misses += s_rate (recs [i], S_MEMORY_MISSES) * dt;
            }
    }
    self->last_ms = now_ms;
    //  A gap longer than the ring (the monitor was stopped): start again.
    if (now_ms - self->cur_ms >= (uint64_t) S_RING * self->slice_ms) {
        self->n_slices = 0;
        self->cur_ms = now_ms;
        memset (&self->cur, 0, sizeof (self->cur));
    }
    while (now_ms - self->cur_ms >= self->slice_ms) {
        self->ring [self->head] = self->cur;
        self->head = (self->head + 1) % S_RING;
        if (self->n_slices < S_RING)
            self->n_slices++;
        memset (&self->cur, 0, sizeof (self->cur));
        self->cur_ms += self->slice_ms;
    }
}

//  Writes rule r's advice into text (empty: none).
static void
s_rules (zo_advice_t *self, uint64_t now_ms, const zo_sample_t *sample,
         const zo_arec_t *const *recs, uint32_t n, char text [R_COUNT][ZO_ADVICE_TEXT])
{
    uint64_t w = self->conf.window_ms;
    char span [32];

    //  The first autoscaler that sizes the workers itself.
    const zo_arec_t *scaler = NULL;
    self->l2 = false;
    for (uint32_t i = 0; i < n; i++) {
        const zo_arec_t *rec = recs [i];
        if (rec->down)
            continue;
        if (!scaler && streq (rec->kind, "autoscaler") && s_gauge (rec, "manual", 0) < 1
        &&  zo_arec_gauge (rec, "workers") && zo_arec_gauge (rec, "max"))
            scaler = rec;
        if (streq (rec->kind, "cache") && zo_arec_counter (rec, S_L2_HITS))
            self->l2 = true;
    }
    double max = scaler? s_gauge (scaler, "max", 0): 0;
    bool at_max = scaler && max > 0 && s_gauge (scaler, "workers", 0) >= max;

    //  more_hosts
    s_hold_t *h = &self->hold [R_HOSTS];
    s_hold (h, at_max && sample->cpu > S_CPU_BUSY, now_ms, sample->cpu, sample->queue_depth);
    if (s_held (h, now_ms, 1, w) && sample->queue_depth > h->first [1]) {
        s_fmt_span (span, sizeof (span), now_ms - h->start_ms);
        snprintf (text [R_HOSTS], ZO_ADVICE_TEXT,
                  "workers at autoscaler/max (%.0f) use %.0f %% CPU and the queue grew from "
                  "%.0f to %.0f in %s: the hosts are full; add hosts, then raise autoscaler/max",
                  max, 100 * s_mean (h, 0), h->first [1], sample->queue_depth, span);
    }

    //  autoscaler_max, unless more hosts come first
    h = &self->hold [R_MAX];
    s_hold (h, at_max && isfinite (sample->load) && sample->load > self->conf.load_up, now_ms,
            sample->load, max);
    if (s_held (h, now_ms, S_MAX_HOLD, w) && !*text [R_HOSTS]) {
        s_fmt_span (span, sizeof (span), now_ms - h->start_ms);
        snprintf (text [R_MAX], ZO_ADVICE_TEXT,
                  "workers at autoscaler/max (%.0f) for %s with load %.1f: raise autoscaler/max",
                  max, span, s_mean (h, 0));
    }

    //  io_wait
    h = &self->hold [R_IO];
    double objective = self->conf.latency_objective_ms;
    int io = sample->workers_up == 0? 0
           : !isfinite (sample->p95_ms)? -1
           : sample->p95_ms > S_LATENCY_NEAR * objective && sample->cpu < S_CPU_IDLE;
    s_hold (h, io, now_ms, sample->p95_ms, sample->cpu);
    if (s_held (h, now_ms, 1, w))
        snprintf (text [R_IO], ZO_ADVICE_TEXT,
                  "p95 %.0f ms near the %.0f ms objective while workers use %.0f %% CPU: "
                  "they wait on I/O; raise worker/capacity",
                  s_mean (h, 0), objective, 100 * s_mean (h, 1));

    uint32_t spread [2];
    s_fmt_span (span, sizeof (span), w);
    double minutes = (double) w / 60000.0;
    //  dead_rising: needs two whole windows.
    if (self->n_slices >= 2 * S_SLICES) {
        s_slice_t before = s_window (self, S_SLICES, S_SLICES, spread);
        s_slice_t last = s_window (self, 0, S_SLICES, spread);
        if (last.dead > 0 && last.dead >= S_DEAD_FACTOR * before.dead
        &&  spread [0] >= S_SPREAD * S_SLICES) {
            snprintf (text [R_DEAD], ZO_ADVICE_TEXT,
                      "dead letters rising: %.1f/min over the last %s against %.1f/min the %s "
                      "before: read their errors (zorch dlq) and fix the handler or the input",
                      last.dead / minutes, span, before.dead / minutes, span);
        }
    }
    //  cache_memory: a whole window.
    if (self->n_slices >= S_SLICES) {
        s_slice_t last = s_window (self, 0, S_SLICES, spread);
        double lookups = last.hits + last.misses;
        if (lookups >= S_CACHE_LOOKUPS && last.hits < S_CACHE_LOW * lookups
        &&  spread [1] >= S_SPREAD * S_SLICES) {
            char count [32];
            s_fmt_count (count, sizeof (count), lookups);
            snprintf (text [R_CACHE], ZO_ADVICE_TEXT,
                      "cache memory hit rate %.0f %% over %s (%s lookups): %s",
                      100 * last.hits / lookups, span, count,
                      self->l2? "raise cache/memory": "raise cache/memory or add cache/redis");
        }
    }
}

void
zo_advice_tick (zo_advice_t *self, uint64_t now_ms, const zo_sample_t *sample,
                const zo_arec_t *const *recs, uint32_t n)
{
    assert (self);
    assert (sample);
    assert (recs || n == 0);
    s_slices (self, now_ms, sample, recs, n);
    char text [R_COUNT][ZO_ADVICE_TEXT];
    memset (text, 0, sizeof (text));
    s_rules (self, now_ms, sample, recs, n, text);
    self->n_items = 0;
    for (int r = 0; r < R_COUNT; r++) {
        if (!*text [r]) {
            self->since [r] = 0;
            continue;
        }
        if (!self->since [r])
            self->since [r] = sample->ts_ms? sample->ts_ms: 1;
        zo_advice_item_t *item = &self->items [self->n_items++];
        item->id = s_ids [r];
        item->since_ms = self->since [r];
        memcpy (item->text, text [r], ZO_ADVICE_TEXT);
    }
}

uint32_t
zo_advice_size (const zo_advice_t *self)
{
    assert (self);
    return self->n_items;
}

const zo_advice_item_t *
zo_advice_at (const zo_advice_t *self, uint32_t index)
{
    assert (self);
    assert (index < self->n_items);
    return &self->items [index];
}
