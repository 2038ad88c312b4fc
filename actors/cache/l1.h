/*  l1: the cache's first level, in memory: a byte budget (keys, values and
    each entry's overhead all counted), a TTL per entry, O(1) operations,
    and one of two policies:

    ZO_L1_TINYLFU  (the default) a small LRU window in front of a
                   segmented LRU (probation, protected), with admission to
                   the main part decided by frequency: an entry leaving the
                   window gets in only if it has been asked for more often
                   than the entry it would push out, as a count-min sketch
                   of recent requests (4 rows, counters to 15, halved
                   periodically so the past fades) estimates. One-off keys
                   (a scan) pass through the window without pushing out
                   the popular ones. The idea is W-TinyLFU (Einziger,
                   Friedman, Manes: "TinyLFU: A Highly Efficient Cache
                   Admission Policy"), as Caffeine popularised it.
    ZO_L1_LRU      plain LRU, kept to compare against.

    Keys and values are copied in. zo_l1_set with a NULL value charges its
    size without storing bytes (the simulator replays traces that way).
    Single-threaded, like everything on an actor's loop.
*/
#ifndef ZO_L1_H_INCLUDED
#define ZO_L1_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _zo_l1_t zo_l1_t;

typedef enum { ZO_L1_TINYLFU = 0, ZO_L1_LRU } zo_l1_policy_t;

/*  Bytes each entry costs beside its key and value (its bookkeeping).  */
#define ZO_L1_OVERHEAD 64

typedef struct {
    uint64_t hits, misses, sets, evictions, expired, rejected;
    size_t bytes, entries, budget;
} zo_l1_stats_t;

/*  budget in bytes (at least 4 KiB). NULL when out of memory.  */
zo_l1_t *zo_l1_new (size_t budget, zo_l1_policy_t policy);
void zo_l1_destroy (zo_l1_t **self_p);

/*  A hit: 0 with the value (borrowed until the next call that changes the
    cache; NULL / its charged size for a charge-only entry) and its expiry
    (0: never); any out-parameter may be NULL. An absent or expired key:
    -1. now_ns is the caller's clock.  */
int zo_l1_get (zo_l1_t *self, const void *key, size_t key_len, uint64_t now_ns,
               const void **value, size_t *value_len, uint64_t *expire_ns);
/*  Stores key -> value (replacing any), expiring at expire_ns (0: never).
    0; -1 when the entry alone is over a quarter of the budget (refused,
    counted) or memory ran out. A new entry may push others out.  */
int zo_l1_set (zo_l1_t *self, const void *key, size_t key_len, const void *value,
               size_t value_len, uint64_t expire_ns);
/*  0 if the key was there, -1 if not.  */
int zo_l1_del (zo_l1_t *self, const void *key, size_t key_len);
/*  Removes every key matching a glob (fnmatch(3) without flags: `*`, `?`,
    `[...]`, `\` escapes, as Redis's MATCH) and returns how many. O(n).  */
size_t zo_l1_invalidate (zo_l1_t *self, const char *pattern);
/*  Removes everything. Returns how many entries went.  */
size_t zo_l1_clear (zo_l1_t *self);
/*  Changes the budget (at least 4 KiB), evicting by the policy down to it
    at once: how memory pressure sheds.  */
void zo_l1_set_budget (zo_l1_t *self, size_t budget);

zo_l1_stats_t zo_l1_stats (const zo_l1_t *self);
const char *zo_l1_policy_name (zo_l1_policy_t policy);
/*  "tinylfu" or "lru" -> the policy; -1 for another name.  */
int zo_l1_policy_parse (const char *name);

#endif
