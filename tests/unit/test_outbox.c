/*  Tests for broker/outbox.c: RESULT batching and held ACKs, in particular
    the journal gate (an ACK leaves only once its events are durable, and
    RESULTs wait behind it). A real ROUTER plays the broker's front socket;
    DEALERs with known identities play producers (inproc).  */
#include <criterion/criterion.h>
#include <string.h>
#include <zmq.h>

#include "outbox.h"
#include "zo_proto.h"

static void *s_ctx, *s_router;
static zo_proto_t *s_dec;
static zmq_msg_t s_frame;
static uint64_t s_sent, s_dropped;

static void
s_setup (void)
{
    s_ctx = zmq_ctx_new ();
    s_router = zmq_socket (s_ctx, ZMQ_ROUTER);
    int one = 1;
    zmq_setsockopt (s_router, ZMQ_ROUTER_MANDATORY, &one, sizeof (one));
    cr_assert_eq (zmq_bind (s_router, "inproc://outbox"), 0);
    s_dec = zo_proto_new ();
    zmq_msg_init (&s_frame);
    s_sent = s_dropped = 0;
}

static void
s_teardown (void)
{
    zmq_msg_close (&s_frame);
    zo_proto_destroy (&s_dec);
    zmq_close (s_router);
    zmq_ctx_term (s_ctx);
}

//  A failed assertion leaves a producer socket open, which would hold
//  zmq_ctx_term in the teardown forever: the timeout ends such a test.
TestSuite (outbox, .init = s_setup, .fini = s_teardown, .timeout = 20);

//  A producer known to the router by its identity.
static void *
s_producer (const char *name)
{
    void *dealer = zmq_socket (s_ctx, ZMQ_DEALER);
    int linger = 0, timeout = 200;
    zmq_setsockopt (dealer, ZMQ_LINGER, &linger, sizeof (linger));
    zmq_setsockopt (dealer, ZMQ_RCVTIMEO, &timeout, sizeof (timeout));
    zmq_setsockopt (dealer, ZMQ_ROUTING_ID, name, strlen (name));
    cr_assert_eq (zmq_connect (dealer, "inproc://outbox"), 0);
    //  One message each way settles the connection.
    cr_assert_eq (zmq_send (dealer, "hi", 2, 0), 2);
    char buf [64];
    cr_assert_gt (zmq_recv (s_router, buf, sizeof (buf), 0), 0);
    cr_assert_eq (zmq_recv (s_router, buf, sizeof (buf), 0), 2);
    return dealer;
}

//  The next message to a producer, decoded; ZO_CMD_INVALID if none came.
static zo_msg_t
s_next (void *dealer)
{
    zo_msg_t msg = { .cmd = ZO_CMD_INVALID };
    zmq_msg_close (&s_frame);
    zmq_msg_init (&s_frame);
    if (zmq_msg_recv (&s_frame, dealer, 0) < 0)
        return msg;
    cr_assert_eq (zo_proto_decode (s_dec, zmq_msg_data (&s_frame), zmq_msg_size (&s_frame), &msg), 0);
    return msg;
}

static void
s_result (zo_outbox_t *outbox, const char *producer, const char *id)
{
    zo_span_t none = { NULL, 0 };
    zo_outbox_add (outbox, producer, strlen (producer), zo_span_str (id), true, none, NULL, 5, 1);
}

