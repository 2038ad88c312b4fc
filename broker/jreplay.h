/*  jreplay: the broker's live events, rebuilt from journal records at
    recovery (journal.h).

    Records are applied in the order they were written: an add puts an
    event in, or replaces the one with its id; a del takes it out, and is
    ignored for an id that is not there. Then the live events come out in
    the order of their last add, along with the ids that were deleted (the
    events done).

    A replay borrows the spans of the records it is given: the bytes they
    point into must outlive it. It grows with what is applied (an entry
    per add, a slot per distinct id), so with the size of the segments read.
*/
#ifndef ZO_JREPLAY_H_INCLUDED
#define ZO_JREPLAY_H_INCLUDED

#include <stddef.h>

#include "jrec.h"

typedef struct _zo_jreplay_t zo_jreplay_t;

/*  NULL when out of memory.  */
zo_jreplay_t *zo_jreplay_new (void);
void zo_jreplay_destroy (zo_jreplay_t **self_p);

/*  Applies one record. 0, or -1 when out of memory (the record is then
    not applied).  */
int zo_jreplay_apply (zo_jreplay_t *self, const zo_jrec_t *rec);

/*  Called with the last add of each live event (kind ZO_JREC_ADD), and
    with each id whose last add was deleted (kind ZO_JREC_DEL, id only).  */
typedef void (zo_jreplay_fn) (const zo_jrec_t *rec, void *arg);
/*  Calls fn for every live event and every id done, in the order of
    their last add. Returns how many were live.  */
size_t zo_jreplay_foreach (zo_jreplay_t *self, zo_jreplay_fn *fn, void *arg);

#endif
