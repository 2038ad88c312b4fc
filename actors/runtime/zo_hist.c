/*  zo_hist: a log-linear histogram (see zo_hist.h for the bucket formula,
    which is part of the wire protocol).
*/
#include <assert.h>
#include <string.h>

#include "zo_hist.h"

#define S_SUB_COUNT (1u << ZO_HIST_SUB_BITS)      /* 32 */

static uint64_t
s_sat_add (uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b? UINT64_MAX: a + b;
}

static uint64_t
s_sat_mul (uint64_t a, uint64_t b)
{
    if (a == 0 || b == 0)
        return 0;
    return a > UINT64_MAX / b? UINT64_MAX: a * b;
}

void
zo_hist_reset (zo_hist_t *self)
{
    assert (self);
    memset (self, 0, sizeof (*self));
    self->min = UINT64_MAX;
}

unsigned
zo_hist_index (uint64_t value)
{
    if (value < S_SUB_COUNT)
        return (unsigned) value;
    unsigned e = 63u - (unsigned) __builtin_clzll (value);
    unsigned shift = e - ZO_HIST_SUB_BITS;
    return S_SUB_COUNT + shift * S_SUB_COUNT
         + (unsigned) ((value >> shift) - S_SUB_COUNT);
}

uint64_t
zo_hist_lower (unsigned index)
{
    assert (index < ZO_HIST_BUCKETS);
    if (index < S_SUB_COUNT)
        return index;
    unsigned shift = (index - S_SUB_COUNT) / S_SUB_COUNT;
    uint64_t sub = (index - S_SUB_COUNT) % S_SUB_COUNT;
    return (S_SUB_COUNT + sub) << shift;
}

uint64_t
zo_hist_upper (unsigned index)
{
    assert (index < ZO_HIST_BUCKETS);
    if (index < S_SUB_COUNT)
        return index;
    unsigned shift = (index - S_SUB_COUNT) / S_SUB_COUNT;
    //  Written as lower + (width - 1) so the last bucket ends at UINT64_MAX
    //  without overflowing.
    return zo_hist_lower (index) + ((UINT64_C (1) << shift) - 1);
}

void
zo_hist_record_n (zo_hist_t *self, uint64_t value, uint64_t n)
{
    assert (self);
    if (n == 0)
        return;
    self->count += n;
    self->sum = s_sat_add (self->sum, s_sat_mul (value, n));
    if (value < self->min)
        self->min = value;
    if (value > self->max)
        self->max = value;
    self->buckets [zo_hist_index (value)] += n;
}

void
zo_hist_record (zo_hist_t *self, uint64_t value)
{
    zo_hist_record_n (self, value, 1);
}

void
zo_hist_merge (zo_hist_t *self, const zo_hist_t *from)
{
    assert (self);
    assert (from);
    if (from->count == 0)
        return;
    self->count += from->count;
    self->sum = s_sat_add (self->sum, from->sum);
    if (from->min < self->min)
        self->min = from->min;
    if (from->max > self->max)
        self->max = from->max;
    for (unsigned i = 0; i < ZO_HIST_BUCKETS; i++)
        self->buckets [i] += from->buckets [i];
}

uint64_t
zo_hist_percentile (const zo_hist_t *self, double p)
{
    assert (self);
    if (self->count == 0)
        return 0;
    if (!(p > 0))               //  also NaN
        return self->min;
    if (p >= 100)
        return self->max;
    //  The rank of the value we want, 1-based: ceil (p% of count).
    double exact = p / 100.0 * (double) self->count;
    uint64_t rank = (uint64_t) exact;
    if ((double) rank < exact)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < ZO_HIST_BUCKETS; i++) {
        seen += self->buckets [i];
        if (seen >= rank) {
            uint64_t value = zo_hist_upper (i);
            if (value < self->min)
                value = self->min;
            if (value > self->max)
                value = self->max;
            return value;
        }
    }
    //  Counts that do not add up (a merged foreign histogram): the top.
    return self->max;
}

void
zo_hist_pack (const zo_hist_t *self, msgpack_packer *pk)
{
    assert (self);
    assert (pk);
    unsigned used = 0;
    for (unsigned i = 0; i < ZO_HIST_BUCKETS; i++)
        if (self->buckets [i])
            used++;
    msgpack_pack_map (pk, 5);
    msgpack_pack_str_with_body (pk, "count", 5);
    msgpack_pack_uint64 (pk, self->count);
    msgpack_pack_str_with_body (pk, "sum", 3);
    msgpack_pack_uint64 (pk, self->sum);
    msgpack_pack_str_with_body (pk, "min", 3);
    msgpack_pack_uint64 (pk, self->min);
    msgpack_pack_str_with_body (pk, "max", 3);
    msgpack_pack_uint64 (pk, self->max);
    msgpack_pack_str_with_body (pk, "buckets", 7);
    msgpack_pack_array (pk, used);
    for (unsigned i = 0; i < ZO_HIST_BUCKETS; i++)
        if (self->buckets [i]) {
            msgpack_pack_array (pk, 2);
            msgpack_pack_uint32 (pk, i);
            msgpack_pack_uint64 (pk, self->buckets [i]);
        }
}

static int
s_unpack_buckets (zo_hist_t *self, zo_mp_t *cur)
{
    uint32_t n;
    if (zo_mp_read_array (cur, &n))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t pair;
        uint64_t index, count;
        if (zo_mp_read_array (cur, &pair) || pair != 2
        ||  zo_mp_read_u64 (cur, &index) || zo_mp_read_u64 (cur, &count)
        ||  index >= ZO_HIST_BUCKETS)
            return -1;
        self->buckets [index] += count;
    }
    return 0;
}

int
zo_hist_unpack (zo_hist_t *self, zo_mp_t *cur)
{
    assert (self);
    assert (cur);
    uint32_t n;
    if (zo_mp_read_map (cur, &n))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        zo_span_t key;
        uint64_t value;
        if (zo_mp_read_str (cur, &key))
            return -1;
        if (zo_span_eq (key, "buckets")) {
            if (s_unpack_buckets (self, cur))
                return -1;
        }
        else
        if (zo_span_eq (key, "count")) {
            if (zo_mp_read_u64 (cur, &value))
                return -1;
            self->count += value;
        }
        else
        if (zo_span_eq (key, "sum")) {
            if (zo_mp_read_u64 (cur, &value))
                return -1;
            self->sum = s_sat_add (self->sum, value);
        }
        else
        if (zo_span_eq (key, "min")) {
            if (zo_mp_read_u64 (cur, &value))
                return -1;
            if (value < self->min)
                self->min = value;
        }
        else
        if (zo_span_eq (key, "max")) {
            if (zo_mp_read_u64 (cur, &value))
                return -1;
            if (value > self->max)
                self->max = value;
        }
        else
        if (zo_mp_skip (cur, NULL))     //  a field from a newer peer
            return -1;
    }
    return 0;
}
