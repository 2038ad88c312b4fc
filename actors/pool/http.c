/*  http: see http.h. A request's life: its lists, the pump, finishing it;
    the state is in http_int.h. One attempt (the curl transfer) is in
    http_transfer.c, health and the circuit breaker in http_breaker.c,
    building and tearing the services down in http_service.c.

    A request is a record (http_req_t) on exactly one of its service's
    lists while it lives: queue (waiting to start, FIFO), running (its easy
    handle lent to the service's zo_curl), waiting (a retry's backoff on a
    timer of its own) or, for a failure decided inside a call
    (zo_services_request must not call back), the owner's list of
    finished requests, called back on the next loop iteration. Its
    deadline is one loop timer, armed from the start; zo__http_finish takes
    the request off its list, cancels its timers, calls back and frees it.

    The service's pump (zo__http_pump) starts queued requests while the
    limits allow; when the service is paused (Retry-After,
    X-RateLimit-Reset) or the bucket is empty it arms one timer for when
    that ends. It runs after every change that may let a request start: a
    new request, a transfer done, a retry due, the pause over.
*/
#include "http_int.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>

#define S_H2_STREAMS        100     //  curl's CURLMOPT_MAX_CONCURRENT_STREAMS default

//  -------------------------------------------------------------------------
//  Lists

static http_list_t *
s_list_of (http_req_t *req)
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
s_gauges (http_service_t *svc)
{
    *svc->gauges [G_INFLIGHT] = (double) svc->running.size;
    *svc->gauges [G_QUEUED] = (double) (svc->queue.size + svc->waiting.size);
}

void
zo__http_unlink (http_req_t *req)
{
    http_list_t *list = s_list_of (req);
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

void
zo__http_link (http_req_t *req, http_where_t where, bool at_head)
{
    assert (req->where == Q_NONE);
    req->where = where;
    http_list_t *list = s_list_of (req);
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
//  Finishing a request

static void
s_req_free (http_req_t *req)
{
    http_service_t *svc = req->svc;
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

void
zo__http_finish (http_req_t *req)
{
    http_service_t *svc = req->svc;
    zo_services_t *self = svc->owner;
    zo__http_unlink (req);
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
        zo__http_finish (self->finished.head);
    return 0;
}

//  Fails req on the next iteration (from inside a call).
static void
s_finish_later (http_req_t *req, zo_err_t error, const char *reason)
{
    zo_services_t *self = req->svc->owner;
    zo__http_fail_with (req, error, reason);
    if (req->deadline_timer)
        zo_loop_cancel (self->loop, req->deadline_timer);
    req->deadline_timer = 0;
    zo__http_unlink (req);
    zo__http_link (req, Q_FINISHED, false);
    if (!self->finish_timer) {
        self->finish_timer = zo_loop_timer (self->loop, 0, s_on_finished, self);
        if (self->finish_timer < 0)
            self->finish_timer = 0;     //  out of memory: the next call arms it
    }
}

static int
s_on_deadline (zo_loop_t *loop, int id, void *arg)
{
    http_req_t *req = (http_req_t *) arg;
    http_service_t *svc = req->svc;
    req->deadline_timer = 0;
    bool was_running = req->where == Q_RUNNING;
    if (was_running)
        zo_curl_remove (svc->curl, req->easy);
    zo__http_fail_with (req, ZO_ERR_TIMEOUT, was_running? "no response within the deadline":
                        "the deadline passed before the request could be sent");
    if (was_running)
        zo__http_breaker_outcome (svc, false, req->trial);
    zo__http_finish (req);
    zo__http_pump (svc);
    return 0;
}

//  -------------------------------------------------------------------------
//  The pump

static int
s_on_pump (zo_loop_t *loop, int id, void *arg)
{
    http_service_t *svc = (http_service_t *) arg;
    svc->pump_timer = 0;
    zo__http_set_health (svc);      //  a pause may be over
    zo__http_pump (svc);
    return 0;
}

static void
s_pump_at (http_service_t *svc, uint64_t due_ms)
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

void
zo__http_pause (http_service_t *svc, uint64_t ms)
{
    //  ms counts from now, not from the start of this iteration, which
    //  may be a while ago on a busy loop: the server named a moment.
    uint64_t until = zo_loop_clock_ms (svc->owner->loop) + ms;
    if (until <= svc->paused_until_ms)
        return;
    zsys_info ("pool: service %s: paused %" PRIu64 " ms at the server's request", svc->name, ms);
    svc->paused_until_ms = until;
    zo__http_set_health (svc);
    s_pump_at (svc, until);         //  health comes back then, requests or not
}

void
zo__http_pump (http_service_t *svc)
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
        http_req_t *req = svc->queue.head;
        if (!zo__http_breaker_admits (svc, req)) {
            zo__http_reject_queue (svc);
            return;
        }
        if (svc->conf.rate > 0)
            svc->tokens -= 1;
        zo__http_unlink (req);
        zo__http_start (svc, req);
    }
}

//  -------------------------------------------------------------------------
//  Requests

bool
zo__http_clean (const char *text)
{
    for (const char *c = text; *c; c++)
        if (*c == '\r' || *c == '\n' || *c == 0x7f || ((unsigned char) *c < 0x20 && *c != '\t'))
            return false;
    return true;
}

int
zo__http_request (http_service_t *svc, const char *method, const char *path,
                  const char *const *header_lines, size_t n_headers,
                  const void *body, size_t body_len, uint64_t timeout_ms, bool probe,
                  zo_http_fn *fn, void *arg)
{
    zo_services_t *self = svc->owner;
    http_req_t *req = (http_req_t *) calloc (1, sizeof (http_req_t));
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
    if (mlen == 0 || mlen > HTTP_METHOD_MAX)
        bad = "bad method";
    for (size_t i = 0; !bad && i < mlen; i++)
        if (!isupper ((unsigned char) method [i]))
            bad = "bad method";
    if (!bad && (!path || path [0] != '/' || strchr (path, ' ') || !zo__http_clean (path)))
        bad = "bad path";
    for (size_t i = 0; !bad && i < n_headers; i++)
        if (!strchr (header_lines [i], ':') || !zo__http_clean (header_lines [i]))
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
    if (!zo__http_breaker_admits (svc, req)) {
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
    zo__http_link (req, Q_QUEUE, req->trial);
    zo__http_pump (svc);
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
    http_service_t *svc = zo__http_lookup (self, service);
    if (!svc) {
        errno = ENOENT;
        return -1;
    }
    return zo__http_request (svc, method, path, header_lines, n_headers, body, body_len,
                             timeout_ms, false, fn, arg);
}
