/*  policy: see policy.h.  */
#include "policy.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define S_CONFIRM 2                 //  forecasts in a row above the threshold

void
zo_policy_conf_default (zo_policy_conf_t *conf)
{
    assert (conf);
    *conf = (zo_policy_conf_t) {
        .min = 2, .max = 10, .up = 0.8, .down = 0.3, .tolerance = 0.05,
        .window_ms = 3000, .cooldown_ms = 300000, .step_max = 4,
        .predict = true, .horizon_ms = 5000, .alpha = 0.5, .beta = 0.3,
        .stale_ms = 5000,
    };
}

void
zo_policy_init (zo_policy_t *self, const zo_policy_conf_t *conf)
{
    assert (self && conf);
    assert (conf->min <= conf->max && conf->down < conf->up && conf->step_max >= 1);
    memset (self, 0, sizeof *self);
    self->conf = *conf;
}

double
zo_policy_forecast (const zo_policy_t *self, uint64_t ahead_ms)
{
    if (!self->holt || self->holt_ms == 0)
        return NAN;
    double f = self->level + self->trend * (double) ahead_ms / 1000.0;
    return f > 0? f: 0;
}

void
zo_policy_sample (zo_policy_t *self, uint64_t now_ms, double score)
{
    assert (self);
    if (!(score >= 0))
        return;                     //  NaN, negative: nothing said
    //  Holt's linear trend, for samples at any spacing.
    if (!self->holt) {
        self->level = score;
        self->trend = 0;
        self->holt = true;
    }
    else
    if (now_ms > self->holt_ms) {
        double dt = (double) (now_ms - self->holt_ms) / 1000.0;
        double previous = self->level;
        double prior = self->level + self->trend * dt;
        self->level = self->conf.alpha * score + (1 - self->conf.alpha) * prior;
        self->trend = self->conf.beta * (self->level - previous) / dt
                    + (1 - self->conf.beta) * self->trend;
    }
    self->holt_ms = now_ms;
    self->last_sample_ms = now_ms;

    uint32_t at = (self->head + self->count) % ZO_POLICY_SAMPLES;
    if (self->count == ZO_POLICY_SAMPLES)
        self->head = (self->head + 1) % ZO_POLICY_SAMPLES;
    else
        self->count++;
    self->ts [at] = now_ms;
    self->score [at] = score;
    self->forecast [at] = zo_policy_forecast (self, self->conf.horizon_ms);
}

void
zo_policy_changed (zo_policy_t *self, uint64_t now_ms)
{
    assert (self);
    self->last_change_ms = now_ms;
    self->head = self->count = 0;
}

//  Lowest and highest score over the window ending at now_ms. False
//  when the samples since the last change do not cover the whole window.
static bool
s_window (const zo_policy_t *self, uint64_t now_ms, double *lo, double *hi)
{
    if (!self->count)
        return false;
    uint64_t from = now_ms > self->conf.window_ms? now_ms - self->conf.window_ms: 0;
    if (self->ts [self->head] > from)
        return false;               //  not a whole window yet
    *lo = INFINITY;
    *hi = -INFINITY;
    for (uint32_t i = 0; i < self->count; i++) {
        uint32_t at = (self->head + i) % ZO_POLICY_SAMPLES;
        if (self->ts [at] < from)
            continue;
        if (self->score [at] < *lo)
            *lo = self->score [at];
        if (self->score [at] > *hi)
            *hi = self->score [at];
    }
    if (*lo == INFINITY) {
        //  Only samples before the window: the newest of them stands.
        uint32_t last = (self->head + self->count - 1) % ZO_POLICY_SAMPLES;
        *lo = *hi = self->score [last];
    }
    return true;
}

static uint32_t
s_clamp (const zo_policy_conf_t *c, int64_t n)
{
    return n < (int64_t) c->min? c->min: n > (int64_t) c->max? c->max: (uint32_t) n;
}

