/*  zo_heap: see zo_heap.h.  */
#include "zo_heap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

int
zo_heap_init (zo_heap_t *self, uint32_t cap)
{
    assert (self);
    memset (self, 0, sizeof *self);
    return zo_heap_grow (self, cap);
}

int
zo_heap_grow (zo_heap_t *self, uint32_t cap)
{
    assert (self);
    if (cap <= self->cap)
        return 0;
    zo_heap_item_t *items = realloc (self->items, cap * sizeof *items);
    if (!items)
        return -1;
    self->items = items;
    uint32_t *pos = realloc (self->pos, cap * sizeof *pos);
    if (!pos)
        return -1;
    self->pos = pos;
    self->cap = cap;
    return 0;
}

void
zo_heap_fini (zo_heap_t *self)
{
    assert (self);
    free (self->items);
    free (self->pos);
    memset (self, 0, sizeof *self);
}

static inline bool
s_before (const zo_heap_item_t *a, const zo_heap_item_t *b)
{
    return a->key < b->key || (a->key == b->key && a->tie < b->tie);
}

static inline void
s_put (zo_heap_t *self, uint32_t at, const zo_heap_item_t *item)
{
    self->items [at] = *item;
    self->pos [item->slot] = at;
}

static void
s_up (zo_heap_t *self, uint32_t at)
{
    zo_heap_item_t item = self->items [at];
    while (at > 0 && s_before (&item, &self->items [(at - 1) / 2])) {
        s_put (self, at, &self->items [(at - 1) / 2]);
        at = (at - 1) / 2;
    }
    s_put (self, at, &item);
}

static void
s_down (zo_heap_t *self, uint32_t at)
{
    zo_heap_item_t item = self->items [at];
    while (true) {
        uint32_t child = 2 * at + 1;
        if (child >= self->size)
            break;
        if (child + 1 < self->size && s_before (&self->items [child + 1], &self->items [child]))
            child++;
        if (!s_before (&self->items [child], &item))
            break;
        s_put (self, at, &self->items [child]);
        at = child;
    }
    s_put (self, at, &item);
}

//  An item changed at `at`: it moves up or down to where it belongs.
static void
s_fix (zo_heap_t *self, uint32_t at)
{
    if (at > 0 && s_before (&self->items [at], &self->items [(at - 1) / 2]))
        s_up (self, at);
    else
        s_down (self, at);
}

void
zo_heap_push (zo_heap_t *self, uint32_t slot, uint64_t key, uint64_t tie)
{
    assert (slot < self->cap && self->size < self->cap);
    zo_heap_item_t item = { key, tie, slot };
    s_put (self, self->size, &item);
    s_up (self, self->size++);
}

void
zo_heap_remove (zo_heap_t *self, uint32_t slot)
{
    assert (slot < self->cap);
    uint32_t at = self->pos [slot];
    assert (at < self->size && self->items [at].slot == slot);
    if (at == --self->size)
        return;
    s_put (self, at, &self->items [self->size]);
    s_fix (self, at);
}

void
zo_heap_rekey (zo_heap_t *self, uint32_t slot, uint64_t key, uint64_t tie)
{
    assert (slot < self->cap);
    uint32_t at = self->pos [slot];
    assert (at < self->size && self->items [at].slot == slot);
    self->items [at].key = key;
    self->items [at].tie = tie;
    s_fix (self, at);
}
