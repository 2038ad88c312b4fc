/*  Tests of actors/pool/http.c against a real HTTP server: libmicrohttpd
    on the same loop (zo_mhd), on 127.0.0.1 and a free port, counting the
    connections it accepts. Every wait is bounded by a guard timer.

    Endpoints:
        /ok                     200 "ok"
        /echo                   200, the method, the X-Test header and the body
        /fail503-then-ok?n=N    503 the first N times (per test), then 200
        /429-after              429 with Retry-After: 1 the first time, then 200
        /503-date               503 with Retry-After: an HTTP date 2 s on, then 200
        /ratelimit              200 with X-RateLimit-Remaining: 0 and
                                X-RateLimit-Reset: now + 2 s the first time
        /slow?ms=N              200 after N ms (the connection suspended)
        /status?code=N          status N
        /auth                   200 if Authorization is right, else 401
*/
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "zo_mhd.h"

#define S_AUTH  "Bearer s3cret-token-42"
#define S_HITS  64

//  --------------------------------------------------------------------------
//  The server

typedef struct _s_call_t {
    struct _s_call_t *prev, *next;
    struct _s_server_t *server;
    struct MHD_Connection *conn;
    char *body;
    size_t len;
    bool suspended, resumed;
    int timer;
} s_call_t;

typedef struct _s_server_t {
    zo_loop_t *loop;
    zo_mhd_t *mhd;
    uint16_t port;
    int conns;                      //  accepted, ever
    int requests;
    int failed503, served429, served_limit;
    int heads;
    uint64_t hit_ms [S_HITS];       //  wall clock of each hit on the path watched
    const char *watched;
    int n_hits;
    uint64_t ok_ms;                 //  the last /ok, by the wall clock
    uint64_t reset_s;
    s_call_t *calls;
} s_server_t;

static uint64_t
s_wall_ms (void)
{
    return zo_clock_wall_ns () / 1000000;
}

static int
s_on_resume (zo_loop_t *loop, int id, void *arg)
{
    s_call_t *call = (s_call_t *) arg;
    call->timer = 0;
    call->resumed = true;
    zo_mhd_resume (call->server->mhd, call->conn);
    return 0;
}

