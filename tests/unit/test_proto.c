/*  Tests for proto/zo_proto.c and proto/zo_mp.c: every command round-trips
    through encode and decode, and malformed input is refused with the right
    error code, never a crash.  */

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "zo_proto.h"

static msgpack_sbuffer s_buf;
static msgpack_packer s_pk;
static zo_proto_t *s_dec;

static void
s_setup (void)
{
    msgpack_sbuffer_init (&s_buf);
    msgpack_packer_init (&s_pk, &s_buf, msgpack_sbuffer_write);
    s_dec = zo_proto_new ();
    cr_assert_not_null (s_dec);
}

static void
s_teardown (void)
{
    msgpack_sbuffer_destroy (&s_buf);
    zo_proto_destroy (&s_dec);
    cr_assert_null (s_dec);
}

TestSuite (proto, .init = s_setup, .fini = s_teardown);

//  Encodes msg, decodes it back into *out; asserts success.
static void
s_round_trip (const zo_msg_t *msg, zo_msg_t *out)
{
    msgpack_sbuffer_clear (&s_buf);
    zo_proto_encode (&s_pk, msg);
    int rc = zo_proto_decode (s_dec, s_buf.data, s_buf.size, out);
    cr_assert_eq (rc, 0, "decode %s failed: %s", zo_cmd_name (msg->cmd), zo_proto_errstr (s_dec));
    cr_assert_eq (out->cmd, msg->cmd);
}

static bool
s_eq (zo_span_t span, const char *str)
{
    return zo_span_eq (span, str);
}

//  Decodes raw bytes and returns the error code (ZO_ERR_NONE on success).
static zo_err_t
s_decode_err (const void *data, size_t size, zo_msg_t *out)
{
    if (zo_proto_decode (s_dec, data, size, out) == 0)
        return ZO_ERR_NONE;
    return zo_proto_err (s_dec);
}

//  Packs a map {v:1, cmd:<cmd>} followed by `extra` more key/value pairs
//  that the caller packs.
static void
s_begin (const char *cmd, uint32_t extra)
{
    msgpack_sbuffer_clear (&s_buf);
    msgpack_pack_map (&s_pk, 2 + extra);
    msgpack_pack_str_with_body (&s_pk, "v", 1);
    msgpack_pack_uint8 (&s_pk, 1);
    msgpack_pack_str_with_body (&s_pk, "cmd", 3);
    msgpack_pack_str_with_body (&s_pk, cmd, strlen (cmd));
}

static void
s_key (const char *key)
{
    msgpack_pack_str_with_body (&s_pk, key, strlen (key));
}

