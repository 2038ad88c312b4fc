/*  zorch-broker: queues producers' events and hands them to workers.
    See broker.h and proto/PROTOCOL.md.  */
#include "broker.h"

static const char *s_usage =
    "Usage: zorch-broker [--config FILE] [--broker-front EP] [--broker-back EP]\n"
    "                    [--broker-data-dir DIR] [--broker-queue-max N] ...\n"
    "Accepts events from producers on broker/front, dispatches them to workers\n"
    "on broker/back, keeps dead letters in broker/data_dir. SIGTERM drains.\n";

static void *
s_start (zo_actor_t *actor)
{
    return zo_broker_new (actor);
}

static void
s_stop (void *state)
{
    zo_broker_t *broker = state;
    zo_broker_destroy (&broker);
}

int
main (int argc, char **argv)
{
    return zo_actor_main ("broker", s_usage, argc, argv, s_start, s_stop);
}