static enum MHD_Result
s_reply (struct MHD_Connection *conn, int status, const char *text,
         const char *h1, const char *v1, const char *h2, const char *v2)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (text), (void *) text, MHD_RESPMEM_MUST_COPY);
    cr_assert (response);
    if (h1)
        MHD_add_response_header (response, h1, v1);
    if (h2)
        MHD_add_response_header (response, h2, v2);
    enum MHD_Result rc = MHD_queue_response (conn, (unsigned) status, response);
    MHD_destroy_response (response);
    return rc;
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size,
          void **con_cls)
{
    s_server_t *server = (s_server_t *) cls;
    s_call_t *call = (s_call_t *) *con_cls;
    if (!call) {
        call = (s_call_t *) calloc (1, sizeof (s_call_t));
        cr_assert (call);
        call->server = server;
        call->conn = conn;
        call->next = server->calls;
        if (call->next)
            call->next->prev = call;
        server->calls = call;
        *con_cls = call;
        return MHD_YES;
    }
    if (*upload_data_size) {
        call->body = realloc (call->body, call->len + *upload_data_size + 1);
        cr_assert (call->body);
        memcpy (call->body + call->len, upload_data, *upload_data_size);
        call->len += *upload_data_size;
        call->body [call->len] = 0;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!call->suspended) {
        server->requests++;
        if (server->watched && !strcmp (url, server->watched) && server->n_hits < S_HITS)
            server->hit_ms [server->n_hits++] = s_wall_ms ();
    }
    if (!strcmp (method, "HEAD"))
        server->heads++;
    if (!strcmp (url, "/ok")) {
        server->ok_ms = s_wall_ms ();
        return s_reply (conn, 200, "ok", NULL, NULL, NULL, NULL);
    }
    if (!strcmp (url, "/echo")) {
        const char *test = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "X-Test");
        char *text;
        cr_assert (asprintf (&text, "%s\n%s\n%s", method, test? test: "",
                             call->body? call->body: "") > 0);
        enum MHD_Result rc = s_reply (conn, 200, text, "X-Echo", "Yes", NULL, NULL);
        free (text);
        return rc;
    }
    if (!strcmp (url, "/fail503-then-ok")) {
        const char *n = MHD_lookup_connection_value (conn, MHD_GET_ARGUMENT_KIND, "n");
        if (server->failed503 < atoi (n? n: "0")) {
            server->failed503++;
            return s_reply (conn, 503, "busy", NULL, NULL, NULL, NULL);
        }
        return s_reply (conn, 200, "ok", NULL, NULL, NULL, NULL);
    }
    if (!strcmp (url, "/429-after")) {
        if (server->served429++ == 0)
            return s_reply (conn, 429, "slow down", "Retry-After", "1", NULL, NULL);
        return s_reply (conn, 200, "ok", NULL, NULL, NULL, NULL);
    }
    if (!strcmp (url, "/503-date")) {
        if (server->served429++ == 0) {
            //  Two seconds on: at least one whole second after this one.
            char date [64];
            time_t when = (time_t) (s_wall_ms () / 1000 + 2);
            struct tm tm;
            strftime (date, sizeof (date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r (&when, &tm));
            return s_reply (conn, 503, "later", "Retry-After", date, NULL, NULL);
        }
        return s_reply (conn, 200, "ok", NULL, NULL, NULL, NULL);
    }
    if (!strcmp (url, "/ratelimit")) {
        if (server->served_limit++ == 0) {
            char reset [32];
            server->reset_s = s_wall_ms () / 1000 + 2;
            snprintf (reset, sizeof (reset), "%llu", (unsigned long long) server->reset_s);
            return s_reply (conn, 200, "last one", "X-RateLimit-Remaining", "0",
                            "X-RateLimit-Reset", reset);
        }
        return s_reply (conn, 200, "ok", NULL, NULL, NULL, NULL);
    }
    if (!strcmp (url, "/slow")) {
        if (!call->suspended) {
            const char *ms = MHD_lookup_connection_value (conn, MHD_GET_ARGUMENT_KIND, "ms");
            call->suspended = true;
            cr_assert_eq (zo_mhd_suspend (server->mhd, conn), 0);
            call->timer = zo_loop_timer (server->loop, (uint64_t) atoi (ms? ms: "0"),
                                         s_on_resume, call);
            return MHD_YES;
        }
        return s_reply (conn, 200, "slow", NULL, NULL, NULL, NULL);
    }
    if (!strcmp (url, "/status")) {
        const char *code = MHD_lookup_connection_value (conn, MHD_GET_ARGUMENT_KIND, "code");
        return s_reply (conn, atoi (code? code: "500"), "status", NULL, NULL, NULL, NULL);
    }
    if (!strcmp (url, "/auth")) {
        const char *auth = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Authorization");
        bool ok = auth && !strcmp (auth, S_AUTH);
        return s_reply (conn, ok? 200: 401, ok? "welcome": "who are you", NULL, NULL, NULL, NULL);
    }
    return s_reply (conn, 404, "no such thing", NULL, NULL, NULL, NULL);
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    s_server_t *server = (s_server_t *) cls;
    s_call_t *call = (s_call_t *) *con_cls;
    if (!call)
        return;
    if (call->timer)
        zo_loop_cancel (server->loop, call->timer);
    if (call->prev)
        call->prev->next = call->next;
    else
        server->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    free (call->body);
    free (call);
    *con_cls = NULL;
}

static void
s_on_connection (void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode toe)
{
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        ((s_server_t *) cls)->conns++;
}

//  Starts (or restarts) the server on port (0: any).
static void
s_server_start (s_server_t *server, zo_loop_t *loop, uint16_t port)
{
    server->loop = loop;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    struct MHD_Daemon *daemon = MHD_start_daemon (
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        s_access, server,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_CONNECTION_LIMIT, 2000u,
        MHD_OPTION_NOTIFY_CONNECTION, s_on_connection, server,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, server,
        MHD_OPTION_END);
    cr_assert (daemon, "MHD starts on port %u", port);
    server->mhd = zo_mhd_new (loop, &daemon);
    cr_assert (server->mhd);
    server->port = zo_mhd_port (server->mhd);
    cr_assert_gt (server->port, 0);
}

static void
s_server_stop (s_server_t *server)
{
    zo_mhd_destroy (&server->mhd);
    cr_assert_null (server->calls, "every call completed");
}

//  --------------------------------------------------------------------------
//  The client side

typedef struct {
    int status;
    zo_err_t error;
    char reason [256];
    char body [256];
    size_t body_len;
    uint32_t attempts;
    uint64_t took_ns;
    uint64_t done_ms;               //  wall
    bool echo_header;
    int calls;
} s_out_t;

typedef struct {
    zo_loop_t *loop;
    zo_stats_t *stats;
    zo_services_t *services;
    s_server_t server;
    int guard;
    int expected, done;
} s_fix_t;

