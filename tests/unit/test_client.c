/*  A producer's conversation with the real zorch-broker ($ZORCH_BROKER_BIN)
    through zo_rpc, as zorch inject, dlq, bench and up hold it (this was
    tools/zo_client's test; the tools now use zo_rpc). The broker runs in a
    child process on 127.0.0.1 tcp ports of this test's own (17600 + 10 *
    test number) with a temporary data dir. Where a worker is needed, the
    test plays one on the back socket (READY / DISPATCH / DONE).  */
#include <criterion/criterion.h>
#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zo_json.h"
#include "zo_rpc.h"

/*  What a reply said, copied out of the callback (replies are borrowed).  */
typedef struct {
    int calls;
    zo_rpc_status_t status;
    uint64_t id;
    zo_cmd_t cmd;
    uint64_t seq;
    uint32_t accepted, duplicates, total, n_dead, count;
    char code [ZO_MAX_CODE + 1];
    char dead_id [ZO_MAX_ID + 1];
    char dead_error [64];
    uint64_t dead_failed_ms;
} s_rec_t;

/*  RESULTs, as they come (messages without seq).  */
typedef struct {
    int n;
    char id [8][ZO_MAX_ID + 1];
    bool ok [8];
    uint32_t attempts [8];
    char error [8][64];
    json_t *result [8];
    int others;                 /* other messages without seq */
    zo_cmd_t other_cmd;
    char other_code [ZO_MAX_CODE + 1];
} s_results_t;

typedef struct {
    pid_t pid;
    char dir [64];
    char front [64];
    char back [64];
    void *ctx;
    zo_loop_t *loop;
    zo_rpc_t *rpc;
    s_results_t results;
} s_broker_t;

static void
s_copy (char *dst, size_t cap, zo_span_t span)
{
    size_t n = span.len < cap - 1 ? span.len : cap - 1;
    if (n)
        memcpy (dst, span.ptr, n);
    dst [n] = 0;
}

static void
s_record (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
    s_rec_t *rec = arg;
    memset (rec, 0, sizeof *rec);
    rec->calls = 1;
    rec->status = reply->status;
    rec->id = reply->id;
    rec->cmd = ZO_CMD_INVALID;
    const zo_msg_t *m = reply->msg;
    if (!m)
        return;
    rec->cmd = m->cmd;
    rec->seq = m->seq;
    rec->accepted = m->accepted;
    rec->duplicates = m->duplicates;
    rec->total = m->total;
    rec->n_dead = m->n_dead;
    rec->count = m->count;
    s_copy (rec->code, sizeof rec->code, m->code);
    if (m->n_dead > 0) {
        s_copy (rec->dead_id, sizeof rec->dead_id, m->dead [0].event.id);
        s_copy (rec->dead_error, sizeof rec->dead_error, m->dead [0].error);
        rec->dead_failed_ms = m->dead [0].failed_ms;
    }
}

static void
s_on_results (zo_rpc_t *rpc, const zo_msg_t *msg, void *arg)
{
    s_results_t *res = arg;
    if (msg->cmd != ZO_CMD_RESULT) {
        res->others++;
        res->other_cmd = msg->cmd;
        s_copy (res->other_code, sizeof res->other_code, msg->code);
        return;
    }
    for (uint32_t k = 0; k < msg->n_results && res->n < 8; k++) {
        const zo_result_t *r = &msg->results_ [k];
        int i = res->n++;
        s_copy (res->id [i], sizeof res->id [i], r->id);
        res->ok [i] = r->ok;
        res->attempts [i] = r->attempts;
        s_copy (res->error [i], sizeof res->error [i], r->error);
        res->result [i] = r->result.len ? zo_json_from_span (r->result) : NULL;
    }
}

