/*  Tests of actors/monitor/advice.c: each rule given after its sustained
    time and gone when its condition is, never for one bad minute, with
    the figures in its text. Synthetic ticks, one a second, on a clock
    passed by hand: an hour takes milliseconds. The actors are records
    filled here (zo_arec_t), as zo_actors would leave them.
*/
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "advice.h"
#include "render.h"

static zo_arec_t s_recs [4];
static const zo_arec_t *s_list [4];
static uint32_t s_n;
static zo_sample_t s_sample;
static uint64_t s_now, s_wall;

static zo_arec_t *
s_actor (const char *kind, const char *name)
{
    zo_arec_t *rec = &s_recs [s_n];
    memset (rec, 0, sizeof (*rec));
    snprintf (rec->kind, sizeof (rec->kind), "%s", kind);
    snprintf (rec->name, sizeof (rec->name), "%s", name);
    rec->id = s_n + 1;
    s_list [s_n++] = rec;
    return rec;
}

static void
s_gauge (zo_arec_t *rec, const char *name, double value)
{
    for (uint32_t i = 0; i < rec->n_gauges; i++)
        if (streq (rec->gauges [i].name, name)) {
            rec->gauges [i].value = value;
            return;
        }
    zo_agauge_t *g = &rec->gauges [rec->n_gauges++];
    snprintf (g->name, sizeof (g->name), "%s", name);
    g->value = value;
}

//  A counter growing at rate per second (its value does not matter here).
static void
s_rate (zo_arec_t *rec, const char *name, double rate)
{
    for (uint32_t i = 0; i < rec->n_counters; i++)
        if (streq (rec->counters [i].name, name)) {
            rec->counters [i].rate = rate;
            return;
        }
    zo_acounter_t *c = &rec->counters [rec->n_counters++];
    snprintf (c->name, sizeof (c->name), "%s", name);
    c->rate = rate;
}

static zo_advice_t *
s_advice (void)
{
    s_n = 0;
    s_now = 5000;
    s_wall = 1700000000000ull;
    memset (&s_sample, 0, sizeof (s_sample));
    s_sample.p95_ms = NAN;
    zo_advice_conf_t conf;
    zo_advice_conf_defaults (&conf);
    zo_advice_t *advice = zo_advice_new (&conf);
    cr_assert (advice);
    return advice;
}

static const zo_advice_item_t *
s_find (const zo_advice_t *advice, const char *id)
{
    for (uint32_t i = 0; i < zo_advice_size (advice); i++)
        if (streq (zo_advice_at (advice, i)->id, id))
            return zo_advice_at (advice, i);
    return NULL;
}

//  Ticks for `seconds`, one a second; returns the second (from 1) at which
//  id was first given, -1 when never. Any other advice fails the test.
static int
s_run (zo_advice_t *advice, int seconds, const char *id)
{
    int first = -1;
    for (int t = 1; t <= seconds; t++) {
        s_now += 1000;
        s_wall += 1000;
        s_sample.ts_ms = s_wall;
        zo_advice_tick (advice, s_now, &s_sample, s_list, s_n);
        for (uint32_t i = 0; i < zo_advice_size (advice); i++)
            cr_assert (id && streq (zo_advice_at (advice, i)->id, id),
                       "unexpected advice %s: %s", zo_advice_at (advice, i)->id,
                       zo_advice_at (advice, i)->text);
        if (first < 0 && s_find (advice, id? id: ""))
            first = t;
    }
    return first;
}

//  A healthy cluster: 2 workers at 30 % CPU, p95 20 ms, load 0.4.
static void
s_healthy (void)
{
    s_sample.workers_up = 2;
    s_sample.cpu = 0.3;
    s_sample.p95_ms = 20;
    s_sample.load = 0.4;
    s_sample.queue_depth = 3;
    s_sample.dead = 0;
}

Test (advice, an_hour_of_a_healthy_cluster_advises_nothing)
{
    zo_advice_t *advice = s_advice ();
    s_healthy ();
    zo_arec_t *as = s_actor ("autoscaler", "as1");
    s_gauge (as, "workers", 4);
    s_gauge (as, "max", 10);
    s_gauge (as, "manual", 0);
    zo_arec_t *cache = s_actor ("cache", "c1");
    s_rate (cache, "l1_hits_total", 90);
    s_rate (cache, "l1_misses_total", 10);
    cr_assert_eq (s_run (advice, 3600, NULL), -1);
    zo_view_t view = { .advice = advice };
    json_t *list = zo_render_advice (&view);
    cr_assert (json_is_array (list) && json_array_size (list) == 0);
    json_decref (list);
    zo_advice_destroy (&advice);
    zo_advice_destroy (&advice);
    cr_assert_null (advice);
}