static int
s_on_guard (zo_loop_t *loop, int id, void *arg)
{
    s_fix_t *fix = (s_fix_t *) arg;
    fix->guard = 0;
    cr_log_error ("the guard timer fired: %d of %d done", fix->done, fix->expected);
    zo_loop_stop (loop);
    return 0;
}

//  Runs the loop until expected callbacks ran (in all), within guard_ms.
static void
s_run (s_fix_t *fix, int expected, uint64_t guard_ms)
{
    fix->expected = expected;
    if (fix->done >= expected)
        return;
    fix->guard = zo_loop_timer (fix->loop, guard_ms, s_on_guard, fix);
    zo_loop_run (fix->loop);
    if (fix->guard)
        zo_loop_cancel (fix->loop, fix->guard);
    fix->guard = 0;
    cr_assert_eq (fix->done, expected, "%d of %d requests done", fix->done, expected);
}

static int
s_on_stop (zo_loop_t *loop, int id, void *arg)
{
    zo_loop_stop (loop);
    return 0;
}

//  Runs the loop for ms.
static void
s_run_ms (s_fix_t *fix, uint64_t ms)
{
    int id = zo_loop_timer (fix->loop, ms, s_on_stop, NULL);
    zo_loop_run (fix->loop);
    zo_loop_cancel (fix->loop, id);
}

static s_fix_t *s_fix;              //  the callbacks' fixture

static void
s_on_result (void *arg, const zo_http_result_t *result)
{
    s_out_t *out = (s_out_t *) arg;
    out->calls++;
    out->status = result->status;
    out->error = result->error;
    snprintf (out->reason, sizeof (out->reason), "%s", result->reason? result->reason: "");
    out->body_len = result->body_len;
    snprintf (out->body, sizeof (out->body), "%.*s", (int) result->body_len,
              (const char *) result->body);
    out->attempts = result->attempts;
    out->took_ns = result->took_ns;
    out->done_ms = s_wall_ms ();
    for (size_t i = 0; i < result->n_headers; i++)
        if (!strcmp (result->header_names [i], "x-echo") && !strcmp (result->header_values [i], "Yes"))
            out->echo_header = true;
    if (++s_fix->done >= s_fix->expected)
        zo_loop_stop (s_fix->loop);
}

static void
s_setup (s_fix_t *fix, zo_service_conf_t *conf, size_t n, bool server)
{
    memset (fix, 0, sizeof (*fix));
    s_fix = fix;
    fix->loop = zo_loop_new ();
    cr_assert (fix->loop);
    fix->stats = zo_stats_new ("pool", "test");
    cr_assert (fix->stats);
    if (server)
        s_server_start (&fix->server, fix->loop, 0);
    char url [64];
    snprintf (url, sizeof (url), "http://127.0.0.1:%u", fix->server.port);
    for (size_t i = 0; i < n; i++)
        if (!conf [i].url)
            conf [i].url = url;
    char error [256];
    fix->services = zo_services_new (fix->loop, fix->stats, conf, n, error, sizeof (error));
    cr_assert (fix->services, "services: %s", error);
}

static void
s_teardown (s_fix_t *fix)
{
    zo_services_destroy (&fix->services);
    cr_assert_null (fix->services);
    if (fix->server.mhd)
        s_server_stop (&fix->server);
    zo_stats_destroy (&fix->stats);
    zo_loop_destroy (&fix->loop);
}

static uint64_t
s_counter (s_fix_t *fix, const char *name)
{
    return *zo_stats_counter (fix->stats, name);
}

static void
s_get (s_fix_t *fix, const char *path, uint64_t timeout_ms, s_out_t *out)
{
    cr_assert_eq (zo_services_request (fix->services, "svc", "GET", path, NULL, 0, NULL, 0,
                                       timeout_ms, s_on_result, out), 0);
}

//  --------------------------------------------------------------------------
//  Tests

