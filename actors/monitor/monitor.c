/*  zo_monitor: the zorch-monitor actor (see monitor.h).
*/
#include <assert.h>
#include <czmq.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "actors.h"
#include "advice.h"
#include "alerts.h"
#include "history.h"
#include "http.h"
#include "monitor.h"
#include "render.h"
#include "webhook.h"
#include "zo_drain.h"
#include "zo_wire.h"

//  Messages taken from the stats socket per wake-up, so that HTTP
//  requests are not starved by a flood of reports.
#define S_DRAIN_MAX 2000

struct _zo_monitor_t {
    zo_actor_t *actor;
    zo_loop_t *loop;
    void *pull;
    zo_watch_t *pull_watch;
    char stats_ep [256];
    zo_proto_t *dec;
    zo_wire_t wire;                 //  the wire rules, on dec
    zo_actors_t *actors;
    zo_history_t *history;
    zo_alerts_t *alerts;
    zo_advice_t *advice;
    const zo_arec_t **recs;         //  max_actors, for zo_advice_tick
    uint32_t max_actors;
    zo_webhook_t *webhook;
    zo_http_t *http;
    zo_drain_t *drain;              //  SIGTERM/SIGINT: stop (nothing to drain)
    int ticker;
    uint64_t started_ms;
    uint64_t interval_ms;
    uint32_t down_after;
    uint64_t *reports;              //  reports_total
    uint64_t *bad_stats;            //  bad_stats_total (zo_actors counts it)
    double *actors_up_gauge, *actors_down_gauge, *alerts_firing_gauge, *load_gauge;
    uint64_t bad_logged_ms;         //  bad reports are logged once a second at most
    uint64_t bad_suppressed;
};

//  ---------------------------------------------------------------------
//  Stats intake

static void
s_bad_report (zo_monitor_t *self, const char *why)
{
    uint64_t now = zo_loop_now_ms (self->loop);
    if (self->bad_logged_ms && now - self->bad_logged_ms < 1000) {
        self->bad_suppressed++;
        return;
    }
    if (self->bad_suppressed)
        zo_log_warning ("monitor: bad STATS: %s (%" PRIu64 " more in the last second not logged)",
                        why, self->bad_suppressed);
    else
        zo_log_warning ("monitor: bad STATS: %s", why);
    self->bad_logged_ms = now;
    self->bad_suppressed = 0;
}

static int
s_on_stats (zo_loop_t *loop, void *socket, void *arg)
{
    zo_monitor_t *self = (zo_monitor_t *) arg;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    for (int n = 0; n < S_DRAIN_MAX; n++) {
        zo_msg_t msg;
        int rc = zo_wire_recv (&self->wire, socket, NULL, &frame, &msg);
        if (rc == 0)
            break;
        (*self->reports)++;
        if (rc < 0) {
            //  Counted by the wire in bad_stats_total.
            s_bad_report (self, self->wire.reason);
            continue;
        }
        if (zo_actors_apply (self->actors, &msg, zo_loop_now_ms (loop))) {
            char why [400];
            snprintf (why, sizeof (why), "from %.*s/%.*s: %s",
                      (int) (msg.actor.len > 32? 32: msg.actor.len), (const char *) msg.actor.ptr,
                      (int) (msg.name.len > 128? 128: msg.name.len), (const char *) msg.name.ptr,
                      zo_actors_errstr (self->actors));
            s_bad_report (self, why);
        }
        else
        if (msg.bye)
            //  Stopped on purpose (SIGTERM, a scale-down): gone from every
            //  table now, and no actor_down for it.
            zo_log_info ("monitor: %.*s %.*s left", (int) msg.actor.len, (const char *) msg.actor.ptr,
                         (int) msg.name.len, (const char *) msg.name.ptr);
        else
        if (*zo_actors_errstr (self->actors))
            s_bad_report (self, zo_actors_errstr (self->actors));
    }
    zmq_msg_close (&frame);
    return 0;
}

