/*  zo_timers: pending timers ordered by deadline, for zo_loop.

    Timers live in a slot array (stable records) ordered by a binary
    min-heap of slot numbers keyed by (deadline, sequence); the sequence
    makes ties run in creation order. Timer ids are a 31-bit counter, so
    an id comes back only after two billion timers; a small open-addressing
    map finds the slot of an id, which makes cancel O(log n) with no lazy
    garbage left in the heap. Nothing allocates once the arrays have grown
    to the most timers pending at once.
*/
#ifndef ZO_TIMERS_H_INCLUDED
#define ZO_TIMERS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#define ZO_TIMERS_MAX (1 << 24)      /* timers pending at once */

typedef struct _zo_timers_t zo_timers_t;

/*  What a timer carries for its owner, returned as given.  */
typedef void (zo_timers_fn) (void);

/*  NULL when out of memory.  */
zo_timers_t *zo_timers_new (void);
void zo_timers_destroy (zo_timers_t **self_p);

/*  A timer due at deadline (ns), repeating every interval (ns; 0 = once).
    Returns its id (> 0), or -1 when out of memory or ZO_TIMERS_MAX are
    pending; nothing changes then.  */
int zo_timers_add (zo_timers_t *self, uint64_t deadline, uint64_t interval,
                   zo_timers_fn *fn, void *arg);
/*  Removes a pending timer; unknown ids are ignored.  */
void zo_timers_cancel (zo_timers_t *self, int id);

/*  Timers pending.  */
uint32_t zo_timers_size (const zo_timers_t *self);
/*  The first deadline; only when size > 0.  */
uint64_t zo_timers_first (const zo_timers_t *self);
/*  A sequence number: timers added from now on compare greater.  */
uint64_t zo_timers_mark (const zo_timers_t *self);

/*  Takes the first timer if it is due by now and was added before mark:
    a one-shot timer is removed, a repeating one moves to its next beat
    (skipping beats missed during a stall rather than firing in a burst).
    Returns true with its id, fn and arg, false if none is due.  */
bool zo_timers_pop (zo_timers_t *self, uint64_t now, uint64_t mark,
                    int *id, zo_timers_fn **fn, void **arg);

#endif
