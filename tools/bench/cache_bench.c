/*  cache_bench: a load generator for zorch-cache (proto/PROTOCOL.md,
    "Client ↔ cache"), the counterpart of redis-benchmark in
    tools/bench/cache.sh. Raw libzmq and the zorch codec, nothing else.

        cache_bench --endpoint EP [--keys N] [--value-size B] [--inflight K]
                    [--connections C] [--duration S | --requests N]
                    [--prefix P] [--fill] [--timeout-ms T] [--json]

    It first PINGs every connection and waits for the PONGs (the sockets
    are up, nothing of that is measured). With --fill it then SETs the keys
    P0 .. P(N-1) to B bytes each, at most S_FILL_WINDOW outstanding, and
    waits for every OK. Then C DEALER sockets each keep K GETs outstanding,
    pipelined: as each VALUE comes back the next GET leaves on that socket,
    for a key drawn uniformly from the N with a fixed seed, so two runs ask
    for the same keys in the same order. One thread, one zmq_poll over the
    sockets.

    Latency is send to reply on CLOCK_MONOTONIC, kept in a log-linear
    histogram (zo_hist, as zorch's own: a figure is off by at most
    3.2 %), fixed size whatever the run's length. Counted apart: hits,
    misses, each hit's level (VALUE.level), errors (ERROR replies, frames
    that do not decode, replies whose seq matches no outstanding GET) and
    timeouts (a GET unanswered after --timeout-ms: counted, then its slot
    sends a new one, so a lost reply does not stall the pipeline). Keep K
    to a few hundred: a ROUTER drops what it cannot queue to a peer (its
    high-water mark), and those GETs end as timeouts.

    Prints one line: a summary, or with --json
        {"gets":..,"seconds":..,"gets_per_s":..,"p50_us":..,"p99_us":..,
         "p999_us":..,"hits":..,"misses":..,"errors":..,"timeouts":..,
         "inflight":..,"connections":..,"levels":{"memory":..,"redis":..,
         "postgres":..}}
    Exit 0, 1 when no GET was answered (or the cache did not answer the
    PINGs or the fill), 2 on bad arguments.
*/
#include <getopt.h>
#include <inttypes.h>
#include <msgpack.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "zo_hist.h"
#include "zo_proto.h"

//  SETs outstanding while filling. Well under the 1000 messages a ZeroMQ
//  pipe holds by default: the cache's ROUTER drops replies beyond it.
#define S_FILL_WINDOW   256
#define S_READY_MS      5000            //  wait for the PONGs, then give up
#define S_STALL_MS      10000           //  a fill with no reply this long fails

static volatile sig_atomic_t s_stop;
static void s_on_signal (int sig) { (void) sig; s_stop = 1; }

typedef struct {
    uint64_t seq;                       //  of the GET outstanding; 0: none
    uint64_t sent_ns;
} s_slot_t;

typedef struct {
    //  options
    const char *endpoint;
    const char *prefix;
    uint64_t keys;
    size_t value_size;
    uint32_t inflight;
    uint32_t connections;
    double duration;
    uint64_t requests;                  //  0: run for duration
    uint64_t timeout_ns;
    bool fill;
    bool json;
    //  sockets and codec
    void *ctx;
    zmq_pollitem_t *items;              //  one per connection
    zo_proto_t *dec;
    msgpack_sbuffer buf;
    msgpack_packer pk;
    char *value;
    //  the GETs: connection c owns slots [c * inflight, (c + 1) * inflight)
    s_slot_t *slots;
    uint64_t n_slots;
    uint64_t sent;
    uint64_t outstanding;
    uint64_t rng;
    //  results
    uint64_t gets, hits, misses, errors, timeouts;
    uint64_t memory, redis, postgres;
    zo_hist_t hist;                     //  latency, ns
} s_bench_t;

static uint64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

//  xorshift64*: fast, and the same keys on every run.
static uint64_t
s_rand (s_bench_t *self)
{
    self->rng ^= self->rng >> 12;
    self->rng ^= self->rng << 25;
    self->rng ^= self->rng >> 27;
    return self->rng * 2685821657736338717ull;
}

//  The q-quantile (0 < q <= 1) of the recorded latencies, in µs (zo_hist's
//  bucket bound, as zorch's own figures are); 0 when nothing was recorded.
static double
s_quantile_us (const s_bench_t *self, double q)
{
    return (double) zo_hist_percentile (&self->hist, q * 100) / 1000.0;
}

//  ---------------------------------------------------------------------
//  Sending

