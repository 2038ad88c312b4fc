/*  test_policy: the autoscaler's decisions, sample by sample, on a time
    the test gives (hours of it in microseconds).  */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "policy.h"

static zo_policy_t s_policy;

static void
s_init (zo_policy_conf_t *c)
{
    zo_policy_init (&s_policy, c);
}

static zo_policy_conf_t
s_defaults (void)
{
    zo_policy_conf_t c;
    zo_policy_conf_default (&c);
    return c;
}

//  Samples score every second from t (ms) for seconds; returns the time
//  of the last.
static uint64_t
s_feed (uint64_t t, int seconds, double score)
{
    for (int i = 0; i < seconds; i++, t += 1000)
        zo_policy_sample (&s_policy, t, score);
    return t - 1000;
}

Test (policy, holds_inside_the_band)
{
    zo_policy_conf_t c = s_defaults ();
    s_init (&c);
    uint64_t t = s_feed (1000, 10, 0.5);
    zo_decision_t d = zo_policy_decide (&s_policy, t, 3);
    cr_assert_eq (d.verdict, ZO_VERDICT_HOLD, "%s", d.reason);
    cr_assert_eq (d.target, 3);
    cr_assert (strstr (d.reason, "within"), "%s", d.reason);
}

Test (policy, one_noisy_second_moves_nothing)
{
    zo_policy_conf_t c = s_defaults ();
    c.predict = false;
    s_init (&c);
    uint64_t t = s_feed (1000, 10, 0.5);
    t = s_feed (t + 1000, 1, 3.0);
    zo_decision_t d = zo_policy_decide (&s_policy, t, 2);
    cr_assert_eq (d.verdict, ZO_VERDICT_HOLD, "a spike: %s", d.reason);
    t = s_feed (t + 1000, 1, 0.5);
    cr_assert_eq (zo_policy_decide (&s_policy, t, 2).verdict, ZO_VERDICT_HOLD);
    //  ... and one quiet second among busy ones does not shrink either.
    t = s_feed (t + 1000, 400, 0.1);
    t = s_feed (t + 1000, 1, 0.9);
    cr_assert_eq (zo_policy_decide (&s_policy, t, 4).verdict, ZO_VERDICT_HOLD);
}

Test (policy, scale_up_sized_by_the_excess_and_capped)
{
    zo_policy_conf_t c = s_defaults ();
    c.predict = false;
    s_init (&c);
    uint64_t t = s_feed (1000, 4, 1.2);
    zo_decision_t d = zo_policy_decide (&s_policy, t, 2);
    cr_assert_eq (d.verdict, ZO_VERDICT_UP, "%s", d.reason);
    cr_assert_eq (d.target, 3, "ceil (2 * 1.2 / 0.8) = 3, got %u", d.target);
    cr_assert (strstr (d.reason, "2 -> 3"), "%s", d.reason);
    //  Far above: capped by step_max (4), then by max.
    s_init (&c);
    t = s_feed (1000, 4, 10.0);
    d = zo_policy_decide (&s_policy, t, 2);
    cr_assert_eq (d.target, 6, "2 + step_max, got %u", d.target);
    d = zo_policy_decide (&s_policy, t, 8);
    cr_assert_eq (d.target, 10, "max, got %u", d.target);
    d = zo_policy_decide (&s_policy, t, 10);
    cr_assert_eq (d.verdict, ZO_VERDICT_HOLD);
    cr_assert (strstr (d.reason, "already at max"), "%s", d.reason);
}

Test (policy, tolerance_band)
{
    zo_policy_conf_t c = s_defaults ();
    c.predict = false;
    s_init (&c);
    uint64_t t = s_feed (1000, 5, 0.83);     //  within 5 % of 0.8
    cr_assert_eq (zo_policy_decide (&s_policy, t, 2).verdict, ZO_VERDICT_HOLD);
    t = s_feed (t + 1000, 5, 0.85);
    cr_assert_eq (zo_policy_decide (&s_policy, t, 2).verdict, ZO_VERDICT_UP);
}

