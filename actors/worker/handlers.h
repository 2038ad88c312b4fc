/*  handlers: the kinds of handler a route can name, and the built-in ones.

    noop   ok, no result
    echo   ok, result = the payload verbatim
    fail   fails with "fail handler" (retried until the route's attempts)
    sleep  completes ok after `ms` (route option) or the payload's "ms",
           on a loop timer
    exec   runs a program (exec.h)
    cache  gets, sets, deletes or invalidates a key of the cache actor
           made from the event (cache_kind.c)
    http   an HTTP request through the pool actor, made from the event
    sql    a statement through the pool actor, its parameters from the
           event (pool_kinds.c)
    plugin a shared object (plugin.h); any other name is looked up as
           <plugin_dir>/<name>.so
*/
#ifndef ZO_HANDLERS_H_INCLUDED
#define ZO_HANDLERS_H_INCLUDED

#include <stddef.h>

#include "inflight.h"
#include "routes.h"

/*  A kind of handler. Its per-route state is route->state (made by bind,
    freed by fini); its per-event state is zo_slot_state (slot), event_size
    bytes zeroed before each start, so that nothing a kind keeps per event
    lives in the shared slot.  */
struct zo_kind {
    const char *name;
    size_t event_size;
    /*  Reads the route's options into route->state (route->ctx is the
        worker's context). 0, or -1 with why.  */
    int (*bind) (zo_route_t *route, char *why, size_t why_size);
    void (*fini) (zo_route_t *route);
    /*  Starts the event in slot; ends it with zo_slot_complete.  */
    void (*start) (zo_slot_t *slot);
    /*  The slot timed out or is being stopped: drop whatever refers to it
        (it is completed by the caller). May be NULL.  */
    void (*cancel) (zo_slot_t *slot);
    /*  The event ended, completed or cancelled: release what its
        per-event state holds (timers, watches). May be NULL.  */
    void (*end) (zo_slot_t *slot);
};

extern const zo_kind_t zo_kind_noop;
extern const zo_kind_t zo_kind_echo;
extern const zo_kind_t zo_kind_fail;
extern const zo_kind_t zo_kind_sleep;
extern const zo_kind_t zo_kind_exec;      /* exec.c */
extern const zo_kind_t zo_kind_cache;     /* cache_kind.c */
extern const zo_kind_t zo_kind_http;      /* pool_kinds.c */
extern const zo_kind_t zo_kind_sql;       /* pool_kinds.c */
extern const zo_kind_t zo_kind_plugin;    /* plugin.c */

/*  The built-in kind named name, or NULL.  */
const zo_kind_t *zo_handlers_find (const char *name);
/*  Sets route->kind and route->state from route->handler: a built-in, or
    a plugin (handler = plugin with path, or a name found in the context's
    plugin_dir). 0, or -1 with why.  */
int zo_handlers_bind (zo_route_t *route, char *why, size_t why_size);

/*  Reads key from a msgpack map as an unsigned integer. 0 found, -1 not.  */
int zo_handlers_map_u64 (zo_span_t map, const char *key, uint64_t *value);

#endif
