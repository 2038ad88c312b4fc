/*  actors/runtime/zo_wire between a real ROUTER and DEALER on 127.0.0.1:
    what the ROUTER side (the broker's) accepts, rejects and counts, and
    what goes back. Ports 17800 + test number.  */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "zo_wire.h"

typedef struct {
    void *ctx, *router, *dealer;
    zo_proto_t *dec;
    zo_stats_t *stats;
    zo_wire_t wire;
    zmq_msg_t ident, body;
    msgpack_sbuffer buf;
} s_fix_t;

static void
s_fix_start (s_fix_t *f, int port, size_t max_frame)
{
    memset (f, 0, sizeof *f);
    f->ctx = zmq_ctx_new ();
    f->router = zmq_socket (f->ctx, ZMQ_ROUTER);
    f->dealer = zmq_socket (f->ctx, ZMQ_DEALER);
    int linger = 0, timeo = 3000, one = 1;
    zmq_setsockopt (f->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (f->dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (f->dealer, ZMQ_RCVTIMEO, &timeo, sizeof timeo);
    //  Unknown identities fail the send (EHOSTUNREACH), as the broker's do.
    zmq_setsockopt (f->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    char ep [64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    cr_assert_eq (zmq_bind (f->router, ep), 0, "bind %s: %s", ep, zmq_strerror (errno));
    cr_assert_eq (zmq_connect (f->dealer, ep), 0);
    f->dec = zo_proto_new ();
    f->stats = zo_stats_new ("test", "wire");
    zo_wire_init (&f->wire, f->dec, max_frame);
    zo_wire_count (&f->wire, f->stats, "unroutable_total", "errors_total", "errors_%s_total");
    zmq_msg_init (&f->ident);
    zmq_msg_init (&f->body);
    msgpack_sbuffer_init (&f->buf);
}

static void
s_fix_stop (s_fix_t *f)
{
    zmq_msg_close (&f->ident);
    zmq_msg_close (&f->body);
    msgpack_sbuffer_destroy (&f->buf);
    zo_stats_destroy (&f->stats);
    zo_proto_destroy (&f->dec);
    zmq_close (f->dealer);
    zmq_close (f->router);
    zmq_ctx_term (f->ctx);
}

static uint64_t
s_count (s_fix_t *f, const char *name)
{
    return *zo_stats_counter (f->stats, name);
}

//  Receives one message on the ROUTER through the wire, waiting up to 3 s.
static int
s_recv (s_fix_t *f, zo_msg_t *msg)
{
    zmq_pollitem_t item = { f->router, 0, ZMQ_POLLIN, 0 };
    cr_assert_eq (zmq_poll (&item, 1, 3000), 1, "nothing came to the router");
    return zo_wire_recv (&f->wire, f->router, &f->ident, &f->body, msg);
}

//  {v: 1, cmd: PING, seq, pad: <pad bytes>}
static void
s_ping_map (msgpack_sbuffer *buf, uint64_t seq, size_t pad)
{
    msgpack_sbuffer_clear (buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 4);
    zo_proto_pack_str (&pk, "v");
    msgpack_pack_uint8 (&pk, 1);
    zo_proto_pack_str (&pk, "cmd");
    zo_proto_pack_str (&pk, "PING");
    zo_proto_pack_str (&pk, "seq");
    msgpack_pack_uint64 (&pk, seq);
    zo_proto_pack_str (&pk, "pad");
    char *fill = calloc (1, pad + 1);
    msgpack_pack_str_with_body (&pk, fill, pad);
    free (fill);
}

//  Reads what the DEALER got back, decoded.
static void
s_dealer_recv (s_fix_t *f, zmq_msg_t *frame, zo_msg_t *msg)
{
    cr_assert_geq (zmq_msg_recv (frame, f->dealer, 0), 0, "no reply came back");
    cr_assert_not (zmq_msg_more (frame), "one frame per reply");
    cr_assert_eq (zo_proto_decode (f->dec, zmq_msg_data (frame), zmq_msg_size (frame), msg), 0,
                  "%s", zo_proto_errstr (f->dec));
}

Test (wire, round_trip_with_identity)
{
    s_fix_t f;
    s_fix_start (&f, 17801, 0);
    zo_wire_t dw;
    zo_wire_init (&dw, NULL, 0);
    zo_msg_t ping = { .cmd = ZO_CMD_PING, .seq = 42 };
    cr_assert_eq (zo_wire_send_msg (&dw, f.dealer, NULL, 0, &f.buf, &ping), 0);

    zo_msg_t msg;
    cr_assert_eq (s_recv (&f, &msg), 1);
    cr_assert_eq (msg.cmd, ZO_CMD_PING);
    cr_assert_eq (msg.seq, 42);
    zo_msg_t pong = { .cmd = ZO_CMD_PONG, .seq = 42 };
    cr_assert_eq (zo_wire_send_msg (&f.wire, f.router, zmq_msg_data (&f.ident),
                                    zmq_msg_size (&f.ident), &f.buf, &pong), 0);
    //  Nothing more waiting: 0, not an error (and ident is spent).
    cr_assert_eq (zo_wire_recv (&f.wire, f.router, &f.ident, &f.body, &msg), 0);
    cr_assert_eq (errno, EAGAIN);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    s_dealer_recv (&f, &frame, &msg);
    cr_assert_eq (msg.cmd, ZO_CMD_PONG);
    cr_assert_eq (msg.seq, 42);
    zmq_msg_close (&frame);
    cr_assert_eq (s_count (&f, "errors_total"), 0);
    s_fix_stop (&f);
}

Test (wire, several_frames_are_bad_msgpack_with_seq_and_the_next_message_is_fine)
{
    s_fix_t f;
    s_fix_start (&f, 17802, 0);
    s_ping_map (&f.buf, 7, 10);
    cr_assert_eq (zmq_send (f.dealer, f.buf.data, f.buf.size, ZMQ_SNDMORE), (int) f.buf.size);
    cr_assert_eq (zmq_send (f.dealer, "more", 4, ZMQ_SNDMORE), 4);
    cr_assert_eq (zmq_send (f.dealer, "and more", 8, 0), 8);
    s_ping_map (&f.buf, 8, 10);
    cr_assert_eq (zmq_send (f.dealer, f.buf.data, f.buf.size, 0), (int) f.buf.size);

    zo_msg_t msg;
    cr_assert_eq (s_recv (&f, &msg), -1);
    cr_assert_eq (f.wire.err, ZO_ERR_BAD_MSGPACK);
    cr_assert_eq (f.wire.seq, 7, "seq read from the first frame");
    cr_assert_eq (msg.seq, 7);
    cr_assert (strstr (f.wire.reason, "2 more"), "%s", f.wire.reason);
    cr_assert_eq (s_count (&f, "errors_total"), 1);
    cr_assert_eq (s_count (&f, "errors_bad_msgpack_total"), 1);

    //  The extra frames were drained: the next message stands alone.
    cr_assert_eq (s_recv (&f, &msg), 1);
    cr_assert_eq (msg.seq, 8);

    //  The ERROR reply goes back to the sender, seq echoed.
    cr_assert_eq (zo_wire_error (&f.wire, f.router, zmq_msg_data (&f.ident),
                                 zmq_msg_size (&f.ident), &f.buf, 7, ZO_ERR_BAD_MSGPACK,
                                 "several frames"), 0);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    s_dealer_recv (&f, &frame, &msg);
    cr_assert_eq (msg.cmd, ZO_CMD_ERROR);
    cr_assert_eq (msg.seq, 7);
    cr_assert (zo_span_eq (msg.code, "bad_msgpack"));
    cr_assert (zo_span_eq (msg.reason, "several frames"));
    zmq_msg_close (&frame);
    s_fix_stop (&f);
}

Test (wire, frame_over_the_limit_is_too_large_with_seq)
{
    s_fix_t f;
    s_fix_start (&f, 17803, 1000);
    s_ping_map (&f.buf, 9, 2000);
    cr_assert_eq (zmq_send (f.dealer, f.buf.data, f.buf.size, 0), (int) f.buf.size);
    s_ping_map (&f.buf, 10, 900);      //  under the limit: fine
    cr_assert_eq (zmq_send (f.dealer, f.buf.data, f.buf.size, 0), (int) f.buf.size);

    zo_msg_t msg;
    cr_assert_eq (s_recv (&f, &msg), -1);
    cr_assert_eq (f.wire.err, ZO_ERR_TOO_LARGE);
    cr_assert_eq (f.wire.seq, 9);
    cr_assert (strstr (f.wire.reason, "limit 1000"), "%s", f.wire.reason);
    cr_assert_eq (s_count (&f, "errors_too_large_total"), 1);
    cr_assert_eq (s_recv (&f, &msg), 1);
    cr_assert_eq (msg.seq, 10);
    cr_assert_eq (s_count (&f, "errors_total"), 1);
    s_fix_stop (&f);
}

Test (wire, garbage_and_wrong_fields_are_rejected_and_counted_per_code)
{
    s_fix_t f;
    s_fix_start (&f, 17804, 0);
    //  Not msgpack at all (0xc1 is never used), then a map with an
    //  unknown command, then one with the wrong version.
    cr_assert_eq (zmq_send (f.dealer, "\xc1\xff\x00garbage", 10, 0), 10);
    msgpack_sbuffer_clear (&f.buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &f.buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    zo_proto_pack_str (&pk, "v");
    msgpack_pack_uint8 (&pk, 1);
    zo_proto_pack_str (&pk, "cmd");
    zo_proto_pack_str (&pk, "FROBNICATE");
    zo_proto_pack_str (&pk, "seq");
    msgpack_pack_uint8 (&pk, 5);
    cr_assert_eq (zmq_send (f.dealer, f.buf.data, f.buf.size, 0), (int) f.buf.size);
    msgpack_sbuffer_clear (&f.buf);
    msgpack_pack_map (&pk, 2);
    zo_proto_pack_str (&pk, "v");
    msgpack_pack_uint8 (&pk, 9);
    zo_proto_pack_str (&pk, "cmd");
    zo_proto_pack_str (&pk, "PING");
    cr_assert_eq (zmq_send (f.dealer, f.buf.data, f.buf.size, 0), (int) f.buf.size);

    zo_msg_t msg;
    cr_assert_eq (s_recv (&f, &msg), -1);
    cr_assert_eq (f.wire.err, ZO_ERR_BAD_MSGPACK);
    cr_assert_eq (f.wire.seq, 0);
    cr_assert_eq (s_recv (&f, &msg), -1);
    cr_assert_eq (f.wire.err, ZO_ERR_UNKNOWN_COMMAND);
    cr_assert_eq (f.wire.seq, 5, "seq read before the command failed");
    cr_assert_eq (s_recv (&f, &msg), -1);
    cr_assert_eq (f.wire.err, ZO_ERR_BAD_VERSION);
    cr_assert_eq (s_count (&f, "errors_total"), 3);
    cr_assert_eq (s_count (&f, "errors_bad_msgpack_total"), 1);
    cr_assert_eq (s_count (&f, "errors_unknown_command_total"), 1);
    cr_assert_eq (s_count (&f, "errors_bad_version_total"), 1);
    s_fix_stop (&f);
}

Test (wire, send_to_a_gone_identity_is_counted_not_blocking)
{
    s_fix_t f;
    s_fix_start (&f, 17805, 0);
    zo_msg_t pong = { .cmd = ZO_CMD_PONG, .seq = 1 };
    errno = 0;
    cr_assert_eq (zo_wire_send_msg (&f.wire, f.router, "nobody", 6, &f.buf, &pong), -1);
    cr_assert_eq (errno, EHOSTUNREACH, "%s", strerror (errno));
    cr_assert_eq (zo_wire_error (&f.wire, f.router, "nobody", 6, &f.buf, 1,
                                 ZO_ERR_TOO_LARGE, NULL), -1);
    cr_assert_eq (s_count (&f, "unroutable_total"), 2);
    //  Not a rejected message: nothing was received.
    cr_assert_eq (s_count (&f, "errors_total"), 0);
    s_fix_stop (&f);
}

Test (wire, peek_seq_reads_only_an_unsigned_top_level_seq)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    //  {1: "x", nested: {seq: 3}, seq: 77}
    msgpack_pack_map (&pk, 3);
    msgpack_pack_uint8 (&pk, 1);
    zo_proto_pack_str (&pk, "x");
    zo_proto_pack_str (&pk, "nested");
    msgpack_pack_map (&pk, 1);
    zo_proto_pack_str (&pk, "seq");
    msgpack_pack_uint8 (&pk, 3);
    zo_proto_pack_str (&pk, "seq");
    msgpack_pack_uint8 (&pk, 77);
    uint64_t seq = 0;
    cr_assert (zo_wire_peek_seq (buf.data, buf.size, &seq));
    cr_assert_eq (seq, 77);
    //  Cut short before the top-level seq: not readable.
    cr_assert_not (zo_wire_peek_seq (buf.data, buf.size - 3, &seq));
    msgpack_sbuffer_clear (&buf);
    msgpack_pack_map (&pk, 1);
    zo_proto_pack_str (&pk, "seq");
    msgpack_pack_int8 (&pk, -1);
    cr_assert_not (zo_wire_peek_seq (buf.data, buf.size, &seq));
    cr_assert_not (zo_wire_peek_seq ("\x93\x01\x02\x03", 4, &seq), "an array is no map");
    msgpack_sbuffer_destroy (&buf);
}
