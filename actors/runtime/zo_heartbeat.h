/*  zo_heartbeat: the heartbeat rule both ends of a broker-worker link
    follow (proto/PROTOCOL.md, "Heartbeats"): send HEARTBEAT when nothing
    else was sent to the peer for one interval; any message from the peer
    is a sign of life; a peer silent for ZO_HEARTBEAT_LIVENESS intervals
    is dead.

    A zo_heartbeat_t is two timestamps kept in the peer's record; the hot
    path updates them with a plain store (zo_heartbeat_sent / _heard), and
    the actor's ticker (every zo_heartbeat_tick_ms) asks zo_heartbeat_due
    what the peer needs. Nothing here arms a timer per message.
*/
#ifndef ZO_HEARTBEAT_H_INCLUDED
#define ZO_HEARTBEAT_H_INCLUDED

#include <stdint.h>

#define ZO_HEARTBEAT_LIVENESS 3     /* silent intervals before a peer is dead */

typedef struct {
    uint64_t sent_ms;           /* last message to the peer */
    uint64_t heard_ms;          /* last message from the peer */
} zo_heartbeat_t;

typedef enum {
    ZO_HEARTBEAT_IDLE = 0,      /* nothing to do */
    ZO_HEARTBEAT_SEND,          /* send a HEARTBEAT now */
    ZO_HEARTBEAT_DEAD           /* the peer is silent: treat it as gone */
} zo_heartbeat_due_t;

/*  A link that starts now: as if a message went each way.  */
static inline void
zo_heartbeat_start (zo_heartbeat_t *self, uint64_t now_ms)
{
    self->sent_ms = self->heard_ms = now_ms;
}

static inline void
zo_heartbeat_sent (zo_heartbeat_t *self, uint64_t now_ms)
{
    self->sent_ms = now_ms;
}

static inline void
zo_heartbeat_heard (zo_heartbeat_t *self, uint64_t now_ms)
{
    self->heard_ms = now_ms;
}

/*  What the link needs at now_ms with this interval: DEAD before SEND, so
    a dead peer is not sent to. A clock that went back counts as no time
    passed.  */
zo_heartbeat_due_t zo_heartbeat_due (const zo_heartbeat_t *self, uint64_t now_ms,
                                     uint64_t interval_ms);

/*  How often the actor's ticker should look: a quarter interval (at least
    1 ms), so a heartbeat goes out at most a quarter late.  */
uint64_t zo_heartbeat_tick_ms (uint64_t interval_ms);

#endif