zo_decision_t
zo_policy_decide (const zo_policy_t *self, uint64_t now_ms, uint32_t current)
{
    assert (self);
    const zo_policy_conf_t *c = &self->conf;
    zo_decision_t d = { .verdict = ZO_VERDICT_HOLD, .target = current, .score = NAN,
                        .predicted = zo_policy_forecast (self, c->horizon_ms) };
    if (self->count)
        d.score = self->score [(self->head + self->count - 1) % ZO_POLICY_SAMPLES];
    else
    if (self->last_sample_ms)
        d.score = self->level;

    if (current < c->min || current > c->max) {
        d.target = s_clamp (c, current);
        d.verdict = d.target > current? ZO_VERDICT_UP: ZO_VERDICT_DOWN;
        snprintf (d.reason, sizeof d.reason, "%s %s %u: %u -> %u workers",
                  d.target > current? "below": "above", d.target > current? "min": "max",
                  d.target > current? c->min: c->max, current, d.target);
        return d;
    }
    if (!self->last_sample_ms || now_ms - self->last_sample_ms > c->stale_ms) {
        d.verdict = ZO_VERDICT_SILENT;
        if (self->last_sample_ms)
            snprintf (d.reason, sizeof d.reason, "monitor silent for %.0f s: holding %u workers",
                      (double) (now_ms - self->last_sample_ms) / 1000.0, current);
        else
            snprintf (d.reason, sizeof d.reason, "no load score from the monitor yet: holding %u "
                      "workers", current);
        return d;
    }
    double lo, hi;
    double window_s = (double) c->window_ms / 1000.0;
    if (!s_window (self, now_ms, &lo, &hi)) {
        snprintf (d.reason, sizeof d.reason, "load %.2f: waiting for %.0f s of samples since the "
                  "last change", d.score, window_s);
        return d;
    }
    double up = c->up * (1 + c->tolerance);
    double down = c->down * (1 - c->tolerance);
    int64_t n = current;
    if (lo > up && current < c->max) {
        int64_t want = (int64_t) ceil ((double) n * lo / c->up);
        if (want <= n)
            want = n + 1;
        if (want > n + c->step_max)
            want = n + c->step_max;
        d.target = s_clamp (c, want);
        d.verdict = ZO_VERDICT_UP;
        snprintf (d.reason, sizeof d.reason, "load %.2f above %.2f for %.0f s (lowest %.2f): "
                  "%u -> %u workers", d.score, c->up, window_s, lo, current, d.target);
        return d;
    }
    //  The forecast, confirmed: the last S_CONFIRM samples since the last
    //  change each forecast a score above the threshold, and it is rising
    //  still. One noisy sample alone does not make it.
    bool ahead = c->predict && self->trend > 0 && self->count >= S_CONFIRM && current < c->max;
    double f = INFINITY;
    for (uint32_t i = 0; ahead && i < S_CONFIRM; i++) {
        double fi = self->forecast [(self->head + self->count - 1 - i) % ZO_POLICY_SAMPLES];
        ahead = fi > up;
        if (fi < f)
            f = fi;
    }
    if (ahead) {
        int64_t want = (int64_t) ceil ((double) (n? n: 1) * f / c->up);
        if (want <= n)
            want = n + 1;
        if (want > n + c->step_max)
            want = n + c->step_max;
        d.target = s_clamp (c, want);
        d.verdict = ZO_VERDICT_UP;
        d.forecast = true;
        snprintf (d.reason, sizeof d.reason, "forecast %.2f in %.0f s above %.2f (load %.2f, "
                  "rising %.2f/s): %u -> %u workers", f, (double) c->horizon_ms / 1000.0, c->up,
                  d.score, self->trend, current, d.target);
        return d;
    }
    if (hi < down && current > c->min) {
        uint64_t since = self->last_change_ms? now_ms - self->last_change_ms: UINT64_MAX;
        if (since < c->cooldown_ms) {
            snprintf (d.reason, sizeof d.reason, "load %.2f below %.2f, but cooling down: %.0f s "
                      "of %.0f s left", d.score, c->down,
                      (double) (c->cooldown_ms - since) / 1000.0, (double) c->cooldown_ms / 1000.0);
            return d;
        }
        double middle = (c->up + c->down) / 2;
        int64_t want = (int64_t) ceil ((double) n * hi / middle);
        if (want >= n)
            want = n - 1;
        if (want < n - c->step_max)
            want = n - c->step_max;
        d.target = s_clamp (c, want);
        d.verdict = ZO_VERDICT_DOWN;
        snprintf (d.reason, sizeof d.reason, "load %.2f below %.2f for %.0f s (highest %.2f): "
                  "%u -> %u workers", d.score, c->down, window_s, hi, current, d.target);
        return d;
    }
    if (lo > up)
        snprintf (d.reason, sizeof d.reason, "load %.2f above %.2f, already at max %u", d.score,
                  c->up, c->max);
    else
    if (hi < down)
        snprintf (d.reason, sizeof d.reason, "load %.2f below %.2f, already at min %u", d.score,
                  c->down, c->min);
    else
        snprintf (d.reason, sizeof d.reason, "load %.2f within %.2f..%.2f over %.0f s", d.score,
                  c->down, c->up, window_s);
    return d;
}

const char *
zo_verdict_name (zo_verdict_t verdict)
{
    static const char *names [] = { "hold", "up", "down", "silent" };
    return verdict <= ZO_VERDICT_SILENT? names [verdict]: "?";
}
