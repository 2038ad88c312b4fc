/*  curl_direct: GETs of one URL straight from libcurl's multi interface,
    one process, one thread: the floor that tools/bench/pool.sh sets
    zorch-pool (event -> broker -> worker -> pool -> HTTP) beside. Nothing
    of zorch.

        curl_direct --url URL [--requests N] [--inflight K] [--max-conns C]
                    [--new-conn] [--timeout-ms T]

    K easy handles are added to one multi handle; as each transfer ends
    its handle is added again, until N transfers have been started. The
    multi handle opens at most C connections to the host
    (CURLMOPT_MAX_HOST_CONNECTIONS) and keeps as many alive
    (CURLMOPT_MAXCONNECTS); transfers beyond C wait inside libcurl for a
    free connection, as requests wait in the pool for one of its
    max_conns. HTTP/1.1, keep-alive. With --new-conn every connection is
    closed after its one transfer (CURLOPT_FORBID_REUSE): the cost of a
    connection per request.

    Connections are counted where libcurl opens their sockets
    (CURLOPT_OPENSOCKETFUNCTION). Latency is from the handle's add to the
    end of its transfer on CLOCK_MONOTONIC, so it includes the wait for a
    connection, as the pool's does; kept in zo_hist, the log-linear
    histogram zorch's own figures come from (off by at most 3.2 %). An error
    is a transfer that failed or answered anything but 200; rps counts
    the 200s only.

    Prints one JSON line:
        {"requests":..,"seconds":..,"rps":..,"p50_us":..,"p99_us":..,
         "errors":..,"connections":..}
    Exit 0, 1 when no request succeeded (or libcurl could not be set up),
    2 on bad arguments.
*/
#include <assert.h>
#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "zo_hist.h"


static volatile sig_atomic_t s_stop;
static void s_on_signal (int sig) { (void) sig; s_stop = 1; }

typedef struct {
    CURL *easy;
    uint64_t started_ns;                //  when it was last added
} s_slot_t;

typedef struct {
    //  options
    const char *url;
    uint64_t requests;
    uint32_t inflight;
    uint32_t max_conns;
    uint64_t timeout_ms;
    bool new_conn;
    //  the run
    CURLM *multi;
    s_slot_t *slots;
    uint64_t started;                   //  transfers added so far
    uint64_t finished;                  //  transfers ended, either way
    uint64_t errors;
    uint64_t connections;               //  sockets libcurl opened
    zo_hist_t hist;                     //  latency, ns
} s_bench_t;

static uint64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

//  The q-quantile (0 < q <= 1) of the recorded latencies, in µs (zo_hist's
//  bucket bound, as zorch's own figures are); 0 when nothing was recorded.
static double
s_quantile_us (const s_bench_t *self, double q)
{
    return (double) zo_hist_percentile (&self->hist, q * 100) / 1000.0;
}

//  ---------------------------------------------------------------------
//  libcurl callbacks

//  The body is not kept: "ok" is all the fixture says.
static size_t
s_on_body (char *data, size_t size, size_t nmemb, void *arg)
{
    (void) data;
    (void) arg;
    return size * nmemb;
}

//  Every connection libcurl makes comes through here: counted, then the
//  socket libcurl would have opened itself.
static curl_socket_t
s_on_open_socket (void *arg, curlsocktype purpose, struct curl_sockaddr *address)
{
    s_bench_t *self = (s_bench_t *) arg;
    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    curl_socket_t fd = socket (address->family, address->socktype, address->protocol);
    if (fd != CURL_SOCKET_BAD)
        self->connections++;
    return fd;
}

