/*  Tests of actors/runtime/zo_json.c: JSON <-> msgpack round trips,
    big integers, depth limits, malformed input.  */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "zo_json.h"

typedef struct {
    msgpack_sbuffer buffer;
    msgpack_packer pk;
} packer_t;

static void
s_packer_init (packer_t *p)
{
    msgpack_sbuffer_init (&p->buffer);
    msgpack_packer_init (&p->pk, &p->buffer, msgpack_sbuffer_write);
}

//  JSON text -> msgpack -> JSON; returns the compact JSON text (free it).
static char *
s_round_trip (const char *text)
{
    json_error_t error;
    json_t *json = json_loads (text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    cr_assert_not_null (json, "%s: %s", text, error.text);
    packer_t p;
    s_packer_init (&p);
    cr_assert_eq (zo_json_pack (&p.pk, json), 0);
    json_decref (json);
    zo_span_t span = { (const uint8_t *) p.buffer.data, (uint32_t) p.buffer.size };
    json_t *back = zo_json_from_span (span);
    cr_assert_not_null (back, "%s", text);
    char *out = json_dumps (back, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref (back);
    msgpack_sbuffer_destroy (&p.buffer);
    return out;
}

Test (json, round_trips)
{
    const char *cases [] = {
        "null", "true", "false", "0", "-1", "42", "9223372036854775807",
        "-9223372036854775808", "1.5", "-0.25", "\"\"", "\"hello\"",
        "[]", "{}", "[1,2,[3,[4,{}]]]",
        "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}",
        "\"caf\\u00e9 \\u65e5\\u672c \\ud83d\\ude00\"",
        "{\"\\u00fcber\":\"\\u00e4\"}",
        "\"with \\u0000 nul\"",
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases [0]); i++) {
        json_t *expect = json_loads (cases [i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        char *expect_text = json_dumps (expect, JSON_ENCODE_ANY | JSON_COMPACT);
        char *got = s_round_trip (cases [i]);
        cr_assert_str_eq (got, expect_text, "case %zu", i);
        free (got);
        free (expect_text);
        json_decref (expect);
    }
}

Test (json, msgpack_types_to_json)
{
    packer_t p;
    s_packer_init (&p);
    msgpack_pack_map (&p.pk, 7);
    msgpack_pack_str_with_body (&p.pk, "big", 3);
    msgpack_pack_uint64 (&p.pk, UINT64_MAX);
    msgpack_pack_str_with_body (&p.pk, "bin", 3);
    msgpack_pack_bin_with_body (&p.pk, "hello", 5);
    msgpack_pack_str_with_body (&p.pk, "ext", 3);
    msgpack_pack_ext_with_body (&p.pk, "abcd", 4, 7);
    msgpack_pack_int (&p.pk, 5);                     //  a non-string key
    msgpack_pack_str_with_body (&p.pk, "five", 4);
    msgpack_pack_str_with_body (&p.pk, "f32", 3);
    msgpack_pack_float (&p.pk, 0.5f);
    msgpack_pack_str_with_body (&p.pk, "bad", 3);
    msgpack_pack_str_with_body (&p.pk, "a\xff" "b", 3);
    msgpack_pack_str_with_body (&p.pk, "nan", 3);
    msgpack_pack_double (&p.pk, 0.0 / 0.0);
    zo_mp_t cur;
    zo_mp_init (&cur, p.buffer.data, p.buffer.size);
    json_t *json = zo_json_from_mp (&cur);
    cr_assert_not_null (json);
    cr_assert_eq (zo_mp_left (&cur), 0);
    json_t *big = json_object_get (json, "big");
    cr_assert (json_is_real (big));
    cr_assert_float_eq (json_real_value (big), 18446744073709551615.0, 1e4);
    cr_assert_str_eq (json_string_value (json_object_get (json, "bin")), "aGVsbG8=");
    cr_assert (json_is_null (json_object_get (json, "ext")));
    cr_assert_str_eq (json_string_value (json_object_get (json, "5")), "five");
    cr_assert_float_eq (json_real_value (json_object_get (json, "f32")), 0.5, 1e-9);
    cr_assert_str_eq (json_string_value (json_object_get (json, "bad")), "a\xef\xbf\xbd" "b");
    cr_assert (json_is_null (json_object_get (json, "nan")));
    json_decref (json);
    msgpack_sbuffer_destroy (&p.buffer);

    //  A NUL byte in a key becomes U+FFFD (jansson treats keys as C
    //  strings), and the key then survives the trip back to msgpack.
    s_packer_init (&p);
    msgpack_pack_map (&p.pk, 1);
    msgpack_pack_str_with_body (&p.pk, "a\0b", 3);
    msgpack_pack_int (&p.pk, 1);
    zo_span_t nul_span = { (const uint8_t *) p.buffer.data, (uint32_t) p.buffer.size };
    json = zo_json_from_span (nul_span);
    cr_assert_not_null (json);
    cr_assert_eq (json_integer_value (json_object_get (json, "a\xef\xbf\xbd" "b")), 1);
    packer_t again;
    s_packer_init (&again);
    cr_assert_eq (zo_json_pack (&again.pk, json), 0);
    zo_span_t again_span = { (const uint8_t *) again.buffer.data, (uint32_t) again.buffer.size };
    json_t *back = zo_json_from_span (again_span);
    cr_assert (json_equal (json, back));
    json_decref (back);
    json_decref (json);
    msgpack_sbuffer_destroy (&again.buffer);
    msgpack_sbuffer_destroy (&p.buffer);

    //  base64 padding for 1, 2 and 3 bytes.
    const char *expect [] = { "", "YQ==", "YWI=", "YWJj" };
    for (int n = 0; n < 4; n++) {
        s_packer_init (&p);
        msgpack_pack_bin_with_body (&p.pk, "abc", (size_t) n);
        zo_span_t span = { (const uint8_t *) p.buffer.data, (uint32_t) p.buffer.size };
        json = zo_json_from_span (span);
        cr_assert_str_eq (json_string_value (json), expect [n]);
        json_decref (json);
        msgpack_sbuffer_destroy (&p.buffer);
    }
    //  An empty span is null.
    zo_span_t empty = { NULL, 0 };
    json = zo_json_from_span (empty);
    cr_assert (json_is_null (json));
    json_decref (json);
}

//  n nested arrays around a 1.
static json_t *
s_nested (int n)
{
    json_t *json = json_integer (1);
    for (int i = 0; i < n; i++) {
        json_t *array = json_array ();
        json_array_append_new (array, json);
        json = array;
    }
    return json;
}

Test (json, depth_limit)
{
    //  ZO_MP_MAX_DEPTH levels in all: 31 arrays and the number.
    json_t *ok = s_nested (ZO_MP_MAX_DEPTH - 1);
    json_t *deep = s_nested (ZO_MP_MAX_DEPTH);
    packer_t p;
    s_packer_init (&p);
    cr_assert_eq (zo_json_pack (&p.pk, deep), -1);
    cr_assert_eq (p.buffer.size, 0, "nothing written on failure");
    cr_assert_eq (zo_json_pack (&p.pk, ok), 0);
    //  What was packed skips and reads back.
    zo_mp_t cur;
    zo_mp_init (&cur, p.buffer.data, p.buffer.size);
    cr_assert_eq (zo_mp_skip (&cur, NULL), 0);
    zo_span_t span = { (const uint8_t *) p.buffer.data, (uint32_t) p.buffer.size };
    json_t *back = zo_json_from_span (span);
    cr_assert (json_equal (back, ok));
    json_decref (back);
    msgpack_sbuffer_destroy (&p.buffer);

    //  One level too deep on the msgpack side gives NULL.
    s_packer_init (&p);
    for (int i = 0; i < ZO_MP_MAX_DEPTH; i++)
        msgpack_pack_array (&p.pk, 1);
    msgpack_pack_int (&p.pk, 1);
    span = (zo_span_t) { (const uint8_t *) p.buffer.data, (uint32_t) p.buffer.size };
    cr_assert_null (zo_json_from_span (span));
    msgpack_sbuffer_destroy (&p.buffer);

    //  Hostile depth: thousands of nested arrays, no stack overflow.
    uint8_t *bomb = malloc (100000);
    memset (bomb, 0x91, 100000);
    span = (zo_span_t) { bomb, 100000 };
    cr_assert_null (zo_json_from_span (span));
    free (bomb);
    json_decref (ok);
    json_decref (deep);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint8_t
s_rand_byte (void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t) rng;
}

Test (json, malformed_msgpack)
{
    const struct { const char *bytes; uint32_t len; } cases [] = {
        { "\xc1", 1 },                     //  never used
        { "\x92\x01", 2 },                 //  array of 2 with 1 element
        { "\x81\xa1" "a", 3 },             //  map value missing
        { "\xa5" "ab", 3 },                //  truncated string
        { "\xdd\xff\xff\xff\xff", 5 },     //  array of 4 billion
        { "\xcf\x00\x00", 3 },             //  truncated uint64
        { "\x01\x02", 2 },                 //  trailing bytes
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases [0]); i++) {
        uint8_t *copy = malloc (cases [i].len);
        memcpy (copy, cases [i].bytes, cases [i].len);
        zo_span_t span = { copy, cases [i].len };
        cr_assert_null (zo_json_from_span (span), "case %zu", i);
        free (copy);
    }
    //  Random bytes and truncations of a real document never crash.
    json_t *doc = json_loads ("{\"a\":[1,2.5,\"x\",{\"b\":null}],\"c\":true}", 0, NULL);
    packer_t p;
    s_packer_init (&p);
    zo_json_pack (&p.pk, doc);
    int nulls = 0;
    for (size_t cut = 0; cut < p.buffer.size; cut++) {
        uint8_t *copy = malloc (cut + 1);
        memcpy (copy, p.buffer.data, cut);
        zo_span_t span = { copy, (uint32_t) cut };
        json_t *json = zo_json_from_span (span);
        nulls += json == NULL;
        json_decref (json);
        free (copy);
    }
    cr_assert_eq (nulls, (int) p.buffer.size - 1);     //  all but the empty span
    for (int round = 0; round < 20000; round++) {
        uint8_t junk [32];
        for (size_t i = 0; i < sizeof (junk); i++)
            junk [i] = s_rand_byte ();
        zo_span_t span = { junk, (uint32_t) (1 + round % 32) };
        json_t *json = zo_json_from_span (span);
        json_decref (json);
    }
    json_decref (doc);
    msgpack_sbuffer_destroy (&p.buffer);
}
