/*  routes: see routes.h.  */
#include "routes.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "zo_conf.h"

#define ROUTES_MAX 256

struct _zo_routes_t {
    zo_route_t *routes [ROUTES_MAX];
    size_t size;
    uint64_t timeout_ms;
    uint32_t attempts;
    zo_hctx_t *ctx;
    char errstr [256];
};

zo_routes_t *
zo_routes_new (uint64_t timeout_ms, uint32_t attempts, zo_hctx_t *ctx)
{
    zo_routes_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->timeout_ms = timeout_ms ? timeout_ms : 30000;
    self->attempts = attempts ? attempts : 3;
    self->ctx = ctx;
    return self;
}

static void
s_route_free (zo_route_t *route)
{
    if (!route)
        return;
    if (route->kind && route->kind->fini)
        route->kind->fini (route);
    free (route->match);
    free (route->handler);
    for (unsigned i = 0; i < route->n_opts; i++) {
        free (route->opts [i].key);
        free (route->opts [i].value);
    }
    free (route);
}

void
zo_routes_destroy (zo_routes_t **self_p)
{
    assert (self_p);
    zo_routes_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->size; i++)
        s_route_free (self->routes [i]);
    free (self);
    *self_p = NULL;
}

int64_t
zo_routes_parse_ms (const char *text)
{
    uint64_t ms;
    if (zo_conf_parse_ms (text, &ms) || ms > 9000000000000000ull)
        return -1;
    return (int64_t) ms;
}

int
zo_routes_add (zo_routes_t *self, const char *match, const char *handler,
               uint64_t timeout_ms, uint32_t attempts, const char *const *opts)
{
    assert (self);
    if (!match || !*match || !handler || !*handler) {
        snprintf (self->errstr, sizeof (self->errstr), "route %zu: match and handler are required",
                  self->size + 1);
        return -1;
    }
    if (self->size == ROUTES_MAX) {
        snprintf (self->errstr, sizeof (self->errstr), "more than %d routes", ROUTES_MAX);
        return -1;
    }
    zo_route_t *route = calloc (1, sizeof (*route));
    if (!route)
        goto oom;
    route->match = strdup (match);
    route->handler = strdup (handler);
    if (!route->match || !route->handler)
        goto oom;
    route->timeout_ms = timeout_ms ? timeout_ms : self->timeout_ms;
    route->attempts = attempts ? attempts : self->attempts;
    for (size_t i = 0; opts && opts [i] && opts [i + 1]; i += 2) {
        if (route->n_opts == ZO_ROUTE_MAX_OPTS) {
            snprintf (self->errstr, sizeof (self->errstr), "route '%s': more than %d options",
                      match, ZO_ROUTE_MAX_OPTS);
            s_route_free (route);
            return -1;
        }
        zo_route_opt_t *opt = &route->opts [route->n_opts++];
        opt->key = strdup (opts [i]);
        opt->value = strdup (opts [i + 1]);
        if (!opt->key || !opt->value)
            goto oom;
    }
    char why [200] = "";
    route->ctx = self->ctx;
    if (zo_handlers_bind (route, why, sizeof (why))) {
        snprintf (self->errstr, sizeof (self->errstr), "route '%s' (handler %s): %s",
                  match, handler, why);
        s_route_free (route);
        return -1;
    }
    self->routes [self->size++] = route;
    return 0;
oom:
    s_route_free (route);
    snprintf (self->errstr, sizeof (self->errstr), "out of memory");
    return -1;
}

int
zo_routes_load (zo_routes_t *self, zconfig_t *routes)
{
    assert (self);
    if (!routes)
        return 0;
    for (zconfig_t *child = zconfig_child (routes); child; child = zconfig_next (child)) {
        if (!streq (zconfig_name (child), "route")) {
            snprintf (self->errstr, sizeof (self->errstr),
                      "worker/routes: unexpected section '%s' (want 'route')", zconfig_name (child));
            return -1;
        }
        const char *match = NULL, *handler = NULL;
        uint64_t timeout_ms = 0;
        uint32_t attempts = 0;
        const char *opts [2 * ZO_ROUTE_MAX_OPTS + 4];
        size_t n = 0;
        for (zconfig_t *kv = zconfig_child (child); kv; kv = zconfig_next (kv)) {
            const char *key = zconfig_name (kv);
            const char *value = zconfig_value (kv);
            if (!value)
                value = "";
            if (streq (key, "match"))
                match = value;
            else
            if (streq (key, "handler"))
                handler = value;
            else
            if (streq (key, "timeout")) {
                int64_t ms = zo_routes_parse_ms (value);
                if (ms <= 0 || ms > ZO_ROUTE_TIMEOUT_MAX) {
                    snprintf (self->errstr, sizeof (self->errstr),
                              "route %zu: bad timeout '%s'; allowed: 1..%llu ms (7 days)",
                              self->size + 1, value, (unsigned long long) ZO_ROUTE_TIMEOUT_MAX);
                    return -1;
                }
                timeout_ms = (uint64_t) ms;
            }
            else
            if (streq (key, "attempts")) {
                char *end;
                long v = strtol (value, &end, 10);
                if (*end || v <= 0 || v > 1000000) {
                    snprintf (self->errstr, sizeof (self->errstr),
                              "route %zu: bad attempts '%s'; allowed: 1..1000000",
                              self->size + 1, value);
                    return -1;
                }
                attempts = (uint32_t) v;
            }
            else
            if (n < 2 * ZO_ROUTE_MAX_OPTS) {
                opts [n++] = key;
                opts [n++] = value;
            }
            else {
                snprintf (self->errstr, sizeof (self->errstr), "route %zu: too many options",
                          self->size + 1);
                return -1;
            }
        }
        opts [n] = NULL;
        if (zo_routes_add (self, match, handler, timeout_ms, attempts, opts))
            return -1;
    }
    return 0;
}

zo_route_t *
zo_routes_match (zo_routes_t *self, const char *type)
{
    assert (self);
    for (size_t i = 0; i < self->size; i++)
        if (fnmatch (self->routes [i]->match, type, 0) == 0)
            return self->routes [i];
    return NULL;
}

size_t
zo_routes_size (zo_routes_t *self)
{
    return self->size;
}

zo_route_t *
zo_routes_get (zo_routes_t *self, size_t index)
{
    return index < self->size ? self->routes [index] : NULL;
}

const char *
zo_routes_errstr (zo_routes_t *self)
{
    return self->errstr;
}

const char *
zo_route_opt (const zo_route_t *route, const char *key, const char *dflt)
{
    for (unsigned i = 0; i < route->n_opts; i++)
        if (streq (route->opts [i].key, key))
            return route->opts [i].value;
    return dflt;
}
