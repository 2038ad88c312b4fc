/*  actors/runtime/zo_rpc against real peers on 127.0.0.1: a ROUTER socket
    the test itself plays (it reads the requests and answers as each test
    needs: out of order, late, oversized, garbage), and the built
    zorch-broker ($ZORCH_BROKER_BIN) for real PING and DLQ_LIST requests.
    Ports 17700 + 10 * test number.  */
#include <criterion/criterion.h>
#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zo_rpc.h"
#include "zo_wire.h"

//  ---------------------------------------------------------------------
//  The peer: a ROUTER the test drives by hand

typedef struct {
    void *ctx;
    void *router;
    char endpoint [64];
    zo_proto_t *dec;
} s_peer_t;

typedef struct {
    uint8_t ident [256];
    size_t ident_len;
    uint64_t seq;
    zo_cmd_t cmd;
    uint8_t body [4096];
    size_t size;
} s_req_t;

static void
s_peer_bind (s_peer_t *p)
{
    p->router = zmq_socket (p->ctx, ZMQ_ROUTER);
    cr_assert_not_null (p->router);
    //  Queues deep enough for the thousands a test sends before reading
    //  (a ROUTER drops what is over its high-water mark).
    int linger = 0, timeo = 3000, hwm = 100000;
    zmq_setsockopt (p->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (p->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (p->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (p->router, ZMQ_RCVTIMEO, &timeo, sizeof timeo);
    cr_assert_eq (zmq_bind (p->router, p->endpoint), 0, "bind %s: %s", p->endpoint,
                  zmq_strerror (errno));
}

static void
s_peer_start (s_peer_t *p, void *ctx, int port)
{
    memset (p, 0, sizeof *p);
    p->ctx = ctx;
    snprintf (p->endpoint, sizeof p->endpoint, "tcp://127.0.0.1:%d", port);
    p->dec = zo_proto_new ();
    s_peer_bind (p);
}

static void
s_peer_stop (s_peer_t *p)
{
    if (p->router)
        zmq_close (p->router);
    p->router = NULL;
    zo_proto_destroy (&p->dec);
}

//  Waits (at most 3 s) for one request and reads its seq and command.
static void
s_peer_recv (s_peer_t *p, s_req_t *r)
{
    int rc = zmq_recv (p->router, r->ident, sizeof r->ident, 0);
    cr_assert_gt (rc, 0, "the peer got no request: %s", zmq_strerror (errno));
    r->ident_len = (size_t) rc;
    rc = zmq_recv (p->router, r->body, sizeof r->body, 0);
    cr_assert_geq (rc, 0);
    r->size = (size_t) rc;
    zo_msg_t msg;
    cr_assert_eq (zo_proto_decode (p->dec, r->body, r->size, &msg), 0, "%s",
                  zo_proto_errstr (p->dec));
    r->seq = msg.seq;
    r->cmd = msg.cmd;
}

static void
s_peer_send (s_peer_t *p, const s_req_t *r, const void *data, size_t size, bool extra_frame)
{
    cr_assert_eq (zmq_send (p->router, r->ident, r->ident_len, ZMQ_SNDMORE), (int) r->ident_len);
    cr_assert_eq (zmq_send (p->router, data, size, extra_frame ? ZMQ_SNDMORE : 0), (int) size);
    if (extra_frame)
        cr_assert_eq (zmq_send (p->router, "x", 1, 0), 1);
}

static void
s_peer_reply (s_peer_t *p, const s_req_t *r, zo_cmd_t cmd)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    zo_msg_t msg = { .cmd = cmd, .seq = r->seq };
    zo_proto_encode (&pk, &msg);
    s_peer_send (p, r, buf.data, buf.size, false);
    msgpack_sbuffer_destroy (&buf);
}

//  A map {v: 1, cmd, seq, pad: <pad bytes>}; seq 0 is left out.
static void
s_map (msgpack_sbuffer *buf, const char *cmd, uint64_t seq, size_t pad)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 2 + (seq > 0) + (pad > 0));
    zo_proto_pack_str (&pk, "v");
    msgpack_pack_uint8 (&pk, 1);
    zo_proto_pack_str (&pk, "cmd");
    zo_proto_pack_str (&pk, cmd);
    if (seq) {
        zo_proto_pack_str (&pk, "seq");
        msgpack_pack_uint64 (&pk, seq);
    }
    if (pad) {
        zo_proto_pack_str (&pk, "pad");
        char *fill = malloc (pad);
        memset (fill, 'p', pad);
        msgpack_pack_str_with_body (&pk, fill, pad);
        free (fill);
    }
}

