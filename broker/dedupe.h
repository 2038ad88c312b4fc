/*  dedupe: the ids the broker has accepted recently, so that a producer
    resending an event (after a lost ACK, say) gets it acknowledged again
    but processed once.

    Ids are remembered by their 64-bit hash (zo_evtab_hash): a set for the
    lookup and a FIFO of (time, hash) for expiry. An id is forgotten when it
    is older than the window, or when more than max ids are remembered (the
    oldest goes first). A hash collision between two distinct ids within
    the window would make the second look like a duplicate; at 64 bits and
    a million ids that chance is about 3e-8.
*/
#ifndef ZO_DEDUPE_H_INCLUDED
#define ZO_DEDUPE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _zo_dedupe_t zo_dedupe_t;

/*  Remembers ids for window_ms, at most max of them (max >= 1). NULL when
    out of memory.  */
zo_dedupe_t *zo_dedupe_new (uint64_t window_ms, size_t max);
void zo_dedupe_destroy (zo_dedupe_t **self_p);

/*  Forgets ids older than the window, as of now_ms.  */
void zo_dedupe_expire (zo_dedupe_t *self, uint64_t now_ms);
/*  True if hash was seen inside the window (call expire first).  */
bool zo_dedupe_seen (zo_dedupe_t *self, uint64_t hash);
/*  Remembers hash as seen at now_ms; no-op if it already is. -1 when out
    of memory (the id is then simply not remembered).  */
int zo_dedupe_add (zo_dedupe_t *self, uint64_t hash, uint64_t now_ms);
/*  Ids remembered now.  */
size_t zo_dedupe_size (const zo_dedupe_t *self);

#endif
