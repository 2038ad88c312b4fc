/*  http_service: building the services (configuration checks, defaults,
    the curl multi and share, metrics, the probe ticker) and tearing them
    down, trimming their idle connections under pressure, with the small
    calls of http.h (zo_services_has, _health, _set_body_max) and the
    lookup by name. See http_int.h for the state.
*/
#include "http_int.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CONNS_MAX         1024

static const char *s_counter_suffix [C_COUNTERS] = {
    "_requests_total", "_responses_total", "_errors_total", "_retries_total",
    "_rejected_total", "_connections_total"
};
static const char *s_gauge_suffix [G_GAUGES] = { "_up", "_health", "_inflight", "_queued" };

http_service_t *
zo__http_lookup (const zo_services_t *self, const char *name)
{
    for (size_t i = 0; i < self->n; i++)
        if (!strcmp (self->services [i].name, name))
            return &self->services [i];
    return NULL;
}

//  -------------------------------------------------------------------------
//  Construction

//  A multi handle for the service, keeping at most keep connections idle
//  (curl's connection cache, which also holds those in use, closes its
//  oldest idle one when a transfer ends with it full).
static zo_curl_t *
s_multi_new (zo_services_t *self, http_service_t *svc, long keep)
{
    zo_curl_t *curl = zo_curl_new (self->loop, zo__http_on_done, svc);
    if (!curl)
        return NULL;
    CURLM *multi = zo_curl_multi (curl);
    curl_multi_setopt (multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) svc->conf.max_conns);
    curl_multi_setopt (multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long) svc->conf.max_conns);
    curl_multi_setopt (multi, CURLMOPT_MAXCONNECTS, keep);
    curl_multi_setopt (multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
    return curl;
}

static bool
s_name_ok (const char *name)
{
    size_t len = name? strlen (name): 0;
    if (len == 0 || len > HTTP_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(islower ((unsigned char) name [i]) || isdigit ((unsigned char) name [i])
              || name [i] == '_'))
            return false;
    return true;
}