//  ---------------------------------------------------------------------
//  The client side: a loop, replies recorded

#define S_MAX_SEEN 8192

typedef struct {
    zo_loop_t *loop;
    int want;                   /* stop the loop when this many came */
    int n;
    uint64_t ids [S_MAX_SEEN];
    zo_rpc_status_t status [S_MAX_SEEN];
    zo_cmd_t cmd [S_MAX_SEEN];
    uint64_t msg_seq [S_MAX_SEEN];
    size_t size [S_MAX_SEEN];
    char first_byte [S_MAX_SEEN];
} s_seen_t;

static void
s_on_reply (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
    s_seen_t *seen = arg;
    cr_assert_lt (seen->n, S_MAX_SEEN);
    int i = seen->n++;
    seen->ids [i] = reply->id;
    seen->status [i] = reply->status;
    seen->cmd [i] = reply->msg ? reply->msg->cmd : ZO_CMD_INVALID;
    seen->msg_seq [i] = reply->msg ? reply->msg->seq : 0;
    seen->size [i] = reply->size;
    seen->first_byte [i] = reply->size ? *(const char *) reply->data : 0;
    if (seen->n == seen->want)
        zo_loop_stop (seen->loop);
}

static int
s_on_enough (zo_loop_t *loop, int id, void *arg)
{
    return -1;
}

//  Runs the loop until seen->want replies came or ms passed.
static void
s_run (s_seen_t *seen, int want, uint64_t ms)
{
    seen->want = want;
    if (seen->n >= want && want > 0)
        return;
    int timer = zo_loop_timer (seen->loop, ms, s_on_enough, NULL);
    zo_loop_run (seen->loop);
    zo_loop_cancel (seen->loop, timer);
}

typedef struct {
    void *ctx;
    zo_loop_t *loop;
    s_peer_t peer;
    zo_rpc_t *rpc;
    s_seen_t *seen;
} s_fix_t;

static void
s_fix_start (s_fix_t *f, int port, const zo_rpc_opts_t *opts)
{
    f->ctx = zmq_ctx_new ();
    f->loop = zo_loop_new ();
    cr_assert_not_null (f->loop);
    s_peer_start (&f->peer, f->ctx, port);
    f->rpc = zo_rpc_new (f->loop, f->ctx, f->peer.endpoint, opts);
    cr_assert_not_null (f->rpc);
    f->seen = calloc (1, sizeof (s_seen_t));
    f->seen->loop = f->loop;
}

static void
s_fix_stop (s_fix_t *f)
{
    zo_rpc_destroy (&f->rpc);
    cr_assert_null (f->rpc);
    zo_rpc_destroy (&f->rpc);          //  harmless twice
    s_peer_stop (&f->peer);
    zo_loop_destroy (&f->loop);
    zmq_ctx_term (f->ctx);
    free (f->seen);
}

static uint64_t
s_ping (s_fix_t *f, uint32_t timeout_ms)
{
    zo_msg_t req = { .cmd = ZO_CMD_PING };
    uint64_t id = zo_rpc_request (f->rpc, &req, timeout_ms, s_on_reply, f->seen);
    cr_assert_neq (id, 0, "request: %s", strerror (errno));
    cr_assert_eq (req.seq, id, "the id is the seq sent");
    return id;
}

//  ---------------------------------------------------------------------

Test (rpc, replies_out_of_order_match_by_seq)
{
    s_fix_t f;
    s_fix_start (&f, 17700, NULL);
    uint64_t ids [3];
    s_req_t reqs [3];
    for (int i = 0; i < 3; i++)
        ids [i] = s_ping (&f, 3000);
    cr_assert_eq (zo_rpc_pending (f.rpc), 3);
    for (int i = 0; i < 3; i++) {
        s_peer_recv (&f.peer, &reqs [i]);
        cr_assert_eq (reqs [i].cmd, ZO_CMD_PING);
        cr_assert_eq (reqs [i].seq, ids [i]);
    }
    //  Answered last first.
    for (int i = 2; i >= 0; i--)
        s_peer_reply (&f.peer, &reqs [i], ZO_CMD_PONG);
    s_run (f.seen, 3, 3000);
    cr_assert_eq (f.seen->n, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq (f.seen->ids [i], ids [2 - i]);
        cr_assert_eq (f.seen->status [i], ZO_RPC_OK);
        cr_assert_eq (f.seen->cmd [i], ZO_CMD_PONG);
        cr_assert_eq (f.seen->msg_seq [i], ids [2 - i]);
    }
    zo_rpc_counts_t c = zo_rpc_counts (f.rpc);
    cr_assert_eq (c.requests, 3);
    cr_assert_eq (c.replies, 3);
    cr_assert_eq (c.inflight, 0);
    cr_assert_eq (c.errors + c.late + c.timeouts, 0);
    s_fix_stop (&f);
}