//  A configured easy handle for slot, or NULL.
static CURL *
s_easy_new (s_bench_t *self, s_slot_t *slot)
{
    CURL *easy = curl_easy_init ();
    if (!easy)
        return NULL;
    curl_easy_setopt (easy, CURLOPT_URL, self->url);
    curl_easy_setopt (easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
    curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (easy, CURLOPT_OPENSOCKETFUNCTION, s_on_open_socket);
    curl_easy_setopt (easy, CURLOPT_OPENSOCKETDATA, self);
    curl_easy_setopt (easy, CURLOPT_PRIVATE, slot);
    if (self->new_conn)
        curl_easy_setopt (easy, CURLOPT_FORBID_REUSE, 1L);
    return easy;
}

//  ---------------------------------------------------------------------
//  The run

//  Starts the slot's next transfer. 0, or -1 when libcurl refused it.
static int
s_start (s_bench_t *self, s_slot_t *slot)
{
    slot->started_ns = s_now_ns ();
    CURLMcode mc = curl_multi_add_handle (self->multi, slot->easy);
    if (mc != CURLM_OK) {
        fprintf (stderr, "curl_direct: curl_multi_add_handle: %s\n", curl_multi_strerror (mc));
        return -1;
    }
    self->started++;
    return 0;
}

//  Records every transfer that has ended and starts the next on its
//  handle while requests remain. 0, or -1 on a libcurl failure.
static int
s_reap (s_bench_t *self)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read (self->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo (easy, CURLINFO_PRIVATE, &priv);
        s_slot_t *slot = (s_slot_t *) priv;
        assert (slot);
        uint64_t took = s_now_ns () - slot->started_ns;
        long status = 0;
        curl_easy_getinfo (easy, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle (self->multi, easy);
        self->finished++;
        if (result != CURLE_OK || status != 200) {
            if (self->errors++ == 0)
                fprintf (stderr, "curl_direct: first error: %s (status %ld)\n",
                         curl_easy_strerror (result), status);
        }
        else
            zo_hist_record (&self->hist, took);
        if (self->started < self->requests && !s_stop && s_start (self, slot))
            return -1;
    }
    return 0;
}

//  Runs the N transfers; the seconds they took.
static double
s_run (s_bench_t *self)
{
    uint64_t t0 = s_now_ns ();
    for (uint32_t i = 0; i < self->inflight && self->started < self->requests; i++)
        if (s_start (self, &self->slots [i]))
            return (double) (s_now_ns () - t0) / 1e9;
    while (self->finished < self->started) {
        int running = 0;
        CURLMcode mc = curl_multi_perform (self->multi, &running);
        if (mc == CURLM_OK && s_reap (self) == 0 && self->finished < self->started)
            mc = curl_multi_poll (self->multi, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK) {
            fprintf (stderr, "curl_direct: %s\n", curl_multi_strerror (mc));
            break;
        }
    }
    return (double) (s_now_ns () - t0) / 1e9;
}

static void
s_report (const s_bench_t *self, double seconds)
{
    uint64_t ok = self->finished - self->errors;
    printf ("{\"requests\":%" PRIu64 ",\"seconds\":%.3f,\"rps\":%.1f,\"p50_us\":%.1f,"
            "\"p99_us\":%.1f,\"errors\":%" PRIu64 ",\"connections\":%" PRIu64 "}\n",
            self->finished, seconds, seconds > 0 ? (double) ok / seconds : 0,
            s_quantile_us (self, 0.50), s_quantile_us (self, 0.99), self->errors,
            self->connections);
}

//  ---------------------------------------------------------------------
//  Set-up

static const char *s_usage =
    "Usage: curl_direct --url URL [--requests N (10000)] [--inflight K (100)]\n"
    "                   [--max-conns C (8)] [--new-conn] [--timeout-ms T (10000)]\n"
    "GETs URL N times over libcurl's multi interface, K transfers at once on\n"
    "at most C keep-alive connections (--new-conn: one connection per request),\n"
    "and prints throughput, latency and the connections opened as one JSON line.\n";

//  An unsigned option in [low, high]; false (after saying so) otherwise.
static bool
s_uint_arg (const char *name, const char *text, uint64_t low, uint64_t high, uint64_t *value)
{
    char *end;
    unsigned long long v = strtoull (text, &end, 10);
    if (*text == '-' || *text == 0 || *end != 0 || v < low || v > high) {
        fprintf (stderr, "curl_direct: --%s %s: not a whole number in %" PRIu64 "..%" PRIu64 "\n",
                 name, text, low, high);
        return false;
    }
    *value = v;
    return true;
}

//  Reads the options into self. 0, 1 (--help printed), or -1 (said why).
static int
s_parse (s_bench_t *self, int argc, char **argv)
{
    static const struct option options [] = {
        { "url", required_argument, NULL, 'u' },
        { "requests", required_argument, NULL, 'r' },
        { "inflight", required_argument, NULL, 'k' },
        { "max-conns", required_argument, NULL, 'c' },
        { "timeout-ms", required_argument, NULL, 't' },
        { "new-conn", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    uint64_t v = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
            case 'u': self->url = optarg; break;
            case 'n': self->new_conn = true; break;
            case 'h': fputs (s_usage, stdout); return 1;
            case 'r':
                if (!s_uint_arg ("requests", optarg, 1, 1000000000, &self->requests))
                    return -1;
                break;
            case 'k':
                if (!s_uint_arg ("inflight", optarg, 1, 100000, &v))
                    return -1;
                self->inflight = (uint32_t) v;
                break;
            case 'c':
                if (!s_uint_arg ("max-conns", optarg, 1, 10000, &v))
                    return -1;
                self->max_conns = (uint32_t) v;
                break;
            case 't':
                if (!s_uint_arg ("timeout-ms", optarg, 1, 3600000, &self->timeout_ms))
                    return -1;
                break;
            default:
                fputs (s_usage, stderr);
                return -1;
        }
    }
    if (optind < argc || !self->url) {
        fputs (s_usage, stderr);
        return -1;
    }
    return 0;
}

int
main (int argc, char **argv)
{
    static s_bench_t bench = {
        .requests = 10000, .inflight = 100, .max_conns = 8, .timeout_ms = 10000
    };
    s_bench_t *self = &bench;
    zo_hist_reset (&self->hist);
    int rc = s_parse (self, argc, argv);
    if (rc)
        return rc > 0 ? 0 : 2;
    signal (SIGTERM, s_on_signal);
    signal (SIGINT, s_on_signal);
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf (stderr, "curl_direct: curl_global_init failed\n");
        return 1;
    }
    rc = 1;
    self->multi = curl_multi_init ();
    self->slots = calloc (self->inflight, sizeof *self->slots);
    if (!self->multi || !self->slots)
        goto done;
    curl_multi_setopt (self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) self->max_conns);
    curl_multi_setopt (self->multi, CURLMOPT_MAXCONNECTS, (long) self->max_conns);
    for (uint32_t i = 0; i < self->inflight; i++) {
        self->slots [i].easy = s_easy_new (self, &self->slots [i]);
        if (!self->slots [i].easy)
            goto done;
    }
    double seconds = s_run (self);
    s_report (self, seconds);
    rc = self->finished > self->errors ? 0 : 1;
done:
    if (self->slots)
        for (uint32_t i = 0; i < self->inflight; i++)
            if (self->slots [i].easy) {
                curl_multi_remove_handle (self->multi, self->slots [i].easy);
                curl_easy_cleanup (self->slots [i].easy);
            }
    free (self->slots);
    if (self->multi)
        curl_multi_cleanup (self->multi);
    curl_global_cleanup ();
    return rc;
}
