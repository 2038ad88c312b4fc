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

//  The set grows a little at a time while ids keep coming and going: at
//  every step, what it says it has seen must match a plain model (a FIFO
//  of every id with its time), for ids in it, forgotten and never added.
Test (dedupe, growth_in_steps_matches_a_model)
{
    enum { MAX = 30000, WINDOW = 4000, STEPS = 60000 };
    zo_dedupe_t *d = zo_dedupe_new (WINDOW, MAX);
    static uint64_t hashes [STEPS], times [STEPS];
    uint64_t head = 0, tail = 0, seed = 12345;
    for (uint64_t t = 0; t < STEPS; t++) {
        //  Bursts of adds with pauses, so the window and the bound both bite.
        uint64_t now = t + (t / 10000) * 3000;
        zo_dedupe_expire (d, now);
        while (head < tail && times [head] + WINDOW <= now)
            head++;
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t hash = (seed >> 1) | 1;
        cr_assert_eq (zo_dedupe_add (d, hash, now), 0);
        if (tail - head == MAX)
            head++;
        hashes [tail] = hash;
        times [tail++] = now;
        cr_assert_eq (zo_dedupe_size (d), tail - head, "step %lu", t);
        if (t % 97 == 0)
            for (uint64_t k = 0; k < tail; k += 1 + tail / 500)
                cr_assert_eq (zo_dedupe_seen (d, hashes [k]), k >= head,
                              "step %lu: id %lu (head %lu)", t, k, head);
    }
    cr_assert_not (zo_dedupe_seen (d, 2));      //  never added (added ids are odd)
    zo_dedupe_destroy (&d);
}