Test (proto, submit_round_trip)
{
    msgpack_sbuffer pay;
    msgpack_sbuffer_init (&pay);
    msgpack_packer ppk;
    msgpack_packer_init (&ppk, &pay, msgpack_sbuffer_write);
    msgpack_pack_map (&ppk, 1);
    msgpack_pack_str_with_body (&ppk, "ref", 3);
    msgpack_pack_str_with_body (&ppk, "main", 4);

    zo_event_t events [2] = {
        { .id = zo_span_str ("e1"), .type = zo_span_str ("github.push"),
          .source = zo_span_str ("github"), .priority = ZO_PRIO_HIGH,
          .deadline_ms = 30000, .max_attempts = 5, .ts_ns = -7,
          .payload = { (const uint8_t *) pay.data, (uint32_t) pay.size } },
        { .id = zo_span_str ("e2"), .type = zo_span_str ("x") },
    };
    zo_msg_t msg = { .cmd = ZO_CMD_SUBMIT, .seq = 42, .results = true,
                     .events = events, .n_events = 2 };
    zo_msg_t out;
    s_round_trip (&msg, &out);
    cr_assert_eq (out.seq, 42);
    cr_assert (out.results);
    cr_assert_eq (out.n_events, 2);
    cr_assert (s_eq (out.events [0].id, "e1"));
    cr_assert (s_eq (out.events [0].type, "github.push"));
    cr_assert (s_eq (out.events [0].source, "github"));
    cr_assert_eq (out.events [0].priority, ZO_PRIO_HIGH);
    cr_assert_eq (out.events [0].deadline_ms, 30000);
    cr_assert_eq (out.events [0].max_attempts, 5);
    cr_assert_eq (out.events [0].ts_ns, -7);
    cr_assert_eq (out.events [0].payload.len, pay.size);
    cr_assert_eq (memcmp (out.events [0].payload.ptr, pay.data, pay.size), 0);
    cr_assert_eq (out.events [1].priority, ZO_PRIO_NORMAL);
    cr_assert_eq (out.events [1].payload.len, 0);

    //  The raw span of a decoded event re-encodes byte for byte.
    zo_event_t raw_copy = { .raw = out.events [0].raw };
    msgpack_sbuffer again;
    msgpack_sbuffer_init (&again);
    msgpack_packer apk;
    msgpack_packer_init (&apk, &again, msgpack_sbuffer_write);
    zo_item_t item = { .event = raw_copy, .attempt = 2, .deadline_ms = 10 };
    zo_msg_t dispatch = { .cmd = ZO_CMD_DISPATCH, .items = &item, .n_items = 1 };
    zo_proto_encode (&apk, &dispatch);
    zo_msg_t d;
    cr_assert_eq (zo_proto_decode (s_dec, again.data, again.size, &d), 0, "%s", zo_proto_errstr (s_dec));
    cr_assert_eq (d.n_items, 1);
    cr_assert_eq (d.items [0].attempt, 2);
    cr_assert_eq (d.items [0].deadline_ms, 10);
    cr_assert (s_eq (d.items [0].event.id, "e1"));
    cr_assert_eq (d.items [0].event.deadline_ms, 30000);
    msgpack_sbuffer_destroy (&again);
    msgpack_sbuffer_destroy (&pay);
}

Test (proto, replies_round_trip)
{
    zo_msg_t out;
    zo_msg_t ack = { .cmd = ZO_CMD_ACK, .seq = 1, .accepted = 9, .duplicates = 1 };
    s_round_trip (&ack, &out);
    cr_assert_eq (out.seq, 1);
    cr_assert_eq (out.accepted, 9);
    cr_assert_eq (out.duplicates, 1);

    zo_msg_t nack = { .cmd = ZO_CMD_NACK, .seq = 2, .code = zo_span_str ("queue_full"),
                      .reason = zo_span_str ("10000 queued"), .retry_ms = 100 };
    s_round_trip (&nack, &out);
    cr_assert (s_eq (out.code, "queue_full"));
    cr_assert (s_eq (out.reason, "10000 queued"));
    cr_assert_eq (out.retry_ms, 100);
    cr_assert_eq (zo_err_lookup (out.code), ZO_ERR_QUEUE_FULL);

    zo_msg_t err = { .cmd = ZO_CMD_ERROR, .code = zo_span_str ("bad_type") };
    s_round_trip (&err, &out);
    cr_assert (s_eq (out.code, "bad_type"));
    cr_assert_eq (out.seq, 0);

    zo_msg_t ping = { .cmd = ZO_CMD_PING, .seq = 77 };
    s_round_trip (&ping, &out);
    cr_assert_eq (out.seq, 77);
    zo_msg_t pong = { .cmd = ZO_CMD_PONG, .seq = 77 };
    s_round_trip (&pong, &out);
    cr_assert_eq (out.seq, 77);
}

