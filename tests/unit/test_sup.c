/*  Tests of actors/runtime/zo_sup.c with real child processes: a crash is
    restarted with a doubling delay, an exit 0 is not, a storm gives up, a
    stop on purpose is not restarted and a child deaf to SIGTERM is killed
    after the grace; another owner's child is left alone.  */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zo_loop.h"
#include "zo_proc.h"
#include "zo_sup.h"

typedef struct {
    int started, exited, storms;
    uint64_t started_ms [16];
} news_t;

static void
s_news (zo_sup_t *sup, int id, zo_sup_event_t event, int status, void *arg)
{
    news_t *news = arg;
    if (event == ZO_SUP_STARTED && news->started < 16)
        news->started_ms [news->started++] = zo_clock_mono_ns () / 1000000;
    if (event == ZO_SUP_EXITED)
        news->exited++;
    if (event == ZO_SUP_STORM)
        news->storms++;
}

static int
s_stop (zo_loop_t *loop, int id, void *arg)
{
    return -1;
}

typedef struct {
    news_t *news;
    int exits;
    int storms;
} until_t;

//  Stops the loop once the news reach what is awaited.
static int
s_check (zo_loop_t *loop, int id, void *arg)
{
    until_t *until = arg;
    if (until->news->exited >= until->exits && until->news->storms >= until->storms)
        return -1;
    return 0;
}

static void
s_run_until (zo_loop_t *loop, until_t *until, uint64_t limit_ms)
{
    int ticker = zo_loop_ticker (loop, 5, s_check, until);
    int timer = zo_loop_timer (loop, limit_ms, s_stop, NULL);
    zo_loop_run (loop);
    zo_loop_cancel (loop, ticker);
    zo_loop_cancel (loop, timer);
}

Test (sup, crash_restarts_with_backoff_then_storm)
{
    zo_signals_block ();
    zo_loop_t *loop = zo_loop_new ();
    news_t news = { 0 };
    zo_sup_policy_t policy = { .restart_delay_ms = 50, .stable_ms = 5000,
                               .storm_max = 3, .storm_window_ms = 60000 };
    zo_sup_t *sup = zo_sup_new (loop, &policy, s_news, &news);
    char *argv [] = { "/bin/sh", "-c", "exit 7", NULL };
    int id = zo_sup_start (sup, "crasher", argv, NULL);
    cr_assert_geq (id, 0);
    until_t until = { &news, 4, 1 };
    s_run_until (loop, &until, 5000);
    //  Started once, restarted 3 times, the 4th death is the storm.
    cr_assert_eq (news.started, 4);
    cr_assert_eq (news.exited, 4);
    cr_assert_eq (news.storms, 1);
    zo_sup_child_t child;
    cr_assert_eq (zo_sup_list (sup, &child, 1), 1);
    cr_assert_eq (child.state, ZO_CHILD_GAVE_UP);
    cr_assert_eq (child.restarts, 3);
    cr_assert_eq (child.pid, 0);
    //  Delays 50, 100, 200 ms (it died young each time): each gap at least
    //  its delay, and the last at least twice the first.
    uint64_t gap1 = news.started_ms [1] - news.started_ms [0];
    uint64_t gap3 = news.started_ms [3] - news.started_ms [2];
    cr_assert_geq (gap1, 50);
    cr_assert_geq (gap3, 200);
    zo_sup_destroy (&sup);
    zo_loop_destroy (&loop);
}

