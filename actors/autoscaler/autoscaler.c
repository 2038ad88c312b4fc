/*  zo_autoscaler: see autoscaler.h.  */
#include "autoscaler.h"

#include <assert.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"
#include "policy.h"
#include "zo_curl.h"
#include "zo_drain.h"
#include "zo_proc.h"
#include "zo_server.h"
#include "zo_wire.h"

#define S_BODY_MAX (64 << 10)       //  /api/load is a few hundred bytes

enum { C_UP, C_DOWN, C_FORECAST, C_SILENT, C_LOADS, C_LOAD_ERRORS, C_OPERATOR, C_COUNT };
static const char *s_counter_names [C_COUNT] = {
    "decisions_up_total", "decisions_down_total", "forecast_up_total", "monitor_silent_total",
    "loads_total", "load_errors_total", "operator_total"
};
enum { G_WORKERS, G_TARGET, G_MIN, G_MAX, G_LOAD, G_FORECAST, G_MANUAL, G_SILENT, G_COUNT };
static const char *s_gauge_names [G_COUNT] = {
    "workers", "target", "min", "max", "load", "forecast", "manual", "monitor_silent"
};

struct _zo_autoscaler_t {
    zo_actor_t *actor;
    zo_loop_t *loop;
    zo_policy_t policy;
    zo_executor_t *executor;
    zo_server_t *server;
    zo_drain_t *drain;
    uint64_t *c [C_COUNT];
    double *g [G_COUNT];
    uint64_t interval_ms;
    int ticker;
    //  The monitor's /api/load
    char *load_url;
    zo_curl_t *curl;
    CURL *easy;                     //  NULL while a GET is out
    json_int_t load_ts;             //  the monitor's time of the last sample taken
    char body [S_BODY_MAX];
    size_t body_len;
    //  What the size is now
    uint32_t target;
    bool manual;                    //  an operator's size: the policy is not asked
    zo_verdict_t last;              //  the last verdict noted (hold and silent only once)
    char *worker_bin;
};

//  ---------------------------------------------------------------------
//  Deciding

static void
s_gauges (zo_autoscaler_t *self)
{
    uint64_t now = zo_loop_now_ms (self->loop);
    zo_decision_t d = zo_policy_decide (&self->policy, now, zo_executor_size (self->executor));
    *self->g [G_WORKERS] = zo_executor_size (self->executor);
    *self->g [G_TARGET] = self->target;
    *self->g [G_LOAD] = d.score;
    *self->g [G_FORECAST] = d.predicted;
    *self->g [G_MANUAL] = self->manual;
    *self->g [G_SILENT] = d.verdict == ZO_VERDICT_SILENT;
}

static void
s_resize (zo_autoscaler_t *self, uint32_t target)
{
    self->target = target;
    zo_executor_resize (self->executor, target);
    zo_policy_changed (&self->policy, zo_loop_now_ms (self->loop));
    s_gauges (self);
}

static void
s_decide (zo_autoscaler_t *self)
{
    if (self->manual)
        return;
    uint64_t now = zo_loop_now_ms (self->loop);
    uint32_t current = self->target;
    zo_decision_t d = zo_policy_decide (&self->policy, now, current);
    if (d.verdict == ZO_VERDICT_UP || d.verdict == ZO_VERDICT_DOWN) {
        (*self->c [d.verdict == ZO_VERDICT_UP? C_UP: C_DOWN])++;
        if (d.forecast)
            (*self->c [C_FORECAST])++;
        zo_log_info ("autoscaler: %s", d.reason);
        zo_stats_note (self->actor->stats, "%s", d.reason);
        s_resize (self, d.target);
    }
    else
    if (d.verdict == ZO_VERDICT_SILENT && self->last != ZO_VERDICT_SILENT) {
        (*self->c [C_SILENT])++;
        zo_log_warning ("autoscaler: %s", d.reason);
        zo_stats_note (self->actor->stats, "%s", d.reason);
    }
    else
    if (d.verdict == ZO_VERDICT_HOLD && self->last == ZO_VERDICT_SILENT)
        zo_stats_note (self->actor->stats, "the monitor answers again: %s", d.reason);
    self->last = d.verdict;
}

//  ---------------------------------------------------------------------
//  The load score

static size_t
s_on_write (char *ptr, size_t size, size_t nmemb, void *arg)
{
    zo_autoscaler_t *self = arg;
    size_t n = size * nmemb;
    if (self->body_len + n > sizeof self->body - 1)
        return 0;                   //  too large: curl fails the transfer
    memcpy (self->body + self->body_len, ptr, n);
    self->body_len += n;
    return n;
}

