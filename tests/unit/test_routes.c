/*  Tests of actors/worker/routes.c: globs, first match wins, defaults,
    options, config loading and errors.  */
#include <criterion/criterion.h>
#include <czmq.h>

#include "handlers.h"
#include "routes.h"

Test (routes, first_match_wins_and_globs)
{
    zo_routes_t *routes = zo_routes_new (30000, 3, NULL);
    cr_assert (routes);
    cr_assert_eq (zo_routes_add (routes, "github.push", "noop", 0, 0, NULL), 0);
    cr_assert_eq (zo_routes_add (routes, "github.*", "echo", 0, 0, NULL), 0);
    cr_assert_eq (zo_routes_add (routes, "linear.[ab]?", "fail", 0, 0, NULL), 0);
    cr_assert_eq (zo_routes_size (routes), 3);

    zo_route_t *r = zo_routes_match (routes, "github.push");
    cr_assert (r);
    cr_assert_str_eq (r->handler, "noop");
    cr_assert_eq (r->kind, &zo_kind_noop);
    r = zo_routes_match (routes, "github.pull_request");
    cr_assert (r);
    cr_assert_str_eq (r->handler, "echo");
    cr_assert_eq (zo_routes_match (routes, "linear.ax")->kind, &zo_kind_fail);
    cr_assert_null (zo_routes_match (routes, "linear.cx"));
    cr_assert_null (zo_routes_match (routes, "gitlab.push"));
    cr_assert_null (zo_routes_match (routes, "github"));
    zo_routes_destroy (&routes);
    cr_assert_null (routes);
    zo_routes_destroy (&routes);
}

Test (routes, defaults_and_options)
{
    zo_routes_t *routes = zo_routes_new (1500, 7, NULL);
    const char *opts [] = { "ms", "25", "color", "blue", NULL };
    cr_assert_eq (zo_routes_add (routes, "a.*", "sleep", 0, 0, opts), 0);
    cr_assert_eq (zo_routes_add (routes, "b.*", "noop", 250, 2, NULL), 0);
    zo_route_t *a = zo_routes_match (routes, "a.x");
    cr_assert_eq (a->timeout_ms, 1500);
    cr_assert_eq (a->attempts, 7);
    cr_assert_str_eq (zo_route_opt (a, "color", "none"), "blue");
    cr_assert_str_eq (zo_route_opt (a, "size", "none"), "none");
    cr_assert_eq ((uintptr_t) a->state, 25);
    zo_route_t *b = zo_routes_match (routes, "b.y");
    cr_assert_eq (b->timeout_ms, 250);
    cr_assert_eq (b->attempts, 2);
    zo_routes_destroy (&routes);
}

Test (routes, load_from_config)
{
    const char *text =
        "worker\n"
        "    routes\n"
        "        route\n"
        "            match = \"bench.sleep\"\n"
        "            handler = sleep\n"
        "            ms = 10\n"
        "            timeout = 2s\n"
        "        route\n"
        "            match = \"test.fail*\"\n"
        "            handler = fail\n"
        "            attempts = 5\n"
        "        route\n"
        "            match = \"*\"\n"
        "            handler = echo\n";
    zconfig_t *conf = zconfig_str_load (text);
    cr_assert (conf);
    zo_routes_t *routes = zo_routes_new (30000, 3, NULL);
    cr_assert_eq (zo_routes_load (routes, zconfig_locate (conf, "worker/routes")), 0,
                  "%s", zo_routes_errstr (routes));
    cr_assert_eq (zo_routes_size (routes), 3);
    zo_route_t *r = zo_routes_match (routes, "bench.sleep");
    cr_assert_eq (r->kind, &zo_kind_sleep);
    cr_assert_eq (r->timeout_ms, 2000);
    cr_assert_eq (r->attempts, 3);
    r = zo_routes_match (routes, "test.failing");
    cr_assert_eq (r->kind, &zo_kind_fail);
    cr_assert_eq (r->attempts, 5);
    cr_assert_eq (r->timeout_ms, 30000);
    cr_assert_eq (zo_routes_match (routes, "anything.else")->kind, &zo_kind_echo);
    zo_routes_destroy (&routes);
    zconfig_destroy (&conf);
}

Test (routes, errors)
{
    zo_routes_t *routes = zo_routes_new (0, 0, NULL);
    cr_assert_neq (zo_routes_add (routes, "x", "no_such_handler", 0, 0, NULL), 0);
    cr_assert (strstr (zo_routes_errstr (routes), "no_such_handler"), "%s", zo_routes_errstr (routes));
    cr_assert_neq (zo_routes_add (routes, "", "noop", 0, 0, NULL), 0);
    cr_assert_neq (zo_routes_add (routes, "x", "exec", 0, 0, NULL), 0);   /* no command */
    const char *bad_ms [] = { "ms", "soon", NULL };
    cr_assert_neq (zo_routes_add (routes, "x", "sleep", 0, 0, bad_ms), 0);
    const char *no_file [] = { "path", "/nonexistent/x.so", NULL };
    cr_assert_neq (zo_routes_add (routes, "x", "plugin", 0, 0, no_file), 0);
    cr_assert (strstr (zo_routes_errstr (routes), "dlopen"), "%s", zo_routes_errstr (routes));
    cr_assert_eq (zo_routes_size (routes), 0);

    zconfig_t *conf = zconfig_str_load ("routes\n    route\n        match = \"a\"\n"
                                        "        handler = noop\n        timeout = never\n");
    cr_assert_neq (zo_routes_load (routes, zconfig_locate (conf, "routes")), 0);
    cr_assert (strstr (zo_routes_errstr (routes), "timeout"));
    zconfig_destroy (&conf);
    cr_assert_eq (zo_routes_load (routes, NULL), 0);
    zo_routes_destroy (&routes);
}

Test (routes, parse_ms)
{
    cr_assert_eq (zo_routes_parse_ms ("250"), 250);
    cr_assert_eq (zo_routes_parse_ms ("250ms"), 250);
    cr_assert_eq (zo_routes_parse_ms ("2s"), 2000);
    cr_assert_eq (zo_routes_parse_ms ("1.5s"), 1500);
    cr_assert_eq (zo_routes_parse_ms ("5m"), 300000);
    cr_assert_eq (zo_routes_parse_ms ("1h"), 3600000);
    cr_assert_eq (zo_routes_parse_ms ("x"), -1);
    cr_assert_eq (zo_routes_parse_ms ("-3"), -1);
    cr_assert_eq (zo_routes_parse_ms ("3 days"), -1);
    cr_assert_eq (zo_routes_parse_ms (""), -1);
}
