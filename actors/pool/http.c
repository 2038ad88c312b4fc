/*  http: see http.h.

    A request is a record (s_req_t) on exactly one of its service's lists
    while it lives: queue (waiting to start, FIFO), running (its easy
    handle lent to the service's zo_curl), waiting (a retry's backoff on a
    timer of its own) or, for a failure decided inside a call
    (zo_services_request must not call back), the owner's list of
    finished requests, called back on the next loop iteration. Its
    deadline is one loop timer, armed from the start; s_finish takes the
    request off its list, cancels its timers, calls back and frees it.

    The service's pump (s_pump) starts queued requests while the limits
    allow; when the service is paused (Retry-After, X-RateLimit-Reset) or
    the bucket is empty it arms one timer for when that ends. It runs after
    every change that may let a request start: a new request, a transfer
    done, a retry due, the pause over.

    The breaker counts a request's final outcome (not each attempt), so
    that breaker_failures means requests, as a user would count them.
*/
#include "http.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <czmq.h>
#include <curl/curl.h>

#include "zo_backoff.h"
#include "zo_curl.h"

#define S_NAME_MAX          32
#define S_CONNS_MAX         1024
#define S_H2_STREAMS        100     //  curl's CURLMOPT_MAX_CONCURRENT_STREAMS default
#define S_PAUSE_MAX_MS      3600000 //  a server's pause, at most
#define S_METHOD_MAX        16

typedef enum { Q_NONE, Q_QUEUE, Q_RUNNING, Q_WAITING, Q_FINISHED } s_where_t;
typedef enum { B_CLOSED, B_OPEN, B_HALF_OPEN } s_breaker_t;

enum { C_REQUESTS, C_RESPONSES, C_ERRORS, C_RETRIES, C_REJECTED, C_CONNECTIONS, C_COUNTERS };
static const char *s_counter_suffix [C_COUNTERS] = {
    "_requests_total", "_responses_total", "_errors_total", "_retries_total",
    "_rejected_total", "_connections_total"
};
enum { G_UP, G_HEALTH, G_INFLIGHT, G_QUEUED, G_GAUGES };
static const char *s_gauge_suffix [G_GAUGES] = { "_up", "_health", "_inflight", "_queued" };

typedef struct _s_service_t s_service_t;

typedef struct _s_req_t {
    struct _s_req_t *prev, *next;
    s_service_t *svc;
    s_where_t where;
    char *url;                      //  base URL and path
    char method [S_METHOD_MAX + 1];
    struct curl_slist *headers;     //  the service's, the auth header, the caller's
    char *body;
    size_t body_len;
    uint64_t start_ns;
    uint64_t deadline_ms;           //  by the loop's clock
    int deadline_timer, retry_timer;
    uint32_t attempts, retries;
    bool trial;                     //  the half-open circuit's one request
    bool probe;                     //  the health probe (fn is s_on_probe)
    zo_backoff_t backoff;
    CURL *easy;                     //  while running
    //  The last response (or the error of the last attempt).
    char *rbody;
    size_t rlen, rcap;
    bool too_large;
    char *hnames [ZO_HTTP_HEADERS_MAX], *hvalues [ZO_HTTP_HEADERS_MAX];
    size_t n_headers;
    char curl_error [CURL_ERROR_SIZE];
    zo_err_t error;
    const char *reason;             //  static, or in reason_buf
    char reason_buf [CURL_ERROR_SIZE + 64];
    int status;
    zo_http_fn *fn;
    void *arg;
} s_req_t;

typedef struct {
    s_req_t *head, *tail;
    size_t size;
} s_list_t;

struct _s_service_t {
    zo_services_t *owner;
    zo_service_conf_t conf;         //  defaults applied; strings below
    char name [S_NAME_MAX + 1];
    char *url;                      //  without a trailing '/'
    char *auth_line;                //  "Header: value", or NULL
    char *health_path;
    char *ca_file;
    char **headers;                 //  the default lines, NULL-terminated
    bool https, h2;
    zo_curl_t *curl;
    s_list_t queue, running, waiting;
    CURL **free_easies;             //  up to max_conns handles kept for reuse
    size_t n_free;
    //  The token bucket (rate > 0).
    double tokens;
    uint64_t bucket_ns;             //  when tokens was last refilled
    //  A pause the server asked for.
    uint64_t paused_until_ms;
    int pump_timer;
    uint64_t pump_due_ms;
    //  The breaker.
    s_breaker_t breaker;
    uint32_t failures;              //  consecutive
    uint64_t open_until_ms;
    int breaker_timer;
    bool degraded;                  //  the last outcome failed
    zo_health_t health;
    int probe_timer;                //  the health ticker
    bool probing;                   //  a probe is in flight
    bool queue_full;                //  the last request found it full (logged once)
    uint64_t *counters [C_COUNTERS];
    double *gauges [G_GAUGES];
    zo_hist_t *hist;
    uint64_t no_counters [C_COUNTERS];
    double no_gauges [G_GAUGES];
    zo_hist_t no_hist;
};

