/*  evtab: event records and the id table. See evtab.h.  */
#include "evtab.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "zo_hash.h"

#define S_MIN_SLOTS 1024
#define S_MAX_ERROR 4096

struct _zo_evtab_t {
    zo_rec_t **slots;
    size_t mask;           /* slots - 1; slots is a power of two */
    size_t size;
};

zo_rec_t *
zo_rec_new (zo_span_t raw, zo_span_t id, const void *ident, size_t ident_len)
{
    assert (id.ptr >= raw.ptr && id.ptr + id.len <= raw.ptr + raw.len);
    assert (ident_len <= 255);
    zo_rec_t *self = malloc (sizeof (zo_rec_t) + raw.len + ident_len);
    if (!self)
        return NULL;
    memset (self, 0, sizeof (zo_rec_t));
    memcpy (self->data, raw.ptr, raw.len);
    if (ident_len)
        memcpy (self->data + raw.len, ident, ident_len);
    self->raw_len = raw.len;
    self->id_off = (uint32_t) (id.ptr - raw.ptr);
    self->id_len = id.len;
    self->ident_len = (uint8_t) ident_len;
    self->hash = zo_evtab_hash (id);
    return self;
}

void
zo_rec_destroy (zo_rec_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->error);
        free (*self_p);
        *self_p = NULL;
    }
}

void
zo_rec_set_error (zo_rec_t *self, zo_span_t error)
{
    size_t len = error.len > S_MAX_ERROR ? S_MAX_ERROR : error.len;
    char *copy = malloc (len + 1);
    if (!copy)
        return;
    if (len)
        memcpy (copy, error.ptr, len);
    copy [len] = 0;
    free (self->error);
    self->error = copy;
}

void
zo_rlist_push_tail (zo_rlist_t *self, zo_rec_t *rec)
{
    rec->next = NULL;
    rec->prev = self->tail;
    if (self->tail)
        self->tail->next = rec;
    else
        self->head = rec;
    self->tail = rec;
    self->count++;
}

void
zo_rlist_push_head (zo_rlist_t *self, zo_rec_t *rec)
{
    rec->prev = NULL;
    rec->next = self->head;
    if (self->head)
        self->head->prev = rec;
    else
        self->tail = rec;
    self->head = rec;
    self->count++;
}

void
zo_rlist_remove (zo_rlist_t *self, zo_rec_t *rec)
{
    assert (self->count > 0);
    if (rec->prev)
        rec->prev->next = rec->next;
    else {
        assert (self->head == rec);
        self->head = rec->next;
    }
    if (rec->next)
        rec->next->prev = rec->prev;
    else {
        assert (self->tail == rec);
        self->tail = rec->prev;
    }
    rec->prev = rec->next = NULL;
    self->count--;
}

zo_rec_t *
zo_rlist_pop_head (zo_rlist_t *self)
{
    zo_rec_t *rec = self->head;
    if (rec)
        zo_rlist_remove (self, rec);
    return rec;
}

uint64_t
zo_evtab_hash (zo_span_t id)
{
    return zo_hash (id.ptr, id.len);
}

zo_evtab_t *
zo_evtab_new (void)
{
    zo_evtab_t *self = calloc (1, sizeof (zo_evtab_t));
    if (!self)
        return NULL;
    self->slots = calloc (S_MIN_SLOTS, sizeof (zo_rec_t *));
    if (!self->slots) {
        free (self);
        return NULL;
    }
    self->mask = S_MIN_SLOTS - 1;
    return self;
}

void
zo_evtab_destroy (zo_evtab_t **self_p)
{
    assert (self_p);
    zo_evtab_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i <= self->mask; i++)
        zo_rec_destroy (&self->slots [i]);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

static bool
s_same_id (const zo_rec_t *rec, zo_span_t id, uint64_t hash)
{
    return rec->hash == hash && rec->id_len == id.len
        && memcmp (rec->data + rec->id_off, id.ptr, id.len) == 0;
}

static int
s_grow (zo_evtab_t *self)
{
    size_t slots = (self->mask + 1) * 2;
    zo_rec_t **fresh = calloc (slots, sizeof (zo_rec_t *));
    if (!fresh)
        return -1;
    for (size_t i = 0; i <= self->mask; i++) {
        zo_rec_t *rec = self->slots [i];
        if (!rec)
            continue;
        size_t j = rec->hash & (slots - 1);
        while (fresh [j])
            j = (j + 1) & (slots - 1);
        fresh [j] = rec;
    }
    free (self->slots);
    self->slots = fresh;
    self->mask = slots - 1;
    return 0;
}

int
zo_evtab_insert (zo_evtab_t *self, zo_rec_t *rec)
{
    //  Load factor at most 1/2 keeps probe sequences short.
    if ((self->size + 1) * 2 > self->mask + 1 && s_grow (self))
        return -1;
    zo_span_t id = zo_rec_id (rec);
    size_t i = rec->hash & self->mask;
    while (self->slots [i]) {
        if (s_same_id (self->slots [i], id, rec->hash))
            return -1;
        i = (i + 1) & self->mask;
    }
    self->slots [i] = rec;
    self->size++;
    return 0;
}

zo_rec_t *
zo_evtab_find (zo_evtab_t *self, zo_span_t id, uint64_t hash)
{
    size_t i = hash & self->mask;
    while (self->slots [i]) {
        if (s_same_id (self->slots [i], id, hash))
            return self->slots [i];
        i = (i + 1) & self->mask;
    }
    return NULL;
}

void
zo_evtab_remove (zo_evtab_t *self, zo_rec_t *rec)
{
    size_t i = rec->hash & self->mask;
    while (self->slots [i] && self->slots [i] != rec)
        i = (i + 1) & self->mask;
    if (!self->slots [i])
        return;
    //  Backward-shift deletion: move later members of the cluster into the
    //  hole when their home slot is not between the hole and them.
    size_t hole = i;
    size_t j = i;
    while (true) {
        j = (j + 1) & self->mask;
        zo_rec_t *next = self->slots [j];
        if (!next)
            break;
        size_t home = next->hash & self->mask;
        bool movable = hole <= j ? (home <= hole || home > j)
                                 : (home <= hole && home > j);
        if (movable) {
            self->slots [hole] = next;
            hole = j;
        }
    }
    self->slots [hole] = NULL;
    self->size--;
}

size_t
zo_evtab_size (const zo_evtab_t *self)
{
    return self->size;
}

void
zo_evtab_foreach (zo_evtab_t *self, zo_evtab_fn *fn, void *arg)
{
    for (size_t i = 0; i <= self->mask; i++)
        if (self->slots [i])
            fn (self->slots [i], arg);
}
