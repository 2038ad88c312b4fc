/*  broker: the zorch-broker actor.

    Producers SUBMIT events on the front ROUTER; the broker queues them in
    three lanes, hands them to workers on the back ROUTER as the workers'
    credit allows, tracks who holds what, retries failures with backoff,
    takes events back from workers that fall silent or leave, expires
    events past their deadline, keeps dead letters on disk, and routes
    results back to the producers that asked for them. See
    proto/PROTOCOL.md for the wire contract and the "broker" section of
    deploy/zorch.conf for its settings.

    Everything runs on the actor's loop: socket handlers drain their socket,
    a ticker checks heartbeats, deadlines and retry timers, and the
    before-sleep hook dispatches and flushes batched output.

    Pressure (zo_pressure: broker/memory_limit, broker/cpu_pressure): at
    step 1 and above the low lane is deferred: low events stay queued (and
    count against queue_max, and expire by their deadlines as ever) but
    are not dispatched, while high and normal go on; when the step is back
    to 0 they are dispatched again, in their order (gauge
    low_lane_deferred, 1 or 0; a log line and a note each way). A drain
    undoes it: finishing means all of it.
*/
#ifndef ZO_BROKER_H_INCLUDED
#define ZO_BROKER_H_INCLUDED

#include "zo_actor.h"

typedef struct _zo_broker_t zo_broker_t;

/*  Builds the broker from the actor's configuration, context, loop and
    stats (all borrowed, and must outlive it): binds broker/front and
    broker/back, opens broker/data_dir (dead letters, spool) and loads a
    spool left by the last shutdown. Logs "ready front=... back=..." when
    bound. NULL after logging why it could not start.  */
zo_broker_t *zo_broker_new (zo_actor_t *actor);
/*  Closes the sockets and frees everything. Events still held (the loop
    stopped without a drain) are written to the spool first.  */
void zo_broker_destroy (zo_broker_t **self_p);

/*  Starts the drain SIGTERM starts: stop accepting, finish what is held,
    within broker/grace; then spool the rest and stop the loop.  */
void zo_broker_drain (zo_broker_t *self);

/*  The endpoints actually bound (wildcards resolved).  */
const char *zo_broker_front_endpoint (zo_broker_t *self);
const char *zo_broker_back_endpoint (zo_broker_t *self);

#endif