struct _zo_services_t {
    zo_loop_t *loop;
    zo_stats_t *stats;
    CURLSH *share;
    s_service_t *services;
    size_t n;
    size_t body_max;
    s_list_t finished;              //  to call back on the next iteration
    int finish_timer;
    bool stopping;
    int depth;                      //  inside a callback
};

static void s_pump (s_service_t *svc);
static void s_start (s_service_t *svc, s_req_t *req);

//  -------------------------------------------------------------------------
//  Lists

static s_list_t *
s_list_of (s_req_t *req)
{
    switch (req->where) {
        case Q_QUEUE:    return &req->svc->queue;
        case Q_RUNNING:  return &req->svc->running;
        case Q_WAITING:  return &req->svc->waiting;
        case Q_FINISHED: return &req->svc->owner->finished;
        default:         return NULL;
    }
}

static void
s_gauges (s_service_t *svc)
{
    *svc->gauges [G_INFLIGHT] = (double) svc->running.size;
    *svc->gauges [G_QUEUED] = (double) (svc->queue.size + svc->waiting.size);
}

static void
s_unlink (s_req_t *req)
{
    s_list_t *list = s_list_of (req);
    if (!list)
        return;
    if (req->prev)
        req->prev->next = req->next;
    else
        list->head = req->next;
    if (req->next)
        req->next->prev = req->prev;
    else
        list->tail = req->prev;
    req->prev = req->next = NULL;
    list->size--;
    req->where = Q_NONE;
    s_gauges (req->svc);
}

static void
s_link (s_req_t *req, s_where_t where, bool at_head)
{
    assert (req->where == Q_NONE);
    req->where = where;
    s_list_t *list = s_list_of (req);
    if (at_head) {
        req->next = list->head;
        if (list->head)
            list->head->prev = req;
        else
            list->tail = req;
        list->head = req;
    }
    else {
        req->prev = list->tail;
        if (list->tail)
            list->tail->next = req;
        else
            list->head = req;
        list->tail = req;
    }
    list->size++;
    s_gauges (req->svc);
}

//  -------------------------------------------------------------------------
//  Health and the breaker

static void
s_set_health (s_service_t *svc)
{
    uint64_t now = zo_loop_now_ms (svc->owner->loop);
    zo_health_t health = svc->breaker != B_CLOSED? ZO_HEALTH_DOWN:
                         svc->degraded || svc->paused_until_ms > now? ZO_HEALTH_DEGRADED:
                         ZO_HEALTH_UP;
    if (health != svc->health)
        zsys_info ("pool: service %s is %s", svc->name, zo_health_name (health));
    svc->health = health;
    *svc->gauges [G_UP] = health != ZO_HEALTH_DOWN? 1: 0;
    *svc->gauges [G_HEALTH] = (double) health;
}

static void s_probe (s_service_t *svc);
static void s_reject_queue (s_service_t *svc);

static int
s_on_breaker (zo_loop_t *loop, int id, void *arg)
{
    s_service_t *svc = (s_service_t *) arg;
    svc->breaker_timer = 0;
    //  With a probe configured, it is the half-open trial; without, the
    //  next request is.
    if (svc->conf.health_interval_ms && !svc->probing)
        s_probe (svc);
    return 0;
}

static void
s_breaker_open (s_service_t *svc)
{
    svc->breaker = B_OPEN;
    svc->open_until_ms = zo_loop_now_ms (svc->owner->loop) + svc->conf.breaker_open_ms;
    if (svc->breaker_timer)
        zo_loop_cancel (svc->owner->loop, svc->breaker_timer);
    svc->breaker_timer = zo_loop_timer (svc->owner->loop, svc->conf.breaker_open_ms,
                                        s_on_breaker, svc);
    if (svc->breaker_timer < 0)
        svc->breaker_timer = 0;
    zsys_warning ("pool: service %s: circuit open for %" PRIu64 " ms after %u failures",
                  svc->name, svc->conf.breaker_open_ms, svc->failures);
    s_set_health (svc);
    s_reject_queue (svc);
}

//  A final outcome: ok means the server answered below 500.
static void
s_breaker_outcome (s_service_t *svc, bool ok, bool trial)
{
    if (ok) {
        svc->failures = 0;
        svc->degraded = false;
        if (svc->breaker != B_CLOSED) {
            zsys_info ("pool: service %s: circuit closed", svc->name);
            svc->breaker = B_CLOSED;
            if (svc->breaker_timer)
                zo_loop_cancel (svc->owner->loop, svc->breaker_timer);
            svc->breaker_timer = 0;
        }
        s_set_health (svc);
        return;
    }
    svc->degraded = true;
    svc->failures++;
    if (svc->breaker == B_HALF_OPEN && trial)
        s_breaker_open (svc);
    else
    if (svc->breaker == B_CLOSED && svc->failures >= svc->conf.breaker_failures)
        s_breaker_open (svc);
    else
        s_set_health (svc);
}