Test (http, basics)
{
    s_fix_t fix;
    zo_service_conf_t conf = { .name = "svc" };
    s_setup (&fix, &conf, 1, true);
    cr_assert (zo_services_has (fix.services, "svc"));
    cr_assert_not (zo_services_has (fix.services, "other"));
    errno = 0;
    cr_assert_eq (zo_services_request (fix.services, "other", "GET", "/ok", NULL, 0, NULL, 0, 0,
                                       s_on_result, NULL), -1);
    cr_assert_eq (errno, ENOENT);

    s_out_t ok = { 0 }, echo = { 0 }, bad = { 0 };
    s_get (&fix, "/ok", 0, &ok);
    const char *lines [] = { "X-Test: forty-two" };
    cr_assert_eq (zo_services_request (fix.services, "svc", "PUT", "/echo", lines, 1,
                                       "the body", 8, 0, s_on_result, &echo), 0);
    cr_assert_eq (zo_services_request (fix.services, "svc", "GET", "/ok\r\nX: y", NULL, 0,
                                       NULL, 0, 0, s_on_result, &bad), 0);
    cr_assert_eq (ok.calls + echo.calls + bad.calls, 0, "never called back from the call");
    s_run (&fix, 3, 5000);
    cr_assert_eq (ok.status, 200);
    cr_assert_eq (ok.error, ZO_ERR_NONE);
    cr_assert_str_eq (ok.body, "ok");
    cr_assert_eq (ok.attempts, 1);
    cr_assert_gt (ok.took_ns, 0);
    cr_assert_str_eq (echo.body, "PUT\nforty-two\nthe body");
    cr_assert (echo.echo_header, "response header names are lower-cased");
    cr_assert_eq (bad.error, ZO_ERR_BAD_VALUE);
    cr_assert_eq (bad.attempts, 0);
    cr_assert_eq (s_counter (&fix, "svc_requests_total"), 3);
    cr_assert_eq (s_counter (&fix, "svc_responses_total"), 2);
    cr_assert_eq (s_counter (&fix, "svc_errors_total"), 1);
    cr_assert_eq (zo_services_health (fix.services, "svc"), ZO_HEALTH_UP);
    cr_assert_eq (*zo_stats_gauge (fix.stats, "svc_up"), 1);
    cr_assert_eq (*zo_stats_gauge (fix.stats, "svc_health"), 2);

    //  A body above the cap fails, once.
    zo_services_set_body_max (fix.services, 10);
    s_out_t big = { 0 };
    cr_assert_eq (zo_services_request (fix.services, "svc", "POST", "/echo", NULL, 0,
                                       "0123456789abcdef", 16, 0, s_on_result, &big), 0);
    s_run (&fix, 4, 5000);
    cr_assert_eq (big.error, ZO_ERR_UPSTREAM);
    cr_assert_str_eq (big.reason, "response too large");
    cr_assert_eq (big.attempts, 1);
    s_teardown (&fix);
}

//  10,000 requests, 1,000 in flight at a time, on max_conns connections.
#define S_TOTAL     10000
#define S_WINDOW    1000

static int s_sent, s_ok;

static void
s_on_many (void *arg, const zo_http_result_t *result)
{
    if (result->error == ZO_ERR_NONE && result->status == 200)
        s_ok++;
    if (s_sent < S_TOTAL) {
        s_sent++;
        cr_assert_eq (zo_services_request (s_fix->services, "svc", "GET", "/ok", NULL, 0, NULL, 0,
                                           0, s_on_many, NULL), 0);
    }
    if (++s_fix->done >= s_fix->expected)
        zo_loop_stop (s_fix->loop);
}

Test (http, pooled_connections, .timeout = 60)
{
    s_fix_t fix;
    zo_service_conf_t conf = { .name = "svc", .max_conns = 4, .timeout_ms = 30000 };
    s_setup (&fix, &conf, 1, true);
    s_sent = s_ok = 0;
    for (; s_sent < S_WINDOW; s_sent++)
        cr_assert_eq (zo_services_request (fix.services, "svc", "GET", "/ok", NULL, 0, NULL, 0,
                                           0, s_on_many, NULL), 0);
    cr_assert_eq (*zo_stats_gauge (fix.stats, "svc_inflight"), 4);
    cr_assert_eq (*zo_stats_gauge (fix.stats, "svc_queued"), S_WINDOW - 4);
    s_run (&fix, S_TOTAL, 50000);
    cr_assert_eq (s_ok, S_TOTAL);
    cr_assert_eq (fix.server.requests, S_TOTAL);
    cr_assert_leq (fix.server.conns, 4, "the server accepted %d connections", fix.server.conns);
    cr_assert_eq (s_counter (&fix, "svc_connections_total"), (uint64_t) fix.server.conns);
    cr_assert_eq (*zo_stats_gauge (fix.stats, "svc_inflight"), 0);
    cr_assert_eq (*zo_stats_gauge (fix.stats, "svc_queued"), 0);
    cr_assert_eq (zo_stats_hist (fix.stats, "svc_request_ns")->count, S_TOTAL);
    s_teardown (&fix);
}

