/*  zorch-monitor: gathers every actor's STATS and serves health, metrics,
    an API and a live dashboard over HTTP (see monitor.h).  */
#include <curl/curl.h>

#include "monitor.h"

static const char *s_usage =
    "Usage: zorch-monitor [--config FILE] [--stats-endpoint EP] [--monitor-http HOST:PORT]\n"
    "                     [--monitor-webhook URL] [--monitor-latency-objective 100ms] ...\n"
    "Binds PULL on stats/endpoint for every actor's STATS and serves /health,\n"
    "/ready, /metrics, /api/stats, /api/history, /api/alerts, /api/load\n"
    "(?after=TS waits for the sample after TS), /api/advice and /dashboard on\n"
    "monitor/http. Alert rules: monitor/alerts.\n";

static void *
s_start (zo_actor_t *actor)
{
    return zo_monitor_new (actor);
}

static void
s_stop (void *state)
{
    zo_monitor_t *monitor = state;
    zo_monitor_destroy (&monitor);
}

int
main (int argc, char **argv)
{
    //  Before any thread exists (ZeroMQ's): curl's global set-up is not
    //  thread-safe.
    curl_global_init (CURL_GLOBAL_DEFAULT);
    int rc = zo_actor_main ("monitor", s_usage, argc, argv, s_start, s_stop);
    curl_global_cleanup ();
    return rc;
}
