/*  Tests of actors/runtime/zo_heartbeat.c: when a heartbeat is due, when
    a peer is dead, and the ticker's period; driven by the loop's
    replaceable clock, with no sleeping.  */
#include <criterion/criterion.h>

#include "zo_heartbeat.h"
#include "zo_loop.h"

static uint64_t
s_fake_clock (void *arg)
{
    return *(uint64_t *) arg;
}

#define MS 1000000ull

Test (heartbeat, send_after_an_interval_dead_after_three)
{
    uint64_t now = 5000 * MS;
    zo_loop_t *loop = zo_loop_new ();
    zo_loop_set_clock (loop, s_fake_clock, &now);
    zo_heartbeat_t hb;
    zo_heartbeat_start (&hb, zo_loop_now_ms (loop));
    cr_assert_eq (zo_heartbeat_due (&hb, zo_loop_now_ms (loop), 1000), ZO_HEARTBEAT_IDLE);
    now += 999 * MS;
    cr_assert_eq (zo_heartbeat_due (&hb, zo_loop_now_ms (loop), 1000), ZO_HEARTBEAT_IDLE);
    now += 1 * MS;
    cr_assert_eq (zo_heartbeat_due (&hb, zo_loop_now_ms (loop), 1000), ZO_HEARTBEAT_SEND);
    zo_heartbeat_sent (&hb, zo_loop_now_ms (loop));
    cr_assert_eq (zo_heartbeat_due (&hb, zo_loop_now_ms (loop), 1000), ZO_HEARTBEAT_IDLE);
    //  Heard from at 2.5 s: alive until 5.5 s, dead from then on, even
    //  though we kept sending.
    now += 1500 * MS;
    zo_heartbeat_heard (&hb, zo_loop_now_ms (loop));
    zo_heartbeat_sent (&hb, zo_loop_now_ms (loop));
    now += 2999 * MS;
    zo_heartbeat_sent (&hb, zo_loop_now_ms (loop));
    cr_assert_eq (zo_heartbeat_due (&hb, zo_loop_now_ms (loop), 1000), ZO_HEARTBEAT_IDLE);
    now += 1 * MS;
    cr_assert_eq (zo_heartbeat_due (&hb, zo_loop_now_ms (loop), 1000), ZO_HEARTBEAT_DEAD);
    cr_assert_eq (ZO_HEARTBEAT_LIVENESS, 3);
    zo_loop_destroy (&loop);
}

Test (heartbeat, clock_going_back_is_no_time)
{
    zo_heartbeat_t hb;
    zo_heartbeat_start (&hb, 10000);
    cr_assert_eq (zo_heartbeat_due (&hb, 9000, 1000), ZO_HEARTBEAT_IDLE);
}

Test (heartbeat, tick_is_a_quarter)
{
    cr_assert_eq (zo_heartbeat_tick_ms (1000), 250);
    cr_assert_eq (zo_heartbeat_tick_ms (3), 1);
    cr_assert_eq (zo_heartbeat_tick_ms (0), 1);
}