/*  Sends req and waits up to timeout_ms for its reply (zo_rpc_call).  */
static int
s_ask (s_broker_t *b, zo_msg_t *req, uint32_t timeout_ms, s_rec_t *rec)
{
    memset (rec, 0, sizeof *rec);
    return zo_rpc_call (b->rpc, req, timeout_ms, s_record, rec);
}

static int
s_on_enough (zo_loop_t *loop, int id, void *arg)
{
    return -1;
}

static int
s_check (zo_loop_t *loop, int id, void *arg)
{
    bool (*done) (s_broker_t *) = ((void **) arg) [0];
    return done (((void **) arg) [1]) ? -1 : 0;
}

/*  Runs the broker's loop until done (checked every 5 ms) or ms passed.  */
static void
s_run_until (s_broker_t *b, bool (*done) (s_broker_t *), uint64_t ms)
{
    void *args [2] = { (void *) done, b };
    if (done (b))
        return;
    int timer = zo_loop_timer (b->loop, ms, s_on_enough, NULL);
    int check = zo_loop_ticker (b->loop, 5, s_check, args);
    zo_loop_run (b->loop);
    zo_loop_cancel (b->loop, timer);
    zo_loop_cancel (b->loop, check);
}

static void
s_broker_start (s_broker_t *b, int port)
{
    memset (b, 0, sizeof *b);
    const char *bin = getenv ("ZORCH_BROKER_BIN");
    cr_assert_not_null (bin, "ZORCH_BROKER_BIN is set by meson");
    snprintf (b->dir, sizeof b->dir, "/tmp/zorch-test-client-XXXXXX");
    cr_assert_not_null (mkdtemp (b->dir));
    snprintf (b->front, sizeof b->front, "tcp://127.0.0.1:%d", port);
    snprintf (b->back, sizeof b->back, "tcp://127.0.0.1:%d", port + 1);
    char stats [64];
    snprintf (stats, sizeof stats, "tcp://127.0.0.1:%d", port + 2);
    b->pid = fork ();
    cr_assert_geq (b->pid, 0);
    if (b->pid == 0) {
        //  A failed assertion ends the test process without s_broker_stop:
        //  the broker must not outlive it (it would hold the ports).
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        execl (bin, bin, "--broker-front", b->front, "--broker-back", b->back,
               "--broker-data-dir", b->dir, "--stats-endpoint", stats,
               "--log-level", "warning", (char *) NULL);
        _exit (127);
    }
    b->ctx = zmq_ctx_new ();
    b->loop = zo_loop_new ();
    cr_assert_not_null (b->loop);
    b->rpc = zo_rpc_new (b->loop, b->ctx, b->front,
                         &(zo_rpc_opts_t) { .name = "producer", .max_frame = 64 * ZO_MAX_FRAME });
    cr_assert_not_null (b->rpc);
    zo_rpc_on_message (b->rpc, s_on_results, &b->results);
    //  Ready when it answers PING.
    for (int i = 0; i < 100; i++)
        if (zo_rpc_ping (b->rpc, 100) == 0)
            return;
    cr_assert_fail ("the broker never answered PING at %s", b->front);
}

static void
s_broker_stop (s_broker_t *b)
{
    zo_rpc_destroy (&b->rpc);
    zo_loop_destroy (&b->loop);
    if (b->ctx)
        zmq_ctx_term (b->ctx);
    for (int i = 0; i < b->results.n; i++)
        json_decref (b->results.result [i]);
    if (b->pid > 0) {
        kill (b->pid, SIGKILL);
        waitpid (b->pid, NULL, 0);
    }
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    if (system (cmd))
        cr_log_warn ("could not remove %s", b->dir);
}

static uint64_t
s_submit (s_broker_t *b, zo_event_t *events, uint32_t n, bool results, s_rec_t *rec)
{
    memset (rec, 0, sizeof *rec);
    zo_msg_t msg = { .cmd = ZO_CMD_SUBMIT, .events = events, .n_events = n, .results = results };
    uint64_t id = zo_rpc_request (b->rpc, &msg, 3000, s_record, rec);
    cr_assert_gt (id, 0, "SUBMIT not sent: %s", strerror (errno));
    return id;
}

