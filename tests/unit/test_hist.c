/*  Tests of actors/runtime/zo_hist.c: the bucket formula (wire protocol),
    percentiles against an exact computation, merge, pack/unpack.  */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "zo_hist.h"

//  A small deterministic generator (xorshift64*), so failures replay.
static uint64_t rng_state = 88172645463325252ull;

static uint64_t
s_rand (void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

//  Values spread over every magnitude.
static uint64_t
s_rand_value (void)
{
    unsigned bits = (unsigned) (s_rand () % 65);
    uint64_t value = s_rand ();
    return bits == 64? value: value & ((UINT64_C (1) << bits) - 1);
}

static zo_hist_t *
s_hist_new (void)
{
    zo_hist_t *hist = malloc (sizeof (zo_hist_t));
    cr_assert_not_null (hist);
    zo_hist_reset (hist);
    return hist;
}

Test (hist, formula_matches_header)
{
    for (uint64_t v = 0; v < 32; v++)
        cr_assert_eq (zo_hist_index (v), v);
    cr_assert_eq (zo_hist_index (32), 32);
    cr_assert_eq (zo_hist_index (63), 63);
    cr_assert_eq (zo_hist_index (64), 64);      //  e = 6: 32 + 32 + 0
    cr_assert_eq (zo_hist_index (65), 64);
    cr_assert_eq (zo_hist_index (66), 65);
    cr_assert_eq (zo_hist_index (127), 95);
    cr_assert_eq (zo_hist_index (128), 96);
    cr_assert_eq (zo_hist_index (1000), 32 + 4 * 32 + ((1000 >> 4) - 32));
    cr_assert_eq (zo_hist_index (UINT64_MAX), ZO_HIST_BUCKETS - 1);
    cr_assert_eq (zo_hist_lower (0), 0);
    cr_assert_eq (zo_hist_upper (31), 31);
    cr_assert_eq (zo_hist_lower (64), 64);
    cr_assert_eq (zo_hist_upper (64), 65);
    cr_assert_eq (zo_hist_upper (ZO_HIST_BUCKETS - 1), UINT64_MAX);
    cr_assert_eq (zo_hist_lower (ZO_HIST_BUCKETS - 1), UINT64_C (63) << 58);
}

Test (hist, buckets_tile_the_whole_range)
{
    for (unsigned i = 0; i < ZO_HIST_BUCKETS; i++) {
        uint64_t lower = zo_hist_lower (i);
        uint64_t upper = zo_hist_upper (i);
        cr_assert_leq (lower, upper);
        cr_assert_eq (zo_hist_index (lower), i);
        cr_assert_eq (zo_hist_index (upper), i);
        if (i + 1 < ZO_HIST_BUCKETS)
            cr_assert_eq (zo_hist_lower (i + 1), upper + 1, "gap after bucket %u", i);
        //  Width at most lower / 32.
        if (lower >= 32)
            cr_assert_leq (upper - lower + 1, lower / 32);
    }
}

Test (hist, index_round_trip_and_relative_error)
{
    for (int i = 0; i < 200000; i++) {
        uint64_t v = s_rand_value ();
        unsigned index = zo_hist_index (v);
        cr_assert_lt (index, ZO_HIST_BUCKETS);
        uint64_t lower = zo_hist_lower (index);
        uint64_t upper = zo_hist_upper (index);
        cr_assert (lower <= v && v <= upper, "%llu not in [%llu, %llu]",
                   (unsigned long long) v, (unsigned long long) lower,
                   (unsigned long long) upper);
        if (v > 0)
            cr_assert_leq ((double) (upper - v) / (double) v, 1.0 / 32 + 1e-12);
    }
}

static int
s_cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y? -1: x > y;
}

