/*  zbase: the baseline zorch's benchmarks are measured against. A raw
    libzmq pipeline of the standard workload (tools/bench/WORKLOAD.md):
    a producer, a broker, workers, and back, with msgpack encoded and
    decoded at both ends and nothing else: no queue lanes, no retries, no
    journal, no stats. What zorch costs beyond this is what its features
    cost.

        zbase broker FRONT BACK
        zbase worker BACK [delay_us]
        zbase producer FRONT n=N inflight=K [warmup=W]        closed loop
        zbase producer FRONT rate=R dur=S [warmup=W]          open loop

    Broker: a ROUTER for producers, a ROUTER for workers. A worker says
    READY with its credit; the broker hands each event to a worker with
    credit left (round robin), with the producer's identity in front, and
    each result back to that producer, returning one credit. Events that
    find no credit wait in a FIFO.

    Producer: prints one line,
        RESULT eps=... min_us=... p50_us=... p95_us=... p99_us=... max_us=...
    latency from an event's send time (open loop: its scheduled time) to
    its result, over the measured events (after the warm-up).
*/
#include <inttypes.h>
#include <msgpack.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define CREDIT 1000
#define MAX_WORKERS 64

static volatile sig_atomic_t s_stop;
static void s_on_signal (int sig) { s_stop = 1; }

