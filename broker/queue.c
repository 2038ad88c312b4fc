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

zo_rec_t *
zo_queue_pop (zo_queue_t *self)
{
    //  A starved lower lane goes first; the most starved of them if both.
    int pick = -1;
    for (int i = ZO_QUEUE_LANES - 1; i > 0; i--) {
        int lane = s_order [i];
        if (self->skipped [lane] >= ZO_QUEUE_STARVE && self->lanes [lane].count) {
            pick = lane;
            break;
        }
    }
    if (pick < 0)
        for (int i = 0; i < ZO_QUEUE_LANES; i++)
            if (self->lanes [s_order [i]].count) {
                pick = s_order [i];
                break;
            }
    if (pick < 0)
        return NULL;
    //  Every other non-empty lane was passed over once more.
    for (int lane = 0; lane < ZO_QUEUE_LANES; lane++)
        if (lane == pick || !self->lanes [lane].count)
            self->skipped [lane] = 0;
        else
            self->skipped [lane]++;
    return zo_rlist_pop_head (&self->lanes [pick]);
}

void
zo_queue_remove (zo_queue_t *self, zo_rec_t *rec)
{
    assert (rec->state == ZO_REC_QUEUED && rec->prio < ZO_QUEUE_LANES);
    zo_rlist_remove (&self->lanes [rec->prio], rec);
}
