/*  zo_backoff: the wait before reconnecting, the same everywhere a
    connection to an outside server comes back by itself (the cache's
    Redis and PostgreSQL levels, next the pool): it starts at min_ms,
    doubles per attempt up to max_ms, and each wait is jittered to
    between half of it and all of it, so that actors dropped together do
    not all come back in step. Success resets it.
*/
#ifndef ZO_BACKOFF_H_INCLUDED
#define ZO_BACKOFF_H_INCLUDED

#include <stdint.h>

typedef struct {
    uint64_t min_ms, max_ms;
    uint64_t next_ms;           /* the next wait, before jitter */
    uint64_t rng;               /* xorshift state */
} zo_backoff_t;

/*  max_ms below min_ms is taken as min_ms; min_ms 0 as 1.  */
void zo_backoff_init (zo_backoff_t *self, uint64_t min_ms, uint64_t max_ms);
/*  The wait before this attempt; the next one will be longer.  */
uint64_t zo_backoff_next (zo_backoff_t *self);
/*  After a success: the next wait is min_ms again.  */
void zo_backoff_reset (zo_backoff_t *self);

#endif