//  ---------------------------------------------------------------------
//  Once a second

static void
s_on_change (const zo_arec_t *actor, bool up, void *arg)
{
    if (up)
        zo_log_info ("monitor: %s %s (pid %" PRIu64 ") is reporting", actor->kind, actor->name,
                     actor->pid);
    else
        zo_log_warning ("monitor: %s %s (pid %" PRIu64 ") is down: no STATS for %.1fs",
                        actor->kind, actor->name, actor->pid,
                        (double) (zo_loop_now_ms (((zo_monitor_t *) arg)->loop) - actor->last_ms) / 1000.0);
}

static void
s_view (zo_monitor_t *self, zo_view_t *view)
{
    memset (view, 0, sizeof (*view));
    view->actors = self->actors;
    view->history = self->history;
    view->alerts = self->alerts;
    view->advice = self->advice;
    view->name = self->actor->name;
    view->http_url = zo_http_url (self->http);
    view->uptime_ms = zo_loop_now_ms (self->loop) - self->started_ms;
    view->wall_ms = zo_clock_wall_ns () / 1000000u;
    view->reports_total = *self->reports;
    view->bad_stats_total = *self->bad_stats;
    if (self->webhook) {
        view->webhook_url = zo_webhook_url (self->webhook);
        zo_webhook_counts (self->webhook, &view->webhook_sent, &view->webhook_failed,
                           &view->webhook_dropped);
    }
}

static void
s_on_alert (const zo_alert_t *alert, const zo_alert_event_t *event, void *arg)
{
    zo_monitor_t *self = (zo_monitor_t *) arg;
    char rule [160];
    zo_alert_describe (alert, rule, sizeof (rule));
    if (event->firing)
        zo_log_warning ("monitor: alert %s FIRING: %s (now %g)", alert->name, rule, event->value);
    else
        zo_log_info ("monitor: alert %s resolved: %s (now %g)", alert->name, rule, event->value);
    if (!self->webhook)
        return;
    json_t *body = json_object ();
    json_object_set_new (body, "alert", json_string (alert->name));
    json_object_set_new (body, "state", json_string (event->firing? "firing": "resolved"));
    json_object_set_new (body, "rule", json_string (rule));
    json_object_set_new (body, "metric", json_string (alert->metric));
    json_object_set_new (body, "op", json_string (alert->op));
    json_object_set_new (body, "threshold", json_real (alert->threshold));
    json_object_set_new (body, "value", isfinite (event->value)? json_real (event->value): json_null ());
    json_object_set_new (body, "ts_ms", json_integer ((json_int_t) event->wall_ms));
    json_object_set_new (body, "monitor", json_string (self->actor->name));
    json_object_set_new (body, "dashboard", json_sprintf ("%s/dashboard", zo_http_url (self->http)));
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    if (text) {
        zo_webhook_post (self->webhook, text);
        free (text);
    }
}

static int
s_on_tick (zo_loop_t *loop, int id, void *arg)
{
    zo_monitor_t *self = (zo_monitor_t *) arg;
    zo_sample_t sample;
    zo_actors_tick (self->actors, zo_loop_now_ms (loop), zo_clock_wall_ns () / 1000000u,
                    &sample, s_on_change, self);
    zo_history_push (self->history, &sample);
    zo_alerts_eval (self->alerts, &sample, zo_loop_now_ms (loop), s_on_alert, self);
    uint32_t n = zo_actors_size (self->actors);
    assert (n <= self->max_actors);
    for (uint32_t i = 0; i < n; i++)
        self->recs [i] = zo_actors_at (self->actors, i);
    zo_advice_tick (self->advice, zo_loop_now_ms (loop), &sample, self->recs, n);
    *self->actors_up_gauge = sample.actors_up;
    *self->actors_down_gauge = sample.actors_down;
    *self->alerts_firing_gauge = (double) zo_alerts_firing (self->alerts);
    *self->load_gauge = sample.load;
    if (self->http)
        zo_http_wake (self->http);
    return 0;
}