Test (proto, worker_commands_round_trip)
{
    zo_msg_t out;
    zo_msg_t ready = { .cmd = ZO_CMD_READY, .name = zo_span_str ("w1"), .capacity = 1000, .credit = 1000 };
    s_round_trip (&ready, &out);
    cr_assert (s_eq (out.name, "w1"));
    cr_assert_eq (out.capacity, 1000);
    cr_assert_eq (out.credit, 1000);

    zo_msg_t credit = { .cmd = ZO_CMD_CREDIT, .credit = 5 };
    s_round_trip (&credit, &out);
    cr_assert_eq (out.credit, 5);

    zo_msg_t hb = { .cmd = ZO_CMD_HEARTBEAT };
    s_round_trip (&hb, &out);
    zo_msg_t bye = { .cmd = ZO_CMD_BYE };
    s_round_trip (&bye, &out);

    zo_event_t emit [2] = {
        { .id = zo_span_str ("c1"), .type = zo_span_str ("chain.one") },
        { .id = zo_span_str ("c2"), .type = zo_span_str ("chain.two") },
    };
    zo_result_t results [2] = {
        { .id = zo_span_str ("e1"), .ok = true, .took_ns = 1234, .emit = emit, .emit_count = 2 },
        { .id = zo_span_str ("e2"), .ok = false, .error = zo_span_str ("boom"), .final = true },
    };
    zo_msg_t done = { .cmd = ZO_CMD_DONE, .results_ = results, .n_results = 2, .credit = 2 };
    s_round_trip (&done, &out);
    cr_assert_eq (out.n_results, 2);
    cr_assert_eq (out.credit, 2);
    cr_assert (out.results_ [0].ok);
    cr_assert_eq (out.results_ [0].took_ns, 1234);
    cr_assert_eq (out.results_ [0].emit_count, 2);
    cr_assert (s_eq (out.events [out.results_ [0].emit_first + 1].type, "chain.two"));
    cr_assert_not (out.results_ [1].ok);
    cr_assert (out.results_ [1].final);
    cr_assert (s_eq (out.results_ [1].error, "boom"));
    cr_assert_eq (out.results_ [1].emit_count, 0);

    zo_msg_t result = { .cmd = ZO_CMD_RESULT, .results_ = results + 1, .n_results = 1 };
    s_round_trip (&result, &out);
    cr_assert (s_eq (out.results_ [0].id, "e2"));
}

Test (proto, dlq_and_stats_round_trip)
{
    zo_msg_t out;
    zo_msg_t list = { .cmd = ZO_CMD_DLQ_LIST, .seq = 3, .limit = 10 };
    s_round_trip (&list, &out);
    cr_assert_eq (out.limit, 10);

    zo_dead_t dead = { .event = { .id = zo_span_str ("d1"), .type = zo_span_str ("t") },
                       .error = zo_span_str ("deadline exceeded"), .attempts = 3,
                       .failed_ms = 1700000000000ull };
    zo_msg_t items = { .cmd = ZO_CMD_DLQ_ITEMS, .seq = 3, .total = 1, .dead = &dead, .n_dead = 1 };
    s_round_trip (&items, &out);
    cr_assert_eq (out.total, 1);
    cr_assert_eq (out.n_dead, 1);
    cr_assert (s_eq (out.dead [0].event.id, "d1"));
    cr_assert (s_eq (out.dead [0].error, "deadline exceeded"));
    cr_assert_eq (out.dead [0].failed_ms, 1700000000000ull);

    zo_span_t ids [2] = { zo_span_str ("a"), zo_span_str ("b") };
    zo_msg_t replay = { .cmd = ZO_CMD_DLQ_REPLAY, .seq = 4, .ids = ids, .n_ids = 2 };
    s_round_trip (&replay, &out);
    cr_assert_eq (out.n_ids, 2);
    cr_assert (s_eq (out.ids [1], "b"));
    zo_msg_t purge = { .cmd = ZO_CMD_DLQ_PURGE, .seq = 5 };
    s_round_trip (&purge, &out);
    cr_assert_eq (out.n_ids, 0);
    zo_msg_t dd = { .cmd = ZO_CMD_DLQ_DONE, .seq = 5, .count = 7 };
    s_round_trip (&dd, &out);
    cr_assert_eq (out.count, 7);

    //  STATS carries raw maps.
    msgpack_sbuffer m;
    msgpack_sbuffer_init (&m);
    msgpack_packer mpk;
    msgpack_packer_init (&mpk, &m, msgpack_sbuffer_write);
    msgpack_pack_map (&mpk, 1);
    msgpack_pack_str_with_body (&mpk, "events_total", 12);
    msgpack_pack_uint64 (&mpk, 99);
    zo_msg_t stats = { .cmd = ZO_CMD_STATS, .actor = zo_span_str ("broker"),
                       .name = zo_span_str ("b1"), .pid = 123, .ts_ms = 5,
                       .rss_bytes = 1 << 20, .cpu_seconds = 0.25,
                       .counters = { (const uint8_t *) m.data, (uint32_t) m.size } };
    s_round_trip (&stats, &out);
    cr_assert (s_eq (out.actor, "broker"));
    cr_assert_eq (out.pid, 123);
    cr_assert_float_eq (out.cpu_seconds, 0.25, 1e-9);
    cr_assert_eq (out.counters.len, m.size);
    cr_assert_eq (out.gauges.len, 0);
    msgpack_sbuffer_destroy (&m);
}

