/*  http_int: the HTTP services' state, shared by http.c (a request's life:
    its lists, the pump, finishing), http_transfer.c (one attempt: the curl
    transfer, its callbacks, the outcome), http_breaker.c (health, the
    circuit breaker, the probe) and http_service.c (building and tearing
    down, the lookups). See http.h. Not a public header.
*/
#ifndef ZO_HTTP_INT_H_INCLUDED
#define ZO_HTTP_INT_H_INCLUDED

#include <curl/curl.h>

#include "http.h"
#include "zo_backoff.h"
#include "zo_curl.h"

#define HTTP_NAME_MAX       32
#define HTTP_METHOD_MAX     16

typedef enum { Q_NONE, Q_QUEUE, Q_RUNNING, Q_WAITING, Q_FINISHED } http_where_t;
typedef enum { B_CLOSED, B_OPEN, B_HALF_OPEN } http_breaker_t;

//  Counters and gauges, by name in zo_stats (see the suffixes in
//  http_service.c).
enum { C_REQUESTS, C_RESPONSES, C_ERRORS, C_RETRIES, C_REJECTED, C_CONNECTIONS, C_COUNTERS };
enum { G_UP, G_HEALTH, G_INFLIGHT, G_QUEUED, G_GAUGES };

typedef struct _http_service_t http_service_t;

typedef struct _http_req_t {
    struct _http_req_t *prev, *next;
    http_service_t *svc;
    http_where_t where;
    char *url;                      //  base URL and path
    char method [HTTP_METHOD_MAX + 1];
    struct curl_slist *headers;     //  the service's, the auth header, the caller's
    char *body;
    size_t body_len;
    uint64_t start_ns;
    uint64_t deadline_ms;           //  by the loop's clock
    int deadline_timer, retry_timer;
    uint32_t attempts, retries;
    bool trial;                     //  the half-open circuit's one request
    bool probe;                     //  the health probe (fn is s_on_probe, http_breaker.c)
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
} http_req_t;

typedef struct {
    http_req_t *head, *tail;
    size_t size;
} http_list_t;

struct _http_service_t {
    zo_services_t *owner;
    zo_service_conf_t conf;         //  defaults applied; strings below
    char name [HTTP_NAME_MAX + 1];
    char *url;                      //  without a trailing '/'
    char *auth_line;                //  "Header: value", or NULL
    char *health_path;
    char *ca_file;
    char **headers;                 //  the default lines, NULL-terminated
    bool https, h2;
    zo_curl_t *curl;
    http_list_t queue, running, waiting;
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
    http_breaker_t breaker;
    uint32_t failures;              //  consecutive
    uint64_t open_until_ms;
    int breaker_timer;
    bool degraded;                  //  the last outcome failed
    zo_health_t health;
    int probe_timer;                //  the health ticker
    bool probing;                   //  a probe is in flight
    bool queue_full;                //  the last request found it full (logged once)
    bool trimmed;                   //  pressure: one idle connection kept at most
    bool close_owed;                //  ... and those idle then still to close
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
    http_service_t *services;
    size_t n;
    size_t body_max;
    http_list_t finished;           //  to call back on the next iteration
    int finish_timer;
    bool stopping;
    int depth;                      //  inside a callback
};

//  http.c: the lists, the pump, finishing a request.

/*  zo__http_link puts req, which must be on no list, on the list that
    where names, at its head or its tail; zo__http_unlink takes it off its
    list (on none, nothing happens). Both keep the service's gauges.  */
void zo__http_link (http_req_t *req, http_where_t where, bool at_head);
void zo__http_unlink (http_req_t *req);

/*  Sets the outcome that zo__http_finish will report.  */
static inline void
zo__http_fail_with (http_req_t *req, zo_err_t error, const char *reason)
{
    req->error = error;
    req->reason = reason;
}

/*  Takes req off its list, cancels its timers, counts it, calls it back
    and frees it.  */
void zo__http_finish (http_req_t *req);

/*  Starts what the service's limits let start, in order.  */
void zo__http_pump (http_service_t *svc);

/*  The server asked for a pause of ms from now: the service starts
    nothing until then (a pause ending sooner than the one on changes
    nothing), and is DEGRADED meanwhile.  */
void zo__http_pause (http_service_t *svc, uint64_t ms);

/*  A new request (probe: the health probe, not counted), queued or failed
    on the next iteration. 0, or -1 with errno ENOMEM and fn never runs.  */
int zo__http_request (http_service_t *svc, const char *method, const char *path,
                      const char *const *header_lines, size_t n_headers,
                      const void *body, size_t body_len, uint64_t timeout_ms, bool probe,
                      zo_http_fn *fn, void *arg);

/*  True if text holds no control character but tabs (no CR or LF that
    could end a header line early).  */
bool zo__http_clean (const char *text);

//  http_transfer.c: one attempt.

/*  Sets an easy handle up for req's next attempt and adds it to the
    service's multi; req fails (and is finished) if it cannot.  */
void zo__http_start (http_service_t *svc, http_req_t *req);

/*  curl's done callback (a zo_curl done function), for every service's
    transfers: retries, or finishes the request.  */
void zo__http_on_done (zo_curl_t *curl, CURL *easy, CURLcode result, void *arg);

//  http_breaker.c: health, the breaker, the probe.

/*  Works the service's health out again (and logs a change).  */
void zo__http_set_health (http_service_t *svc);

/*  A request's final outcome: ok means the server answered below 500.  */
void zo__http_breaker_outcome (http_service_t *svc, bool ok, bool trial);

/*  Whether req may go to the server now: always with the circuit
    closed; as the trial once it has been open long enough.  */
bool zo__http_breaker_admits (http_service_t *svc, http_req_t *req);

/*  Fails every queued request: the circuit is open.  */
void zo__http_reject_queue (http_service_t *svc);

/*  The health ticker (a zo_loop timer function, arg the service).  */
int zo__http_on_probe_tick (zo_loop_t *loop, int id, void *arg);

//  http_service.c.

/*  The service of that name, or NULL.  */
http_service_t *zo__http_lookup (const zo_services_t *self, const char *name);

#endif
