/*  zo_heartbeat: see zo_heartbeat.h.  */
#include "zo_heartbeat.h"

static uint64_t
s_since (uint64_t now_ms, uint64_t then_ms)
{
    return now_ms > then_ms? now_ms - then_ms: 0;
}

zo_heartbeat_due_t
zo_heartbeat_due (const zo_heartbeat_t *self, uint64_t now_ms, uint64_t interval_ms)
{
    if (s_since (now_ms, self->heard_ms) >= ZO_HEARTBEAT_LIVENESS * interval_ms)
        return ZO_HEARTBEAT_DEAD;
    if (s_since (now_ms, self->sent_ms) >= interval_ms)
        return ZO_HEARTBEAT_SEND;
    return ZO_HEARTBEAT_IDLE;
}

uint64_t
zo_heartbeat_tick_ms (uint64_t interval_ms)
{
    return interval_ms / 4? interval_ms / 4: 1;
}
