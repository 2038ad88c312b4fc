/*  zo_monitor: the zorch-monitor actor. Binds PULL on stats/endpoint,
    keeps every actor's STATS (zo_actors), a per-second history of the
    cluster (zo_history), alert rules (zo_alerts) that post to a webhook
    (zo_webhook), and serves it all over HTTP (zo_http, bodies from
    zo_render): /health /ready /metrics /api/stats /api/history
    /api/alerts /api/load /api/advice /dashboard.

    Once a tick it also weighs what an operator should change (zo_advice,
    each rule sustained over monitor/advice_window): raise
    autoscaler/max, raise worker/capacity when workers wait on I/O, look at
    rising dead letters, grow the cache's memory, add hosts. Each advice is
    a sentence with its figures, in /api/stats "advice", /api/advice, the
    dashboard and zorch status.
*/
#ifndef ZO_MONITOR_H_INCLUDED
#define ZO_MONITOR_H_INCLUDED

#include "zo_actor.h"

typedef struct _zo_monitor_t zo_monitor_t;

/*  Builds the monitor on actor's loop from actor's configuration; logs
    "ready http=... stats=..." once serving. NULL (logged) when it cannot
    bind or is out of memory.  */
zo_monitor_t *zo_monitor_new (zo_actor_t *actor);
void zo_monitor_destroy (zo_monitor_t **self_p);

/*  The embedded web files (generated from actors/monitor/web).  */
typedef struct {
    const char *path;               /* "/dashboard", "/static/uPlot.min.css" */
    const char *content_type;
    const unsigned char *data;
    size_t size;
} zo_web_asset_t;
extern const zo_web_asset_t zo_web_assets [];

#endif
