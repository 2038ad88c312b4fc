/*  Tests for zorch-broker as a process: the built binary (path in
    $ZORCH_BROKER_BIN) is started with endpoints in a temporary directory,
    and raw DEALER sockets play producer and worker through zo_proto.  */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "zo_proto.h"

static char s_dir [256];
static char s_front [300], s_back [300];
static void *s_ctx;
static pid_t s_pid;
static zo_proto_t *s_dec;
static zmq_msg_t s_frame;            //  keeps the last decoded frame alive
static void *s_pull;                 //  a test's stats socket, if it has one

static void
s_setup (void)
{
    snprintf (s_dir, sizeof (s_dir), "/tmp/zorch-test-broker-XXXXXX");
    cr_assert (mkdtemp (s_dir));
    snprintf (s_front, sizeof (s_front), "ipc://%s/front", s_dir);
    snprintf (s_back, sizeof (s_back), "ipc://%s/back", s_dir);
    s_ctx = zmq_ctx_new ();
    s_dec = zo_proto_new ();
    zmq_msg_init (&s_frame);
}

static void
s_teardown (void)
{
    if (s_pid > 0) {
        kill (s_pid, SIGKILL);
        waitpid (s_pid, NULL, 0);
        s_pid = 0;
    }
    zmq_msg_close (&s_frame);
    zo_proto_destroy (&s_dec);
    if (s_pull) {
        zmq_close (s_pull);
        s_pull = NULL;
    }
    zmq_ctx_term (s_ctx);
    char cmd [300];
    snprintf (cmd, sizeof (cmd), "rm -rf %s", s_dir);
    cr_assert_eq (system (cmd), 0);
}

static void *
s_dealer (const char *endpoint)
{
    void *sock = zmq_socket (s_ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof (linger));
    cr_assert_eq (zmq_connect (sock, endpoint), 0);
    return sock;
}

static void
s_send (void *sock, const zo_msg_t *msg)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    zo_proto_encode (&pk, msg);
    cr_assert_eq (zmq_send (sock, sbuf.data, sbuf.size, 0), (int) sbuf.size);
    msgpack_sbuffer_destroy (&sbuf);
}

//  Receives one message (skipping HEARTBEATs) within timeout_ms; its spans
//  stay valid until the next call. False on timeout.
static bool
s_recv (void *sock, zo_msg_t *msg, int timeout_ms)
{
    while (true) {
        zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, timeout_ms) <= 0)
            return false;
        zmq_msg_close (&s_frame);
        zmq_msg_init (&s_frame);
        cr_assert (zmq_msg_recv (&s_frame, sock, 0) >= 0);
        cr_assert_eq (zo_proto_decode (s_dec, zmq_msg_data (&s_frame), zmq_msg_size (&s_frame), msg), 0,
                      "decode: %s", zo_proto_errstr (s_dec));
        if (msg->cmd != ZO_CMD_HEARTBEAT)
            return true;
    }
}

static void
s_expect (void *sock, zo_msg_t *msg, zo_cmd_t cmd)
{
    cr_assert (s_recv (sock, msg, 5000), "no %s", zo_cmd_name (cmd));
    cr_assert_eq (msg->cmd, cmd, "got %s, wanted %s", zo_cmd_name (msg->cmd), zo_cmd_name (cmd));
}

static bool
s_eq (zo_span_t span, const char *str)
{
    return span.len == strlen (str) && memcmp (span.ptr, str, span.len) == 0;
}

//  Starts the broker with extra flags (NULL-terminated) and waits until it
//  answers PING.
static void
s_start (const char *flag, ...)
{
    const char *bin = getenv ("ZORCH_BROKER_BIN");
    cr_assert (bin, "ZORCH_BROKER_BIN not set");
    const char *argv [40];
    int argc = 0;
    argv [argc++] = bin;
    argv [argc++] = "--broker-front"; argv [argc++] = s_front;
    argv [argc++] = "--broker-back"; argv [argc++] = s_back;
    argv [argc++] = "--broker-data-dir"; argv [argc++] = s_dir;
    argv [argc++] = "--stats-endpoint"; argv [argc++] = "inproc://nowhere";
    va_list args;
    va_start (args, flag);
    for (const char *f = flag; f && argc < 38; f = va_arg (args, const char *))
        argv [argc++] = f;
    va_end (args);
    argv [argc] = NULL;
    s_pid = fork ();
    cr_assert (s_pid >= 0);
    if (s_pid == 0) {
        execv (bin, (char **) argv);
        _exit (127);
    }
    void *probe = s_dealer (s_front);
    zo_msg_t ping = { .cmd = ZO_CMD_PING, .seq = 99 }, msg;
    bool up = false;
    for (int i = 0; i < 50 && !up; i++) {
        s_send (probe, &ping);
        up = s_recv (probe, &msg, 100) && msg.cmd == ZO_CMD_PONG && msg.seq == 99;
    }
    zmq_close (probe);
    cr_assert (up, "broker did not answer");
}