Test (outbox, ack_held_until_due_then_before_results)
{
    void *p = s_producer ("p1");
    zo_outbox_t *outbox = zo_outbox_new (s_router, 256, 64 * 1024, &s_sent, &s_dropped);
    zo_outbox_ack (outbox, "p1", 2, 7, 3, 0, 1000, 0);
    cr_assert_eq (zo_outbox_flush (outbox, 500), 1000, "held: due at 1000");
    cr_assert_eq (s_next (p).cmd, ZO_CMD_INVALID);
    cr_assert_eq (zo_outbox_flush (outbox, 1000), 0);
    zo_msg_t msg = s_next (p);
    cr_assert_eq (msg.cmd, ZO_CMD_ACK);
    cr_assert_eq (msg.seq, 7);
    cr_assert_eq (msg.accepted, 3);
    //  A RESULT takes a held ACK along, ACK first, before it is due.
    zo_outbox_ack (outbox, "p1", 2, 8, 1, 0, 5000, 0);
    s_result (outbox, "p1", "e1");
    cr_assert_eq (zo_outbox_flush (outbox, 2000), 0);
    cr_assert_eq (s_next (p).cmd, ZO_CMD_ACK);
    msg = s_next (p);
    cr_assert_eq (msg.cmd, ZO_CMD_RESULT);
    cr_assert_eq (msg.n_results, 1);
    zo_outbox_destroy (&outbox);
    zmq_close (p);
}

Test (outbox, journal_gate_holds_ack_and_results_behind_it)
{
    void *p = s_producer ("p1");
    zo_outbox_t *outbox = zo_outbox_new (s_router, 4, 64 * 1024, &s_sent, &s_dropped);
    zo_outbox_set_durable (outbox, 50);
    //  Due at once, but its batch ends at journal position 100.
    zo_outbox_ack (outbox, "p1", 2, 1, 10, 0, 0, 100);
    //  Ten results (more than batch_max 4) come back before the sync.
    char id [16];
    for (int i = 0; i < 10; i++) {
        snprintf (id, sizeof (id), "e%d", i);
        s_result (outbox, "p1", id);
    }
    cr_assert_eq (zo_outbox_flush (outbox, UINT64_MAX), 0, "no timer: the journal wakes the loop");
    cr_assert_eq (s_next (p).cmd, ZO_CMD_INVALID, "nothing before the journal syncs");
    cr_assert_eq (zo_outbox_pending (outbox), 10);
    zo_outbox_set_durable (outbox, 99);
    zo_outbox_flush (outbox, UINT64_MAX);
    cr_assert_eq (s_next (p).cmd, ZO_CMD_INVALID, "99 < 100: still held");
    zo_outbox_set_durable (outbox, 100);
    zo_outbox_flush (outbox, 0);
    zo_msg_t msg = s_next (p);
    cr_assert_eq (msg.cmd, ZO_CMD_ACK, "the ACK leaves first");
    cr_assert_eq (msg.seq, 1);
    uint32_t got = 0;
    for (int i = 0; i < 3; i++) {
        msg = s_next (p);
        cr_assert_eq (msg.cmd, ZO_CMD_RESULT);
        cr_assert_leq (msg.n_results, 4, "a RESULT holds at most batch_max");
        got += msg.n_results;
    }
    cr_assert_eq (got, 10);
    cr_assert_eq (s_sent, 10);
    cr_assert_eq (zo_outbox_pending (outbox), 0);
    zo_outbox_destroy (&outbox);
    zmq_close (p);
}

Test (outbox, durable_ack_waits_for_its_due_time)
{
    void *p = s_producer ("p1");
    zo_outbox_t *outbox = zo_outbox_new (s_router, 256, 64 * 1024, &s_sent, &s_dropped);
    zo_outbox_ack (outbox, "p1", 2, 1, 1, 0, 3000, 10);
    cr_assert_eq (zo_outbox_flush (outbox, 1000), 0, "not durable: no due time reported");
    zo_outbox_set_durable (outbox, 10);
    cr_assert_eq (zo_outbox_flush (outbox, 1000), 3000, "durable: due at 3000");
    cr_assert_eq (s_next (p).cmd, ZO_CMD_INVALID);
    cr_assert_eq (zo_outbox_flush (outbox, 3000), 0);
    cr_assert_eq (s_next (p).cmd, ZO_CMD_ACK);
    zo_outbox_destroy (&outbox);
    zmq_close (p);
}

