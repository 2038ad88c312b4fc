/*  zo_history: a fixed-size ring of the cluster's per-second samples
    (zo_sample_t, ~250 bytes each: an hour is under 1 MB). The oldest
    sample is overwritten once the ring is full.
*/
#ifndef ZO_HISTORY_H_INCLUDED
#define ZO_HISTORY_H_INCLUDED

#include <stddef.h>

#include "actors.h"

typedef struct _zo_history_t zo_history_t;

/*  A ring of capacity samples (at least 1). NULL when out of memory.  */
zo_history_t *zo_history_new (size_t capacity);
void zo_history_destroy (zo_history_t **self_p);

/*  Appends a copy of sample, dropping the oldest when full.  */
void zo_history_push (zo_history_t *self, const zo_sample_t *sample);
/*  Samples held now, and the capacity.  */
size_t zo_history_size (const zo_history_t *self);
size_t zo_history_capacity (const zo_history_t *self);
/*  The index-th sample, 0 = the oldest held; NULL past the end.  */
const zo_sample_t *zo_history_at (const zo_history_t *self, size_t index);

#endif