//  Whether req may go to the server now: always with the circuit
//  closed; as the trial once it has been open long enough.
static bool
s_breaker_admits (s_service_t *svc, s_req_t *req)
{
    if (svc->breaker == B_CLOSED)
        return true;
    if (req->trial)
        return true;
    if (svc->breaker == B_OPEN && zo_loop_now_ms (svc->owner->loop) >= svc->open_until_ms) {
        svc->breaker = B_HALF_OPEN;
        req->trial = true;
        return true;
    }
    return false;
}

//  -------------------------------------------------------------------------
//  Finishing a request

static void
s_req_free (s_req_t *req)
{
    s_service_t *svc = req->svc;
    if (req->easy) {
        if (svc->n_free < svc->conf.max_conns) {
            curl_easy_reset (req->easy);
            svc->free_easies [svc->n_free++] = req->easy;
        }
        else
            curl_easy_cleanup (req->easy);
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        free (req->hnames [i]);
        free (req->hvalues [i]);
    }
    curl_slist_free_all (req->headers);
    free (req->rbody);
    free (req->body);
    free (req->url);
    free (req);
}

static void
s_clear_response (s_req_t *req)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        free (req->hnames [i]);
        free (req->hvalues [i]);
    }
    req->n_headers = 0;
    req->rlen = 0;
    req->status = 0;
    req->too_large = false;
}

static void
s_fail_with (s_req_t *req, zo_err_t error, const char *reason)
{
    req->error = error;
    req->reason = reason;
}

//  Off its list, timers cancelled, counted, called back, freed.
static void
s_finish (s_req_t *req)
{
    s_service_t *svc = req->svc;
    zo_services_t *self = svc->owner;
    s_unlink (req);
    if (req->deadline_timer)
        zo_loop_cancel (self->loop, req->deadline_timer);
    if (req->retry_timer)
        zo_loop_cancel (self->loop, req->retry_timer);
    req->deadline_timer = req->retry_timer = 0;
    //  A trial that ended without an outcome (its deadline passed while
    //  queued, stopping, out of memory) lets the next request be one.
    if (req->trial && svc->breaker == B_HALF_OPEN)
        svc->breaker = B_OPEN;
    uint64_t took = zo_loop_now_ns (self->loop) - req->start_ns;
    if (!req->probe) {
        if (req->error == ZO_ERR_NONE)
            (*svc->counters [C_RESPONSES])++;
        else
            (*svc->counters [C_ERRORS])++;
        zo_hist_record (svc->hist, took);
    }
    zo_http_result_t result = {
        .status = req->error == ZO_ERR_NONE? req->status: 0,
        .error = req->error,
        .reason = req->error == ZO_ERR_NONE? NULL: req->reason,
        .header_names = (const char *const *) req->hnames,
        .header_values = (const char *const *) req->hvalues,
        .n_headers = req->error == ZO_ERR_NONE? req->n_headers: 0,
        .body = req->error == ZO_ERR_NONE && req->rbody? req->rbody: "",
        .body_len = req->error == ZO_ERR_NONE? req->rlen: 0,
        .attempts = req->attempts,
        .took_ns = took
    };
    self->depth++;
    req->fn (req->arg, &result);
    self->depth--;
    s_req_free (req);
}

static int
s_on_finished (zo_loop_t *loop, int id, void *arg)
{
    zo_services_t *self = (zo_services_t *) arg;
    self->finish_timer = 0;
    //  Only those finished before this run: new ones wait for the next.
    size_t n = self->finished.size;
    while (n-- && self->finished.head)
        s_finish (self->finished.head);
    return 0;
}

//  Fails req on the next iteration (from inside a call).
static void
s_finish_later (s_req_t *req, zo_err_t error, const char *reason)
{
    zo_services_t *self = req->svc->owner;
    s_fail_with (req, error, reason);
    if (req->deadline_timer)
        zo_loop_cancel (self->loop, req->deadline_timer);
    req->deadline_timer = 0;
    s_unlink (req);
    s_link (req, Q_FINISHED, false);
    if (!self->finish_timer) {
        self->finish_timer = zo_loop_timer (self->loop, 0, s_on_finished, self);
        if (self->finish_timer < 0)
            self->finish_timer = 0;     //  out of memory: the next call arms it
    }
}

static void
s_reject_queue (s_service_t *svc)
{
    //  Trials are not queued: the circuit rejects whatever waits.
    while (svc->queue.head) {
        s_req_t *req = svc->queue.head;
        (*svc->counters [C_REJECTED])++;
        s_fail_with (req, ZO_ERR_UNAVAILABLE, "the service's circuit is open");
        s_finish (req);
    }
}

//  -------------------------------------------------------------------------
//  Timers of a request