Test (proto, cache_round_trip)
{
    zo_msg_t out;
    //  A value is bytes: NULs and an empty value survive; absent is not empty.
    const char bytes [] = { 'a', 0, 'b', (char) 0xff };
    zo_msg_t set = { .cmd = ZO_CMD_SET, .seq = 9, .key = zo_span_str ("repo:1"),
                     .value = { (const uint8_t *) bytes, sizeof bytes }, .ttl_ms = 600000 };
    s_round_trip (&set, &out);
    cr_assert (s_eq (out.key, "repo:1"));
    cr_assert_eq (out.value.len, sizeof bytes);
    cr_assert_eq (memcmp (out.value.ptr, bytes, sizeof bytes), 0);
    cr_assert_eq (out.ttl_ms, 600000);
    zo_msg_t empty = { .cmd = ZO_CMD_SET, .seq = 10, .key = zo_span_str ("k"),
                       .value = { (const uint8_t *) "", 0 } };
    s_round_trip (&empty, &out);
    cr_assert_not_null (out.value.ptr, "an empty value is present");
    cr_assert_eq (out.value.len, 0);

    zo_msg_t miss = { .cmd = ZO_CMD_VALUE, .seq = 11 };
    s_round_trip (&miss, &out);
    cr_assert_not (out.found);
    cr_assert_null (out.value.ptr, "a miss carries no value");
    zo_msg_t hit = { .cmd = ZO_CMD_VALUE, .seq = 12, .found = true, .ttl_ms = 5,
                     .value = { (const uint8_t *) bytes, sizeof bytes }, .level = zo_span_str ("redis") };
    s_round_trip (&hit, &out);
    cr_assert (out.found);
    cr_assert (s_eq (out.level, "redis"));
    cr_assert_eq (out.value.len, sizeof bytes);

    zo_span_t keys [3] = { zo_span_str ("a"), zo_span_str ("b"), zo_span_str ("c") };
    zo_msg_t mget = { .cmd = ZO_CMD_MGET, .seq = 13, .ids = keys, .n_ids = 3 };
    s_round_trip (&mget, &out);
    cr_assert_eq (out.n_ids, 3);
    cr_assert (s_eq (out.ids [2], "c"));
    zo_span_t values [3] = { zo_span_str ("x"), { NULL, 0 }, { (const uint8_t *) "", 0 } };
    zo_msg_t vals = { .cmd = ZO_CMD_VALUES, .seq = 13, .values = values, .n_values = 3 };
    s_round_trip (&vals, &out);
    cr_assert_eq (out.n_values, 3);
    cr_assert (s_eq (out.values [0], "x"));
    cr_assert_null (out.values [1].ptr, "nil is a miss");
    cr_assert_not_null (out.values [2].ptr, "an empty value is a hit");
    cr_assert_eq (out.values [2].len, 0);

    zo_msg_t inval = { .cmd = ZO_CMD_INVALIDATE, .seq = 14, .pattern = zo_span_str ("repo:*") };
    s_round_trip (&inval, &out);
    cr_assert (s_eq (out.pattern, "repo:*"));
    zo_msg_t ok = { .cmd = ZO_CMD_OK, .seq = 14, .count = 42 };
    s_round_trip (&ok, &out);
    cr_assert_eq (out.count, 42);
    zo_msg_t ask = { .cmd = ZO_CMD_GET_STATS, .seq = 15 };
    s_round_trip (&ask, &out);
    cr_assert_eq (out.seq, 15);

    //  Keys over 1024 bytes, empty keys, a value of the wrong type.
    char long_key [ZO_MAX_KEY + 1];
    memset (long_key, 'k', sizeof long_key);
    zo_msg_t get = { .cmd = ZO_CMD_GET, .seq = 16, .key = { (const uint8_t *) long_key, ZO_MAX_KEY } };
    s_round_trip (&get, &out);
    s_begin ("GET", 2);
    s_key ("seq");
    msgpack_pack_uint8 (&s_pk, 1);
    s_key ("key");
    msgpack_pack_str_with_body (&s_pk, long_key, sizeof long_key);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_TOO_LARGE);
    s_begin ("MGET", 2);
    s_key ("seq");
    msgpack_pack_uint8 (&s_pk, 1);
    s_key ("keys");
    msgpack_pack_array (&s_pk, 2);
    msgpack_pack_str_with_body (&s_pk, "a", 1);
    msgpack_pack_str_with_body (&s_pk, "", 0);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_BAD_VALUE);
    s_begin ("SET", 2);
    s_key ("seq");
    msgpack_pack_uint8 (&s_pk, 1);
    s_key ("key");
    msgpack_pack_str_with_body (&s_pk, "a", 1);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_MISSING_FIELD);
    s_begin ("SET", 3);
    s_key ("seq");
    msgpack_pack_uint8 (&s_pk, 1);
    s_key ("key");
    msgpack_pack_str_with_body (&s_pk, "a", 1);
    s_key ("value");
    msgpack_pack_uint8 (&s_pk, 7);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_BAD_TYPE);
}

