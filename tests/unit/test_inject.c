/*  tools/zo_input: events as people write them (flags, JSON, NDJSON) ->
    SUBMIT events; ids. Each encoded event is checked by the real codec
    (zo_proto_decode of a SUBMIT carrying it).  */
#include <criterion/criterion.h>
#include <czmq.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zo_input.h"
#include "zo_json.h"
#include "zo_proto.h"

/*  Decodes the event map in buf[0..size) through a SUBMIT, as the broker
    would.  */
typedef struct {
    msgpack_sbuffer frame;
    zo_proto_t *dec;
    zo_msg_t msg;
} s_decoded_t;

static int
s_decode (s_decoded_t *d, const msgpack_sbuffer *event)
{
    msgpack_sbuffer_init (&d->frame);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &d->frame, msgpack_sbuffer_write);
    zo_event_t ev = { .raw = { (const uint8_t *) event->data, (uint32_t) event->size } };
    zo_msg_t msg = { .cmd = ZO_CMD_SUBMIT, .seq = 1, .events = &ev, .n_events = 1 };
    zo_proto_encode (&pk, &msg);
    d->dec = zo_proto_new ();
    return zo_proto_decode (d->dec, d->frame.data, d->frame.size, &d->msg);
}

static void
s_decoded_free (s_decoded_t *d)
{
    zo_proto_destroy (&d->dec);
    msgpack_sbuffer_destroy (&d->frame);
}

static bool
s_span_is (zo_span_t span, const char *str)
{
    return span.len == strlen (str) && memcmp (span.ptr, str, span.len) == 0;
}