Test (rpc, timeout_fires_and_late_reply_is_counted_and_dropped)
{
    s_fix_t f;
    s_fix_start (&f, 17710, NULL);
    uint64_t slow = s_ping (&f, 100);
    uint64_t later = s_ping (&f, 3000);
    s_req_t r1, r2;
    s_peer_recv (&f.peer, &r1);
    s_peer_recv (&f.peer, &r2);
    uint64_t t0 = zo_clock_mono_ns ();
    s_run (f.seen, 1, 2000);
    uint64_t took_ms = (zo_clock_mono_ns () - t0) / 1000000;
    cr_assert_eq (f.seen->n, 1);
    cr_assert_eq (f.seen->ids [0], slow);
    cr_assert_eq (f.seen->status [0], ZO_RPC_TIMEOUT);
    cr_assert_lt (took_ms, 1000, "the timeout fired on time (%llu ms)",
                  (unsigned long long) took_ms);
    cr_assert_eq (zo_rpc_counts (f.rpc).timeouts, 1);
    cr_assert_eq (zo_rpc_pending (f.rpc), 1);
    //  The late reply is dropped; the other request still gets its own.
    s_peer_reply (&f.peer, &r1, ZO_CMD_PONG);
    s_peer_reply (&f.peer, &r2, ZO_CMD_PONG);
    s_run (f.seen, 2, 3000);
    cr_assert_eq (f.seen->n, 2);
    cr_assert_eq (f.seen->ids [1], later);
    cr_assert_eq (f.seen->status [1], ZO_RPC_OK);
    zo_rpc_counts_t c = zo_rpc_counts (f.rpc);
    cr_assert_eq (c.late, 1);
    cr_assert_eq (c.replies, 1);
    cr_assert_eq (c.errors, 0);
    s_fix_stop (&f);
}