Test (proto, unknown_keys_ignored)
{
    s_begin ("PING", 2);
    s_key ("future_field");
    msgpack_pack_array (&s_pk, 2);
    msgpack_pack_nil (&s_pk);
    msgpack_pack_true (&s_pk);
    s_key ("seq");
    msgpack_pack_uint8 (&s_pk, 9);
    zo_msg_t out;
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_NONE, "%s", zo_proto_errstr (s_dec));
    cr_assert_eq (out.seq, 9);
}

Test (proto, bad_input_codes)
{
    zo_msg_t out;
    //  Not a map at all.
    cr_assert_eq (s_decode_err ("\x93\x01\x02\x03", 4, &out), ZO_ERR_BAD_MSGPACK);
    //  Empty frame.
    cr_assert_eq (s_decode_err ("", 0, &out), ZO_ERR_BAD_MSGPACK);
    //  Reserved byte 0xc1.
    cr_assert_eq (s_decode_err ("\xc1", 1, &out), ZO_ERR_BAD_MSGPACK);

    //  Missing v.
    msgpack_sbuffer_clear (&s_buf);
    msgpack_pack_map (&s_pk, 1);
    s_key ("cmd");
    msgpack_pack_str_with_body (&s_pk, "PING", 4);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_BAD_VERSION);

    //  Wrong version.
    msgpack_sbuffer_clear (&s_buf);
    msgpack_pack_map (&s_pk, 2);
    s_key ("v");
    msgpack_pack_uint8 (&s_pk, 2);
    s_key ("cmd");
    msgpack_pack_str_with_body (&s_pk, "PING", 4);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_BAD_VERSION);

    //  Unknown command, seq still recovered for the reply, also when it
    //  comes after the command.
    s_begin ("LAUNCH", 1);
    s_key ("seq");
    msgpack_pack_uint8 (&s_pk, 5);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_UNKNOWN_COMMAND);
    cr_assert_eq (out.seq, 5);

    //  Missing required field.
    s_begin ("SUBMIT", 1);
    s_key ("seq");
    msgpack_pack_uint8 (&s_pk, 5);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_MISSING_FIELD);
    cr_assert (strstr (zo_proto_errstr (s_dec), "events"));
    cr_assert_eq (out.seq, 5);

    //  Wrong type.
    s_begin ("CREDIT", 1);
    s_key ("credit");
    msgpack_pack_str_with_body (&s_pk, "ten", 3);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_BAD_TYPE);

    //  Negative unsigned.
    s_begin ("CREDIT", 1);
    s_key ("credit");
    msgpack_pack_int8 (&s_pk, -1);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_BAD_VALUE);

    //  uint32 overflow.
    s_begin ("CREDIT", 1);
    s_key ("credit");
    msgpack_pack_uint64 (&s_pk, 1ull << 40);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_BAD_VALUE);

    //  Empty id, bad priority, event not a map, empty batch.
    s_begin ("SUBMIT", 2);
    s_key ("seq");
    msgpack_pack_uint8 (&s_pk, 1);
    s_key ("events");
    msgpack_pack_array (&s_pk, 1);
    msgpack_pack_map (&s_pk, 2);
    s_key ("id");
    msgpack_pack_str_with_body (&s_pk, "", 0);
    s_key ("type");
    msgpack_pack_str_with_body (&s_pk, "t", 1);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_BAD_VALUE);

    s_begin ("SUBMIT", 2);
    s_key ("seq");
    msgpack_pack_uint8 (&s_pk, 1);
    s_key ("events");
    msgpack_pack_array (&s_pk, 1);
    msgpack_pack_map (&s_pk, 3);
    s_key ("id");
    msgpack_pack_str_with_body (&s_pk, "a", 1);
    s_key ("type");
    msgpack_pack_str_with_body (&s_pk, "t", 1);
    s_key ("priority");
    msgpack_pack_str_with_body (&s_pk, "urgent", 6);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_BAD_VALUE);

    s_begin ("SUBMIT", 2);
    s_key ("seq");
    msgpack_pack_uint8 (&s_pk, 1);
    s_key ("events");
    msgpack_pack_array (&s_pk, 1);
    msgpack_pack_uint8 (&s_pk, 1);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_BAD_TYPE);

    s_begin ("SUBMIT", 2);
    s_key ("seq");
    msgpack_pack_uint8 (&s_pk, 1);
    s_key ("events");
    msgpack_pack_array (&s_pk, 0);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_BAD_VALUE);

    //  Too long an id.
    char long_id [ZO_MAX_ID + 2];
    memset (long_id, 'x', sizeof long_id);
    s_begin ("DLQ_REPLAY", 2);
    s_key ("seq");
    msgpack_pack_uint8 (&s_pk, 1);
    s_key ("ids");
    msgpack_pack_array (&s_pk, 1);
    msgpack_pack_str_with_body (&s_pk, long_id, sizeof long_id);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_TOO_LARGE);

    //  Trailing bytes.
    zo_msg_t ping = { .cmd = ZO_CMD_PING, .seq = 1 };
    msgpack_sbuffer_clear (&s_buf);
    zo_proto_encode (&s_pk, &ping);
    msgpack_pack_nil (&s_pk);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_BAD_MSGPACK);
}

