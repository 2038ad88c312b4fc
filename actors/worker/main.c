/*  zorch-worker: runs events the broker dispatches (see worker.h).  */
#include "worker.h"

static const char *s_usage =
    "Usage: zorch-worker [--config FILE] [--worker-broker EP] [--worker-capacity N]\n"
    "                    [--worker-name NAME] [--worker-plugin-dir DIR] ...\n"
    "Runs events from the broker through the handlers routed in worker/routes.\n";

int
main (int argc, char **argv)
{
    zo_actor_t a;
    int rc = zo_actor_init (&a, "worker", argc, argv, s_usage);
    if (rc) {
        rc = rc < 0 ? zo_actor_exit_code (&a) : 0;
        zo_actor_fini (&a);
        return rc;
    }
    zo_worker_t *worker = zo_worker_new (&a);
    if (worker) {
        rc = zo_loop_run (a.loop) ? ZO_EXIT_FAIL : 0;
        zo_worker_destroy (&worker);
    }
    else
        rc = zo_actor_exit_code (&a);
    zo_actor_fini (&a);
    return rc;
}
