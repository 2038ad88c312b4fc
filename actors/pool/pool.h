/*  zo_pool: the zorch-pool actor.

    A ROUTER on pool/endpoint answers REQUEST (an HTTP request to one of
    pool/services, http.c) with RESPONSE, QUERY (a statement on one of
    pool/databases, sql.c) with ROWS, and GET_STATS and PING, so that a
    thousand events in flight share a handful of warm connections per
    service, respect each provider's rate limits, and fail fast when a
    service is down (proto/PROTOCOL.md, "Client ↔ pool").

    Services come from pool/services (a list of `service` entries) and from
    the ready-made github, linear and slack entries, which exist only when
    pool/<name>_token names an environment variable that holds a token.
    A token is read from the environment, sent as its service's auth
    header, and never logged.

    Pressure (zo_pressure: pool/memory_limit, pool/cpu_pressure): at step
    1 and above idle connections are trimmed: each HTTP service keeps one
    idle connection at most instead of max_conns, and closes those it has
    as soon as none of its transfers runs; each database closes its idle
    connections beyond min, at every reading while the step holds (more
    are still opened on demand). Nothing waiting or in flight is touched.
    At step 0 services keep max_conns idle again (gauge idle_trimmed, 1
    or 0; a log line and a note each way). The CPU steps are off unless
    pool/cpu_pressure is set: trimming sheds memory, and connections
    closed under CPU load only come back as handshakes.
*/
#ifndef ZO_POOL_H_INCLUDED
#define ZO_POOL_H_INCLUDED

#include "zo_actor.h"

typedef struct _zo_pool_t zo_pool_t;

/*  Reads the pool section, binds pool/endpoint, starts the services' and
    databases' connections (without waiting). NULL after logging why (a
    bad configuration marks actor->conf bad).  */
zo_pool_t *zo_pool_new (zo_actor_t *actor);
void zo_pool_destroy (zo_pool_t **self_p);

#endif