//  Encodes msg and sends it on connection conn. 0, or -1 (interrupted,
//  or the context is going away).
static int
s_send (s_bench_t *self, uint32_t conn, const zo_msg_t *msg)
{
    msgpack_sbuffer_clear (&self->buf);
    zo_proto_encode (&self->pk, msg);
    return zmq_send (self->items [conn].socket, self->buf.data, self->buf.size, 0) < 0 ? -1 : 0;
}

//  The key with index i, written into key (ZO_MAX_KEY + 1 bytes).
static zo_span_t
s_key (const s_bench_t *self, char *key, uint64_t i)
{
    int len = snprintf (key, ZO_MAX_KEY + 1, "%s%" PRIu64, self->prefix, i);
    zo_span_t span = { (const uint8_t *) key, (uint32_t) len };
    return span;
}

//  A new GET from slot, for a random key. Its seq says which slot sent
//  it: seq - 1 is slot modulo n_slots, and no two GETs share a seq.
static int
s_send_get (s_bench_t *self, uint64_t slot)
{
    char key [ZO_MAX_KEY + 1];
    uint64_t seq = self->sent * self->n_slots + slot + 1;
    zo_msg_t msg = { .cmd = ZO_CMD_GET, .seq = seq, .key = s_key (self, key, s_rand (self) % self->keys) };
    self->slots [slot].seq = seq;
    self->slots [slot].sent_ns = s_now_ns ();
    self->sent++;
    self->outstanding++;
    return s_send (self, (uint32_t) (slot / self->inflight), &msg);
}

//  Whether another GET may leave (--requests caps the total).
static bool
s_may_send (const s_bench_t *self)
{
    return !s_stop && (self->requests == 0 || self->sent < self->requests);
}

//  ---------------------------------------------------------------------
//  Receiving

//  Waits up to timeout_ms for any connection to be readable. -1 when
//  interrupted.
static int
s_poll (s_bench_t *self, long timeout_ms)
{
    return zmq_poll (self->items, (int) self->connections, timeout_ms) < 0 ? -1 : 0;
}

//  Receives one frame from connection conn into frame without waiting and
//  decodes it into *msg. 1 received (*msg valid, cmd ZO_CMD_INVALID if it
//  did not decode: msg->seq holds its seq if that could be read); 0
//  nothing waiting.
static int
s_recv (s_bench_t *self, uint32_t conn, zmq_msg_t *frame, zo_msg_t *msg)
{
    if (zmq_msg_recv (frame, self->items [conn].socket, ZMQ_DONTWAIT) < 0)
        return 0;
    if (zmq_msg_more (frame)) {
        //  Not the cache's framing: drop the rest, count it as one error.
        zmq_msg_t rest;
        zmq_msg_init (&rest);
        while (zmq_msg_more (frame) && zmq_msg_recv (&rest, self->items [conn].socket, 0) >= 0)
            zmq_msg_move (frame, &rest);
        zmq_msg_close (&rest);
        memset (msg, 0, sizeof *msg);
        return 1;
    }
    if (zo_proto_decode (self->dec, zmq_msg_data (frame), zmq_msg_size (frame), msg) != 0)
        msg->cmd = ZO_CMD_INVALID;
    return 1;
}

//  One reply to a GET on connection conn, received at now. Returns the
//  slot it frees, or -1 when it matches no GET outstanding there.
static int64_t
s_on_get_reply (s_bench_t *self, uint32_t conn, const zo_msg_t *msg, uint64_t now)
{
    int64_t freed = -1;
    if (msg->seq != 0) {
        uint64_t slot = (msg->seq - 1) % self->n_slots;
        if (slot / self->inflight == conn && self->slots [slot].seq == msg->seq) {
            freed = (int64_t) slot;
            self->slots [slot].seq = 0;
            self->outstanding--;
        }
    }
    if (freed < 0 || msg->cmd != ZO_CMD_VALUE) {
        self->errors++;
        return freed;
    }
    uint64_t took = now - self->slots [freed].sent_ns;
    zo_hist_record (&self->hist, took);
    self->gets++;
    if (!msg->found) {
        self->misses++;
        return freed;
    }
    self->hits++;
    if (msg->level.len == 6 && memcmp (msg->level.ptr, "memory", 6) == 0)
        self->memory++;
    else
    if (msg->level.len == 5 && memcmp (msg->level.ptr, "redis", 5) == 0)
        self->redis++;
    else
    if (msg->level.len == 8 && memcmp (msg->level.ptr, "postgres", 8) == 0)
        self->postgres++;
    return freed;
}

