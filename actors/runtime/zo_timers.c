/*  zo_timers: pending timers ordered by deadline. See zo_timers.h.  */
#include "zo_timers.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>

#include "zo_heap.h"

//  A timer's deadline (ns) and creation order (which breaks deadline
//  ties) are its keys in the heap.
typedef struct {
    uint64_t interval;          /* ns; 0 for a one-shot timer */
    zo_timers_fn *fn;
    void *arg;
    int id;                     /* 0 while the slot is free */
    uint32_t next_free;
} s_timer_t;

struct _zo_timers_t {
    s_timer_t *slots;
    uint32_t n_slots;
    uint32_t max_slots;
    uint32_t free_head;         /* UINT32_MAX when none */
    zo_heap_t heap;             /* the pending slots by deadline */
    int *map_keys;              /* id -> slot, open addressing; 0 = empty */
    uint32_t *map_vals;
    uint32_t map_cap;           /* power of two */
    uint32_t map_used;
    int next_id;
    uint64_t next_seq;
};

static uint64_t
s_sat_add (uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b? UINT64_MAX: a + b;
}

zo_timers_t *
zo_timers_new (void)
{
    zo_timers_t *self = (zo_timers_t *) calloc (1, sizeof (zo_timers_t));
    if (!self)
        return NULL;
    zo_heap_init (&self->heap, 0);
    self->map_cap = 64;
    self->map_keys = (int *) calloc (self->map_cap, sizeof (int));
    self->map_vals = (uint32_t *) calloc (self->map_cap, sizeof (uint32_t));
    if (!self->map_keys || !self->map_vals) {
        zo_timers_destroy (&self);
        return NULL;
    }
    self->free_head = UINT32_MAX;
    self->next_id = 1;
    return self;
}

void
zo_timers_destroy (zo_timers_t **self_p)
{
    assert (self_p);
    zo_timers_t *self = *self_p;
    if (!self)
        return;
    free (self->slots);
    zo_heap_fini (&self->heap);
    free (self->map_keys);
    free (self->map_vals);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  The id -> slot map: linear probing, at most half full, deletion by
//  backward shift so no tombstones build up.

static uint32_t
s_map_home (const zo_timers_t *self, int id)
{
    return ((uint32_t) id * 2654435761u) & (self->map_cap - 1);
}

static uint32_t
s_map_find (const zo_timers_t *self, int id)
{
    uint32_t mask = self->map_cap - 1;
    for (uint32_t i = s_map_home (self, id);; i = (i + 1) & mask) {
        if (self->map_keys [i] == id)
            return self->map_vals [i];
        if (self->map_keys [i] == 0)
            return UINT32_MAX;
    }
}

static void
s_map_put_raw (zo_timers_t *self, int id, uint32_t slot)
{
    uint32_t mask = self->map_cap - 1;
    uint32_t i = s_map_home (self, id);
    while (self->map_keys [i] != 0)
        i = (i + 1) & mask;
    self->map_keys [i] = id;
    self->map_vals [i] = slot;
}

//  Makes room for one more entry (the map stays at most half full).
static int
s_map_reserve (zo_timers_t *self)
{
    if ((self->map_used + 1) * 2 <= self->map_cap)
        return 0;
    uint32_t old_cap = self->map_cap;
    int *old_keys = self->map_keys;
    uint32_t *old_vals = self->map_vals;
    int *keys = (int *) calloc ((size_t) old_cap * 2, sizeof (int));
    uint32_t *vals = (uint32_t *) calloc ((size_t) old_cap * 2, sizeof (uint32_t));
    if (!keys || !vals) {
        free (keys);
        free (vals);
        return -1;
    }
    self->map_keys = keys;
    self->map_vals = vals;
    self->map_cap = old_cap * 2;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old_keys [i])
            s_map_put_raw (self, old_keys [i], old_vals [i]);
    free (old_keys);
    free (old_vals);
    return 0;
}

