/*  Tests of actors/runtime/zo_stats.c: STATS encoding through the
    protocol codec, non-blocking sends, /proc usage, the notes ring and
    the last report's bye.  */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "zo_loop.h"
#include "zo_proto.h"
#include "zo_stats.h"
#include "zo_version.h"

//  Reads a str -> uint map into names/values; returns the entry count.
static int
s_read_counters (zo_span_t span, const char *name, uint64_t *value)
{
    zo_mp_t cur;
    zo_mp_init (&cur, span.ptr, span.len);
    uint32_t n;
    cr_assert_eq (zo_mp_read_map (&cur, &n), 0);
    for (uint32_t i = 0; i < n; i++) {
        zo_span_t key;
        uint64_t v;
        cr_assert_eq (zo_mp_read_str (&cur, &key), 0);
        cr_assert_eq (zo_mp_read_u64 (&cur, &v), 0);
        if (zo_span_eq (key, name))
            *value = v;
    }
    cr_assert_eq (zo_mp_left (&cur), 0);
    return (int) n;
}

Test (stats, encode_decodes_with_the_codec)
{
    zo_stats_t *stats = zo_stats_new ("worker", "worker-test-1");
    cr_assert_not_null (stats);
    uint64_t *events = zo_stats_counter (stats, "events_total");
    cr_assert_eq (zo_stats_counter (stats, "events_total"), events, "stable pointer");
    *events = 12345;
    *zo_stats_counter (stats, "errors_total") = 7;
    double *depth = zo_stats_gauge (stats, "queue_depth");
    *depth = 2.5;
    cr_assert_eq (zo_stats_gauge (stats, "queue_depth"), depth);
    zo_hist_t *latency = zo_stats_hist (stats, "latency_ns");
    cr_assert_eq (zo_stats_hist (stats, "latency_ns"), latency);
    for (uint64_t v = 1000; v < 2000; v++)
        zo_hist_record (latency, v);

    size_t size = 0;
    char *data = zo_stats_encode (stats, 1700000000123ull, 0, &size);
    cr_assert_not_null (data);
    cr_assert_gt (size, 0);

    zo_proto_t *proto = zo_proto_new ();
    zo_msg_t msg;
    cr_assert_eq (zo_proto_decode (proto, data, size, &msg), 0, "%s", zo_proto_errstr (proto));
    cr_assert_eq (msg.cmd, ZO_CMD_STATS);
    cr_assert (zo_span_eq (msg.name, "worker-test-1"));
    cr_assert (zo_span_eq (msg.actor, "worker"));
    cr_assert_eq (msg.pid, (uint64_t) getpid ());
    //  Every report says which build sent it.
    cr_assert (zo_span_eq (msg.version, zo_version_full ()));
    cr_assert (strncmp (zo_version_full (), zo_version, strlen (zo_version)) == 0);
    cr_assert_eq (msg.ts_ms, 1700000000123ull);
    cr_assert_gt (msg.rss_bytes, 0);
    cr_assert_geq (msg.cpu_seconds, 0);

    uint64_t value = 0;
    cr_assert_eq (s_read_counters (msg.counters, "events_total", &value), 3);
    cr_assert_eq (value, 12345);
    s_read_counters (msg.counters, "errors_total", &value);
    cr_assert_eq (value, 7);
    s_read_counters (msg.counters, "stats_dropped_total", &value);
    cr_assert_eq (value, 0);

    zo_mp_t cur;
    zo_mp_init (&cur, msg.gauges.ptr, msg.gauges.len);
    uint32_t n;
    zo_span_t key;
    double gauge;
    cr_assert_eq (zo_mp_read_map (&cur, &n), 0);
    cr_assert_eq (n, 1);
    cr_assert_eq (zo_mp_read_str (&cur, &key), 0);
    cr_assert (zo_span_eq (key, "queue_depth"));
    cr_assert_eq (zo_mp_read_f64 (&cur, &gauge), 0);
    cr_assert_float_eq (gauge, 2.5, 1e-12);

    zo_mp_init (&cur, msg.hists.ptr, msg.hists.len);
    cr_assert_eq (zo_mp_read_map (&cur, &n), 0);
    cr_assert_eq (n, 1);
    cr_assert_eq (zo_mp_read_str (&cur, &key), 0);
    cr_assert (zo_span_eq (key, "latency_ns"));
    zo_hist_t *copy = malloc (sizeof (zo_hist_t));
    zo_hist_reset (copy);
    cr_assert_eq (zo_hist_unpack (copy, &cur), 0);
    cr_assert_eq (memcmp (copy, latency, sizeof (zo_hist_t)), 0);
    free (copy);

    zo_proto_destroy (&proto);
    free (data);
    zo_stats_destroy (&stats);
    cr_assert_null (stats);
    zo_stats_destroy (&stats);
}

