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
