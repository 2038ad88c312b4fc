/*  zorch-worker: runs events the broker dispatches (see worker.h).  */
#include "worker.h"

static const char *s_usage =
    "Usage: zorch-worker [--config FILE] [--worker-broker EP] [--worker-capacity N]\n"
    "                    [--worker-name NAME] [--worker-plugin-dir DIR] ...\n"
    "Runs events from the broker through the handlers routed in worker/routes.\n";

static void *
s_start (zo_actor_t *actor)
{
    return zo_worker_new (actor);
}

static void
s_stop (void *state)
{
    zo_worker_t *worker = state;
    zo_worker_destroy (&worker);
}

int
main (int argc, char **argv)
{
    return zo_actor_main ("worker", s_usage, argc, argv, s_start, s_stop);
}
