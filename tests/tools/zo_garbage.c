/*  zo_garbage: a hostile producer for the garbage integration test.

        zo_garbage ENDPOINT [MAX_FRAME]     sends every bad message below
        zo_garbage --ping ENDPOINT          only checks that PING gets PONG

    It connects a raw ZeroMQ DEALER to a broker's front socket and sends,
    one at a time, malformed and hostile messages: truncated msgpack, wrong
    types, a frame larger than MAX_FRAME (default 1 MiB, the broker's
    max_frame), unknown commands, several frames, bodies that are not maps,
    random bytes. After each one it expects exactly one reply, an ERROR
    carrying the error code PROTOCOL.md names for that case (and the seq
    when the message had a readable one), then a PONG to the PING it sends
    right after, which proves no second reply was queued and the broker
    still answers. Exit 0 when every case got what it should; 1 otherwise,
    with a line per failed case.
*/
#include <assert.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "zo_proto.h"

#define REPLY_TIMEOUT_MS 3000

typedef struct {
    void *sock;
    zo_proto_t *dec;
    uint64_t next_seq;
    int failed;
    int passed;
    uint8_t *reply;          /* last reply frame; decoded spans point here */
    size_t reply_size;
} s_ctx_t;

/*  Receives one frame within the timeout into ctx->reply. 0, or -1 on
    timeout.  */
static int
s_recv (s_ctx_t *ctx, zo_msg_t *msg, bool *decoded)
{
    zmq_pollitem_t item = { ctx->sock, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, REPLY_TIMEOUT_MS) <= 0)
        return -1;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, ctx->sock, 0) < 0) {
        zmq_msg_close (&frame);
        return -1;
    }
    free (ctx->reply);
    ctx->reply_size = zmq_msg_size (&frame);
    ctx->reply = malloc (ctx->reply_size ? ctx->reply_size : 1);
    assert (ctx->reply);
    memcpy (ctx->reply, zmq_msg_data (&frame), ctx->reply_size);
    bool more = zmq_msg_more (&frame);
    zmq_msg_close (&frame);
    while (more) {              /* a reply must be one frame; drain the rest */
        zmq_msg_init (&frame);
        zmq_msg_recv (&frame, ctx->sock, 0);
        more = zmq_msg_more (&frame);
        zmq_msg_close (&frame);
        fprintf (stderr, "zo_garbage: a reply had more than one frame\n");
    }
    memset (msg, 0, sizeof (*msg));
    *decoded = zo_proto_decode (ctx->dec, ctx->reply, ctx->reply_size, msg) == 0;
    return 0;
}

/*  Sends a PING with a fresh seq and expects its PONG as the very next
    message. 0 or -1 (with why in `why`).  */
static int
s_ping (s_ctx_t *ctx, char *why, size_t why_size)
{
    uint64_t seq = ++ctx->next_seq;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    zo_msg_t ping = { .cmd = ZO_CMD_PING, .seq = seq };
    zo_proto_encode (&pk, &ping);
    zmq_send (ctx->sock, buf.data, buf.size, 0);
    msgpack_sbuffer_destroy (&buf);

    zo_msg_t msg;
    bool decoded;
    if (s_recv (ctx, &msg, &decoded)) {
        snprintf (why, why_size, "no PONG within %d ms", REPLY_TIMEOUT_MS);
        return -1;
    }
    if (!decoded || msg.cmd != ZO_CMD_PONG || msg.seq != seq) {
        snprintf (why, why_size, "expected PONG seq %llu, got %s seq %llu%s",
                  (unsigned long long) seq, decoded ? zo_cmd_name (msg.cmd) : "undecodable",
                  (unsigned long long) msg.seq,
                  decoded ? "" : " (a second reply to the bad message?)");
        return -1;
    }
    return 0;
}

/*  One case: sends the frames, expects one ERROR with code `want` (any
    code when want is NULL) and seq `seq` when seq != 0, then PONG.  */