Test (policy, a_change_restarts_the_window)
{
    zo_policy_conf_t c = s_defaults ();
    c.predict = false;
    s_init (&c);
    uint64_t t = s_feed (1000, 4, 1.5);
    cr_assert_eq (zo_policy_decide (&s_policy, t, 2).verdict, ZO_VERDICT_UP);
    zo_policy_changed (&s_policy, t);
    t = s_feed (t + 1000, 2, 1.5);
    zo_decision_t d = zo_policy_decide (&s_policy, t, 4);
    cr_assert_eq (d.verdict, ZO_VERDICT_HOLD, "2 s after a change: %s", d.reason);
    cr_assert (strstr (d.reason, "waiting"), "%s", d.reason);
    t = s_feed (t + 1000, 2, 1.5);
    cr_assert_eq (zo_policy_decide (&s_policy, t, 4).verdict, ZO_VERDICT_UP);
}

Test (policy, scale_down_after_the_cooldown_only)
{
    zo_policy_conf_t c = s_defaults ();
    s_init (&c);
    zo_policy_changed (&s_policy, 1000);     //  scaled up at t = 1 s
    uint64_t t = s_feed (2000, 100, 0.05);
    zo_decision_t d = zo_policy_decide (&s_policy, t, 6);
    cr_assert_eq (d.verdict, ZO_VERDICT_HOLD, "%s", d.reason);
    cr_assert (strstr (d.reason, "cooling down"), "%s", d.reason);
    t = s_feed (t + 1000, 250, 0.05);        //  past 300 s since the change
    d = zo_policy_decide (&s_policy, t, 6);
    cr_assert_eq (d.verdict, ZO_VERDICT_DOWN, "%s", d.reason);
    cr_assert_eq (d.target, 2, "step_max 4 from 6 (and min 2), got %u", d.target);
    //  Never below min.
    cr_assert_eq (zo_policy_decide (&s_policy, t, 2).verdict, ZO_VERDICT_HOLD);
    //  Sized to the middle of the band: 10 workers at 0.25 -> ceil (10 * 0.25 / 0.55) = 5,
    //  but at most step_max (4) fewer: 6.
    s_init (&c);
    t = s_feed (1000, 10, 0.25);
    d = zo_policy_decide (&s_policy, t, 10);
    cr_assert_eq (d.target, 6, "got %u (%s)", d.target, d.reason);
    d = zo_policy_decide (&s_policy, t, 7);
    cr_assert_eq (d.target, 4, "ceil (7 * 0.25 / 0.55) = 4, got %u", d.target);
}

Test (policy, a_silent_monitor_holds_the_size)
{
    zo_policy_conf_t c = s_defaults ();
    s_init (&c);
    zo_decision_t d = zo_policy_decide (&s_policy, 5000, 3);
    cr_assert_eq (d.verdict, ZO_VERDICT_SILENT);
    cr_assert (strstr (d.reason, "no load score"), "%s", d.reason);
    uint64_t t = s_feed (1000, 10, 2.0);
    cr_assert_eq (zo_policy_decide (&s_policy, t, 3).verdict, ZO_VERDICT_UP);
    d = zo_policy_decide (&s_policy, t + 6000, 3);
    cr_assert_eq (d.verdict, ZO_VERDICT_SILENT, "%s", d.reason);
    cr_assert_eq (d.target, 3);
    cr_assert (strstr (d.reason, "monitor silent for 6 s"), "%s", d.reason);
    //  A score that says nothing (NaN) is no sample.
    zo_policy_sample (&s_policy, t + 7000, NAN);
    cr_assert_eq (zo_policy_decide (&s_policy, t + 7000, 3).verdict, ZO_VERDICT_SILENT);
}

