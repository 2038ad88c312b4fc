/*  zo_alerts: alert rules over the cluster's per-second samples.

    A rule is `metric op threshold for duration` (metric: a name
    zo_sample_metric knows, such as p95_ms, error_rate, queue_depth,
    actor_down; op: > < >= <=). Each second the rule's condition is
    evaluated on the new sample: a rule whose condition has held for its
    duration is FIRING; a firing rule whose condition no longer holds is
    RESOLVED (and the rule is back to ok). A missing value (NaN: no events
    ended in that second) does not hold. Each transition is reported to a
    callback (the monitor logs it and posts it to the webhook) and kept in
    a bounded list of recent transitions.
*/
#ifndef ZO_ALERTS_H_INCLUDED
#define ZO_ALERTS_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "actors.h"

#define ZO_ALERTS_MAX     64        /* rules */
#define ZO_ALERTS_RECENT  100       /* transitions remembered */

typedef enum { ZO_ALERT_OK = 0, ZO_ALERT_PENDING, ZO_ALERT_FIRING } zo_alert_state_t;

typedef struct {
    char name [64];
    char metric [32];
    char op [3];                /* ">", "<", ">=", "<=" */
    double threshold;
    uint64_t for_ms;
    zo_alert_state_t state;
    uint64_t since_ms;          /* monotonic: when the condition started to hold */
    uint64_t fired_wall_ms;     /* wall clock of the last FIRING, 0 = never */
    double value;               /* the metric's last value */
} zo_alert_t;

typedef struct {
    uint64_t wall_ms;
    bool firing;                /* false = resolved */
    char name [64];
    char metric [32];
    char op [3];
    double threshold;
    double value;
} zo_alert_event_t;

typedef struct _zo_alerts_t zo_alerts_t;

zo_alerts_t *zo_alerts_new (void);
void zo_alerts_destroy (zo_alerts_t **self_p);

/*  Adds a rule. threshold is a number, optionally followed by % (divided
    by 100: "1%" = 0.01, as error_rate is a fraction) or, for *_ms
    metrics, by a duration unit ("100ms", "2s"). for_text is a duration
    ("30s", "500ms", "1m"; plain = ms; empty = 0). 0, or -1 with a
    sentence in err.  */
int zo_alerts_add (zo_alerts_t *self, const char *name, const char *metric,
                   const char *op, const char *threshold, const char *for_text,
                   char *err, size_t err_size);
/*  Adds every `alert` child of a config section (monitor/alerts), each
    with name, metric, op, threshold, for. Rules that do not parse are
    skipped with a warning. Returns the number of rules added.  */
int zo_alerts_load (zo_alerts_t *self, zconfig_t *section);

/*  Evaluates every rule on sample; fn (may be NULL) hears each transition.  */
typedef void (zo_alerts_fn) (const zo_alert_t *alert, const zo_alert_event_t *event, void *arg);
void zo_alerts_eval (zo_alerts_t *self, const zo_sample_t *sample, uint64_t now_ms,
                     zo_alerts_fn *fn, void *arg);

size_t zo_alerts_size (const zo_alerts_t *self);
const zo_alert_t *zo_alerts_at (const zo_alerts_t *self, size_t index);
size_t zo_alerts_firing (const zo_alerts_t *self);
/*  Recent transitions, 0 = the newest.  */
size_t zo_alerts_recent_size (const zo_alerts_t *self);
const zo_alert_event_t *zo_alerts_recent_at (const zo_alerts_t *self, size_t index);

/*  "p95_ms > 100 for 30s": a rule's condition as text.  */
void zo_alert_describe (const zo_alert_t *alert, char *buf, size_t size);

#endif
