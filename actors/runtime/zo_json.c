/*  zo_json: JSON (jansson) <-> msgpack (see zo_json.h).

    The msgpack side reads untrusted bytes through the bounded zo_mp
    cursor and recurses at most ZO_MP_MAX_DEPTH containers deep, so
    malformed or hostile input gives NULL, never a crash or a runaway
    recursion.
*/
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "zo_json.h"

//  Depth is counted in levels, as zo_mp_skip counts it: the top value is
//  level 1 and the elements of a container at level d are at level d + 1;
//  no value may sit deeper than ZO_MP_MAX_DEPTH (an empty container adds
//  no level below itself). So whatever zo_json_pack writes, zo_mp_skip
//  and zo_json_from_mp read back, and the reverse.

static bool
s_json_depth_ok (const json_t *json, int level)
{
    if (json_is_array (json) && json_array_size (json) > 0) {
        if (level + 1 > ZO_MP_MAX_DEPTH)
            return false;
        size_t index;
        json_t *value;
        json_array_foreach (json, index, value)
            if (!s_json_depth_ok (value, level + 1))
                return false;
    }
    else
    if (json_is_object (json) && json_object_size (json) > 0) {
        if (level + 1 > ZO_MP_MAX_DEPTH)
            return false;
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *) json, key, value)
            if (!s_json_depth_ok (value, level + 1))
                return false;
    }
    return true;
}

static void
s_json_pack (msgpack_packer *pk, const json_t *json)
{
    switch (json_typeof (json)) {
        case JSON_OBJECT: {
            msgpack_pack_map (pk, (uint32_t) json_object_size (json));
            const char *key;
            size_t key_len;
            json_t *value;
            //  Keys may hold NUL bytes (from msgpack): use their length.
            json_object_keylen_foreach ((json_t *) json, key, key_len, value) {
                msgpack_pack_str_with_body (pk, key, key_len);
                s_json_pack (pk, value);
            }
            break;
        }
        case JSON_ARRAY: {
            msgpack_pack_array (pk, (uint32_t) json_array_size (json));
            size_t index;
            json_t *value;
            json_array_foreach (json, index, value)
                s_json_pack (pk, value);
            break;
        }
        case JSON_STRING:
            msgpack_pack_str_with_body (pk, json_string_value (json),
                                        json_string_length (json));
            break;
        case JSON_INTEGER:
            msgpack_pack_int64 (pk, (int64_t) json_integer_value (json));
            break;
        case JSON_REAL:
            msgpack_pack_double (pk, json_real_value (json));
            break;
        case JSON_TRUE:
            msgpack_pack_true (pk);
            break;
        case JSON_FALSE:
            msgpack_pack_false (pk);
            break;
        case JSON_NULL:
            msgpack_pack_nil (pk);
            break;
    }
}

int
zo_json_pack (msgpack_packer *pk, const json_t *json)
{
    assert (pk);
    assert (json);
    //  Checked first so that a refused value writes nothing at all.
    if (!s_json_depth_ok (json, 1))
        return -1;
    s_json_pack (pk, json);
    return 0;
}


//  --------------------------------------------------------------------------
//  msgpack -> JSON

//  A copy of [data, data + size) with every invalid UTF-8 sequence
//  replaced by U+FFFD, since jansson only holds valid UTF-8; with
//  no_nul, NUL bytes too (for object keys, which most of jansson, its
//  json_equal included, handles as C strings). Caller frees.
static char *
s_utf8_repair (const uint8_t *data, size_t size, bool no_nul, size_t *out_size)
{
    char *out = (char *) malloc (size * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    size_t i = 0;
    while (i < size) {
        uint8_t c = data [i];
        size_t need;
        uint32_t cp;
        if (c < 0x80 && !(c == 0 && no_nul)) {
            out [o++] = (char) c;
            i++;
            continue;
        }
        else if (c == 0)                 { need = 0; cp = 0; }
        else if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; }
        else                             { need = 0; cp = 0; }
        bool valid = need > 0;
        if (valid) {
            for (size_t k = 1; k <= need; k++) {
                if (i + k >= size || (data [i + k] & 0xC0) != 0x80) {
                    valid = false;
                    break;
                }
                cp = (cp << 6) | (data [i + k] & 0x3F);
            }
        }
        //  Overlong forms, surrogates and values past U+10FFFF.
        if (valid && ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000)
                   || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF))
            valid = false;
        if (valid) {
            memcpy (out + o, data + i, need + 1);
            o += need + 1;
            i += need + 1;
        }
        else {
            out [o++] = (char) 0xEF;
            out [o++] = (char) 0xBF;
            out [o++] = (char) 0xBD;
            i++;
        }
    }
    out [o] = 0;
    *out_size = o;
    return out;
}

json_t *
zo_json_string (zo_span_t span)
{
    json_t *json = json_stringn ((const char *) span.ptr, span.len);
    if (json)
        return json;
    size_t size;
    char *repaired = s_utf8_repair (span.ptr, span.len, false, &size);
    if (!repaired)
        return NULL;
    json = json_stringn (repaired, size);
    free (repaired);
    return json;
}

