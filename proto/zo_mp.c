/*  zo_mp: a bounded, zero-copy msgpack cursor. See zo_mp.h.  */

#include "zo_mp.h"

#include <string.h>

size_t
zo_mp_left (const zo_mp_t *self)
{
    return (size_t) (self->end - self->pos);
}

static uint64_t
s_be (const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p [i];
    return v;
}

//  The type of every lead byte, so that peeking is one load. 0xc1 is
//  never used by the format.
static const uint8_t s_types [256] = {
    [0x00 ... 0x7f] = ZO_MP_UINT,  [0x80 ... 0x8f] = ZO_MP_MAP,
    [0x90 ... 0x9f] = ZO_MP_ARRAY, [0xa0 ... 0xbf] = ZO_MP_STR,
    [0xc0] = ZO_MP_NIL,            [0xc1] = ZO_MP_INVALID,
    [0xc2 ... 0xc3] = ZO_MP_BOOL,  [0xc4 ... 0xc6] = ZO_MP_BIN,
    [0xc7 ... 0xc9] = ZO_MP_EXT,   [0xca ... 0xcb] = ZO_MP_FLOAT,
    [0xcc ... 0xcf] = ZO_MP_UINT,  [0xd0 ... 0xd3] = ZO_MP_INT,
    [0xd4 ... 0xd8] = ZO_MP_EXT,   [0xd9 ... 0xdb] = ZO_MP_STR,
    [0xdc ... 0xdd] = ZO_MP_ARRAY, [0xde ... 0xdf] = ZO_MP_MAP,
    [0xe0 ... 0xff] = ZO_MP_INT,
};

void
zo_mp_init (zo_mp_t *self, const void *data, size_t size)
{
    self->pos = (const uint8_t *) data;
    self->end = self->pos + size;
}

zo_mp_type_t
zo_mp_peek (const zo_mp_t *self)
{
    if (self->pos >= self->end)
        return ZO_MP_INVALID;
    return (zo_mp_type_t) s_types [*self->pos];
}

int
zo_mp_read_nil (zo_mp_t *self)
{
    if (self->pos >= self->end || *self->pos != 0xc0)
        return -1;
    self->pos++;
    return 0;
}

int
zo_mp_read_bool (zo_mp_t *self, bool *value)
{
    if (self->pos >= self->end || (*self->pos != 0xc2 && *self->pos != 0xc3))
        return -1;
    *value = *self->pos == 0xc3;
    self->pos++;
    return 0;
}

//  Reads any integer as a sign flag and magnitude-ish pair: *neg is set
//  when the encoded value is negative, *u holds it as uint64 (two's
//  complement for negatives).
static int
s_read_int (zo_mp_t *self, bool *neg, uint64_t *u)
{
    size_t left = zo_mp_left (self);
    if (left < 1)
        return -1;
    uint8_t b = *self->pos;
    int n = 0;
    bool is_signed = false;
    if (b <= 0x7f) {
        *neg = false;
        *u = b;
        self->pos++;
        return 0;
    }
    if (b >= 0xe0) {
        *neg = true;
        *u = (uint64_t) (int64_t) (int8_t) b;
        self->pos++;
        return 0;
    }
    switch (b) {
        case 0xcc: n = 1; break;
        case 0xcd: n = 2; break;
        case 0xce: n = 4; break;
        case 0xcf: n = 8; break;
        case 0xd0: n = 1; is_signed = true; break;
        case 0xd1: n = 2; is_signed = true; break;
        case 0xd2: n = 4; is_signed = true; break;
        case 0xd3: n = 8; is_signed = true; break;
        default: return -1;
    }
    if (left < (size_t) n + 1)
        return -1;
    uint64_t v = s_be (self->pos + 1, n);
    if (is_signed) {
        int64_t s;
        if (n == 1) s = (int8_t) v;
        else if (n == 2) s = (int16_t) v;
        else if (n == 4) s = (int32_t) v;
        else s = (int64_t) v;
        *neg = s < 0;
        *u = (uint64_t) s;
    }
    else {
        *neg = false;
        *u = v;
    }
    self->pos += n + 1;
    return 0;
}

int
zo_mp_read_u64 (zo_mp_t *self, uint64_t *value)
{
    const uint8_t *start = self->pos;
    bool neg;
    uint64_t u;
    if (s_read_int (self, &neg, &u) || neg) {
        self->pos = start;
        return -1;
    }
    *value = u;
    return 0;
}

int
zo_mp_read_i64 (zo_mp_t *self, int64_t *value)
{
    const uint8_t *start = self->pos;
    bool neg;
    uint64_t u;
    if (s_read_int (self, &neg, &u) || (!neg && u > INT64_MAX)) {
        self->pos = start;
        return -1;
    }
    *value = (int64_t) u;
    return 0;
}

int
zo_mp_read_f64 (zo_mp_t *self, double *value)
{
    size_t left = zo_mp_left (self);
    if (left >= 5 && *self->pos == 0xca) {
        uint32_t bits = (uint32_t) s_be (self->pos + 1, 4);
        float f;
        memcpy (&f, &bits, 4);
        *value = f;
        self->pos += 5;
        return 0;
    }
    if (left >= 9 && *self->pos == 0xcb) {
        uint64_t bits = s_be (self->pos + 1, 8);
        memcpy (value, &bits, 8);
        self->pos += 9;
        return 0;
    }
    const uint8_t *start = self->pos;
    bool neg;
    uint64_t u;
    if (s_read_int (self, &neg, &u)) {
        self->pos = start;
        return -1;
    }
    *value = neg ? (double) (int64_t) u : (double) u;
    return 0;
}

