/*  Tests of actors/worker/handlers.c and inflight.c: the built-in handlers
    run through the inflight table on a real loop (no broker).  */
#include "test_worker_util.h"

#include "handlers.h"

static t_rec_t rec;
static zo_loop_t *loop;
static zo_routes_t *routes;
static zo_inflight_t *inflight;

static void
s_setup (uint32_t capacity)
{
    memset (&rec, 0, sizeof (rec));
    loop = zo_loop_new ();
    rec.loop = loop;
    routes = zo_routes_new (5000, 2, NULL);
    const char *sleep_opts [] = { "ms", "30", NULL };
    cr_assert_eq (zo_routes_add (routes, "sleep.short", "sleep", 0, 0, sleep_opts), 0);
    cr_assert_eq (zo_routes_add (routes, "sleep.tight", "sleep", 50, 0, sleep_opts), 0);
    cr_assert_eq (zo_routes_add (routes, "fail.*", "fail", 0, 0, NULL), 0);
    cr_assert_eq (zo_routes_add (routes, "noop", "noop", 0, 0, NULL), 0);
    cr_assert_eq (zo_routes_add (routes, "echo.*", "echo", 0, 0, NULL), 0);
    inflight = zo_inflight_new (loop, routes, capacity, NULL, t_sink, &rec);
    cr_assert (inflight);
}

static void
s_teardown (void)
{
    zo_inflight_destroy (&inflight);
    zo_routes_destroy (&routes);
    zo_loop_destroy (&loop);
}

Test (handlers, noop_echo_sync)
{
    s_setup (4);
    zo_item_t a = t_item ("e1", "noop", "{\"x\":1}", 1, 0);
    zo_item_t b = t_item ("e2", "echo.this", "{\"ref\":\"refs/heads/main\",\"n\":[1,2.5,null,true]}", 1, 0);
    zo_item_t c = t_item ("e3", "echo.empty", NULL, 1, 0);
    cr_assert_eq (zo_inflight_start (inflight, &a, NULL), 0);
    cr_assert_eq (zo_inflight_start (inflight, &b, NULL), 0);
    cr_assert_eq (zo_inflight_start (inflight, &c, NULL), 0);
    /*  They end inside start: nothing stays in flight.  */
    cr_assert_eq (zo_inflight_count (inflight), 0);
    cr_assert_eq (rec.n, 3);
    cr_assert_str_eq (rec.out [0].id, "e1");
    cr_assert (rec.out [0].ok);
    cr_assert_str_eq (rec.out [0].result, "");
    cr_assert_str_eq (rec.out [1].id, "e2");
    cr_assert (rec.out [1].ok);
    cr_assert_str_eq (rec.out [1].result, "{\"n\":[1,2.5,null,true],\"ref\":\"refs/heads/main\"}");
    cr_assert (rec.out [2].ok);
    cr_assert_str_eq (rec.out [2].result, "");
    s_teardown ();
}

Test (handlers, fail_respects_attempts)
{
    s_setup (4);
    zo_item_t first = t_item ("f1", "fail.me", NULL, 1, 0);
    zo_item_t last = t_item ("f2", "fail.me", NULL, 2, 0);     /* route attempts = 2 */
    zo_inflight_start (inflight, &first, NULL);
    zo_inflight_start (inflight, &last, NULL);
    cr_assert_eq (rec.n, 2);
    cr_assert_not (rec.out [0].ok);
    cr_assert_str_eq (rec.out [0].error, "fail handler");
    cr_assert_not (rec.out [0].final);
    cr_assert_not (rec.out [1].ok);
    cr_assert (rec.out [1].final);
    s_teardown ();
}

Test (handlers, no_route_is_final)
{
    s_setup (4);
    zo_item_t item = t_item ("n1", "nobody.handles.this", NULL, 1, 0);
    cr_assert_eq (zo_inflight_start (inflight, &item, NULL), 0);
    cr_assert_eq (rec.n, 1);
    cr_assert_not (rec.out [0].ok);
    cr_assert (rec.out [0].final);
    cr_assert_str_eq (rec.out [0].error, "no route for type nobody.handles.this");
    s_teardown ();
}

