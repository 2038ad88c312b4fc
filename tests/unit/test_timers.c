/*  Tests for actors/runtime/zo_timers.c: the order timers come out in,
    cancel, repeating timers, and the mark that keeps timers added during a
    pass for the next one. (zo_loop's tests drive it through the loop.)  */
#include <criterion/criterion.h>

#include "zo_timers.h"

static void s_fn (void) {}

//  Pops every timer due by now; returns how many, their ids in order.
static int
s_pop_all (zo_timers_t *t, uint64_t now, int *ids, int max)
{
    int n = 0, id;
    zo_timers_fn *fn;
    void *arg;
    uint64_t mark = zo_timers_mark (t);
    while (n < max && zo_timers_pop (t, now, mark, &id, &fn, &arg)) {
        cr_assert_eq (fn, s_fn);
        ids [n++] = id;
    }
    return n;
}

Test (timers, deadline_then_creation_order)
{
    zo_timers_t *t = zo_timers_new ();
    int a = zo_timers_add (t, 30, 0, s_fn, NULL);
    int b = zo_timers_add (t, 10, 0, s_fn, NULL);
    int c = zo_timers_add (t, 30, 0, s_fn, NULL);
    int d = zo_timers_add (t, 20, 0, s_fn, NULL);
    cr_assert (a > 0 && b > 0 && c > 0 && d > 0);
    cr_assert_eq (zo_timers_size (t), 4);
    cr_assert_eq (zo_timers_first (t), 10);
    int ids [8];
    cr_assert_eq (s_pop_all (t, 5, ids, 8), 0);
    cr_assert_eq (s_pop_all (t, 20, ids, 8), 2);
    cr_assert_eq (ids [0], b);
    cr_assert_eq (ids [1], d);
    cr_assert_eq (s_pop_all (t, 100, ids, 8), 2);
    cr_assert_eq (ids [0], a);          //  same deadline: made first, runs first
    cr_assert_eq (ids [1], c);
    cr_assert_eq (zo_timers_size (t), 0);
    zo_timers_destroy (&t);
    cr_assert_null (t);
}

Test (timers, cancel_keeps_the_rest_in_order)
{
    zo_timers_t *t = zo_timers_new ();
    int ids [1000], out [1000];
    for (int i = 0; i < 1000; i++)
        ids [i] = zo_timers_add (t, (uint64_t) ((i * 7919) % 1000), 0, s_fn, NULL);
    for (int i = 0; i < 1000; i += 2)
        zo_timers_cancel (t, ids [i]);
    zo_timers_cancel (t, ids [0]);       //  twice: ignored
    zo_timers_cancel (t, 0);
    zo_timers_cancel (t, 123456);
    cr_assert_eq (zo_timers_size (t), 500);
    int n = s_pop_all (t, UINT64_MAX, out, 1000);
    cr_assert_eq (n, 500);
    uint64_t last = 0;
    for (int k = 0; k < n; k++) {
        int i = 0;
        while (ids [i] != out [k])
            i++;
        cr_assert_eq (i % 2, 1, "a cancelled timer ran");
        uint64_t deadline = (uint64_t) ((i * 7919) % 1000);
        cr_assert_geq (deadline, last, "out of deadline order");
        last = deadline;
    }
    zo_timers_destroy (&t);
}

Test (timers, repeating_timer_keeps_phase_and_skips_missed_beats)
{
    zo_timers_t *t = zo_timers_new ();
    int tick = zo_timers_add (t, 100, 100, s_fn, NULL);
    int ids [4];
    cr_assert_eq (s_pop_all (t, 100, ids, 4), 1);
    cr_assert_eq (ids [0], tick);
    cr_assert_eq (zo_timers_first (t), 200);     //  phase kept
    //  A stall past three beats: one run, next beat a full interval on.
    cr_assert_eq (s_pop_all (t, 570, ids, 4), 1);
    cr_assert_eq (zo_timers_first (t), 670);
    zo_timers_cancel (t, tick);
    cr_assert_eq (zo_timers_size (t), 0);
    zo_timers_destroy (&t);
}

Test (timers, added_after_the_mark_waits)
{
    zo_timers_t *t = zo_timers_new ();
    zo_timers_add (t, 10, 0, s_fn, NULL);
    uint64_t mark = zo_timers_mark (t);
    int late = zo_timers_add (t, 20, 0, s_fn, NULL);
    int id;
    zo_timers_fn *fn;
    void *arg;
    cr_assert (zo_timers_pop (t, 50, mark, &id, &fn, &arg));
    cr_assert_neq (id, late);
    cr_assert_not (zo_timers_pop (t, 50, mark, &id, &fn, &arg), "a timer added after the mark ran");
    cr_assert (zo_timers_pop (t, 50, zo_timers_mark (t), &id, &fn, &arg));
    cr_assert_eq (id, late);
    zo_timers_destroy (&t);
}