//  GETs unanswered for longer than the timeout are counted and their
//  slots send anew (a late reply then counts as an error: unknown seq).
static int
s_expire (s_bench_t *self, uint64_t now)
{
    for (uint64_t slot = 0; slot < self->n_slots; slot++) {
        s_slot_t *s = &self->slots [slot];
        if (s->seq && s->sent_ns + self->timeout_ns < now) {
            s->seq = 0;
            self->outstanding--;
            self->timeouts++;
            if (s_may_send (self) && s_send_get (self, slot))
                return -1;
        }
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  The phases

//  A PING on every connection, then the PONGs. 0, or -1 when some did not
//  come within S_READY_MS.
static int
s_ready (s_bench_t *self)
{
    bool *pong = calloc (self->connections, sizeof *pong);
    if (!pong)
        return -1;
    for (uint32_t c = 0; c < self->connections; c++) {
        zo_msg_t ping = { .cmd = ZO_CMD_PING, .seq = c + 1 };
        s_send (self, c, &ping);
    }
    uint32_t ready = 0;
    uint64_t until = s_now_ns () + S_READY_MS * 1000000ull;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (ready < self->connections && !s_stop && s_now_ns () < until && s_poll (self, 100) == 0)
        for (uint32_t c = 0; c < self->connections; c++) {
            zo_msg_t msg;
            while (s_recv (self, c, &frame, &msg))
                if (msg.cmd == ZO_CMD_PONG && msg.seq == c + 1 && !pong [c]) {
                    pong [c] = true;
                    ready++;
                }
        }
    zmq_msg_close (&frame);
    free (pong);
    if (ready < self->connections) {
        fprintf (stderr, "cache_bench: %u of %u connections to %s answered PING\n",
                 ready, self->connections, self->endpoint);
        return -1;
    }
    return 0;
}

//  SETs every key, S_FILL_WINDOW at a time spread over the connections,
//  and waits for each reply: seq i + 1 is key i. 0 when every SET was
//  answered OK; -1 otherwise, after saying what went wrong.
static int
s_fill (s_bench_t *self)
{
    uint8_t *done = calloc (self->keys, 1);
    if (!done)
        return -1;
    uint64_t next = 0, answered = 0, failed = 0, other = 0;
    uint64_t last_reply = s_now_ns (), started = last_reply;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (answered < self->keys && !s_stop) {
        while (next < self->keys && next - answered < S_FILL_WINDOW) {
            char key [ZO_MAX_KEY + 1];
            zo_msg_t set = { .cmd = ZO_CMD_SET, .seq = next + 1, .key = s_key (self, key, next),
                             .value = { (const uint8_t *) self->value, (uint32_t) self->value_size } };
            if (s_send (self, (uint32_t) (next % self->connections), &set))
                break;
            next++;
        }
        if (s_poll (self, 100))
            break;
        for (uint32_t c = 0; c < self->connections; c++) {
            zo_msg_t msg;
            while (s_recv (self, c, &frame, &msg)) {
                if (msg.seq == 0 || msg.seq > next || done [msg.seq - 1]) {
                    other++;
                    continue;
                }
                done [msg.seq - 1] = 1;
                answered++;
                failed += msg.cmd != ZO_CMD_OK;
                last_reply = s_now_ns ();
            }
        }
        if (s_now_ns () - last_reply > S_STALL_MS * 1000000ull)
            break;
    }
    zmq_msg_close (&frame);
    free (done);
    if (answered < self->keys || failed) {
        fprintf (stderr, "cache_bench: fill: %" PRIu64 " of %" PRIu64 " SETs answered, %" PRIu64
                 " of them not OK, %" PRIu64 " stray replies\n", answered, self->keys, failed, other);
        return -1;
    }
    fprintf (stderr, "cache_bench: filled %" PRIu64 " keys of %zu bytes in %.2f s\n", self->keys,
             self->value_size, (double) (s_now_ns () - started) / 1e9);
    return 0;
}

//  The measured GETs. Returns the seconds they took.
static double
s_run (s_bench_t *self)
{
    uint64_t start = s_now_ns ();
    uint64_t deadline = start + (uint64_t) (self->duration * 1e9);
    uint64_t end = start, next_expire = start + 100000000ull;
    for (uint64_t slot = 0; slot < self->n_slots && s_may_send (self); slot++)
        if (s_send_get (self, slot))
            break;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (!s_stop) {
        uint64_t now = s_now_ns ();
        if (self->requests ? self->outstanding == 0 : now >= deadline)
            break;
        long timeout = 100;
        if (!self->requests && deadline - now < 100000000ull)
            timeout = (long) ((deadline - now + 999999) / 1000000);
        if (s_poll (self, timeout))
            break;
        for (uint32_t c = 0; c < self->connections; c++) {
            if (!(self->items [c].revents & ZMQ_POLLIN))
                continue;
            zo_msg_t msg;
            while (s_recv (self, c, &frame, &msg)) {
                now = s_now_ns ();
                if (!self->requests && now >= deadline)
                    break;              //  past the end: not counted
                int64_t slot = s_on_get_reply (self, c, &msg, now);
                end = now;
                if (slot >= 0 && s_may_send (self))
                    s_send_get (self, (uint64_t) slot);
            }
        }
        if (now >= next_expire) {
            if (s_expire (self, now))
                break;
            next_expire = now + 100000000ull;
        }
    }
    zmq_msg_close (&frame);
    if (!self->requests)
        end = s_now_ns () < deadline ? s_now_ns () : deadline;
    return (double) (end - start) / 1e9;
}

static void
s_report (const s_bench_t *self, double seconds)
{
    double rate = seconds > 0 ? (double) self->gets / seconds : 0;
    double p50 = s_quantile_us (self, 0.50);
    double p99 = s_quantile_us (self, 0.99);
    double p999 = s_quantile_us (self, 0.999);
    if (self->json)
        printf ("{\"gets\":%" PRIu64 ",\"seconds\":%.3f,\"gets_per_s\":%.0f,\"p50_us\":%.1f,"
                "\"p99_us\":%.1f,\"p999_us\":%.1f,\"hits\":%" PRIu64 ",\"misses\":%" PRIu64
                ",\"errors\":%" PRIu64 ",\"timeouts\":%" PRIu64 ",\"inflight\":%u,"
                "\"connections\":%u,\"levels\":{\"memory\":%" PRIu64 ",\"redis\":%" PRIu64
                ",\"postgres\":%" PRIu64 "}}\n",
                self->gets, seconds, rate, p50, p99, p999, self->hits, self->misses,
                self->errors, self->timeouts, self->inflight, self->connections, self->memory,
                self->redis, self->postgres);
    else
        printf ("%" PRIu64 " GETs in %.2f s: %.0f/s, p50 %.1f us, p99 %.1f us, p99.9 %.1f us; "
                "%" PRIu64 " hits (memory %" PRIu64 ", redis %" PRIu64 ", postgres %" PRIu64 "), "
                "%" PRIu64 " misses, %" PRIu64 " errors, %" PRIu64 " timeouts "
                "(%u connections x %u in flight)\n",
                self->gets, seconds, rate, p50, p99, p999, self->hits, self->memory, self->redis,
                self->postgres, self->misses, self->errors, self->timeouts, self->connections,
                self->inflight);
}

//  ---------------------------------------------------------------------
//  Set-up

static const char *s_usage =
    "Usage: cache_bench --endpoint EP [--keys N (10000)] [--value-size B (100)]\n"
    "                   [--inflight K (16)] [--connections C (1)]\n"
    "                   [--duration S (5) | --requests N] [--prefix P (bench:)]\n"
    "                   [--fill] [--timeout-ms T (1000)] [--json]\n"
    "GETs random keys P0..P(N-1) from a zorch-cache over C DEALER sockets, K\n"
    "outstanding on each, and prints throughput, latency and hit counts.\n"
    "--fill first SETs every key to B bytes and waits for the OKs.\n";

//  An unsigned option in [low, high]; false (after saying so) otherwise.
static bool
s_uint_arg (const char *name, const char *text, uint64_t low, uint64_t high, uint64_t *value)
{
    char *end;
    unsigned long long v = strtoull (text, &end, 10);
    if (*text == '-' || *text == 0 || *end != 0 || v < low || v > high) {
        fprintf (stderr, "cache_bench: --%s %s: not a whole number in %" PRIu64 "..%" PRIu64 "\n",
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
        { "endpoint", required_argument, NULL, 'e' },
        { "keys", required_argument, NULL, 'n' },
        { "value-size", required_argument, NULL, 'b' },
        { "inflight", required_argument, NULL, 'k' },
        { "connections", required_argument, NULL, 'c' },
        { "duration", required_argument, NULL, 'd' },
        { "requests", required_argument, NULL, 'r' },
        { "prefix", required_argument, NULL, 'p' },
        { "timeout-ms", required_argument, NULL, 't' },
        { "fill", no_argument, NULL, 'f' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    uint64_t v = 0;
    bool duration_set = false;
    int opt;
    while ((opt = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
            case 'e': self->endpoint = optarg; break;
            case 'p': self->prefix = optarg; break;
            case 'f': self->fill = true; break;
            case 'j': self->json = true; break;
            case 'h': fputs (s_usage, stdout); return 1;
            case 'n':
                if (!s_uint_arg ("keys", optarg, 1, 1000000000, &self->keys))
                    return -1;
                break;
            case 'b':
                if (!s_uint_arg ("value-size", optarg, 0, ZO_MAX_FRAME - 4096, &v))
                    return -1;
                self->value_size = (size_t) v;
                break;
            case 'k':
                if (!s_uint_arg ("inflight", optarg, 1, 100000, &v))
                    return -1;
                self->inflight = (uint32_t) v;
                break;
            case 'c':
                if (!s_uint_arg ("connections", optarg, 1, 1000, &v))
                    return -1;
                self->connections = (uint32_t) v;
                break;
            case 'r':
                if (!s_uint_arg ("requests", optarg, 1, UINT64_MAX / 2, &self->requests))
                    return -1;
                break;
            case 't':
                if (!s_uint_arg ("timeout-ms", optarg, 1, 3600000, &v))
                    return -1;
                self->timeout_ns = v * 1000000ull;
                break;
            case 'd': {
                char *end;
                self->duration = strtod (optarg, &end);
                if (*end != 0 || !(self->duration > 0 && self->duration <= 86400)) {
                    fprintf (stderr, "cache_bench: --duration %s: not seconds in (0, 86400]\n", optarg);
                    return -1;
                }
                duration_set = true;
                break;
            }
            default:
                fputs (s_usage, stderr);
                return -1;
        }
    }
    if (optind < argc || !self->endpoint) {
        fputs (s_usage, stderr);
        return -1;
    }
    if (duration_set && self->requests) {
        fprintf (stderr, "cache_bench: --duration and --requests exclude each other\n");
        return -1;
    }
    if (strlen (self->prefix) + 20 > ZO_MAX_KEY) {
        fprintf (stderr, "cache_bench: --prefix is too long (keys are at most %d bytes)\n", ZO_MAX_KEY);
        return -1;
    }
    return 0;
}

static void *
s_connect (void *ctx, const char *endpoint)
{
    void *socket = zmq_socket (ctx, ZMQ_DEALER);
    if (!socket)
        return NULL;
    int hwm = 0, linger = 0;
    zmq_setsockopt (socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect (socket, endpoint) != 0) {
        fprintf (stderr, "cache_bench: connect %s: %s\n", endpoint, zmq_strerror (zmq_errno ()));
        zmq_close (socket);
        return NULL;
    }
    return socket;
}

int
main (int argc, char **argv)
{
    static s_bench_t bench = {
        .prefix = "bench:", .keys = 10000, .value_size = 100, .inflight = 16, .connections = 1,
        .duration = 5, .timeout_ns = 1000000000ull, .rng = 0x9E3779B97F4A7C15ull
    };
    s_bench_t *self = &bench;
    zo_hist_reset (&self->hist);
    int rc = s_parse (self, argc, argv);
    if (rc)
        return rc > 0 ? 0 : 2;
    signal (SIGTERM, s_on_signal);
    signal (SIGINT, s_on_signal);

    rc = 1;
    self->n_slots = (uint64_t) self->connections * self->inflight;
    self->ctx = zmq_ctx_new ();
    self->items = calloc (self->connections, sizeof *self->items);
    self->slots = calloc (self->n_slots, sizeof *self->slots);
    self->value = malloc (self->value_size ? self->value_size : 1);
    self->dec = zo_proto_new ();
    msgpack_sbuffer_init (&self->buf);
    msgpack_packer_init (&self->pk, &self->buf, msgpack_sbuffer_write);
    if (!self->ctx || !self->items || !self->slots || !self->value || !self->dec)
        goto done;
    for (size_t i = 0; i < self->value_size; i++)
        self->value [i] = (char) ('a' + i % 26);
    for (uint32_t c = 0; c < self->connections; c++) {
        self->items [c].socket = s_connect (self->ctx, self->endpoint);
        self->items [c].events = ZMQ_POLLIN;
        if (!self->items [c].socket)
            goto done;
    }
    if (s_ready (self) || (self->fill && s_fill (self)))
        goto done;
    double seconds = s_run (self);
    s_report (self, seconds);
    rc = self->gets ? 0 : 1;
done:
    if (self->items)
        for (uint32_t c = 0; c < self->connections; c++)
            if (self->items [c].socket)
                zmq_close (self->items [c].socket);
    free (self->items);
    free (self->slots);
    free (self->value);
    zo_proto_destroy (&self->dec);
    msgpack_sbuffer_destroy (&self->buf);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    return rc;
}