Test (proto, limits)
{
    zo_msg_t out;
    //  Frame over the decoder's limit.
    zo_proto_set_max_frame (s_dec, 64);
    zo_event_t ev = { .id = zo_span_str ("id"), .type = zo_span_str ("a.type.that.is.long.enough.to.matter.here.yes") };
    zo_msg_t msg = { .cmd = ZO_CMD_SUBMIT, .seq = 1, .events = &ev, .n_events = 1 };
    msgpack_sbuffer_clear (&s_buf);
    zo_proto_encode (&s_pk, &msg);
    cr_assert_gt (s_buf.size, 64);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_TOO_LARGE);
    zo_proto_set_max_frame (s_dec, ZO_MAX_FRAME);

    //  A batch over ZO_MAX_BATCH.
    s_begin ("SUBMIT", 2);
    s_key ("seq");
    msgpack_pack_uint8 (&s_pk, 1);
    s_key ("events");
    msgpack_pack_array (&s_pk, ZO_MAX_BATCH + 1);
    for (int i = 0; i < ZO_MAX_BATCH + 1; i++) {
        msgpack_pack_map (&s_pk, 2);
        s_key ("id");
        msgpack_pack_str_with_body (&s_pk, "a", 1);
        s_key ("type");
        msgpack_pack_str_with_body (&s_pk, "t", 1);
    }
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_TOO_LARGE);

    //  A payload nested deeper than ZO_MP_MAX_DEPTH.
    s_begin ("SUBMIT", 2);
    s_key ("seq");
    msgpack_pack_uint8 (&s_pk, 1);
    s_key ("events");
    msgpack_pack_array (&s_pk, 1);
    msgpack_pack_map (&s_pk, 3);
    s_key ("id");
    msgpack_pack_str_with_body (&s_pk, "a", 1);
    s_key ("type");
    msgpack_pack_str_with_body (&s_pk, "t", 1);
    s_key ("payload");
    for (int i = 0; i < ZO_MP_MAX_DEPTH + 5; i++)
        msgpack_pack_array (&s_pk, 1);
    msgpack_pack_nil (&s_pk);
    cr_assert_eq (s_decode_err (s_buf.data, s_buf.size, &out), ZO_ERR_BAD_MSGPACK);

    //  A header claiming 4 billion elements in a few bytes.
    cr_assert_eq (s_decode_err ("\xdf\xff\xff\xff\xff", 5, &out), ZO_ERR_BAD_MSGPACK);
}

