/*  Tests of actors/worker/worker.c: the zorch-worker binary against a fake
    broker (a ROUTER socket here, speaking zo_proto): READY, DISPATCH ->
    DONE with credit, HEARTBEAT, ERROR not_ready -> READY, reconnect when
    the broker goes silent, SIGTERM -> DONE, BYE, exit 0, and QUIET.  */
#include <criterion/criterion.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "zo_loop.h"
#include "zo_proto.h"

extern char **environ;

static void *ctx, *router;
static zo_proto_t *dec;
static zmq_msg_t body;
static bool body_open;
static char ident [256];
static size_t ident_len;
static bool heartbeat_on = true;
static uint64_t last_hb_ms;
static pid_t worker_pid;

static uint64_t
s_now_ms (void)
{
    return zo_clock_mono_ns () / 1000000;
}

static void
s_send (const zo_msg_t *msg)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    zo_proto_encode (&pk, msg);
    cr_assert_eq (zmq_send (router, ident, ident_len, ZMQ_SNDMORE), (int) ident_len);
    cr_assert_eq (zmq_send (router, sbuf.data, sbuf.size, 0), (int) sbuf.size);
    msgpack_sbuffer_destroy (&sbuf);
}

/*  Next message from the worker into *msg within timeout_ms (HEARTBEATs
    skipped unless skip_hb is false). Sends our own heartbeats meanwhile.  */
static bool
s_recv (zo_msg_t *msg, int timeout_ms, bool skip_hb)
{
    uint64_t end = s_now_ms () + (uint64_t) timeout_ms;
    while (s_now_ms () < end) {
        if (heartbeat_on && ident_len && s_now_ms () - last_hb_ms >= 100) {
            zo_msg_t hb = { .cmd = ZO_CMD_HEARTBEAT };
            s_send (&hb);
            last_hb_ms = s_now_ms ();
        }
        zmq_pollitem_t item = { router, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 20) <= 0)
            continue;
        char id [256];
        int n = zmq_recv (router, id, sizeof (id), 0);
        cr_assert_gt (n, 0);
        if (body_open)
            zmq_msg_close (&body);
        zmq_msg_init (&body);
        body_open = true;
        cr_assert_geq (zmq_msg_recv (&body, router, 0), 0);
        cr_assert_not (zmq_msg_more (&body), "one body frame per message");
        cr_assert_eq (zo_proto_decode (dec, zmq_msg_data (&body), zmq_msg_size (&body), msg), 0,
                      "worker sent a bad message: %s", zo_proto_errstr (dec));
        if (msg->cmd == ZO_CMD_READY) {
            memcpy (ident, id, (size_t) n);
            ident_len = (size_t) n;
        }
        if (skip_hb && msg->cmd == ZO_CMD_HEARTBEAT)
            continue;
        return true;
    }
    return false;
}

/*  Starts zorch-worker against our ROUTER; its STATS go to stats (every
    100 ms), or nowhere when NULL.  */
