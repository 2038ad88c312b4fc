/*  gen_seeds: writes a seed corpus for the fuzz targets, one valid message
    per file, encoded by the codec itself (zo_proto_encode), so that the
    fuzzer starts from every command's shape rather than from nothing.

        gen_seeds DIR
*/
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zo_proto.h"

static int s_n;

static void
s_write (const char *dir, const zo_msg_t *msg)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    zo_proto_encode (&pk, msg);
    char path [4096];
    snprintf (path, sizeof (path), "%s/seed-%02d-%s.bin", dir, ++s_n, zo_cmd_name (msg->cmd));
    FILE *f = fopen (path, "wb");
    if (!f || fwrite (buf.data, 1, buf.size, f) != buf.size) {
        perror (path);
        exit (1);
    }
    fclose (f);
    msgpack_sbuffer_destroy (&buf);
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: gen_seeds DIR\n");
        return 2;
    }
    const char *dir = argv [1];

    /*  A payload {"ref":"refs/heads/main","n":[1,-2,3.5,true,null]}.  */
    msgpack_sbuffer pay;
    msgpack_sbuffer_init (&pay);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &pay, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 2);
    msgpack_pack_str_with_body (&pk, "ref", 3);
    msgpack_pack_str_with_body (&pk, "refs/heads/main", 15);
    msgpack_pack_str_with_body (&pk, "n", 1);
    msgpack_pack_array (&pk, 5);
    msgpack_pack_int (&pk, 1);
    msgpack_pack_int (&pk, -2);
    msgpack_pack_double (&pk, 3.5);
    msgpack_pack_true (&pk);
    msgpack_pack_nil (&pk);
    zo_span_t payload = { (const uint8_t *) pay.data, (uint32_t) pay.size };

    zo_event_t events [2] = {
        { .id = zo_span_str ("e1"), .type = zo_span_str ("github.push"),
          .source = zo_span_str ("github"), .payload = payload,
          .priority = ZO_PRIO_HIGH, .deadline_ms = 5000, .max_attempts = 3, .ts_ns = 42 },
        { .id = zo_span_str ("e2"), .type = zo_span_str ("test.fail") },
    };
    zo_result_t results [2] = {
        { .id = zo_span_str ("e1"), .ok = true, .result = payload, .took_ns = 2100, .attempts = 1 },
        { .id = zo_span_str ("e2"), .ok = false, .error = zo_span_str ("boom"), .attempts = 3 },
    };
    zo_item_t items [1] = { { .event = events [0], .attempt = 1, .deadline_ms = 299998 } };
    zo_dead_t dead [1] = { { .event = events [1], .error = zo_span_str ("boom"),
                             .attempts = 3, .failed_ms = 1700000000000ull } };
    zo_span_t ids [2] = { zo_span_str ("e1"), zo_span_str ("e2") };

    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_SUBMIT, .seq = 7, .results = true,
                                .events = events, .n_events = 2 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_ACK, .seq = 7, .accepted = 2 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_NACK, .seq = 7, .code = zo_span_str ("queue_full"),
                                .reason = zo_span_str ("queue full"), .retry_ms = 100 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_RESULT, .results_ = results, .n_results = 2 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_ERROR, .seq = 3, .code = zo_span_str ("bad_type"),
                                .reason = zo_span_str ("events: wrong type") });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_PING, .seq = 1 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_PONG, .seq = 1 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_READY, .name = zo_span_str ("w1"),
                                .capacity = 1000, .credit = 1000 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_CREDIT, .credit = 5 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_DISPATCH, .items = items, .n_items = 1 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_HEARTBEAT });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_BYE });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_DLQ_LIST, .seq = 9, .limit = 10 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_DLQ_ITEMS, .seq = 9, .total = 1, .dead = dead,
                                .n_dead = 1 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_DLQ_REPLAY, .seq = 10, .ids = ids, .n_ids = 2 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_DLQ_PURGE, .seq = 11 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_DLQ_DONE, .seq = 11, .count = 2 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_DONE, .results_ = results, .n_results = 2,
                                .credit = 2 });
    //  The cache's commands and replies.
    zo_span_t keys [2] = { zo_span_str ("repo:1"), zo_span_str ("user:*") };
    zo_span_t values [2] = { zo_span_str ("{\"team\":\"core\"}"), { NULL, 0 } };
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_GET, .seq = 12, .key = keys [0] });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_MGET, .seq = 13, .ids = keys, .n_ids = 2 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_SET, .seq = 14, .key = keys [0], .value = values [0],
                                .ttl_ms = 60000 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_DEL, .seq = 15, .key = keys [0] });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_TOUCH, .seq = 16, .key = keys [0], .ttl_ms = 5 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_INVALIDATE, .seq = 17, .pattern = keys [1] });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_GET_STATS, .seq = 18 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_VALUE, .seq = 12, .found = true, .value = values [0],
                                .ttl_ms = 5, .level = zo_span_str ("redis") });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_VALUES, .seq = 13, .values = values, .n_values = 2 });
    s_write (dir, &(zo_msg_t) { .cmd = ZO_CMD_OK, .seq = 14, .count = 1 });
    msgpack_sbuffer_destroy (&pay);
    return 0;
}
