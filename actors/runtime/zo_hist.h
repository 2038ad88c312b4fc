/*  zo_hist: a log-linear histogram of unsigned 64-bit values (latencies in
    nanoseconds), with bounded relative error, as HdrHistogram does.

    Values 0..31 have a bucket each; above that every power of two is split
    into 32 equal sub-buckets, so a bucket's width is at most 1/32 of its
    lower bound (relative error <= 3.2 %). Bucket index of v:
        v < 32:  v
        else:    e = floor(log2 v); 32 + (e - 5) * 32 + ((v >> (e - 5)) - 32)
    This formula is part of the wire protocol (STATS histograms carry bucket
    indexes), so histograms from different actors merge exactly by adding
    counts bucket by bucket.
*/
#ifndef ZO_HIST_H_INCLUDED
#define ZO_HIST_H_INCLUDED

#include <msgpack.h>
#include <stdint.h>

#include "zo_mp.h"

#define ZO_HIST_SUB_BITS 5
#define ZO_HIST_BUCKETS  1920

typedef struct {
    uint64_t count;
    uint64_t sum;             /* saturates at UINT64_MAX */
    uint64_t min;             /* UINT64_MAX when empty */
    uint64_t max;
    uint64_t buckets [ZO_HIST_BUCKETS];
} zo_hist_t;

void zo_hist_reset (zo_hist_t *self);
void zo_hist_record (zo_hist_t *self, uint64_t value);
void zo_hist_record_n (zo_hist_t *self, uint64_t value, uint64_t n);
/*  Adds every count of from into self.  */
void zo_hist_merge (zo_hist_t *self, const zo_hist_t *from);
/*  The value at percentile p (0..100): the upper bound of the bucket that
    holds it, clamped to [min, max]. 0 when empty.  */
uint64_t zo_hist_percentile (const zo_hist_t *self, double p);

unsigned zo_hist_index (uint64_t value);
/*  Smallest and largest value that falls in bucket index.  */
uint64_t zo_hist_lower (unsigned index);
uint64_t zo_hist_upper (unsigned index);

/*  Wire form: a map {"count": u, "sum": u, "min": u, "max": u,
    "buckets": [[index, count], ...]} listing only non-empty buckets in
    ascending index order.  */
void zo_hist_pack (const zo_hist_t *self, msgpack_packer *pk);
/*  Reads that form and ADDS it into self. -1 on malformed input (self may
    then hold part of it).  */
int zo_hist_unpack (zo_hist_t *self, zo_mp_t *cur);

#endif
