/*  zorch-pool: every outside connection of the cluster, pooled (see
    pool.h).  */
#include <curl/curl.h>

#include "pool.h"

static const char *s_usage =
    "Usage: zorch-pool [--config FILE] [--pool-endpoint EP] ...\n"
    "Binds ROUTER on pool/endpoint and answers REQUEST (HTTP, to the services of\n"
    "pool/services, and github, linear, slack when their pool/<name>_token is set)\n"
    "and QUERY (PostgreSQL, to pool/databases), on pooled, rate-limited,\n"
    "health-checked connections with a circuit breaker per service.\n";

static void *
s_start (zo_actor_t *actor)
{
    return zo_pool_new (actor);
}

static void
s_stop (void *state)
{
    zo_pool_t *pool = state;
    zo_pool_destroy (&pool);
}

int
main (int argc, char **argv)
{
    //  Before any thread exists (ZeroMQ's): curl's global set-up is not
    //  thread-safe.
    curl_global_init (CURL_GLOBAL_DEFAULT);
    int rc = zo_actor_main ("pool", s_usage, argc, argv, s_start, s_stop);
    curl_global_cleanup ();
    return rc;
}
