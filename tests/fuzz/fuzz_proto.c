/*  fuzz_proto: libFuzzer target for the wire decoder, zo_proto_decode.

    One long-lived decoder, as in every actor, so that state carried from
    one message to the next (reused arrays) is fuzzed too. For every input
    that decodes, the decoded message must be usable: its command has a
    name, and every span it holds lies inside the input. Inputs that do
    not decode must leave an error code and a message.
*/
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "zo_proto.h"

static zo_proto_t *s_dec;

static void
s_check_span (zo_span_t span, const uint8_t *data, size_t size)
{
    if (span.len == 0)
        return;
    assert (span.ptr >= data && span.ptr + span.len <= data + size);
}

static void
s_check_event (const zo_event_t *ev, const uint8_t *data, size_t size)
{
    s_check_span (ev->raw, data, size);
    s_check_span (ev->id, data, size);
    s_check_span (ev->type, data, size);
    s_check_span (ev->source, data, size);
    s_check_span (ev->payload, data, size);
    assert (ev->id.len >= 1 && ev->id.len <= ZO_MAX_ID);
    assert (ev->type.len >= 1 && ev->type.len <= ZO_MAX_TYPE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_dec) {
        s_dec = zo_proto_new ();
        assert (s_dec);
    }
    zo_msg_t msg;
    memset (&msg, 0, sizeof (msg));
    if (zo_proto_decode (s_dec, data, size, &msg) != 0) {
        assert (zo_proto_err (s_dec) != ZO_ERR_NONE);
        assert (zo_proto_errstr (s_dec) != NULL);
        assert (zo_err_name (zo_proto_err (s_dec)) != NULL);
        return 0;
    }
    assert (msg.cmd > ZO_CMD_INVALID && msg.cmd < ZO_CMD_COUNT);
    assert (strcmp (zo_cmd_name (msg.cmd), "?") != 0);
    s_check_span (msg.code, data, size);
    s_check_span (msg.reason, data, size);
    s_check_span (msg.name, data, size);
    assert (msg.n_events <= ZO_MAX_BATCH * 101);
    for (uint32_t i = 0; i < msg.n_events; i++)
        s_check_event (&msg.events [i], data, size);
    for (uint32_t i = 0; i < msg.n_results; i++) {
        s_check_span (msg.results_ [i].id, data, size);
        s_check_span (msg.results_ [i].result, data, size);
        s_check_span (msg.results_ [i].error, data, size);
    }
    for (uint32_t i = 0; i < msg.n_items; i++)
        s_check_event (&msg.items [i].event, data, size);
    for (uint32_t i = 0; i < msg.n_dead; i++) {
        s_check_event (&msg.dead [i].event, data, size);
        s_check_span (msg.dead [i].error, data, size);
    }
    for (uint32_t i = 0; i < msg.n_ids; i++)
        s_check_span (msg.ids [i], data, size);
    //  The cache's: keys, patterns and values are spans of the frame too;
    //  an empty value that is there still points into it.
    s_check_span (msg.key, data, size);
    s_check_span (msg.pattern, data, size);
    s_check_span (msg.value, data, size);
    s_check_span (msg.level, data, size);
    assert (msg.key.len <= ZO_MAX_KEY && msg.pattern.len <= ZO_MAX_KEY);
    for (uint32_t i = 0; i < msg.n_values; i++)
        s_check_span (msg.values [i], data, size);
    return 0;
}
