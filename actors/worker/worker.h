/*  worker: the zorch-worker actor. Connects a DEALER to the broker's back
    socket, announces itself with READY, runs DISPATCHed items in its
    inflight table (up to worker/capacity at once) and reports them in one
    DONE per loop iteration, whose credit keeps the window full. Sends
    HEARTBEAT when it has been quiet for worker/heartbeat, reconnects when
    the broker has been silent for 3 of them, answers ERROR not_ready with
    READY. After the broker's QUIET (a scale-down coming) it grants no
    more credit and says so (gauge quiet, a note), and finishes what runs
    as usual. On SIGTERM/SIGINT it grants no more credit, lets what runs
    finish (at most worker/grace, then cancels the rest as failed,
    non-final, "worker stopping"), flushes DONE, sends BYE and stops the
    loop.

    Pressure (zo_pressure: worker/memory_limit, worker/cpu_pressure): the
    credit window, what the worker asks the broker for at once, is 75 %,
    50 %, 25 % of worker/capacity at steps 1, 2, 3 (gauge
    capacity_effective). Credit already granted is never taken back:
    less is granted as events finish, until what is promised fits the
    window; when the step falls the window grows back and the room is
    granted at once.

    Config: worker/broker, capacity, heartbeat, timeout, attempts, grace,
    plugin_dir, routes (routes.h), spin, memory_limit, cpu_pressure.
*/
#ifndef ZO_WORKER_H_INCLUDED
#define ZO_WORKER_H_INCLUDED

#include "zo_actor.h"

typedef struct _zo_worker_t zo_worker_t;

/*  Builds the worker from the actor's configuration, connects, sends
    READY and hooks itself into the actor's loop. NULL after logging why
    (bad routes, plugin not found, no socket).  */
zo_worker_t *zo_worker_new (zo_actor_t *actor);
/*  Closes the socket (lingering briefly so a last DONE and BYE get out)
    and frees everything; events still running are dropped.  */
void zo_worker_destroy (zo_worker_t **self_p);

#endif