Test (input, full_event_round_trips_through_the_codec)
{
    const char *text =
        "{\"type\": \"github.push\", \"source\": \"github\", \"id\": \"evt-1\","
        " \"priority\": \"high\", \"deadline_ms\": 30000, \"max_attempts\": 3,"
        " \"payload\": {\"ref\": \"refs/heads/main\", \"n\": [1, 2.5, null, true, \"\\u00e9\"]},"
        " \"custom\": {\"k\": 1}}";
    json_error_t jerr;
    json_t *json = json_loads (text, 0, &jerr);
    cr_assert_not_null (json);
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    char id [ZO_MAX_ID + 1], type [ZO_MAX_TYPE + 1], err [256];
    cr_assert_eq (zo_input_encode (json, false, &out, id, type, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq (id, "evt-1");
    cr_assert_str_eq (type, "github.push");

    s_decoded_t d;
    cr_assert_eq (s_decode (&d, &out), 0, "codec refused it: %s", zo_proto_errstr (d.dec));
    cr_assert_eq (d.msg.n_events, 1);
    const zo_event_t *ev = &d.msg.events [0];
    cr_assert (s_span_is (ev->id, "evt-1"));
    cr_assert (s_span_is (ev->type, "github.push"));
    cr_assert (s_span_is (ev->source, "github"));
    cr_assert_eq (ev->priority, ZO_PRIO_HIGH);
    cr_assert_eq (ev->deadline_ms, 30000);
    cr_assert_eq (ev->max_attempts, 3);
    cr_assert_gt (ev->ts_ns, 0, "ts_ns is set when absent");
    //  The payload comes back equal, as JSON.
    json_t *payload = zo_json_from_span (ev->payload);
    cr_assert (json_equal (payload, json_object_get (json, "payload")));
    json_decref (payload);
    //  Unknown keys are passed through.
    json_t *whole = zo_json_from_span (ev->raw);
    cr_assert (json_equal (json_object_get (whole, "custom"), json_object_get (json, "custom")));
    json_decref (whole);
    s_decoded_free (&d);
    msgpack_sbuffer_destroy (&out);
    json_decref (json);
}

Test (input, minimal_event_gets_an_id)
{
    json_t *json = json_pack ("{s:s}", "type", "a.b");
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    char id [ZO_MAX_ID + 1];
    cr_assert_eq (zo_input_encode (json, false, &out, id, NULL, NULL, 0), 0);
    cr_assert_eq (strlen (id), ZO_INPUT_ID_LEN);
    s_decoded_t d;
    cr_assert_eq (s_decode (&d, &out), 0, "%s", zo_proto_errstr (d.dec));
    cr_assert (s_span_is (d.msg.events [0].id, id));
    cr_assert_eq (d.msg.events [0].priority, ZO_PRIO_NORMAL);
    cr_assert_eq (d.msg.events [0].payload.len, 0);
    s_decoded_free (&d);

    //  fresh_id replaces a given id.
    json_object_set_new (json, "id", json_string ("given"));
    msgpack_sbuffer_clear (&out);
    cr_assert_eq (zo_input_encode (json, true, &out, id, NULL, NULL, 0), 0);
    cr_assert_str_neq (id, "given");
    cr_assert_eq (strlen (id), ZO_INPUT_ID_LEN);
    msgpack_sbuffer_destroy (&out);
    json_decref (json);
}

Test (input, payload_of_any_json_type)
{
    const char *payloads [] = { "null", "0", "-7", "1.5", "\"text\"", "[]", "{}", "[[[]]]",
                                "true", "{\"a\":{\"b\":[1,{\"c\":null}]}}" };
    for (size_t i = 0; i < sizeof payloads / sizeof payloads [0]; i++) {
        json_t *payload = json_loads (payloads [i], JSON_DECODE_ANY, NULL);
        json_t *json = json_pack ("{s:s, s:O}", "type", "t", "payload", payload);
        msgpack_sbuffer out;
        msgpack_sbuffer_init (&out);
        char id [ZO_MAX_ID + 1];
        cr_assert_eq (zo_input_encode (json, false, &out, id, NULL, NULL, 0), 0);
        s_decoded_t d;
        cr_assert_eq (s_decode (&d, &out), 0, "%s: %s", payloads [i], zo_proto_errstr (d.dec));
        json_t *back = zo_json_from_span (d.msg.events [0].payload);
        cr_assert (json_equal (back, payload), "payload %s changed", payloads [i]);
        json_decref (back);
        s_decoded_free (&d);
        msgpack_sbuffer_destroy (&out);
        json_decref (json);
        json_decref (payload);
    }
}

Test (input, bad_events_are_refused_with_the_field_named)
{
    char long_type [300];
    memset (long_type, 'x', sizeof long_type - 1);
    long_type [sizeof long_type - 1] = 0;
    char long_id [ZO_MAX_ID + 2];
    memset (long_id, 'i', sizeof long_id - 1);
    long_id [sizeof long_id - 1] = 0;
    struct { json_t *json; const char *word; } cases [] = {
        { json_pack ("{s:s}", "source", "github"), "\"type\"" },
        { json_pack ("{s:s}", "type", ""), "\"type\"" },
        { json_pack ("{s:i}", "type", 5), "\"type\"" },
        { json_pack ("{s:s}", "type", long_type), "\"type\"" },
        { json_pack ("{s:s, s:s}", "type", "t", "id", long_id), "\"id\"" },
        { json_pack ("{s:s, s:s}", "type", "t", "id", ""), "\"id\"" },
        { json_pack ("{s:s, s:s}", "type", "t", "priority", "urgent"), "\"priority\"" },
        { json_pack ("{s:s, s:i}", "type", "t", "deadline_ms", -1), "\"deadline_ms\"" },
        { json_pack ("{s:s, s:I}", "type", "t", "deadline_ms", (json_int_t) 1 << 33),
          "\"deadline_ms\"" },
        { json_pack ("{s:s, s:s}", "type", "t", "max_attempts", "3"), "\"max_attempts\"" },
        { json_pack ("{s:s, s:f}", "type", "t", "max_attempts", 1.5), "\"max_attempts\"" },
        { json_pack ("{s:s, s:i}", "type", "t", "source", 1), "\"source\"" },
        { json_pack ("[s]", "type"), "object" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        msgpack_sbuffer out;
        msgpack_sbuffer_init (&out);
        char id [ZO_MAX_ID + 1], err [256] = "";
        cr_assert_eq (zo_input_encode (cases [i].json, false, &out, id, NULL, err, sizeof err), -1,
                      "case %zu was accepted", i);
        cr_assert_eq (out.size, 0, "case %zu appended something", i);
        cr_assert_not_null (strstr (err, cases [i].word), "case %zu: '%s' lacks %s", i, err,
                            cases [i].word);
        msgpack_sbuffer_destroy (&out);
        json_decref (cases [i].json);
    }
}

Test (input, too_deep_payload_is_refused)
{
    json_t *deep = json_integer (1);
    for (int i = 0; i < ZO_INPUT_MAX_DEPTH + 1; i++) {
        json_t *wrap = json_array ();
        json_array_append_new (wrap, deep);
        deep = wrap;
    }
    json_t *json = json_pack ("{s:s, s:o}", "type", "t", "payload", deep);
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    char id [ZO_MAX_ID + 1], err [256];
    cr_assert_eq (zo_input_encode (json, false, &out, id, NULL, err, sizeof err), -1);
    cr_assert_not_null (strstr (err, "payload"));
    //  One level less is fine, and the codec takes it.
    json_t *inner = json_array_get (json_object_get (json, "payload"), 0);
    json_object_set (json, "payload", inner);
    cr_assert_eq (zo_input_encode (json, false, &out, id, NULL, err, sizeof err), 0, "%s", err);
    s_decoded_t d;
    cr_assert_eq (s_decode (&d, &out), 0, "%s", zo_proto_errstr (d.dec));
    s_decoded_free (&d);
    msgpack_sbuffer_destroy (&out);
    json_decref (json);
}

static int
s_cmp (const void *a, const void *b)
{
    return memcmp (a, b, ZO_INPUT_ID_LEN + 1);
}

Test (input, generated_ids_are_unique)
{
    enum { N = 200000 };
    char (*ids) [ZO_INPUT_ID_LEN + 1] = malloc ((size_t) N * (ZO_INPUT_ID_LEN + 1));
    cr_assert_not_null (ids);
    for (int i = 0; i < N; i++) {
        zo_input_id_new (ids [i]);
        cr_assert_eq (strlen (ids [i]), ZO_INPUT_ID_LEN);
        cr_assert_eq (strspn (ids [i], "0123456789abcdefghjkmnpqrstvwxyz"), ZO_INPUT_ID_LEN);
    }
    qsort (ids, N, ZO_INPUT_ID_LEN + 1, s_cmp);
    for (int i = 1; i < N; i++)
        cr_assert_str_neq (ids [i - 1], ids [i], "duplicate id %s", ids [i]);
    free (ids);
}

Test (input, forked_processes_make_different_ids)
{
    char mine [ZO_INPUT_ID_LEN + 1];
    zo_input_id_new (mine);
    int fds [2];
    cr_assert_eq (pipe (fds), 0);
    pid_t pid = fork ();
    cr_assert_geq (pid, 0);
    if (pid == 0) {
        char id [ZO_INPUT_ID_LEN + 1];
        zo_input_id_new (id);
        if (write (fds [1], id, sizeof id) != (ssize_t) sizeof id)
            _exit (1);
        _exit (0);
    }
    char parent [ZO_INPUT_ID_LEN + 1], child [ZO_INPUT_ID_LEN + 1];
    zo_input_id_new (parent);
    cr_assert_eq (read (fds [0], child, sizeof child), (ssize_t) sizeof child);
    waitpid (pid, NULL, 0);
    //  Same millisecond maybe, but not the same counter.
    cr_assert_str_neq (parent + 8, child + 8);
    close (fds [0]);
    close (fds [1]);
}

/*  Reads everything a source gives until it ends; returns the codes.  */
static int
s_drain (zo_input_t *input, int *codes, int max, char errs [][256])
{
    int n = 0;
    while (n < max) {
        msgpack_sbuffer out;
        msgpack_sbuffer_init (&out);
        char id [ZO_MAX_ID + 1], type [ZO_MAX_TYPE + 1];
        int rc = zo_input_next (input, &out, id, type, errs [n], 256);
        msgpack_sbuffer_destroy (&out);
        codes [n++] = rc;
        if (rc == -1 || rc == 0)
            break;
    }
    return n;
}

Test (input, ndjson_reports_bad_lines_and_goes_on)
{
    int fds [2];
    cr_assert_eq (pipe (fds), 0);
    const char *text = "{\"type\":\"a\"}\n"
                       "{\"type\": \n"
                       "\n"
                       "   \n"
                       "{\"type\":\"b\",\"priority\":\"soon\"}\n"
                       "{\"type\":\"c\"}";   /* no newline at the end */
    cr_assert_eq (write (fds [1], text, strlen (text)), (ssize_t) strlen (text));
    close (fds [1]);
    zo_input_t *input = zo_input_new_ndjson (fds [0], true, 0);
    int codes [10];
    char errs [10][256];
    int n = s_drain (input, codes, 10, errs);
    cr_assert_eq (n, 5);
    cr_assert_eq (codes [0], 1);
    cr_assert_eq (codes [1], -2);
    cr_assert_not_null (strstr (errs [1], "line 2"), "%s", errs [1]);
    cr_assert_eq (codes [2], -2);
    cr_assert_not_null (strstr (errs [2], "line 5"), "%s", errs [2]);
    cr_assert_not_null (strstr (errs [2], "priority"), "%s", errs [2]);
    cr_assert_eq (codes [3], 1);
    cr_assert_eq (codes [4], -1);
    cr_assert_eq (zo_input_bad (input), 2);
    zo_input_destroy (&input);
    cr_assert_null (input);
}

Test (input, ndjson_never_blocks)
{
    int fds [2];
    cr_assert_eq (pipe (fds), 0);
    zo_input_t *input = zo_input_new_ndjson (fds [0], true, 0);
    cr_assert_eq (zo_input_fd (input), fds [0]);
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    char id [ZO_MAX_ID + 1], type [ZO_MAX_TYPE + 1], err [256];
    cr_assert_eq (zo_input_next (input, &out, id, type, err, sizeof err), 0);
    cr_assert_eq (write (fds [1], "{\"type\":\"hal", 12), 12);
    cr_assert_eq (zo_input_next (input, &out, id, type, err, sizeof err), 0);
    cr_assert_eq (out.size, 0);
    cr_assert_eq (write (fds [1], "f\"}\n", 4), 4);
    cr_assert_eq (zo_input_next (input, &out, id, type, err, sizeof err), 1);
    cr_assert_str_eq (type, "half");
    close (fds [1]);
    cr_assert_eq (zo_input_next (input, &out, id, type, err, sizeof err), -1);
    msgpack_sbuffer_destroy (&out);
    zo_input_destroy (&input);
}

Test (input, ndjson_count_and_defaults)
{
    int fds [2];
    cr_assert_eq (pipe (fds), 0);
    const char *text = "{\"payload\":1}\n{\"type\":\"own\"}\n{\"payload\":3}\n";
    cr_assert_eq (write (fds [1], text, strlen (text)), (ssize_t) strlen (text));
    close (fds [1]);
    zo_input_t *input = zo_input_new_ndjson (fds [0], true, 2);
    json_t *defaults = json_pack ("{s:s, s:s}", "type", "dflt", "source", "cli");
    zo_input_set_defaults (input, defaults);
    json_decref (defaults);
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    char id [ZO_MAX_ID + 1], type [ZO_MAX_TYPE + 1], err [256];
    cr_assert_eq (zo_input_next (input, &out, id, type, err, sizeof err), 1, "%s", err);
    cr_assert_str_eq (type, "dflt");
    cr_assert_eq (zo_input_next (input, &out, id, type, err, sizeof err), 1, "%s", err);
    cr_assert_str_eq (type, "own");
    cr_assert_eq (zo_input_next (input, &out, id, type, err, sizeof err), -1, "count is 2");
    msgpack_sbuffer_destroy (&out);
    zo_input_destroy (&input);
}

Test (input, list_repeats_with_fresh_ids)
{
    json_t *events = json_pack ("[{s:s, s:s}, {s:s}]", "type", "a", "id", "first", "type", "b");
    zo_input_t *input = zo_input_new_list (&events, 5);
    cr_assert_null (events);
    cr_assert_eq (zo_input_total (input), 5);
    zhashx_t *seen = zhashx_new ();
    const char *want [] = { "a", "b", "a", "b", "a" };
    for (int i = 0; i < 5; i++) {
        msgpack_sbuffer out;
        msgpack_sbuffer_init (&out);
        char id [ZO_MAX_ID + 1], type [ZO_MAX_TYPE + 1], err [256];
        cr_assert_eq (zo_input_next (input, &out, id, type, err, sizeof err), 1);
        cr_assert_str_eq (type, want [i]);
        if (i == 0)
            cr_assert_str_eq (id, "first");
        cr_assert_eq (zhashx_insert (seen, id, (void *) 1), 0, "id %s repeated", id);
        msgpack_sbuffer_destroy (&out);
    }
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    char id [ZO_MAX_ID + 1], err [256];
    cr_assert_eq (zo_input_next (input, &out, id, NULL, err, sizeof err), -1);
    msgpack_sbuffer_destroy (&out);
    zhashx_destroy (&seen);
    zo_input_destroy (&input);
}

//  Copies after the first round are made from the cached encoding with
//  the id and ts_ns patched: each must decode to the same event with its
//  own id and a current timestamp.
Test (input, repeated_copies_decode_with_their_own_id_and_time)
{
    json_t *events = json_pack ("[{s:s, s:s, s:{s:s, s:i}}]", "type", "bench.x", "source", "gh",
                                "payload", "k", "v", "n", 7);
    zo_input_t *input = zo_input_new_list (&events, 50);
    zhashx_t *seen = zhashx_new ();
    struct timespec t0;
    clock_gettime (CLOCK_REALTIME, &t0);
    int64_t start_ns = (int64_t) t0.tv_sec * 1000000000 + t0.tv_nsec;
    for (int i = 0; i < 50; i++) {
        msgpack_sbuffer out;
        msgpack_sbuffer_init (&out);
        char id [ZO_MAX_ID + 1], type [ZO_MAX_TYPE + 1], err [256];
        cr_assert_eq (zo_input_next (input, &out, id, type, err, sizeof err), 1);
        cr_assert_str_eq (type, "bench.x");
        s_decoded_t d;
        cr_assert_eq (s_decode (&d, &out), 0, "copy %d: %s", i, zo_proto_errstr (d.dec));
        const zo_event_t *ev = &d.msg.events [0];
        cr_assert (s_span_is (ev->id, id), "copy %d: id %s not in its encoding", i, id);
        cr_assert (s_span_is (ev->type, "bench.x"));
        cr_assert (s_span_is (ev->source, "gh"));
        cr_assert_geq (ev->ts_ns, start_ns, "copy %d: stale ts_ns", i);
        json_t *payload = zo_json_from_span (ev->payload);
        cr_assert_eq (json_integer_value (json_object_get (payload, "n")), 7);
        json_decref (payload);
        cr_assert_eq (zhashx_insert (seen, id, (void *) 1), 0, "id %s repeated", id);
        s_decoded_free (&d);
        msgpack_sbuffer_destroy (&out);
    }
    cr_assert_eq (zhashx_size (seen), 50);
    zhashx_destroy (&seen);
    zo_input_destroy (&input);
}

Test (input, load_file_names_the_line)
{
    char path [] = "/tmp/zorch-test-input-XXXXXX";
    int fd = mkstemp (path);
    cr_assert_geq (fd, 0);
    const char *text = "[\n  {\"type\": \"a\"},\n  {\"type\": \"b\",}\n]\n";
    cr_assert_eq (write (fd, text, strlen (text)), (ssize_t) strlen (text));
    close (fd);
    char err [256];
    cr_assert_null (zo_input_load_file (path, err, sizeof err));
    cr_assert_not_null (strstr (err, "line 3"), "%s", err);

    //  A single object becomes an array of one.
    FILE *file = fopen (path, "w");
    fprintf (file, "{\"type\": \"one\"}");
    fclose (file);
    json_t *array = zo_input_load_file (path, err, sizeof err);
    cr_assert (json_is_array (array));
    cr_assert_eq (json_array_size (array), 1);
    json_decref (array);
    file = fopen (path, "w");
    fprintf (file, "42");
    fclose (file);
    cr_assert_null (zo_input_load_file (path, err, sizeof err));
    unlink (path);
}

Test (input, demo_events_are_valid)
{
    const char *dir = getenv ("ZORCH_DEMO_DIR");
    cr_assert_not_null (dir, "ZORCH_DEMO_DIR is set by meson");
    const char *names [] = { "01-ping.json", "02-push.json", "03-pull_request-opened.json",
                             "04-issues-opened.json", "05-issue_comment-created.json",
                             "06-star-created.json", "07-release-published.json" };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++) {
        char path [512], err [256];
        snprintf (path, sizeof path, "%s/%s", dir, names [i]);
        json_t *events = zo_input_load_file (path, err, sizeof err);
        cr_assert_not_null (events, "%s", err);
        json_t *event = json_array_get (events, 0);
        msgpack_sbuffer out;
        msgpack_sbuffer_init (&out);
        char id [ZO_MAX_ID + 1], type [ZO_MAX_TYPE + 1];
        cr_assert_eq (zo_input_encode (event, false, &out, id, type, err, sizeof err), 0, "%s",
                      err);
        cr_assert_eq (strncmp (type, "github.", 7), 0);
        s_decoded_t d;
        cr_assert_eq (s_decode (&d, &out), 0, "%s: %s", names [i], zo_proto_errstr (d.dec));
        json_t *back = zo_json_from_span (d.msg.events [0].payload);
        cr_assert (json_equal (back, json_object_get (event, "payload")));
        json_decref (back);
        s_decoded_free (&d);
        msgpack_sbuffer_destroy (&out);
        json_decref (events);
    }
}
