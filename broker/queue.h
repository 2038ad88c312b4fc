/*  queue: the broker's waiting events, in three lanes (high, normal, low),
    bounded in total.

    Records are threaded through their own links (zo_rlist_t), so pushing,
    popping and taking one out from the middle (a deadline passed) never
    allocate. Picking is by strict priority with a starvation guard: each
    time a non-empty lower lane is passed over, its skip count goes up, and
    a lane skipped ZO_QUEUE_STARVE times in a row is served next. So under a
    flood of high events, normal and low still get at least one pick in
    every ZO_QUEUE_STARVE + 1.

    The low lane can be deferred (the broker does so under pressure): its
    events stay queued and count against the bound, but are not picked,
    and are not counted as passed over, until it is undeferred.
*/
#ifndef ZO_QUEUE_H_INCLUDED
#define ZO_QUEUE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "evtab.h"

#define ZO_QUEUE_LANES  3     /* by zo_prio_t: 0 normal, 1 high, 2 low */
#define ZO_QUEUE_STARVE 16

typedef struct {
    zo_rlist_t lanes [ZO_QUEUE_LANES];   /* indexed by zo_prio_t */
    unsigned skipped [ZO_QUEUE_LANES];
    size_t max;                          /* bound on total, for producers */
    int open;                            /* lanes picked from, most urgent first: 3, or 2 */
} zo_queue_t;

/*  An empty queue holding at most max events (0 = unbounded).  */
void zo_queue_init (zo_queue_t *self, size_t max);

/*  Events in all lanes, and in one.  */
size_t zo_queue_size (const zo_queue_t *self);
size_t zo_queue_lane_size (const zo_queue_t *self, int prio);
/*  How many more events a producer may add now.  */
size_t zo_queue_room (const zo_queue_t *self);
/*  Events that zo_queue_pop may take now: all, but the low lane's while
    it is deferred.  */
size_t zo_queue_ready (const zo_queue_t *self);

/*  Defers the low lane (on) or lets it be picked again (off).  */
void zo_queue_defer_low (zo_queue_t *self, bool on);
bool zo_queue_low_deferred (const zo_queue_t *self);

/*  Appends rec to the tail of its lane (rec->prio). Fails with -1 when the
    queue is full and force is false; force is for events the broker has
    already acknowledged (retries, redeliveries, a worker's follow-ups).  */
int zo_queue_push (zo_queue_t *self, zo_rec_t *rec, bool force);
/*  Puts rec at the head of its lane, ignoring the bound (an event taken
    back from a worker goes first).  */
void zo_queue_push_front (zo_queue_t *self, zo_rec_t *rec);
/*  Takes the next event to dispatch, or NULL when none may be taken
    (empty, or only deferred events).  */
zo_rec_t *zo_queue_pop (zo_queue_t *self);
/*  Takes rec out of its lane (it must be queued).  */
void zo_queue_remove (zo_queue_t *self, zo_rec_t *rec);

#endif