Test (hist, percentile_against_exact)
{
    enum { N = 10007 };
    static uint64_t values [N];
    zo_hist_t *hist = s_hist_new ();
    cr_assert_eq (zo_hist_percentile (hist, 50), 0);
    uint64_t sum = 0;
    for (int i = 0; i < N; i++) {
        //  Latency-like: mostly 1 us .. 10 ms.
        values [i] = 1000 + s_rand () % 10000000;
        sum += values [i];
        zo_hist_record (hist, values [i]);
    }
    qsort (values, N, sizeof (values [0]), s_cmp_u64);
    cr_assert_eq (hist->count, N);
    cr_assert_eq (hist->sum, sum);
    cr_assert_eq (hist->min, values [0]);
    cr_assert_eq (hist->max, values [N - 1]);
    double ps [] = { 0.001, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99 };
    for (size_t i = 0; i < sizeof (ps) / sizeof (ps [0]); i++) {
        double exact_rank = ps [i] / 100 * N;
        size_t rank = (size_t) exact_rank;
        if (rank < exact_rank)
            rank++;
        if (rank == 0)
            rank = 1;
        uint64_t exact = values [rank - 1];
        uint64_t got = zo_hist_percentile (hist, ps [i]);
        cr_assert_eq (zo_hist_index (got), zo_hist_index (exact), "p%g", ps [i]);
        cr_assert_geq (got, exact);
        cr_assert_leq ((double) (got - exact) / (double) exact, 1.0 / 32);
    }
    cr_assert_eq (zo_hist_percentile (hist, 0), values [0]);
    cr_assert_eq (zo_hist_percentile (hist, 100), values [N - 1]);
    free (hist);
}

Test (hist, single_value_percentiles_clamp)
{
    zo_hist_t *hist = s_hist_new ();
    zo_hist_record (hist, 1000);
    cr_assert_eq (zo_hist_percentile (hist, 50), 1000);
    cr_assert_eq (zo_hist_percentile (hist, 99.9), 1000);
    zo_hist_record_n (hist, 5, 3);
    cr_assert_eq (hist->count, 4);
    cr_assert_eq (hist->sum, 1015);
    cr_assert_eq (zo_hist_percentile (hist, 50), 5);
    zo_hist_record_n (hist, 7, 0);      //  nothing
    cr_assert_eq (hist->count, 4);
    //  The sum saturates instead of wrapping.
    zo_hist_record_n (hist, UINT64_MAX / 2, 4);
    cr_assert_eq (hist->sum, UINT64_MAX);
    free (hist);
}

Test (hist, merge_equals_recording_all)
{
    zo_hist_t *a = s_hist_new (), *b = s_hist_new (), *all = s_hist_new ();
    for (int i = 0; i < 50000; i++) {
        uint64_t v = s_rand_value () >> 20;    //  keep the sum from saturating
        zo_hist_record (i % 3? a: b, v);
        zo_hist_record (all, v);
    }
    zo_hist_merge (a, b);
    cr_assert_lt (all->sum, UINT64_MAX);
    cr_assert_eq (memcmp (a, all, sizeof (zo_hist_t)), 0);
    zo_hist_t *empty = s_hist_new ();
    zo_hist_merge (a, empty);
    cr_assert_eq (memcmp (a, all, sizeof (zo_hist_t)), 0);
    zo_hist_merge (empty, all);
    cr_assert_eq (memcmp (empty, all, sizeof (zo_hist_t)), 0);
    free (a);
    free (b);
    free (all);
    free (empty);
}

Test (hist, pack_unpack_round_trip)
{
    zo_hist_t *hist = s_hist_new ();
    for (int i = 0; i < 1000; i++)
        zo_hist_record (hist, s_rand () % 100000);
    zo_hist_record (hist, UINT64_MAX);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    zo_hist_pack (hist, &pk);

    zo_hist_t *copy = s_hist_new ();
    zo_mp_t cur;
    zo_mp_init (&cur, buffer.data, buffer.size);
    cr_assert_eq (zo_hist_unpack (copy, &cur), 0);
    cr_assert_eq (zo_mp_left (&cur), 0);
    cr_assert_eq (memcmp (copy, hist, sizeof (zo_hist_t)), 0);
    //  Unpacking adds.
    zo_mp_init (&cur, buffer.data, buffer.size);
    cr_assert_eq (zo_hist_unpack (copy, &cur), 0);
    cr_assert_eq (copy->count, 2 * hist->count);
    cr_assert_eq (copy->sum, UINT64_MAX);
    //  An empty histogram round-trips as empty.
    zo_hist_t *empty = s_hist_new (), *empty_copy = s_hist_new ();
    msgpack_sbuffer_clear (&buffer);
    zo_hist_pack (empty, &pk);
    zo_mp_init (&cur, buffer.data, buffer.size);
    cr_assert_eq (zo_hist_unpack (empty_copy, &cur), 0);
    cr_assert_eq (memcmp (empty, empty_copy, sizeof (zo_hist_t)), 0);
    msgpack_sbuffer_destroy (&buffer);
    free (hist);
    free (copy);
    free (empty);
    free (empty_copy);
}