Test (advice, autoscaler_at_max_for_ten_minutes)
{
    zo_advice_t *advice = s_advice ();
    s_healthy ();
    zo_arec_t *as = s_actor ("autoscaler", "as1");
    s_gauge (as, "workers", 10);
    s_gauge (as, "max", 10);
    s_gauge (as, "manual", 0);
    s_sample.load = 1.3;
    //  One bad minute, then load back to normal: nothing.
    cr_assert_eq (s_run (advice, 60, "autoscaler_max"), -1);
    s_sample.load = 0.5;
    cr_assert_eq (s_run (advice, 600, "autoscaler_max"), -1);
    //  Ten minutes at max above 0.8.
    s_sample.load = 1.3;
    uint64_t wall0 = s_wall;
    int at = s_run (advice, 720, "autoscaler_max");
    cr_assert (at >= 599 && at <= 601, "given after %d s", at);
    const zo_advice_item_t *item = s_find (advice, "autoscaler_max");
    cr_assert (item);
    cr_assert_str_eq (item->text,
        "workers at autoscaler/max (10) for 12 min with load 1.3: raise autoscaler/max");
    cr_assert_eq (item->since_ms, wall0 + (uint64_t) at * 1000);
    //  JSON, as /api/stats and /api/advice carry it.
    zo_view_t view = { .advice = advice };
    json_t *list = zo_render_advice (&view);
    cr_assert_eq (json_array_size (list), 1);
    json_t *a = json_array_get (list, 0);
    cr_assert_str_eq (json_string_value (json_object_get (a, "id")), "autoscaler_max");
    cr_assert_str_eq (json_string_value (json_object_get (a, "text")), item->text);
    cr_assert_eq (json_integer_value (json_object_get (a, "since_ms")), (json_int_t) item->since_ms);
    json_decref (list);
    //  The autoscaler is given room: gone at once.
    s_gauge (as, "max", 20);
    cr_assert_eq (s_run (advice, 1, "autoscaler_max"), -1);
    cr_assert_eq (zo_advice_size (advice), 0);
    //  An operator's size is not the autoscaler's to raise.
    s_gauge (as, "max", 10);
    s_gauge (as, "manual", 1);
    cr_assert_eq (s_run (advice, 1800, "autoscaler_max"), -1);
    zo_advice_destroy (&advice);
}

Test (advice, p95_near_the_objective_with_idle_workers)
{
    zo_advice_t *advice = s_advice ();
    s_healthy ();
    s_sample.p95_ms = 92;
    s_sample.cpu = 0.12;
    cr_assert_eq (s_run (advice, 60, "io_wait"), -1);
    s_sample.p95_ms = 20;
    cr_assert_eq (s_run (advice, 300, "io_wait"), -1);
    //  Seconds without events (no p95) do not break it.
    s_sample.p95_ms = 92;
    cr_assert_eq (s_run (advice, 200, "io_wait"), -1);
    s_sample.p95_ms = NAN;
    cr_assert_eq (s_run (advice, 50, "io_wait"), -1);
    s_sample.p95_ms = 92;
    int at = s_run (advice, 120, "io_wait");
    cr_assert (at >= 49 && at <= 51, "given after %d s", at);
    cr_assert_str_eq (s_find (advice, "io_wait")->text,
        "p95 92 ms near the 100 ms objective while workers use 12 % CPU: "
        "they wait on I/O; raise worker/capacity");
    //  Busy workers: CPU, not I/O.
    s_sample.cpu = 0.9;
    cr_assert_eq (s_run (advice, 600, "io_wait"), -1);
    zo_advice_destroy (&advice);
}