static void
s_start_worker_stats (const char *stats)
{
    const char *bin = getenv ("ZORCH_WORKER_BIN");
    cr_assert (bin, "ZORCH_WORKER_BIN must name zorch-worker (meson sets it)");
    ctx = zmq_ctx_new ();
    router = zmq_socket (ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt (router, ZMQ_LINGER, &linger, sizeof (linger));
    cr_assert_eq (zmq_bind (router, "tcp://127.0.0.1:*"), 0);
    char endpoint [128];
    size_t size = sizeof (endpoint);
    zmq_getsockopt (router, ZMQ_LAST_ENDPOINT, endpoint, &size);
    dec = zo_proto_new ();
    char *argv [] = { (char *) bin, "--worker-broker", endpoint, "--worker-capacity", "4",
                      "--worker-heartbeat", "200", "--worker-name", "tw1", "--worker-grace", "3s",
                      "--stats-endpoint", stats ? (char *) stats : "ipc:///tmp/zo_test_worker_stats",
                      "--stats-interval", stats ? "100ms" : "1s", NULL };
    cr_assert_eq (posix_spawn (&worker_pid, bin, NULL, NULL, argv, environ), 0);
}

static void
s_start_worker (void)
{
    s_start_worker_stats (NULL);
}

static void
s_stop_worker (void)
{
    if (worker_pid > 0) {
        kill (worker_pid, SIGKILL);
        waitpid (worker_pid, NULL, 0);
    }
    if (body_open)
        zmq_msg_close (&body);
    zo_proto_destroy (&dec);
    zmq_close (router);
    zmq_ctx_term (ctx);
}

static zo_item_t
s_item (const char *id, const char *type, const uint8_t *payload, uint32_t len, uint32_t attempt)
{
    zo_item_t item;
    memset (&item, 0, sizeof (item));
    item.event.id = zo_span_str (id);
    item.event.type = zo_span_str (type);
    item.event.payload = (zo_span_t) { payload, len };
    item.attempt = attempt;
    item.deadline_ms = 60000;
    return item;
}

Test (worker, protocol_against_fake_broker, .timeout = 30)
{
    s_start_worker ();
    zo_msg_t msg;
    cr_assert (s_recv (&msg, 5000, true), "no READY");
    cr_assert_eq (msg.cmd, ZO_CMD_READY);
    cr_assert (zo_span_eq (msg.name, "tw1"));
    cr_assert_eq (msg.capacity, 4);
    cr_assert_eq (msg.credit, 4);

    /*  DISPATCH three items: echo, fail (last attempt: final), sleep.  */
    static const uint8_t payload [] = { 0x81, 0xa1, 'a', 0x01 };        /* {"a":1} */
    static const uint8_t sleep_ms [] = { 0x81, 0xa2, 'm', 's', 0x0a };  /* {"ms":10} */
    zo_item_t items [3] = {
        s_item ("e1", "x.echo", payload, sizeof (payload), 1),
        s_item ("e2", "test.fail1", NULL, 0, 3),
        s_item ("e3", "bench.sleep", sleep_ms, sizeof (sleep_ms), 1),
    };
    zo_msg_t dispatch = { .cmd = ZO_CMD_DISPATCH, .items = items, .n_items = 3 };
    s_send (&dispatch);
    int results = 0, credit = 0;
    bool seen [3] = { false };
    while (results < 3) {
        cr_assert (s_recv (&msg, 3000, true), "no DONE");
        cr_assert_eq (msg.cmd, ZO_CMD_DONE, "got %s", zo_cmd_name (msg.cmd));
        credit += (int) msg.credit;
        for (uint32_t i = 0; i < msg.n_results; i++) {
            zo_result_t *r = &msg.results_ [i];
            results++;
            if (zo_span_eq (r->id, "e1")) {
                cr_assert (r->ok);
                cr_assert_eq (r->result.len, sizeof (payload));
                cr_assert_eq (memcmp (r->result.ptr, payload, sizeof (payload)), 0, "echo is verbatim");
                seen [0] = true;
            }
            else
            if (zo_span_eq (r->id, "e2")) {
                cr_assert_not (r->ok);
                cr_assert (r->final);
                cr_assert (zo_span_eq (r->error, "fail handler"));
                seen [1] = true;
            }
            else {
                cr_assert (zo_span_eq (r->id, "e3"));
                cr_assert (r->ok);
                cr_assert_geq (r->took_ns, 9000000);
                seen [2] = true;
            }
        }
    }
    cr_assert (seen [0] && seen [1] && seen [2]);
    cr_assert_eq (credit, 3, "one credit per finished event keeps the window at 4");

    /*  Quiet: a HEARTBEAT within a few intervals.  */
    cr_assert (s_recv (&msg, 2000, false));
    cr_assert_eq (msg.cmd, ZO_CMD_HEARTBEAT, "got %s", zo_cmd_name (msg.cmd));

    /*  The broker forgot us: READY again, with the free credit.  */
    zo_msg_t not_ready = { .cmd = ZO_CMD_ERROR, .code = zo_span_str ("not_ready"),
                           .reason = zo_span_str ("send READY") };
    s_send (&not_ready);
    cr_assert (s_recv (&msg, 2000, true));
    cr_assert_eq (msg.cmd, ZO_CMD_READY, "got %s", zo_cmd_name (msg.cmd));
    cr_assert_eq (msg.credit, 4);

    /*  The broker goes silent: after 3 intervals the worker reconnects
        with a new socket and sends READY.  */
    char old_ident [256];
    size_t old_len = ident_len;
    memcpy (old_ident, ident, ident_len);
    heartbeat_on = false;
    uint64_t silent = s_now_ms ();
    bool reconnected = false;
    while (!reconnected && s_recv (&msg, 3000, true))
        if (msg.cmd == ZO_CMD_READY)
            reconnected = true;
    cr_assert (reconnected, "no READY after silence");
    cr_assert_geq (s_now_ms () - silent, 500);
    cr_assert (ident_len != old_len || memcmp (ident, old_ident, old_len), "a new socket");
    heartbeat_on = true;

    /*  SIGTERM with an event in flight: its DONE, then BYE, then exit 0.  */
    static const uint8_t long_ms [] = { 0x81, 0xa2, 'm', 's', 0xcc, 0xc8 };   /* {"ms":200} */
    zo_item_t slow = s_item ("s1", "bench.sleep", long_ms, sizeof (long_ms), 1);
    zo_msg_t d2 = { .cmd = ZO_CMD_DISPATCH, .items = &slow, .n_items = 1 };
    s_send (&d2);
    usleep (50000);
    kill (worker_pid, SIGTERM);
    cr_assert (s_recv (&msg, 3000, true));
    cr_assert_eq (msg.cmd, ZO_CMD_DONE, "got %s", zo_cmd_name (msg.cmd));
    cr_assert_eq (msg.n_results, 1);
    cr_assert (zo_span_eq (msg.results_ [0].id, "s1"));
    cr_assert (msg.results_ [0].ok);
    cr_assert_eq (msg.credit, 0, "no credit while stopping");
    cr_assert (s_recv (&msg, 3000, true));
    cr_assert_eq (msg.cmd, ZO_CMD_BYE, "got %s", zo_cmd_name (msg.cmd));
    int status;
    cr_assert_eq (waitpid (worker_pid, &status, 0), worker_pid);
    worker_pid = 0;
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "status %d", status);
    s_stop_worker ();
}

