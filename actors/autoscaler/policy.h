/*  policy: how many workers the load asks for, decided from the monitor's
    load score (1 = the cluster at capacity) sample by sample. No I/O and
    no clock of its own: the caller gives every sample and every decision
    its time, so tests drive it through hours in microseconds.

    - Stabilization: a change needs a whole window (window_ms) of samples
      since the last change, and every one of them past the threshold:
      the lowest above `up` to grow, the highest below `down` to shrink.
      One noisy second never moves anything.
    - Tolerance: a score within tolerance (a ratio, 0.05) of a threshold
      counts as on it, as Kubernetes' HPA does.
    - Scale-up is sized by how far the score is above `up`: the size that
      would bring it back to `up`, ceil (n * score / up), at most step_max
      more; no cooldown.
    - Scale-down waits cooldown_ms after the last change of either kind,
      and is sized to bring the score to the middle of the band, at most
      step_max fewer, never below min.
    - Prediction (Holt's linear trend: a level and a trend per second,
      smoothed by alpha and beta): when the last two samples each forecast
      a score above `up` horizon_ms ahead and it is still rising, it grows
      before the ramp crosses the threshold, sized by the lower forecast.
    - Fail static: no sample for stale_ms (the monitor is silent) holds
      the size as it is, whatever the last samples said.
    - min and max bound every answer; a size outside them is brought back
      at once.

    Every decision carries its reason as a sentence with its figures.
*/
#ifndef ZO_POLICY_H_INCLUDED
#define ZO_POLICY_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint32_t min, max;          /* workers; 0 <= min <= max */
    double up, down;            /* thresholds of the score; 0 <= down < up */
    double tolerance;           /* a ratio around each threshold */
    uint64_t window_ms;         /* stabilization */
    uint64_t cooldown_ms;       /* after a change, before a scale-down */
    uint32_t step_max;          /* workers added or removed per decision, at most (>= 1) */
    bool predict;               /* Holt's forecast may start workers early */
    uint64_t horizon_ms;        /* how far ahead it looks */
    double alpha, beta;         /* Holt's smoothing of the level and of the trend, (0, 1] */
    uint64_t stale_ms;          /* no sample this long: the monitor is silent */
} zo_policy_conf_t;

/*  The defaults: 2..10, up 0.8, down 0.3, tolerance 0.05, window 3 s,
    cooldown 300 s, step_max 4, prediction over 5 s (alpha 0.5, beta
    0.3), stale after 5 s.  */
void zo_policy_conf_default (zo_policy_conf_t *conf);

typedef enum {
    ZO_VERDICT_HOLD,            /* nothing to change */
    ZO_VERDICT_UP,
    ZO_VERDICT_DOWN,
    ZO_VERDICT_SILENT           /* the monitor is silent: holding */
} zo_verdict_t;

typedef struct {
    zo_verdict_t verdict;
    uint32_t target;            /* the size wanted (current for HOLD and SILENT) */
    bool forecast;              /* UP because of the forecast */
    double score;               /* the latest sample, NAN when none */
    double predicted;           /* the forecast horizon_ms ahead, NAN when none */
    char reason [192];
} zo_decision_t;

#define ZO_POLICY_SAMPLES 1024

typedef struct {
    zo_policy_conf_t conf;
    uint64_t ts [ZO_POLICY_SAMPLES];    /* a ring of the samples since the last change */
    double score [ZO_POLICY_SAMPLES];
    double forecast [ZO_POLICY_SAMPLES];/* what each sample forecast horizon_ms ahead */
    uint32_t head, count;
    uint64_t last_change_ms;            /* 0: none yet */
    uint64_t last_sample_ms;            /* 0: none yet */
    double level, trend;                /* Holt's state; trend per second */
    bool holt;                          /* level and trend hold a first sample */
    uint64_t holt_ms;
} zo_policy_t;

void zo_policy_init (zo_policy_t *self, const zo_policy_conf_t *conf);

/*  A load score at now_ms (non-decreasing). A NaN or negative score is
    ignored (the monitor had nothing to say).  */
void zo_policy_sample (zo_policy_t *self, uint64_t now_ms, double score);

/*  What to do at now_ms with current workers.  */
zo_decision_t zo_policy_decide (const zo_policy_t *self, uint64_t now_ms, uint32_t current);

/*  The size changed at now_ms (a decision was carried out, or an operator
    set it): the window starts again and the cooldown runs from here.  */
void zo_policy_changed (zo_policy_t *self, uint64_t now_ms);

/*  The forecast of the score ahead_ms after the latest sample; NAN
    without two samples.  */
double zo_policy_forecast (const zo_policy_t *self, uint64_t ahead_ms);

const char *zo_verdict_name (zo_verdict_t verdict);

#endif
