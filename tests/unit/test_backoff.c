/*  Tests of actors/runtime/zo_backoff.c.  */
#include <criterion/criterion.h>

#include "zo_backoff.h"

Test (backoff, doubles_jittered_capped_and_resets)
{
    zo_backoff_t b;
    zo_backoff_init (&b, 100, 5000);
    uint64_t base = 100;
    bool varied = false;
    uint64_t first = 0;
    for (int i = 0; i < 12; i++) {
        uint64_t wait = zo_backoff_next (&b);
        cr_assert_geq (wait, base / 2, "attempt %d: %lu under half of %lu", i, wait, base);
        cr_assert_leq (wait, base, "attempt %d: %lu over %lu", i, wait, base);
        base = base * 2 > 5000 ? 5000 : base * 2;
        if (i == 0)
            first = wait;
    }
    cr_assert_eq (b.next_ms, 5000, "capped at the maximum");
    zo_backoff_reset (&b);
    for (int i = 0; i < 50; i++) {
        uint64_t wait = zo_backoff_next (&b);
        cr_assert (wait >= 50 && wait <= 100);
        varied |= wait != first;
        zo_backoff_reset (&b);
    }
    cr_assert (varied, "the jitter varies");
    zo_backoff_init (&b, 0, 0);
    cr_assert_leq (zo_backoff_next (&b), 1, "degenerate bounds are taken as 1 ms");
}