static void
s_ask_load (zo_autoscaler_t *self)
{
    if (self->easy)
        return;                     //  the last one is still out
    self->body_len = 0;
    CURL *easy = curl_easy_init ();
    if (!easy)
        return;
    //  With the sample it has, the monitor holds the request until its
    //  next one: at most one stats/interval, which stale (the time after
    //  which the monitor counts as silent) is longer than.
    char *url = zsys_sprintf ("%s?after=%" JSON_INTEGER_FORMAT, self->load_url, self->load_ts);
    curl_easy_setopt (easy, CURLOPT_URL, url? url: self->load_url);
    zstr_free (&url);
    curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, (long) self->policy.conf.stale_ms);
    curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, s_on_write);
    curl_easy_setopt (easy, CURLOPT_WRITEDATA, self);
    curl_easy_setopt (easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (zo_curl_add (self->curl, easy)) {
        curl_easy_cleanup (easy);
        return;
    }
    self->easy = easy;
}

static void
s_on_load (zo_curl_t *curl, CURL *easy, CURLcode result, void *arg)
{
    zo_autoscaler_t *self = arg;
    long status = 0;
    curl_easy_getinfo (easy, CURLINFO_RESPONSE_CODE, &status);
    self->easy = NULL;
    curl_easy_cleanup (easy);
    json_t *load = NULL;
    bool fresh = false;
    if (result == CURLE_OK && status == 200) {
        self->body [self->body_len] = 0;
        load = json_loads (self->body, 0, NULL);
    }
    json_t *score = json_object_get (load, "score");
    if (!json_is_number (score)) {
        (*self->c [C_LOAD_ERRORS])++;
        zo_log_debug ("autoscaler: no load score from %s: %s", self->load_url,
                      result != CURLE_OK? curl_easy_strerror (result): "no score in the answer");
    }
    else {
        //  A sample the monitor has not replaced since the last answer (it
        //  samples every stats/interval, which may be longer than ours) is
        //  not a second sample: it would confirm a forecast by itself.
        json_int_t ts = json_integer_value (json_object_get (load, "ts_ms"));
        (*self->c [C_LOADS])++;
        if (ts && ts != self->load_ts) {
            self->load_ts = ts;
            zo_policy_sample (&self->policy, zo_loop_now_ms (self->loop), json_number_value (score));
            //  Decided as the sample comes, and the next one asked for at
            //  once: the monitor answers it when it has taken that one.
            s_decide (self);
            s_gauges (self);
            fresh = true;
        }
    }
    json_decref (load);
    //  An error or an old sample waits for the tick: a monitor that does
    //  not hold the request (one without ?after) is not asked in a spin.
    if (fresh)
        s_ask_load (self);
}

static int
s_on_tick (zo_loop_t *loop, int id, void *arg)
{
    zo_autoscaler_t *self = arg;
    s_ask_load (self);
    s_decide (self);
    zo_executor_tick (self->executor);
    s_gauges (self);
    return 0;
}

//  ---------------------------------------------------------------------
//  Requests: SCALE

static int
s_on_message (void *arg, const void *ident, size_t ident_len, const zo_msg_t *msg)
{
    zo_autoscaler_t *self = arg;
    if (msg->cmd != ZO_CMD_SCALE)
        return -1;
    const zo_policy_conf_t *c = &self->policy.conf;
    (*self->c [C_OPERATOR])++;
    if (msg->autoscale) {
        self->manual = false;
        zo_log_info ("autoscaler: autoscaling again (an operator asked)");
        zo_stats_note (self->actor->stats, "operator: autoscale again, from %u workers",
                       self->target);
        //  The window starts from here: the policy decides on fresh samples.
        zo_policy_changed (&self->policy, zo_loop_now_ms (self->loop));
    }
    else {
        if (msg->size > c->max) {
            char reason [96];
            snprintf (reason, sizeof reason, "size %u is above autoscaler/max %u", msg->size, c->max);
            zo_server_error (self->server, ident, ident_len, msg->seq, ZO_ERR_BAD_VALUE, reason);
            return 0;
        }
        self->manual = true;
        zo_log_info ("autoscaler: %u workers, autoscaling paused (an operator asked)", msg->size);
        zo_stats_note (self->actor->stats, "operator: %u -> %u workers, autoscaling paused",
                       self->target, msg->size);
        s_resize (self, msg->size);
    }
    s_gauges (self);
    zo_server_send_stats (self->server, ident, ident_len, msg->seq);
    return 0;
}

static void
s_on_stats (void *arg)
{
    s_gauges ((zo_autoscaler_t *) arg);
}

//  ---------------------------------------------------------------------
//  Stopping: every worker is stopped (they finish what they hold and say
//  BYE), then the loop.