Test (handlers, sleep_on_timers)
{
    s_setup (8);
    zo_item_t a = t_item ("s1", "sleep.short", NULL, 1, 0);                 /* route ms = 30 */
    zo_item_t b = t_item ("s2", "sleep.short", "{\"ms\":5}", 1, 0);        /* payload wins */
    uint64_t start = zo_clock_mono_ns ();
    zo_inflight_start (inflight, &a, NULL);
    zo_inflight_start (inflight, &b, NULL);
    cr_assert_eq (zo_inflight_count (inflight), 2);
    cr_assert_eq (rec.n, 0, "sleep must not block or complete at once");
    t_run (&rec, 2, 2000);
    uint64_t took_ms = (zo_clock_mono_ns () - start) / 1000000;
    cr_assert_eq (rec.n, 2);
    cr_assert_str_eq (rec.out [0].id, "s2");      /* the shorter one ends first */
    cr_assert_str_eq (rec.out [1].id, "s1");
    cr_assert (rec.out [0].ok && rec.out [1].ok);
    cr_assert_geq (took_ms, 29);
    cr_assert_lt (took_ms, 1000);
    cr_assert_geq (rec.out [1].took_ns, 29000000);
    cr_assert_eq (zo_inflight_count (inflight), 0);
    s_teardown ();
}

Test (handlers, timeout_and_deadline)
{
    s_setup (8);
    zo_item_t a = t_item ("t1", "sleep.tight", "{\"ms\":5000}", 1, 0);    /* route timeout 50 */
    zo_item_t b = t_item ("t2", "sleep.short", "{\"ms\":5000}", 2, 20);   /* deadline 20 < 5000 */
    zo_inflight_start (inflight, &a, NULL);
    zo_inflight_start (inflight, &b, NULL);
    t_run (&rec, 2, 3000);
    cr_assert_eq (rec.n, 2);
    cr_assert_str_eq (rec.out [0].id, "t2");
    cr_assert_str_eq (rec.out [0].error, "timeout after 20 ms");
    cr_assert (rec.out [0].final, "attempt 2 of 2");
    cr_assert_str_eq (rec.out [1].id, "t1");
    cr_assert_str_eq (rec.out [1].error, "timeout after 50 ms");
    cr_assert_not (rec.out [1].final);
    cr_assert_eq (zo_inflight_count (inflight), 0);
    s_teardown ();
}

Test (handlers, capacity_and_stop)
{
    s_setup (2);
    zo_item_t a = t_item ("c1", "sleep.short", "{\"ms\":10000}", 1, 0);
    zo_item_t b = t_item ("c2", "sleep.short", "{\"ms\":10000}", 1, 0);
    zo_item_t c = t_item ("c3", "noop", NULL, 1, 0);
    cr_assert_eq (zo_inflight_start (inflight, &a, NULL), 0);
    cr_assert_eq (zo_inflight_start (inflight, &b, NULL), 0);
    cr_assert_eq (zo_inflight_start (inflight, &c, NULL), -1, "over capacity");
    cr_assert_eq (zo_inflight_count (inflight), 2);
    zo_inflight_cancel_all (inflight, "worker stopping", false);
    cr_assert_eq (rec.n, 2);
    cr_assert_str_eq (rec.out [0].error, "worker stopping");
    cr_assert_not (rec.out [0].final);
    cr_assert_eq (zo_inflight_count (inflight), 0);
    /*  The slots are free again.  */
    cr_assert_eq (zo_inflight_start (inflight, &c, NULL), 0);
    cr_assert (rec.out [2].ok);
    s_teardown ();
}

Test (handlers, map_u64)
{
    zo_item_t item = t_item ("m", "x", "{\"a\":\"s\",\"ms\":42,\"f\":2.0}", 1, 0);
    uint64_t v = 0;
    cr_assert_eq (zo_handlers_map_u64 (item.event.payload, "ms", &v), 0);
    cr_assert_eq (v, 42);
    cr_assert_eq (zo_handlers_map_u64 (item.event.payload, "f", &v), 0);
    cr_assert_eq (v, 2);
    cr_assert_eq (zo_handlers_map_u64 (item.event.payload, "a", &v), -1);
    cr_assert_eq (zo_handlers_map_u64 (item.event.payload, "zz", &v), -1);
    zo_item_t arr = t_item ("m2", "x", "[1,2]", 1, 0);
    cr_assert_eq (zo_handlers_map_u64 (arr.event.payload, "ms", &v), -1);
}
