/*  zo_autoscaler: the zorch-autoscaler actor. Workers that follow the load.

    It reads the monitor's load score (GET <autoscaler/monitor>/api/load,
    1 = the cluster at capacity: the largest of queue, utilization, latency
    against its objective, and CPU) as a long poll (?after= the sample it
    has: the monitor answers with its next one), feeds each sample to the
    policy (policy.h) as it comes, decides then and once per
    autoscaler/interval, and has the executor (executor.h) carry out
    the size the policy wants: its own zorch-worker processes (local, the
    default: supervised, scaled down through the broker's QUIET so no event
    is cut short) or a command for an engine (autoscaler/command). A silent
    monitor holds the size. Every change, and every change of state (the
    monitor silent, a restart storm), is a note with its reason in the
    actor's STATS (the monitor's /api/stats "decisions", the dashboard,
    zorch status) and a counter.

    A ROUTER on autoscaler/endpoint answers SCALE (a fixed size, autoscaling
    paused; or auto again: zorch scale), GET_STATS and PING.
*/
#ifndef ZO_AUTOSCALER_H_INCLUDED
#define ZO_AUTOSCALER_H_INCLUDED

#include "zo_actor.h"

typedef struct _zo_autoscaler_t zo_autoscaler_t;

/*  Reads the autoscaler section, binds autoscaler/endpoint and starts the
    workers min asks for. args: the flags to pass to every worker (the
    configuration this actor was given: --config, --set, --<section>-<key>),
    NULL-terminated. NULL after logging why (a bad configuration marks
    actor->conf bad).  */
zo_autoscaler_t *zo_autoscaler_new (zo_actor_t *actor, char *const *args);
void zo_autoscaler_destroy (zo_autoscaler_t **self_p);

#endif
