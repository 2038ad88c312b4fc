/*  zo_render: the monitor's HTTP bodies, from its state; no I/O here, so
    the formats are tested without a server.

    /metrics is the Prometheus text exposition format (version 0.0.4):
    every family has HELP and TYPE lines and its samples together. An
    actor's counter `x_total` of kind K is `zorch_K_x_total{actor="K",
    name="<instance>"}`, a gauge `zorch_K_x`, and a histogram `x_ns`
    becomes `zorch_K_x_seconds` with cumulative `le` buckets at fixed
    boundaries (ZO_RENDER_LE_SECONDS): a log-linear bucket is counted under
    the first boundary at or above its upper end, so each `le` count is
    exactly the number of values known to be <= le.
*/
#ifndef ZO_RENDER_H_INCLUDED
#define ZO_RENDER_H_INCLUDED

#include <jansson.h>
#include <stdint.h>

#include "actors.h"
#include "advice.h"
#include "alerts.h"
#include "history.h"

/*  What a body is made from; all borrowed.  */
typedef struct {
    const zo_actors_t *actors;
    const zo_history_t *history;
    const zo_alerts_t *alerts;
    const zo_advice_t *advice;      /* NULL = none */
    const char *name;               /* the monitor's own instance name */
    const char *http_url;           /* where it serves */
    uint64_t uptime_ms;
    uint64_t wall_ms;
    uint64_t reports_total;         /* STATS received */
    uint64_t bad_stats_total;
    const char *webhook_url;        /* NULL = none */
    uint64_t webhook_sent, webhook_failed, webhook_dropped;
} zo_view_t;

/*  /api/stats: "decisions", the autoscalers' notes newest first, at most
    this many; each actor's entry has its own "notes" when it has any.  */
#define ZO_RENDER_DECISIONS 20

/*  The upper bounds (seconds) of the exposed latency buckets, +Inf aside.  */
extern const double zo_render_le_seconds [];
extern const int zo_render_le_count;

/*  The Prometheus text; caller frees. *size gets its length. NULL when
    out of memory.  */
char *zo_render_metrics (const zo_view_t *view, size_t *size);

/*  JSON bodies (caller owns the reference). NaN values are null.  */
json_t *zo_render_stats (const zo_view_t *view);
/*  The last `seconds` samples, column by column (uPlot's layout).  */
json_t *zo_render_history (const zo_view_t *view, size_t seconds);
/*  *healthy is false when no broker is up (HTTP 503).  */
json_t *zo_render_health (const zo_view_t *view, bool *healthy);
json_t *zo_render_alerts (const zo_view_t *view);
json_t *zo_render_load (const zo_view_t *view);
/*  The advice given now: [{id, text, since_ms}], in rule order.  */
json_t *zo_render_advice (const zo_view_t *view);

/*  Converts a log-linear histogram to cumulative counts at the boundaries
    bounds[0..n-1] (ascending, in the histogram's unit); cum[n] is the
    total (+Inf). Exposed for the tests.  */
void zo_render_cumulative (const zo_hist_t *hist, const double *bounds, int n, uint64_t *cum);

#endif