static void
s_case (s_ctx_t *ctx, const char *name, const void *const *frames, const size_t *sizes,
        int n_frames, const char *want, uint64_t seq)
{
    for (int i = 0; i < n_frames; i++)
        zmq_send (ctx->sock, frames [i], sizes [i], i + 1 < n_frames ? ZMQ_SNDMORE : 0);

    char why [300] = "";
    zo_msg_t msg;
    bool decoded;
    if (s_recv (ctx, &msg, &decoded))
        snprintf (why, sizeof (why), "no reply within %d ms", REPLY_TIMEOUT_MS);
    else
    if (!decoded)
        snprintf (why, sizeof (why), "the reply does not decode: %s",
                  zo_proto_errstr (ctx->dec));
    else
    if (msg.cmd != ZO_CMD_ERROR)
        snprintf (why, sizeof (why), "expected ERROR, got %s", zo_cmd_name (msg.cmd));
    else
    if (want && !zo_span_eq (msg.code, want))
        snprintf (why, sizeof (why), "expected code %s, got %.*s (reason: %.*s)", want,
                  (int) msg.code.len, (const char *) msg.code.ptr,
                  (int) msg.reason.len, (const char *) msg.reason.ptr);
    else
    if (seq && msg.seq != seq)
        snprintf (why, sizeof (why), "ERROR %s does not echo seq %llu (got %llu)", want,
                  (unsigned long long) seq, (unsigned long long) msg.seq);

    if (!*why) {
        char code [80];
        snprintf (code, sizeof (code), "%.*s", (int) msg.code.len, (const char *) msg.code.ptr);
        char pong_why [200] = "";
        if (s_ping (ctx, pong_why, sizeof (pong_why)))
            snprintf (why, sizeof (why), "after the ERROR: %s", pong_why);
        else {
            printf ("ok   %-34s -> ERROR %s\n", name, code);
            ctx->passed++;
            return;
        }
    }
    printf ("FAIL %-34s %s\n", name, why);
    ctx->failed++;
    /*  Resynchronise: drop anything still queued for us.  */
    zo_msg_t drop;
    bool d;
    while (s_recv (ctx, &drop, &d) == 0)
        ;
}

static void
s_case1 (s_ctx_t *ctx, const char *name, const void *data, size_t size, const char *want,
         uint64_t seq)
{
    const void *frames [1] = { data };
    size_t sizes [1] = { size };
    s_case (ctx, name, frames, sizes, 1, want, seq);
}

/*  A packer over a fresh buffer.  */
typedef struct {
    msgpack_sbuffer buf;
    msgpack_packer pk;
} s_pack_t;

static void
s_pack_init (s_pack_t *p)
{
    msgpack_sbuffer_init (&p->buf);
    msgpack_packer_init (&p->pk, &p->buf, msgpack_sbuffer_write);
}

static void
s_str (msgpack_packer *pk, const char *s)
{
    msgpack_pack_str (pk, strlen (s));
    msgpack_pack_str_body (pk, s, strlen (s));
}

/*  Writes the header of a map with n_extra pairs after "v" and "cmd".  */
static void
s_head (msgpack_packer *pk, uint32_t n_extra, uint64_t v, const char *cmd)
{
    msgpack_pack_map (pk, 2 + n_extra);
    s_str (pk, "v");
    msgpack_pack_uint64 (pk, v);
    s_str (pk, "cmd");
    s_str (pk, cmd);
}

/*  One valid event {id, type, payload:{n}}.  */
static void
s_event (msgpack_packer *pk, const char *id, const char *type)
{
    msgpack_pack_map (pk, 3);
    s_str (pk, "id");
    s_str (pk, id);
    s_str (pk, "type");
    s_str (pk, type);
    s_str (pk, "payload");
    msgpack_pack_map (pk, 1);
    s_str (pk, "n");
    msgpack_pack_int (pk, 1);
}

