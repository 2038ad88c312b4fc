/*  tools/zo_client against the real zorch-broker ($ZORCH_BROKER_BIN), run
    in a child process on 127.0.0.1 tcp ports of this test's own (17600 +
    10 * test number) with a temporary data dir. Where a worker is needed,
    the test plays one on the back socket (READY / DISPATCH / DONE).  */
#include <criterion/criterion.h>
#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zo_client.h"
#include "zo_json.h"

typedef struct {
    pid_t pid;
    char dir [64];
    char front [64];
    char back [64];
    zo_client_t *client;
} s_broker_t;

static void
s_broker_start (s_broker_t *b, int port)
{
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
        execl (bin, bin, "--broker-front", b->front, "--broker-back", b->back,
               "--broker-data-dir", b->dir, "--stats-endpoint", stats,
               "--log-level", "warning", (char *) NULL);
        _exit (127);
    }
    b->client = zo_client_new (NULL, b->front);
    cr_assert_not_null (b->client);
    //  Ready when it answers PING.
    for (int i = 0; i < 100; i++)
        if (zo_client_ping (b->client, 100) == 0)
            return;
    cr_assert_fail ("the broker never answered PING at %s", b->front);
}

static void
s_broker_stop (s_broker_t *b)
{
    zo_client_destroy (&b->client);
    if (b->pid > 0) {
        kill (b->pid, SIGKILL);
        waitpid (b->pid, NULL, 0);
    }
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    if (system (cmd))
        cr_log_warn ("could not remove %s", b->dir);
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

/*  Waits for the next message on the client, up to timeout_ms.  */
static int
s_next (zo_client_t *client, zo_msg_t *msg, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int rc = zo_client_recv (client, msg);
        if (rc != 0)
            return rc;
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return 0;
        zmq_pollitem_t item = { zo_client_socket (client), 0, ZMQ_POLLIN, 0 };
        zmq_poll (&item, 1, (long) left);
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
    cr_assert_eq (zo_client_ping (b.client, 2000), 0);
    s_broker_stop (&b);

    //  Nobody there: the request times out, with a sentence saying so.
    zo_client_t *client = zo_client_new (NULL, "tcp://127.0.0.1:17609");
    int64_t t0 = zclock_mono ();
    cr_assert_eq (zo_client_ping (client, 200), -1);
    cr_assert_eq (errno, ETIMEDOUT);
    int64_t took = zclock_mono () - t0;
    cr_assert (took >= 190 && took < 2000, "took %d ms", (int) took);
    cr_assert_not_null (strstr (zo_client_errstr (client), "tcp://127.0.0.1:17609"));
    zo_client_destroy (&client);
    cr_assert_null (client);
    zo_client_destroy (&client);   /* harmless */
}

Test (client, bad_endpoint)
{
    cr_assert_null (zo_client_new (NULL, "nonsense://x"));
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
    uint64_t seq1 = zo_client_submit (b.client, events, 3, false);
    cr_assert_gt (seq1, 0);
    zo_msg_t msg;
    cr_assert_eq (s_next (b.client, &msg, 3000), 1);
    cr_assert_eq (msg.cmd, ZO_CMD_ACK, "got %s", zo_cmd_name (msg.cmd));
    cr_assert_eq (msg.seq, seq1);
    cr_assert_eq (msg.accepted, 3);
    cr_assert_eq (msg.duplicates, 0);

    //  The same ids again: acknowledged as duplicates. Seqs increase.
    uint64_t seq2 = zo_client_submit (b.client, events, 2, false);
    cr_assert_gt (seq2, seq1);
    cr_assert_eq (s_next (b.client, &msg, 3000), 1);
    cr_assert_eq (msg.cmd, ZO_CMD_ACK);
    cr_assert_eq (msg.seq, seq2);
    cr_assert_eq (msg.accepted, 0);
    cr_assert_eq (msg.duplicates, 2);
    for (int i = 0; i < 3; i++)
        msgpack_sbuffer_destroy (&bufs [i]);
    s_broker_stop (&b);
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
    uint64_t seq = zo_client_submit (b.client, &ev, 1, false);
    zo_msg_t msg;
    cr_assert_eq (s_next (b.client, &msg, 3000), 1);
    cr_assert_eq (msg.cmd, ZO_CMD_ERROR, "got %s", zo_cmd_name (msg.cmd));
    cr_assert_eq (msg.seq, seq);
    cr_assert (zo_span_eq (msg.code, "missing_field"), "code %.*s", (int) msg.code.len,
               msg.code.ptr);
    msgpack_sbuffer_destroy (&buf);

    //  A frame that is not msgpack at all.
    cr_assert_eq (zmq_send (zo_client_socket (b.client), "\xc1garbage", 8, 0), 8);
    cr_assert_eq (s_next (b.client, &msg, 3000), 1);
    cr_assert_eq (msg.cmd, ZO_CMD_ERROR);
    cr_assert (zo_span_eq (msg.code, "bad_msgpack"));
    //  The broker is still fine.
    cr_assert_eq (zo_client_ping (b.client, 2000), 0);
    s_broker_stop (&b);
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
    uint64_t seq = zo_client_submit (b.client, &ev, 1, true);
    cr_assert_gt (seq, 0);

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

    //  The client sees ACK and RESULT (in either order).
    bool acked = false, result = false;
    while (!acked || !result) {
        zo_msg_t msg;
        cr_assert_eq (s_next (b.client, &msg, 3000), 1, "ACK %d RESULT %d", acked, result);
        if (msg.cmd == ZO_CMD_ACK) {
            cr_assert_eq (msg.seq, seq);
            acked = true;
        }
        else if (msg.cmd == ZO_CMD_RESULT) {
            cr_assert_eq (msg.n_results, 1);
            cr_assert (zo_span_eq (msg.results_ [0].id, "r-1"));
            cr_assert (msg.results_ [0].ok);
            cr_assert_eq (msg.results_ [0].attempts, 1);
            json_t *back = zo_json_from_span (msg.results_ [0].result);
            json_t *want = json_loads (payload, 0, NULL);
            cr_assert (json_equal (back, want));
            json_decref (back);
            json_decref (want);
            result = true;
        }
    }
    msgpack_sbuffer_destroy (&buf);
    s_worker_stop (&w);
    s_broker_stop (&b);
}

/*  Drops whatever arrives outside the request (counted).  */
static int
s_count_other (zo_client_t *client, const zo_msg_t *msg, void *arg)
{
    (*(int *) arg)++;
    return 0;
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
    cr_assert_gt (zo_client_submit (b.client, &ev, 1, true), 0);
    zo_msg_t d;
    s_worker_dispatch (&w, &d);
    zo_result_t r = { .id = d.items [0].event.id, .ok = false, .final = true,
                      .error = zo_span_str ("boom") };
    zo_msg_t done = { .cmd = ZO_CMD_DONE, .results_ = &r, .n_results = 1, .credit = 1 };
    s_worker_send (&w, &done);

    //  Its RESULT says it failed.
    bool failed = false;
    while (!failed) {
        zo_msg_t msg;
        cr_assert_eq (s_next (b.client, &msg, 3000), 1);
        if (msg.cmd == ZO_CMD_RESULT) {
            cr_assert_not (msg.results_ [0].ok);
            cr_assert (zo_span_eq (msg.results_ [0].error, "boom"));
            failed = true;
        }
    }
    int others = 0;
    zo_msg_t list = { .cmd = ZO_CMD_DLQ_LIST, .limit = 10 };
    zo_msg_t reply;
    cr_assert_eq (zo_client_request (b.client, &list, &reply, 3000, s_count_other, &others), 0,
                  "%s", zo_client_errstr (b.client));
    cr_assert_eq (reply.cmd, ZO_CMD_DLQ_ITEMS);
    cr_assert_eq (reply.seq, list.seq);
    cr_assert_eq (reply.total, 1);
    cr_assert_eq (reply.n_dead, 1);
    cr_assert (zo_span_eq (reply.dead [0].event.id, "dead-1"));
    cr_assert (zo_span_eq (reply.dead [0].error, "boom"));
    cr_assert_gt (reply.dead [0].failed_ms, 0);

    zo_span_t ids [] = { zo_span_str ("dead-1"), zo_span_str ("no-such") };
    zo_msg_t purge = { .cmd = ZO_CMD_DLQ_PURGE, .ids = ids, .n_ids = 2 };
    cr_assert_eq (zo_client_request (b.client, &purge, &reply, 3000, NULL, NULL), 0);
    cr_assert_eq (reply.cmd, ZO_CMD_DLQ_DONE);
    cr_assert_eq (reply.count, 1);
    cr_assert_eq (zo_client_request (b.client, &list, &reply, 3000, NULL, NULL), 0);
    cr_assert_eq (reply.total, 0);
    msgpack_sbuffer_destroy (&buf);
    s_worker_stop (&w);
    s_broker_stop (&b);
}

static int
s_on_msg (zo_client_t *client, const zo_msg_t *msg, void *arg)
{
    int *acks = arg;
    if (msg->cmd == ZO_CMD_ACK)
        *acks += (int) msg->accepted;
    return 0;
}

Test (client, many_batches_drain)
{
    s_broker_t b;
    s_broker_start (&b, 17650);
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
        cr_assert_gt (zo_client_submit (b.client, events, PER, false), 0);
    }
    int acks = 0;
    int64_t deadline = zclock_mono () + 5000;
    while (acks < BATCHES * PER && zclock_mono () < deadline) {
        zmq_pollitem_t item = { zo_client_socket (b.client), 0, ZMQ_POLLIN, 0 };
        zmq_poll (&item, 1, 100);
        cr_assert_geq (zo_client_drain (b.client, s_on_msg, &acks), 0);
    }
    cr_assert_eq (acks, BATCHES * PER);
    cr_assert_eq (zo_client_bad_frames (b.client), 0);
    msgpack_sbuffer_destroy (&buf);
    s_broker_stop (&b);
}