//  Packs a map with a buckets array holding one pair [index, count].
static void
s_pack_bucket (msgpack_packer *pk, uint64_t index, int pair_size)
{
    msgpack_pack_map (pk, 2);
    msgpack_pack_str_with_body (pk, "extra", 5);
    msgpack_pack_array (pk, 2);
    msgpack_pack_nil (pk);
    msgpack_pack_true (pk);
    msgpack_pack_str_with_body (pk, "buckets", 7);
    msgpack_pack_array (pk, 1);
    msgpack_pack_array (pk, (size_t) pair_size);
    msgpack_pack_uint64 (pk, index);
    if (pair_size > 1)
        msgpack_pack_uint64 (pk, 5);
}

Test (hist, malformed_unpack)
{
    zo_hist_t *hist = s_hist_new ();
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    zo_mp_t cur;

    //  Unknown keys are skipped; a good bucket is taken.
    s_pack_bucket (&pk, 7, 2);
    zo_mp_init (&cur, buffer.data, buffer.size);
    cr_assert_eq (zo_hist_unpack (hist, &cur), 0);
    cr_assert_eq (hist->buckets [7], 5);

    msgpack_sbuffer_clear (&buffer);
    s_pack_bucket (&pk, ZO_HIST_BUCKETS, 2);       //  index out of range
    zo_mp_init (&cur, buffer.data, buffer.size);
    cr_assert_eq (zo_hist_unpack (hist, &cur), -1);

    msgpack_sbuffer_clear (&buffer);
    s_pack_bucket (&pk, 3, 1);                     //  pair of one
    zo_mp_init (&cur, buffer.data, buffer.size);
    cr_assert_eq (zo_hist_unpack (hist, &cur), -1);

    msgpack_sbuffer_clear (&buffer);
    msgpack_pack_array (&pk, 0);                   //  not a map
    zo_mp_init (&cur, buffer.data, buffer.size);
    cr_assert_eq (zo_hist_unpack (hist, &cur), -1);

    msgpack_sbuffer_clear (&buffer);
    msgpack_pack_map (&pk, 1);                     //  count is a string
    msgpack_pack_str_with_body (&pk, "count", 5);
    msgpack_pack_str_with_body (&pk, "x", 1);
    zo_mp_init (&cur, buffer.data, buffer.size);
    cr_assert_eq (zo_hist_unpack (hist, &cur), -1);

    msgpack_sbuffer_clear (&buffer);
    msgpack_pack_map (&pk, 1);                     //  negative count
    msgpack_pack_str_with_body (&pk, "count", 5);
    msgpack_pack_int64 (&pk, -3);
    zo_mp_init (&cur, buffer.data, buffer.size);
    cr_assert_eq (zo_hist_unpack (hist, &cur), -1);

    //  Every truncation of a good encoding fails cleanly.
    zo_hist_t *full = s_hist_new ();
    for (int i = 0; i < 100; i++)
        zo_hist_record (full, (uint64_t) i * 977);
    msgpack_sbuffer_clear (&buffer);
    zo_hist_pack (full, &pk);
    for (size_t cut = 0; cut < buffer.size; cut++) {
        void *copy = malloc (cut? cut: 1);
        memcpy (copy, buffer.data, cut);
        zo_mp_init (&cur, copy, cut);
        cr_assert_eq (zo_hist_unpack (hist, &cur), -1, "cut at %zu", cut);
        free (copy);
    }
    //  Random garbage never crashes and never writes past the buckets.
    for (int round = 0; round < 2000; round++) {
        uint8_t junk [64];
        for (size_t i = 0; i < sizeof (junk); i++)
            junk [i] = (uint8_t) s_rand ();
        junk [0] = 0x85;
        zo_mp_init (&cur, junk, sizeof (junk));
        zo_hist_unpack (hist, &cur);
    }
    cr_assert_leq (zo_mp_left (&cur), 64);
    msgpack_sbuffer_destroy (&buffer);
    free (hist);
    free (full);
}