static json_t *
s_base64 (zo_span_t span)
{
    static const char alphabet [] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t size = ((size_t) span.len + 2) / 3 * 4;
    char *out = (char *) malloc (size + 1);
    if (!out)
        return NULL;
    const uint8_t *in = span.ptr;
    size_t o = 0;
    size_t i = 0;
    for (; i + 2 < span.len; i += 3) {
        uint32_t v = ((uint32_t) in [i] << 16) | ((uint32_t) in [i + 1] << 8) | in [i + 2];
        out [o++] = alphabet [(v >> 18) & 63];
        out [o++] = alphabet [(v >> 12) & 63];
        out [o++] = alphabet [(v >> 6) & 63];
        out [o++] = alphabet [v & 63];
    }
    if (i < span.len) {
        uint32_t v = (uint32_t) in [i] << 16;
        if (i + 1 < span.len)
            v |= (uint32_t) in [i + 1] << 8;
        out [o++] = alphabet [(v >> 18) & 63];
        out [o++] = alphabet [(v >> 12) & 63];
        out [o++] = i + 1 < span.len? alphabet [(v >> 6) & 63]: '=';
        out [o++] = '=';
    }
    out [o] = 0;
    json_t *json = json_stringn (out, o);
    free (out);
    return json;
}

static json_t *s_from_mp (zo_mp_t *cur, int depth);

//  A map key as JSON object key text: strings as they are, scalars as
//  their compact JSON text, and containers as "[array]" or "{map}". Writing
//  a container key as its JSON text would double the text at every level
//  of keys nested in keys: a 58-byte payload could then cost gigabytes.
static char *
s_key_text (zo_mp_t *cur, int depth, size_t *size)
{
    zo_mp_type_t type = zo_mp_peek (cur);
    if (type == ZO_MP_STR) {
        zo_span_t span;
        if (zo_mp_read_str (cur, &span))
            return NULL;
        return s_utf8_repair (span.ptr, span.len, true, size);
    }
    if (type == ZO_MP_ARRAY || type == ZO_MP_MAP) {
        if (zo_mp_skip (cur, NULL))
            return NULL;
        char *text = strdup (type == ZO_MP_ARRAY ? "[array]" : "{map}");
        if (text)
            *size = strlen (text);
        return text;
    }
    json_t *key = s_from_mp (cur, depth);
    if (!key)
        return NULL;
    char *text = json_dumps (key, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref (key);
    if (text)
        *size = strlen (text);      //  dumps escapes NUL as \u0000
    return text;
}

static json_t *
s_from_mp (zo_mp_t *cur, int depth)
{
    switch (zo_mp_peek (cur)) {
        case ZO_MP_NIL:
            return zo_mp_read_nil (cur)? NULL: json_null ();
        case ZO_MP_BOOL: {
            bool value;
            return zo_mp_read_bool (cur, &value)? NULL: json_boolean (value);
        }
        case ZO_MP_UINT: {
            uint64_t value;
            if (zo_mp_read_u64 (cur, &value))
                return NULL;
            //  JSON as jansson holds it has no integers past int64.
            if (value > (uint64_t) INT64_MAX)
                return json_real ((double) value);
            return json_integer ((json_int_t) value);
        }
        case ZO_MP_INT: {
            int64_t value;
            if (zo_mp_read_i64 (cur, &value))
                return NULL;
            return json_integer ((json_int_t) value);
        }
        case ZO_MP_FLOAT: {
            double value;
            if (zo_mp_read_f64 (cur, &value))
                return NULL;
            //  JSON has no NaN or infinity.
            return isfinite (value)? json_real (value): json_null ();
        }
        case ZO_MP_STR: {
            zo_span_t span;
            return zo_mp_read_str (cur, &span)? NULL: zo_json_string (span);
        }
        case ZO_MP_BIN: {
            zo_span_t span;
            return zo_mp_read_bin (cur, &span)? NULL: s_base64 (span);
        }
        case ZO_MP_EXT:
            return zo_mp_skip (cur, NULL)? NULL: json_null ();
        case ZO_MP_ARRAY: {
            uint32_t count;
            if (zo_mp_read_array (cur, &count) || (count > 0 && depth + 1 > ZO_MP_MAX_DEPTH))
                return NULL;
            json_t *array = json_array ();
            if (!array)
                return NULL;
            for (uint32_t i = 0; i < count; i++) {
                json_t *value = s_from_mp (cur, depth + 1);
                if (!value || json_array_append_new (array, value)) {
                    json_decref (array);
                    return NULL;
                }
            }
            return array;
        }
        case ZO_MP_MAP: {
            uint32_t count;
            if (zo_mp_read_map (cur, &count) || (count > 0 && depth + 1 > ZO_MP_MAX_DEPTH))
                return NULL;
            json_t *object = json_object ();
            if (!object)
                return NULL;
            for (uint32_t i = 0; i < count; i++) {
                size_t key_size = 0;
                char *key = s_key_text (cur, depth + 1, &key_size);
                json_t *value = key? s_from_mp (cur, depth + 1): NULL;
                int rc = value? json_object_setn_new (object, key, key_size, value): -1;
                free (key);
                if (rc) {
                    json_decref (object);
                    return NULL;
                }
            }
            return object;
        }
        default:
            return NULL;
    }
}

json_t *
zo_json_from_mp (zo_mp_t *cur)
{
    assert (cur);
    return s_from_mp (cur, 1);
}

json_t *
zo_json_from_span (zo_span_t span)
{
    if (span.len == 0)
        return json_null ();
    zo_mp_t cur;
    zo_mp_init (&cur, span.ptr, span.len);
    json_t *json = s_from_mp (&cur, 1);
    //  A span is one value: trailing bytes mean it is not what we think.
    if (json && zo_mp_left (&cur) > 0) {
        json_decref (json);
        return NULL;
    }
    return json;
}
