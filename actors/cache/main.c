/*  zorch-cache: answers GET/SET/DEL/INVALIDATE/TOUCH from memory, Redis
    and PostgreSQL, coherent across every cache actor (see cache.h).  */
#include "cache.h"

static const char *s_usage =
    "Usage: zorch-cache [--config FILE] [--cache-endpoint EP] [--cache-memory 64M]\n"
    "                   [--cache-redis redis://HOST:PORT/DB] [--cache-postgres CONNINFO] ...\n"
    "Binds ROUTER on cache/endpoint and answers GET, MGET, SET, DEL, INVALIDATE,\n"
    "TOUCH and GET_STATS from memory (cache/memory bytes, W-TinyLFU), then Redis\n"
    "(cache/redis), then PostgreSQL (cache/postgres), each level optional below\n"
    "memory and shared by every cache actor pointed at it.\n";

static void *
s_start (zo_actor_t *actor)
{
    return zo_cache_new (actor);
}

static void
s_stop (void *state)
{
    zo_cache_t *cache = state;
    zo_cache_destroy (&cache);
}

int
main (int argc, char **argv)
{
    return zo_actor_main ("cache", s_usage, argc, argv, s_start, s_stop);
}