Test (http, retries)
{
    s_fix_t fix;
    zo_service_conf_t conf = { .name = "svc", .backoff_min_ms = 10, .backoff_max_ms = 50 };
    s_setup (&fix, &conf, 1, true);
    s_out_t out = { 0 };
    s_get (&fix, "/fail503-then-ok?n=2", 0, &out);
    s_run (&fix, 1, 5000);
    cr_assert_eq (out.status, 200);
    cr_assert_eq (out.error, ZO_ERR_NONE);
    cr_assert_eq (out.attempts, 3);
    cr_assert_eq (s_counter (&fix, "svc_retries_total"), 2);

    //  No retry on a 404.
    s_out_t missing = { 0 };
    s_get (&fix, "/status?code=404", 0, &missing);
    s_run (&fix, 2, 5000);
    cr_assert_eq (missing.status, 404);
    cr_assert_eq (missing.error, ZO_ERR_NONE);
    cr_assert_eq (missing.attempts, 1);

    //  A 5xx to the end is the response.
    fix.server.failed503 = 0;
    s_out_t busy = { 0 };
    s_get (&fix, "/fail503-then-ok?n=10", 0, &busy);
    s_run (&fix, 3, 5000);
    cr_assert_eq (busy.status, 503);
    cr_assert_eq (busy.error, ZO_ERR_NONE);
    cr_assert_eq (busy.attempts, 3);
    cr_assert_eq (s_counter (&fix, "svc_retries_total"), 4);
    cr_assert_eq (zo_services_health (fix.services, "svc"), ZO_HEALTH_DEGRADED);
    s_teardown (&fix);
}

Test (http, retry_after)
{
    s_fix_t fix;
    zo_service_conf_t conf = { .name = "svc", .backoff_min_ms = 10 };
    s_setup (&fix, &conf, 1, true);
    fix.server.watched = "/429-after";
    s_out_t out = { 0 }, other = { 0 };
    s_get (&fix, "/429-after", 5000, &out);
    //  Once the 429 came, the service pauses: /ok waits too.
    s_run_ms (&fix, 300);
    cr_assert_eq (fix.server.n_hits, 1);
    s_get (&fix, "/ok", 5000, &other);
    s_run (&fix, 2, 5000);
    cr_assert_eq (out.status, 200);
    cr_assert_eq (out.error, ZO_ERR_NONE);
    cr_assert_eq (out.attempts, 2);
    cr_assert_eq (fix.server.n_hits, 2);
    cr_assert_geq (fix.server.hit_ms [1] - fix.server.hit_ms [0], 1000,
                   "the retry came %llu ms after the 429",
                   (unsigned long long) (fix.server.hit_ms [1] - fix.server.hit_ms [0]));
    cr_assert_eq (other.status, 200);
    cr_assert_geq (fix.server.ok_ms, fix.server.hit_ms [0] + 1000, "the whole service paused");
    s_teardown (&fix);
}

Test (http, ratelimit_reset)
{
    s_fix_t fix;
    zo_service_conf_t conf = { .name = "svc" };
    s_setup (&fix, &conf, 1, true);
    s_out_t first = { 0 }, second = { 0 };
    s_get (&fix, "/ratelimit", 0, &first);
    s_run (&fix, 1, 5000);
    cr_assert_eq (first.status, 200);
    cr_assert_str_eq (first.body, "last one");
    cr_assert_eq (zo_services_health (fix.services, "svc"), ZO_HEALTH_DEGRADED, "paused");
    s_get (&fix, "/ok", 5000, &second);
    s_run (&fix, 2, 5000);
    cr_assert_eq (second.status, 200);
    cr_assert_eq (second.error, ZO_ERR_NONE);
    cr_assert_geq (fix.server.ok_ms, fix.server.reset_s * 1000, "sent %lld ms before the reset",
                   (long long) (fix.server.reset_s * 1000) - (long long) fix.server.ok_ms);
    cr_assert_eq (zo_services_health (fix.services, "svc"), ZO_HEALTH_UP);
    s_teardown (&fix);
}

Test (http, timeouts)
{
    s_fix_t fix;
    zo_service_conf_t conf = { .name = "svc", .max_conns = 1 };
    s_setup (&fix, &conf, 1, true);
    //  Running: no response within 300 ms.
    s_out_t slow = { 0 };
    s_get (&fix, "/slow?ms=3000", 300, &slow);
    s_run (&fix, 1, 5000);
    cr_assert_eq (slow.error, ZO_ERR_TIMEOUT, "%s", slow.reason);
    cr_assert_eq (slow.status, 0);
    cr_assert_geq (slow.took_ns, 290000000ull);
    cr_assert_lt (slow.took_ns, 1500000000ull);
    //  Queued behind a slow one on the one connection.
    s_out_t slow2 = { 0 }, queued = { 0 }, after = { 0 };
    s_get (&fix, "/slow?ms=800", 5000, &slow2);
    s_get (&fix, "/ok", 200, &queued);
    s_run (&fix, 2, 5000);
    cr_assert_eq (queued.error, ZO_ERR_TIMEOUT);
    cr_assert_eq (queued.attempts, 0);
    s_run (&fix, 3, 5000);
    cr_assert_eq (slow2.status, 200);
    //  The loop goes on.
    s_get (&fix, "/ok", 0, &after);
    s_run (&fix, 4, 5000);
    cr_assert_eq (after.status, 200);
    s_teardown (&fix);
}

