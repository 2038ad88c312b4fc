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

int
main (int argc, char **argv)
{
    //  Before any thread exists (ZeroMQ's): curl's global set-up is not
    //  thread-safe.
    curl_global_init (CURL_GLOBAL_DEFAULT);
    zo_actor_t a;
    int rc = zo_actor_init (&a, "monitor", argc, argv, s_usage);
    if (rc) {
        rc = rc < 0 ? zo_actor_exit_code (&a) : 0;
        zo_actor_fini (&a);
        curl_global_cleanup ();
        return rc;
    }
    zo_monitor_t *monitor = zo_monitor_new (&a);
    if (monitor) {
        rc = zo_loop_run (a.loop) ? ZO_EXIT_FAIL : 0;
        zo_monitor_destroy (&monitor);
    }
    else
        rc = zo_actor_exit_code (&a);
    zo_actor_fini (&a);
    curl_global_cleanup ();
    return rc;
}
