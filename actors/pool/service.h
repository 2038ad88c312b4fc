/*  service: what the pool actor needs of its outside connections, shared
    by the HTTP services (http.c) and the PostgreSQL databases (sql.c), so
    that the actor drives both the same way.

    Every request is asynchronous: it returns 0 and its callback runs
    exactly once, later, from the loop (never from inside the call); or it
    returns -1 at once with errno (ENOENT: no such service or database;
    ENOMEM) and the callback never runs. What a request points to is
    copied before the call returns; what a result points to is lent to the
    callback until it returns.

    A failure is one of the protocol's codes (zo_proto.h): ZO_ERR_UNAVAILABLE
    (the circuit is open, or no connection can be had), ZO_ERR_TIMEOUT (the
    request's deadline passed, retries and waits included), ZO_ERR_UPSTREAM
    (no HTTP response after the retries; the database refused the
    statement), ZO_ERR_BAD_VALUE (a request that cannot be sent: a bad
    method, too many parameters), with a sentence in reason.

    Health, per service or database: ZO_HEALTH_UP (probes and requests
    succeed), ZO_HEALTH_DEGRADED (some fail, or it is rate-limited and
    waiting), ZO_HEALTH_DOWN (the circuit is open, or no connection).
    Reported as gauges <name>_up (1 up or degraded, 0 down) and
    <name>_health (2 up, 1 degraded, 0 down: the monitor's /health and
    pool panel read them).
*/
#ifndef ZO_SERVICE_H_INCLUDED
#define ZO_SERVICE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "zo_proto.h"

typedef enum { ZO_HEALTH_DOWN = 0, ZO_HEALTH_DEGRADED = 1, ZO_HEALTH_UP = 2 } zo_health_t;

/*  "down", "degraded", "up".  */
static inline const char *
zo_health_name (zo_health_t health)
{
    return health == ZO_HEALTH_UP ? "up" : health == ZO_HEALTH_DEGRADED ? "degraded" : "down";
}

#endif
