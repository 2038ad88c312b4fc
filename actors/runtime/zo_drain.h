/*  zo_drain: how an actor stops, the same in every actor. SIGTERM or
    SIGINT starts a drain: the actor stops taking work and finishes what
    it holds. A second signal, or the end of the grace period, forces the
    stop: the actor gives up what is left (spools it, cancels it). The
    actor stops its loop itself once drained or forced; zo_drain only
    decides when each step is due.

        first SIGTERM/SIGINT (or zo_drain_start) -> drain (arg, signum)
        second signal                            -> force (arg, ZO_DRAIN_SIGNAL)
        grace_ms after the first                 -> force (arg, ZO_DRAIN_GRACE)

    force runs at most once; signals after it are ignored (the actor is
    already stopping as fast as it can). The grace runs on a loop timer,
    so a test with a replaced clock drives it with zo_loop_run_timers.
*/
#ifndef ZO_DRAIN_H_INCLUDED
#define ZO_DRAIN_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "zo_loop.h"

typedef struct _zo_drain_t zo_drain_t;

typedef enum {
    ZO_DRAIN_SIGNAL = 1,        /* a second signal */
    ZO_DRAIN_GRACE              /* the grace period ran out */
} zo_drain_why_t;

/*  Starts draining: stop taking new work. signum is the signal that
    asked for it, or 0 for a call to zo_drain_start. Returns 0, or -1 to
    stop the loop now (an actor with nothing to drain).  */
typedef int (zo_drain_fn) (void *arg, int signum);
/*  Stops now, giving up what is still held. Returns 0, or -1 to stop the
    loop at once.  */
typedef int (zo_drain_force_fn) (void *arg, zo_drain_why_t why);

/*  Handles SIGTERM and SIGINT on loop for the actor arg. grace_ms is how
    long a drain may take (0: forced on the next loop iteration). force
    may be NULL for an actor whose drain stops it at once: there is no
    grace then, and a second signal stops the loop.
    Returns NULL when out of memory or when the loop cannot take the
    signals (logged by the caller).  */
zo_drain_t *zo_drain_new (zo_loop_t *loop, uint64_t grace_ms, zo_drain_fn *drain,
                          zo_drain_force_fn *force, void *arg);
/*  Removes the signal handlers and the grace timer, frees self and nulls
    *self_p; NULL is ignored.  */
void zo_drain_destroy (zo_drain_t **self_p);

/*  Starts the drain as a signal would (signum 0 when none); ignored once
    draining. Returns what drain returned, or 0 when ignored.  */
int zo_drain_start (zo_drain_t *self, int signum);
/*  Whether a drain has started, and whether it was forced.  */
bool zo_drain_draining (const zo_drain_t *self);
bool zo_drain_forced (const zo_drain_t *self);

#endif