Test (proto, every_truncation_fails_cleanly)
{
    zo_event_t ev = { .id = zo_span_str ("e1"), .type = zo_span_str ("github.push"),
                      .source = zo_span_str ("github"), .deadline_ms = 5 };
    zo_msg_t msg = { .cmd = ZO_CMD_SUBMIT, .seq = 1, .events = &ev, .n_events = 1 };
    msgpack_sbuffer_clear (&s_buf);
    zo_proto_encode (&s_pk, &msg);
    char copy [256];
    cr_assert_lt (s_buf.size, sizeof copy);
    memcpy (copy, s_buf.data, s_buf.size);
    zo_msg_t out;
    for (size_t n = 0; n < s_buf.size; n++)
        cr_assert_neq (s_decode_err (copy, n, &out), ZO_ERR_NONE, "truncated at %zu decoded", n);
    cr_assert_eq (s_decode_err (copy, s_buf.size, &out), ZO_ERR_NONE);
}

Test (proto, names)
{
    cr_assert_str_eq (zo_cmd_name (ZO_CMD_DISPATCH), "DISPATCH");
    cr_assert_str_eq (zo_cmd_name (ZO_CMD_COUNT), "?");
    cr_assert_str_eq (zo_err_name (ZO_ERR_NOT_READY), "not_ready");
    cr_assert_str_eq (zo_prio_name (ZO_PRIO_LOW), "low");
    cr_assert_eq (zo_cmd_lookup (zo_span_str ("STATS")), ZO_CMD_STATS);
    cr_assert_eq (zo_cmd_lookup (zo_span_str ("stats")), ZO_CMD_INVALID);
    for (int e = 0; e < ZO_ERR_COUNT; e++)
        cr_assert_eq ((int) zo_err_lookup (zo_span_str (zo_err_name ((zo_err_t) e))), e);
}

