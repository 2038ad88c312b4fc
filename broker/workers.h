/*  workers: the broker's registry of workers, by ROUTER identity.

    A worker exists from its READY until it says BYE, falls silent for
    three heartbeats, or vanishes from the socket. It has the credit it
    granted and the broker has not used yet, and the list of events it
    holds (records threaded through their links; see evtab.h). A quiet
    worker (a client's QUIET, before it is stopped) keeps no credit: it
    finishes what it holds and gets nothing more. Workers are
    few next to events, so they live in a plain array; the last one looked
    up is remembered, as messages from one worker tend to come in runs.
*/
#ifndef ZO_WORKERS_H_INCLUDED
#define ZO_WORKERS_H_INCLUDED

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evtab.h"
#include "zo_heartbeat.h"

#define ZO_WORKER_IDENT_MAX 255

typedef struct {
    uint8_t ident [ZO_WORKER_IDENT_MAX];
    uint8_t ident_len;
    char name [129];
    uint64_t credit;         /* events it may still be sent */
    uint32_t capacity;       /* as it said in READY */
    bool quiet;              /* sent nothing more; its credit stays 0 */
    uint64_t dispatched;     /* events sent to it, in all */
    zo_heartbeat_t hb;       /* last message to it, and from it */
    zo_rlist_t held;         /* events it holds (ZO_REC_INFLIGHT) */
} zo_worker_t;

typedef struct _zo_workers_t zo_workers_t;

zo_workers_t *zo_workers_new (void);
/*  Frees the registry. Records still held are not freed (the event table
    owns them).  */
void zo_workers_destroy (zo_workers_t **self_p);

/*  The worker with this identity, or NULL.  */
zo_worker_t *zo_workers_find (zo_workers_t *self, const void *ident, size_t len);
/*  Adds a worker (identity copied; at most 255 bytes) with no credit and
    no events. NULL when out of memory.  */
zo_worker_t *zo_workers_add (zo_workers_t *self, const void *ident, size_t len);
/*  Removes and frees a worker, which must hold no events any more.  */
void zo_workers_remove (zo_workers_t *self, zo_worker_t *worker);

size_t zo_workers_size (const zo_workers_t *self);
/*  The i-th worker (i < size); order changes when one is removed.  */
zo_worker_t *zo_workers_at (zo_workers_t *self, size_t i);
/*  Sum of all workers' credit.  */
uint64_t zo_workers_credit (const zo_workers_t *self);
/*  How many workers are quiet.  */
size_t zo_workers_quiet (const zo_workers_t *self);
/*  Packs the registry as PROTOCOL.md's WORKERS list, one map per worker
    ({name, capacity, credit, held, dispatched, quiet}), into buf, at most max_bytes
    of it: the workers past that are left out (a registry that large
    is logged). Returns how many were packed.  */
size_t zo_workers_pack (const zo_workers_t *self, msgpack_sbuffer *buf, size_t max_bytes);

#endif