Test (worker, grace_cancels_as_retryable, .timeout = 30)
{
    s_start_worker ();
    zo_msg_t msg;
    cr_assert (s_recv (&msg, 5000, true));
    cr_assert_eq (msg.cmd, ZO_CMD_READY);
    static const uint8_t long_ms [] = { 0x81, 0xa2, 'm', 's', 0xcd, 0x75, 0x30 };  /* 30000 */
    zo_item_t slow = s_item ("g1", "bench.sleep", long_ms, sizeof (long_ms), 1);
    zo_msg_t d = { .cmd = ZO_CMD_DISPATCH, .items = &slow, .n_items = 1 };
    s_send (&d);
    usleep (100000);
    uint64_t start = s_now_ms ();
    kill (worker_pid, SIGTERM);
    cr_assert (s_recv (&msg, 6000, true));
    cr_assert_eq (msg.cmd, ZO_CMD_DONE, "got %s", zo_cmd_name (msg.cmd));
    cr_assert_geq (s_now_ms () - start, 2900, "after the 3 s grace");
    cr_assert_not (msg.results_ [0].ok);
    cr_assert_not (msg.results_ [0].final, "retried elsewhere");
    cr_assert (zo_span_eq (msg.results_ [0].error, "worker stopping"));
    cr_assert (s_recv (&msg, 3000, true));
    cr_assert_eq (msg.cmd, ZO_CMD_BYE);
    int status;
    cr_assert_eq (waitpid (worker_pid, &status, 0), worker_pid);
    worker_pid = 0;
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    s_stop_worker ();
}

/*  Reads the worker's STATS from pull until one has the gauge quiet at 1;
    returns its counter protocol_errors_total and whether it had notes.  */