static s_rec_t *s_wait_rec;
static bool
s_replied (s_broker_t *b)
{
    return s_wait_rec->calls > 0;
}

/*  Runs the loop until rec got its reply (at most 3 s).  */
static void
s_wait (s_broker_t *b, s_rec_t *rec)
{
    s_wait_rec = rec;
    s_run_until (b, s_replied, 3000);
    cr_assert_eq (rec->calls, 1, "no reply came");
}

/*  Encodes one event map for SUBMIT (raw form).  */
static void
s_event (msgpack_sbuffer *buf, const char *id, const char *type, const char *payload_json)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, payload_json ? 3 : 2);
    msgpack_pack_str_with_body (&pk, "id", 2);
    msgpack_pack_str_with_body (&pk, id, strlen (id));
    msgpack_pack_str_with_body (&pk, "type", 4);
    msgpack_pack_str_with_body (&pk, type, strlen (type));
    if (payload_json) {
        json_t *json = json_loads (payload_json, JSON_DECODE_ANY, NULL);
        cr_assert_not_null (json);
        msgpack_pack_str_with_body (&pk, "payload", 7);
        cr_assert_eq (zo_json_pack (&pk, json), 0);
        json_decref (json);
    }
}

/*  A worker played by the test: a DEALER on the back socket.  */
typedef struct {
    void *ctx;
    void *sock;
    zo_proto_t *dec;
    zmq_msg_t frame;
} s_worker_t;

static void
s_worker_send (s_worker_t *w, const zo_msg_t *msg)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    zo_proto_encode (&pk, msg);
    cr_assert_eq (zmq_send (w->sock, buf.data, buf.size, 0), (int) buf.size);
    msgpack_sbuffer_destroy (&buf);
}

