/*  Tests for broker/queue.c: lanes, bound, order, starvation guard.  */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "queue.h"
#include "zo_proto.h"

static zo_rec_t *
s_rec (const char *id, int prio)
{
    zo_span_t raw = { (const uint8_t *) id, (uint32_t) strlen (id) };
    zo_rec_t *rec = zo_rec_new (raw, raw, NULL, 0);
    cr_assert (rec);
    rec->prio = (uint8_t) prio;
    return rec;
}

static bool
s_is (zo_rec_t *rec, const char *id)
{
    zo_span_t s = zo_rec_id (rec);
    return s.len == strlen (id) && memcmp (s.ptr, id, s.len) == 0;
}

Test (queue, lanes_in_priority_order_fifo_within)
{
    zo_queue_t q;
    zo_queue_init (&q, 0);
    zo_rec_t *recs [] = { s_rec ("n1", ZO_PRIO_NORMAL), s_rec ("l1", ZO_PRIO_LOW),
                          s_rec ("h1", ZO_PRIO_HIGH), s_rec ("n2", ZO_PRIO_NORMAL),
                          s_rec ("h2", ZO_PRIO_HIGH) };
    for (int i = 0; i < 5; i++)
        cr_assert_eq (zo_queue_push (&q, recs [i], false), 0);
    cr_assert_eq (zo_queue_size (&q), 5);
    cr_assert_eq (zo_queue_lane_size (&q, ZO_PRIO_HIGH), 2);
    cr_assert_eq (zo_queue_lane_size (&q, ZO_PRIO_NORMAL), 2);
    cr_assert_eq (zo_queue_lane_size (&q, ZO_PRIO_LOW), 1);
    const char *order [] = { "h1", "h2", "n1", "n2", "l1" };
    for (int i = 0; i < 5; i++) {
        zo_rec_t *rec = zo_queue_pop (&q);
        cr_assert (rec && s_is (rec, order [i]), "pick %d", i);
        zo_rec_destroy (&rec);
    }
    cr_assert_null (zo_queue_pop (&q));
}

Test (queue, bound_applies_to_producers_only)
{
    zo_queue_t q;
    zo_queue_init (&q, 2);
    zo_rec_t *a = s_rec ("a", 0), *b = s_rec ("b", 1), *c = s_rec ("c", 2), *d = s_rec ("d", 0);
    cr_assert_eq (zo_queue_room (&q), 2);
    cr_assert_eq (zo_queue_push (&q, a, false), 0);
    cr_assert_eq (zo_queue_push (&q, b, false), 0);
    cr_assert_eq (zo_queue_room (&q), 0);
    cr_assert_eq (zo_queue_push (&q, c, false), -1);
    cr_assert_eq (zo_queue_size (&q), 2);
    cr_assert_eq (zo_queue_push (&q, c, true), 0);
    zo_queue_push_front (&q, d);
    cr_assert_eq (zo_queue_size (&q), 4);
    cr_assert_eq (zo_queue_room (&q), 0);
    //  d went to the head of the normal lane, before a.
    zo_rec_t *rec;
    cr_assert (s_is (rec = zo_queue_pop (&q), "b"));
    cr_assert (s_is (rec = zo_queue_pop (&q), "d"));
    cr_assert (s_is (rec = zo_queue_pop (&q), "a"));
    cr_assert (s_is (rec = zo_queue_pop (&q), "c"));
    zo_rec_destroy (&a); zo_rec_destroy (&b); zo_rec_destroy (&c); zo_rec_destroy (&d);
}

Test (queue, remove_from_the_middle)
{
    zo_queue_t q;
    zo_queue_init (&q, 10);
    zo_rec_t *a = s_rec ("a", 0), *b = s_rec ("b", 0), *c = s_rec ("c", 0);
    zo_queue_push (&q, a, false);
    zo_queue_push (&q, b, false);
    zo_queue_push (&q, c, false);
    zo_queue_remove (&q, b);
    cr_assert_eq (zo_queue_size (&q), 2);
    cr_assert (s_is (zo_queue_pop (&q), "a"));
    cr_assert (s_is (zo_queue_pop (&q), "c"));
    cr_assert_null (zo_queue_pop (&q));
    zo_rec_destroy (&a); zo_rec_destroy (&b); zo_rec_destroy (&c);
}