Test (http, breaker)
{
    s_fix_t fix;
    zo_service_conf_t conf = { .name = "svc", .no_retries = true, .breaker_failures = 3,
                               .breaker_open_ms = 500, .connect_timeout_ms = 500 };
    //  The server starts, then stops: its port is closed.
    memset (&fix.server, 0, sizeof (fix.server));
    s_setup (&fix, &conf, 1, true);
    uint16_t port = fix.server.port;
    s_server_stop (&fix.server);
    int done = 0;
    s_out_t out [8] = { 0 };
    for (int i = 0; i < 3; i++) {
        s_get (&fix, "/ok", 2000, &out [i]);
        s_run (&fix, ++done, 5000);
        cr_assert_eq (out [i].error, ZO_ERR_UPSTREAM, "%s", out [i].reason);
        cr_assert_eq (out [i].attempts, 1);
    }
    cr_assert_eq (zo_services_health (fix.services, "svc"), ZO_HEALTH_DOWN);
    cr_assert_eq (*zo_stats_gauge (fix.stats, "svc_up"), 0);
    uint64_t connections = s_counter (&fix, "svc_connections_total");
    s_get (&fix, "/ok", 2000, &out [3]);
    s_run (&fix, ++done, 5000);
    cr_assert_eq (out [3].error, ZO_ERR_UNAVAILABLE);
    cr_assert_eq (out [3].attempts, 0);
    cr_assert_lt (out [3].took_ns, 100000000ull, "fails fast");
    cr_assert_eq (s_counter (&fix, "svc_connections_total"), connections, "without connecting");
    cr_assert_eq (s_counter (&fix, "svc_rejected_total"), 1);

    //  The server comes back: after breaker_open_ms one request goes through.
    s_server_start (&fix.server, fix.loop, port);
    s_run_ms (&fix, 600);
    s_get (&fix, "/ok", 2000, &out [4]);
    s_get (&fix, "/ok", 2000, &out [5]);      //  rejected: the trial is on its way
    s_run (&fix, done += 2, 5000);
    cr_assert_eq (out [4].status, 200);
    cr_assert_eq (out [5].error, ZO_ERR_UNAVAILABLE);
    cr_assert_eq (zo_services_health (fix.services, "svc"), ZO_HEALTH_UP);
    s_get (&fix, "/ok", 2000, &out [6]);
    s_run (&fix, ++done, 5000);
    cr_assert_eq (out [6].status, 200);
    s_teardown (&fix);
}

Test (http, breaker_probe)
{
    s_fix_t fix;
    zo_service_conf_t conf = { .name = "svc", .no_retries = true, .breaker_failures = 2,
                               .breaker_open_ms = 300, .health_interval_ms = 100,
                               .health_path = "/ok" };
    s_setup (&fix, &conf, 1, true);
    uint16_t port = fix.server.port;
    s_run_ms (&fix, 250);
    cr_assert_geq (fix.server.requests, 2, "probed");
    cr_assert_eq (zo_services_health (fix.services, "svc"), ZO_HEALTH_UP);
    s_server_stop (&fix.server);
    s_run_ms (&fix, 300);
    cr_assert_eq (zo_services_health (fix.services, "svc"), ZO_HEALTH_DOWN, "failed probes open it");
    s_server_start (&fix.server, fix.loop, port);
    s_run_ms (&fix, 700);
    cr_assert_eq (zo_services_health (fix.services, "svc"), ZO_HEALTH_UP, "a probe closed it");
    s_teardown (&fix);
}

Test (http, head_probe_and_rate)
{
    s_fix_t fix;
    zo_service_conf_t conf [] = {
        { .name = "probed", .health_interval_ms = 50 },
        { .name = "svc", .rate = 20, .burst = 1 }
    };
    s_setup (&fix, conf, 2, true);
    s_out_t out [10] = { 0 };
    uint64_t t0 = zo_clock_mono_ns ();
    for (int i = 0; i < 10; i++)
        s_get (&fix, "/ok", 5000, &out [i]);
    s_run (&fix, 10, 5000);
    uint64_t took_ms = (zo_clock_mono_ns () - t0) / 1000000;
    for (int i = 0; i < 10; i++)
        cr_assert_eq (out [i].status, 200);
    cr_assert_geq (took_ms, 430, "10 requests at 20/s took %llu ms", (unsigned long long) took_ms);
    cr_assert_geq (fix.server.heads, 5, "HEAD probes on url: %d", fix.server.heads);
    s_teardown (&fix);
}