Test (sup, clean_exit_is_not_restarted)
{
    zo_signals_block ();
    zo_loop_t *loop = zo_loop_new ();
    news_t news = { 0 };
    zo_sup_policy_t policy = { .restart_delay_ms = 10 };
    zo_sup_t *sup = zo_sup_new (loop, &policy, s_news, &news);
    char *argv [] = { "/bin/true", NULL };
    cr_assert_geq (zo_sup_start (sup, "done", argv, NULL), 0);
    until_t until = { &news, 1, 0 };
    s_run_until (loop, &until, 3000);
    //  Nothing more comes in the next 200 ms.
    zo_loop_timer (loop, 200, s_stop, NULL);
    zo_loop_run (loop);
    cr_assert_eq (news.started, 1);
    zo_sup_child_t child;
    zo_sup_list (sup, &child, 1);
    cr_assert_eq (child.state, ZO_CHILD_STOPPED);
    cr_assert_eq (zo_sup_running (sup), 0);
    zo_sup_destroy (&sup);
    zo_loop_destroy (&loop);
}

//  A child that ignores SIGTERM is stopped on purpose: killed after the
//  grace, never restarted. Another owner's child is not reaped by us.
Test (sup, stop_on_purpose_kills_after_grace)
{
    zo_signals_block ();
    zo_loop_t *loop = zo_loop_new ();
    news_t news = { 0 };
    zo_sup_policy_t policy = { .restart_delay_ms = 10, .stop_grace_ms = 200 };
    zo_sup_t *sup = zo_sup_new (loop, &policy, s_news, &news);
    char *deaf [] = { "/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done", NULL };
    int id = zo_sup_start (sup, "deaf", deaf, NULL);
    char *other_argv [] = { "/bin/sh", "-c", "sleep 0.3", NULL };
    zo_proc_opts_t opts = { .argv = other_argv };
    pid_t other = zo_proc_spawn (&opts, NULL);
    cr_assert_gt (other, 0);
    zo_loop_timer (loop, 100, s_stop, NULL);
    zo_loop_run (loop);                     //  let the shell set its trap
    cr_assert_eq (zo_sup_running (sup), 1);
    uint64_t start = zo_clock_mono_ns () / 1000000;
    cr_assert_eq (zo_sup_stop (sup, id), 0);
    until_t until = { &news, 1, 0 };
    s_run_until (loop, &until, 5000);
    uint64_t took = zo_clock_mono_ns () / 1000000 - start;
    cr_assert_eq (news.exited, 1);
    cr_assert_geq (took, 200, "killed before the grace (%lu ms)", (unsigned long) took);
    zo_loop_timer (loop, 100, s_stop, NULL);
    zo_loop_run (loop);
    cr_assert_eq (news.started, 1, "a stop on purpose was restarted");
    zo_sup_child_t child;
    zo_sup_list (sup, &child, 1);
    cr_assert_eq (child.state, ZO_CHILD_STOPPED);
    //  The other child is still ours to reap.
    int status;
    cr_assert_eq (waitpid (other, &status, 0), other);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    cr_assert_eq (zo_sup_stop (sup, 99), -1);
    zo_sup_destroy (&sup);
    zo_loop_destroy (&loop);
}

Test (sup, destroy_kills_what_runs)
{
    zo_signals_block ();
    zo_loop_t *loop = zo_loop_new ();
    zo_sup_t *sup = zo_sup_new (loop, NULL, NULL, NULL);
    char *argv [] = { "/bin/sleep", "30", NULL };
    int id = zo_sup_start (sup, "sleeper", argv, NULL);
    zo_sup_child_t child;
    zo_sup_list (sup, &child, 1);
    cr_assert_eq (child.id, id);
    cr_assert_gt (child.pid, 0);
    cr_assert_str_eq (child.name, "sleeper");
    pid_t pid = child.pid;
    uint64_t start = zo_clock_mono_ns ();
    zo_sup_destroy (&sup);
    cr_assert_null (sup);
    cr_assert_lt ((zo_clock_mono_ns () - start) / 1000000, 5000);
    cr_assert_eq (kill (pid, 0), -1, "the child outlived its supervisor");
    zo_loop_destroy (&loop);
}

//  The same rules on the loop's replaceable clock, step by step: each
//  delay exact to the millisecond, a run past stable_ms resets it, and the
//  storm counts restarts inside the window only. The children die in
//  real time; their deaths are read by running the loop until the next
//  exit, and the restarts are due only when the fake clock says so.
typedef struct {
    zo_loop_t *loop;
    int started, exited, storms;
} fake_news_t;