//  ---------------------------------------------------------------------
//  HTTP

static void
s_json_reply (zo_http_reply_t *reply, int status, json_t *body)
{
    reply->status = status;
    reply->content_type = "application/json";
    reply->body = body? json_dumps (body, JSON_COMPACT | JSON_REAL_PRECISION (10)): NULL;
    json_decref (body);
    if (!reply->body) {
        static const char oom [] = "{\"error\":\"out of memory\"}";
        reply->status = 500;
        reply->body = (char *) oom;
        reply->body_static = true;
    }
    reply->size = strlen (reply->body);
}

static void
s_on_request (zo_http_req_t *req, const char *path, zo_http_reply_t *reply, void *arg)
{
    zo_monitor_t *self = (zo_monitor_t *) arg;
    zo_view_t view;
    s_view (self, &view);
    if (streq (path, "/health")) {
        bool healthy;
        json_t *body = zo_render_health (&view, &healthy);
        s_json_reply (reply, healthy? 200: 503, body);
    }
    else
    if (streq (path, "/ready")) {
        //  Ready once it has heard from someone, or waited long enough to
        //  know that nobody is there.
        bool ready = *self->reports > 0
                  || view.uptime_ms >= self->down_after * self->interval_ms;
        json_t *body = json_pack ("{s:b, s:I}", "ready", ready, "reports", (json_int_t) *self->reports);
        s_json_reply (reply, ready? 200: 503, body);
    }
    else
    if (streq (path, "/metrics")) {
        size_t size = 0;
        char *text = zo_render_metrics (&view, &size);
        if (text) {
            reply->status = 200;
            reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
            reply->body = text;
            reply->size = size;
        }
        else
            s_json_reply (reply, 500, NULL);
    }
    else
    if (streq (path, "/api/stats"))
        s_json_reply (reply, 200, zo_render_stats (&view));
    else
    if (streq (path, "/api/history")) {
        const char *arg_s = zo_http_query (req, "seconds");
        long seconds = arg_s? strtol (arg_s, NULL, 10): 300;
        if (seconds <= 0 || (size_t) seconds > zo_history_capacity (self->history))
            seconds = (long) zo_history_capacity (self->history);
        s_json_reply (reply, 200, zo_render_history (&view, (size_t) seconds));
    }
    else
    if (streq (path, "/api/alerts"))
        s_json_reply (reply, 200, zo_render_alerts (&view));
    else
    if (streq (path, "/api/load")) {
        //  ?after=TS, the ts_ms of the sample the client has: answered at
        //  the next sample (a long poll) while TS is still the newest.
        const char *after = zo_http_query (req, "after");
        if (after && *after && strtoull (after, NULL, 10) == zo_actors_last (self->actors)->ts_ms)
            reply->park = true;
        else
            s_json_reply (reply, 200, zo_render_load (&view));
    }
    else
    if (streq (path, "/api/advice"))
        s_json_reply (reply, 200, json_pack ("{s:o}", "advice", zo_render_advice (&view)));
    else {
        const char *want = streq (path, "/") || streq (path, "/dashboard/")? "/dashboard": path;
        for (const zo_web_asset_t *asset = zo_web_assets; asset->path; asset++)
            if (streq (asset->path, want)) {
                reply->status = 200;
                reply->content_type = asset->content_type;
                reply->body = (char *) asset->data;
                reply->size = asset->size;
                reply->body_static = true;
                reply->cache_control = streq (want, "/dashboard")? "no-store": "max-age=3600";
                return;
            }
        s_json_reply (reply, 404, json_pack ("{s:s, s:s}", "error", "not found", "see",
            "/health /ready /metrics /api/stats /api/history /api/alerts /api/load /api/advice /dashboard"));
    }
}

//  ---------------------------------------------------------------------

