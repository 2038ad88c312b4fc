/*  Tests of actors/runtime/zo_curl.c and zo_mhd.c together: each test
    starts an MHD daemon on the loop (127.0.0.1, port 0) and drives curl
    requests against it through the curl adapter, all on one loop, one
    thread. Nothing else wakes the loop: no ticker runs anywhere.  */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "zo_curl.h"
#include "zo_loop.h"
#include "zo_mhd.h"

#define S_MAX_SUSPENDED 64

//  --------------------------------------------------------------------------
//  The server: /hello answers at once; /slow is suspended until resumed by
//  a loop timer (resume_ms after the first one, 0 = never).

typedef struct {
    zo_loop_t *loop;
    zo_mhd_t *mhd;
    uint16_t port;
    int conns_started, conns_closed;
    int requests;
    struct MHD_Connection *suspended [S_MAX_SUSPENDED];
    int n_suspended;
    uint64_t resume_ms;
    int resume_timer;
} s_server_t;

static int s_seen, s_parked;

static int
s_on_resume (zo_loop_t *loop, int id, void *arg)
{
    s_server_t *server = (s_server_t *) arg;
    server->resume_timer = 0;
    for (int i = 0; i < server->n_suspended; i++)
        zo_mhd_resume (server->mhd, server->suspended [i]);
    server->n_suspended = 0;
    return 0;
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size,
          void **con_cls)
{
    s_server_t *server = (s_server_t *) cls;
    if (*con_cls == NULL) {
        *con_cls = &s_seen;
        return MHD_YES;
    }
    if (strcmp (url, "/slow") == 0 && *con_cls == &s_seen) {
        cr_assert_lt (server->n_suspended, S_MAX_SUSPENDED);
        *con_cls = &s_parked;
        cr_assert_eq (zo_mhd_suspend (server->mhd, conn), 0);
        server->suspended [server->n_suspended++] = conn;
        if (server->resume_ms && !server->resume_timer)
            server->resume_timer = zo_loop_timer (server->loop, server->resume_ms,
                                                  s_on_resume, server);
        return MHD_YES;
    }
    server->requests++;
    static const char text [] = "hello";
    struct MHD_Response *response = MHD_create_response_from_buffer (
        sizeof (text) - 1, (void *) text, MHD_RESPMEM_PERSISTENT);
    cr_assert (response);
    enum MHD_Result rc = MHD_queue_response (conn, MHD_HTTP_OK, response);
    MHD_destroy_response (response);
    return rc;
}

static void
s_on_connection (void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode toe)
{
    s_server_t *server = (s_server_t *) cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        server->conns_started++;
    else
        server->conns_closed++;
}

static void
s_server_start (s_server_t *server, zo_loop_t *loop, unsigned conn_timeout_s)
{
    memset (server, 0, sizeof (*server));
    server->loop = loop;
    struct sockaddr_in addr = { .sin_family = AF_INET };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    struct MHD_Daemon *daemon = MHD_start_daemon (
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        s_access, server,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_CONNECTION_TIMEOUT, conn_timeout_s,
        MHD_OPTION_NOTIFY_CONNECTION, s_on_connection, server,
        MHD_OPTION_END);
    cr_assert (daemon);
    server->mhd = zo_mhd_new (loop, &daemon);
    cr_assert (server->mhd);
    cr_assert_null (daemon, "the adapter owns the daemon");
    server->port = zo_mhd_port (server->mhd);
    cr_assert_gt (server->port, 0);
}

static void
s_server_stop (s_server_t *server)
{
    if (server->resume_timer)
        zo_loop_cancel (server->loop, server->resume_timer);
    server->resume_timer = 0;
    zo_mhd_destroy (&server->mhd);
    cr_assert_null (server->mhd);
    //  MHD_stop_daemon closed every connection and told us.
    cr_assert_eq (server->conns_closed, server->conns_started);
}

//  --------------------------------------------------------------------------
//  The client: each request records its outcome; the loop stops when the
//  expected number is done.

typedef struct {
    char body [64];
    size_t size;
    CURLcode result;
    long status;
    bool done;
    uint64_t done_ms;
} s_req_t;