Test (stats, send_reaches_a_pull_socket)
{
    void *ctx = zmq_ctx_new ();
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    cr_assert_eq (zmq_bind (pull, "inproc://stats-test"), 0);
    zo_stats_t *stats = zo_stats_new ("broker", "b1");
    cr_assert_eq (zo_stats_send (stats, 1), -1, "not connected");
    cr_assert_eq (*zo_stats_counter (stats, "stats_dropped_total"), 0);
    cr_assert_eq (zo_stats_connect (stats, ctx, "inproc://stats-test"), 0);
    cr_assert_eq (zo_stats_send (stats, 42), 0);
    char buffer [65536];
    int size = zmq_recv (pull, buffer, sizeof (buffer), 0);
    cr_assert_gt (size, 0);
    zo_proto_t *proto = zo_proto_new ();
    zo_msg_t msg;
    cr_assert_eq (zo_proto_decode (proto, buffer, (size_t) size, &msg), 0);
    cr_assert_eq (msg.ts_ms, 42);
    cr_assert (zo_span_eq (msg.name, "b1"));
    zo_proto_destroy (&proto);
    zo_stats_destroy (&stats);
    int linger = 0;
    zmq_setsockopt (pull, ZMQ_LINGER, &linger, sizeof (linger));
    zmq_close (pull);
    zmq_ctx_term (ctx);
}

Test (stats, sends_never_block_and_drops_are_counted)
{
    void *ctx = zmq_ctx_new ();
    zo_stats_t *stats = zo_stats_new ("broker", "b1");
    //  Nobody binds this endpoint: reports queue up to the HWM, then drop.
    cr_assert_eq (zo_stats_connect (stats, ctx, "tcp://127.0.0.1:1"), 0);
    int sent = 0;
    for (int i = 0; i < 100; i++)
        sent += zo_stats_send (stats, (uint64_t) i) == 0;
    uint64_t dropped = *zo_stats_counter (stats, "stats_dropped_total");
    cr_assert_eq ((uint64_t) sent + dropped, 100);
    cr_assert_geq (dropped, 100 - 32);
    zo_stats_destroy (&stats);
    zmq_ctx_term (ctx);
}

Test (stats, bad_endpoint_is_refused)
{
    void *ctx = zmq_ctx_new ();
    zo_stats_t *stats = zo_stats_new ("broker", "b1");
    cr_assert_eq (zo_stats_connect (stats, ctx, "nonsense://x"), -1);
    zo_stats_destroy (&stats);
    zmq_ctx_term (ctx);
}

Test (stats, proc_usage_of_self)
{
    uint64_t rss = 0;
    double cpu = -1;
    //  Burn a little CPU so the count can move.
    volatile uint64_t x = 0;
    for (uint64_t i = 0; i < 20000000; i++)
        x = x + i;
    cr_assert_gt (x, 0);
    cr_assert_eq (zo_proc_usage (0, &rss, &cpu), 0);
    cr_assert_gt (rss, 1024 * 1024);
    cr_assert_lt (rss, 64ull << 30);
    cr_assert_geq (cpu, 0);
    cr_assert_lt (cpu, 3600);
    uint64_t rss2 = 0;
    double cpu2 = -1;
    cr_assert_eq (zo_proc_usage (getpid (), &rss2, &cpu2), 0);
    cr_assert_gt (rss2, 0);
    cr_assert_geq (cpu2, cpu);
    cr_assert_eq (zo_proc_usage (999999999, &rss2, &cpu2), -1);
}

