/*  routes: the worker's routing table, from event type globs (fnmatch) to
    handlers with their timeout, attempts and options. The first route whose
    glob matches an event's type wins.

    Config (worker/routes), one `route` section per route, in order:
        route
            match = "github.*"      #   fnmatch glob on the event type
            handler = exec          #   noop echo fail sleep exec plugin, or a plugin name
            timeout = 5s            #   default worker/timeout
            attempts = 2            #   default worker/attempts
            command = "./hook.sh"   #   anything else is a handler option
*/
#ifndef ZO_ROUTES_H_INCLUDED
#define ZO_ROUTES_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "context.h"

#define ZO_ROUTE_MAX_OPTS 16
#define ZO_ROUTE_TIMEOUT_MAX (7 * 86400000ll)   /* ms, as worker/timeout */

typedef struct zo_kind zo_kind_t;

typedef struct {
    char *key;
    char *value;
} zo_route_opt_t;

typedef struct zo_route {
    char *match;
    char *handler;
    uint64_t timeout_ms;
    uint32_t attempts;
    zo_route_opt_t opts [ZO_ROUTE_MAX_OPTS];
    unsigned n_opts;
    zo_hctx_t *ctx;             /* the worker's, borrowed; may be NULL (tests) */
    const zo_kind_t *kind;      /* bound by zo_handlers_bind */
    void *state;                /* the kind's per-route state */
} zo_route_t;

typedef struct _zo_routes_t zo_routes_t;

/*  defaults for routes that do not say; ctx (borrowed, may be NULL: no
    plugin_dir, no counters) is what the handlers get. NULL when out of
    memory.  */
zo_routes_t *zo_routes_new (uint64_t timeout_ms, uint32_t attempts, zo_hctx_t *ctx);
/*  Calls each route's kind fini, frees all.  */
void zo_routes_destroy (zo_routes_t **self_p);

/*  Appends a route; opts is a NULL-terminated list of key, value pairs
    (may be NULL). timeout_ms / attempts 0 take the defaults. Binds the
    handler (loads plugins). 0, or -1 with zo_routes_errstr set.  */
int zo_routes_add (zo_routes_t *self, const char *match, const char *handler,
                   uint64_t timeout_ms, uint32_t attempts, const char *const *opts);
/*  Appends every `route` child of a routes section (NULL: none). 0 or -1.  */
int zo_routes_load (zo_routes_t *self, zconfig_t *routes);

/*  The first route matching type (NUL-terminated), or NULL.  */
zo_route_t *zo_routes_match (zo_routes_t *self, const char *type);

size_t zo_routes_size (zo_routes_t *self);
zo_route_t *zo_routes_get (zo_routes_t *self, size_t index);
const char *zo_routes_errstr (zo_routes_t *self);

/*  A route option, or dflt.  */
const char *zo_route_opt (const zo_route_t *route, const char *key, const char *dflt);

/*  Parses a duration as zo_conf does ("250ms", "30s", "5m", "1h"; plain =
    ms). -1 if it does not parse.  */
int64_t zo_routes_parse_ms (const char *text);

#endif