typedef struct {
    zo_loop_t *loop;
    zo_curl_t *curl;
    int expected, done, ok;
} s_client_t;

static size_t
s_write (char *ptr, size_t size, size_t nmemb, void *arg)
{
    s_req_t *req = (s_req_t *) arg;
    size_t len = size * nmemb;
    size_t room = sizeof (req->body) - 1 - req->size;
    size_t copy = len < room? len: room;
    memcpy (req->body + req->size, ptr, copy);
    req->size += copy;
    req->body [req->size] = 0;
    return len;
}

static void
s_done (zo_curl_t *curl, CURL *easy, CURLcode result, void *arg)
{
    s_client_t *client = (s_client_t *) arg;
    s_req_t *req = NULL;
    curl_easy_getinfo (easy, CURLINFO_PRIVATE, (char **) &req);
    cr_assert (req);
    cr_assert_not (req->done, "a transfer is reported once");
    req->done = true;
    req->result = result;
    req->done_ms = zo_loop_now_ms (client->loop);
    curl_easy_getinfo (easy, CURLINFO_RESPONSE_CODE, &req->status);
    curl_easy_cleanup (easy);
    client->done++;
    if (result == CURLE_OK && req->status == 200)
        client->ok++;
    if (client->done == client->expected)
        zo_loop_stop (client->loop);
}

static void
s_client_start (s_client_t *client, zo_loop_t *loop)
{
    memset (client, 0, sizeof (*client));
    client->loop = loop;
    client->curl = zo_curl_new (loop, s_done, client);
    cr_assert (client->curl);
}

static CURL *
s_get (s_client_t *client, uint16_t port, const char *path, s_req_t *req, long timeout_ms)
{
    char url [128];
    snprintf (url, sizeof (url), "http://127.0.0.1:%u%s", port, path);
    CURL *easy = curl_easy_init ();
    cr_assert (easy);
    curl_easy_setopt (easy, CURLOPT_URL, url);
    curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt (easy, CURLOPT_WRITEDATA, req);
    curl_easy_setopt (easy, CURLOPT_PRIVATE, (char *) req);
    curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
    cr_assert_eq (zo_curl_add (client->curl, easy), 0);
    cr_assert_eq (zo_curl_add (client->curl, easy), -1, "added twice");
    client->expected++;
    return easy;
}

//  Every test is bounded: this stops the loop and fails the test.
typedef struct {
    bool hit;
} s_deadline_t;

static int
s_on_deadline (zo_loop_t *loop, int id, void *arg)
{
    ((s_deadline_t *) arg)->hit = true;
    return -1;
}

static int
s_on_stop (zo_loop_t *loop, int id, void *arg)
{
    return -1;
}

static void
s_run (zo_loop_t *loop, uint64_t deadline_ms, const char *what)
{
    s_deadline_t deadline = { false };
    int id = zo_loop_timer (loop, deadline_ms, s_on_deadline, &deadline);
    cr_assert_gt (id, 0);
    cr_assert_eq (zo_loop_run (loop), 0);
    zo_loop_cancel (loop, id);
    cr_assert_not (deadline.hit, "%s: not done within %llu ms", what,
                   (unsigned long long) deadline_ms);
}

//  A 127.0.0.1 port with nothing listening on it.
static uint16_t
s_closed_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    cr_assert_geq (fd, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof (addr);
    cr_assert_eq (bind (fd, (struct sockaddr *) &addr, len), 0);
    cr_assert_eq (getsockname (fd, (struct sockaddr *) &addr, &len), 0);
    close (fd);
    return ntohs (addr.sin_port);
}

//  --------------------------------------------------------------------------