//  Decodes one STATS into *msg with proto (which keeps its arrays).
static void
s_decode (zo_proto_t *proto, const char *data, size_t size, zo_msg_t *msg)
{
    cr_assert_eq (zo_proto_decode (proto, data, size, msg), 0, "%s", zo_proto_errstr (proto));
    cr_assert_eq (msg->cmd, ZO_CMD_STATS);
}

//  Reads a notes array (newest first) into ts/texts; returns the count.
static uint32_t
s_read_notes (zo_span_t span, uint64_t *ts, char texts [][ZO_STATS_NOTE_MAX + 1], uint32_t max)
{
    zo_mp_t cur;
    zo_mp_init (&cur, span.ptr, span.len);
    uint32_t n;
    cr_assert_eq (zo_mp_read_array (&cur, &n), 0, "notes is an array");
    cr_assert_leq (n, max);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t pairs;
        cr_assert_eq (zo_mp_read_map (&cur, &pairs), 0);
        cr_assert_eq (pairs, 2);
        for (uint32_t k = 0; k < pairs; k++) {
            zo_span_t key, text;
            cr_assert_eq (zo_mp_read_str (&cur, &key), 0);
            if (zo_span_eq (key, "ts_ms"))
                cr_assert_eq (zo_mp_read_u64 (&cur, &ts [i]), 0);
            else {
                cr_assert (zo_span_eq (key, "text"));
                cr_assert_eq (zo_mp_read_str (&cur, &text), 0);
                cr_assert_leq (text.len, ZO_STATS_NOTE_MAX);
                memcpy (texts [i], text.ptr, text.len);
                texts [i][text.len] = 0;
            }
        }
    }
    cr_assert_eq (zo_mp_left (&cur), 0);
    return n;
}

Test (stats, notes_newest_first_and_bounded)
{
    zo_stats_t *stats = zo_stats_new ("autoscaler", "a1");
    zo_proto_t *proto = zo_proto_new ();
    zo_msg_t msg;
    size_t size;

    //  No note yet: no notes field at all, and no bye.
    char *data = zo_stats_encode (stats, 1, 0, &size);
    s_decode (proto, data, size, &msg);
    cr_assert_eq (msg.notes.len, 0, "notes only when there are any");
    cr_assert_not (msg.bye);
    free (data);

    uint64_t before = zo_clock_wall_ns () / 1000000u;
    zo_stats_note (stats, "up %d -> %d: load %.2f", 2, 4, 1.31);
    zo_stats_note (stats, "down 4 -> 3");
    uint64_t after = zo_clock_wall_ns () / 1000000u;
    data = zo_stats_encode (stats, 2, 0, &size);
    s_decode (proto, data, size, &msg);
    uint64_t ts [ZO_STATS_NOTES];
    static char texts [ZO_STATS_NOTES][ZO_STATS_NOTE_MAX + 1];
    cr_assert_eq (s_read_notes (msg.notes, ts, texts, ZO_STATS_NOTES), 2);
    cr_assert_str_eq (texts [0], "down 4 -> 3");
    cr_assert_str_eq (texts [1], "up 2 -> 4: load 1.31");
    cr_assert (ts [1] >= before && ts [0] <= after && ts [1] <= ts [0], "wall-clock ms");
    //  The metrics are still where they were.
    uint64_t dropped = 1;
    s_read_counters (msg.counters, "stats_dropped_total", &dropped);
    cr_assert_eq (dropped, 0);
    free (data);

    //  Past the ring: the last 32, newest first.
    for (int i = 0; i < 40; i++)
        zo_stats_note (stats, "note %d", i);
    data = zo_stats_encode (stats, 3, 0, &size);
    s_decode (proto, data, size, &msg);
    cr_assert_eq (s_read_notes (msg.notes, ts, texts, ZO_STATS_NOTES), ZO_STATS_NOTES);
    for (int i = 0; i < ZO_STATS_NOTES; i++) {
        char want [32];
        snprintf (want, sizeof (want), "note %d", 39 - i);
        cr_assert_str_eq (texts [i], want);
    }
    free (data);

    //  A long text is cut at 200 bytes, before a character it would split
    //  ("→" is 3 bytes: 198 + 3 would pass 200).
    char long_text [400];
    memset (long_text, 'x', 198);
    strcpy (long_text + 198, "→→→");
    zo_stats_note (stats, "%s", long_text);
    data = zo_stats_encode (stats, 4, 0, &size);
    s_decode (proto, data, size, &msg);
    s_read_notes (msg.notes, ts, texts, ZO_STATS_NOTES);
    cr_assert_eq (strlen (texts [0]), 198);
    cr_assert_eq (strspn (texts [0], "x"), 198);
    memset (long_text, 'y', 300);
    long_text [300] = 0;
    zo_stats_note (stats, "%s", long_text);
    free (data);
    data = zo_stats_encode (stats, 5, 0, &size);
    s_decode (proto, data, size, &msg);
    s_read_notes (msg.notes, ts, texts, ZO_STATS_NOTES);
    cr_assert_eq (strlen (texts [0]), ZO_STATS_NOTE_MAX);
    cr_assert_eq (strlen (texts [1]), 198);
    free (data);
    zo_proto_destroy (&proto);
    zo_stats_destroy (&stats);
}