static void
s_worker_start (s_worker_t *w, const char *back)
{
    w->ctx = zmq_ctx_new ();
    w->sock = zmq_socket (w->ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (w->sock, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq (zmq_connect (w->sock, back), 0);
    w->dec = zo_proto_new ();
    zmq_msg_init (&w->frame);
    zo_msg_t ready = { .cmd = ZO_CMD_READY, .name = zo_span_str ("test-worker"),
                       .capacity = 10, .credit = 10 };
    s_worker_send (w, &ready);
}

/*  Receives until a DISPATCH comes (heartbeats are skipped).  */
static void
s_worker_dispatch (s_worker_t *w, zo_msg_t *msg)
{
    int64_t deadline = zclock_mono () + 5000;
    while (zclock_mono () < deadline) {
        zmq_pollitem_t item = { w->sock, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 200) <= 0)
            continue;
        zmq_msg_close (&w->frame);
        zmq_msg_init (&w->frame);
        cr_assert_geq (zmq_msg_recv (&w->frame, w->sock, 0), 0);
        cr_assert_eq (zo_proto_decode (w->dec, zmq_msg_data (&w->frame),
                                       zmq_msg_size (&w->frame), msg), 0);
        if (msg->cmd == ZO_CMD_DISPATCH)
            return;
    }
    cr_assert_fail ("no DISPATCH came");
}

static void
s_worker_stop (s_worker_t *w)
{
    zmq_msg_close (&w->frame);
    zo_proto_destroy (&w->dec);
    zmq_close (w->sock);
    zmq_ctx_term (w->ctx);
}

/*  ---------------------------------------------------------------------  */

Test (client, ping_and_no_broker)
{
    s_broker_t b;
    s_broker_start (&b, 17600);
    cr_assert_eq (zo_rpc_ping (b.rpc, 2000), 0);
    s_broker_stop (&b);

    //  Nobody there: the request times out by its deadline.
    void *ctx = zmq_ctx_new ();
    zo_loop_t *loop = zo_loop_new ();
    zo_rpc_t *rpc = zo_rpc_new (loop, ctx, "tcp://127.0.0.1:17609", NULL);
    cr_assert_not_null (rpc);
    zo_msg_t ping = { .cmd = ZO_CMD_PING };
    s_rec_t rec = { 0 };
    int64_t t0 = zclock_mono ();
    cr_assert_eq (zo_rpc_call (rpc, &ping, 200, s_record, &rec), ZO_RPC_TIMEOUT);
    int64_t took = zclock_mono () - t0;
    cr_assert (took >= 190 && took < 2000, "took %d ms", (int) took);
    cr_assert_eq (rec.status, ZO_RPC_TIMEOUT);
    cr_assert_eq (zo_rpc_counts (rpc).timeouts, 1);
    cr_assert_str_eq (zo_rpc_endpoint (rpc), "tcp://127.0.0.1:17609");
    zo_rpc_destroy (&rpc);
    cr_assert_null (rpc);
    zo_rpc_destroy (&rpc);   /* harmless */
    zo_loop_destroy (&loop);
    zmq_ctx_term (ctx);
}

Test (client, bad_endpoint)
{
    void *ctx = zmq_ctx_new ();
    zo_loop_t *loop = zo_loop_new ();
    cr_assert_null (zo_rpc_new (loop, ctx, "nonsense://x", NULL));
    zo_loop_destroy (&loop);
    zmq_ctx_term (ctx);
}

Test (client, submit_ack_and_duplicates)
{
    s_broker_t b;
    s_broker_start (&b, 17610);
    msgpack_sbuffer bufs [3];
    zo_event_t events [3];
    const char *ids [] = { "c-1", "c-2", "c-3" };
    for (int i = 0; i < 3; i++) {
        msgpack_sbuffer_init (&bufs [i]);
        s_event (&bufs [i], ids [i], "test.client", "{\"n\": 1}");
        events [i] = (zo_event_t) { .raw = { (const uint8_t *) bufs [i].data,
                                             (uint32_t) bufs [i].size } };
    }
    s_rec_t rec;
    uint64_t seq1 = s_submit (&b, events, 3, false, &rec);
    s_wait (&b, &rec);
    cr_assert_eq (rec.status, ZO_RPC_OK);
    cr_assert_eq (rec.cmd, ZO_CMD_ACK, "got %s", zo_cmd_name (rec.cmd));
    cr_assert_eq (rec.seq, seq1);
    cr_assert_eq (rec.accepted, 3);
    cr_assert_eq (rec.duplicates, 0);

    //  The same ids again: acknowledged as duplicates. Seqs differ.
    uint64_t seq2 = s_submit (&b, events, 2, false, &rec);
    cr_assert_neq (seq2, seq1);
    s_wait (&b, &rec);
    cr_assert_eq (rec.cmd, ZO_CMD_ACK);
    cr_assert_eq (rec.seq, seq2);
    cr_assert_eq (rec.accepted, 0);
    cr_assert_eq (rec.duplicates, 2);
    for (int i = 0; i < 3; i++)
        msgpack_sbuffer_destroy (&bufs [i]);
    s_broker_stop (&b);
}

static bool
s_other_came (s_broker_t *b)
{
    return b->results.others > 0;
}

Test (client, bad_message_gets_error_with_seq)
{
    s_broker_t b;
    s_broker_start (&b, 17620);
    //  An event without a type: the whole SUBMIT is refused with ERROR.
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 1);
    msgpack_pack_str_with_body (&pk, "id", 2);
    msgpack_pack_str_with_body (&pk, "x", 1);
    zo_event_t ev = { .raw = { (const uint8_t *) buf.data, (uint32_t) buf.size } };
    s_rec_t rec;
    uint64_t seq = s_submit (&b, &ev, 1, false, &rec);
    s_wait (&b, &rec);
    cr_assert_eq (rec.cmd, ZO_CMD_ERROR, "got %s", zo_cmd_name (rec.cmd));
    cr_assert_eq (rec.seq, seq);
    cr_assert_str_eq (rec.code, "missing_field");
    msgpack_sbuffer_destroy (&buf);

    //  A frame that is not msgpack at all: ERROR without seq, which the
    //  client hands to its message callback (no request to end).
    cr_assert_eq (zmq_send (zo_rpc_socket (b.rpc), "\xc1garbage", 8, 0), 8);
    s_run_until (&b, s_other_came, 3000);
    cr_assert_eq (b.results.others, 1);
    cr_assert_eq (b.results.other_cmd, ZO_CMD_ERROR);
    cr_assert_str_eq (b.results.other_code, "bad_msgpack");
    cr_assert_eq (zo_rpc_ping (b.rpc, 2000), 0, "the broker is still fine");
    cr_assert_eq (zo_rpc_counts (b.rpc).errors, 0);
    s_broker_stop (&b);
}

