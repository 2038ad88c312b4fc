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

int
main (int argc, char **argv)
{
    //  Before any thread exists (ZeroMQ's): curl's global set-up is not
    //  thread-safe.
    curl_global_init (CURL_GLOBAL_DEFAULT);
    zo_actor_t a;
    int rc = zo_actor_init (&a, "pool", argc, argv, s_usage);
    if (rc) {
        rc = rc < 0 ? zo_actor_exit_code (&a) : 0;
        zo_actor_fini (&a);
        curl_global_cleanup ();
        return rc;
    }
    zo_pool_t *pool = zo_pool_new (&a);
    if (pool) {
        rc = zo_loop_run (a.loop) ? ZO_EXIT_FAIL : 0;
        zo_pool_destroy (&pool);
    }
    else
        rc = zo_actor_exit_code (&a);
    zo_actor_fini (&a);
    curl_global_cleanup ();
    return rc;
}
