/*  zo_backoff: see zo_backoff.h.  */
#include "zo_backoff.h"

#include <assert.h>

#include "zo_loop.h"

void
zo_backoff_init (zo_backoff_t *self, uint64_t min_ms, uint64_t max_ms)
{
    assert (self);
    self->min_ms = min_ms ? min_ms : 1;
    self->max_ms = max_ms < self->min_ms ? self->min_ms : max_ms;
    self->next_ms = self->min_ms;
    self->rng = (zo_clock_mono_ns () ^ (uint64_t) (uintptr_t) self) | 1;
}

uint64_t
zo_backoff_next (zo_backoff_t *self)
{
    assert (self);
    uint64_t x = self->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    self->rng = x;
    uint64_t base = self->next_ms;
    self->next_ms = base > self->max_ms / 2 ? self->max_ms : base * 2;
    return base / 2 + (x * 0x2545F4914F6CDD1DULL) % (base - base / 2 + 1);
}

void
zo_backoff_reset (zo_backoff_t *self)
{
    assert (self);
    self->next_ms = self->min_ms;
}