//  PROTOCOL.md's field tables are the codec's tables: the document must
//  contain, between its markers, exactly what zo_proto_print_doc prints.
Test (proto, protocol_md_matches_table)
{
    const char *path = getenv ("ZORCH_PROTOCOL_MD");
    cr_assert_not_null (path, "ZORCH_PROTOCOL_MD not set");
    FILE *file = fopen (path, "r");
    cr_assert_not_null (file, "cannot open %s", path);
    static char doc [256 * 1024];
    size_t n = fread (doc, 1, sizeof doc - 1, file);
    fclose (file);
    doc [n] = 0;
    const char *begin = strstr (doc, "<!-- BEGIN proto-doc -->\n");
    const char *end = strstr (doc, "<!-- END proto-doc -->");
    cr_assert (begin && end && end > begin);
    begin += strlen ("<!-- BEGIN proto-doc -->\n");

    char *generated = NULL;
    size_t size = 0;
    FILE *mem = open_memstream (&generated, &size);
    fflush (stdout);
    FILE *saved = stdout;
    stdout = mem;
    zo_proto_print_doc ();
    stdout = saved;
    fclose (mem);
    bool same = (size_t) (end - begin) == size && memcmp (begin, generated, size) == 0;
    free (generated);
    cr_assert (same, "PROTOCOL.md tables are stale: run `zorch proto-doc` and paste its output");
}

//  Results encoded one by one, then sent as the raw results of a RESULT,
//  decode as if they had been encoded with the message.
Test (proto, results_encoded_ahead_travel_verbatim)
{
    msgpack_sbuffer ahead;
    msgpack_sbuffer_init (&ahead);
    msgpack_packer apk;
    msgpack_packer_init (&apk, &ahead, msgpack_sbuffer_write);
    zo_result_t first = { .id = zo_span_str ("r1"), .ok = true, .took_ns = 9, .attempts = 1 };
    zo_result_t second = { .id = zo_span_str ("r2"), .error = zo_span_str ("nope"), .attempts = 3 };
    zo_proto_encode_result (&apk, &first);
    size_t cut = ahead.size;
    zo_proto_encode_result (&apk, &second);
    zo_result_t raw [2] = {
        { .raw = { (const uint8_t *) ahead.data, (uint32_t) cut } },
        { .raw = { (const uint8_t *) ahead.data + cut, (uint32_t) (ahead.size - cut) } },
    };
    zo_msg_t msg = { .cmd = ZO_CMD_RESULT, .results_ = raw, .n_results = 2 }, out;
    s_round_trip (&msg, &out);
    cr_assert_eq (out.n_results, 2);
    cr_assert (s_eq (out.results_ [0].id, "r1"));
    cr_assert (out.results_ [0].ok);
    cr_assert_eq (out.results_ [0].took_ns, 9);
    cr_assert (s_eq (out.results_ [1].id, "r2"));
    cr_assert_not (out.results_ [1].ok);
    cr_assert (s_eq (out.results_ [1].error, "nope"));
    cr_assert_eq (out.results_ [1].attempts, 3);
    msgpack_sbuffer_destroy (&ahead);
}

//  The broker keeps a DISPATCH within max_frame by counting each event's
//  bytes plus ZO_DISPATCH_ITEM_OVERHEAD, and ZO_DISPATCH_OVERHEAD for the
//  message itself: those must be upper bounds of what the codec writes,
//  with the largest numbers and the longest array header.
Test (proto, dispatch_overheads_are_upper_bounds)
{
    static zo_item_t items [ZO_MAX_BATCH];
    static const uint8_t event [] = "\x82\xa2id\xa1x\xa4type\xa1t";
    for (uint32_t i = 0; i < ZO_MAX_BATCH; i++) {
        items [i] = (zo_item_t) { .attempt = UINT32_MAX, .deadline_ms = UINT32_MAX };
        items [i].event.raw = (zo_span_t) { event, sizeof (event) - 1 };
    }
    uint32_t counts [] = { 1, 15, 16, ZO_MAX_BATCH };
    for (size_t k = 0; k < sizeof (counts) / sizeof (counts [0]); k++) {
        zo_msg_t msg = { .cmd = ZO_CMD_DISPATCH, .items = items, .n_items = counts [k] }, out;
        s_round_trip (&msg, &out);
        size_t bound = ZO_DISPATCH_OVERHEAD
                     + (size_t) counts [k] * (sizeof (event) - 1 + ZO_DISPATCH_ITEM_OVERHEAD);
        cr_assert_leq (s_buf.size, bound, "%u items: %zu bytes, bound %zu",
                       counts [k], s_buf.size, bound);
    }
}