static int
s_on_deadline (zo_loop_t *loop, int id, void *arg)
{
    s_req_t *req = (s_req_t *) arg;
    s_service_t *svc = req->svc;
    req->deadline_timer = 0;
    bool was_running = req->where == Q_RUNNING;
    if (was_running)
        zo_curl_remove (svc->curl, req->easy);
    s_fail_with (req, ZO_ERR_TIMEOUT, was_running? "no response within the deadline":
                 "the deadline passed before the request could be sent");
    if (was_running)
        s_breaker_outcome (svc, false, req->trial);
    s_finish (req);
    s_pump (svc);
    return 0;
}

static int
s_on_retry (zo_loop_t *loop, int id, void *arg)
{
    s_req_t *req = (s_req_t *) arg;
    req->retry_timer = 0;
    s_unlink (req);
    s_link (req, Q_QUEUE, true);    //  it is older than what is queued
    s_pump (req->svc);
    return 0;
}

//  -------------------------------------------------------------------------
//  curl callbacks

static size_t
s_on_write (char *ptr, size_t size, size_t nmemb, void *arg)
{
    s_req_t *req = (s_req_t *) arg;
    size_t len = size * nmemb;
    size_t max = req->svc->owner->body_max;
    if (req->rlen + len > max) {
        req->too_large = true;
        return 0;                   //  CURLE_WRITE_ERROR
    }
    if (req->rlen + len + 1 > req->rcap) {
        size_t cap = req->rcap? req->rcap: 1024;
        while (cap < req->rlen + len + 1)
            cap *= 2;
        char *rbody = (char *) realloc (req->rbody, cap);
        if (!rbody)
            return 0;
        req->rbody = rbody;
        req->rcap = cap;
    }
    memcpy (req->rbody + req->rlen, ptr, len);
    req->rlen += len;
    req->rbody [req->rlen] = 0;
    return len;
}

static size_t
s_on_header (char *ptr, size_t size, size_t nmemb, void *arg)
{
    s_req_t *req = (s_req_t *) arg;
    size_t len = size * nmemb;
    //  A status line starts a new response (after a 100 Continue, say):
    //  only the last one's headers are kept.
    if (len >= 5 && memcmp (ptr, "HTTP/", 5) == 0) {
        s_clear_response (req);
        return len;
    }
    char *colon = memchr (ptr, ':', len);
    if (!colon || req->n_headers == ZO_HTTP_HEADERS_MAX)
        return len;
    size_t name_len = (size_t) (colon - ptr);
    const char *value = colon + 1;
    const char *end = ptr + len;
    while (value < end && (*value == ' ' || *value == '\t'))
        value++;
    while (end > value && (end [-1] == '\r' || end [-1] == '\n' || end [-1] == ' '))
        end--;
    char *name = strndup (ptr, name_len);
    char *copy = strndup (value, (size_t) (end - value));
    if (!name || !copy) {
        free (name);
        free (copy);
        return len;
    }
    for (char *c = name; *c; c++)
        *c = (char) tolower ((unsigned char) *c);
    req->hnames [req->n_headers] = name;
    req->hvalues [req->n_headers] = copy;
    req->n_headers++;
    return len;
}

//  Counts the connections curl opens (CURLOPT_OPENSOCKETFUNCTION).
static curl_socket_t
s_on_open_socket (void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
    s_service_t *svc = (s_service_t *) arg;
    int fd = socket (addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd >= 0 && purpose == CURLSOCKTYPE_IPCXN)
        (*svc->counters [C_CONNECTIONS])++;
    return fd >= 0? fd: CURL_SOCKET_BAD;
}

//  -------------------------------------------------------------------------
//  Attempts

static const char *
s_header (const s_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcmp (req->hnames [i], name) == 0)
            return req->hvalues [i];
    return NULL;
}

//  Retry-After (seconds or an HTTP date) in ms from now; -1 if none.
static int64_t
s_retry_after_ms (const s_req_t *req)
{
    const char *value = s_header (req, "retry-after");
    if (!value || !*value)
        return -1;
    char *end;
    if (isdigit ((unsigned char) *value)) {
        unsigned long long s = strtoull (value, &end, 10);
        if (*end)
            return -1;
        return s > S_PAUSE_MAX_MS / 1000? S_PAUSE_MAX_MS: (int64_t) s * 1000;
    }
    time_t when = curl_getdate (value, NULL);
    if (when < 0)
        return -1;
    int64_t ms = (int64_t) when * 1000 - (int64_t) (zo_clock_wall_ns () / 1000000);
    return ms < 0? 0: ms > S_PAUSE_MAX_MS? S_PAUSE_MAX_MS: ms;
}

//  X-RateLimit-Remaining: 0 with X-RateLimit-Reset: ms from now to the
//  reset; -1 if the response does not say so.
static int64_t
s_ratelimit_ms (const s_req_t *req)
{
    const char *remaining = s_header (req, "x-ratelimit-remaining");
    const char *reset = s_header (req, "x-ratelimit-reset");
    if (!remaining || strcmp (remaining, "0") != 0 || !reset)
        return -1;
    char *end;
    unsigned long long at = strtoull (reset, &end, 10);
    if (end == reset || *end)
        return -1;
    int64_t ms = (int64_t) at * 1000 - (int64_t) (zo_clock_wall_ns () / 1000000);
    return ms < 0? 0: ms > S_PAUSE_MAX_MS? S_PAUSE_MAX_MS: ms;
}