Test (stats, bye_is_encoded_in_every_later_report)
{
    zo_stats_t *stats = zo_stats_new ("worker", "w1");
    zo_proto_t *proto = zo_proto_new ();
    zo_msg_t msg;
    size_t size;
    zo_stats_bye (stats);
    char *data = zo_stats_encode (stats, 7, 0, &size);
    s_decode (proto, data, size, &msg);
    cr_assert (msg.bye);
    cr_assert (zo_span_eq (msg.name, "w1"));
    cr_assert_eq (msg.ts_ms, 7);
    free (data);
    //  A GET_STATS reply after it says so too.
    data = zo_stats_encode (stats, 8, 41, &size);
    s_decode (proto, data, size, &msg);
    cr_assert (msg.bye);
    cr_assert_eq (msg.seq, 41);
    free (data);
    zo_proto_destroy (&proto);
    zo_stats_destroy (&stats);
}

//  The last report of zo_actor_fini reaches the monitor's socket, with
//  bye, although the process closes its socket at once after it.
Test (stats, bye_report_leaves_before_the_socket_closes)
{
    void *ctx = zmq_ctx_new ();
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    cr_assert_eq (zmq_bind (pull, "tcp://127.0.0.1:*"), 0);
    char endpoint [64];
    size_t ep_size = sizeof (endpoint);
    zmq_getsockopt (pull, ZMQ_LAST_ENDPOINT, endpoint, &ep_size);
    void *actor_ctx = zmq_ctx_new ();
    zo_stats_t *stats = zo_stats_new ("broker", "b-bye");
    cr_assert_eq (zo_stats_connect (stats, actor_ctx, endpoint), 0);
    zo_stats_note (stats, "draining");
    zo_stats_bye (stats);
    //  Right after the connect, before the connection is up: the report
    //  waits in the socket, which lingers for it.
    cr_assert_eq (zo_stats_send (stats, 9), 0);
    zo_stats_destroy (&stats);
    zmq_ctx_term (actor_ctx);
    char buffer [65536];
    int timeout = 2000;
    zmq_setsockopt (pull, ZMQ_RCVTIMEO, &timeout, sizeof (timeout));
    int size = zmq_recv (pull, buffer, sizeof (buffer), 0);
    cr_assert_gt (size, 0, "the last report was lost");
    zo_proto_t *proto = zo_proto_new ();
    zo_msg_t msg;
    s_decode (proto, buffer, (size_t) size, &msg);
    cr_assert (msg.bye);
    cr_assert_gt (msg.notes.len, 0);
    zo_proto_destroy (&proto);
    int linger = 0;
    zmq_setsockopt (pull, ZMQ_LINGER, &linger, sizeof (linger));
    zmq_close (pull);
    zmq_ctx_term (ctx);
}
