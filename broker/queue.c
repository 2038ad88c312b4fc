/*  queue: three bounded lanes with a starvation guard. See queue.h.  */
#include "queue.h"

#include <assert.h>
#include <string.h>

#include "zo_proto.h"

//  Lanes from most to least urgent.
static const int s_order [ZO_QUEUE_LANES] = { ZO_PRIO_HIGH, ZO_PRIO_NORMAL, ZO_PRIO_LOW };

void
zo_queue_init (zo_queue_t *self, size_t max)
{
    memset (self, 0, sizeof (*self));
    self->max = max;
    self->open = ZO_QUEUE_LANES;
}

size_t
zo_queue_size (const zo_queue_t *self)
{
    return self->lanes [0].count + self->lanes [1].count + self->lanes [2].count;
}

size_t
zo_queue_lane_size (const zo_queue_t *self, int prio)
{
    assert (prio >= 0 && prio < ZO_QUEUE_LANES);
    return self->lanes [prio].count;
}

size_t
zo_queue_room (const zo_queue_t *self)
{
    if (!self->max)
        return SIZE_MAX;
    size_t size = zo_queue_size (self);
    return size >= self->max ? 0 : self->max - size;
}

size_t
zo_queue_ready (const zo_queue_t *self)
{
    //  The low lane is last in s_order: closed, it is left out (a select,
    //  not a branch, on the dispatch path).
    size_t low = self->open < ZO_QUEUE_LANES ? self->lanes [ZO_PRIO_LOW].count : 0;
    return zo_queue_size (self) - low;
}

void
zo_queue_defer_low (zo_queue_t *self, bool on)
{
    self->open = on ? ZO_QUEUE_LANES - 1 : ZO_QUEUE_LANES;
}

bool
zo_queue_low_deferred (const zo_queue_t *self)
{
    return self->open < ZO_QUEUE_LANES;
}

int
zo_queue_push (zo_queue_t *self, zo_rec_t *rec, bool force)
{
    assert (rec->prio < ZO_QUEUE_LANES);
    if (!force && zo_queue_room (self) == 0)
        return -1;
    rec->state = ZO_REC_QUEUED;
    zo_rlist_push_tail (&self->lanes [rec->prio], rec);
    return 0;
}

void
zo_queue_push_front (zo_queue_t *self, zo_rec_t *rec)
{
    assert (rec->prio < ZO_QUEUE_LANES);
    rec->state = ZO_REC_QUEUED;
    zo_rlist_push_head (&self->lanes [rec->prio], rec);
}

//  Only the open lanes (the first self->open of s_order) are looked at,
//  so a deferred low lane costs no branch here.
zo_rec_t *
zo_queue_pop (zo_queue_t *self)
{
    //  A starved lower lane goes first; the most starved of them if both.
    int open = self->open;
    int pick = -1;
    for (int i = open - 1; i > 0; i--) {
        int lane = s_order [i];
        if (self->skipped [lane] >= ZO_QUEUE_STARVE && self->lanes [lane].count) {
            pick = lane;
            break;
        }
    }
    if (pick < 0)
        for (int i = 0; i < open; i++)
            if (self->lanes [s_order [i]].count) {
                pick = s_order [i];
                break;
            }
    if (pick < 0)
        return NULL;
    //  Every other non-empty open lane was passed over once more.
    for (int i = 0; i < open; i++) {
        int lane = s_order [i];
        if (lane == pick || !self->lanes [lane].count)
            self->skipped [lane] = 0;
        else
            self->skipped [lane]++;
    }
    return zo_rlist_pop_head (&self->lanes [pick]);
}

void
zo_queue_remove (zo_queue_t *self, zo_rec_t *rec)
{
    assert (rec->state == ZO_REC_QUEUED && rec->prio < ZO_QUEUE_LANES);
    zo_rlist_remove (&self->lanes [rec->prio], rec);
}