static void
s_run_all (s_ctx_t *ctx, size_t max_frame)
{
    s_pack_t p;
    uint64_t seq;

    /*  1. A valid SUBMIT, truncated at several points.  */
    s_pack_init (&p);
    seq = ++ctx->next_seq;
    s_head (&p.pk, 3, 1, "SUBMIT");
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, seq);
    s_str (&p.pk, "results");
    msgpack_pack_false (&p.pk);
    s_str (&p.pk, "events");
    msgpack_pack_array (&p.pk, 1);
    s_event (&p.pk, "garbage-truncated", "test.garbage");
    size_t cuts [] = { 1, 5, p.buf.size / 2, p.buf.size - 1 };
    for (size_t i = 0; i < sizeof (cuts) / sizeof (cuts [0]); i++) {
        char name [64];
        snprintf (name, sizeof (name), "truncated SUBMIT (%zu of %zu B)", cuts [i], p.buf.size);
        s_case1 (ctx, name, p.buf.data, cuts [i], "bad_msgpack", 0);
    }
    /*  2. The same with trailing bytes after the map.  */
    msgpack_pack_int (&p.pk, 7);
    s_case1 (ctx, "trailing bytes after the map", p.buf.data, p.buf.size, "bad_msgpack", 0);
    msgpack_sbuffer_destroy (&p.buf);

    /*  3. Bodies that are not maps.  */
    {
        uint8_t arr [] = { 0x92, 0x01, 0x02 };          /* [1, 2] */
        s_case1 (ctx, "array body", arr, sizeof (arr), "bad_msgpack", 0);
        uint8_t num [] = { 0x2a };                      /* 42 */
        s_case1 (ctx, "integer body", num, sizeof (num), "bad_msgpack", 0);
        uint8_t str [] = { 0xa3, 'a', 'b', 'c' };       /* "abc" */
        s_case1 (ctx, "string body", str, sizeof (str), "bad_msgpack", 0);
        uint8_t nil [] = { 0xc0 };
        s_case1 (ctx, "nil body", nil, sizeof (nil), "bad_msgpack", 0);
        s_case1 (ctx, "empty frame", "", 0, "bad_msgpack", 0);
        uint8_t reserved [] = { 0xc1, 0x00 };           /* never used in msgpack */
        s_case1 (ctx, "reserved byte 0xc1", reserved, sizeof (reserved), "bad_msgpack", 0);
        uint8_t huge [] = { 0xdf, 0xff, 0xff, 0xff, 0xff };  /* map of 4G pairs */
        s_case1 (ctx, "map header claiming 4G pairs", huge, sizeof (huge), "bad_msgpack", 0);
    }

    /*  4. Nesting deeper than 32 inside a payload.  */
    s_pack_init (&p);
    seq = ++ctx->next_seq;
    s_head (&p.pk, 2, 1, "SUBMIT");
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, seq);
    s_str (&p.pk, "events");
    msgpack_pack_array (&p.pk, 1);
    msgpack_pack_map (&p.pk, 3);
    s_str (&p.pk, "id");
    s_str (&p.pk, "garbage-deep");
    s_str (&p.pk, "type");
    s_str (&p.pk, "test.garbage");
    s_str (&p.pk, "payload");
    for (int i = 0; i < 200; i++)
        msgpack_pack_array (&p.pk, 1);
    msgpack_pack_nil (&p.pk);
    s_case1 (ctx, "payload nested 200 deep", p.buf.data, p.buf.size, "bad_msgpack", 0);
    msgpack_sbuffer_destroy (&p.buf);

    /*  5. Version and command.  */
    s_pack_init (&p);
    seq = ++ctx->next_seq;
    s_head (&p.pk, 1, 2, "PING");
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, seq);
    s_case1 (ctx, "version 2", p.buf.data, p.buf.size, "bad_version", 0);
    msgpack_sbuffer_destroy (&p.buf);

    s_pack_init (&p);
    msgpack_pack_map (&p.pk, 2);
    s_str (&p.pk, "cmd");
    s_str (&p.pk, "PING");
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, ++ctx->next_seq);
    s_case1 (ctx, "no version", p.buf.data, p.buf.size, "bad_version", 0);
    msgpack_sbuffer_destroy (&p.buf);

    s_pack_init (&p);
    seq = ++ctx->next_seq;
    s_head (&p.pk, 1, 1, "LAUNCH_MISSILES");
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, seq);
    s_case1 (ctx, "unknown command", p.buf.data, p.buf.size, "unknown_command", seq);
    msgpack_sbuffer_destroy (&p.buf);

    s_pack_init (&p);
    msgpack_pack_map (&p.pk, 2);
    s_str (&p.pk, "v");
    msgpack_pack_uint64 (&p.pk, 1);
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, ++ctx->next_seq);
    s_case1 (ctx, "no command", p.buf.data, p.buf.size, "unknown_command", 0);
    msgpack_sbuffer_destroy (&p.buf);

    s_pack_init (&p);
    msgpack_pack_map (&p.pk, 2);
    s_str (&p.pk, "v");
    msgpack_pack_uint64 (&p.pk, 1);
    s_str (&p.pk, "cmd");
    msgpack_pack_int (&p.pk, 3);
    s_case1 (ctx, "command is an integer", p.buf.data, p.buf.size, NULL, 0);
    msgpack_sbuffer_destroy (&p.buf);

    /*  6. Wrong types and values.  */
    s_pack_init (&p);
    s_head (&p.pk, 2, 1, "SUBMIT");
    s_str (&p.pk, "seq");
    s_str (&p.pk, "seven");
    s_str (&p.pk, "events");
    msgpack_pack_array (&p.pk, 0);
    s_case1 (ctx, "seq is a string", p.buf.data, p.buf.size, "bad_type", 0);
    msgpack_sbuffer_destroy (&p.buf);

    s_pack_init (&p);
    seq = ++ctx->next_seq;
    s_head (&p.pk, 2, 1, "SUBMIT");
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, seq);
    s_str (&p.pk, "events");
    s_str (&p.pk, "not an array");
    s_case1 (ctx, "events is a string", p.buf.data, p.buf.size, "bad_type", seq);
    msgpack_sbuffer_destroy (&p.buf);

    s_pack_init (&p);
    seq = ++ctx->next_seq;
    s_head (&p.pk, 2, 1, "SUBMIT");
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, seq);
    s_str (&p.pk, "events");
    msgpack_pack_array (&p.pk, 1);
    msgpack_pack_map (&p.pk, 2);
    s_str (&p.pk, "id");
    msgpack_pack_int (&p.pk, 12);
    s_str (&p.pk, "type");
    s_str (&p.pk, "test.garbage");
    s_case1 (ctx, "event id is an integer", p.buf.data, p.buf.size, "bad_type", seq);
    msgpack_sbuffer_destroy (&p.buf);

    s_pack_init (&p);
    seq = ++ctx->next_seq;
    s_head (&p.pk, 2, 1, "SUBMIT");
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, seq);
    s_str (&p.pk, "events");
    msgpack_pack_array (&p.pk, 1);
    msgpack_pack_int (&p.pk, 5);
    s_case1 (ctx, "event is an integer", p.buf.data, p.buf.size, "bad_type", seq);
    msgpack_sbuffer_destroy (&p.buf);

    s_pack_init (&p);
    seq = ++ctx->next_seq;
    s_head (&p.pk, 1, 1, "SUBMIT");
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, seq);
    s_case1 (ctx, "SUBMIT without events", p.buf.data, p.buf.size, "missing_field", seq);
    msgpack_sbuffer_destroy (&p.buf);

    s_pack_init (&p);
    seq = ++ctx->next_seq;
    s_head (&p.pk, 2, 1, "SUBMIT");
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, seq);
    s_str (&p.pk, "events");
    msgpack_pack_array (&p.pk, 1);
    msgpack_pack_map (&p.pk, 1);
    s_str (&p.pk, "id");
    s_str (&p.pk, "garbage-no-type");
    s_case1 (ctx, "event without type", p.buf.data, p.buf.size, "missing_field", seq);
    msgpack_sbuffer_destroy (&p.buf);

    s_pack_init (&p);
    seq = ++ctx->next_seq;
    s_head (&p.pk, 2, 1, "SUBMIT");
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, seq);
    s_str (&p.pk, "events");
    msgpack_pack_array (&p.pk, 1);
    s_event (&p.pk, "", "test.garbage");
    s_case1 (ctx, "empty event id", p.buf.data, p.buf.size, "bad_value", seq);
    msgpack_sbuffer_destroy (&p.buf);

    s_pack_init (&p);
    seq = ++ctx->next_seq;
    s_head (&p.pk, 2, 1, "SUBMIT");
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, seq);
    s_str (&p.pk, "events");
    msgpack_pack_array (&p.pk, 1);
    msgpack_pack_map (&p.pk, 3);
    s_str (&p.pk, "id");
    s_str (&p.pk, "garbage-prio");
    s_str (&p.pk, "type");
    s_str (&p.pk, "test.garbage");
    s_str (&p.pk, "priority");
    s_str (&p.pk, "urgent!!");
    s_case1 (ctx, "unknown priority", p.buf.data, p.buf.size, "bad_value", seq);
    msgpack_sbuffer_destroy (&p.buf);

    s_pack_init (&p);
    seq = ++ctx->next_seq;
    s_head (&p.pk, 2, 1, "SUBMIT");
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, seq);
    s_str (&p.pk, "events");
    msgpack_pack_array (&p.pk, 1);
    {
        char id [200];
        memset (id, 'x', sizeof (id) - 1);
        id [sizeof (id) - 1] = 0;
        s_event (&p.pk, id, "test.garbage");
    }
    s_case1 (ctx, "event id of 199 bytes", p.buf.data, p.buf.size, "too_large", seq);
    msgpack_sbuffer_destroy (&p.buf);

    s_pack_init (&p);
    seq = ++ctx->next_seq;
    s_head (&p.pk, 2, 1, "SUBMIT");
    s_str (&p.pk, "seq");
    msgpack_pack_uint64 (&p.pk, seq);
    s_str (&p.pk, "events");
    msgpack_pack_array (&p.pk, ZO_MAX_BATCH + 1);
    for (int i = 0; i <= ZO_MAX_BATCH; i++) {
        char id [32];
        snprintf (id, sizeof (id), "garbage-batch-%d", i);
        s_event (&p.pk, id, "test.garbage");
    }
    s_case1 (ctx, "1001 events in one SUBMIT", p.buf.data, p.buf.size, "too_large", seq);
    msgpack_sbuffer_destroy (&p.buf);

    /*  7. A worker's command on the producers' socket.  */
    s_pack_init (&p);
    s_head (&p.pk, 2, 1, "DONE");
    s_str (&p.pk, "results");
    msgpack_pack_array (&p.pk, 1);
    msgpack_pack_map (&p.pk, 2);
    s_str (&p.pk, "id");
    s_str (&p.pk, "garbage-done");
    s_str (&p.pk, "ok");
    msgpack_pack_true (&p.pk);
    s_str (&p.pk, "credit");
    msgpack_pack_uint32 (&p.pk, 1);
    s_case1 (ctx, "DONE on the front socket", p.buf.data, p.buf.size, "unexpected", 0);
    msgpack_sbuffer_destroy (&p.buf);

    /*  8. Several frames: a valid PING split over two frames, then a valid
        PING followed by a second frame.  */
    {
        s_pack_init (&p);
        s_head (&p.pk, 1, 1, "PING");
        s_str (&p.pk, "seq");
        msgpack_pack_uint64 (&p.pk, ++ctx->next_seq);
        const void *frames [2] = { p.buf.data, p.buf.data + 4 };
        size_t sizes [2] = { 4, p.buf.size - 4 };
        s_case (ctx, "PING split over 2 frames", frames, sizes, 2, "bad_msgpack", 0);
        const void *frames2 [3] = { p.buf.data, "x", "" };
        size_t sizes2 [3] = { p.buf.size, 1, 0 };
        s_case (ctx, "PING + 2 extra frames", frames2, sizes2, 3, "bad_msgpack", 0);
        msgpack_sbuffer_destroy (&p.buf);
    }

    /*  9. A frame over max_frame: a SUBMIT whose payload is a big string.  */
    {
        size_t big = max_frame + 4096;
        char *filler = malloc (big);
        assert (filler);
        memset (filler, 'g', big);
        s_pack_init (&p);
        s_head (&p.pk, 2, 1, "SUBMIT");
        s_str (&p.pk, "seq");
        msgpack_pack_uint64 (&p.pk, ++ctx->next_seq);
        s_str (&p.pk, "events");
        msgpack_pack_array (&p.pk, 1);
        msgpack_pack_map (&p.pk, 3);
        s_str (&p.pk, "id");
        s_str (&p.pk, "garbage-big");
        s_str (&p.pk, "type");
        s_str (&p.pk, "test.garbage");
        s_str (&p.pk, "payload");
        msgpack_pack_str (&p.pk, big);
        msgpack_pack_str_body (&p.pk, filler, big);
        char name [64];
        snprintf (name, sizeof (name), "frame of %zu B (max %zu)", p.buf.size, max_frame);
        s_case1 (ctx, name, p.buf.data, p.buf.size, "too_large", 0);
        msgpack_sbuffer_destroy (&p.buf);
        free (filler);
    }

    /*  10. Random bytes, 200 frames of 1..300 bytes. Any ERROR code is
        right (random bytes can happen to be a small valid map missing
        "v"), but each must get exactly one.  */
    {
        uint32_t state = 0x2545F491u;
        uint8_t bytes [300];
        for (int i = 0; i < 200; i++) {
            size_t n = 1 + (size_t) (i * 37 % 300);
            for (size_t j = 0; j < n; j++) {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                bytes [j] = (uint8_t) state;
            }
            char name [64];
            snprintf (name, sizeof (name), "random bytes #%d (%zu B)", i, n);
            s_case1 (ctx, name, bytes, n, NULL, 0);
        }
    }
}

