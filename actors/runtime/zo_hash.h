/*  zo_hash: the one hash of bytes the hash tables share (the broker's
    event table, its dedupe window, the cache's memory level): FNV-1a,
    64-bit, with a final mix so that the low bits (a slot index) and the
    high bits (a second hash) depend on every byte. Never 0, so 0 can mean
    "empty". Keys are short; this is not a bottleneck.  */
#ifndef ZO_HASH_H_INCLUDED
#define ZO_HASH_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

static inline uint64_t
zo_hash (const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *) data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p [i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h ? h : 1;
}

#endif