Test (policy, bounds_first)
{
    zo_policy_conf_t c = s_defaults ();
    s_init (&c);
    zo_decision_t d = zo_policy_decide (&s_policy, 1000, 0);
    cr_assert_eq (d.verdict, ZO_VERDICT_UP);
    cr_assert_eq (d.target, 2);
    cr_assert (strstr (d.reason, "below min"), "%s", d.reason);
    d = zo_policy_decide (&s_policy, 1000, 12);
    cr_assert_eq (d.verdict, ZO_VERDICT_DOWN);
    cr_assert_eq (d.target, 10);
}

Test (policy, the_forecast_starts_workers_before_the_ramp_crosses)
{
    //  A steep ramp: +0.15 a second from 0.2. Without the forecast the
    //  first scale-up comes once a whole window is above 0.84; with it,
    //  earlier, while the score is still below the threshold.
    double ramp [] = { 0.2, 0.2, 0.2, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 1.1, 1.25, 1.4, 1.55 };
    int n = (int) (sizeof ramp / sizeof ramp [0]);
    int first [2] = { -1, -1 };
    for (int predict = 0; predict < 2; predict++) {
        zo_policy_conf_t c = s_defaults ();
        c.predict = predict;
        s_init (&c);
        for (int i = 0; i < n && first [predict] < 0; i++) {
            uint64_t t = 1000 + (uint64_t) i * 1000;
            zo_policy_sample (&s_policy, t, ramp [i]);
            zo_decision_t d = zo_policy_decide (&s_policy, t, 2);
            if (d.verdict == ZO_VERDICT_UP) {
                first [predict] = i;
                cr_assert_eq (d.forecast, (bool) predict, "%s", d.reason);
                if (predict) {
                    cr_assert (ramp [i] < 0.84, "before the crossing: load %.2f", ramp [i]);
                    cr_assert (strstr (d.reason, "forecast"), "%s", d.reason);
                    cr_assert (d.target >= 3, "%u", d.target);
                }
            }
        }
    }
    cr_assert (first [1] >= 0 && first [0] >= 0, "both scale up (%d, %d)", first [1], first [0]);
    cr_assert_lt (first [1], first [0], "the forecast is earlier: %d s vs %d s", first [1], first [0]);
    cr_assert_geq (first [0] - first [1], 2, "by 2 s at least: %d vs %d", first [1], first [0]);
}

Test (policy, the_forecast_ignores_a_lone_spike_and_a_flat_load)
{
    zo_policy_conf_t c = s_defaults ();
    s_init (&c);
    uint64_t t = s_feed (1000, 10, 0.3);
    t = s_feed (t + 1000, 1, 0.9);
    zo_decision_t d = zo_policy_decide (&s_policy, t, 2);
    cr_assert_eq (d.verdict, ZO_VERDICT_HOLD, "%s", d.reason);
    t = s_feed (t + 1000, 1, 0.3);
    cr_assert_eq (zo_policy_decide (&s_policy, t, 2).verdict, ZO_VERDICT_HOLD);
    //  Flat at 0.7 for minutes: the trend is 0, nothing forecast.
    s_init (&c);
    t = s_feed (1000, 300, 0.7);
    d = zo_policy_decide (&s_policy, t, 2);
    cr_assert_eq (d.verdict, ZO_VERDICT_HOLD, "%s", d.reason);
    cr_assert_float_eq (zo_policy_forecast (&s_policy, 5000), 0.7, 1e-3);
}

Test (policy, holt_follows_a_line)
{
    zo_policy_conf_t c = s_defaults ();
    s_init (&c);
    for (int i = 0; i < 60; i++)
        zo_policy_sample (&s_policy, 1000 + (uint64_t) i * 1000, 0.01 * i);
    //  After a minute on a line of slope 0.01/s, 5 s ahead is on the line.
    cr_assert_float_eq (zo_policy_forecast (&s_policy, 5000), 0.64, 0.01);
}