static uint64_t
s_quiet_stats (void *pull, bool *notes)
{
    zo_proto_t *sdec = zo_proto_new ();
    uint64_t errors = UINT64_MAX;
    bool quiet = false;
    for (int tries = 0; tries < 50 && !quiet; tries++) {
        char buffer [65536];
        int size = zmq_recv (pull, buffer, sizeof (buffer), 0);
        cr_assert_gt (size, 0, "no STATS from the worker");
        zo_msg_t msg;
        cr_assert_eq (zo_proto_decode (sdec, buffer, (size_t) size, &msg), 0);
        zo_mp_t cur;
        uint32_t n;
        zo_mp_init (&cur, msg.gauges.ptr, msg.gauges.len);
        cr_assert_eq (zo_mp_read_map (&cur, &n), 0);
        for (uint32_t i = 0; i < n; i++) {
            zo_span_t key;
            double v;
            cr_assert_eq (zo_mp_read_str (&cur, &key), 0);
            cr_assert_eq (zo_mp_read_f64 (&cur, &v), 0);
            if (zo_span_eq (key, "quiet"))
                quiet = v == 1;
        }
        zo_mp_init (&cur, msg.counters.ptr, msg.counters.len);
        cr_assert_eq (zo_mp_read_map (&cur, &n), 0);
        for (uint32_t i = 0; i < n; i++) {
            zo_span_t key;
            uint64_t v;
            cr_assert_eq (zo_mp_read_str (&cur, &key), 0);
            cr_assert_eq (zo_mp_read_u64 (&cur, &v), 0);
            if (zo_span_eq (key, "protocol_errors_total"))
                errors = v;
        }
        *notes = msg.notes.len > 0;
    }
    cr_assert (quiet, "the gauge quiet never went to 1");
    zo_proto_destroy (&sdec);
    return errors;
}

/*  QUIET from the broker: no ERROR, no protocol error, no more credit;
    what runs finishes and is reported; SIGTERM then stops it as ever.  */
Test (worker, quiet_finishes_what_runs, .timeout = 30)
{
    char stats [128];
    snprintf (stats, sizeof (stats), "ipc:///tmp/zo_test_worker_quiet_%d", (int) getpid ());
    void *sctx = zmq_ctx_new ();
    void *pull = zmq_socket (sctx, ZMQ_PULL);
    int linger = 0, timeout = 3000;
    zmq_setsockopt (pull, ZMQ_LINGER, &linger, sizeof (linger));
    zmq_setsockopt (pull, ZMQ_RCVTIMEO, &timeout, sizeof (timeout));
    cr_assert_eq (zmq_bind (pull, stats), 0);
    s_start_worker_stats (stats);
    zo_msg_t msg;
    cr_assert (s_recv (&msg, 5000, true));
    cr_assert_eq (msg.cmd, ZO_CMD_READY);
    static const uint8_t long_ms [] = { 0x81, 0xa2, 'm', 's', 0xcc, 0xc8 };   /* {"ms":200} */
    zo_item_t items [2] = {
        s_item ("k1", "bench.sleep", long_ms, sizeof (long_ms), 1),
        s_item ("k2", "bench.sleep", long_ms, sizeof (long_ms), 1),
    };
    zo_msg_t d = { .cmd = ZO_CMD_DISPATCH, .items = items, .n_items = 2 };
    s_send (&d);
    zo_msg_t quiet = { .cmd = ZO_CMD_QUIET };
    s_send (&quiet);
    int results = 0;
    while (results < 2) {
        cr_assert (s_recv (&msg, 3000, true), "no DONE");
        cr_assert_neq (msg.cmd, ZO_CMD_ERROR, "QUIET was answered with an ERROR");
        cr_assert_eq (msg.cmd, ZO_CMD_DONE, "got %s", zo_cmd_name (msg.cmd));
        cr_assert_eq (msg.credit, 0, "a quiet worker grants no credit");
        for (uint32_t i = 0; i < msg.n_results; i++, results++)
            cr_assert (msg.results_ [i].ok);
    }
    /*  Nothing else but heartbeats: no CREDIT.  */
    cr_assert_not (s_recv (&msg, 500, true), "got %s", zo_cmd_name (msg.cmd));
    bool notes = false;
    cr_assert_eq (s_quiet_stats (pull, &notes), 0, "QUIET counted as a protocol error");
    cr_assert (notes, "the worker notes that it is quiet");
    kill (worker_pid, SIGTERM);
    cr_assert (s_recv (&msg, 3000, true));
    cr_assert_eq (msg.cmd, ZO_CMD_BYE, "got %s", zo_cmd_name (msg.cmd));
    int status;
    cr_assert_eq (waitpid (worker_pid, &status, 0), worker_pid);
    worker_pid = 0;
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "status %d", status);
    s_stop_worker ();
    zmq_close (pull);
    zmq_ctx_term (sctx);
}
