/*  dedupe: recently accepted ids, with expiry. See dedupe.h.  */
#include "dedupe.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define S_MIN 1024

typedef struct {
    uint64_t time_ms;
    uint64_t hash;
} s_entry_t;

struct _zo_dedupe_t {
    uint64_t window_ms;
    size_t max;
    //  FIFO ring of entries in arrival order.
    s_entry_t *ring;
    size_t ring_cap, ring_head, ring_count;
    //  Open-addressing set of hashes (0 = empty), linear probing,
    //  backward-shift deletion.
    uint64_t *set;
    size_t set_mask;
};

zo_dedupe_t *
zo_dedupe_new (uint64_t window_ms, size_t max)
{
    assert (max >= 1);
    zo_dedupe_t *self = calloc (1, sizeof (zo_dedupe_t));
    if (!self)
        return NULL;
    self->window_ms = window_ms;
    self->max = max;
    self->ring_cap = S_MIN;
    self->ring = malloc (self->ring_cap * sizeof (s_entry_t));
    self->set = calloc (S_MIN * 2, sizeof (uint64_t));
    self->set_mask = S_MIN * 2 - 1;
    if (!self->ring || !self->set)
        zo_dedupe_destroy (&self);
    return self;
}

void
zo_dedupe_destroy (zo_dedupe_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->ring);
        free ((*self_p)->set);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_set_insert (uint64_t *set, size_t mask, uint64_t hash)
{
    size_t i = hash & mask;
    while (set [i] && set [i] != hash)
        i = (i + 1) & mask;
    set [i] = hash;
}

static void
s_set_remove (zo_dedupe_t *self, uint64_t hash)
{
    size_t mask = self->set_mask;
    size_t i = hash & mask;
    while (self->set [i] && self->set [i] != hash)
        i = (i + 1) & mask;
    if (!self->set [i])
        return;
    size_t hole = i, j = i;
    while (true) {
        j = (j + 1) & mask;
        uint64_t next = self->set [j];
        if (!next)
            break;
        size_t home = next & mask;
        bool movable = hole <= j ? (home <= hole || home > j)
                                 : (home <= hole && home > j);
        if (movable) {
            self->set [hole] = next;
            hole = j;
        }
    }
    self->set [hole] = 0;
}

static void
s_pop_oldest (zo_dedupe_t *self)
{
    assert (self->ring_count);
    s_set_remove (self, self->ring [self->ring_head].hash);
    self->ring_head = (self->ring_head + 1) % self->ring_cap;
    self->ring_count--;
}

void
zo_dedupe_expire (zo_dedupe_t *self, uint64_t now_ms)
{
    while (self->ring_count
       &&  self->ring [self->ring_head].time_ms + self->window_ms <= now_ms)
        s_pop_oldest (self);
}

bool
zo_dedupe_seen (zo_dedupe_t *self, uint64_t hash)
{
    assert (hash);
    size_t i = hash & self->set_mask;
    while (self->set [i]) {
        if (self->set [i] == hash)
            return true;
        i = (i + 1) & self->set_mask;
    }
    return false;
}

//  Doubles the ring and the set (the set stays at most half full).
static int
s_grow (zo_dedupe_t *self)
{
    size_t cap = self->ring_cap * 2;
    s_entry_t *ring = malloc (cap * sizeof (s_entry_t));
    size_t set_slots = cap * 2;
    uint64_t *set = calloc (set_slots, sizeof (uint64_t));
    if (!ring || !set) {
        free (ring);
        free (set);
        return -1;
    }
    for (size_t i = 0; i < self->ring_count; i++) {
        ring [i] = self->ring [(self->ring_head + i) % self->ring_cap];
        s_set_insert (set, set_slots - 1, ring [i].hash);
    }
    free (self->ring);
    free (self->set);
    self->ring = ring;
    self->ring_cap = cap;
    self->ring_head = 0;
    self->set = set;
    self->set_mask = set_slots - 1;
    return 0;
}

int
zo_dedupe_add (zo_dedupe_t *self, uint64_t hash, uint64_t now_ms)
{
    assert (hash);
    if (zo_dedupe_seen (self, hash))
        return 0;
    if (self->ring_count >= self->max)
        s_pop_oldest (self);
    if (self->ring_count == self->ring_cap && s_grow (self)) {
        //  Out of memory: make room by forgetting the oldest instead.
        if (!self->ring_count)
            return -1;
        s_pop_oldest (self);
    }
    size_t tail = (self->ring_head + self->ring_count) % self->ring_cap;
    self->ring [tail].time_ms = now_ms;
    self->ring [tail].hash = hash;
    self->ring_count++;
    s_set_insert (self->set, self->set_mask, hash);
    return 0;
}

size_t
zo_dedupe_size (const zo_dedupe_t *self)
{
    return self->ring_count;
}