Test (rpc, table_full_fails_at_once_and_cancel_frees_a_slot)
{
    s_fix_t f;
    zo_rpc_opts_t opts = { .max_pending = 4 };
    s_fix_start (&f, 17720, &opts);
    uint64_t ids [4];
    for (int i = 0; i < 4; i++)
        ids [i] = s_ping (&f, 3000);
    zo_msg_t req = { .cmd = ZO_CMD_PING };
    errno = 0;
    cr_assert_eq (zo_rpc_request (f.rpc, &req, 3000, s_on_reply, f.seen), 0);
    cr_assert_eq (errno, ENOBUFS);
    cr_assert_eq (zo_rpc_counts (f.rpc).errors, 1);

    //  Cancel: gone at once, the callback never runs, its reply is late.
    cr_assert_eq (zo_rpc_cancel (f.rpc, ids [1]), 0);
    cr_assert_eq (zo_rpc_cancel (f.rpc, ids [1]), -1, "cancelled once only");
    cr_assert_eq (zo_rpc_cancel (f.rpc, 12345), -1);
    cr_assert_eq (zo_rpc_pending (f.rpc), 3);
    uint64_t fifth = s_ping (&f, 3000);
    cr_assert_neq (fifth, ids [1], "a reused slot gets a new seq");
    s_req_t r [5];
    for (int i = 0; i < 5; i++) {
        s_peer_recv (&f.peer, &r [i]);
        s_peer_reply (&f.peer, &r [i], ZO_CMD_PONG);
    }
    s_run (f.seen, 4, 3000);
    s_run (f.seen, 0, 100);         //  let the cancelled one's reply in too
    cr_assert_eq (f.seen->n, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_neq (f.seen->ids [i], ids [1]);
    zo_rpc_counts_t c = zo_rpc_counts (f.rpc);
    cr_assert_eq (c.replies, 4);
    cr_assert_eq (c.late, 1);
    s_fix_stop (&f);
}

Test (rpc, thousands_in_flight)
{
    s_fix_t f;
    zo_rpc_opts_t opts = { .max_pending = 5000 };
    s_fix_start (&f, 17730, &opts);
    enum { N = 5000 };
    for (int i = 0; i < N; i++)
        s_ping (&f, 10000);
    cr_assert_eq (zo_rpc_pending (f.rpc), N);
    s_req_t r;
    for (int i = 0; i < N; i++) {
        s_peer_recv (&f.peer, &r);
        s_peer_reply (&f.peer, &r, ZO_CMD_PONG);
    }
    s_run (f.seen, N, 5000);
    cr_assert_eq (f.seen->n, N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq (f.seen->status [i], ZO_RPC_OK);
        cr_assert_eq (f.seen->msg_seq [i], f.seen->ids [i]);
    }
    cr_assert_eq (zo_rpc_pending (f.rpc), 0);
    s_fix_stop (&f);
}

Test (rpc, peer_restarted_later_requests_are_answered)
{
    s_fix_t f;
    s_fix_start (&f, 17740, NULL);
    uint64_t lost = s_ping (&f, 300);
    s_req_t r;
    s_peer_recv (&f.peer, &r);
    //  The peer dies with the request unanswered and comes back.
    zmq_close (f.peer.router);
    f.peer.router = NULL;
    s_run (f.seen, 1, 2000);
    cr_assert_eq (f.seen->n, 1);
    cr_assert_eq (f.seen->ids [0], lost);
    cr_assert_eq (f.seen->status [0], ZO_RPC_TIMEOUT);
    s_peer_bind (&f.peer);
    uint64_t next = s_ping (&f, 5000);
    s_peer_recv (&f.peer, &r);
    cr_assert_eq (r.seq, next);
    s_peer_reply (&f.peer, &r, ZO_CMD_PONG);
    s_run (f.seen, 2, 5000);
    cr_assert_eq (f.seen->n, 2);
    cr_assert_eq (f.seen->ids [1], next);
    cr_assert_eq (f.seen->status [1], ZO_RPC_OK);
    s_fix_stop (&f);
}

Test (rpc, bad_replies_are_rejected_and_counted)
{
    s_fix_t f;
    zo_stats_t *stats = zo_stats_new ("test", "rpc");
    zo_rpc_opts_t opts = { .name = "peer", .max_frame = 1024, .stats = stats };
    s_fix_start (&f, 17750, &opts);
    uint64_t big = s_ping (&f, 3000);
    uint64_t multi = s_ping (&f, 3000);
    uint64_t bad = s_ping (&f, 3000);
    uint64_t garbled = s_ping (&f, 300);
    s_req_t r [4];
    for (int i = 0; i < 4; i++)
        s_peer_recv (&f.peer, &r [i]);

    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    s_map (&buf, "PONG", big, 2000);                  //  over max_frame
    s_peer_send (&f.peer, &r [0], buf.data, buf.size, false);
    msgpack_sbuffer_clear (&buf);
    s_map (&buf, "PONG", multi, 0);                   //  then a second frame
    s_peer_send (&f.peer, &r [1], buf.data, buf.size, true);
    msgpack_sbuffer_clear (&buf);
    s_map (&buf, "NO_SUCH_COMMAND", bad, 0);          //  seq readable, bad command
    s_peer_send (&f.peer, &r [2], buf.data, buf.size, false);
    s_peer_send (&f.peer, &r [3], "\xc1\xc1garbage", 9, false);  //  nothing readable
    msgpack_sbuffer_destroy (&buf);

    s_run (f.seen, 4, 3000);
    cr_assert_eq (f.seen->n, 4);
    cr_assert_eq (f.seen->ids [0], big);
    cr_assert_eq (f.seen->status [0], ZO_RPC_TOO_LARGE);
    cr_assert_gt (f.seen->size [0], 1024, "the rejected bytes are shown");
    cr_assert_eq (f.seen->ids [1], multi);
    cr_assert_eq (f.seen->status [1], ZO_RPC_BAD_MESSAGE);
    cr_assert_eq (f.seen->ids [2], bad);
    cr_assert_eq (f.seen->status [2], ZO_RPC_BAD_MESSAGE);
    //  The garbage named no request: that one ends by its deadline.
    cr_assert_eq (f.seen->ids [3], garbled);
    cr_assert_eq (f.seen->status [3], ZO_RPC_TIMEOUT);

    cr_assert_eq (*zo_stats_counter (stats, "rpc_peer_errors_total"), 4);
    cr_assert_eq (*zo_stats_counter (stats, "rpc_peer_rejected_total"), 4);
    cr_assert_eq (*zo_stats_counter (stats, "rpc_peer_requests_total"), 4);
    cr_assert_eq (*zo_stats_counter (stats, "rpc_peer_timeouts_total"), 1);
    cr_assert_eq (*zo_stats_counter (stats, "rpc_peer_replies_total"), 0);
    cr_assert_eq (*zo_stats_gauge (stats, "rpc_peer_inflight"), 0);

    //  The client still works.
    s_ping (&f, 3000);
    cr_assert_eq (*zo_stats_gauge (stats, "rpc_peer_inflight"), 1);
    s_req_t ok;
    s_peer_recv (&f.peer, &ok);
    s_peer_reply (&f.peer, &ok, ZO_CMD_PONG);
    s_run (f.seen, 5, 3000);
    cr_assert_eq (f.seen->status [4], ZO_RPC_OK);
    s_fix_stop (&f);
    zo_stats_destroy (&stats);
}

Test (rpc, raw_request_gets_v_and_seq_and_a_raw_reply)
{
    s_fix_t f;
    s_fix_start (&f, 17760, NULL);
    //  A plugin's request: {cmd: "PING", x: 7}, without v and seq.
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 2);
    zo_proto_pack_str (&pk, "cmd");
    zo_proto_pack_str (&pk, "PING");
    zo_proto_pack_str (&pk, "x");
    msgpack_pack_uint8 (&pk, 7);
    uint64_t id = zo_rpc_request_raw (f.rpc, buf.data, buf.size, 3000, s_on_reply, f.seen);
    cr_assert_neq (id, 0);
    s_req_t r;
    s_peer_recv (&f.peer, &r);              //  the real codec reads it: v and seq are there
    cr_assert_eq (r.cmd, ZO_CMD_PING);
    cr_assert_eq (r.seq, id);
    uint32_t pairs;
    zo_mp_t mp;
    zo_mp_init (&mp, r.body, r.size);
    cr_assert_eq (zo_mp_read_map (&mp, &pairs), 0);
    cr_assert_eq (pairs, 4);

    //  The reply is a command the codec does not know: given as bytes.
    msgpack_sbuffer reply;
    msgpack_sbuffer_init (&reply);
    s_map (&reply, "CACHE_VALUE", r.seq, 10);
    s_peer_send (&f.peer, &r, reply.data, reply.size, false);
    s_run (f.seen, 1, 3000);
    cr_assert_eq (f.seen->n, 1);
    cr_assert_eq (f.seen->ids [0], id);
    cr_assert_eq (f.seen->status [0], ZO_RPC_OK);
    cr_assert_eq (f.seen->cmd [0], ZO_CMD_INVALID, "not decoded");
    cr_assert_eq (f.seen->size [0], reply.size);
    msgpack_sbuffer_destroy (&reply);

    //  What is not one map without v and seq is refused.
    cr_assert_eq (zo_rpc_request_raw (f.rpc, "\x93\x01\x02\x03", 4, 100, s_on_reply, f.seen), 0);
    cr_assert_eq (errno, EINVAL);
    cr_assert_eq (zo_rpc_request_raw (f.rpc, buf.data, buf.size - 1, 100, s_on_reply, f.seen), 0);
    cr_assert_eq (errno, EINVAL);
    msgpack_sbuffer_clear (&buf);
    msgpack_pack_map (&pk, 1);
    zo_proto_pack_str (&pk, "seq");
    msgpack_pack_uint8 (&pk, 1);
    cr_assert_eq (zo_rpc_request_raw (f.rpc, buf.data, buf.size, 100, s_on_reply, f.seen), 0);
    cr_assert_eq (errno, EINVAL);
    msgpack_sbuffer_destroy (&buf);
    s_fix_stop (&f);
}

