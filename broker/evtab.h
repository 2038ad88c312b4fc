/*  evtab: the broker's event records and the table that finds them by id.

    A record is everything the broker knows about one accepted event, in one
    allocation: the raw event map exactly as the producer sent it (so that
    workers get it byte for byte), where its id lies inside those bytes, its
    lane, deadline and attempts, and whom its result goes to. A record is
    always in exactly one place, told by its state: a queue lane, a worker's
    held list, or the delayed set; all three are intrusive lists (zo_rlist_t)
    threaded through the record's prev/next, so moving a record never
    allocates.

    The table is open addressing with linear probing and backward-shift
    deletion, keyed by the id bytes; it never holds two records with the
    same id.
*/
#ifndef ZO_EVTAB_H_INCLUDED
#define ZO_EVTAB_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zo_mp.h"

typedef enum {
    ZO_REC_QUEUED = 0,   /* in a queue lane */
    ZO_REC_INFLIGHT,     /* held by a worker */
    ZO_REC_DELAYED       /* waiting for its retry backoff */
} zo_rec_state_t;

typedef struct _zo_rec_t zo_rec_t;
struct _zo_rec_t {
    zo_rec_t *prev, *next;   /* links of the list the state names */
    uint64_t hash;           /* of the id, zo_evtab_hash */
    uint64_t accept_ns;      /* loop clock at acceptance (latency) */
    uint64_t deadline_ms;    /* absolute, loop clock; 0 = none */
    uint64_t due_ms;         /* ZO_REC_DELAYED: when to queue it again */
    void *worker;            /* ZO_REC_INFLIGHT: the holder (zo_worker_t) */
    char *error;             /* last failure, malloc'd, or NULL */
    uint32_t raw_len;
    uint32_t id_off, id_len; /* the id inside raw */
    uint32_t attempt;        /* deliveries so far */
    uint32_t max_attempts;
    uint8_t prio;            /* zo_prio_t */
    uint8_t state;           /* zo_rec_state_t */
    uint8_t ident_len;       /* producer's ROUTER identity, when want_results */
    bool want_results;
    uint8_t data [];         /* raw event bytes, then the identity */
};

/*  Makes a record holding a copy of raw and of the producer identity (may
    be NULL / 0). id must point inside raw. Everything else is zero; the
    caller fills it in. NULL when out of memory.  */
zo_rec_t *zo_rec_new (zo_span_t raw, zo_span_t id, const void *ident, size_t ident_len);
/*  Frees the record and its error; nulls the pointer.  */
void zo_rec_destroy (zo_rec_t **self_p);

static inline zo_span_t zo_rec_raw (const zo_rec_t *self)
{
    zo_span_t s = { self->data, self->raw_len };
    return s;
}
static inline zo_span_t zo_rec_id (const zo_rec_t *self)
{
    zo_span_t s = { self->data + self->id_off, self->id_len };
    return s;
}
static inline const uint8_t *zo_rec_ident (const zo_rec_t *self)
{
    return self->data + self->raw_len;
}
/*  Replaces the record's last error with a copy of the span (truncated to
    4096 bytes). Keeps the old one when out of memory.  */
void zo_rec_set_error (zo_rec_t *self, zo_span_t error);

/*  An intrusive doubly linked list of records.  */
typedef struct {
    zo_rec_t *head, *tail;
    size_t count;
} zo_rlist_t;

void zo_rlist_push_tail (zo_rlist_t *self, zo_rec_t *rec);
void zo_rlist_push_head (zo_rlist_t *self, zo_rec_t *rec);
/*  Unlinks rec, which must be in this list.  */
void zo_rlist_remove (zo_rlist_t *self, zo_rec_t *rec);
/*  Unlinks and returns the head, or NULL when empty.  */
zo_rec_t *zo_rlist_pop_head (zo_rlist_t *self);

/*  The table.  */
typedef struct _zo_evtab_t zo_evtab_t;

/*  NULL when out of memory.  */
zo_evtab_t *zo_evtab_new (void);
/*  Frees the table and every record still in it.  */
void zo_evtab_destroy (zo_evtab_t **self_p);

/*  The hash every broker module uses for ids (64-bit, never 0).  */
uint64_t zo_evtab_hash (zo_span_t id);

/*  Adds rec (rec->hash must be set). 0, or -1 if a record with that id is
    already there or memory ran out; the table is then unchanged.  */
int zo_evtab_insert (zo_evtab_t *self, zo_rec_t *rec);
/*  The record with this id (hash = zo_evtab_hash (id)), or NULL.  */
zo_rec_t *zo_evtab_find (zo_evtab_t *self, zo_span_t id, uint64_t hash);
/*  Removes rec from the table (does not free it). No-op if absent.  */
void zo_evtab_remove (zo_evtab_t *self, zo_rec_t *rec);
size_t zo_evtab_size (const zo_evtab_t *self);

/*  Calls fn for each record. fn must not change the table; collect
    records first if they are to be removed.  */
typedef void (zo_evtab_fn) (zo_rec_t *rec, void *arg);
void zo_evtab_foreach (zo_evtab_t *self, zo_evtab_fn *fn, void *arg);

#endif