static uint64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static void *
s_socket (void *ctx, int type, const char *endpoint, bool bind)
{
    void *socket = zmq_socket (ctx, type);
    int hwm = 0, linger = 0;
    zmq_setsockopt (socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    if ((bind ? zmq_bind (socket, endpoint) : zmq_connect (socket, endpoint)) != 0) {
        fprintf (stderr, "zbase: %s %s: %s\n", bind ? "bind" : "connect", endpoint,
                 zmq_strerror (zmq_errno ()));
        exit (1);
    }
    return socket;
}

//  Receives all frames of one message into frames [0..max); returns how
//  many, or -1 (interrupted).
static int
s_recv_all (void *socket, zmq_msg_t *frames, int max, int flags)
{
    int n = 0;
    int more = 1;
    while (more) {
        if (n == max)
            zmq_msg_close (&frames [--n]);
        zmq_msg_init (&frames [n]);
        if (zmq_msg_recv (&frames [n], socket, n ? 0 : flags) < 0) {
            zmq_msg_close (&frames [n]);
            return n ? n : -1;
        }
        more = zmq_msg_more (&frames [n]);
        n++;
    }
    return n;
}

//  ---------------------------------------------------------------------
//  Broker

typedef struct { zmq_msg_t who, event; } s_held_t;

static int
s_broker (const char *front_ep, const char *back_ep)
{
    void *ctx = zmq_ctx_new ();
    void *front = s_socket (ctx, ZMQ_ROUTER, front_ep, true);
    void *back = s_socket (ctx, ZMQ_ROUTER, back_ep, true);
    struct { zmq_msg_t id; int credit; } workers [MAX_WORKERS];
    int n_workers = 0, next = 0;
    size_t cap = 1 << 16, head = 0, count = 0;
    s_held_t *fifo = malloc (cap * sizeof *fifo);
    fprintf (stderr, "BROKER READY\n");
    zmq_pollitem_t items [] = { { back, 0, ZMQ_POLLIN, 0 }, { front, 0, ZMQ_POLLIN, 0 } };
    zmq_msg_t f [4];
    while (!s_stop) {
        //  Take producers' events only while a worker can have them.
        int any_credit = 0;
        for (int i = 0; i < n_workers; i++)
            any_credit |= workers [i].credit > 0;
        items [1].events = any_credit && count == 0 ? ZMQ_POLLIN : 0;
        if (zmq_poll (items, any_credit && count == 0 ? 2 : 1, 100) < 0)
            break;
        if (items [0].revents & ZMQ_POLLIN) {
            //  [worker, READY] or [worker, producer, result]
            while (true) {
                int n = s_recv_all (back, f, 4, ZMQ_DONTWAIT);
                if (n < 0)
                    break;
                int w = 0;
                while (w < n_workers && !(zmq_msg_size (&workers [w].id) == zmq_msg_size (&f [0])
                       && memcmp (zmq_msg_data (&workers [w].id), zmq_msg_data (&f [0]),
                                  zmq_msg_size (&f [0])) == 0))
                    w++;
                if (w == n_workers && n_workers < MAX_WORKERS) {
                    zmq_msg_init (&workers [w].id);
                    zmq_msg_copy (&workers [w].id, &f [0]);
                    workers [w].credit = 0;
                    n_workers++;
                }
                if (n == 2 && w < n_workers)
                    workers [w].credit += CREDIT;
                else
                if (n == 3) {
                    if (w < n_workers)
                        workers [w].credit++;
                    zmq_msg_send (&f [1], front, ZMQ_SNDMORE);
                    zmq_msg_send (&f [2], front, 0);
                }
                for (int i = 0; i < n; i++)
                    zmq_msg_close (&f [i]);
            }
        }
        if (n_workers && (items [1].revents & ZMQ_POLLIN))
            while (count < cap) {
                //  [producer, event] into the FIFO, dispatched below.
                s_held_t *h = &fifo [(head + count) % cap];
                zmq_msg_init (&h->who);
                zmq_msg_init (&h->event);
                if (zmq_msg_recv (&h->who, front, ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close (&h->who);
                    zmq_msg_close (&h->event);
                    break;
                }
                zmq_msg_recv (&h->event, front, 0);
                count++;
            }
        //  Hand out what waits, round robin over workers with credit.
        for (int tries = 0; count && tries < n_workers; ) {
            int w = next++ % n_workers;
            if (workers [w].credit <= 0) {
                tries++;
                continue;
            }
            tries = 0;
            s_held_t *h = &fifo [head];
            zmq_msg_t id;
            zmq_msg_init (&id);
            zmq_msg_copy (&id, &workers [w].id);
            zmq_msg_send (&id, back, ZMQ_SNDMORE);
            zmq_msg_send (&h->who, back, ZMQ_SNDMORE);
            zmq_msg_send (&h->event, back, 0);
            workers [w].credit--;
            head = (head + 1) % cap;
            count--;
        }
    }
    for (int i = 0; i < n_workers; i++)
        zmq_msg_close (&workers [i].id);
    free (fifo);
    zmq_close (front);
    zmq_close (back);
    zmq_ctx_term (ctx);
    return 0;
}

//  ---------------------------------------------------------------------
//  Worker

//  The event's id (a str value under key "id"), decoded with the rest.
static bool
s_event_id (const msgpack_object *obj, const char **id, uint32_t *len)
{
    if (obj->type != MSGPACK_OBJECT_MAP)
        return false;
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object_kv *kv = &obj->via.map.ptr [i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 2
        &&  memcmp (kv->key.via.str.ptr, "id", 2) == 0 && kv->val.type == MSGPACK_OBJECT_STR) {
            *id = kv->val.via.str.ptr;
            *len = kv->val.via.str.size;
            return true;
        }
    }
    return false;
}

typedef struct { uint64_t due_ns, start_ns; zmq_msg_t who; char id [64]; uint32_t id_len; } s_job_t;

static void
s_reply (void *socket, zmq_msg_t *who, const char *id, uint32_t id_len, uint64_t start_ns,
         msgpack_sbuffer *sbuf)
{
    msgpack_sbuffer_clear (sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    msgpack_pack_str_with_body (&pk, "id", 2);
    msgpack_pack_str_with_body (&pk, id, id_len);
    msgpack_pack_str_with_body (&pk, "ok", 2);
    msgpack_pack_true (&pk);
    msgpack_pack_str_with_body (&pk, "took_ns", 7);
    msgpack_pack_uint64 (&pk, s_now_ns () - start_ns);
    zmq_msg_send (who, socket, ZMQ_SNDMORE);
    zmq_send (socket, sbuf->data, sbuf->size, 0);
}

static int
s_worker (const char *back_ep, uint64_t delay_us)
{
    void *ctx = zmq_ctx_new ();
    void *back = s_socket (ctx, ZMQ_DEALER, back_ep, false);
    zmq_send (back, "READY", 5, 0);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_unpacked up;
    msgpack_unpacked_init (&up);
    //  With a delay, every event waits the same: a FIFO is in due order.
    size_t cap = CREDIT * 2, head = 0, count = 0;
    s_job_t *jobs = calloc (cap, sizeof *jobs);
    zmq_pollitem_t item = { back, 0, ZMQ_POLLIN, 0 };
    while (!s_stop) {
        long timeout = 100;
        if (count) {
            uint64_t now = s_now_ns ();
            //  Rounded up: zmq_poll takes milliseconds, and waking early
            //  would spin.
            timeout = jobs [head].due_ns > now
                    ? (long) ((jobs [head].due_ns - now + 999999) / 1000000) : 0;
        }
        if (zmq_poll (&item, 1, timeout) < 0)
            break;
        uint64_t now = s_now_ns ();
        while (count && jobs [head].due_ns <= now) {
            s_job_t *job = &jobs [head];
            s_reply (back, &job->who, job->id, job->id_len, job->start_ns, &sbuf);
            zmq_msg_close (&job->who);
            head = (head + 1) % cap;
            count--;
        }
        while (item.revents & ZMQ_POLLIN) {
            zmq_msg_t f [3];
            int n = s_recv_all (back, f, 3, ZMQ_DONTWAIT);
            if (n < 0)
                break;
            uint64_t start = s_now_ns ();
            const char *id;
            uint32_t id_len;
            if (n == 2
            &&  msgpack_unpack_next (&up, zmq_msg_data (&f [1]), zmq_msg_size (&f [1]), NULL)
                == MSGPACK_UNPACK_SUCCESS
            &&  s_event_id (&up.data, &id, &id_len) && id_len < 64) {
                if (!delay_us)
                    s_reply (back, &f [0], id, id_len, start, &sbuf);
                else
                if (count < cap) {
                    s_job_t *job = &jobs [(head + count++) % cap];
                    job->due_ns = start + delay_us * 1000;
                    job->start_ns = start;
                    memcpy (job->id, id, id_len);
                    job->id_len = id_len;
                    zmq_msg_init (&job->who);
                    zmq_msg_move (&job->who, &f [0]);
                }
            }
            for (int i = 0; i < n; i++)
                zmq_msg_close (&f [i]);
        }
    }
    free (jobs);
    msgpack_unpacked_destroy (&up);
    msgpack_sbuffer_destroy (&sbuf);
    zmq_close (back);
    zmq_ctx_term (ctx);
    return 0;
}

//  ---------------------------------------------------------------------
//  Producer

//  The standard event (WORKLOAD.md): id, type, source, ts_ns and a
//  payload of ten string fields, ~250 bytes in all. The payload is the
//  same for every event: packed once, copied after each event's own keys.
static void
s_event (msgpack_sbuffer *sbuf, uint64_t seq, uint64_t ts_ns)
{
    static msgpack_sbuffer payload;
    if (!payload.data) {
        static const char *fields [10] = { "ref", "before", "after", "repository", "pusher",
                                           "sender", "compare", "head_commit", "base_ref",
                                           "created" };
        msgpack_sbuffer_init (&payload);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &payload, msgpack_sbuffer_write);
        msgpack_pack_map (&pk, 10);
        for (int i = 0; i < 10; i++) {
            char value [24];
            snprintf (value, sizeof value, "value-%02d-0123456789", i);
            msgpack_pack_str_with_body (&pk, fields [i], strlen (fields [i]));
            msgpack_pack_str_with_body (&pk, value, strlen (value));
        }
    }
    char id [17];
    snprintf (id, sizeof id, "ev%014" PRIu64, seq);
    msgpack_sbuffer_clear (sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 5);
    msgpack_pack_str_with_body (&pk, "id", 2);
    msgpack_pack_str_with_body (&pk, id, 16);
    msgpack_pack_str_with_body (&pk, "type", 4);
    msgpack_pack_str_with_body (&pk, "github.push", 11);
    msgpack_pack_str_with_body (&pk, "source", 6);
    msgpack_pack_str_with_body (&pk, "github", 6);
    msgpack_pack_str_with_body (&pk, "ts_ns", 5);
    msgpack_pack_uint64 (&pk, ts_ns);
    msgpack_pack_str_with_body (&pk, "payload", 7);
    msgpack_sbuffer_write (sbuf, payload.data, payload.size);
}

static const char *
s_kv (int argc, char **argv, const char *key)
{
    size_t len = strlen (key);
    for (int i = 0; i < argc; i++)
        if (strncmp (argv [i], key, len) == 0 && argv [i] [len] == '=')
            return argv [i] + len + 1;
    return NULL;
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static int
s_producer (const char *front_ep, int argc, char **argv)
{
    const char *v;
    double rate = (v = s_kv (argc, argv, "rate")) ? atof (v) : 0;
    double dur = (v = s_kv (argc, argv, "dur")) ? atof (v) : 10;
    uint64_t warmup = (v = s_kv (argc, argv, "warmup")) ? strtoull (v, NULL, 10) : 2000;
    uint64_t inflight = (v = s_kv (argc, argv, "inflight")) ? strtoull (v, NULL, 10) : 1000;
    uint64_t measured = rate > 0 ? (uint64_t) (rate * dur)
                      : (v = s_kv (argc, argv, "n")) ? strtoull (v, NULL, 10) : 200000;
    uint64_t total = warmup + measured;
    uint64_t *sent_ns = calloc (total, sizeof *sent_ns);
    double *lat_us = calloc (measured ? measured : 1, sizeof *lat_us);
    void *ctx = zmq_ctx_new ();
    void *front = s_socket (ctx, ZMQ_DEALER, front_ep, false);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_unpacked up;
    msgpack_unpacked_init (&up);
    uint64_t sent = 0, got = 0, n_lat = 0, t_first = 0, t_last = 0;
    uint64_t start = s_now_ns ();
    zmq_pollitem_t item = { front, 0, ZMQ_POLLIN, 0 };
    while (got < total && !s_stop) {
        uint64_t now = s_now_ns ();
        //  Send what the window (closed loop) or the clock (open loop) allows.
        while (sent < total) {
            uint64_t due = now;
            if (rate > 0) {
                //  The warm-up goes at once; the measured part on schedule.
                if (sent >= warmup) {
                    if (sent == warmup && !t_first)
                        t_first = now;
                    due = t_first + (uint64_t) ((double) (sent - warmup) * 1e9 / rate);
                    if (due > now)
                        break;
                }
                else
                if (sent - got >= inflight)
                    break;
            }
            else
            if (sent - got >= inflight)
                break;
            sent_ns [sent] = rate > 0 && sent >= warmup ? due : now;
            s_event (&sbuf, sent, sent_ns [sent]);
            zmq_send (front, sbuf.data, sbuf.size, 0);
            sent++;
        }
        long timeout = 100;
        if (rate > 0 && sent < total && sent >= warmup) {
            uint64_t due = t_first + (uint64_t) ((double) (sent - warmup) * 1e9 / rate);
            //  Rounded up to zmq_poll's milliseconds: events go in slices of
            //  up to 1 ms, late by as much, which their latency counts
            //  (zorch bench paces the same way: --pace-slack 1000).
            timeout = due > now ? (long) ((due - now + 999999) / 1000000) : 0;
        }
        if (zmq_poll (&item, 1, timeout) < 0)
            break;
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        while (zmq_msg_recv (&msg, front, ZMQ_DONTWAIT) >= 0) {
            uint64_t at = s_now_ns ();
            const char *id;
            uint32_t id_len;
            if (msgpack_unpack_next (&up, zmq_msg_data (&msg), zmq_msg_size (&msg), NULL)
                == MSGPACK_UNPACK_SUCCESS
            &&  s_event_id (&up.data, &id, &id_len) && id_len == 16) {
                uint64_t seq = strtoull (id + 2, NULL, 10);
                if (seq < total) {
                    if (seq >= warmup && n_lat < measured) {
                        if (!t_first)
                            t_first = sent_ns [seq];
                        lat_us [n_lat++] = (double) (at - sent_ns [seq]) / 1000.0;
                    }
                    t_last = at;
                }
            }
            got++;
        }
        zmq_msg_close (&msg);
        if (s_now_ns () - start > 120ull * 1000000000ull)
            break;                      //  a run that cannot finish
    }
    qsort (lat_us, n_lat, sizeof *lat_us, s_cmp);
    double secs = t_last > t_first ? (double) (t_last - t_first) / 1e9 : 0;
#define P(q) (n_lat ? lat_us [(size_t) ((double) (n_lat - 1) * (q))] : 0)
    printf ("RESULT eps=%.0f min_us=%.1f p50_us=%.1f p95_us=%.1f p99_us=%.1f max_us=%.1f "
            "measured=%" PRIu64 " lost=%" PRIu64 "\n",
            secs > 0 ? (double) n_lat / secs : 0, P (0), P (0.50), P (0.95), P (0.99), P (1),
            n_lat, total - got);
    free (sent_ns);
    free (lat_us);
    msgpack_unpacked_destroy (&up);
    msgpack_sbuffer_destroy (&sbuf);
    zmq_close (front);
    zmq_ctx_term (ctx);
    return got == total ? 0 : 1;
}

int
main (int argc, char **argv)
{
    signal (SIGTERM, s_on_signal);
    signal (SIGINT, s_on_signal);
    if (argc >= 4 && strcmp (argv [1], "broker") == 0)
        return s_broker (argv [2], argv [3]);
    if (argc >= 3 && strcmp (argv [1], "worker") == 0)
        return s_worker (argv [2], argc > 3 ? strtoull (argv [3], NULL, 10) : 0);
    if (argc >= 3 && strcmp (argv [1], "producer") == 0)
        return s_producer (argv [2], argc - 3, argv + 3);
    fprintf (stderr, "usage: zbase broker FRONT BACK | worker BACK [delay_us] |\n"
                     "       producer FRONT [n=N inflight=K | rate=R dur=S] [warmup=W]\n");
    return 2;
}