//  http:// or https:// with a host, as curl parses it.
static bool
s_url_ok (const char *url, bool *https)
{
    if (!url || !zo__http_clean (url))
        return false;
    CURLU *u = curl_url ();
    if (!u)
        return false;
    char *scheme = NULL, *host = NULL;
    bool ok = curl_url_set (u, CURLUPART_URL, url, 0) == CURLUE_OK
           && curl_url_get (u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
           && curl_url_get (u, CURLUPART_HOST, &host, 0) == CURLUE_OK
           && (!strcmp (scheme, "http") || !strcmp (scheme, "https")) && *host;
    if (ok)
        *https = !strcmp (scheme, "https");
    curl_free (scheme);
    curl_free (host);
    curl_url_cleanup (u);
    return ok;
}

static int
s_service_init (zo_services_t *self, http_service_t *svc, const zo_service_conf_t *conf,
                char *error, size_t error_size)
{
    svc->owner = self;
    svc->conf = *conf;
    zo_service_conf_t *c = &svc->conf;
    if (!s_name_ok (conf->name)) {
        snprintf (error, error_size, "service name \"%.40s\" is not [a-z0-9_]{1,%d}",
                  conf->name? conf->name: "", HTTP_NAME_MAX);
        return -1;
    }
    strcpy (svc->name, conf->name);
    if (zo__http_lookup (self, svc->name)) {
        snprintf (error, error_size, "service %s is configured twice", svc->name);
        return -1;
    }
    if (!s_url_ok (conf->url, &svc->https)) {
        snprintf (error, error_size, "service %s: url is not an http:// or https:// URL",
                  svc->name);
        return -1;
    }
    if (c->max_conns > S_CONNS_MAX) {
        snprintf (error, error_size, "service %s: max_conns is above %d", svc->name, S_CONNS_MAX);
        return -1;
    }
    if (conf->health_path && (conf->health_path [0] != '/'
                              || !zo__http_clean (conf->health_path))) {
        snprintf (error, error_size, "service %s: health_path must start with '/'", svc->name);
        return -1;
    }
    if (conf->auth_header && (!*conf->auth_header || strchr (conf->auth_header, ':')
                              || !zo__http_clean (conf->auth_header)
                              || !conf->auth_value || !zo__http_clean (conf->auth_value))) {
        //  Says nothing of the value.
        snprintf (error, error_size, "service %s: bad auth_header or auth_value", svc->name);
        return -1;
    }
    if (c->rate < 0 || !isfinite (c->rate)) {
        snprintf (error, error_size, "service %s: rate must be 0 or more", svc->name);
        return -1;
    }
    c->name = svc->name;
    if (!c->max_conns)          c->max_conns = 8;
    if (!c->timeout_ms)         c->timeout_ms = 10000;
    if (!c->connect_timeout_ms) c->connect_timeout_ms = 2000;
    if (c->no_retries)          c->retries = 0;
    else if (!c->retries)       c->retries = 2;
    if (!c->backoff_min_ms)     c->backoff_min_ms = 100;
    if (!c->backoff_max_ms)     c->backoff_max_ms = 2000;
    if (!c->burst)              c->burst = c->rate > 1? (uint32_t) ceil (c->rate): 1;
    if (!c->breaker_failures)   c->breaker_failures = 5;
    if (!c->breaker_open_ms)    c->breaker_open_ms = 5000;
    if (!c->queue_max)          c->queue_max = 10000;
    svc->tokens = c->burst;
    svc->bucket_ns = zo_loop_now_ns (self->loop);

    size_t n_headers = 0;
    while (conf->headers && conf->headers [n_headers])
        n_headers++;
    svc->headers = (char **) calloc (n_headers + 1, sizeof (char *));
    if (!svc->headers)
        goto nomem;
    for (size_t i = 0; i < n_headers; i++) {
        if (!strchr (conf->headers [i], ':') || !zo__http_clean (conf->headers [i])) {
            snprintf (error, error_size, "service %s: header line %zu has no ':'",
                      svc->name, i + 1);
            return -1;
        }
        if (!(svc->headers [i] = strdup (conf->headers [i])))
            goto nomem;
    }
    svc->url = strdup (conf->url);
    if (!svc->url)
        goto nomem;
    size_t len = strlen (svc->url);
    while (len && svc->url [len - 1] == '/')
        svc->url [--len] = 0;
    if (conf->health_path && !(svc->health_path = strdup (conf->health_path)))
        goto nomem;
    if (conf->ca_file && !(svc->ca_file = strdup (conf->ca_file)))
        goto nomem;
    c->url = svc->url;
    c->health_path = svc->health_path;
    c->ca_file = svc->ca_file;
    c->headers = NULL;
    c->auth_value = NULL;           //  only in auth_line from here on
    if (conf->auth_header) {
        if (asprintf (&svc->auth_line, "%s: %s", conf->auth_header, conf->auth_value) < 0) {
            svc->auth_line = NULL;
            goto nomem;
        }
    }
    c->auth_header = NULL;
    svc->free_easies = (CURL **) calloc (c->max_conns, sizeof (CURL *));
    svc->curl = s_multi_new (self, svc, (long) c->max_conns);
    if (!svc->free_easies || !svc->curl)
        goto nomem;

    char metric [64];
    for (int i = 0; i < C_COUNTERS; i++) {
        snprintf (metric, sizeof (metric), "%s%s", svc->name, s_counter_suffix [i]);
        svc->counters [i] = self->stats? zo_stats_counter (self->stats, metric):
                            &svc->no_counters [i];
    }
    for (int i = 0; i < G_GAUGES; i++) {
        snprintf (metric, sizeof (metric), "%s%s", svc->name, s_gauge_suffix [i]);
        svc->gauges [i] = self->stats? zo_stats_gauge (self->stats, metric): &svc->no_gauges [i];
    }
    snprintf (metric, sizeof (metric), "%s_request_ns", svc->name);
    zo_hist_reset (&svc->no_hist);
    svc->hist = self->stats? zo_stats_hist (self->stats, metric): &svc->no_hist;
    svc->health = ZO_HEALTH_UP;
    zo__http_set_health (svc);
    if (c->health_interval_ms) {
        svc->probe_timer = zo_loop_ticker (self->loop, c->health_interval_ms,
                                           zo__http_on_probe_tick, svc);
        if (svc->probe_timer < 0) {
            svc->probe_timer = 0;
            goto nomem;
        }
    }
    return 0;
nomem:
    snprintf (error, error_size, "service %s: out of memory", svc->name);
    return -1;
}

static void
s_service_fini (http_service_t *svc)
{
    zo_loop_t *loop = svc->owner->loop;
    //  The callbacks were called: only what the service holds is left.
    assert (!svc->queue.head && !svc->running.head && !svc->waiting.head);
    if (svc->pump_timer)
        zo_loop_cancel (loop, svc->pump_timer);
    if (svc->breaker_timer)
        zo_loop_cancel (loop, svc->breaker_timer);
    if (svc->probe_timer)
        zo_loop_cancel (loop, svc->probe_timer);
    zo_curl_destroy (&svc->curl);
    for (size_t i = 0; i < svc->n_free; i++)
        curl_easy_cleanup (svc->free_easies [i]);
    free (svc->free_easies);
    if (svc->headers)
        for (char **h = svc->headers; *h; h++)
            free (*h);
    free (svc->headers);
    if (svc->auth_line) {
        explicit_bzero (svc->auth_line, strlen (svc->auth_line));
        free (svc->auth_line);
    }
    free (svc->health_path);
    free (svc->ca_file);
    free (svc->url);
}

zo_services_t *
zo_services_new (zo_loop_t *loop, zo_stats_t *stats, const zo_service_conf_t *conf, size_t n,
                 char *error, size_t error_size)
{
    assert (loop);
    assert (conf || !n);
    assert (error && error_size);
    error [0] = 0;
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf (error, error_size, "cannot initialise libcurl");
        return NULL;
    }
    zo_services_t *self = (zo_services_t *) calloc (1, sizeof (zo_services_t));
    if (!self) {
        snprintf (error, error_size, "out of memory");
        curl_global_cleanup ();
        return NULL;
    }
    self->loop = loop;
    self->stats = stats;
    self->body_max = ZO_HTTP_BODY_MAX;
    self->share = curl_share_init ();
    self->services = (http_service_t *) calloc (n? n: 1, sizeof (http_service_t));
    if (!self->share || !self->services) {
        snprintf (error, error_size, "out of memory");
        goto err;
    }
    //  One thread: the share needs no lock functions.
    curl_share_setopt (self->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    for (size_t i = 0; i < n; i++) {
        if (s_service_init (self, &self->services [i], &conf [i], error, error_size)) {
            self->n = i + 1;        //  this one's parts are freed too
            goto err;
        }
        self->n = i + 1;
    }
    return self;
err:
    zo_services_destroy (&self);
    return NULL;
}

void
zo_services_destroy (zo_services_t **self_p)
{
    assert (self_p);
    zo_services_t *self = *self_p;
    if (!self)
        return;
    assert (self->depth == 0);
    self->stopping = true;
    //  Those failed already keep their reasons; the rest are stopping.
    while (self->finished.head)
        zo__http_finish (self->finished.head);
    for (size_t i = 0; i < self->n; i++) {
        http_service_t *svc = &self->services [i];
        http_list_t *lists [] = { &svc->running, &svc->waiting, &svc->queue };
        for (size_t l = 0; l < 3; l++)
            while (lists [l]->head) {
                http_req_t *req = lists [l]->head;
                if (req->where == Q_RUNNING)
                    zo_curl_remove (svc->curl, req->easy);
                zo__http_fail_with (req, ZO_ERR_UNAVAILABLE, "stopping");
                zo__http_finish (req);
            }
    }
    for (size_t i = 0; i < self->n; i++)
        s_service_fini (&self->services [i]);
    if (self->finish_timer)
        zo_loop_cancel (self->loop, self->finish_timer);
    if (self->share)
        curl_share_cleanup (self->share);
    free (self->services);
    free (self);
    curl_global_cleanup ();
    *self_p = NULL;
}

bool
zo_services_has (const zo_services_t *self, const char *name)
{
    assert (self);
    return name && zo__http_lookup (self, name) != NULL;
}

zo_health_t
zo_services_health (const zo_services_t *self, const char *service)
{
    assert (self);
    http_service_t *svc = service? zo__http_lookup (self, service): NULL;
    return svc? svc->health: ZO_HEALTH_DOWN;
}

//  -------------------------------------------------------------------------
//  Pressure

//  Closes the service's idle connections now, if none of its transfers
//  runs: curl closes its connection cache only whole, with the multi
//  handle, so the service gets a new one. True if it did.
static bool
s_close_idle (zo_services_t *self, http_service_t *svc)
{
    if (zo_curl_running (svc->curl))
        return false;
    zo_curl_t *curl = s_multi_new (self, svc, 1);
    if (!curl)
        return false;               //  out of memory: the next call tries again
    zo_curl_destroy (&svc->curl);
    svc->curl = curl;
    return true;
}

int
zo_services_trim (zo_services_t *self, bool on)
{
    assert (self);
    int closed = 0;
    for (size_t i = 0; i < self->n; i++) {
        http_service_t *svc = &self->services [i];
        if (on && !svc->trimmed) {
            svc->trimmed = svc->close_owed = true;
            curl_multi_setopt (zo_curl_multi (svc->curl), CURLMOPT_MAXCONNECTS, 1L);
        }
        else
        if (!on && svc->trimmed) {
            svc->trimmed = svc->close_owed = false;
            curl_multi_setopt (zo_curl_multi (svc->curl), CURLMOPT_MAXCONNECTS,
                               (long) svc->conf.max_conns);
        }
        if (svc->close_owed && s_close_idle (self, svc)) {
            svc->close_owed = false;
            closed++;
        }
    }
    return closed;
}

void
zo_services_set_body_max (zo_services_t *self, size_t body_max)
{
    assert (self);
    self->body_max = body_max? body_max: ZO_HTTP_BODY_MAX;
}
