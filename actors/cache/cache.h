/*  zo_cache: the zorch-cache actor.

    A ROUTER on cache/endpoint answers GET, MGET, SET, DEL, INVALIDATE,
    TOUCH and GET_STATS (proto/PROTOCOL.md, "Client ↔ cache") from up to
    three levels:

    memory    (l1.c) cache/memory bytes, W-TinyLFU or LRU, TTL; always there
    redis     (l2.c) cache/redis, shared by every cache actor and host; its
              pub/sub channel carries every change to the others' memory
    postgres  (l3.c) cache/postgres, survives restarts

    A GET goes down the levels until one has the key, and the hit fills
    the levels above it. A change (SET, DEL, INVALIDATE, TOUCH) is made at
    every level that is up, and answered when they all have answered. A
    level that is down is skipped, reported (gauges dep_redis_up,
    dep_postgres_up: the monitor's /health and dashboard read them), and
    reconnected by itself with backoff; nothing waits for it.

    Entries that a lower level holds stay in memory at most
    cache/memory_ttl, so that a lost coherence message cannot keep a stale
    value for long; one read in the last part of that lifetime
    (cache/refresh_ahead) is reloaded from below in the background, so
    popular keys never miss in memory. cache/warmup names a file of keys
    loaded from below at start.

    Memory pressure: the process's heap beyond what it held at start is
    compared with cache/memory every tick; at 80 % of it the background
    loads (refresh-ahead, warm-up) pause, at 90 % the memory level is
    shrunk by a tenth and fills from below stop, at 95 % it is cut to half;
    each step is undone when the heap falls back under 75 % (gauge
    memory_pressure_step, counter memory_shed_bytes_total).
*/
#ifndef ZO_CACHE_H_INCLUDED
#define ZO_CACHE_H_INCLUDED

#include "zo_actor.h"

typedef struct _zo_cache_t zo_cache_t;

/*  Reads the cache section, binds cache/endpoint, connects the levels
    below (without waiting for them) and watches everything on the actor's
    loop. NULL after logging why (a bad configuration marks actor->conf
    bad).  */
zo_cache_t *zo_cache_new (zo_actor_t *actor);
void zo_cache_destroy (zo_cache_t **self_p);

#endif
