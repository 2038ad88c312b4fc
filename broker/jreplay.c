/*  jreplay: the live set rebuilt at recovery. See jreplay.h.  */
#include "jreplay.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "evtab.h"

//  Every add in order, and a table from id to its latest add.
typedef struct {
    zo_jrec_t rec;
    uint64_t hash;
    bool live;
} s_entry_t;

struct _zo_jreplay_t {
    s_entry_t *entries;
    size_t n, cap;
    uint32_t *slots;           /* entry index + 1; 0 = empty */
    size_t mask, ids;
};

static uint32_t *
s_find (zo_jreplay_t *self, zo_span_t id, uint64_t hash)
{
    size_t i = hash & self->mask;
    for (; self->slots [i]; i = (i + 1) & self->mask) {
        const zo_jrec_t *rec = &self->entries [self->slots [i] - 1].rec;
        if (self->entries [self->slots [i] - 1].hash == hash && rec->id.len == id.len
        &&  memcmp (rec->id.ptr, id.ptr, id.len) == 0)
            break;
    }
    return &self->slots [i];
}

static int
s_grow (zo_jreplay_t *self)
{
    size_t size = self->slots ? (self->mask + 1) * 2 : 1024;
    uint32_t *slots = calloc (size, sizeof (uint32_t));
    if (!slots)
        return -1;
    for (size_t i = 0; self->slots && i <= self->mask; i++)
        if (self->slots [i]) {
            size_t j = self->entries [self->slots [i] - 1].hash & (size - 1);
            while (slots [j])
                j = (j + 1) & (size - 1);
            slots [j] = self->slots [i];
        }
    free (self->slots);
    self->slots = slots;
    self->mask = size - 1;
    return 0;
}

zo_jreplay_t *
zo_jreplay_new (void)
{
    zo_jreplay_t *self = calloc (1, sizeof (zo_jreplay_t));
    if (self && s_grow (self)) {
        free (self);
        return NULL;
    }
    return self;
}

void
zo_jreplay_destroy (zo_jreplay_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->entries);
        free ((*self_p)->slots);
        free (*self_p);
        *self_p = NULL;
    }
}

int
zo_jreplay_apply (zo_jreplay_t *self, const zo_jrec_t *rec)
{
    if ((self->ids + 1) * 2 > self->mask + 1 && s_grow (self))
        return -1;
    uint64_t hash = zo_evtab_hash (rec->id);
    uint32_t *slot = s_find (self, rec->id, hash);
    if (rec->kind == ZO_JREC_DEL) {
        if (*slot)
            self->entries [*slot - 1].live = false;
        return 0;
    }
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 1024;
        s_entry_t *entries = cap < UINT32_MAX ? realloc (self->entries, cap * sizeof (s_entry_t)) : NULL;
        if (!entries)
            return -1;
        self->entries = entries;
        self->cap = cap;
    }
    if (*slot)
        self->entries [*slot - 1].live = false;
    else
        self->ids++;
    self->entries [self->n] = (s_entry_t) { *rec, hash, true };
    *slot = (uint32_t) ++self->n;
    return 0;
}

size_t
zo_jreplay_foreach (zo_jreplay_t *self, zo_jreplay_fn *fn, void *arg)
{
    size_t live = 0;
    for (size_t i = 0; i < self->n; i++) {
        s_entry_t *e = &self->entries [i];
        if (e->live) {
            fn (&e->rec, arg);
            live++;
        }
        else
        if (*s_find (self, e->rec.id, e->hash) == i + 1) {
            //  The id's last add, deleted: the event is done.
            zo_jrec_t done = { .kind = ZO_JREC_DEL, .id = e->rec.id };
            fn (&done, arg);
        }
    }
    return live;
}