//  The monitor holds nothing another process waits for: the first
//  SIGTERM or SIGINT stops it.
static int
s_on_drain (void *arg, int signum)
{
    zo_log_info ("monitor: %s, stopping", signum == SIGINT? "SIGINT": "SIGTERM");
    return -1;
}

zo_monitor_t *
zo_monitor_new (zo_actor_t *actor)
{
    assert (actor);
    zo_monitor_t *self = (zo_monitor_t *) calloc (1, sizeof (zo_monitor_t));
    if (!self)
        return NULL;
    self->actor = actor;
    self->loop = actor->loop;
    zo_conf_t *conf = actor->conf;

    zo_actors_conf_t ac;
    zo_actors_conf_defaults (&ac);
    //  Every number is range-checked: out of range, the monitor does not
    //  start (exit 2) and the log names the key and its range.
    ac.interval_ms = zo_conf_ms_range (conf, "stats/interval", 1000, 0, 3600000);
    if (ac.interval_ms == 0)
        ac.interval_ms = 1000;
    ac.down_after = (uint32_t) zo_conf_int_range (conf, "monitor/down_after", 3, 1, 1000);
    ac.forget_ms = zo_conf_ms_range (conf, "monitor/forget", 600000, 0, 30 * 86400000ull);
    ac.max_actors = (uint32_t) zo_conf_int_range (conf, "monitor/max_actors", 256, 1, 100000);
    ac.latency_objective_ms = (double) zo_conf_ms_range (conf, "monitor/latency_objective", 100,
                                                         1, 3600000);
    ac.queue_capacity = zo_conf_double (conf, "monitor/queue_capacity", 0);
    snprintf (ac.latency_hist, sizeof (ac.latency_hist), "%s",
              zo_conf_str (conf, "monitor/latency_hist", "latency_ns"));
    ac.top_actors = (uint32_t) zo_conf_int_range (conf, "monitor/history_actors", 8, 0,
                                                  ZO_SAMPLE_TOP);
    zo_advice_conf_t adv;
    zo_advice_conf_defaults (&adv);
    adv.window_ms = zo_conf_ms_range (conf, "monitor/advice_window", 300000, 1000, 86400000);
    adv.latency_objective_ms = ac.latency_objective_ms;
    //  The autoscaler's own threshold, from the same configuration.
    adv.load_up = zo_conf_double (conf, "autoscaler/up", adv.load_up);
    self->interval_ms = ac.interval_ms;
    self->max_actors = ac.max_actors;
    self->down_after = ac.down_after;
    uint64_t history_ms = zo_conf_ms_range (conf, "monitor/history", 3600000, 0, 7 * 86400000ull);
    size_t history = (size_t) (history_ms / ac.interval_ms);
    if (history < 60)
        history = 60;
    if (history > 7 * 86400)
        history = 7 * 86400;

    zo_stats_t *stats = actor->stats;
    self->reports = zo_stats_counter (stats, "reports_total");
    self->bad_stats = zo_stats_counter (stats, "bad_stats_total");
    self->actors_up_gauge = zo_stats_gauge (stats, "actors_up");
    self->actors_down_gauge = zo_stats_gauge (stats, "actors_down");
    self->alerts_firing_gauge = zo_stats_gauge (stats, "alerts_firing");
    self->load_gauge = zo_stats_gauge (stats, "load_score");

    if (!(self->dec = zo_proto_new ())
    ||  !(self->actors = zo_actors_new (&ac, stats))
    ||  !(self->history = zo_history_new (history))
    ||  !(self->alerts = zo_alerts_new ())
    ||  !(self->advice = zo_advice_new (&adv))
    ||  !(self->recs = (const zo_arec_t **) calloc (ac.max_actors, sizeof (zo_arec_t *)))) {
        zsys_error ("monitor: out of memory at start-up");
        goto err;
    }
    zo_proto_set_max_frame (self->dec, ZO_MAX_FRAME);
    zo_wire_init (&self->wire, self->dec, ZO_MAX_FRAME);
    zo_wire_count (&self->wire, stats, NULL, "bad_stats_total", NULL);
    int rules = zo_alerts_load (self->alerts, zconfig_locate (zo_conf_tree (conf), "monitor/alerts"));

    const char *url = zo_conf_str (conf, "monitor/webhook", "");
    uint32_t webhook_max = (uint32_t) zo_conf_int_range (conf, "monitor/webhook_max", 16, 1, 1024);
    uint64_t webhook_timeout = zo_conf_ms_range (conf, "monitor/webhook_timeout", 5000, 1, 600000);
    unsigned max_conns = (unsigned) zo_conf_int_range (conf, "monitor/max_conns", 256, 1, 10000);
    if (zo_conf_bad (conf)) {
        zsys_error ("monitor: bad configuration: %s", zo_conf_errstr (conf));
        goto err;
    }
    const char *service = zo_conf_str (conf, "monitor/webhook_service", "");
    const char *pool = zo_conf_endpoint (conf, "monitor/pool", "tcp://127.0.0.1:7014");
    const char *path = zo_conf_str (conf, "monitor/webhook_path", "/");
    if (service && *service) {
        self->webhook = zo_webhook_new_pool (self->loop, actor->zmq_ctx, pool, service, path,
                                             webhook_timeout, webhook_max, stats);
        if (!self->webhook)
            goto err;
    }
    else
    if (url && *url) {
        self->webhook = zo_webhook_new (self->loop, url, webhook_timeout, webhook_max, stats);
        if (!self->webhook)
            goto err;
    }

    const char *endpoint = zo_conf_str (conf, "stats/endpoint", "tcp://127.0.0.1:7012");
    self->pull = zo_actor_socket (actor, ZMQ_PULL, endpoint, true,
                                  &(zo_sockopts_t) { .hwm = 10000, .max_msg = ZO_MAX_FRAME });
    if (!self->pull)
        goto err;
    size_t ep_size = sizeof (self->stats_ep);
    zmq_getsockopt (self->pull, ZMQ_LAST_ENDPOINT, self->stats_ep, &ep_size);

    self->http = zo_http_new (self->loop, zo_conf_str (conf, "monitor/http", "127.0.0.1:7080"),
                              max_conns, s_on_request, self);
    if (!self->http)
        goto err;
    self->started_ms = zo_loop_now_ms (self->loop);
    if (!(self->pull_watch = zo_loop_add_socket (self->loop, self->pull, s_on_stats, self))
    ||  (self->ticker = zo_loop_ticker (self->loop, ac.interval_ms, s_on_tick, self)) < 0
    ||  !(self->drain = zo_drain_new (self->loop, 0, s_on_drain, NULL, self))) {
        zsys_error ("monitor: cannot set up its loop");
        goto err;
    }
    zo_log_info ("monitor: ready http=%s stats=%s alerts=%d history=%zus webhook=%s",
                 zo_http_url (self->http), self->stats_ep, rules, history,
                 self->webhook? zo_webhook_url (self->webhook): "none");
    return self;
err:
    zo_monitor_destroy (&self);
    return NULL;
}

void
zo_monitor_destroy (zo_monitor_t **self_p)
{
    assert (self_p);
    zo_monitor_t *self = *self_p;
    if (!self)
        return;
    if (self->ticker > 0)
        zo_loop_cancel (self->loop, self->ticker);
    zo_drain_destroy (&self->drain);
    zo_http_destroy (&self->http);
    if (self->pull) {
        zo_loop_unwatch (self->loop, &self->pull_watch);
        zmq_close (self->pull);
    }
    zo_webhook_destroy (&self->webhook);
    zo_advice_destroy (&self->advice);
    free (self->recs);
    zo_alerts_destroy (&self->alerts);
    zo_history_destroy (&self->history);
    zo_actors_destroy (&self->actors);
    zo_proto_destroy (&self->dec);
    free (self);
    *self_p = NULL;
}