Test (rpc, destroy_ends_pending_requests)
{
    s_fix_t f;
    s_fix_start (&f, 17770, NULL);
    s_ping (&f, 3000);
    s_ping (&f, 3000);
    s_seen_t *seen = f.seen;
    zo_rpc_destroy (&f.rpc);
    cr_assert_eq (seen->n, 2);
    cr_assert_eq (seen->status [0], ZO_RPC_CLOSED);
    cr_assert_eq (seen->status [1], ZO_RPC_CLOSED);
    s_fix_stop (&f);
}

//  ---------------------------------------------------------------------
//  Against the real broker

typedef struct {
    uint32_t total;
    zo_cmd_t cmd;
} s_dlq_t;

static void
s_on_items (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
    s_dlq_t *d = arg;
    d->cmd = reply->msg ? reply->msg->cmd : ZO_CMD_INVALID;
    d->total = reply->msg ? reply->msg->total : 999;
}

Test (rpc, real_broker_ping_and_dlq_list)
{
    const char *bin = getenv ("ZORCH_BROKER_BIN");
    cr_assert_not_null (bin, "ZORCH_BROKER_BIN is set by meson");
    char dir [64] = "/tmp/zorch-test-rpc-XXXXXX";
    cr_assert_not_null (mkdtemp (dir));
    const char *front = "tcp://127.0.0.1:17780";
    pid_t pid = fork ();
    cr_assert_geq (pid, 0);
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);     //  not to outlive a failed test
        execl (bin, bin, "--broker-front", front, "--broker-back", "tcp://127.0.0.1:17781",
               "--broker-data-dir", dir, "--stats-endpoint", "tcp://127.0.0.1:17782",
               "--log-level", "warning", (char *) NULL);
        _exit (127);
    }
    void *ctx = zmq_ctx_new ();
    zo_loop_t *loop = zo_loop_new ();
    zo_rpc_t *rpc = zo_rpc_new (loop, ctx, front, NULL);
    cr_assert_not_null (rpc);
    int up = -1;
    for (int i = 0; i < 50 && up; i++)
        up = zo_rpc_ping (rpc, 100);
    cr_assert_eq (up, 0, "the broker answered PING");

    zo_msg_t req = { .cmd = ZO_CMD_DLQ_LIST, .limit = 10 };
    s_dlq_t d = { 0 };
    cr_assert_eq (zo_rpc_call (rpc, &req, 2000, s_on_items, &d), ZO_RPC_OK);
    cr_assert_eq (d.cmd, ZO_CMD_DLQ_ITEMS);
    cr_assert_eq (d.total, 0);

    //  The broker stopped: a call ends by its deadline.
    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
    cr_assert_eq (zo_rpc_call (rpc, &req, 200, NULL, NULL), ZO_RPC_TIMEOUT);

    zo_rpc_destroy (&rpc);
    zo_loop_destroy (&loop);
    zmq_ctx_term (ctx);
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq (system (cmd), 0);
}