static bool
s_one_result (s_broker_t *b)
{
    return b->results.n >= 1;
}

Test (client, result_comes_back_with_the_payload)
{
    s_broker_t b;
    s_broker_start (&b, 17630);
    s_worker_t w;
    s_worker_start (&w, b.back);

    const char *payload = "{\"ref\":\"refs/heads/main\",\"list\":[1,2,{\"x\":null}],\"u\":\"\\u00e9\"}";
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    s_event (&buf, "r-1", "github.push", payload);
    zo_event_t ev = { .raw = { (const uint8_t *) buf.data, (uint32_t) buf.size } };
    s_rec_t rec;
    uint64_t seq = s_submit (&b, &ev, 1, true, &rec);

    //  The worker gets it and echoes the payload.
    zo_msg_t d;
    s_worker_dispatch (&w, &d);
    cr_assert_eq (d.n_items, 1);
    cr_assert (zo_span_eq (d.items [0].event.id, "r-1"));
    cr_assert_eq (d.items [0].attempt, 1);
    zo_result_t r = { .id = d.items [0].event.id, .ok = true,
                      .result = d.items [0].event.payload, .took_ns = 1000 };
    zo_msg_t done = { .cmd = ZO_CMD_DONE, .results_ = &r, .n_results = 1, .credit = 1 };
    s_worker_send (&w, &done);

    //  The client sees ACK (its request's reply) and RESULT (a message).
    s_wait (&b, &rec);
    cr_assert_eq (rec.cmd, ZO_CMD_ACK);
    cr_assert_eq (rec.seq, seq);
    s_run_until (&b, s_one_result, 3000);
    cr_assert_eq (b.results.n, 1);
    cr_assert_str_eq (b.results.id [0], "r-1");
    cr_assert (b.results.ok [0]);
    cr_assert_eq (b.results.attempts [0], 1);
    json_t *want = json_loads (payload, 0, NULL);
    cr_assert (json_equal (b.results.result [0], want));
    json_decref (want);
    msgpack_sbuffer_destroy (&buf);
    s_worker_stop (&w);
    s_broker_stop (&b);
}

