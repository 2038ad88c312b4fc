/*  level: what the cache's lower levels share, so that the actor drives
    Redis (l2.c) and PostgreSQL (l3.c) the same way.

    A lower level is a connection (or two) on the actor's loop that
    reconnects by itself with backoff and says when it goes up or down.
    Every operation is asynchronous: it returns 0 and its callback runs
    exactly once, later, from the loop (never from inside the call); or it
    returns -1 at once (errno ENOTCONN: the level is down; EAGAIN: too much
    in flight; ENOMEM) and the callback never runs. Keys and values are
    copied before the call returns.

    Expiry is absolute wall-clock time in milliseconds since the epoch
    (zo_clock_wall_ns () / 1000000), because the levels are shared by
    actors on several hosts; 0 means never.
*/
#ifndef ZO_LEVEL_H_INCLUDED
#define ZO_LEVEL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  How a lookup ended.  */
typedef enum {
    ZO_LEVEL_ERROR = -1,    /* the level failed (down, timed out, refused) */
    ZO_LEVEL_MISS = 0,      /* not there, or expired */
    ZO_LEVEL_HIT = 1
} zo_level_rc_t;

/*  A lookup ended: on a hit, value (lent until the callback returns) and
    its expiry (0: never).  */
typedef void (zo_level_get_fn) (void *arg, zo_level_rc_t rc, const void *value, size_t len,
                                uint64_t expire_ms);
/*  A change ended: rc 0 with count, the keys it changed (SET: 1; DEL and
    TOUCH: 1 if the key was there, else 0; INVALIDATE: keys removed), or
    rc -1 (count 0) when the level failed.  */
typedef void (zo_level_done_fn) (void *arg, int rc, uint64_t count);
/*  The level came up (error NULL) or went down (error says why; the text
    lives until the callback returns).  */
typedef void (zo_level_state_fn) (void *arg, bool up, const char *error);

#endif
