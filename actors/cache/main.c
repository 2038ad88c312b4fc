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

int
main (int argc, char **argv)
{
    zo_actor_t a;
    int rc = zo_actor_init (&a, "cache", argc, argv, s_usage);
    if (rc) {
        rc = rc < 0 ? zo_actor_exit_code (&a) : 0;
        zo_actor_fini (&a);
        return rc;
    }
    zo_cache_t *cache = zo_cache_new (&a);
    if (cache) {
        rc = zo_loop_run (a.loop) ? ZO_EXIT_FAIL : 0;
        zo_cache_destroy (&cache);
    }
    else
        rc = zo_actor_exit_code (&a);
    zo_actor_fini (&a);
    return rc;
}