Test (curl_mhd, round_trip)
{
    zo_loop_t *loop = zo_loop_new ();
    s_server_t server;
    s_client_t client;
    s_server_start (&server, loop, 0);
    s_client_start (&client, loop);

    s_req_t req = { 0 };
    uint64_t start = zo_loop_now_ms (loop);
    s_get (&client, server.port, "/hello", &req, 2000);
    cr_assert_eq (zo_curl_running (client.curl), 1);
    s_run (loop, 3000, "round trip");
    cr_assert (req.done);
    cr_assert_eq (req.result, CURLE_OK, "%s", curl_easy_strerror (req.result));
    cr_assert_eq (req.status, 200);
    cr_assert_str_eq (req.body, "hello");
    cr_assert_eq (server.requests, 1);
    cr_assert_eq (zo_curl_running (client.curl), 0);
    //  No ticker stands between the request and its answer.
    cr_assert_lt (req.done_ms - start, 100, "took %llu ms",
                  (unsigned long long) (req.done_ms - start));

    zo_curl_destroy (&client.curl);
    cr_assert_null (client.curl);
    zo_curl_destroy (&client.curl);
    s_server_stop (&server);
    zo_loop_destroy (&loop);
}

Test (curl_mhd, two_hundred_in_flight_reuse_connections)
{
    zo_loop_t *loop = zo_loop_new ();
    s_server_t server;
    s_client_t client;
    s_server_start (&server, loop, 0);
    s_client_start (&client, loop);
    //  Eight connections at most, and all eight kept when idle (curl's
    //  default cache follows the number of handles added at the time).
    curl_multi_setopt (zo_curl_multi (client.curl), CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
    curl_multi_setopt (zo_curl_multi (client.curl), CURLMOPT_MAXCONNECTS, 8L);

    static s_req_t reqs [400];
    memset (reqs, 0, sizeof (reqs));
    for (int i = 0; i < 200; i++)
        s_get (&client, server.port, "/hello", &reqs [i], 5000);
    cr_assert_eq (zo_curl_running (client.curl), 200);
    s_run (loop, 10000, "first 200");
    cr_assert_eq (client.ok, 200);
    cr_assert_eq (server.requests, 200);
    int conns = server.conns_started;
    cr_assert (conns >= 1 && conns <= 8, "200 requests over %d connections", conns);

    //  The second round rides the connections the first one left open.
    for (int i = 200; i < 400; i++)
        s_get (&client, server.port, "/hello", &reqs [i], 5000);
    s_run (loop, 10000, "second 200");
    cr_assert_eq (client.ok, 400);
    cr_assert_eq (server.requests, 400);
    cr_assert_eq (server.conns_started, conns, "keep-alive: %d connections, then %d",
                  conns, server.conns_started);
    for (int i = 0; i < 400; i++)
        cr_assert_str_eq (reqs [i].body, "hello");
    cr_assert_eq (zo_curl_running (client.curl), 0);

    zo_curl_destroy (&client.curl);
    s_server_stop (&server);
    zo_loop_destroy (&loop);
}

//  A ticker that measures how late it fires.
typedef struct {
    uint64_t last_ms, max_gap_ms;
    int ticks;
} s_beat_t;

static int
s_on_beat (zo_loop_t *loop, int id, void *arg)
{
    s_beat_t *beat = (s_beat_t *) arg;
    uint64_t now = zo_clock_mono_ns () / 1000000;
    if (beat->ticks++ && now - beat->last_ms > beat->max_gap_ms)
        beat->max_gap_ms = now - beat->last_ms;
    beat->last_ms = now;
    return 0;
}

static int
s_on_once (zo_loop_t *loop, int id, void *arg)
{
    *(uint64_t *) arg = zo_clock_mono_ns () / 1000000;
    return 0;
}

Test (curl_mhd, closed_port_and_silent_server_fail_in_time)
{
    zo_loop_t *loop = zo_loop_new ();
    s_client_t client;
    s_client_start (&client, loop);

    //  Listening but never accepting: the kernel completes the handshake,
    //  the request goes out and no answer ever comes.
    int silent = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof (addr);
    cr_assert_eq (bind (silent, (struct sockaddr *) &addr, len), 0);
    cr_assert_eq (listen (silent, 8), 0);
    cr_assert_eq (getsockname (silent, (struct sockaddr *) &addr, &len), 0);

    s_req_t refused = { 0 }, hung = { 0 };
    uint64_t start = zo_clock_mono_ns () / 1000000;
    s_get (&client, s_closed_port (), "/hello", &refused, 2000);
    s_get (&client, ntohs (addr.sin_port), "/hello", &hung, 300);
    s_beat_t beat = { 0 };
    int ticker = zo_loop_ticker (loop, 20, s_on_beat, &beat);
    uint64_t once_ms = 0;
    zo_loop_timer (loop, 100, s_on_once, &once_ms);
    s_run (loop, 3000, "failures");
    zo_loop_cancel (loop, ticker);

    cr_assert (refused.done && hung.done);
    cr_assert_eq (refused.result, CURLE_COULDNT_CONNECT, "%s",
                  curl_easy_strerror (refused.result));
    cr_assert_lt (refused.done_ms - start, 2000);
    cr_assert_eq (hung.result, CURLE_OPERATION_TIMEDOUT, "%s",
                  curl_easy_strerror (hung.result));
    uint64_t hung_ms = hung.done_ms - start;
    cr_assert (hung_ms >= 290 && hung_ms < 800, "timed out after %llu ms",
               (unsigned long long) hung_ms);
    //  The loop kept its own time meanwhile.
    cr_assert (once_ms - start >= 100 && once_ms - start < 180, "100 ms timer after %llu ms",
               (unsigned long long) (once_ms - start));
    cr_assert_geq (beat.ticks, 12);
    cr_assert_lt (beat.max_gap_ms, 80, "a 20 ms ticker was %llu ms late",
                  (unsigned long long) beat.max_gap_ms);

    zo_curl_destroy (&client.curl);
    close (silent);
    zo_loop_destroy (&loop);
}

static int
s_on_stop_server (zo_loop_t *loop, int id, void *arg)
{
    s_server_stop ((s_server_t *) arg);
    return 0;
}

Test (curl_mhd, server_stopped_mid_run)
{
    zo_loop_t *loop = zo_loop_new ();
    s_server_t server;
    s_client_t client;
    s_server_start (&server, loop, 0);
    s_client_start (&client, loop);

    //  20 requests parked on the server, 10 answered; then it goes away.
    s_req_t reqs [30];
    memset (reqs, 0, sizeof (reqs));
    for (int i = 0; i < 20; i++)
        s_get (&client, server.port, "/slow", &reqs [i], 5000);
    for (int i = 20; i < 30; i++)
        s_get (&client, server.port, "/hello", &reqs [i], 5000);
    zo_loop_timer (loop, 200, s_on_stop_server, &server);
    uint64_t start = zo_clock_mono_ns () / 1000000;
    s_run (loop, 3000, "stopped server");
    uint64_t took = zo_clock_mono_ns () / 1000000 - start;
    cr_assert_null (server.mhd);
    cr_assert_eq (server.n_suspended, 20);
    cr_assert_eq (client.done, 30);
    cr_assert_eq (client.ok, 10);
    for (int i = 0; i < 20; i++) {
        cr_assert (reqs [i].done);
        cr_assert_neq (reqs [i].result, CURLE_OK);
        cr_assert_neq (reqs [i].result, CURLE_OPERATION_TIMEDOUT,
                       "failed when the server went, not at the timeout");
    }
    cr_assert_lt (took, 1000);
    cr_assert_eq (zo_curl_running (client.curl), 0);

    //  A request after the server is gone fails too, and cleanly.
    s_req_t late = { 0 };
    s_get (&client, server.port, "/hello", &late, 2000);
    s_run (loop, 3000, "late request");
    cr_assert_eq (late.result, CURLE_COULDNT_CONNECT, "%s", curl_easy_strerror (late.result));

    zo_curl_destroy (&client.curl);
    zo_loop_destroy (&loop);
}

Test (curl_mhd, suspended_connections_resume_without_a_ticker)
{
    zo_loop_t *loop = zo_loop_new ();
    s_server_t server;
    s_client_t client;
    s_server_start (&server, loop, 0);
    s_client_start (&client, loop);
    server.resume_ms = 100;

    s_req_t reqs [10];
    memset (reqs, 0, sizeof (reqs));
    uint64_t start = zo_loop_now_ms (loop);
    for (int i = 0; i < 10; i++)
        s_get (&client, server.port, "/slow", &reqs [i], 2000);
    s_run (loop, 3000, "resumed");
    cr_assert_eq (client.ok, 10);
    for (int i = 0; i < 10; i++) {
        uint64_t took = reqs [i].done_ms - start;
        cr_assert (took >= 100 && took < 200, "answered after %llu ms",
                   (unsigned long long) took);
        cr_assert_str_eq (reqs [i].body, "hello");
    }
    zo_curl_destroy (&client.curl);
    s_server_stop (&server);
    zo_loop_destroy (&loop);
}

Test (curl_mhd, aborted_transfers_are_not_reported)
{
    zo_loop_t *loop = zo_loop_new ();
    s_server_t server;
    s_client_t client;
    s_server_start (&server, loop, 0);
    s_client_start (&client, loop);

    //  Both reach the server and are parked there; then one is taken back
    //  by the caller and the other left to zo_curl_destroy.
    s_req_t taken = { 0 }, left = { 0 };
    CURL *taken_easy = s_get (&client, server.port, "/slow", &taken, 2000);
    CURL *left_easy = s_get (&client, server.port, "/slow", &left, 2000);
    CURL *stranger = curl_easy_init ();
    cr_assert_eq (zo_curl_remove (client.curl, stranger), -1, "never added");
    curl_easy_cleanup (stranger);
    zo_loop_timer (loop, 200, s_on_stop, NULL);
    zo_loop_run (loop);
    cr_assert_eq (server.n_suspended, 2);
    cr_assert_eq (client.done, 0);
    cr_assert_eq (zo_curl_running (client.curl), 2);

    cr_assert_eq (zo_curl_remove (client.curl, taken_easy), 0);
    cr_assert_eq (zo_curl_remove (client.curl, taken_easy), -1, "removed already");
    cr_assert_eq (zo_curl_running (client.curl), 1);
    curl_easy_cleanup (taken_easy);
    zo_curl_destroy (&client.curl);
    cr_assert_eq (client.done, 0, "neither remove nor destroy reports");
    curl_easy_cleanup (left_easy);
    cr_assert_not (taken.done || left.done);
    s_server_stop (&server);
    zo_loop_destroy (&loop);
}

typedef struct {
    zo_watch_t *watch;
    uint64_t closed_ms;
    int bytes;
} s_idle_t;

static int
s_on_idle_fd (zo_loop_t *loop, int fd, short revents, void *arg)
{
    s_idle_t *idle = (s_idle_t *) arg;
    char buf [256];
    ssize_t got = recv (fd, buf, sizeof (buf), 0);
    if (got > 0) {
        idle->bytes += (int) got;
        return 0;
    }
    idle->closed_ms = zo_clock_mono_ns () / 1000000;
    zo_loop_unwatch (loop, &idle->watch);
    return -1;
}

Test (curl_mhd, idle_connection_closed_at_its_timeout)
{
    zo_loop_t *loop = zo_loop_new ();
    s_server_t server;
    s_server_start (&server, loop, 1);

    //  A client that connects and says nothing.
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (server.port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert_eq (connect (fd, (struct sockaddr *) &addr, sizeof (addr)), 0);
    uint64_t start = zo_clock_mono_ns () / 1000000;
    s_idle_t idle = { 0 };
    idle.watch = zo_loop_add_fd (loop, fd, ZMQ_POLLIN, s_on_idle_fd, &idle);
    cr_assert (idle.watch);
    s_deadline_t deadline = { false };
    int id = zo_loop_timer (loop, 3000, s_on_deadline, &deadline);
    zo_loop_run (loop);
    zo_loop_cancel (loop, id);
    cr_assert_not (deadline.hit, "the idle connection was not closed");
    uint64_t took = idle.closed_ms - start;
    cr_assert (took >= 950 && took < 1300, "closed after %llu ms", (unsigned long long) took);
    cr_assert_eq (idle.bytes, 0);
    cr_assert_eq (server.conns_started, 1);
    cr_assert_eq (server.conns_closed, 1);
    //  One wake-up for the accept, a few around the timeout: no spinning.
    uint64_t runs = zo_mhd_runs (server.mhd);
    cr_assert_lt (runs, 20, "MHD ran %llu times", (unsigned long long) runs);
    close (fd);
    s_server_stop (&server);
    zo_loop_destroy (&loop);
}
