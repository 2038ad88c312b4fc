/*  zo_drain: the signal-to-stop lifecycle every actor shares (see
    zo_drain.h).
*/
#include <assert.h>
#include <czmq.h>
#include <signal.h>
#include <stdlib.h>

#include "zo_drain.h"

struct _zo_drain_t {
    zo_loop_t *loop;
    uint64_t grace_ms;
    zo_drain_fn *drain;
    zo_drain_force_fn *force;
    void *arg;
    bool draining, forced;
    bool on_term, on_int;       /* which signal handlers were added */
    int grace_timer;            /* 0 when none is pending */
};

static int
s_force (zo_drain_t *self, zo_drain_why_t why)
{
    if (self->forced)
        return 0;
    self->forced = true;
    if (self->grace_timer > 0) {
        zo_loop_cancel (self->loop, self->grace_timer);
        self->grace_timer = 0;
    }
    return self->force? self->force (self->arg, why): -1;
}

static int
s_on_grace (zo_loop_t *loop, int id, void *arg)
{
    zo_drain_t *self = arg;
    self->grace_timer = 0;
    return s_force (self, ZO_DRAIN_GRACE);
}

static int
s_on_signal (zo_loop_t *loop, int signum, void *arg)
{
    zo_drain_t *self = arg;
    if (!self->draining)
        return zo_drain_start (self, signum);
    return s_force (self, ZO_DRAIN_SIGNAL);
}

zo_drain_t *
zo_drain_new (zo_loop_t *loop, uint64_t grace_ms, zo_drain_fn *drain,
              zo_drain_force_fn *force, void *arg)
{
    assert (loop);
    assert (drain);
    zo_drain_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->loop = loop;
    self->grace_ms = grace_ms;
    self->drain = drain;
    self->force = force;
    self->arg = arg;
    self->on_term = zo_loop_on_signal (loop, SIGTERM, s_on_signal, self) == 0;
    self->on_int = self->on_term && zo_loop_on_signal (loop, SIGINT, s_on_signal, self) == 0;
    if (!self->on_int) {
        zo_drain_destroy (&self);
        return NULL;
    }
    return self;
}

void
zo_drain_destroy (zo_drain_t **self_p)
{
    assert (self_p);
    zo_drain_t *self = *self_p;
    if (!self)
        return;
    if (self->grace_timer > 0)
        zo_loop_cancel (self->loop, self->grace_timer);
    if (self->on_term)
        zo_loop_off_signal (self->loop, SIGTERM, s_on_signal, self);
    if (self->on_int)
        zo_loop_off_signal (self->loop, SIGINT, s_on_signal, self);
    free (self);
    *self_p = NULL;
}

int
zo_drain_start (zo_drain_t *self, int signum)
{
    assert (self);
    if (self->draining)
        return 0;
    self->draining = true;
    //  Armed before the drain runs, so that a drain over at once (an idle
    //  worker) finds the timer there to cancel at its destroy.
    if (self->force) {
        int timer = zo_loop_timer (self->loop, self->grace_ms, s_on_grace, self);
        if (timer < 0)
            zsys_warning ("out of memory: no grace timer, only a second signal "
                          "will force the stop");
        self->grace_timer = timer > 0? timer: 0;
    }
    return self->drain (self->arg, signum);
}

bool
zo_drain_draining (const zo_drain_t *self)
{
    assert (self);
    return self->draining;
}

bool
zo_drain_forced (const zo_drain_t *self)
{
    assert (self);
    return self->forced;
}
