/*  http: the pool actor's HTTP services, with the contract of service.h
    (asynchronous requests, one callback each, health per service).

    A service is a base URL with its own pooled connections: one libcurl
    multi handle on the actor's loop (zo_curl) per service, so curl's
    limits are the service's (at most max_conns connections, and as many
    idle ones kept open for reuse: keep-alive), with HTTP/2 multiplexing
    where the server offers it (https; PIPEWAIT so that new transfers wait
    for the one connection rather than open more). The services share one
    DNS cache (a CURLSH). No thread, no signal (NOSIGNAL), no blocking
    call: every wait is a loop watch or timer. Easy handles are reused
    from a free list per service.

    A request waits in its service's queue (FIFO) and starts when (1) fewer
    than max_conns transfers run (once the server was seen to speak HTTP/2,
    100 streams per connection), (2) the service is not paused, and (3) the
    token bucket (rate, burst) has a token. At most queue_max requests wait:
    one more fails at once with ZO_ERR_UNAVAILABLE "the service's queue is
    full" (logged once until there is room again). A request's deadline
    (timeout_ms, retries and waits included) is a loop timer: a request
    still queued, waiting to retry or running when it passes fails
    ZO_ERR_TIMEOUT; each attempt runs with curl's total timeout set to what
    is left of it and its connect timeout to connect_timeout_ms at most.

    Retries: after a network error (no response), a 5xx or a 429 (and a 403
    with X-RateLimit-Remaining: 0, GitHub's rate limit) the request is tried
    again, up to retries more times, after zo_backoff's wait (doubling from
    backoff_min_ms to backoff_max_ms, jittered) or the server's Retry-After
    (seconds or an HTTP date), provided the wait ends before the deadline.
    Other 4xx are never retried. After the last attempt an HTTP response is
    returned as it is (status 5xx, error NONE) and a network error as
    ZO_ERR_UPSTREAM. Retry-After on a 429 or 503, and X-RateLimit-Remaining:
    0 with X-RateLimit-Reset (epoch seconds) on any response, pause the
    whole service until then (at most an hour): requests queue meanwhile,
    and fail only when their own deadline comes first.

    Circuit breaker: breaker_failures consecutive failures (a request's
    final network error, 5xx or running timeout; a failed health probe)
    open the circuit: queued requests and new ones fail at once with
    ZO_ERR_UNAVAILABLE (counted in <name>_rejected_total). After
    breaker_open_ms the next request, or the health probe, goes through
    alone (half-open; others are still rejected): success closes the
    circuit, failure opens it again for another breaker_open_ms. Any
    response below 500 is a success.

    Health (service.h): DOWN while the circuit is open or half-open;
    DEGRADED after a failure and until a success, and while paused by the
    server's rate limit; UP otherwise. The probe, when health_interval_ms
    is not 0, is a GET of health_path (or a HEAD of url) without retries,
    every health_interval_ms.

    Stats, per service (name being the service's): gauges <name>_up,
    <name>_health, <name>_inflight (transfers running), <name>_queued
    (waiting to start or to retry); counters <name>_requests_total,
    <name>_responses_total (requests answered with an HTTP response),
    <name>_errors_total (requests failed: timeout, upstream, unavailable,
    bad value), <name>_retries_total, <name>_rejected_total (circuit open),
    <name>_connections_total (connections curl opened); histogram
    <name>_request_ns (each request, from the call to its callback). That
    is 8 counters, 4 gauges and a histogram per service, within the
    ZO_STATS_MAX of each kind the actor has.

    auth_value is sent as the auth_header of every request and probe and
    never logged, nor put into a reason or error message.

    Ownership: the configuration and everything a request points to are
    copied before the call returns; what a result points to is lent to the
    callback until it returns. The loop (and stats) must outlive the
    zo_services_t. Callbacks run from the loop, never from inside the call
    that caused them, except in zo_services_destroy (below). A callback may
    make new requests; it must not destroy the zo_services_t.
*/
#ifndef ZO_HTTP_H_INCLUDED
#define ZO_HTTP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "service.h"
#include "zo_loop.h"
#include "zo_stats.h"

#define ZO_HTTP_BODY_MAX    (8u << 20)  /* a response body above: ZO_ERR_UPSTREAM "too large" */
#define ZO_HTTP_HEADERS_MAX 64          /* response headers kept; later ones are dropped */