//  Reads a length-prefixed header: short form in the low bits of the first
//  byte (mask), or 1/2/4-byte lengths after one of three lead bytes.
static int
s_read_len (zo_mp_t *self, uint8_t fix, uint8_t fixmask, int l8, int l16, int l32,
            uint32_t *len)
{
    size_t left = zo_mp_left (self);
    if (left < 1)
        return -1;
    uint8_t b = *self->pos;
    int n;
    if (fixmask && (b & (uint8_t) ~fixmask) == fix) {
        *len = b & fixmask;
        self->pos++;
        return 0;
    }
    if (l8 >= 0 && b == l8) n = 1;
    else if (b == l16) n = 2;
    else if (b == l32) n = 4;
    else return -1;
    if (left < (size_t) n + 1)
        return -1;
    *len = (uint32_t) s_be (self->pos + 1, n);
    self->pos += n + 1;
    return 0;
}

static int
s_read_bytes (zo_mp_t *self, uint8_t fix, uint8_t fixmask, int l8, int l16, int l32,
              zo_span_t *value)
{
    const uint8_t *start = self->pos;
    uint32_t len;
    if (s_read_len (self, fix, fixmask, l8, l16, l32, &len) || zo_mp_left (self) < len) {
        self->pos = start;
        return -1;
    }
    value->ptr = self->pos;
    value->len = len;
    self->pos += len;
    return 0;
}

int
zo_mp_read_str (zo_mp_t *self, zo_span_t *value)
{
    //  Short strings (keys, ids, types) are nearly all fixstr.
    if (self->pos < self->end && (*self->pos & 0xe0) == 0xa0) {
        uint32_t len = *self->pos & 0x1f;
        if ((size_t) (self->end - self->pos) <= len)
            return -1;
        value->ptr = self->pos + 1;
        value->len = len;
        self->pos += len + 1;
        return 0;
    }
    return s_read_bytes (self, 0xa0, 0x1f, 0xd9, 0xda, 0xdb, value);
}

int
zo_mp_read_bin (zo_mp_t *self, zo_span_t *value)
{
    return s_read_bytes (self, 0, 0, 0xc4, 0xc5, 0xc6, value);
}

int
zo_mp_read_array (zo_mp_t *self, uint32_t *count)
{
    const uint8_t *start = self->pos;
    if (s_read_len (self, 0x90, 0x0f, -1, 0xdc, 0xdd, count) || zo_mp_left (self) < *count) {
        self->pos = start;
        return -1;
    }
    return 0;
}

int
zo_mp_read_map (zo_mp_t *self, uint32_t *count)
{
    const uint8_t *start = self->pos;
    if (s_read_len (self, 0x80, 0x0f, -1, 0xde, 0xdf, count)
    ||  zo_mp_left (self) / 2 < *count) {
        self->pos = start;
        return -1;
    }
    return 0;
}

//  Skips one value. Containers are walked with an explicit stack of
//  remaining-element counts, so depth costs no C stack.
int
zo_mp_skip (zo_mp_t *self, zo_span_t *raw)
{
    const uint8_t *start = self->pos;
    uint64_t pending [ZO_MP_MAX_DEPTH + 1];
    int depth = 0;
    pending [0] = 1;
    while (true) {
        while (depth >= 0 && pending [depth] == 0)
            depth--;
        if (depth < 0)
            break;
        pending [depth]--;
        zo_mp_type_t type = zo_mp_peek (self);
        zo_span_t span;
        uint32_t count;
        bool b;
        uint64_t u;
        double d;
        int rc = 0;
        switch (type) {
            case ZO_MP_NIL:   rc = zo_mp_read_nil (self); break;
            case ZO_MP_BOOL:  rc = zo_mp_read_bool (self, &b); break;
            case ZO_MP_UINT:
            case ZO_MP_INT: {
                bool neg;
                rc = s_read_int (self, &neg, &u);
                break;
            }
            case ZO_MP_FLOAT: rc = zo_mp_read_f64 (self, &d); break;
            case ZO_MP_STR:   rc = zo_mp_read_str (self, &span); break;
            case ZO_MP_BIN:   rc = zo_mp_read_bin (self, &span); break;
            case ZO_MP_EXT: {
                //  fixext 1/2/4/8/16 (d4..d8) or ext 8/16/32 (c7..c9):
                //  a type byte plus data.
                uint8_t lead = *self->pos;
                size_t left = zo_mp_left (self);
                uint64_t len;
                size_t hdr;
                if (lead >= 0xd4 && lead <= 0xd8) {
                    len = 1u << (lead - 0xd4);
                    hdr = 2;
                }
                else {
                    int n = lead == 0xc7 ? 1 : lead == 0xc8 ? 2 : 4;
                    if (left < (size_t) n + 2) { rc = -1; break; }
                    len = s_be (self->pos + 1, n);
                    hdr = (size_t) n + 2;
                }
                if (left < hdr || left - hdr < len) { rc = -1; break; }
                self->pos += hdr + len;
                break;
            }
            case ZO_MP_ARRAY:
            case ZO_MP_MAP:
                rc = type == ZO_MP_ARRAY ? zo_mp_read_array (self, &count)
                                         : zo_mp_read_map (self, &count);
                if (rc == 0 && count > 0) {
                    if (depth + 1 > ZO_MP_MAX_DEPTH - 1) { rc = -1; break; }
                    pending [++depth] = type == ZO_MP_MAP ? 2 * (uint64_t) count : count;
                }
                break;
            default:
                rc = -1;
        }
        if (rc) {
            self->pos = start;
            return -1;
        }
    }
    if (raw) {
        raw->ptr = start;
        raw->len = (uint32_t) (self->pos - start);
    }
    return 0;
}

bool
zo_span_eq (zo_span_t span, const char *str)
{
    size_t len = strlen (str);
    return span.len == len && (len == 0 || memcmp (span.ptr, str, len) == 0);
}