static void s_pump_at (s_service_t *svc, uint64_t due_ms);

static void
s_pause (s_service_t *svc, uint64_t ms)
{
    uint64_t until = zo_loop_now_ms (svc->owner->loop) + ms;
    if (until <= svc->paused_until_ms)
        return;
    zsys_info ("pool: service %s: paused %" PRIu64 " ms at the server's request", svc->name, ms);
    svc->paused_until_ms = until;
    s_set_health (svc);
    s_pump_at (svc, until);         //  health comes back then, requests or not
}

//  curl's done callback, for every service's transfers.
static void
s_on_done (zo_curl_t *curl, CURL *easy, CURLcode result, void *arg)
{
    s_service_t *svc = (s_service_t *) arg;
    zo_loop_t *loop = svc->owner->loop;
    s_req_t *req = NULL;
    curl_easy_getinfo (easy, CURLINFO_PRIVATE, (char **) &req);
    assert (req && req->where == Q_RUNNING);
    uint64_t now = zo_loop_now_ms (loop);
    long status = 0;
    bool response = result == CURLE_OK;
    if (response) {
        curl_easy_getinfo (easy, CURLINFO_RESPONSE_CODE, &status);
        req->status = (int) status;
        long version = 0;
        curl_easy_getinfo (easy, CURLINFO_HTTP_VERSION, &version);
        if (version == CURL_HTTP_VERSION_2_0 && !svc->h2) {
            svc->h2 = true;         //  more streams than connections from now on
            zsys_info ("pool: service %s speaks HTTP/2", svc->name);
        }
    }
    else
    if (req->too_large) {
        s_unlink (req);
        s_fail_with (req, ZO_ERR_UPSTREAM, "response too large");
        s_breaker_outcome (svc, true, req->trial);  //  the server is fine
        s_finish (req);
        s_pump (svc);
        return;
    }
    //  The server's pauses hold for every request of the service.
    int64_t pause_ms = -1;
    if (response) {
        int64_t limit_ms = s_ratelimit_ms (req);
        int64_t after_ms = status == 429 || status == 503? s_retry_after_ms (req): -1;
        pause_ms = limit_ms > after_ms? limit_ms: after_ms;
        if (pause_ms > 0)
            s_pause (svc, (uint64_t) pause_ms);
    }
    bool rate_limited = status == 429 || (status == 403 && s_ratelimit_ms (req) >= 0);
    bool retryable = !response || status >= 500 || rate_limited;
    if (retryable && req->retries < svc->conf.retries) {
        uint64_t wait = pause_ms >= 0? (uint64_t) pause_ms: zo_backoff_next (&req->backoff);
        if (now + wait < req->deadline_ms) {
            s_unlink (req);
            req->retries++;
            (*svc->counters [C_RETRIES])++;
            if (pause_ms >= 0)
                s_link (req, Q_QUEUE, true);        //  the pause holds it
            else {
                s_link (req, Q_WAITING, false);
                req->retry_timer = zo_loop_timer (loop, wait, s_on_retry, req);
                if (req->retry_timer < 0) {
                    req->retry_timer = 0;
                    s_unlink (req);
                    s_link (req, Q_QUEUE, true);
                }
            }
            s_pump (svc);
            return;
        }
    }
    //  The last attempt: its outcome is the request's.
    s_unlink (req);
    if (response)
        req->error = ZO_ERR_NONE;
    else
    if (result == CURLE_OPERATION_TIMEDOUT && now + 10 >= req->deadline_ms)
        s_fail_with (req, ZO_ERR_TIMEOUT, "no response within the deadline");
    else {
        snprintf (req->reason_buf, sizeof (req->reason_buf), "no response: %s",
                  req->curl_error [0]? req->curl_error: curl_easy_strerror (result));
        s_fail_with (req, ZO_ERR_UPSTREAM, req->reason_buf);
    }
    s_breaker_outcome (svc, response && status < 500, req->trial);
    s_finish (req);
    s_pump (svc);
}

