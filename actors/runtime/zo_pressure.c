/*  zo_pressure: see zo_pressure.h.  */
#include "zo_pressure.h"

#include <assert.h>
#include <malloc.h>
#if defined (__SANITIZE_ADDRESS__)
//  From the sanitizer's runtime (sanitizer/allocator_interface.h, which
//  gcc does not install).
size_t __sanitizer_get_current_allocated_bytes (void);
#endif

static const double s_watermarks [ZO_PRESSURE_STEPS] = { 0.80, 0.90, 0.95 };
static const double s_release = 0.75;

int
zo_pressure_update (zo_pressure_t *self, double fraction)
{
    assert (self);
    self->fraction = fraction;
    int reached = 0;
    while (reached < ZO_PRESSURE_STEPS && fraction >= s_watermarks [reached])
        reached++;
    if (reached > self->step)
        self->step = reached;
    else
    if (fraction < s_release && self->step > 0)
        self->step--;
    return self->step;
}

size_t
zo_heap_bytes (void)
{
#if defined (__SANITIZE_ADDRESS__)
    //  AddressSanitizer's allocator replaces malloc's: ask it.
    return __sanitizer_get_current_allocated_bytes ();
#else
    struct mallinfo2 mi = mallinfo2 ();
    return mi.uordblks + mi.hblkhd;
#endif
}