static void
s_map_delete (zo_timers_t *self, int id)
{
    uint32_t mask = self->map_cap - 1;
    uint32_t i = s_map_home (self, id);
    while (self->map_keys [i] != id) {
        if (self->map_keys [i] == 0)
            return;
        i = (i + 1) & mask;
    }
    //  Shift back every following entry that would no longer be reachable.
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask; self->map_keys [j] != 0; j = (j + 1) & mask) {
        uint32_t home = s_map_home (self, self->map_keys [j]);
        //  Entry j may fill the hole if its home is not in (hole, j].
        bool between = hole <= j? (home > hole && home <= j)
                                : (home > hole || home <= j);
        if (!between) {
            self->map_keys [hole] = self->map_keys [j];
            self->map_vals [hole] = self->map_vals [j];
            hole = j;
        }
    }
    self->map_keys [hole] = 0;
    self->map_used--;
}


//  Releases a timer that is no longer in the heap.
static void
s_timer_free (zo_timers_t *self, uint32_t slot)
{
    s_map_delete (self, self->slots [slot].id);
    self->slots [slot].id = 0;
    self->slots [slot].fn = NULL;
    self->slots [slot].next_free = self->free_head;
    self->free_head = slot;
}

int
zo_timers_add (zo_timers_t *self, uint64_t deadline, uint64_t interval,
               zo_timers_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    //  Make room first, so nothing needs undoing on failure.
    if (self->free_head == UINT32_MAX && self->n_slots == self->max_slots) {
        if (self->max_slots >= ZO_TIMERS_MAX)
            return -1;
        uint32_t max = self->max_slots? self->max_slots * 2: 16;
        s_timer_t *slots = (s_timer_t *) realloc (self->slots, max * sizeof (s_timer_t));
        if (!slots)
            return -1;
        self->slots = slots;
        if (zo_heap_grow (&self->heap, max))
            return -1;
        self->max_slots = max;
    }
    if (s_map_reserve (self))
        return -1;

    //  Ids are never 0 and skip any id still in use after a wrap.
    int id;
    do {
        id = self->next_id;
        self->next_id = self->next_id == INT_MAX? 1: self->next_id + 1;
    } while (s_map_find (self, id) != UINT32_MAX);

    uint32_t slot = self->free_head;
    if (slot != UINT32_MAX)
        self->free_head = self->slots [slot].next_free;
    else
        slot = self->n_slots++;
    s_map_put_raw (self, id, slot);
    self->map_used++;

    s_timer_t *timer = &self->slots [slot];
    timer->interval = interval;
    timer->fn = fn;
    timer->arg = arg;
    timer->id = id;
    timer->next_free = UINT32_MAX;
    zo_heap_push (&self->heap, slot, deadline, self->next_seq++);
    return id;
}

void
zo_timers_cancel (zo_timers_t *self, int id)
{
    assert (self);
    if (id <= 0)
        return;
    uint32_t slot = s_map_find (self, id);
    if (slot == UINT32_MAX)
        return;
    zo_heap_remove (&self->heap, slot);
    s_timer_free (self, slot);
}

uint32_t
zo_timers_size (const zo_timers_t *self)
{
    return self->heap.size;
}

uint64_t
zo_timers_first (const zo_timers_t *self)
{
    assert (self->heap.size > 0);
    return zo_heap_top (&self->heap)->key;
}

uint64_t
zo_timers_mark (const zo_timers_t *self)
{
    return self->next_seq;
}

bool
zo_timers_pop (zo_timers_t *self, uint64_t now, uint64_t mark,
               int *id, zo_timers_fn **fn, void **arg)
{
    if (self->heap.size == 0)
        return false;
    const zo_heap_item_t *top = zo_heap_top (&self->heap);
    uint32_t slot = top->slot;
    s_timer_t *timer = &self->slots [slot];
    if (top->key > now || top->tie >= mark)
        return false;
    *id = timer->id;
    *fn = timer->fn;
    *arg = timer->arg;
    if (timer->interval) {
        //  Tickers keep their phase; after a stall they skip the missed
        //  beats instead of firing in a burst.
        uint64_t next = s_sat_add (top->key, timer->interval);
        if (next <= now)
            next = s_sat_add (now, timer->interval);
        zo_heap_rekey (&self->heap, slot, next, self->next_seq++);
    }
    else {
        zo_heap_remove (&self->heap, slot);
        s_timer_free (self, slot);
    }
    return true;
}