static uint64_t
s_frozen (void *arg)
{
    return *(uint64_t *) arg;
}

/*  Requests with many different timeouts, some cancelled: each of the
    others ends by its own deadline, no sooner, and they end in deadline
    order (the heap, not the order they were made). The loop's clock
    stands still while they are made, so that deadline order is timeout
    order.  */
Test (rpc, mixed_timeouts_end_in_deadline_order)
{
    s_fix_t f;
    s_fix_start (&f, 17790, NULL);
    enum { N = 300 };
    uint64_t ids [N];
    uint32_t timeout [N];
    uint64_t t0 = zo_clock_mono_ns ();
    zo_loop_set_clock (f.loop, s_frozen, &t0);
    for (int i = 0; i < N; i++) {
        timeout [i] = 20 + (uint32_t) ((i * 37) % 200);      //  20..219 ms, shuffled
        ids [i] = s_ping (&f, timeout [i]);
    }
    zo_loop_set_clock (f.loop, NULL, NULL);
    int cancelled = 0;
    for (int i = 0; i < N; i += 7) {
        cr_assert_eq (zo_rpc_cancel (f.rpc, ids [i]), 0);
        cancelled++;
    }
    cr_assert_eq (zo_rpc_pending (f.rpc), N - cancelled);
    s_run (f.seen, N - cancelled, 5000);
    uint64_t took_ms = (zo_clock_mono_ns () - t0) / 1000000;
    cr_assert_eq (f.seen->n, N - cancelled);
    uint32_t last = 0;
    for (int k = 0; k < f.seen->n; k++) {
        int i = 0;
        while (i < N && ids [i] != f.seen->ids [k])
            i++;
        cr_assert_lt (i, N, "a reply for a request that was made");
        cr_assert_neq (i % 7, 0, "a cancelled request never ends");
        cr_assert_eq (f.seen->status [k], ZO_RPC_TIMEOUT);
        cr_assert_geq (timeout [i], last, "request %d (%u ms) ended after one of %u ms", i,
                       timeout [i], last);
        last = timeout [i];
    }
    cr_assert_geq (took_ms, 219, "the last ended by its deadline, not sooner");
    cr_assert_eq (zo_rpc_pending (f.rpc), 0);
    cr_assert_eq (zo_rpc_counts (f.rpc).timeouts, (uint64_t) (N - cancelled));
    s_fix_stop (&f);
}