Test (queue, lower_lanes_are_not_starved)
{
    zo_queue_t q;
    zo_queue_init (&q, 0);
    zo_rec_t *all [300];
    int n = 0;
    for (int i = 0; i < 200; i++)
        zo_queue_push (&q, all [n++] = s_rec ("h", ZO_PRIO_HIGH), false);
    for (int i = 0; i < 50; i++)
        zo_queue_push (&q, all [n++] = s_rec ("n", ZO_PRIO_NORMAL), false);
    for (int i = 0; i < 50; i++)
        zo_queue_push (&q, all [n++] = s_rec ("l", ZO_PRIO_LOW), false);
    //  Among the first 3 * (ZO_QUEUE_STARVE + 1) picks, both lower lanes
    //  got some, and high got most.
    int got [3] = { 0 };
    int first_normal = -1, first_low = -1;
    for (int i = 0; i < 3 * (ZO_QUEUE_STARVE + 1); i++) {
        zo_rec_t *rec = zo_queue_pop (&q);
        cr_assert (rec);
        got [rec->prio]++;
        if (rec->prio == ZO_PRIO_NORMAL && first_normal < 0)
            first_normal = i;
        if (rec->prio == ZO_PRIO_LOW && first_low < 0)
            first_low = i;
    }
    cr_assert (first_normal >= 0 && first_normal <= ZO_QUEUE_STARVE + 1, "normal first at %d", first_normal);
    cr_assert (first_low >= 0 && first_low <= ZO_QUEUE_STARVE + 1, "low first at %d", first_low);
    cr_assert_gt (got [ZO_PRIO_HIGH], 2 * (got [ZO_PRIO_NORMAL] + got [ZO_PRIO_LOW]));
    //  And everything comes out exactly once.
    int rest = 0;
    while (zo_queue_pop (&q))
        rest++;
    cr_assert_eq (rest + 3 * (ZO_QUEUE_STARVE + 1), 300);
    for (int i = 0; i < n; i++)
        zo_rec_destroy (&all [i]);
}

Test (queue, a_deferred_low_lane_waits_and_keeps_its_order)
{
    zo_queue_t q;
    zo_queue_init (&q, 0);
    zo_rec_t *recs [] = { s_rec ("l1", ZO_PRIO_LOW), s_rec ("n1", ZO_PRIO_NORMAL),
                          s_rec ("l2", ZO_PRIO_LOW), s_rec ("h1", ZO_PRIO_HIGH) };
    for (int i = 0; i < 4; i++)
        zo_queue_push (&q, recs [i], false);
    cr_assert_not (zo_queue_low_deferred (&q));
    cr_assert_eq (zo_queue_ready (&q), 4);
    zo_queue_defer_low (&q, true);
    cr_assert (zo_queue_low_deferred (&q));
    cr_assert_eq (zo_queue_ready (&q), 2, "the low lane's 2 are not ready");
    cr_assert_eq (zo_queue_size (&q), 4, "but still queued");
    cr_assert (s_is (zo_queue_pop (&q), "h1"));
    cr_assert (s_is (zo_queue_pop (&q), "n1"));
    cr_assert_null (zo_queue_pop (&q), "only deferred events left");
    cr_assert_eq (zo_queue_ready (&q), 0);
    //  More low events wait too, and count against the bound.
    zo_rec_t *l3 = s_rec ("l3", ZO_PRIO_LOW);
    zo_queue_push (&q, l3, false);
    cr_assert_eq (zo_queue_size (&q), 3);
    cr_assert_null (zo_queue_pop (&q));
    zo_queue_defer_low (&q, false);
    cr_assert_eq (zo_queue_ready (&q), 3);
    cr_assert (s_is (zo_queue_pop (&q), "l1"));
    cr_assert (s_is (zo_queue_pop (&q), "l2"));
    cr_assert (s_is (zo_queue_pop (&q), "l3"));
    cr_assert_null (zo_queue_pop (&q));
    for (int i = 0; i < 4; i++)
        zo_rec_destroy (&recs [i]);
    zo_rec_destroy (&l3);
}

Test (queue, a_deferred_low_lane_is_not_starving)
{
    //  While deferred, low is not passed over: once it runs again it does
    //  not jump ahead of high on a skip count it gathered meanwhile.
    zo_queue_t q;
    zo_queue_init (&q, 0);
    zo_rec_t *all [80];
    int n = 0;
    zo_queue_push (&q, all [n++] = s_rec ("l", ZO_PRIO_LOW), false);
    zo_queue_defer_low (&q, true);
    for (int i = 0; i < 60; i++)
        zo_queue_push (&q, all [n++] = s_rec ("h", ZO_PRIO_HIGH), false);
    for (int i = 0; i < 2 * ZO_QUEUE_STARVE; i++)
        cr_assert_eq (zo_queue_pop (&q)->prio, ZO_PRIO_HIGH);
    zo_queue_defer_low (&q, false);
    for (int i = 0; i < ZO_QUEUE_STARVE; i++)
        cr_assert_eq (zo_queue_pop (&q)->prio, ZO_PRIO_HIGH, "pick %d after undeferring", i);
    cr_assert_eq (zo_queue_pop (&q)->prio, ZO_PRIO_LOW, "then the guard serves low");
    while (zo_queue_pop (&q))
        ;
    for (int i = 0; i < n; i++)
        zo_rec_destroy (&all [i]);
}