Test (client, dead_letters_list_replay_purge)
{
    s_broker_t b;
    s_broker_start (&b, 17640);
    s_worker_t w;
    s_worker_start (&w, b.back);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    s_event (&buf, "dead-1", "test.fail", "{\"k\":1}");
    zo_event_t ev = { .raw = { (const uint8_t *) buf.data, (uint32_t) buf.size } };
    s_rec_t rec;
    s_submit (&b, &ev, 1, true, &rec);
    zo_msg_t d;
    s_worker_dispatch (&w, &d);
    zo_result_t r = { .id = d.items [0].event.id, .ok = false, .final = true,
                      .error = zo_span_str ("boom") };
    zo_msg_t done = { .cmd = ZO_CMD_DONE, .results_ = &r, .n_results = 1, .credit = 1 };
    s_worker_send (&w, &done);

    //  Its RESULT says it failed.
    s_run_until (&b, s_one_result, 3000);
    cr_assert_eq (b.results.n, 1);
    cr_assert_not (b.results.ok [0]);
    cr_assert_str_eq (b.results.error [0], "boom");

    zo_msg_t list = { .cmd = ZO_CMD_DLQ_LIST, .limit = 10 };
    cr_assert_eq (s_ask (&b, &list, 3000, &rec), ZO_RPC_OK);
    cr_assert_eq (rec.cmd, ZO_CMD_DLQ_ITEMS);
    cr_assert_eq (rec.seq, list.seq);
    cr_assert_eq (rec.total, 1);
    cr_assert_eq (rec.n_dead, 1);
    cr_assert_str_eq (rec.dead_id, "dead-1");
    cr_assert_str_eq (rec.dead_error, "boom");
    cr_assert_gt (rec.dead_failed_ms, 0);

    zo_span_t ids [] = { zo_span_str ("dead-1"), zo_span_str ("no-such") };
    zo_msg_t purge = { .cmd = ZO_CMD_DLQ_PURGE, .ids = ids, .n_ids = 2 };
    cr_assert_eq (s_ask (&b, &purge, 3000, &rec), ZO_RPC_OK);
    cr_assert_eq (rec.cmd, ZO_CMD_DLQ_DONE);
    cr_assert_eq (rec.count, 1);
    cr_assert_eq (s_ask (&b, &list, 3000, &rec), ZO_RPC_OK);
    cr_assert_eq (rec.total, 0);
    msgpack_sbuffer_destroy (&buf);
    s_worker_stop (&w);
    s_broker_stop (&b);
}

static int s_acks;

static void
s_on_ack (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
    if (reply->status == ZO_RPC_OK && reply->msg->cmd == ZO_CMD_ACK)
        s_acks += (int) reply->msg->accepted;

}

static bool
s_all_acked (s_broker_t *b)
{
    return zo_rpc_pending (b->rpc) == 0;
}

Test (client, many_batches_in_flight)
{
    s_broker_t b;
    s_broker_start (&b, 17650);
    zo_rpc_counts_t c0 = zo_rpc_counts (b.rpc);    //  the PINGs of the start
    enum { BATCHES = 50, PER = 100 };
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    zo_event_t events [PER];
    size_t offsets [PER + 1];
    for (int k = 0; k < BATCHES; k++) {
        msgpack_sbuffer_clear (&buf);
        for (int i = 0; i < PER; i++) {
            char id [32];
            snprintf (id, sizeof id, "m-%d-%d", k, i);
            offsets [i] = buf.size;
            s_event (&buf, id, "test.many", NULL);
        }
        offsets [PER] = buf.size;
        for (int i = 0; i < PER; i++)
            events [i] = (zo_event_t) { .raw = { (const uint8_t *) buf.data + offsets [i],
                                                 (uint32_t) (offsets [i + 1] - offsets [i]) } };
        zo_msg_t msg = { .cmd = ZO_CMD_SUBMIT, .events = events, .n_events = PER };
        cr_assert_gt (zo_rpc_request (b.rpc, &msg, 5000, s_on_ack, NULL), 0);
    }
    cr_assert_eq (zo_rpc_pending (b.rpc), BATCHES);
    s_run_until (&b, s_all_acked, 5000);
    cr_assert_eq (s_acks, BATCHES * PER, "acks %d pending %u", s_acks, zo_rpc_pending (b.rpc));
    zo_rpc_counts_t c = zo_rpc_counts (b.rpc);
    cr_assert_eq (c.requests - c0.requests, BATCHES);
    cr_assert_eq (c.replies - c0.replies, BATCHES);
    cr_assert_eq (c.errors, 0);
    cr_assert_eq (c.timeouts, c0.timeouts);
    msgpack_sbuffer_destroy (&buf);
    s_broker_stop (&b);
}