Test (http, auth)
{
    s_fix_t fix;
    zo_service_conf_t conf [] = {
        { .name = "svc", .auth_header = "Authorization", .auth_value = S_AUTH },
        { .name = "closed", .url = "http://127.0.0.1:1", .auth_header = "Authorization",
          .auth_value = S_AUTH, .no_retries = true }
    };
    s_setup (&fix, conf, 2, true);
    s_out_t ok = { 0 }, down = { 0 };
    s_get (&fix, "/auth", 0, &ok);
    cr_assert_eq (zo_services_request (fix.services, "closed", "GET", "/auth", NULL, 0, NULL, 0,
                                       0, s_on_result, &down), 0);
    s_run (&fix, 2, 5000);
    cr_assert_eq (ok.status, 200);
    cr_assert_str_eq (ok.body, "welcome");
    cr_assert_eq (down.error, ZO_ERR_UPSTREAM);
    cr_assert_not_null (strstr (down.reason, "no response"), "%s", down.reason);
    cr_assert_null (strstr (down.reason, "s3cret"), "%s", down.reason);
    s_teardown (&fix);

    //  Refused configurations do not repeat the value either.
    zo_loop_t *loop = zo_loop_new ();
    zo_service_conf_t bad = { .name = "svc", .url = "http://x", .auth_header = "Bad: header",
                              .auth_value = S_AUTH };
    char error [256];
    cr_assert_null (zo_services_new (loop, NULL, &bad, 1, error, sizeof (error)));
    cr_assert_null (strstr (error, "s3cret"), "%s", error);
    zo_loop_destroy (&loop);
}

static int s_stopped;

static void
s_on_stopping (void *arg, const zo_http_result_t *result)
{
    cr_assert_eq (result->error, ZO_ERR_UNAVAILABLE);
    cr_assert_str_eq (result->reason, "stopping");
    errno = 0;
    cr_assert_eq (zo_services_request (s_fix->services, "svc", "GET", "/ok", NULL, 0, NULL, 0, 0,
                                       s_on_result, NULL), -1);
    cr_assert_eq (errno, ECANCELED);
    s_stopped++;
}

Test (http, destroy_in_flight)
{
    s_fix_t fix;
    zo_service_conf_t conf = { .name = "svc", .max_conns = 2, .backoff_min_ms = 1000 };
    s_setup (&fix, &conf, 1, true);
    s_stopped = 0;
    for (int i = 0; i < 5; i++)
        cr_assert_eq (zo_services_request (fix.services, "svc", "POST", "/slow?ms=5000", NULL, 0,
                                           "x", 1, 0, s_on_stopping, NULL), 0);
    cr_assert_eq (zo_services_request (fix.services, "svc", "GET", "/status?code=503", NULL, 0,
                                       NULL, 0, 0, s_on_stopping, NULL), 0);
    s_run_ms (&fix, 200);
    cr_assert_eq (fix.server.requests, 2);
    zo_services_destroy (&fix.services);
    cr_assert_eq (s_stopped, 6);
    s_teardown (&fix);
}

Test (http, bad_conf)
{
    zo_loop_t *loop = zo_loop_new ();
    char error [256];
    const char *no_colon [] = { "X-Fine: yes", "broken", NULL };
    zo_service_conf_t bad [] = {
        { .name = "", .url = "http://127.0.0.1" },
        { .name = NULL, .url = "http://127.0.0.1" },
        { .name = "Bad-Name", .url = "http://127.0.0.1" },
        { .name = "svc", .url = "ftp://127.0.0.1" },
        { .name = "svc", .url = "not a url" },
        { .name = "svc", .url = NULL },
        { .name = "svc", .url = "http://127.0.0.1", .headers = no_colon },
        { .name = "svc", .url = "http://127.0.0.1", .max_conns = 100000 },
        { .name = "svc", .url = "http://127.0.0.1", .health_path = "ok" },
    };
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad [0]); i++) {
        error [0] = 0;
        cr_assert_null (zo_services_new (loop, NULL, &bad [i], 1, error, sizeof (error)), "conf %zu", i);
        cr_assert_gt (strlen (error), 0);
    }
    zo_service_conf_t twice [] = {
        { .name = "svc", .url = "http://127.0.0.1" }, { .name = "svc", .url = "http://127.0.0.1" }
    };
    cr_assert_null (zo_services_new (loop, NULL, twice, 2, error, sizeof (error)));
    cr_assert_not_null (strstr (error, "twice"));
    const char *headers [] = { "Accept: application/vnd.github+json", "User-Agent: zorch", NULL };
    zo_service_conf_t good = { .name = "gh_2", .url = "https://api.github.com/",
                               .headers = headers };
    zo_services_t *services = zo_services_new (loop, NULL, &good, 1, error, sizeof (error));
    cr_assert (services, "%s", error);
    cr_assert_eq (zo_services_health (services, "gh_2"), ZO_HEALTH_UP);
    zo_services_destroy (&services);
    zo_services_destroy (&services);
    zo_loop_destroy (&loop);
}