static void
s_fake_news (zo_sup_t *sup, int id, zo_sup_event_t event, int status, void *arg)
{
    fake_news_t *news = arg;
    if (event == ZO_SUP_STARTED)
        news->started++;
    if (event == ZO_SUP_EXITED) {
        news->exited++;
        zo_loop_stop (news->loop);
    }
    if (event == ZO_SUP_STORM)
        news->storms++;
}

static uint64_t
s_fake_clock (void *arg)
{
    return *(uint64_t *) arg;
}

static zo_child_state_t
s_state (zo_sup_t *sup)
{
    zo_sup_child_t child;
    cr_assert_eq (zo_sup_list (sup, &child, 1), 1);
    return child.state;
}

//  Waits for the child's next death, then checks it is restarted after
//  exactly delay_ms of fake time.
static void
s_dies_restarted_after (zo_sup_t *sup, fake_news_t *news, uint64_t *now, uint64_t delay_ms)
{
    int exited = news->exited, started = news->started;
    zo_loop_run (news->loop);
    cr_assert_eq (news->exited, exited + 1);
    cr_assert_eq (s_state (sup), ZO_CHILD_BACKOFF);
    *now += (delay_ms - 1) * 1000000;
    zo_loop_run_timers (news->loop);
    cr_assert_eq (s_state (sup), ZO_CHILD_BACKOFF, "not before %" PRIu64 " ms", delay_ms);
    cr_assert_eq (news->started, started);
    *now += 1000000;
    cr_assert_eq (zo_loop_run_timers (news->loop), 1);
    cr_assert_eq (news->started, started + 1, "restarted after %" PRIu64 " ms", delay_ms);
}

Test (sup, backoff_and_storm_on_the_fake_clock, .timeout = 20)
{
    zo_signals_block ();
    uint64_t now = 1000000000000ull;
    zo_loop_t *loop = zo_loop_new ();
    zo_loop_set_clock (loop, s_fake_clock, &now);
    fake_news_t news = { .loop = loop };
    zo_sup_policy_t policy = { .restart_delay_ms = 50, .max_delay_ms = 150, .stable_ms = 5000,
                               .storm_max = 3, .storm_window_ms = 1000 };
    zo_sup_t *sup = zo_sup_new (loop, &policy, s_fake_news, &news);
    char *argv [] = { "/bin/sh", "-c", "exit 3", NULL };
    cr_assert_geq (zo_sup_start (sup, "crasher", argv, NULL), 0);
    cr_assert_eq (news.started, 1);
    s_dies_restarted_after (sup, &news, &now, 50);
    s_dies_restarted_after (sup, &news, &now, 100);
    s_dies_restarted_after (sup, &news, &now, 150);     //  capped at max_delay
    //  This run lasts 5 s (fake): the backoff starts over, and the three
    //  restarts so far are out of the window, so this is no storm.
    now += 5000 * 1000000ull;
    s_dies_restarted_after (sup, &news, &now, 50);
    s_dies_restarted_after (sup, &news, &now, 100);
    s_dies_restarted_after (sup, &news, &now, 150);
    cr_assert_eq (news.storms, 0);
    //  A 4th death with 3 restarts in the last 300 ms: the storm.
    zo_loop_run (loop);
    cr_assert_eq (news.storms, 1);
    cr_assert_eq (s_state (sup), ZO_CHILD_GAVE_UP);
    now += 60000 * 1000000ull;
    cr_assert_eq (zo_loop_run_timers (loop), 0, "no restart pending");
    zo_sup_child_t child;
    zo_sup_list (sup, &child, 1);
    cr_assert_eq (child.restarts, 6);
    cr_assert_eq (child.pid, 0);
    zo_sup_destroy (&sup);
    zo_loop_destroy (&loop);
}