static int
s_on_idle_check (zo_loop_t *loop, int id, void *arg)
{
    zo_autoscaler_t *self = arg;
    if (zo_executor_idle (self->executor))
        zo_loop_stop (loop);
    return 0;
}

static int
s_on_drain (void *arg, int signum)
{
    zo_autoscaler_t *self = arg;
    zo_log_info ("autoscaler: %s, stopping its workers", signum == 2 ? "SIGINT" : "SIGTERM");
    if (self->ticker)
        zo_loop_cancel (self->loop, self->ticker);
    self->ticker = zo_loop_ticker (self->loop, 50, s_on_idle_check, self);
    zo_executor_stop (self->executor);
    return zo_executor_idle (self->executor)? -1: 0;
}

static int
s_on_force (void *arg, zo_drain_why_t why)
{
    zo_log_warning ("autoscaler: workers still stopping; killing them");
    return -1;                      //  zo_executor_destroy kills what is left
}

//  ---------------------------------------------------------------------

static void
s_read_policy (zo_conf_t *conf, zo_policy_conf_t *p)
{
    zo_policy_conf_default (p);
    p->min = (uint32_t) zo_conf_int_range (conf, "autoscaler/min", p->min, 0, 1000);
    p->max = (uint32_t) zo_conf_int_range (conf, "autoscaler/max", p->max, 1, 1000);
    p->up = zo_conf_double (conf, "autoscaler/up", p->up);
    p->down = zo_conf_double (conf, "autoscaler/down", p->down);
    p->tolerance = zo_conf_double (conf, "autoscaler/tolerance", p->tolerance);
    p->window_ms = zo_conf_ms_range (conf, "autoscaler/window", p->window_ms, 0, 600000);
    p->cooldown_ms = zo_conf_ms_range (conf, "autoscaler/cooldown", p->cooldown_ms, 0, 86400000);
    p->step_max = (uint32_t) zo_conf_int_range (conf, "autoscaler/step_max", p->step_max, 1, 1000);
    p->predict = zo_conf_bool (conf, "autoscaler/predict", p->predict);
    p->horizon_ms = zo_conf_ms_range (conf, "autoscaler/horizon", p->horizon_ms, 0, 600000);
    p->alpha = zo_conf_double (conf, "autoscaler/alpha", p->alpha);
    p->beta = zo_conf_double (conf, "autoscaler/beta", p->beta);
    p->stale_ms = zo_conf_ms_range (conf, "autoscaler/stale", p->stale_ms, 1, 3600000);
    if (p->min > p->max)
        zo_conf_refuse (conf, "autoscaler/min (%u) is above autoscaler/max (%u)", p->min, p->max);
    if (!(p->up > 0 && p->up <= 10) || !(p->down >= 0 && p->down < p->up))
        zo_conf_refuse (conf, "autoscaler: 0 <= down < up <= 10 (down %g, up %g)", p->down, p->up);
    if (!(p->tolerance >= 0 && p->tolerance < 1))
        zo_conf_refuse (conf, "autoscaler/tolerance must be in [0, 1), not %g", p->tolerance);
    if (!(p->alpha > 0 && p->alpha <= 1) || !(p->beta > 0 && p->beta <= 1))
        zo_conf_refuse (conf, "autoscaler/alpha and beta must be in (0, 1]");
}