/*  One service. 0 in a number means its default (in brackets).  */
typedef struct {
    const char *name;               /* [a-z0-9_]{1,32}: in stats names */
    const char *url;                /* base URL: http:// or https://, a host */
    const char *const *headers;     /* default header lines "Name: value", NULL-terminated; may be NULL */
    const char *auth_header;        /* "Authorization"; NULL: no auth */
    const char *auth_value;         /* its value; never logged */
    uint32_t max_conns;             /* connections at most [8] */
    uint64_t timeout_ms;            /* a request's deadline, retries and waits included [10000] */
    uint64_t connect_timeout_ms;    /* per attempt [2000] */
    uint32_t retries;               /* extra attempts [2]; see no_retries */
    bool no_retries;                /* true: retries is 0 (0 in retries means the default) */
    uint64_t backoff_min_ms;        /* between attempts [100] */
    uint64_t backoff_max_ms;        /* [2000] */
    double rate;                    /* requests/s at most; 0: unlimited */
    uint32_t burst;                 /* the bucket's size [max (1, rate)] */
    const char *ca_file;            /* PEM certificates to trust for https; NULL: the system's */
    const char *health_path;        /* probed with GET; NULL: HEAD on url */
    uint64_t health_interval_ms;    /* 0: no probe */
    uint32_t breaker_failures;      /* consecutive failures that open the circuit [5] */
    uint64_t breaker_open_ms;       /* open this long, then half-open [5000] */
    uint32_t queue_max;             /* requests waiting (to start or retry) at most [10000] */
} zo_service_conf_t;

typedef struct {
    int status;                     /* HTTP status; 0 when there is no response */
    zo_err_t error;                 /* ZO_ERR_NONE when a response came (any status) */
    const char *reason;             /* a sentence when error is not NONE, else NULL */
    const char *const *header_names;    /* the response's headers, names lower-cased */
    const char *const *header_values;
    size_t n_headers;
    const void *body;               /* NUL-terminated beyond body_len (not counted) */
    size_t body_len;
    uint32_t attempts;              /* transfers started, 0 when none was */
    uint64_t took_ns;               /* from the request to this callback */
} zo_http_result_t;

/*  A request's outcome, once. result and all it points to are lent until
    the callback returns.  */
typedef void (zo_http_fn) (void *arg, const zo_http_result_t *result);

typedef struct _zo_services_t zo_services_t;

/*  The n services in conf on loop, reporting to stats (NULL: no stats).
    NULL when a service's configuration is bad (an empty or bad name, a
    duplicate, a URL curl does not take, max_conns above 1024, a header
    line without ':'), with why in error (never the auth value); or out of
    memory.  */
zo_services_t *zo_services_new (zo_loop_t *loop, zo_stats_t *stats,
                                const zo_service_conf_t *conf, size_t n,
                                char *error, size_t error_size);

/*  Aborts every request in flight, queued or waiting and calls its
    callback with ZO_ERR_UNAVAILABLE "stopping" (requests made from those
    callbacks fail at once with ECANCELED), before it returns; then frees
    everything and nulls *self_p. A NULL *self_p is ignored. Not from
    inside a callback.  */
void zo_services_destroy (zo_services_t **self_p);

/*  Whether a service of that name is configured.  */
bool zo_services_has (const zo_services_t *self, const char *name);

/*  Sends method (an upper-case token: GET, POST...) to the service's url
    followed by path (starting with '/', may carry a query), with its
    default headers, its auth header and header_lines (n_headers lines
    "Name: value"; they come after the defaults), and body (body_len
    bytes, may be NULL when 0). timeout_ms 0: the service's. Everything is
    copied. 0: fn runs once, later, with arg; -1 with errno (ENOENT: no such
    service; ECANCELED: stopping; ENOMEM) and fn never runs. A method, path
    or header line that cannot be sent (CR, LF) is ZO_ERR_BAD_VALUE in the
    callback.  */
int zo_services_request (zo_services_t *self, const char *service, const char *method,
                         const char *path, const char *const *header_lines, size_t n_headers,
                         const void *body, size_t body_len, uint64_t timeout_ms,
                         zo_http_fn *fn, void *arg);

/*  The service's health (ZO_HEALTH_DOWN for an unknown name).  */
zo_health_t zo_services_health (const zo_services_t *self, const char *service);

/*  Pressure (the pool's, pool.h). On: every service keeps one idle
    connection at most (curl's CURLMOPT_MAXCONNECTS, instead of
    max_conns), and the idle connections it has are closed as soon as none
    of its transfers runs (at once if none does, else at a later call:
    call it again while on, every tick). Off: max_conns idle connections
    are kept again. Nothing waiting or running is disturbed. Returns how
    many services had their idle connections closed by this call.  */
int zo_services_trim (zo_services_t *self, bool on);

/*  Caps response bodies at body_max bytes (0: ZO_HTTP_BODY_MAX, the
    default) for the requests started from now on: a larger body fails
    the request with ZO_ERR_UPSTREAM "response too large", not retried.  */
void zo_services_set_body_max (zo_services_t *self, size_t body_max);

#endif