Test (http, queue_full)
{
    s_fix_t fix;
    zo_service_conf_t conf = { .name = "svc", .max_conns = 1, .queue_max = 2 };
    s_setup (&fix, &conf, 1, true);
    s_out_t out [4] = { 0 };
    for (int i = 0; i < 4; i++)
        s_get (&fix, "/slow?ms=50", 0, &out [i]);
    s_run (&fix, 4, 5000);
    for (int i = 0; i < 3; i++)
        cr_assert_eq (out [i].status, 200);
    cr_assert_eq (out [3].error, ZO_ERR_UNAVAILABLE);
    cr_assert_str_eq (out [3].reason, "the service's queue is full");
    cr_assert_lt (out [3].done_ms, out [0].done_ms, "refused at once");
    s_teardown (&fix);
}

Test (http, retry_after_date)
{
    s_fix_t fix;
    zo_service_conf_t conf = { .name = "svc", .backoff_min_ms = 10 };
    s_setup (&fix, &conf, 1, true);
    fix.server.watched = "/503-date";
    s_out_t out = { 0 };
    s_get (&fix, "/503-date", 5000, &out);
    s_run (&fix, 1, 5000);
    cr_assert_eq (out.status, 200);
    cr_assert_eq (out.attempts, 2);
    cr_assert_eq (fix.server.n_hits, 2);
    cr_assert_geq (fix.server.hit_ms [1] - fix.server.hit_ms [0], 1000, "waited %llu ms",
                   (unsigned long long) (fix.server.hit_ms [1] - fix.server.hit_ms [0]));
    s_teardown (&fix);
}

//  Four requests at once, each held 100 ms by the server: four
//  connections, new or kept.
static void
s_burst (s_fix_t *fix)
{
    s_out_t out [4] = { 0 };
    int done = fix->done;
    for (int i = 0; i < 4; i++)
        s_get (fix, "/slow?ms=100", 0, &out [i]);
    s_run (fix, done + 4, 5000);
    for (int i = 0; i < 4; i++)
        cr_assert_eq (out [i].status, 200);
}

Test (http, trim_under_pressure)
{
    s_fix_t fix;
    zo_service_conf_t conf = { .name = "svc", .max_conns = 4 };
    s_setup (&fix, &conf, 1, true);
    s_burst (&fix);
    s_burst (&fix);
    cr_assert_eq (fix.server.conns, 4, "four connections, kept alive and reused");
    //  On, with nothing running: the four idle ones are closed at once.
    cr_assert_eq (zo_services_trim (fix.services, true), 1);
    cr_assert_eq (zo_services_trim (fix.services, true), 0, "nothing more to close");
    s_burst (&fix);
    cr_assert_eq (fix.server.conns, 8, "four new connections");
    //  Of those, one is kept.
    s_burst (&fix);
    cr_assert_eq (fix.server.conns, 11, "one reused, three new");
    //  Off: max_conns kept again.
    cr_assert_eq (zo_services_trim (fix.services, false), 0);
    s_burst (&fix);
    cr_assert_eq (fix.server.conns, 14, "one reused, three new");
    s_burst (&fix);
    cr_assert_eq (fix.server.conns, 14, "all four kept and reused");
    //  On while a transfer runs: the idle ones close once it is done.
    s_out_t slow = { 0 };
    s_get (&fix, "/slow?ms=300", 0, &slow);
    s_run_ms (&fix, 50);
    cr_assert_eq (*zo_stats_gauge (fix.stats, "svc_inflight"), 1);
    cr_assert_eq (zo_services_trim (fix.services, true), 0, "not while a transfer runs");
    s_run (&fix, fix.done + 1, 5000);
    cr_assert_eq (slow.status, 200, "what ran was not disturbed");
    cr_assert_eq (zo_services_trim (fix.services, true), 1, "closed once idle");
    s_burst (&fix);
    cr_assert_eq (fix.server.conns, 18, "four new connections");
    s_teardown (&fix);
}