Test (outbox, failed_journal_mutes_only_producers_left_waiting)
{
    void *a = s_producer ("pa");
    void *b = s_producer ("pb");
    zo_outbox_t *outbox = zo_outbox_new (s_router, 256, 64 * 1024, &s_sent, &s_dropped);
    zo_outbox_set_durable (outbox, 100);
    //  pa: one ACK durable, one not; pb: durable only.
    zo_outbox_ack (outbox, "pa", 2, 1, 1, 0, 0, 80);
    zo_outbox_ack (outbox, "pa", 2, 2, 1, 0, 0, 150);
    zo_outbox_ack (outbox, "pb", 2, 3, 1, 0, 5000, 90);
    s_result (outbox, "pa", "a1");
    zo_outbox_fail (outbox);
    zo_msg_t msg = s_next (a);
    cr_assert_eq (msg.cmd, ZO_CMD_ACK, "the durable ACK still goes");
    cr_assert_eq (msg.seq, 1);
    //  Later results: none to pa (its second ACK never came), pb's flow.
    s_result (outbox, "pa", "a2");
    s_result (outbox, "pb", "b1");
    zo_outbox_flush (outbox, 0);
    cr_assert_eq (s_next (a).cmd, ZO_CMD_INVALID, "no RESULT without its ACK");
    cr_assert_eq (s_next (b).cmd, ZO_CMD_ACK);
    msg = s_next (b);
    cr_assert_eq (msg.cmd, ZO_CMD_RESULT);
    cr_assert_eq (msg.n_results, 1);
    //  pa's lost ACK and its two results.
    cr_assert_eq (s_dropped, 3);
    zo_outbox_destroy (&outbox);
    zmq_close (a);
    zmq_close (b);
}

/*  Every RESULT fits max_frame, even when the result that fills the buffer
    is itself half a frame (the largest a worker sends) with a long error:
    it goes in a RESULT of its own.  */
Test (outbox, results_stay_within_max_frame)
{
    void *p = s_producer ("big");
    const size_t max_frame = 64 * 1024;
    zo_outbox_t *outbox = zo_outbox_new (s_router, 256, max_frame, &s_sent, &s_dropped);
    //  msgpack strings: a str32 header and the bytes.
    static uint8_t a [32 * 1024 - 200], b [32 * 1024];
    a [0] = 0xdb, b [0] = 0xdb;
    uint32_t la = sizeof (a) - 5, lb = sizeof (b) - 5;
    for (int i = 0; i < 4; i++) {
        a [1 + i] = (uint8_t) (la >> (24 - 8 * i));
        b [1 + i] = (uint8_t) (lb >> (24 - 8 * i));
    }
    memset (a + 5, 'a', la);
    memset (b + 5, 'b', lb);
    static char error [ZO_MAX_TEXT + 1];
    memset (error, 'e', ZO_MAX_TEXT);
    zo_outbox_add (outbox, "big", 3, zo_span_str ("r1"), true, (zo_span_t) { a, sizeof (a) },
                   NULL, 5, 1);
    cr_assert_eq (zo_outbox_pending (outbox), 1, "under half a frame: held for the flush");
    zo_outbox_add (outbox, "big", 3, zo_span_str ("r2"), false, (zo_span_t) { b, sizeof (b) },
                   error, 5, 1);
    int results = 0;
    for (int m = 0; m < 3 && results < 2; m++) {
        zmq_msg_close (&s_frame);
        zmq_msg_init (&s_frame);
        cr_assert_geq (zmq_msg_recv (&s_frame, p, 0), 0, "a RESULT came");
        cr_assert_leq (zmq_msg_size (&s_frame), max_frame, "RESULT of %zu bytes, over %zu",
                       zmq_msg_size (&s_frame), max_frame);
        zo_msg_t msg;
        cr_assert_eq (zo_proto_decode (s_dec, zmq_msg_data (&s_frame), zmq_msg_size (&s_frame),
                                       &msg), 0);
        cr_assert_eq (msg.cmd, ZO_CMD_RESULT);
        results += (int) msg.n_results;
    }
    cr_assert_eq (results, 2);
    cr_assert_eq (s_sent, 2);
    cr_assert_eq (s_dropped, 0);
    zo_outbox_destroy (&outbox);
    zmq_close (p);
}
