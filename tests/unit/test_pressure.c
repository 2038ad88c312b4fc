/*  Tests of actors/runtime/zo_pressure.c.  */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "zo_pressure.h"

Test (pressure, steps_up_at_once_and_down_one_at_a_time)
{
    zo_pressure_t p = { 0 };
    cr_assert_eq (zo_pressure_update (&p, 0.50), 0);
    cr_assert_eq (zo_pressure_update (&p, 0.80), 1, "80 %: step 1");
    cr_assert_eq (zo_pressure_update (&p, 0.78), 1, "between release and 80 %: held");
    cr_assert_eq (zo_pressure_update (&p, 0.97), 3, "straight to step 3");
    cr_assert_eq (zo_pressure_update (&p, 0.91), 3, "falling but above the release: held");
    cr_assert_eq (zo_pressure_update (&p, 0.70), 2, "under 75 %: one step down");
    cr_assert_eq (zo_pressure_update (&p, 0.70), 1);
    cr_assert_eq (zo_pressure_update (&p, 0.92), 2, "up again to the watermark reached");
    cr_assert_eq (zo_pressure_update (&p, 0.10), 1);
    cr_assert_eq (zo_pressure_update (&p, 0.10), 0);
    cr_assert_eq (zo_pressure_update (&p, 0.10), 0);
    cr_assert_float_eq (p.fraction, 0.10, 1e-9);
}

Test (pressure, heap_bytes_follow_malloc_and_free)
{
    size_t before = zo_heap_bytes ();
    char *block = malloc (8 << 20);
    cr_assert_not_null (block);
    for (size_t i = 0; i < (8 << 20); i += 4096)
        block [i] = 1;
    size_t during = zo_heap_bytes ();
    cr_assert_geq (during, before + (8 << 20));
    free (block);
    cr_assert_lt (zo_heap_bytes (), during - (4 << 20), "freed memory shows at once");
}
