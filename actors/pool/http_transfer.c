/*  http_transfer: one attempt of a request (see http.h, http_int.h): its
    easy handle set up and lent to the service's zo_curl, the response
    (status, headers, body) gathered by curl's callbacks, and what its end
    means: a pause the server asked for, a retry after the backoff, or the
    request's outcome.
*/
#include "http_int.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <czmq.h>

#define S_PAUSE_MAX_MS      3600000 //  a server's pause, at most

//  -------------------------------------------------------------------------
//  curl callbacks

static void
s_clear_response (http_req_t *req)
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

static size_t
s_on_write (char *ptr, size_t size, size_t nmemb, void *arg)
{
    http_req_t *req = (http_req_t *) arg;
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
    http_req_t *req = (http_req_t *) arg;
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
    http_service_t *svc = (http_service_t *) arg;
    int fd = socket (addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd >= 0 && purpose == CURLSOCKTYPE_IPCXN)
        (*svc->counters [C_CONNECTIONS])++;
    return fd >= 0? fd: CURL_SOCKET_BAD;
}

//  -------------------------------------------------------------------------
//  Attempts

static const char *
s_header (const http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcmp (req->hnames [i], name) == 0)
            return req->hvalues [i];
    return NULL;
}

//  Retry-After (seconds or an HTTP date) in ms from now; -1 if none.
static int64_t
s_retry_after_ms (const http_req_t *req)
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
s_ratelimit_ms (const http_req_t *req)
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

static int
s_on_retry (zo_loop_t *loop, int id, void *arg)
{
    http_req_t *req = (http_req_t *) arg;
    req->retry_timer = 0;
    zo__http_unlink (req);
    zo__http_link (req, Q_QUEUE, true);    //  it is older than what is queued
    zo__http_pump (req->svc);
    return 0;
}

void
zo__http_on_done (zo_curl_t *curl, CURL *easy, CURLcode result, void *arg)
{
    http_service_t *svc = (http_service_t *) arg;
    zo_loop_t *loop = svc->owner->loop;
    http_req_t *req = NULL;
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
        zo__http_unlink (req);
        zo__http_fail_with (req, ZO_ERR_UPSTREAM, "response too large");
        zo__http_breaker_outcome (svc, true, req->trial);    //  the server is fine
        zo__http_finish (req);
        zo__http_pump (svc);
        return;
    }
    //  The server's pauses hold for every request of the service.
    int64_t pause_ms = -1;
    if (response) {
        int64_t limit_ms = s_ratelimit_ms (req);
        int64_t after_ms = status == 429 || status == 503? s_retry_after_ms (req): -1;
        pause_ms = limit_ms > after_ms? limit_ms: after_ms;
        if (pause_ms > 0)
            zo__http_pause (svc, (uint64_t) pause_ms);
    }
    bool rate_limited = status == 429 || (status == 403 && s_ratelimit_ms (req) >= 0);
    bool retryable = !response || status >= 500 || rate_limited;
    if (retryable && req->retries < svc->conf.retries) {
        uint64_t wait = pause_ms >= 0? (uint64_t) pause_ms: zo_backoff_next (&req->backoff);
        if (now + wait < req->deadline_ms) {
            zo__http_unlink (req);
            req->retries++;
            (*svc->counters [C_RETRIES])++;
            if (pause_ms >= 0)
                zo__http_link (req, Q_QUEUE, true);    //  the pause holds it
            else {
                zo__http_link (req, Q_WAITING, false);
                req->retry_timer = zo_loop_timer (loop, wait, s_on_retry, req);
                if (req->retry_timer < 0) {
                    req->retry_timer = 0;
                    zo__http_unlink (req);
                    zo__http_link (req, Q_QUEUE, true);
                }
            }
            zo__http_pump (svc);
            return;
        }
    }
    //  The last attempt: its outcome is the request's.
    zo__http_unlink (req);
    if (response)
        req->error = ZO_ERR_NONE;
    else
    if (result == CURLE_OPERATION_TIMEDOUT && now + 10 >= req->deadline_ms)
        zo__http_fail_with (req, ZO_ERR_TIMEOUT, "no response within the deadline");
    else {
        snprintf (req->reason_buf, sizeof (req->reason_buf), "no response: %s",
                  req->curl_error [0]? req->curl_error: curl_easy_strerror (result));
        zo__http_fail_with (req, ZO_ERR_UPSTREAM, req->reason_buf);
    }
    zo__http_breaker_outcome (svc, response && status < 500, req->trial);
    zo__http_finish (req);
    zo__http_pump (svc);
}

void
zo__http_start (http_service_t *svc, http_req_t *req)
{
    zo_services_t *self = svc->owner;
    uint64_t now = zo_loop_now_ms (self->loop);
    if (!req->easy) {
        req->easy = svc->n_free? svc->free_easies [--svc->n_free]: curl_easy_init ();
        if (!req->easy) {
            zo__http_fail_with (req, ZO_ERR_UNAVAILABLE, "out of memory for a transfer");
            zo__http_finish (req);
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
    zo__http_link (req, Q_RUNNING, false);
    if (zo_curl_add (svc->curl, easy)) {
        zo__http_unlink (req);
        zo__http_fail_with (req, ZO_ERR_UNAVAILABLE, "cannot start a transfer");
        zo__http_finish (req);
        return;
    }
    req->attempts++;
}
