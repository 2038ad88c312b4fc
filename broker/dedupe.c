/*  dedupe: recently accepted ids, with expiry. See dedupe.h.

    The FIFO ring is allocated once at its bound: the allocator hands out
    untouched pages, so only the part in use is resident, and it never has
    to be copied. The hash set grows by doubling, and the move into the
    bigger set is spread over the following adds (a few entries each, as
    Redis rehashes its dicts): a set of a million ids rebuilt in one go
    stalled the broker for tens of milliseconds, which every event in
    flight at that moment paid for.
*/
#include "dedupe.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define S_MIN_SLOTS 2048        /* smallest set */
#define S_MOVE_STEP 64          /* entries moved to the new set per add */

typedef struct {
    uint64_t time_ms;
    uint64_t hash;
} s_entry_t;

//  Open-addressing set of hashes (0 = empty), linear probing,
//  backward-shift deletion.
typedef struct {
    uint64_t *slots;
    size_t mask;
} s_set_t;

struct _zo_dedupe_t {
    uint64_t window_ms;
    size_t max;
    //  FIFO ring of entries in arrival order, max of them; positions are
    //  counted from the start (head: next to forget, tail: next to add).
    s_entry_t *ring;
    uint64_t head, tail;
    s_set_t set;                /* where new ids go */
    s_set_t old;                /* while growing: the set being emptied */
    uint64_t move_next, move_end;   /* ring positions still only in old */
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
    self->ring = malloc (max * sizeof (s_entry_t));
    self->set.slots = calloc (S_MIN_SLOTS, sizeof (uint64_t));
    self->set.mask = S_MIN_SLOTS - 1;
    if (!self->ring || !self->set.slots)
        zo_dedupe_destroy (&self);
    return self;
}

void
zo_dedupe_destroy (zo_dedupe_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->ring);
        free ((*self_p)->set.slots);
        free ((*self_p)->old.slots);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_set_insert (s_set_t *set, uint64_t hash)
{
    size_t i = hash & set->mask;
    while (set->slots [i] && set->slots [i] != hash)
        i = (i + 1) & set->mask;
    set->slots [i] = hash;
}

static bool
s_set_has (const s_set_t *set, uint64_t hash)
{
    if (!set->slots)
        return false;
    for (size_t i = hash & set->mask; set->slots [i]; i = (i + 1) & set->mask)
        if (set->slots [i] == hash)
            return true;
    return false;
}

static void
s_set_remove (s_set_t *set, uint64_t hash)
{
    if (!set->slots)
        return;
    size_t mask = set->mask;
    size_t i = hash & mask;
    while (set->slots [i] && set->slots [i] != hash)
        i = (i + 1) & mask;
    if (!set->slots [i])
        return;
    size_t hole = i, j = i;
    while (true) {
        j = (j + 1) & mask;
        uint64_t next = set->slots [j];
        if (!next)
            break;
        size_t home = next & mask;
        bool movable = hole <= j ? (home <= hole || home > j)
                                 : (home <= hole && home > j);
        if (movable) {
            set->slots [hole] = next;
            hole = j;
        }
    }
    set->slots [hole] = 0;
}

//  Moves up to n entries from the old set into the new one; frees the old
//  set when none is left.
static void
s_move (zo_dedupe_t *self, size_t n)
{
    if (!self->old.slots)
        return;
    if (self->move_next < self->head)
        self->move_next = self->head;       //  forgotten meanwhile
    for (; n && self->move_next < self->move_end; n--, self->move_next++)
        s_set_insert (&self->set, self->ring [self->move_next % self->max].hash);
    if (self->move_next >= self->move_end) {
        free (self->old.slots);
        self->old.slots = NULL;
    }
}

//  Starts moving into a set twice as big (kept at most half full). -1
//  when out of memory (the current set then simply fills up more).
static int
s_grow (zo_dedupe_t *self)
{
    s_move (self, SIZE_MAX);                //  finish any earlier move
    size_t slots = (self->set.mask + 1) * 2;
    uint64_t *fresh = calloc (slots, sizeof (uint64_t));
    if (!fresh)
        return -1;
    self->old = self->set;
    self->set.slots = fresh;
    self->set.mask = slots - 1;
    self->move_next = self->head;
    self->move_end = self->tail;
    return 0;
}

static void
s_pop_oldest (zo_dedupe_t *self)
{
    assert (self->tail > self->head);
    uint64_t hash = self->ring [self->head % self->max].hash;
    s_set_remove (&self->set, hash);
    s_set_remove (&self->old, hash);
    self->head++;
}

void
zo_dedupe_expire (zo_dedupe_t *self, uint64_t now_ms)
{
    while (self->tail > self->head
       &&  self->ring [self->head % self->max].time_ms + self->window_ms <= now_ms)
        s_pop_oldest (self);
}

bool
zo_dedupe_seen (zo_dedupe_t *self, uint64_t hash)
{
    assert (hash);
    return s_set_has (&self->set, hash) || s_set_has (&self->old, hash);
}

int
zo_dedupe_add (zo_dedupe_t *self, uint64_t hash, uint64_t now_ms)
{
    assert (hash);
    if (zo_dedupe_seen (self, hash))
        return 0;
    if (self->tail - self->head >= self->max)
        s_pop_oldest (self);
    s_move (self, S_MOVE_STEP);
    size_t count = (size_t) (self->tail - self->head);
    if ((count + 1) * 2 > self->set.mask + 1 && s_grow (self)
    &&  (count + 1) * 4 > (self->set.mask + 1) * 3) {
        //  Out of memory and the set is getting full: make room by
        //  forgetting the oldest instead.
        if (!count)
            return -1;
        s_pop_oldest (self);
    }
    s_entry_t *entry = &self->ring [self->tail % self->max];
    entry->time_ms = now_ms;
    entry->hash = hash;
    self->tail++;
    s_set_insert (&self->set, hash);
    return 0;
}

size_t
zo_dedupe_size (const zo_dedupe_t *self)
{
    return (size_t) (self->tail - self->head);
}
