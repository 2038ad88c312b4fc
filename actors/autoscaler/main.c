/*  zorch-autoscaler: workers that follow the load (see autoscaler.h).  */
#include <curl/curl.h>
#include <stdlib.h>

#include "autoscaler.h"

static const char *s_usage =
    "Usage: zorch-autoscaler [--config FILE] [--autoscaler-min N] [--autoscaler-max N] ...\n"
    "Starts autoscaler/min zorch-worker processes (or runs autoscaler/command with\n"
    "the size), then follows the monitor's load score (autoscaler/monitor, /api/load):\n"
    "more workers above autoscaler/up, fewer below autoscaler/down after\n"
    "autoscaler/cooldown, scaled down through the broker's QUIET so no event is cut\n"
    "short; restarts crashed workers with backoff; binds autoscaler/endpoint for\n"
    "SCALE (zorch scale). Its configuration flags are passed on to every worker.\n";

int
main (int argc, char **argv)
{
    //  Before any thread exists (ZeroMQ's): curl's global set-up is not
    //  thread-safe.
    curl_global_init (CURL_GLOBAL_DEFAULT);
    //  Every flag it is given is configuration (zo_actor_init refuses
    //  anything else, and takes them out of argv): the workers get the
    //  same, from this copy.
    char **flags = calloc ((size_t) argc, sizeof (char *));
    for (int i = 1; flags && i < argc; i++)
        flags [i - 1] = argv [i];
    zo_actor_t a;
    int rc = zo_actor_init (&a, "autoscaler", argc, argv, s_usage);
    if (rc) {
        rc = rc < 0 ? zo_actor_exit_code (&a) : 0;
        zo_actor_fini (&a);
        curl_global_cleanup ();
        free (flags);
        return rc;
    }
    zo_autoscaler_t *autoscaler = flags? zo_autoscaler_new (&a, flags): NULL;
    if (autoscaler) {
        rc = zo_loop_run (a.loop) ? ZO_EXIT_FAIL : 0;
        zo_autoscaler_destroy (&autoscaler);
    }
    else
        rc = zo_actor_exit_code (&a);
    zo_actor_fini (&a);
    curl_global_cleanup ();
    free (flags);
    return rc;
}