zo_autoscaler_t *
zo_autoscaler_new (zo_actor_t *actor, char *const *args)
{
    assert (actor);
    zo_autoscaler_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->actor = actor;
    self->loop = actor->loop;
    zo_conf_t *conf = actor->conf;
    for (int i = 0; i < C_COUNT; i++)
        self->c [i] = zo_stats_counter (actor->stats, s_counter_names [i]);
    for (int i = 0; i < G_COUNT; i++)
        self->g [i] = zo_stats_gauge (actor->stats, s_gauge_names [i]);

    zo_policy_conf_t policy;
    s_read_policy (conf, &policy);
    self->interval_ms = zo_conf_ms_range (conf, "autoscaler/interval", 1000, 100, 60000);
    if (policy.window_ms / self->interval_ms >= ZO_POLICY_SAMPLES)
        zo_conf_refuse (conf, "autoscaler/window holds more than %d intervals", ZO_POLICY_SAMPLES - 1);
    int64_t fixed = zo_conf_int_range (conf, "autoscaler/size", -1, -1, 1000);
    if (fixed > (int64_t) policy.max)
        zo_conf_refuse (conf, "autoscaler/size %" PRId64 " is above autoscaler/max %u", fixed,
                        policy.max);
    const char *endpoint = zo_conf_endpoint (conf, "autoscaler/endpoint", "tcp://127.0.0.1:7015");
    const char *monitor = zo_conf_str (conf, "autoscaler/monitor", "");
    if (!*monitor)
        monitor = zo_conf_str (conf, "monitor/http", "127.0.0.1:7080");
    self->load_url = zsys_sprintf ("%s%s/api/load", strstr (monitor, "://")? "": "http://", monitor);
    const char *command = zo_conf_str (conf, "autoscaler/command", "");
    const char *broker = zo_conf_endpoint (conf, "autoscaler/broker", "");
    if (!broker || !*broker)
        broker = zo_conf_endpoint (conf, "broker/front", "tcp://127.0.0.1:7010");
    zo_local_conf_t local = {
        .args = args,
        .broker = broker,
        .name_prefix = zo_conf_str (conf, "autoscaler/names", "worker"),
        .restart_delay_ms = zo_conf_ms_range (conf, "autoscaler/restart_delay", 500, 1, 3600000),
        .restart_max = (uint32_t) zo_conf_int_range (conf, "autoscaler/restart_max", 5, 1, 1000000),
        .restart_window_ms = zo_conf_ms_range (conf, "autoscaler/restart_window", 60000, 1, 86400000),
        .drain_timeout_ms = zo_conf_ms_range (conf, "autoscaler/drain_timeout", 600000, 1, 86400000),
        .stop_grace_ms = zo_conf_ms_range (conf, "autoscaler/stop_timeout", 15000, 0, 3600000),
    };
    const char *logs = zo_conf_str (conf, "autoscaler/logs", "");
    local.log_dir = *logs? logs: NULL;
    if (*command) {
        const char *pc = strchr (command, '%');
        if (!pc || pc [1] != 'd' || strchr (pc + 1, '%'))
            zo_conf_refuse (conf, "autoscaler/command must hold one %%d (the size), and no other %%");
    }
    else {
        const char *bin = zo_conf_str (conf, "autoscaler/worker", "");
        self->worker_bin = *bin? strdup (bin): zo_proc_find_binary ("zorch-worker", "actors/worker");
        if (!self->worker_bin)
            zo_conf_refuse (conf, "autoscaler: cannot find zorch-worker (autoscaler/worker names it)");
        local.worker = self->worker_bin;
    }
    if (zo_conf_bad (conf)) {
        zo_log_error ("autoscaler: bad configuration: %s", zo_conf_errstr (conf));
        goto err;
    }
    zo_policy_init (&self->policy, &policy);
    *self->g [G_MIN] = policy.min;
    *self->g [G_MAX] = policy.max;
    self->executor = *command? zo_executor_command (actor, command): zo_executor_local (actor, &local);
    self->curl = zo_curl_new (self->loop, s_on_load, self);
    if (!self->executor || !self->curl) {
        zo_log_error ("autoscaler: cannot set up (out of memory, or the broker endpoint %s)", broker);
        goto err;
    }
    if (!(self->server = zo_server_new (actor, endpoint, zo_wire_conf_max_frame (conf), "autoscaler",
                                        s_on_message, s_on_stats, self)))
        goto err;
    if (!(self->drain = zo_drain_new (self->loop, local.stop_grace_ms + 1000, s_on_drain, s_on_force,
                                      self))
    ||  (self->ticker = zo_loop_ticker (self->loop, self->interval_ms, s_on_tick, self)) < 0) {
        zo_log_error ("autoscaler: cannot set up its loop");
        goto err;
    }
    if (fixed >= 0) {
        self->manual = true;
        zo_stats_note (actor->stats, "fixed size %" PRId64 " (autoscaler/size): autoscaling off",
                       fixed);
        s_resize (self, (uint32_t) fixed);
    }
    else {
        zo_stats_note (actor->stats, "starting with min %u workers (%s executor)", policy.min,
                       zo_executor_kind (self->executor));
        s_resize (self, policy.min);
    }
    self->last = ZO_VERDICT_HOLD;
    s_ask_load (self);
    zo_log_info ("autoscaler: ready on %s, %u..%u workers (%s), load from %s", endpoint,
                 policy.min, policy.max, *command? command: "local", self->load_url);
    return self;
err:
    zo_autoscaler_destroy (&self);
    return NULL;
}

void
zo_autoscaler_destroy (zo_autoscaler_t **self_p)
{
    assert (self_p);
    zo_autoscaler_t *self = *self_p;
    if (!self)
        return;
    if (self->ticker > 0)
        zo_loop_cancel (self->loop, self->ticker);
    zo_drain_destroy (&self->drain);
    zo_server_destroy (&self->server);
    if (self->easy) {
        zo_curl_remove (self->curl, self->easy);
        curl_easy_cleanup (self->easy);
    }
    zo_curl_destroy (&self->curl);
    zo_executor_destroy (&self->executor);
    zstr_free (&self->load_url);
    free (self->worker_bin);
    free (self);
    *self_p = NULL;
}