int
main (int argc, char **argv)
{
    bool ping_only = argc > 1 && strcmp (argv [1], "--ping") == 0;
    if (ping_only) {
        argv++;
        argc--;
    }
    if (argc < 2) {
        fprintf (stderr, "usage: zo_garbage [--ping] ENDPOINT [MAX_FRAME]\n");
        return 2;
    }
    size_t max_frame = argc > 2 ? strtoull (argv [2], NULL, 10) : ZO_MAX_FRAME;

    void *zctx = zmq_ctx_new ();
    s_ctx_t ctx = { 0 };
    ctx.sock = zmq_socket (zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (ctx.sock, ZMQ_LINGER, &linger, sizeof (linger));
    if (zmq_connect (ctx.sock, argv [1])) {
        fprintf (stderr, "zo_garbage: cannot connect to %s: %s\n", argv [1], zmq_strerror (zmq_errno ()));
        return 1;
    }
    ctx.dec = zo_proto_new ();
    assert (ctx.dec);
    /*  Replies may be large (an ERROR to a big frame is small, but be
        generous): do not let our own decoder's limit get in the way.  */
    zo_proto_set_max_frame (ctx.dec, 64 * 1024 * 1024);

    char why [200];
    if (s_ping (&ctx, why, sizeof (why))) {
        printf ("FAIL first PING: %s\n", why);
        ctx.failed++;
    }
    else {
        printf ("ok   %-34s -> PONG\n", "PING");
        ctx.passed++;
        if (!ping_only)
            s_run_all (&ctx, max_frame);
    }
    printf ("zo_garbage: %d cases passed, %d failed\n", ctx.passed, ctx.failed);

    free (ctx.reply);
    zo_proto_destroy (&ctx.dec);
    zmq_close (ctx.sock);
    zmq_ctx_term (zctx);
    return ctx.failed ? 1 : 0;
}
