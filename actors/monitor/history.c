/*  zo_history: a ring of per-second samples (see history.h).
*/
#include <assert.h>
#include <stdlib.h>

#include "history.h"

struct _zo_history_t {
    zo_sample_t *ring;
    size_t capacity;
    size_t head;                //  where the next sample goes
    size_t size;
};

zo_history_t *
zo_history_new (size_t capacity)
{
    if (capacity < 1)
        capacity = 1;
    zo_history_t *self = (zo_history_t *) calloc (1, sizeof (zo_history_t));
    if (!self)
        return NULL;
    self->ring = (zo_sample_t *) calloc (capacity, sizeof (zo_sample_t));
    if (!self->ring) {
        free (self);
        return NULL;
    }
    self->capacity = capacity;
    return self;
}

void
zo_history_destroy (zo_history_t **self_p)
{
    assert (self_p);
    zo_history_t *self = *self_p;
    if (!self)
        return;
    free (self->ring);
    free (self);
    *self_p = NULL;
}

void
zo_history_push (zo_history_t *self, const zo_sample_t *sample)
{
    assert (self);
    assert (sample);
    self->ring [self->head] = *sample;
    self->head = (self->head + 1) % self->capacity;
    if (self->size < self->capacity)
        self->size++;
}

size_t
zo_history_size (const zo_history_t *self)
{
    assert (self);
    return self->size;
}

size_t
zo_history_capacity (const zo_history_t *self)
{
    assert (self);
    return self->capacity;
}

const zo_sample_t *
zo_history_at (const zo_history_t *self, size_t index)
{
    assert (self);
    if (index >= self->size)
        return NULL;
    size_t oldest = (self->head + self->capacity - self->size) % self->capacity;
    return &self->ring [(oldest + index) % self->capacity];
}
