/*  zo_alerts: alert rules and their states (see alerts.h).
*/
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "sample.h"

struct _zo_alerts_t {
    zo_alert_t rules [ZO_ALERTS_MAX];
    size_t n_rules;
    zo_alert_event_t recent [ZO_ALERTS_RECENT];   //  a ring
    size_t recent_head;
    size_t recent_size;
};

zo_alerts_t *
zo_alerts_new (void)
{
    return (zo_alerts_t *) calloc (1, sizeof (zo_alerts_t));
}

void
zo_alerts_destroy (zo_alerts_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

//  A duration in ms: plain (ms), or with ms, s, m, h. -1 if it does not parse.
static double
s_duration_ms (const char *text)
{
    char *end;
    double value = strtod (text, &end);
    if (end == text || !isfinite (value) || value < 0)
        return -1;
    while (*end == ' ')
        end++;
    if (*end == 0 || streq (end, "ms"))
        return value;
    if (streq (end, "s"))
        return value * 1000;
    if (streq (end, "m"))
        return value * 60000;
    if (streq (end, "h"))
        return value * 3600000;
    return -1;
}

int
zo_alerts_add (zo_alerts_t *self, const char *name, const char *metric,
               const char *op, const char *threshold, const char *for_text,
               char *err, size_t err_size)
{
    assert (self);
    if (!name || !*name || strlen (name) >= 64) {
        snprintf (err, err_size, "an alert needs a name (under 64 characters)");
        return -1;
    }
    if (self->n_rules == ZO_ALERTS_MAX) {
        snprintf (err, err_size, "alert %s: more than %d rules", name, ZO_ALERTS_MAX);
        return -1;
    }
    if (!metric || !zo_sample_metric_known (metric)) {
        snprintf (err, err_size, "alert %s: unknown metric '%s'", name, metric? metric: "");
        return -1;
    }
    if (!op || !(streq (op, ">") || streq (op, "<") || streq (op, ">=") || streq (op, "<="))) {
        snprintf (err, err_size, "alert %s: op must be >, <, >= or <=, not '%s'", name, op? op: "");
        return -1;
    }
    if (!threshold || !*threshold) {
        snprintf (err, err_size, "alert %s: no threshold", name);
        return -1;
    }
    char *end;
    double value = strtod (threshold, &end);
    if (end == threshold || !isfinite (value)) {
        snprintf (err, err_size, "alert %s: threshold '%s' is not a number", name, threshold);
        return -1;
    }
    while (*end == ' ')
        end++;
    size_t mlen = strlen (metric);
    bool ms_metric = mlen > 3 && streq (metric + mlen - 3, "_ms");
    if (streq (end, "%"))
        value /= 100;
    else
    if (*end && ms_metric && s_duration_ms (threshold) >= 0)
        value = s_duration_ms (threshold);
    else
    if (*end) {
        snprintf (err, err_size, "alert %s: threshold '%s' has an unknown unit", name, threshold);
        return -1;
    }
    double for_ms = for_text && *for_text? s_duration_ms (for_text): 0;
    if (for_ms < 0) {
        snprintf (err, err_size, "alert %s: for '%s' is not a duration", name, for_text);
        return -1;
    }
    zo_alert_t *rule = &self->rules [self->n_rules++];
    memset (rule, 0, sizeof (*rule));
    snprintf (rule->name, sizeof (rule->name), "%s", name);
    snprintf (rule->metric, sizeof (rule->metric), "%s", metric);
    snprintf (rule->op, sizeof (rule->op), "%s", op);
    rule->threshold = value;
    rule->for_ms = (uint64_t) for_ms;
    rule->value = NAN;
    return 0;
}

int
zo_alerts_load (zo_alerts_t *self, zconfig_t *section)
{
    assert (self);
    int added = 0;
    if (!section)
        return 0;
    for (zconfig_t *child = zconfig_child (section); child; child = zconfig_next (child)) {
        if (!streq (zconfig_name (child), "alert")) {
            zsys_warning ("monitor/alerts: unexpected section '%s' (want 'alert')",
                          zconfig_name (child));
            continue;
        }
        char err [200];
        if (zo_alerts_add (self, zconfig_get (child, "name", NULL),
                           zconfig_get (child, "metric", NULL),
                           zconfig_get (child, "op", ">"),
                           zconfig_get (child, "threshold", NULL),
                           zconfig_get (child, "for", "0"), err, sizeof (err)))
            zsys_warning ("monitor/alerts: %s; rule skipped", err);
        else
            added++;
    }
    return added;
}

static bool
s_holds (const zo_alert_t *rule, double value)
{
    if (isnan (value))
        return false;
    if (streq (rule->op, ">"))
        return value > rule->threshold;
    if (streq (rule->op, "<"))
        return value < rule->threshold;
    if (streq (rule->op, ">="))
        return value >= rule->threshold;
    return value <= rule->threshold;
}

static void
s_transition (zo_alerts_t *self, zo_alert_t *rule, bool firing, uint64_t wall_ms,
              zo_alerts_fn *fn, void *arg)
{
    zo_alert_event_t *event = &self->recent [self->recent_head];
    self->recent_head = (self->recent_head + 1) % ZO_ALERTS_RECENT;
    if (self->recent_size < ZO_ALERTS_RECENT)
        self->recent_size++;
    memset (event, 0, sizeof (*event));
    event->wall_ms = wall_ms;
    event->firing = firing;
    memcpy (event->name, rule->name, sizeof (event->name));
    memcpy (event->metric, rule->metric, sizeof (event->metric));
    memcpy (event->op, rule->op, sizeof (event->op));
    event->threshold = rule->threshold;
    event->value = rule->value;
    if (fn)
        fn (rule, event, arg);
}

void
zo_alerts_eval (zo_alerts_t *self, const zo_sample_t *sample, uint64_t now_ms,
                zo_alerts_fn *fn, void *arg)
{
    assert (self);
    assert (sample);
    for (size_t i = 0; i < self->n_rules; i++) {
        zo_alert_t *rule = &self->rules [i];
        rule->value = zo_sample_metric (sample, rule->metric, NULL);
        bool holds = s_holds (rule, rule->value);
        if (holds) {
            if (rule->state == ZO_ALERT_OK) {
                rule->state = ZO_ALERT_PENDING;
                rule->since_ms = now_ms;
            }
            if (rule->state == ZO_ALERT_PENDING && now_ms - rule->since_ms >= rule->for_ms) {
                rule->state = ZO_ALERT_FIRING;
                rule->fired_wall_ms = sample->ts_ms;
                s_transition (self, rule, true, sample->ts_ms, fn, arg);
            }
        }
        else {
            bool was_firing = rule->state == ZO_ALERT_FIRING;
            rule->state = ZO_ALERT_OK;
            if (was_firing)
                s_transition (self, rule, false, sample->ts_ms, fn, arg);
        }
    }
}

size_t
zo_alerts_size (const zo_alerts_t *self)
{
    assert (self);
    return self->n_rules;
}

const zo_alert_t *
zo_alerts_at (const zo_alerts_t *self, size_t index)
{
    assert (self);
    return index < self->n_rules? &self->rules [index]: NULL;
}

size_t
zo_alerts_firing (const zo_alerts_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n_rules; i++)
        if (self->rules [i].state == ZO_ALERT_FIRING)
            n++;
    return n;
}

size_t
zo_alerts_recent_size (const zo_alerts_t *self)
{
    assert (self);
    return self->recent_size;
}

const zo_alert_event_t *
zo_alerts_recent_at (const zo_alerts_t *self, size_t index)
{
    assert (self);
    if (index >= self->recent_size)
        return NULL;
    size_t at = (self->recent_head + ZO_ALERTS_RECENT - 1 - index) % ZO_ALERTS_RECENT;
    return &self->recent [at];
}

void
zo_alert_describe (const zo_alert_t *alert, char *buf, size_t size)
{
    assert (alert);
    if (alert->for_ms)
        snprintf (buf, size, "%s %s %g for %gs", alert->metric, alert->op, alert->threshold,
                  (double) alert->for_ms / 1000.0);
    else
        snprintf (buf, size, "%s %s %g", alert->metric, alert->op, alert->threshold);
}
