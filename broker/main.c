/*  zorch-broker: queues producers' events and hands them to workers.
    See broker.h and proto/PROTOCOL.md.  */
#include "broker.h"

static const char *usage =
    "Usage: zorch-broker [--config FILE] [--broker-front EP] [--broker-back EP]\n"
    "                    [--broker-data-dir DIR] [--broker-queue-max N] ...\n"
    "Accepts events from producers on broker/front, dispatches them to workers\n"
    "on broker/back, keeps dead letters in broker/data_dir. SIGTERM drains.\n";

int
main (int argc, char *argv [])
{
    zo_actor_t actor;
    int rc = zo_actor_init (&actor, "broker", argc, argv, usage);
    if (rc) {
        rc = rc < 0 ? zo_actor_exit_code (&actor) : 0;
        zo_actor_fini (&actor);
        return rc;
    }
    zo_broker_t *broker = zo_broker_new (&actor);
    if (!broker) {
        rc = zo_actor_exit_code (&actor);
        zo_actor_fini (&actor);
        return rc;
    }
    rc = zo_loop_run (actor.loop);
    zo_broker_destroy (&broker);
    zo_actor_fini (&actor);
    return rc ? 1 : 0;
}
