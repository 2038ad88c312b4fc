/*  Tests of actors/runtime/zo_drain.c: the first SIGTERM/SIGINT drains,
    a second one forces, the grace forces (on the loop's replaceable
    clock, no sleeping), an actor without a force callback stops at the
    first signal, and a destroyed drain leaves no timer behind.  */
#include <criterion/criterion.h>
#include <signal.h>
#include <unistd.h>

#include "zo_drain.h"
#include "zo_loop.h"

#define MS 1000000ull

typedef struct {
    int drains, forces;
    int signum;                 /* what drain was given */
    zo_drain_why_t why;         /* what force was given */
    int drain_rc;
} calls_t;

static int
s_drain (void *arg, int signum)
{
    calls_t *calls = arg;
    calls->drains++;
    calls->signum = signum;
    return calls->drain_rc;
}

static int
s_force (void *arg, zo_drain_why_t why)
{
    calls_t *calls = arg;
    calls->forces++;
    calls->why = why;
    return 0;
}

static uint64_t
s_fake_clock (void *arg)
{
    return *(uint64_t *) arg;
}

static int
s_kill (zo_loop_t *loop, int id, void *arg)
{
    kill (getpid (), (int) (intptr_t) arg);
    return 0;
}

static int
s_stop (zo_loop_t *loop, int id, void *arg)
{
    (*(int *) arg)++;
    return -1;
}

Test (drain, first_signal_drains_second_forces)
{
    zo_signals_block ();
    zo_loop_t *loop = zo_loop_new ();
    calls_t calls = { 0 };
    zo_drain_t *drain = zo_drain_new (loop, 60000, s_drain, s_force, &calls);
    cr_assert_not_null (drain);
    cr_assert_not (zo_drain_draining (drain));
    zo_loop_timer (loop, 1, s_kill, (void *) (intptr_t) SIGTERM);
    zo_loop_timer (loop, 20, s_kill, (void *) (intptr_t) SIGINT);
    zo_loop_timer (loop, 40, s_kill, (void *) (intptr_t) SIGTERM);
    int stopped = 0;
    zo_loop_timer (loop, 80, s_stop, &stopped);
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (stopped, 1, "the loop ran to the end");
    cr_assert_eq (calls.drains, 1);
    cr_assert_eq (calls.signum, SIGTERM);
    cr_assert_eq (calls.forces, 1, "forced once, the third signal ignored");
    cr_assert_eq (calls.why, ZO_DRAIN_SIGNAL);
    cr_assert (zo_drain_draining (drain));
    cr_assert (zo_drain_forced (drain));
    zo_drain_destroy (&drain);
    cr_assert_null (drain);
    zo_drain_destroy (&drain);
    zo_loop_destroy (&loop);
}

Test (drain, grace_forces_on_time)
{
    uint64_t now = 1000 * MS;
    zo_loop_t *loop = zo_loop_new ();
    zo_loop_set_clock (loop, s_fake_clock, &now);
    calls_t calls = { 0 };
    zo_drain_t *drain = zo_drain_new (loop, 1000, s_drain, s_force, &calls);
    cr_assert_eq (zo_loop_run_timers (loop), 0);
    cr_assert_eq (zo_drain_start (drain, 0), 0);
    cr_assert_eq (calls.drains, 1);
    cr_assert_eq (calls.signum, 0, "started by a call, not a signal");
    now += 999 * MS;
    zo_loop_run_timers (loop);
    cr_assert_eq (calls.forces, 0, "still within the grace");
    now += 1 * MS;
    cr_assert_eq (zo_loop_run_timers (loop), 1);
    cr_assert_eq (calls.forces, 1);
    cr_assert_eq (calls.why, ZO_DRAIN_GRACE);
    cr_assert_eq (zo_drain_start (drain, SIGTERM), 0);
    cr_assert_eq (calls.drains, 1, "a drain starts once");
    zo_drain_destroy (&drain);
    zo_loop_destroy (&loop);
}

Test (drain, zero_grace_forces_at_the_next_iteration)
{
    uint64_t now = 1000 * MS;
    zo_loop_t *loop = zo_loop_new ();
    zo_loop_set_clock (loop, s_fake_clock, &now);
    calls_t calls = { 0 };
    zo_drain_t *drain = zo_drain_new (loop, 0, s_drain, s_force, &calls);
    zo_drain_start (drain, SIGINT);
    cr_assert_eq (calls.forces, 0, "not from inside the drain");
    cr_assert_eq (zo_loop_run_timers (loop), 1);
    cr_assert_eq (calls.forces, 1);
    cr_assert_eq (calls.why, ZO_DRAIN_GRACE);
    zo_drain_destroy (&drain);
    zo_loop_destroy (&loop);
}

Test (drain, destroy_leaves_no_grace_timer)
{
    uint64_t now = 1000 * MS;
    zo_loop_t *loop = zo_loop_new ();
    zo_loop_set_clock (loop, s_fake_clock, &now);
    calls_t calls = { 0 };
    zo_drain_t *drain = zo_drain_new (loop, 500, s_drain, s_force, &calls);
    zo_drain_start (drain, SIGTERM);
    zo_drain_destroy (&drain);
    now += 10000 * MS;
    cr_assert_eq (zo_loop_run_timers (loop), 0);
    cr_assert_eq (calls.forces, 0);
    zo_loop_destroy (&loop);
}

Test (drain, without_force_the_first_signal_stops)
{
    zo_signals_block ();
    zo_loop_t *loop = zo_loop_new ();
    calls_t calls = { .drain_rc = -1 };
    zo_drain_t *drain = zo_drain_new (loop, 60000, s_drain, NULL, &calls);
    zo_loop_timer (loop, 1, s_kill, (void *) (intptr_t) SIGINT);
    int stopped = 0;
    zo_loop_timer (loop, 5000, s_stop, &stopped);   //  safety net
    cr_assert_eq (zo_loop_run (loop), 0);
    cr_assert_eq (stopped, 0, "stopped by the signal, not the safety net");
    cr_assert_eq (calls.drains, 1);
    cr_assert_eq (calls.signum, SIGINT);
    cr_assert_eq (calls.forces, 0);
    zo_drain_destroy (&drain);
    zo_loop_destroy (&loop);
}