Test (advice, dead_letters_rising)
{
    zo_advice_t *advice = s_advice ();
    s_healthy ();
    //  A steady trickle for 20 min: not rising.
    s_sample.dead = 0.1;
    cr_assert_eq (s_run (advice, 1200, "dead_rising"), -1);
    //  Five times as many: given once the last 5 min hold twice the
    //  5 min before; 310 s in, the two windows are the two rates.
    s_sample.dead = 0.5;
    int at = s_run (advice, 310, "dead_rising");
    cr_assert (at > 0 && at < 310, "given after %d s", at);
    const zo_advice_item_t *item = s_find (advice, "dead_rising");
    cr_assert (item);
    double last, before;
    cr_assert_eq (sscanf (item->text, "dead letters rising: %lf/min over the last 5 min against "
                          "%lf/min the 5 min before", &last, &before), 2, "%s", item->text);
    cr_assert_float_eq (last, 30, 0.2, "%s", item->text);
    cr_assert_float_eq (before, 6, 0.2, "%s", item->text);
    //  Steady at the higher rate: gone once both windows agree.
    s_run (advice, 600, "dead_rising");
    cr_assert_null (s_find (advice, "dead_rising"));
    //  Quiet, then one bad minute: a burst, not a rise.
    s_sample.dead = 0;
    cr_assert_eq (s_run (advice, 600, "dead_rising"), -1);
    s_sample.dead = 5;
    cr_assert_eq (s_run (advice, 60, "dead_rising"), -1);
    s_sample.dead = 0;
    cr_assert_eq (s_run (advice, 600, "dead_rising"), -1);
    zo_advice_destroy (&advice);
}

Test (advice, cache_memory_hit_rate_low)
{
    zo_advice_t *advice = s_advice ();
    s_healthy ();
    zo_arec_t *cache = s_actor ("cache", "c1");
    //  Too few lookups to judge: 0.5/s is 150 in 5 min.
    s_rate (cache, "l1_hits_total", 0.1);
    s_rate (cache, "l1_misses_total", 0.4);
    cr_assert_eq (s_run (advice, 900, "cache_memory"), -1);
    //  A good rate, then one bad minute: 4 min at 90 %, 1 at 10 %.
    s_rate (cache, "l1_hits_total", 90);
    s_rate (cache, "l1_misses_total", 10);
    cr_assert_eq (s_run (advice, 600, "cache_memory"), -1);
    s_rate (cache, "l1_hits_total", 10);
    s_rate (cache, "l1_misses_total", 90);
    cr_assert_eq (s_run (advice, 60, "cache_memory"), -1);
    //  31 % for good: given within the window; its figures once the
    //  window holds nothing else.
    s_rate (cache, "l1_hits_total", 12.4);
    s_rate (cache, "l1_misses_total", 27.6);
    int at = s_run (advice, 400, "cache_memory");
    cr_assert (at > 0 && at <= 300, "given after %d s", at);
    cr_assert_str_eq (s_find (advice, "cache_memory")->text,
        "cache memory hit rate 31 % over 5 min (12,000 lookups): raise cache/memory or add cache/redis");
    //  With Redis below memory already, only memory is left to raise.
    s_rate (cache, "l2_hits_total", 5);
    cr_assert_eq (s_run (advice, 1, "cache_memory"), 1);
    cr_assert (strstr (s_find (advice, "cache_memory")->text, "): raise cache/memory"));
    cr_assert_null (strstr (s_find (advice, "cache_memory")->text, "redis"));
    //  A down cache is not counted: the window empties and it goes.
    cache->down = true;
    cr_assert_eq (s_run (advice, 400, "cache_memory"), 1);
    cr_assert_null (s_find (advice, "cache_memory"));
    zo_advice_destroy (&advice);
}

Test (advice, busy_workers_at_max_and_a_growing_queue_want_hosts)
{
    zo_advice_t *advice = s_advice ();
    s_healthy ();
    zo_arec_t *as = s_actor ("autoscaler", "as1");
    s_gauge (as, "workers", 10);
    s_gauge (as, "max", 10);
    s_sample.cpu = 0.91;
    s_sample.load = 0.91;
    s_sample.queue_depth = 120;
    int first = -1;
    for (int t = 1; t <= 900; t++) {
        s_sample.queue_depth += 10;
        if (s_run (advice, 1, "more_hosts") == 1 && first < 0)
            first = t;
    }
    cr_assert (first >= 299 && first <= 301, "given after %d s", first);
    const zo_advice_item_t *item = s_find (advice, "more_hosts");
    cr_assert (strstr (item->text, "workers at autoscaler/max (10) use 91 % CPU and the queue grew from 130 to 9120 in 15 min"),
               "%s", item->text);
    //  ... and not also autoscaler_max (s_run fails on any other id).
    //  The queue drains and the workers calm down: gone.
    s_sample.queue_depth = 50;
    s_sample.cpu = 0.3;
    s_sample.load = 0.5;
    cr_assert_eq (s_run (advice, 1, "more_hosts"), -1);
    zo_advice_destroy (&advice);
}