//  Sets easy up for req's next attempt and adds it to the multi.
static void
s_start (s_service_t *svc, s_req_t *req)
{
    zo_services_t *self = svc->owner;
    uint64_t now = zo_loop_now_ms (self->loop);
    if (!req->easy) {
        req->easy = svc->n_free? svc->free_easies [--svc->n_free]: curl_easy_init ();
        if (!req->easy) {
            s_fail_with (req, ZO_ERR_UNAVAILABLE, "out of memory for a transfer");
            s_finish (req);
            return;
        }
    }
    else
        curl_easy_reset (req->easy);
    s_clear_response (req);
    req->curl_error [0] = 0;
    CURL *easy = req->easy;
    uint64_t left = req->deadline_ms > now? req->deadline_ms - now: 1;
    uint64_t connect = svc->conf.connect_timeout_ms < left? svc->conf.connect_timeout_ms: left;
    curl_easy_setopt (easy, CURLOPT_URL, req->url);
    curl_easy_setopt (easy, CURLOPT_PRIVATE, (char *) req);
    curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (easy, CURLOPT_SHARE, self->share);
    curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, (long) left);
    curl_easy_setopt (easy, CURLOPT_CONNECTTIMEOUT_MS, (long) connect);
    curl_easy_setopt (easy, CURLOPT_HTTPHEADER, req->headers);
    curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, s_on_write);
    curl_easy_setopt (easy, CURLOPT_WRITEDATA, req);
    curl_easy_setopt (easy, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt (easy, CURLOPT_HEADERDATA, req);
    curl_easy_setopt (easy, CURLOPT_ERRORBUFFER, req->curl_error);
    curl_easy_setopt (easy, CURLOPT_OPENSOCKETFUNCTION, s_on_open_socket);
    curl_easy_setopt (easy, CURLOPT_OPENSOCKETDATA, svc);
    curl_easy_setopt (easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt (easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt (easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (svc->https) {
        curl_easy_setopt (easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt (easy, CURLOPT_PIPEWAIT, 1L);
        if (svc->ca_file)
            curl_easy_setopt (easy, CURLOPT_CAINFO, svc->ca_file);
    }
    const char *m = req->method;
    bool has_body = req->body_len || !strcmp (m, "POST") || !strcmp (m, "PUT")
                 || !strcmp (m, "PATCH");
    if (has_body) {
        curl_easy_setopt (easy, CURLOPT_POSTFIELDS, req->body? req->body: "");
        curl_easy_setopt (easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
        if (strcmp (m, "POST"))
            curl_easy_setopt (easy, CURLOPT_CUSTOMREQUEST, m);
    }
    else
    if (!strcmp (m, "HEAD"))
        curl_easy_setopt (easy, CURLOPT_NOBODY, 1L);
    else
    if (strcmp (m, "GET"))
        curl_easy_setopt (easy, CURLOPT_CUSTOMREQUEST, m);
    s_link (req, Q_RUNNING, false);
    if (zo_curl_add (svc->curl, easy)) {
        s_unlink (req);
        s_fail_with (req, ZO_ERR_UNAVAILABLE, "cannot start a transfer");
        s_finish (req);
        return;
    }
    req->attempts++;
}

static int
s_on_pump (zo_loop_t *loop, int id, void *arg)
{
    s_service_t *svc = (s_service_t *) arg;
    svc->pump_timer = 0;
    s_set_health (svc);             //  a pause may be over
    s_pump (svc);
    return 0;
}

static void
s_pump_at (s_service_t *svc, uint64_t due_ms)
{
    zo_loop_t *loop = svc->owner->loop;
    if (svc->pump_timer && svc->pump_due_ms <= due_ms)
        return;
    if (svc->pump_timer)
        zo_loop_cancel (loop, svc->pump_timer);
    uint64_t now = zo_loop_now_ms (loop);
    svc->pump_timer = zo_loop_timer (loop, due_ms > now? due_ms - now: 0, s_on_pump, svc);
    if (svc->pump_timer < 0)
        svc->pump_timer = 0;
    svc->pump_due_ms = due_ms;
}

//  Starts what the limits let start, in order.
static void
s_pump (s_service_t *svc)
{
    zo_loop_t *loop = svc->owner->loop;
    size_t max = svc->h2? (size_t) svc->conf.max_conns * S_H2_STREAMS: svc->conf.max_conns;
    while (svc->queue.head && svc->running.size < max) {
        uint64_t now = zo_loop_now_ms (loop);
        if (svc->paused_until_ms > now) {
            s_pump_at (svc, svc->paused_until_ms);
            return;
        }
        if (svc->conf.rate > 0) {
            uint64_t now_ns = zo_loop_now_ns (loop);
            svc->tokens += (double) (now_ns - svc->bucket_ns) / 1e9 * svc->conf.rate;
            svc->bucket_ns = now_ns;
            if (svc->tokens > svc->conf.burst)
                svc->tokens = svc->conf.burst;
            if (svc->tokens < 1) {
                uint64_t wait = (uint64_t) ceil ((1 - svc->tokens) / svc->conf.rate * 1000);
                s_pump_at (svc, now + (wait? wait: 1));
                return;
            }
        }
        s_req_t *req = svc->queue.head;
        if (!s_breaker_admits (svc, req)) {
            s_reject_queue (svc);
            return;
        }
        if (svc->conf.rate > 0)
            svc->tokens -= 1;
        s_unlink (req);
        s_start (svc, req);
    }
}

//  -------------------------------------------------------------------------
//  Requests

static bool
s_clean (const char *text)
{
    for (const char *c = text; *c; c++)
        if (*c == '\r' || *c == '\n' || *c == 0x7f || ((unsigned char) *c < 0x20 && *c != '\t'))
            return false;
    return true;
}

static s_service_t *
s_lookup (const zo_services_t *self, const char *name)
{
    for (size_t i = 0; i < self->n; i++)
        if (!strcmp (self->services [i].name, name))
            return &self->services [i];
    return NULL;
}

static int
s_request (s_service_t *svc, const char *method, const char *path,
           const char *const *header_lines, size_t n_headers,
           const void *body, size_t body_len, uint64_t timeout_ms, bool probe,
           zo_http_fn *fn, void *arg)
{
    zo_services_t *self = svc->owner;
    s_req_t *req = (s_req_t *) calloc (1, sizeof (s_req_t));
    if (!req)
        goto nomem;
    req->svc = svc;
    req->fn = fn;
    req->arg = arg;
    req->probe = probe;
    req->start_ns = zo_loop_now_ns (self->loop);
    zo_backoff_init (&req->backoff, svc->conf.backoff_min_ms, svc->conf.backoff_max_ms);
    req->backoff.rng ^= (uint64_t) (uintptr_t) req ^ req->start_ns;
    if (!probe)
        (*svc->counters [C_REQUESTS])++;
    const char *bad = NULL;
    size_t mlen = strlen (method);
    if (mlen == 0 || mlen > S_METHOD_MAX)
        bad = "bad method";
    for (size_t i = 0; !bad && i < mlen; i++)
        if (!isupper ((unsigned char) method [i]))
            bad = "bad method";
    if (!bad && (!path || path [0] != '/' || strchr (path, ' ') || !s_clean (path)))
        bad = "bad path";
    for (size_t i = 0; !bad && i < n_headers; i++)
        if (!strchr (header_lines [i], ':') || !s_clean (header_lines [i]))
            bad = "bad header line";
    if (!bad)
        memcpy (req->method, method, mlen + 1);
    req->url = (char *) malloc (strlen (svc->url) + (path && !bad? strlen (path): 0) + 1);
    if (!req->url)
        goto nomem;
    strcpy (req->url, svc->url);
    if (!bad)
        strcat (req->url, path);
    if (body_len) {
        req->body = (char *) malloc (body_len);
        if (!req->body)
            goto nomem;
        memcpy (req->body, body, body_len);
        req->body_len = body_len;
    }
    struct curl_slist *list;
    for (char **h = svc->headers; *h; h++) {
        if (!(list = curl_slist_append (req->headers, *h)))
            goto nomem;
        req->headers = list;
    }
    if (svc->auth_line) {
        if (!(list = curl_slist_append (req->headers, svc->auth_line)))
            goto nomem;
        req->headers = list;
    }
    for (size_t i = 0; !bad && i < n_headers; i++) {
        if (!(list = curl_slist_append (req->headers, header_lines [i])))
            goto nomem;
        req->headers = list;
    }
    //  No "Expect: 100-continue" round trip for bodies.
    if (!(list = curl_slist_append (req->headers, "Expect:")))
        goto nomem;
    req->headers = list;
    uint64_t timeout = timeout_ms? timeout_ms: svc->conf.timeout_ms;
    req->deadline_ms = zo_loop_now_ms (self->loop) + timeout;
    req->deadline_timer = zo_loop_timer (self->loop, timeout, s_on_deadline, req);
    if (req->deadline_timer < 0) {
        req->deadline_timer = 0;
        goto nomem;
    }
    if (bad) {
        s_finish_later (req, ZO_ERR_BAD_VALUE, bad);
        return 0;
    }
    if (!s_breaker_admits (svc, req)) {
        (*svc->counters [C_REJECTED])++;
        s_finish_later (req, ZO_ERR_UNAVAILABLE, "the service's circuit is open");
        return 0;
    }
    if (svc->queue.size + svc->waiting.size >= svc->conf.queue_max && !req->trial) {
        if (!svc->queue_full)
            zsys_warning ("pool: service %s: %u requests wait already, refusing more",
                          svc->name, svc->conf.queue_max);
        svc->queue_full = true;
        s_finish_later (req, ZO_ERR_UNAVAILABLE, "the service's queue is full");
        return 0;
    }
    svc->queue_full = false;
    s_link (req, Q_QUEUE, req->trial);
    s_pump (svc);
    return 0;
nomem:
    if (req) {
        if (req->deadline_timer)
            zo_loop_cancel (self->loop, req->deadline_timer);
        if (!probe)
            (*svc->counters [C_REQUESTS])--;
        s_req_free (req);
    }
    errno = ENOMEM;
    return -1;
}

static void
s_on_probe (void *arg, const zo_http_result_t *result)
{
    s_service_t *svc = (s_service_t *) arg;
    svc->probing = false;
    //  The breaker counted the probe's outcome already (s_on_done); a
    //  rejected probe says nothing about the server.
    if (result->error != ZO_ERR_NONE && result->error != ZO_ERR_UNAVAILABLE)
        zsys_debug ("pool: service %s: probe failed: %s", svc->name, result->reason);
}

static void
s_probe (s_service_t *svc)
{
    if (svc->probing || svc->owner->stopping)
        return;
    //  An open circuit before its time would reject the probe anyway.
    if (svc->breaker == B_HALF_OPEN
    || (svc->breaker == B_OPEN && zo_loop_now_ms (svc->owner->loop) < svc->open_until_ms))
        return;
    const char *method = svc->health_path? "GET": "HEAD";
    const char *path = svc->health_path? svc->health_path: "/";
    uint64_t timeout = svc->conf.timeout_ms < svc->conf.health_interval_ms?
                       svc->conf.timeout_ms: svc->conf.health_interval_ms;
    if (s_request (svc, method, path, NULL, 0, NULL, 0, timeout, true, s_on_probe, svc) == 0)
        svc->probing = true;
}

static int
s_on_probe_tick (zo_loop_t *loop, int id, void *arg)
{
    s_probe ((s_service_t *) arg);
    return 0;
}

int
zo_services_request (zo_services_t *self, const char *service, const char *method,
                     const char *path, const char *const *header_lines, size_t n_headers,
                     const void *body, size_t body_len, uint64_t timeout_ms,
                     zo_http_fn *fn, void *arg)
{
    assert (self);
    assert (service && method && fn);
    assert (header_lines || !n_headers);
    assert (body || !body_len);
    if (self->stopping) {
        errno = ECANCELED;
        return -1;
    }
    s_service_t *svc = s_lookup (self, service);
    if (!svc) {
        errno = ENOENT;
        return -1;
    }
    return s_request (svc, method, path, header_lines, n_headers, body, body_len,
                      timeout_ms, false, fn, arg);
}

//  -------------------------------------------------------------------------
//  Construction

static bool
s_name_ok (const char *name)
{
    size_t len = name? strlen (name): 0;
    if (len == 0 || len > S_NAME_MAX)
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
    if (!url || !s_clean (url))
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
s_service_init (zo_services_t *self, s_service_t *svc, const zo_service_conf_t *conf,
                char *error, size_t error_size)
{
    svc->owner = self;
    svc->conf = *conf;
    zo_service_conf_t *c = &svc->conf;
    if (!s_name_ok (conf->name)) {
        snprintf (error, error_size, "service name \"%.40s\" is not [a-z0-9_]{1,%d}",
                  conf->name? conf->name: "", S_NAME_MAX);
        return -1;
    }
    strcpy (svc->name, conf->name);
    if (s_lookup (self, svc->name)) {
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
    if (conf->health_path && (conf->health_path [0] != '/' || !s_clean (conf->health_path))) {
        snprintf (error, error_size, "service %s: health_path must start with '/'", svc->name);
        return -1;
    }
    if (conf->auth_header && (!*conf->auth_header || strchr (conf->auth_header, ':')
                              || !s_clean (conf->auth_header)
                              || !conf->auth_value || !s_clean (conf->auth_value))) {
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
        if (!strchr (conf->headers [i], ':') || !s_clean (conf->headers [i])) {
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
    svc->curl = zo_curl_new (self->loop, s_on_done, svc);
    if (!svc->free_easies || !svc->curl)
        goto nomem;
    CURLM *multi = zo_curl_multi (svc->curl);
    curl_multi_setopt (multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) c->max_conns);
    curl_multi_setopt (multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long) c->max_conns);
    curl_multi_setopt (multi, CURLMOPT_MAXCONNECTS, (long) c->max_conns);
    curl_multi_setopt (multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);

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
    s_set_health (svc);
    if (c->health_interval_ms) {
        svc->probe_timer = zo_loop_ticker (self->loop, c->health_interval_ms, s_on_probe_tick, svc);
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
s_service_fini (s_service_t *svc)
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
    self->services = (s_service_t *) calloc (n? n: 1, sizeof (s_service_t));
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
        s_finish (self->finished.head);
    for (size_t i = 0; i < self->n; i++) {
        s_service_t *svc = &self->services [i];
        s_list_t *lists [] = { &svc->running, &svc->waiting, &svc->queue };
        for (size_t l = 0; l < 3; l++)
            while (lists [l]->head) {
                s_req_t *req = lists [l]->head;
                if (req->where == Q_RUNNING)
                    zo_curl_remove (svc->curl, req->easy);
                s_fail_with (req, ZO_ERR_UNAVAILABLE, "stopping");
                s_finish (req);
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
    return name && s_lookup (self, name) != NULL;
}

zo_health_t
zo_services_health (const zo_services_t *self, const char *service)
{
    assert (self);
    s_service_t *svc = service? s_lookup (self, service): NULL;
    return svc? svc->health: ZO_HEALTH_DOWN;
}

void
zo_services_set_body_max (zo_services_t *self, size_t body_max)
{
    assert (self);
    self->body_max = body_max? body_max: ZO_HTTP_BODY_MAX;
}
