/*  zo_pressure: memory pressure in steps, the same way in every actor.

    An actor measures how full it is (a fraction of its budget: its heap
    against a limit, say) and zo_pressure_update turns that into a step:

        0  normal
        1  at or above 80 %: stop work that is only nice to have
        2  at or above 90 %: shed some of what is held
        3  at or above 95 %: shed hard

    A step is taken at once when its watermark is reached; it is undone
    one step per update once the fraction is back under 75 %, so that
    shedding does not flap around a watermark. What each step means is
    the actor's (its header says).

    zo_heap_bytes is the process's heap in use (malloc's count over all
    arenas, mallinfo2; AddressSanitizer's own count in a sanitizer build):
    freed memory shows at once, unlike RSS.
*/
#ifndef ZO_PRESSURE_H_INCLUDED
#define ZO_PRESSURE_H_INCLUDED

#include <stddef.h>

#define ZO_PRESSURE_STEPS 3

typedef struct {
    int step;                   /* 0..ZO_PRESSURE_STEPS */
    double fraction;            /* the last reading */
} zo_pressure_t;

/*  Takes a reading (0 = empty, 1 = at the budget) and returns the step
    now in force.  */
int zo_pressure_update (zo_pressure_t *self, double fraction);

/*  Bytes of heap in use by this process.  */
size_t zo_heap_bytes (void);

#endif
