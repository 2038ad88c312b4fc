/*  zorch-autoscaler: workers that follow the load (see autoscaler.h).  */
#include <curl/curl.h>

#include "autoscaler.h"

static const char *s_usage =
    "Usage: zorch-autoscaler [--config FILE] [--autoscaler-min N] [--autoscaler-max N] ...\n"
    "Starts autoscaler/min zorch-worker processes (or runs autoscaler/command with\n"
    "the size), then follows the monitor's load score (autoscaler/monitor, /api/load):\n"
    "more workers above autoscaler/up, fewer below autoscaler/down after\n"
    "autoscaler/cooldown, scaled down through the broker's QUIET so no event is cut\n"
    "short; restarts crashed workers with backoff; binds autoscaler/endpoint for\n"
    "SCALE (zorch scale). Its configuration flags are passed on to every worker.\n";

static void *
s_start (zo_actor_t *actor)
{
    return zo_autoscaler_new (actor, actor->flags);
}

static void
s_stop (void *state)
{
    zo_autoscaler_t *autoscaler = state;
    zo_autoscaler_destroy (&autoscaler);
}

int
main (int argc, char **argv)
{
    //  Before any thread exists (ZeroMQ's): curl's global set-up is not
    //  thread-safe.
    curl_global_init (CURL_GLOBAL_DEFAULT);
    int rc = zo_actor_main ("autoscaler", s_usage, argc, argv, s_start, s_stop);
    curl_global_cleanup ();
    return rc;
}
