/*  zo_heap: an indexed binary min-heap of slot numbers, ordered by a key
    (a deadline) and then a tie-break (creation order), for the tables
    that keep deadlines: the loop's timers (zo_timers) and zo_rpc's
    pending requests.

    The caller owns the slots (0..cap-1, an array of its own); the heap
    holds their numbers with their keys, and where each one is, so that a
    slot is pushed, removed or given a new key in O(log n) and the
    earliest is read in O(1). Keys live in the heap's own array, next to
    one another, so a sift touches few cache lines.
*/
#ifndef ZO_HEAP_H_INCLUDED
#define ZO_HEAP_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint64_t key, tie;
    uint32_t slot;
} zo_heap_item_t;

typedef struct {
    zo_heap_item_t *items;      /* size of them in heap order */
    uint32_t *pos;              /* slot -> its place in items, while in the heap */
    uint32_t size, cap;
} zo_heap_t;

/*  An empty heap for slots 0..cap-1 (cap may be 0: grow later). 0, or -1
    when out of memory (the heap is then empty and fini is harmless).  */
int zo_heap_init (zo_heap_t *self, uint32_t cap);
/*  Room for slots up to cap-1 (no-op when there is). 0, or -1 when out of
    memory (the heap is unchanged).  */
int zo_heap_grow (zo_heap_t *self, uint32_t cap);
void zo_heap_fini (zo_heap_t *self);

/*  slot (< cap, not in the heap) goes in with its key and tie.  */
void zo_heap_push (zo_heap_t *self, uint32_t slot, uint64_t key, uint64_t tie);
/*  slot (in the heap) comes out.  */
void zo_heap_remove (zo_heap_t *self, uint32_t slot);
/*  slot (in the heap) gets a new key and tie.  */
void zo_heap_rekey (zo_heap_t *self, uint32_t slot, uint64_t key, uint64_t tie);

/*  The earliest item; only when size > 0.  */
static inline const zo_heap_item_t *
zo_heap_top (const zo_heap_t *self)
{
    return &self->items [0];
}

#endif