static int
s_stop (int signum)
{
    kill (s_pid, signum);
    int status;
    cr_assert_eq (waitpid (s_pid, &status, 0), s_pid);
    s_pid = 0;
    cr_assert (WIFEXITED (status), "broker died of a signal");
    return WEXITSTATUS (status);
}

//  A raw event map.
static zo_event_t
s_event (msgpack_sbuffer *sbuf, const char *id)
{
    msgpack_sbuffer_init (sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    msgpack_pack_str_with_body (&pk, "id", 2);
    msgpack_pack_str_with_body (&pk, id, strlen (id));
    msgpack_pack_str_with_body (&pk, "type", 4);
    msgpack_pack_str_with_body (&pk, "test.x", 6);
    msgpack_pack_str_with_body (&pk, "extra", 5);     //  unknown keys travel too
    msgpack_pack_int (&pk, 7);
    zo_event_t ev = { 0 };
    ev.raw.ptr = (const uint8_t *) sbuf->data;
    ev.raw.len = (uint32_t) sbuf->size;
    return ev;
}

static void
s_submit (void *producer, uint64_t seq, const char **ids, int n, bool results)
{
    msgpack_sbuffer bufs [n];
    zo_event_t events [n];
    for (int i = 0; i < n; i++)
        events [i] = s_event (&bufs [i], ids [i]);
    zo_msg_t msg = { .cmd = ZO_CMD_SUBMIT, .seq = seq, .results = results,
                     .events = events, .n_events = (uint32_t) n };
    s_send (producer, &msg);
    for (int i = 0; i < n; i++)
        msgpack_sbuffer_destroy (&bufs [i]);
}

static void
s_ready (void *worker, uint32_t credit)
{
    zo_msg_t msg = { .cmd = ZO_CMD_READY, .name = zo_span_str ("w"), .capacity = 100, .credit = credit };
    s_send (worker, &msg);
}

static void
s_done (void *worker, const char *id, bool ok, const char *error, bool final, uint32_t credit)
{
    zo_result_t result = { .id = zo_span_str (id), .ok = ok, .final = final, .took_ns = 5 };
    if (error)
        result.error = zo_span_str (error);
    //  A result value: the msgpack string "yes".
    if (ok) {
        result.result.ptr = (const uint8_t *) "\xa3yes";
        result.result.len = 4;
    }
    zo_msg_t msg = { .cmd = ZO_CMD_DONE, .results_ = &result, .n_results = 1, .credit = credit };
    s_send (worker, &msg);
}

//  A raw event map with a deadline.
static zo_event_t
s_event_deadline (msgpack_sbuffer *sbuf, const char *id, uint32_t deadline_ms)
{
    msgpack_sbuffer_init (sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    msgpack_pack_str_with_body (&pk, "id", 2);
    msgpack_pack_str_with_body (&pk, id, strlen (id));
    msgpack_pack_str_with_body (&pk, "type", 4);
    msgpack_pack_str_with_body (&pk, "test.x", 6);
    msgpack_pack_str_with_body (&pk, "deadline_ms", 11);
    msgpack_pack_uint32 (&pk, deadline_ms);
    zo_event_t ev = { 0 };
    ev.raw.ptr = (const uint8_t *) sbuf->data;
    ev.raw.len = (uint32_t) sbuf->size;
    return ev;
}

TestSuite (broker, .init = s_setup, .fini = s_teardown, .timeout = 60);

Test (broker, submit_dispatch_done_result)
{
    s_start (NULL);
    void *producer = s_dealer (s_front), *worker = s_dealer (s_back);
    zo_msg_t msg;
    const char *ids [] = { "e1" };
    s_submit (producer, 1, ids, 1, true);
    s_expect (producer, &msg, ZO_CMD_ACK);
    cr_assert_eq (msg.seq, 1);
    cr_assert_eq (msg.accepted, 1);
    cr_assert_eq (msg.duplicates, 0);

    s_ready (worker, 10);
    s_expect (worker, &msg, ZO_CMD_DISPATCH);
    cr_assert_eq (msg.n_items, 1);
    cr_assert_eq (msg.items [0].attempt, 1);
    cr_assert (msg.items [0].deadline_ms > 290000);
    msgpack_sbuffer sbuf;
    zo_event_t sent = s_event (&sbuf, "e1");
    cr_assert_eq (msg.items [0].event.raw.len, sent.raw.len);
    cr_assert_eq (memcmp (msg.items [0].event.raw.ptr, sent.raw.ptr, sent.raw.len), 0,
                  "event not forwarded byte for byte");
    msgpack_sbuffer_destroy (&sbuf);

    s_done (worker, "e1", true, NULL, false, 1);
    s_expect (producer, &msg, ZO_CMD_RESULT);
    cr_assert_eq (msg.n_results, 1);
    cr_assert (s_eq (msg.results_ [0].id, "e1"));
    cr_assert (msg.results_ [0].ok);
    cr_assert_eq (msg.results_ [0].attempts, 1);
    cr_assert_eq (msg.results_ [0].took_ns, 5);
    cr_assert_eq (msg.results_ [0].result.len, 4);

    //  The same id again: acknowledged, not processed, no second RESULT.
    s_submit (producer, 2, ids, 1, true);
    s_expect (producer, &msg, ZO_CMD_ACK);
    cr_assert_eq (msg.accepted, 0);
    cr_assert_eq (msg.duplicates, 1);
    cr_assert_not (s_recv (worker, &msg, 300));
    cr_assert_not (s_recv (producer, &msg, 100));

    //  A late DONE for it is ignored: no second RESULT.
    s_done (worker, "e1", true, NULL, false, 0);
    cr_assert_not (s_recv (producer, &msg, 300));

    zmq_close (producer);
    zmq_close (worker);
    cr_assert_eq (s_stop (SIGTERM), 0);
}

Test (broker, retries_then_dead_letters_then_replay)
{
    s_start ("--broker-max-attempts", "2", "--broker-retry-backoff", "20ms", NULL);
    void *producer = s_dealer (s_front), *worker = s_dealer (s_back);
    zo_msg_t msg;
    const char *ids [] = { "f1" };
    s_submit (producer, 1, ids, 1, true);
    s_expect (producer, &msg, ZO_CMD_ACK);
    s_ready (worker, 10);
    s_expect (worker, &msg, ZO_CMD_DISPATCH);
    cr_assert_eq (msg.items [0].attempt, 1);
    s_done (worker, "f1", false, "boom 1", false, 1);
    s_expect (worker, &msg, ZO_CMD_DISPATCH);          //  after the backoff
    cr_assert_eq (msg.items [0].attempt, 2);
    s_done (worker, "f1", false, "boom 2", false, 1);
    s_expect (producer, &msg, ZO_CMD_RESULT);
    cr_assert_not (msg.results_ [0].ok);
    cr_assert (s_eq (msg.results_ [0].error, "boom 2"));
    cr_assert_eq (msg.results_ [0].attempts, 2);

    zo_msg_t list = { .cmd = ZO_CMD_DLQ_LIST, .seq = 5 };
    s_send (producer, &list);
    s_expect (producer, &msg, ZO_CMD_DLQ_ITEMS);
    cr_assert_eq (msg.seq, 5);
    cr_assert_eq (msg.total, 1);
    cr_assert_eq (msg.n_dead, 1);
    cr_assert (s_eq (msg.dead [0].event.id, "f1"));
    cr_assert (s_eq (msg.dead [0].error, "boom 2"));
    cr_assert_eq (msg.dead [0].attempts, 2);

    zo_msg_t replay = { .cmd = ZO_CMD_DLQ_REPLAY, .seq = 6 };
    s_send (producer, &replay);
    s_expect (producer, &msg, ZO_CMD_DLQ_DONE);
    cr_assert_eq (msg.count, 1);
    s_expect (worker, &msg, ZO_CMD_DISPATCH);
    cr_assert_eq (msg.items [0].attempt, 1);            //  fresh attempts
    //  final: dead at once.
    s_done (worker, "f1", false, "no way", true, 1);
    zo_msg_t purge = { .cmd = ZO_CMD_DLQ_PURGE, .seq = 7 };
    usleep (100000);
    s_send (producer, &purge);
    s_expect (producer, &msg, ZO_CMD_DLQ_DONE);
    cr_assert_eq (msg.count, 1);
    zmq_close (producer);
    zmq_close (worker);
    cr_assert_eq (s_stop (SIGTERM), 0);
}

Test (broker, bad_input_gets_errors)
{
    s_start (NULL);
    void *producer = s_dealer (s_front), *worker = s_dealer (s_back);
    zo_msg_t msg;
    zmq_send (producer, "\xc1garbage", 8, 0);
    s_expect (producer, &msg, ZO_CMD_ERROR);
    cr_assert (s_eq (msg.code, "bad_msgpack"), "%.*s", msg.code.len, msg.code.ptr);
    //  Two body frames.
    zmq_send (producer, "\x80", 1, ZMQ_SNDMORE);
    zmq_send (producer, "\x80", 1, 0);
    s_expect (producer, &msg, ZO_CMD_ERROR);
    cr_assert (s_eq (msg.code, "bad_msgpack"));
    //  A worker command on the front socket.
    zo_msg_t credit = { .cmd = ZO_CMD_CREDIT, .credit = 1 };
    s_send (producer, &credit);
    s_expect (producer, &msg, ZO_CMD_ERROR);
    cr_assert (s_eq (msg.code, "unexpected"));
    //  A worker that skipped READY.
    zo_msg_t hb = { .cmd = ZO_CMD_HEARTBEAT };
    s_send (worker, &hb);
    s_expect (worker, &msg, ZO_CMD_ERROR);
    cr_assert (s_eq (msg.code, "not_ready"));
    //  The broker is still fine.
    zo_msg_t ping = { .cmd = ZO_CMD_PING, .seq = 3 };
    s_send (producer, &ping);
    s_expect (producer, &msg, ZO_CMD_PONG);
    cr_assert_eq (msg.seq, 3);
    zmq_close (producer);
    zmq_close (worker);
    cr_assert_eq (s_stop (SIGTERM), 0);
}

Test (broker, queue_full_nacks_whole_batch)
{
    s_start ("--broker-queue-max", "2", NULL);
    void *producer = s_dealer (s_front);
    zo_msg_t msg;
    const char *three [] = { "q1", "q2", "q3" };
    s_submit (producer, 1, three, 3, false);
    s_expect (producer, &msg, ZO_CMD_NACK);
    cr_assert (s_eq (msg.code, "queue_full"));
    cr_assert_gt (msg.retry_ms, 0);
    s_submit (producer, 2, three, 2, false);
    s_expect (producer, &msg, ZO_CMD_ACK);
    cr_assert_eq (msg.accepted, 2);
    zmq_close (producer);
    //  Not drained (no worker): spooled at the end of the grace.
}

Test (broker, silent_worker_loses_its_events)
{
    s_start ("--broker-heartbeat", "100ms", NULL);
    void *producer = s_dealer (s_front), *w1 = s_dealer (s_back);
    zo_msg_t msg;
    const char *ids [] = { "h1" };
    s_submit (producer, 1, ids, 1, true);
    s_expect (producer, &msg, ZO_CMD_ACK);
    s_ready (w1, 1);
    s_expect (w1, &msg, ZO_CMD_DISPATCH);
    //  w1 goes silent; w2 gets the event after three heartbeats.
    void *w2 = s_dealer (s_back);
    s_ready (w2, 1);
    usleep (50000);
    zo_msg_t hb = { .cmd = ZO_CMD_HEARTBEAT };
    for (int i = 0; i < 8 && !s_recv (w2, &msg, 50); i++)
        s_send (w2, &hb);
    cr_assert_eq (msg.cmd, ZO_CMD_DISPATCH);
    cr_assert_eq (msg.items [0].attempt, 2);
    //  w1's late DONE: not_ready, and no RESULT from it.
    s_done (w1, "h1", true, NULL, false, 1);
    s_expect (w1, &msg, ZO_CMD_ERROR);
    cr_assert (s_eq (msg.code, "not_ready"));
    s_done (w2, "h1", true, NULL, false, 1);
    s_expect (producer, &msg, ZO_CMD_RESULT);
    cr_assert_eq (msg.results_ [0].attempts, 2);
    cr_assert_not (s_recv (producer, &msg, 200));
    zmq_close (producer);
    zmq_close (w1);
    zmq_close (w2);
    cr_assert_eq (s_stop (SIGTERM), 0);
}

Test (broker, sigterm_drains_then_spools)
{
    s_start ("--broker-grace", "500ms", NULL);
    void *producer = s_dealer (s_front), *worker = s_dealer (s_back);
    zo_msg_t msg;
    const char *ids [] = { "d1", "d2", "d3" };
    s_submit (producer, 1, ids, 3, true);
    s_expect (producer, &msg, ZO_CMD_ACK);
    cr_assert_eq (msg.accepted, 3);
    s_ready (worker, 1);
    s_expect (worker, &msg, ZO_CMD_DISPATCH);
    kill (s_pid, SIGTERM);
    usleep (100000);
    const char *more [] = { "d4" };
    s_submit (producer, 2, more, 1, false);
    s_expect (producer, &msg, ZO_CMD_NACK);
    cr_assert (s_eq (msg.code, "shutting_down"));
    s_done (worker, "d1", true, NULL, false, 0);
    s_expect (producer, &msg, ZO_CMD_RESULT);
    cr_assert (s_eq (msg.results_ [0].id, "d1"));
    int status;
    cr_assert_eq (waitpid (s_pid, &status, 0), s_pid);
    s_pid = 0;
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    char path [400];
    snprintf (path, sizeof (path), "%s/spool.msgpack", s_dir);
    cr_assert_eq (access (path, F_OK), 0, "no spool");

    //  The next broker picks d2 and d3 up.
    s_start ("--broker-grace", "200ms", NULL);
    cr_assert_eq (access (path, F_OK), -1, "spool not removed");
    void *w2 = s_dealer (s_back);
    s_ready (w2, 10);
    int got = 0;
    while (got < 2) {
        s_expect (w2, &msg, ZO_CMD_DISPATCH);
        got += msg.n_items;
    }
    cr_assert_eq (got, 2);
    zmq_close (producer);
    zmq_close (worker);
    zmq_close (w2);
    //  Held by w2 past the grace: spooled again, exit 0.
    cr_assert_eq (s_stop (SIGTERM), 0);
    cr_assert_eq (access (path, F_OK), 0, "no second spool");
}

Test (broker, deadline_passed_goes_to_dead_letters)
{
    s_start (NULL);
    void *producer = s_dealer (s_front);
    zo_msg_t msg;
    msgpack_sbuffer sbuf;
    zo_event_t ev = s_event_deadline (&sbuf, "late1", 100);
    zo_msg_t submit = { .cmd = ZO_CMD_SUBMIT, .seq = 1, .results = true, .events = &ev, .n_events = 1 };
    s_send (producer, &submit);
    msgpack_sbuffer_destroy (&sbuf);
    s_expect (producer, &msg, ZO_CMD_ACK);
    //  No worker: it expires in the queue.
    s_expect (producer, &msg, ZO_CMD_RESULT);
    cr_assert_not (msg.results_ [0].ok);
    cr_assert (s_eq (msg.results_ [0].error, "deadline exceeded"));
    cr_assert_eq (msg.results_ [0].attempts, 0);
    zo_msg_t list = { .cmd = ZO_CMD_DLQ_LIST, .seq = 2, .limit = 10 };
    s_send (producer, &list);
    s_expect (producer, &msg, ZO_CMD_DLQ_ITEMS);
    cr_assert_eq (msg.total, 1);
    cr_assert (s_eq (msg.dead [0].error, "deadline exceeded"));
    zmq_close (producer);
    cr_assert_eq (s_stop (SIGTERM), 0);
    //  The dead letter is on disk for the next broker.
    s_start (NULL);
    producer = s_dealer (s_front);
    s_send (producer, &list);
    s_expect (producer, &msg, ZO_CMD_DLQ_ITEMS);
    cr_assert_eq (msg.total, 1);
    cr_assert (s_eq (msg.dead [0].event.id, "late1"));
    zmq_close (producer);
    cr_assert_eq (s_stop (SIGTERM), 0);
}

Test (broker, bye_takes_back_without_an_attempt)
{
    s_start (NULL);
    void *producer = s_dealer (s_front), *w1 = s_dealer (s_back), *w2 = s_dealer (s_back);
    zo_msg_t msg;
    const char *ids [] = { "b1" };
    s_submit (producer, 1, ids, 1, false);
    s_expect (producer, &msg, ZO_CMD_ACK);
    s_ready (w1, 5);
    s_expect (w1, &msg, ZO_CMD_DISPATCH);
    cr_assert_eq (msg.items [0].attempt, 1);
    zo_msg_t bye = { .cmd = ZO_CMD_BYE };
    s_send (w1, &bye);
    s_ready (w2, 5);
    s_expect (w2, &msg, ZO_CMD_DISPATCH);
    cr_assert_eq (msg.items [0].attempt, 1);
    zmq_close (producer);
    zmq_close (w1);
    zmq_close (w2);
    kill (s_pid, SIGKILL);
}

//  The ACK of a SUBMIT that wants results is held back (broker/ack_delay)
//  so it can travel with the first RESULT, but it always comes first, and
//  comes on its own when no RESULT follows in time.
Test (broker, held_ack_precedes_result_and_is_never_lost)
{
    s_start ("--broker-ack-delay", "50ms", NULL);
    void *producer = s_dealer (s_front);
    void *worker = s_dealer (s_back);
    zo_msg_t msg;

    //  No worker yet: the ACK still arrives, after about the delay.
    const char *first [] = { "held-1" };
    s_submit (producer, 1, first, 1, true);
    cr_assert_not (s_recv (producer, &msg, 10), "the ACK was not held back");
    s_expect (producer, &msg, ZO_CMD_ACK);
    cr_assert_eq (msg.seq, 1);
    cr_assert_eq (msg.accepted, 1);

    //  With a worker answering at once: ACK, then RESULT, in that order.
    s_ready (worker, 10);
    s_expect (worker, &msg, ZO_CMD_DISPATCH);
    s_done (worker, "held-1", true, NULL, false, 1);
    s_expect (producer, &msg, ZO_CMD_RESULT);
    const char *second [] = { "held-2" };
    s_submit (producer, 2, second, 1, true);
    s_expect (worker, &msg, ZO_CMD_DISPATCH);
    cr_assert (s_eq (msg.items [0].event.id, "held-2"));
    s_done (worker, "held-2", true, NULL, false, 1);
    s_expect (producer, &msg, ZO_CMD_ACK);
    cr_assert_eq (msg.seq, 2);
    s_expect (producer, &msg, ZO_CMD_RESULT);
    cr_assert (s_eq (msg.results_ [0].id, "held-2"));

    //  Without results, the ACK is not held.
    const char *third [] = { "plain-3" };
    s_submit (producer, 3, third, 1, false);
    cr_assert (s_recv (producer, &msg, 40), "an ACK without results was held back");
    cr_assert_eq (msg.cmd, ZO_CMD_ACK);
    cr_assert_eq (msg.seq, 3);
    zmq_close (worker);
    zmq_close (producer);
    cr_assert_eq (s_stop (SIGTERM), 0);
}

//  A DONE for id whose result carries one follow-up event, follow_id.
static void
s_done_emit (void *worker, const char *id, const char *follow_id, uint32_t credit)
{
    msgpack_sbuffer sbuf;
    zo_event_t follow = s_event (&sbuf, follow_id);
    zo_result_t result = { .id = zo_span_str (id), .ok = true, .took_ns = 5,
                           .emit = &follow, .emit_count = 1 };
    zo_msg_t msg = { .cmd = ZO_CMD_DONE, .results_ = &result, .n_results = 1, .credit = credit,
                     .events = &follow, .n_events = 1 };
    s_send (worker, &msg);
    msgpack_sbuffer_destroy (&sbuf);
}

//  Follow-up events are held to queue_max: when they do not fit, none is
//  taken, the worker gets NACK queue_full, and the parent fails (not
//  final) with queue_full, is redelivered
//  after the backoff, and once there is room its follow-up is queued and
//  its RESULT is ok on attempt 2. (Follow-ups used to be queued whatever
//  queue_max said.)
Test (broker, follow_ups_are_held_to_queue_max)
{
    s_start ("--broker-queue-max", "2", "--broker-retry-backoff", "20ms", NULL);
    void *producer = s_dealer (s_front), *worker = s_dealer (s_back);
    zo_msg_t msg;
    const char *parent [] = { "p1" };
    s_submit (producer, 1, parent, 1, true);
    s_expect (producer, &msg, ZO_CMD_ACK);
    s_ready (worker, 1);
    s_expect (worker, &msg, ZO_CMD_DISPATCH);
    cr_assert (s_eq (msg.items [0].event.id, "p1"));
    const char *fill [] = { "q1", "q2" };
    s_submit (producer, 2, fill, 2, false);
    s_expect (producer, &msg, ZO_CMD_ACK);
    cr_assert_eq (msg.accepted, 2);                     //  the queue is full now

    s_done_emit (worker, "p1", "p1.1", 0);
    //  The worker hears of it: NACK queue_full naming p1, with the backoff.
    s_expect (worker, &msg, ZO_CMD_NACK);
    cr_assert (s_eq (msg.code, "queue_full"));
    cr_assert (msg.reason.len && memmem (msg.reason.ptr, msg.reason.len, "p1", 2));
    cr_assert_eq (msg.retry_ms, 20);
    cr_assert_not (s_recv (producer, &msg, 300), "p1 ended although its follow-up did not fit");

    //  Room for everything: q1, q2, then p1 again (attempt 2).
    zo_msg_t credit = { .cmd = ZO_CMD_CREDIT, .credit = 3 };
    s_send (worker, &credit);
    int seen = 0, p1_attempt = 0;
    while (seen < 3) {
        s_expect (worker, &msg, ZO_CMD_DISPATCH);
        for (uint32_t i = 0; i < msg.n_items; i++, seen++)
            if (s_eq (msg.items [i].event.id, "p1"))
                p1_attempt = (int) msg.items [i].attempt;
    }
    cr_assert_eq (p1_attempt, 2);
    s_done (worker, "q1", true, NULL, false, 0);
    s_done (worker, "q2", true, NULL, false, 0);
    s_done_emit (worker, "p1", "p1.1", 1);
    s_expect (producer, &msg, ZO_CMD_RESULT);
    cr_assert (s_eq (msg.results_ [0].id, "p1"));
    cr_assert (msg.results_ [0].ok);
    cr_assert_eq (msg.results_ [0].attempts, 2);
    s_expect (worker, &msg, ZO_CMD_DISPATCH);
    cr_assert (s_eq (msg.items [0].event.id, "p1.1"), "the follow-up was queued");
    s_done (worker, "p1.1", true, NULL, false, 0);
    usleep (100000);
    zmq_close (producer);
    zmq_close (worker);
    cr_assert_eq (s_stop (SIGTERM), 0);
}

//  One worker of a WORKERS list, as the broker sees it.
typedef struct {
    uint64_t capacity, credit, held, dispatched;
    bool quiet, found;
} s_wview_t;

//  Reads the list (checking its shape) and returns how many workers it
//  has; *view gets the one named name.
static uint32_t
s_workers_find (zo_span_t list, const char *name, s_wview_t *view)
{
    memset (view, 0, sizeof (*view));
    zo_mp_t cur;
    zo_mp_init (&cur, list.ptr, list.len);
    uint32_t n;
    cr_assert_eq (zo_mp_read_array (&cur, &n), 0, "workers is an array");
    for (uint32_t i = 0; i < n; i++) {
        uint32_t pairs;
        cr_assert_eq (zo_mp_read_map (&cur, &pairs), 0);
        cr_assert_eq (pairs, 6);
        s_wview_t w = { 0 };
        bool mine = false;
        for (uint32_t k = 0; k < pairs; k++) {
            zo_span_t key, str;
            cr_assert_eq (zo_mp_read_str (&cur, &key), 0);
            if (zo_span_eq (key, "name")) {
                cr_assert_eq (zo_mp_read_str (&cur, &str), 0);
                mine = zo_span_eq (str, name);
            }
            else
            if (zo_span_eq (key, "quiet"))
                cr_assert_eq (zo_mp_read_bool (&cur, &w.quiet), 0);
            else {
                uint64_t *at = zo_span_eq (key, "capacity") ? &w.capacity
                             : zo_span_eq (key, "credit") ? &w.credit
                             : zo_span_eq (key, "held") ? &w.held
                             : zo_span_eq (key, "dispatched") ? &w.dispatched : NULL;
                cr_assert (at, "unknown key %.*s", key.len, key.ptr);
                cr_assert_eq (zo_mp_read_u64 (&cur, at), 0);
            }
        }
        if (mine) {
            w.found = true;
            *view = w;
        }
    }
    cr_assert_eq (zo_mp_left (&cur), 0);
    return n;
}

//  Sends WORKERS (or QUIET name, when name) and returns the reply's list
//  (valid until the next receive).
static zo_span_t
s_ask_workers (void *client, uint64_t seq, const char *name)
{
    zo_msg_t ask = { .cmd = name ? ZO_CMD_QUIET : ZO_CMD_WORKERS, .seq = seq };
    if (name)
        ask.name = zo_span_str (name);
    s_send (client, &ask);
    zo_msg_t msg;
    s_expect (client, &msg, ZO_CMD_WORKERS);
    cr_assert_eq (msg.seq, seq);
    return msg.workers;
}

//  Reads the broker's STATS until one shows completed_total >= completed;
//  returns its counter `name` and gauge workers_quiet in *quiet.
static uint64_t
s_stat_after (void *pull, uint64_t completed, const char *name, double *quiet)
{
    for (int tries = 0; tries < 100; tries++) {
        zo_msg_t msg;
        cr_assert (s_recv (pull, &msg, 3000), "no STATS from the broker");
        uint64_t done = 0, value = UINT64_MAX;
        zo_mp_t cur;
        zo_mp_init (&cur, msg.counters.ptr, msg.counters.len);
        uint32_t n;
        cr_assert_eq (zo_mp_read_map (&cur, &n), 0);
        for (uint32_t i = 0; i < n; i++) {
            zo_span_t key;
            uint64_t v;
            cr_assert_eq (zo_mp_read_str (&cur, &key), 0);
            cr_assert_eq (zo_mp_read_u64 (&cur, &v), 0);
            if (zo_span_eq (key, "completed_total"))
                done = v;
            if (zo_span_eq (key, name))
                value = v;
        }
        zo_mp_init (&cur, msg.gauges.ptr, msg.gauges.len);
        cr_assert_eq (zo_mp_read_map (&cur, &n), 0);
        for (uint32_t i = 0; i < n; i++) {
            zo_span_t key;
            double v;
            cr_assert_eq (zo_mp_read_str (&cur, &key), 0);
            cr_assert_eq (zo_mp_read_f64 (&cur, &v), 0);
            if (zo_span_eq (key, "workers_quiet"))
                *quiet = v;
        }
        if (done >= completed) {
            cr_assert_neq (value, UINT64_MAX, "no counter %s", name);
            return value;
        }
    }
    cr_assert_fail ("completed_total never reached %llu", (unsigned long long) completed);
    return 0;
}

//  QUIET, as the autoscaler scales down: the quieted worker gets nothing
//  more (whatever credit it grants), another takes the rest, what it held
//  completes there (nothing redelivered), and WORKERS says so throughout.
Test (broker, quiet_worker_finishes_and_gets_no_more)
{
    char stats_ep [300];
    snprintf (stats_ep, sizeof (stats_ep), "ipc://%s/stats", s_dir);
    void *pull = s_pull = zmq_socket (s_ctx, ZMQ_PULL);
    int linger = 0;
    zmq_setsockopt (pull, ZMQ_LINGER, &linger, sizeof (linger));
    cr_assert_eq (zmq_bind (pull, stats_ep), 0);
    s_start ("--stats-endpoint", stats_ep, "--stats-interval", "100ms", "--broker-tick", "20ms",
             NULL);
    void *client = s_dealer (s_front), *w1 = s_dealer (s_back), *w2 = s_dealer (s_back);
    zo_msg_t msg;
    s_wview_t view;
    cr_assert_eq (s_workers_find (s_ask_workers (client, 10, NULL), "w1", &view), 0,
                  "no worker yet: an empty list");

    zo_msg_t ready = { .cmd = ZO_CMD_READY, .name = zo_span_str ("w1"), .capacity = 10, .credit = 3 };
    s_send (w1, &ready);
    const char *held [] = { "q1", "q2", "q3" };
    s_submit (client, 1, held, 3, true);
    s_expect (client, &msg, ZO_CMD_ACK);
    int got = 0;
    while (got < 3) {
        s_expect (w1, &msg, ZO_CMD_DISPATCH);
        got += (int) msg.n_items;
    }
    cr_assert_eq (s_workers_find (s_ask_workers (client, 11, NULL), "w1", &view), 1);
    cr_assert (view.found);
    cr_assert_eq (view.capacity, 10);
    cr_assert_eq (view.held, 3);
    cr_assert_eq (view.dispatched, 3);
    cr_assert_eq (view.credit, 0);
    cr_assert_not (view.quiet);

    //  Quieted: the worker hears it; the reply shows it.
    cr_assert_eq (s_workers_find (s_ask_workers (client, 12, "w1"), "w1", &view), 1);
    cr_assert (view.quiet);
    cr_assert_eq (view.held, 3);
    cr_assert_eq (view.credit, 0);
    s_expect (w1, &msg, ZO_CMD_QUIET);
    //  Its credit is ignored from now on, by CREDIT and by READY.
    zo_msg_t credit = { .cmd = ZO_CMD_CREDIT, .credit = 5 };
    s_send (w1, &credit);
    ready.credit = 7;
    s_send (w1, &ready);
    ready.name = zo_span_str ("w2");
    ready.credit = 10;
    s_send (w2, &ready);
    const char *more [] = { "r1", "r2", "r3", "r4" };
    s_submit (client, 2, more, 4, true);
    s_expect (client, &msg, ZO_CMD_ACK);
    got = 0;
    while (got < 4) {
        s_expect (w2, &msg, ZO_CMD_DISPATCH);
        for (uint32_t i = 0; i < msg.n_items; i++)
            cr_assert_eq (msg.items [i].attempt, 1);
        got += (int) msg.n_items;
    }
    cr_assert_not (s_recv (w1, &msg, 300), "a quiet worker got %s", zo_cmd_name (msg.cmd));
    s_workers_find (s_ask_workers (client, 13, NULL), "w1", &view);
    cr_assert (view.quiet);
    cr_assert_eq (view.credit, 0, "CREDIT and READY granted nothing");
    cr_assert_eq (view.held, 3);

    //  What it holds completes as usual, on its first attempt; DONE's
    //  credit brings nothing either.
    for (int i = 0; i < 3; i++)
        s_done (w1, held [i], true, NULL, false, 1);
    for (int i = 0; i < 4; i++)
        s_done (w2, more [i], true, NULL, false, 1);
    for (int results = 0; results < 7; ) {
        s_expect (client, &msg, ZO_CMD_RESULT);
        for (uint32_t i = 0; i < msg.n_results; i++, results++) {
            cr_assert (msg.results_ [i].ok);
            cr_assert_eq (msg.results_ [i].attempts, 1);
        }
    }
    const char *last [] = { "s1", "s2" };
    s_submit (client, 3, last, 2, false);
    s_expect (client, &msg, ZO_CMD_ACK);
    s_expect (w2, &msg, ZO_CMD_DISPATCH);
    cr_assert_not (s_recv (w1, &msg, 200), "a quiet worker got %s", zo_cmd_name (msg.cmd));
    cr_assert_eq (s_workers_find (s_ask_workers (client, 14, NULL), "w1", &view), 2);
    cr_assert (view.quiet);
    cr_assert_eq (view.held, 0, "w1 may be stopped now");
    cr_assert_eq (view.dispatched, 3, "what it was sent in all, finished or not");
    cr_assert_eq (view.credit, 0);
    s_workers_find (s_ask_workers (client, 14, NULL), "w2", &view);
    cr_assert_not (view.quiet);
    cr_assert_eq (view.dispatched, 6);
    cr_assert_eq (view.capacity, 10);

    //  A name nobody has: no error, the list. No name: an error.
    cr_assert_eq (s_workers_find (s_ask_workers (client, 15, "nobody"), "nobody", &view), 2);
    cr_assert_not (view.found);
    zo_msg_t nameless = { .cmd = ZO_CMD_QUIET, .seq = 16 };
    s_send (client, &nameless);
    s_expect (client, &msg, ZO_CMD_ERROR);
    cr_assert (s_eq (msg.code, "missing_field"));
    cr_assert_eq (msg.seq, 16);
    //  Not commands of the back socket.
    zo_msg_t ask = { .cmd = ZO_CMD_WORKERS, .seq = 17 };
    s_send (w2, &ask);
    while (s_recv (w2, &msg, 2000) && msg.cmd == ZO_CMD_DISPATCH)
        ;
    cr_assert_eq (msg.cmd, ZO_CMD_ERROR);
    cr_assert (s_eq (msg.code, "unexpected"));
    ask = (zo_msg_t) { .cmd = ZO_CMD_QUIET, .seq = 18, .name = zo_span_str ("w2") };
    s_send (w2, &ask);
    s_expect (w2, &msg, ZO_CMD_ERROR);
    cr_assert (s_eq (msg.code, "unexpected"));
    cr_assert_eq (msg.seq, 18);
    s_workers_find (s_ask_workers (client, 19, NULL), "w2", &view);
    cr_assert_not (view.quiet, "QUIET on the back socket does nothing");

    //  In the broker's stats: nothing redelivered, one worker quieted.
    double quiet = -1;
    cr_assert_eq (s_stat_after (pull, 7, "redelivered_total", &quiet), 0);
    cr_assert_eq (s_stat_after (pull, 7, "workers_quieted_total", &quiet), 1);
    cr_assert_float_eq (quiet, 1, 1e-9);

    //  Stopped once idle: its BYE takes nothing back.
    zo_msg_t bye = { .cmd = ZO_CMD_BYE };
    s_send (w1, &bye);
    usleep (100000);
    cr_assert_eq (s_workers_find (s_ask_workers (client, 20, NULL), "w1", &view), 1);
    cr_assert_not (view.found);
    cr_assert_eq (s_stat_after (pull, 7, "redelivered_total", &quiet), 0);
    zmq_close (client);
    zmq_close (w1);
    zmq_close (w2);
    kill (s_pid, SIGKILL);
}
