/*  Tests for broker/dedupe.c: window expiry with a fake clock, bound.  */
#include <criterion/criterion.h>

#include "dedupe.h"

Test (dedupe, remembers_within_the_window)
{
    zo_dedupe_t *d = zo_dedupe_new (1000, 100);
    cr_assert (d);
    cr_assert_not (zo_dedupe_seen (d, 42));
    cr_assert_eq (zo_dedupe_add (d, 42, 0), 0);
    cr_assert_eq (zo_dedupe_add (d, 43, 500), 0);
    cr_assert_eq (zo_dedupe_add (d, 42, 600), 0);      //  no-op
    cr_assert_eq (zo_dedupe_size (d), 2);
    zo_dedupe_expire (d, 999);
    cr_assert (zo_dedupe_seen (d, 42));
    cr_assert (zo_dedupe_seen (d, 43));
    zo_dedupe_expire (d, 1000);                       //  42 is 1000 ms old
    cr_assert_not (zo_dedupe_seen (d, 42));
    cr_assert (zo_dedupe_seen (d, 43));
    zo_dedupe_expire (d, 1500);
    cr_assert_not (zo_dedupe_seen (d, 43));
    cr_assert_eq (zo_dedupe_size (d), 0);
    zo_dedupe_destroy (&d);
    cr_assert_null (d);
}

Test (dedupe, bound_forgets_the_oldest)
{
    zo_dedupe_t *d = zo_dedupe_new (1000000, 5000);
    for (uint64_t h = 1; h <= 6000; h++)
        zo_dedupe_add (d, h * 0x9e3779b97f4a7c15ULL, h);
    cr_assert_eq (zo_dedupe_size (d), 5000);
    for (uint64_t h = 1; h <= 1000; h++)
        cr_assert_not (zo_dedupe_seen (d, h * 0x9e3779b97f4a7c15ULL), "%lu", h);
    for (uint64_t h = 1001; h <= 6000; h++)
        cr_assert (zo_dedupe_seen (d, h * 0x9e3779b97f4a7c15ULL), "%lu", h);
    zo_dedupe_destroy (&d);
}

Test (dedupe, expiry_and_growth_keep_the_set_consistent)
{
    zo_dedupe_t *d = zo_dedupe_new (100, 100000);
    //  Colliding low bits stress the probing and the backward shift.
    for (uint64_t t = 0; t < 20000; t++) {
        zo_dedupe_expire (d, t);
        zo_dedupe_add (d, ((t + 1) << 20) | 7, t);
    }
    cr_assert_eq (zo_dedupe_size (d), 100);
    for (uint64_t t = 0; t < 20000; t++)
        cr_assert_eq (zo_dedupe_seen (d, ((t + 1) << 20) | 7), t >= 19900, "%lu", t);
    zo_dedupe_destroy (&d);
}
