/*  zo_cache: the zorch-cache actor (see cache.h).

    Requests that memory answers are answered at once. Requests that go
    below are an s_req_t each, alive until every level it asked has
    answered: a GET walks down the levels one at a time; a change is sent
    to every level that is up at once and counts their answers; an MGET is
    a parent whose keys are GETs of their own. Background loads
    (refresh-ahead, warm-up) are GETs that nobody waits for.
*/
#include "cache.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "l1.h"
#include "levels.h"
#include "zo_drain.h"
#include "zo_hash.h"
#include "zo_pressure.h"
#include "zo_server.h"
#include "zo_wire.h"

//  Background loads in flight at once (refresh-ahead and warm-up each).
#define S_BACKGROUND_MAX 256
//  Slots remembering recent refreshes, so a key is refreshed once per
//  window however often it is read.
#define S_REFRESH_SLOTS 4096

typedef enum { C_GETS, C_MGETS, C_SETS, C_DELS, C_INVALIDATES, C_TOUCHES,
               C_L1_HITS, C_L1_MISSES, C_MISSES, C_FILLS, C_REFUSED, C_BUSY,
               C_REFRESHES, C_WARM_LOADED, C_WARM_MISSING, C_REMOTE, C_SHED_BYTES,
               C_LEVEL_ERRORS, C_COUNT } s_counter_t;

static const char *s_counter_names [C_COUNT] = {
    "gets_total", "mgets_total", "sets_total", "dels_total",
    "invalidates_total", "touches_total", "l1_hits_total", "l1_misses_total",
    "misses_total", "fills_total", "refused_total", "busy_total", "refresh_total",
    "warmup_loaded_total", "warmup_missing_total", "remote_invalidations_total",
    "memory_shed_bytes_total", "level_errors_total",
};

typedef enum { G_BYTES, G_ENTRIES, G_BUDGET, G_PENDING, G_STEP, G_PRESSURE, G_WARM_KEYS,
               G_COUNT } s_gauge_t;

static const char *s_gauge_names [G_COUNT] = {
    "memory_bytes", "memory_entries", "memory_budget", "pending", "memory_pressure_step",
    "memory_pressure", "warmup_keys",
};

typedef struct s_req s_req_t;

struct _zo_cache_t {
    zo_actor_t *actor;
    zo_loop_t *loop;
    zo_server_t *server;            //  the cache socket
    zo_l1_t *l1;
    uint8_t *scratch;               //  an entry for memory: its expiry, its value
    size_t scratch_size;
    zo_levels_t *levels;            //  redis, postgres; may hold none
    zo_drain_t *drain;
    int ticker;
    //  configuration
    size_t budget;                  //  cache/memory
    size_t limit;                   //  cache/memory_limit: the heap allowed
    size_t max_value;
    uint64_t ttl_ms;                //  SET without ttl_ms (0: never)
    uint64_t memory_ttl_ns;         //  longest memory keeps what is below
    uint32_t refresh_pct;           //  refresh after this much of it
    uint32_t pending_max;
    //  state
    bool stopping;                  //  in zo_cache_destroy
    uint32_t pending;               //  s_req_t alive
    uint32_t background;            //  refreshes and warm-ups in flight
    size_t heap_at_start;
    zo_pressure_t pressure;
    uint64_t refreshed_ns [S_REFRESH_SLOTS];
    char **warm_keys;               //  the warm-up list, loaded in order
    size_t warm_n, warm_next;
    uint64_t *c [C_COUNT];
    double *g [G_COUNT];
};

struct s_req {
    zo_cache_t *cache;
    zo_cmd_t cmd;
    uint64_t seq;
    uint32_t waiting;               //  answers still to come
    uint32_t count;                 //  OK.count: the most one level changed
    int level;                      //  GET: the lower level being asked
    bool background;                //  refresh or warm-up: nobody waits
    bool warm;                      //  a warm-up load
    bool found;                     //  MGET's key: found
    s_req_t *parent;                //  MGET's key: its MGET
    uint32_t index;                 //  ... and its place there
    uint32_t n_values;              //  MGET: keys, and what was found
    zo_span_t *values;              //  (each value malloc'ed; ptr NULL: miss)
    uint8_t ident_len;
    uint8_t ident [255];
    size_t key_len;
    char key [];                    //  the key or pattern, NUL-terminated
};

//  ---------------------------------------------------------------------
//  Replies

static void
s_send (zo_cache_t *self, const void *ident, size_t ident_len, const zo_msg_t *msg)
{
    zo_server_send (self->server, ident, ident_len, msg);
}

static void
s_error (zo_cache_t *self, const void *ident, size_t ident_len, uint64_t seq, zo_err_t code,
         const char *reason)
{
    zo_server_error (self->server, ident, ident_len, seq, code, reason);
}

//  The wall-clock expiry of an entry that lives ttl_ms (0: never).
static uint64_t
s_expire_ms (uint64_t ttl_ms)
{
    return ttl_ms ? zo_clock_wall_ns () / 1000000 + ttl_ms : 0;
}

//  What memory's clock says for an entry expiring at expire_ms on the
//  wall clock, capped at memory_ttl when a lower level holds it too.
static uint64_t
s_memory_expiry (zo_cache_t *self, uint64_t expire_ms)
{
    uint64_t now = zo_loop_now_ns (self->loop);
    uint64_t expire = 0;
    if (expire_ms) {
        uint64_t wall = zo_clock_wall_ns () / 1000000;
        expire = now + (expire_ms > wall ? (expire_ms - wall) * 1000000 : 1);
    }
    if (self->memory_ttl_ns && zo_levels_any (self->levels)) {
        uint64_t cap = now + self->memory_ttl_ns;
        if (!expire || expire > cap)
            expire = cap;
    }
    return expire;
}

//  Memory keeps each value behind the wall-clock expiry it has at every
//  level (8 bytes, charged like the value), since its own expiry may be
//  the shorter memory_ttl: a hit reports the entry's real time to live.
#define S_HEADER 8

static int
s_memory_set (zo_cache_t *self, const void *key, size_t key_len, const void *value, size_t len,
              uint64_t expire_ms)
{
    if (S_HEADER + len > self->scratch_size) {
        uint8_t *grown = realloc (self->scratch, S_HEADER + len);
        if (!grown)
            return -1;
        self->scratch = grown;
        self->scratch_size = S_HEADER + len;
    }
    memcpy (self->scratch, &expire_ms, S_HEADER);
    if (len)
        memcpy (self->scratch + S_HEADER, value, len);
    return zo_l1_set (self->l1, key, key_len, self->scratch, S_HEADER + len,
                      s_memory_expiry (self, expire_ms));
}

//  A hit: 0 with the value (borrowed, as zo_l1_get lends it), its
//  wall-clock expiry (0: never) and memory's own; -1 for a miss.
static int
s_memory_get (zo_cache_t *self, const void *key, size_t key_len, const void **value, size_t *len,
              uint64_t *expire_ms, uint64_t *memory_expire_ns)
{
    const void *entry;
    size_t size;
    if (zo_l1_get (self->l1, key, key_len, zo_loop_now_ns (self->loop), &entry, &size,
                   memory_expire_ns) != 0 || size < S_HEADER)
        return -1;
    memcpy (expire_ms, entry, S_HEADER);
    *value = (const uint8_t *) entry + S_HEADER;
    *len = size - S_HEADER;
    return 0;
}

//  Time left until a wall-clock expiry, for a reply (0: none).
static uint64_t
s_ttl_left (uint64_t expire_ms)
{
    uint64_t wall = zo_clock_wall_ns () / 1000000;
    return expire_ms ? (expire_ms > wall ? expire_ms - wall : 1) : 0;
}

static void
s_reply_value (zo_cache_t *self, const void *ident, size_t ident_len, uint64_t seq,
               const void *value, size_t len, uint64_t ttl_ms, const char *level)
{
    zo_msg_t reply = { .cmd = ZO_CMD_VALUE, .seq = seq, .found = level != NULL };
    if (level) {
        reply.value = (zo_span_t) { value ? value : (const void *) "", (uint32_t) len };
        reply.ttl_ms = ttl_ms;
        reply.level = zo_span_str (level);
    }
    s_send (self, ident, ident_len, &reply);
}

//  ---------------------------------------------------------------------
//  Requests that wait for the levels below

static s_req_t *
s_req_new (zo_cache_t *self, zo_cmd_t cmd, const void *ident, size_t ident_len, uint64_t seq,
           const void *key, size_t key_len)
{
    s_req_t *req = calloc (1, sizeof *req + key_len + 1);
    if (!req)
        return NULL;
    req->cache = self;
    req->cmd = cmd;
    req->seq = seq;
    if (ident) {
        req->ident_len = (uint8_t) (ident_len > sizeof req->ident ? sizeof req->ident : ident_len);
        memcpy (req->ident, ident, req->ident_len);
    }
    req->key_len = key_len;
    memcpy (req->key, key, key_len);
    req->key [key_len] = 0;
    self->pending++;
    return req;
}

static void
s_req_free (s_req_t *req)
{
    zo_cache_t *self = req->cache;
    for (uint32_t i = 0; req->values && i < req->n_values; i++)
        free ((void *) req->values [i].ptr);
    free (req->values);
    if (req->background)
        self->background--;
    self->pending--;
    free (req);
}

static void s_lookup (s_req_t *req);
static void s_warm_pump (zo_cache_t *self);

//  A GET below ended: found at level (value lent) or not (level < 0).
static void
s_lookup_end (s_req_t *req, int level, const void *value, size_t len, uint64_t expire_ms)
{
    zo_cache_t *self = req->cache;
    bool found = level >= 0;
    if (!found && !req->background)
        (*self->c [C_MISSES])++;
    if (req->warm)
        (*self->c [found ? C_WARM_LOADED : C_WARM_MISSING])++;
    if (req->background) {
        //  Nobody waits: the fill above was all it was for.
    }
    else
    if (req->parent) {
        s_req_t *parent = req->parent;
        if (found) {
            void *copy = malloc (len ? len : 1);
            if (copy) {
                memcpy (copy, value, len);
                parent->values [req->index] = (zo_span_t) { copy, (uint32_t) len };
            }
        }
        if (--parent->waiting == 0) {
            zo_msg_t reply = { .cmd = ZO_CMD_VALUES, .seq = parent->seq,
                               .values = parent->values, .n_values = parent->n_values };
            s_send (self, parent->ident, parent->ident_len, &reply);
            s_req_free (parent);
        }
    }
    else
        s_reply_value (self, req->ident, req->ident_len, req->seq, value, len,
                       s_ttl_left (expire_ms), found ? zo_levels_name (self->levels, level) : NULL);
    bool warm = req->warm;
    s_req_free (req);
    if (warm)
        s_warm_pump (self);
}

static void
s_on_level_get (void *arg, zo_level_rc_t rc, const void *value, size_t len, uint64_t expire_ms)
{
    s_req_t *req = (s_req_t *) arg;
    zo_cache_t *self = req->cache;
    if (rc == ZO_LEVEL_ERROR)
        (*self->c [C_LEVEL_ERRORS])++;
    if (rc != ZO_LEVEL_HIT) {
        req->level++;
        s_lookup (req);
        return;
    }
    //  Fill the levels above: memory (unless under pressure), and the
    //  lower levels above this one.
    if (self->pressure.step < 2
    &&  s_memory_set (self, req->key, req->key_len, value, len, expire_ms) == 0)
        (*self->c [C_FILLS])++;
    for (int above = 0; above < req->level; above++)
        zo_levels_set (self->levels, above, req->key, req->key_len, value, len, expire_ms,
                       NULL, NULL);
    s_lookup_end (req, req->level, value, len, expire_ms);
}

//  Asks the next lower level that is up, from req->level down.
static void
s_lookup (s_req_t *req)
{
    zo_cache_t *self = req->cache;
    for (; req->level < zo_levels_size (self->levels); req->level++)
        if (zo_levels_get (self->levels, req->level, req->key, req->key_len,
                           s_on_level_get, req) == 0)
            return;
    s_lookup_end (req, -1, NULL, 0, 0);
}

//  A GET that memory missed, for a client (ident), an MGET (parent) or
//  nobody (background). Answered at once when no level below can be asked.
static void
s_get_below (zo_cache_t *self, const void *ident, size_t ident_len, uint64_t seq, const void *key,
             size_t key_len, s_req_t *parent, uint32_t index, bool background)
{
    s_req_t *req = s_req_new (self, ZO_CMD_GET, ident, ident_len, seq, key, key_len);
    if (!req) {
        if (ident)
            s_error (self, ident, ident_len, seq, ZO_ERR_QUEUE_FULL, "out of memory");
        return;
    }
    req->parent = parent;
    req->index = index;
    if (background) {
        req->background = true;
        self->background++;
    }
    s_lookup (req);
}

//  A change answered by the levels below: the reply goes when the last
//  has answered.
static void
s_on_level_done (void *arg, int rc, uint64_t count)
{
    s_req_t *req = (s_req_t *) arg;
    zo_cache_t *self = req->cache;
    if (rc < 0)
        (*self->c [C_LEVEL_ERRORS])++;
    else
    if (count > req->count)
        req->count = count > UINT32_MAX ? UINT32_MAX : (uint32_t) count;
    if (--req->waiting)
        return;
    zo_msg_t reply = { .cmd = ZO_CMD_OK, .seq = req->seq, .count = req->count };
    s_send (self, req->ident, req->ident_len, &reply);
    s_req_free (req);
}

//  ---------------------------------------------------------------------
//  Commands

//  Whether a request that may go below can be taken now.
static bool
s_room (zo_cache_t *self, const void *ident, size_t ident_len, uint64_t seq)
{
    if (self->pending < self->pending_max)
        return true;
    (*self->c [C_BUSY])++;
    char reason [96];
    snprintf (reason, sizeof reason, "%u requests wait for the levels below (cache/pending_max)",
              self->pending);
    s_error (self, ident, ident_len, seq, ZO_ERR_QUEUE_FULL, reason);
    return false;
}

//  Starts a refresh of a key memory just served, when it is in the last
//  part of its memory lifetime and was not refreshed in this window.
static void
s_maybe_refresh (zo_cache_t *self, const void *key, size_t key_len, uint64_t expire_ns)
{
    if (!self->refresh_pct || !expire_ns || self->pressure.step >= 1
    ||  self->background >= S_BACKGROUND_MAX || !zo_levels_any (self->levels))
        return;
    uint64_t now = zo_loop_now_ns (self->loop);
    uint64_t window = self->memory_ttl_ns / 100 * (100 - self->refresh_pct);
    if (expire_ns > now + window)
        return;
    uint64_t *slot = &self->refreshed_ns [zo_hash (key, key_len) & (S_REFRESH_SLOTS - 1)];
    if (*slot && now - *slot < window)
        return;
    *slot = now;
    (*self->c [C_REFRESHES])++;
    s_get_below (self, NULL, 0, 0, key, key_len, NULL, 0, true);
}

static void
s_on_get (zo_cache_t *self, const void *ident, size_t ident_len, const zo_msg_t *msg)
{
    (*self->c [C_GETS])++;
    const void *value;
    size_t len;
    uint64_t expire_ms, expire_ns;
    if (s_memory_get (self, msg->key.ptr, msg->key.len, &value, &len, &expire_ms, &expire_ns) == 0) {
        (*self->c [C_L1_HITS])++;
        s_reply_value (self, ident, ident_len, msg->seq, value, len, s_ttl_left (expire_ms),
                       "memory");
        s_maybe_refresh (self, msg->key.ptr, msg->key.len, expire_ns);
        return;
    }
    (*self->c [C_L1_MISSES])++;
    if (!zo_levels_any (self->levels)) {
        (*self->c [C_MISSES])++;
        s_reply_value (self, ident, ident_len, msg->seq, NULL, 0, 0, NULL);
        return;
    }
    if (s_room (self, ident, ident_len, msg->seq))
        s_get_below (self, ident, ident_len, msg->seq, msg->key.ptr, msg->key.len, NULL, 0, false);
}

static void
s_on_mget (zo_cache_t *self, const void *ident, size_t ident_len, const zo_msg_t *msg)
{
    (*self->c [C_MGETS])++;
    if (!s_room (self, ident, ident_len, msg->seq))
        return;
    s_req_t *parent = s_req_new (self, ZO_CMD_MGET, ident, ident_len, msg->seq, "", 0);
    zo_span_t *values = parent ? calloc (msg->n_ids, sizeof *values) : NULL;
    if (!values) {
        if (parent)
            s_req_free (parent);
        s_error (self, ident, ident_len, msg->seq, ZO_ERR_QUEUE_FULL, "out of memory");
        return;
    }
    parent->values = values;
    parent->n_values = msg->n_ids;
    //  One more than the keys sent below, so that the reply goes once,
    //  after this loop, when everything was in memory.
    parent->waiting = 1;
    for (uint32_t i = 0; i < msg->n_ids; i++) {
        const void *value;
        size_t len;
        uint64_t expire_ms, expire_ns;
        if (s_memory_get (self, msg->ids [i].ptr, msg->ids [i].len, &value, &len, &expire_ms,
                          &expire_ns) == 0) {
            (*self->c [C_L1_HITS])++;
            void *copy = malloc (len ? len : 1);
            if (copy)
                memcpy (copy, value, len);
            values [i] = (zo_span_t) { copy, (uint32_t) len };
            continue;
        }
        (*self->c [C_L1_MISSES])++;
        if (!zo_levels_any (self->levels)) {
            (*self->c [C_MISSES])++;
            continue;
        }
        parent->waiting++;
        s_get_below (self, NULL, 0, 0, msg->ids [i].ptr, msg->ids [i].len, parent, i, false);
    }
    //  The sentinel: reply now if nothing went below, else when the last
    //  key comes back (s_lookup_end).
    if (--parent->waiting == 0) {
        zo_msg_t reply = { .cmd = ZO_CMD_VALUES, .seq = msg->seq, .values = values,
                           .n_values = msg->n_ids };
        s_send (self, ident, ident_len, &reply);
        s_req_free (parent);
    }
}

//  SET, DEL, TOUCH and INVALIDATE: memory first, then every level below
//  that is up; OK once they have all answered.
static void
s_on_change (zo_cache_t *self, const void *ident, size_t ident_len, const zo_msg_t *msg)
{
    uint64_t count = 0;
    uint64_t expire_ms = 0;
    zo_span_t key = msg->cmd == ZO_CMD_INVALIDATE ? msg->pattern : msg->key;
    switch (msg->cmd) {
        case ZO_CMD_SET:
            (*self->c [C_SETS])++;
            if (msg->value.len > self->max_value) {
                (*self->c [C_REFUSED])++;
                char reason [128];
                snprintf (reason, sizeof reason, "value of %u bytes, cache/max_value is %zu",
                          msg->value.len, self->max_value);
                s_error (self, ident, ident_len, msg->seq, ZO_ERR_TOO_LARGE, reason);
                return;
            }
            expire_ms = s_expire_ms (msg->ttl_ms ? msg->ttl_ms : self->ttl_ms);
            //  Under hard pressure a new value goes below only, when
            //  there is a below.
            if (self->pressure.step < 3 || !zo_levels_any (self->levels))
                s_memory_set (self, key.ptr, key.len, msg->value.ptr, msg->value.len, expire_ms);
            else
                zo_l1_del (self->l1, key.ptr, key.len);
            count = 1;
            break;
        case ZO_CMD_DEL:
            (*self->c [C_DELS])++;
            count = zo_l1_del (self->l1, key.ptr, key.len) == 0;
            break;
        case ZO_CMD_TOUCH: {
            (*self->c [C_TOUCHES])++;
            expire_ms = s_expire_ms (msg->ttl_ms);
            //  The same value again with its new expiry (s_memory_set
            //  copies it before memory lets go of the old entry).
            const void *value;
            size_t len;
            uint64_t old_ms, old_ns;
            count = s_memory_get (self, key.ptr, key.len, &value, &len, &old_ms, &old_ns) == 0
                 && s_memory_set (self, key.ptr, key.len, value, len, expire_ms) == 0;
            break;
        }
        default: {
            (*self->c [C_INVALIDATES])++;
            char pattern [ZO_MAX_KEY + 1];
            memcpy (pattern, key.ptr, key.len);
            pattern [key.len] = 0;
            count = zo_l1_invalidate (self->l1, pattern);
            break;
        }
    }
    if (!zo_levels_any (self->levels)) {
        zo_msg_t reply = { .cmd = ZO_CMD_OK, .seq = msg->seq, .count = (uint32_t) count };
        s_send (self, ident, ident_len, &reply);
        return;
    }
    if (!s_room (self, ident, ident_len, msg->seq))
        return;
    s_req_t *req = s_req_new (self, msg->cmd, ident, ident_len, msg->seq, key.ptr, key.len);
    if (!req) {
        s_error (self, ident, ident_len, msg->seq, ZO_ERR_QUEUE_FULL, "out of memory");
        return;
    }
    req->waiting = 1;           //  the sentinel, dropped below
    for (int level = 0; level < zo_levels_size (self->levels); level++) {
        int rc;
        switch (msg->cmd) {
            case ZO_CMD_SET:
                rc = zo_levels_set (self->levels, level, key.ptr, key.len, msg->value.ptr,
                                    msg->value.len, expire_ms, s_on_level_done, req);
                break;
            case ZO_CMD_DEL:
                rc = zo_levels_del (self->levels, level, key.ptr, key.len, s_on_level_done, req);
                break;
            case ZO_CMD_TOUCH:
                rc = zo_levels_touch (self->levels, level, key.ptr, key.len, expire_ms,
                                      s_on_level_done, req);
                break;
            default:
                rc = zo_levels_invalidate (self->levels, level, req->key, req->key_len,
                                           s_on_level_done, req);
                break;
        }
        if (rc == 0)
            req->waiting++;
    }
    s_on_level_done (req, 0, count);
}

//  A request from the cache socket (zo_server answers PING, GET_STATS and
//  what it rejects).
static int
s_on_request (void *arg, const void *ident, size_t ident_len, const zo_msg_t *msg)
{
    zo_cache_t *self = (zo_cache_t *) arg;
    switch (msg->cmd) {
        case ZO_CMD_GET: s_on_get (self, ident, ident_len, msg); return 0;
        case ZO_CMD_MGET: s_on_mget (self, ident, ident_len, msg); return 0;
        case ZO_CMD_SET:
        case ZO_CMD_DEL:
        case ZO_CMD_TOUCH:
        case ZO_CMD_INVALIDATE: s_on_change (self, ident, ident_len, msg); return 0;
        default: return -1;
    }
}

//  ---------------------------------------------------------------------
//  Coherence, warm-up, pressure, stats

//  Another cache actor changed a key or a pattern: memory drops it.
static void
s_on_remote (void *arg, bool pattern, const void *key, size_t len)
{
    zo_cache_t *self = (zo_cache_t *) arg;
    (*self->c [C_REMOTE])++;
    if (!pattern) {
        zo_l1_del (self->l1, key, len);
        return;
    }
    char glob [ZO_MAX_KEY + 1];
    if (len > ZO_MAX_KEY) {
        zo_l1_clear (self->l1);     //  cannot be one of ours: be safe
        return;
    }
    memcpy (glob, key, len);
    glob [len] = 0;
    zo_l1_invalidate (self->l1, glob);
}

//  Loads the next keys of the warm-up list while below is up and there
//  is room.
static void
s_warm_pump (zo_cache_t *self)
{
    while (!self->stopping && self->warm_next < self->warm_n && self->background < S_BACKGROUND_MAX
       &&  self->pressure.step < 1 && zo_levels_up (self->levels)) {
        const char *key = self->warm_keys [self->warm_next++];
        s_req_t *req = s_req_new (self, ZO_CMD_GET, NULL, 0, 0, key, strlen (key));
        if (!req)
            return;
        req->background = req->warm = true;
        self->background++;
        s_lookup (req);
    }
}

static void
s_on_level_state (void *arg, int level, bool up, const char *error)
{
    zo_cache_t *self = (zo_cache_t *) arg;
    const char *name = zo_levels_name (self->levels, level);
    if (up)
        zo_log_info ("cache: %s is up", name);
    else
        zo_log_warning ("cache: %s is down: %s", name, error ? error : "?");
    if (up)
        s_warm_pump (self);
}

static int
s_load_warmup (zo_cache_t *self, const char *path)
{
    if (!path || !*path)
        return 0;
    FILE *file = fopen (path, "r");
    if (!file) {
        zo_log_error ("cache: cannot read the warm-up list %s", path);
        return -1;
    }
    char line [ZO_MAX_KEY + 2];
    size_t cap = 0;
    while (fgets (line, sizeof line, file)) {
        size_t len = strcspn (line, "\r\n");
        line [len] = 0;
        if (len == 0 || len > ZO_MAX_KEY)
            continue;
        if (self->warm_n == cap) {
            cap = cap ? cap * 2 : 256;
            char **grown = realloc (self->warm_keys, cap * sizeof *grown);
            if (!grown)
                break;
            self->warm_keys = grown;
        }
        if (!(self->warm_keys [self->warm_n] = strdup (line)))
            break;
        self->warm_n++;
    }
    fclose (file);
    *self->g [G_WARM_KEYS] = (double) self->warm_n;
    return 0;
}

//  Every tick: memory pressure, then the gauges. From step 2, memory
//  gives up a tenth of what it holds each tick the heap stays at 90 % or
//  more (half of it at step 3); its budget comes back once the step falls
//  under 2.
static void
s_update (zo_cache_t *self)
{
    size_t heap = zo_heap_bytes ();
    size_t used = heap > self->heap_at_start ? heap - self->heap_at_start : 0;
    int before = self->pressure.step;
    int step = zo_pressure_update (&self->pressure, (double) used / (double) self->limit);
    size_t held = zo_l1_stats (self->l1).bytes;
    if (step >= 2 && self->pressure.fraction >= 0.90) {
        size_t budget = step >= 3 ? held / 2 : held / 10 * 9;
        zo_l1_set_budget (self->l1, budget);
        size_t after = zo_l1_stats (self->l1).bytes;
        *self->c [C_SHED_BYTES] += held - after;
        zo_log_warning ("cache: memory pressure step %d (heap %zu of %zu bytes): %zu bytes shed, "
                        "memory level budget now %zu", step, used, self->limit, held - after,
                        zo_l1_stats (self->l1).budget);
    }
    else
    if (step < 2 && zo_l1_stats (self->l1).budget != self->budget)
        zo_l1_set_budget (self->l1, self->budget);
    if (step != before) {
        zo_log_warning ("cache: memory pressure step %d -> %d (heap %zu of %zu bytes)", before, step,
                        used, self->limit);
        if (step < 1)
            s_warm_pump (self);
    }
    zo_l1_stats_t st = zo_l1_stats (self->l1);
    *self->g [G_BYTES] = (double) st.bytes;
    *self->g [G_ENTRIES] = (double) st.entries;
    *self->g [G_BUDGET] = (double) st.budget;
    *self->g [G_PENDING] = (double) self->pending;
    *self->g [G_STEP] = (double) step;
    *self->g [G_PRESSURE] = self->pressure.fraction;
}

static int
s_on_tick (zo_loop_t *loop, int id, void *arg)
{
    s_update ((zo_cache_t *) arg);
    return 0;
}

static void
s_on_stats (void *arg)
{
    s_update ((zo_cache_t *) arg);
}

static int
s_on_drain (void *arg, int signum)
{
    zo_log_info ("cache: %s, stopping", signum == 2 ? "SIGINT" : "SIGTERM");
    return -1;
}

//  ---------------------------------------------------------------------

zo_cache_t *
zo_cache_new (zo_actor_t *actor)
{
    assert (actor);
    zo_cache_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->actor = actor;
    self->loop = actor->loop;
    self->ticker = -1;
    zo_conf_t *conf = actor->conf;
    for (int i = 0; i < C_COUNT; i++)
        self->c [i] = zo_stats_counter (actor->stats, s_counter_names [i]);
    for (int i = 0; i < G_COUNT; i++)
        self->g [i] = zo_stats_gauge (actor->stats, s_gauge_names [i]);

    size_t max_frame = zo_wire_conf_max_frame (conf);
    const char *endpoint = zo_conf_endpoint (conf, "cache/endpoint", "tcp://127.0.0.1:7013");
    self->budget = (size_t) zo_conf_size_range (conf, "cache/memory", 64 << 20, 64 << 10,
                                                (uint64_t) 1 << 40);
    self->limit = (size_t) zo_conf_size_range (conf, "cache/memory_limit", 0, 0, (uint64_t) 1 << 41);
    const char *policy_name = zo_conf_str (conf, "cache/policy", "tinylfu");
    int policy = zo_l1_policy_parse (policy_name);
    self->max_value = (size_t) zo_conf_size_range (conf, "cache/max_value", 512 << 10, 1,
                                                   max_frame - 2048);
    self->ttl_ms = zo_conf_ms_range (conf, "cache/ttl", 3600000, 0, 365ull * 86400000);
    self->memory_ttl_ns = zo_conf_ms_range (conf, "cache/memory_ttl", 60000, 0, 365ull * 86400000)
                        * 1000000;
    self->refresh_pct = (uint32_t) zo_conf_int_range (conf, "cache/refresh_ahead", 80, 0, 99);
    self->pending_max = (uint32_t) zo_conf_int_range (conf, "cache/pending_max", 10000, 1, 1000000);
    const char *warmup = zo_conf_str (conf, "cache/warmup", "");
    if (policy < 0)
        zo_conf_refuse (conf, "cache/policy = %s is not tinylfu or lru", policy_name);
    if (!self->limit)
        self->limit = self->budget / 2 * 3;
    zo_levels_opts_t lo = { .on_state = s_on_level_state, .on_remote = s_on_remote, .arg = self,
                            .stats = actor->stats, .node = actor->name };
    if (zo_conf_bad (conf)
    ||  !(self->levels = zo_levels_new (self->loop, conf, &lo))) {
        zo_log_error ("cache: bad configuration: %s", zo_conf_errstr (conf));
        goto err;
    }
    if (!(self->l1 = zo_l1_new (self->budget, (zo_l1_policy_t) policy))) {
        zo_log_error ("cache: out of memory at start-up");
        goto err;
    }
    if (s_load_warmup (self, warmup)
    ||  !(self->server = zo_server_new (actor, endpoint, max_frame, "cache", s_on_request,
                                        s_on_stats, self)))
        goto err;
    uint64_t interval = zo_conf_ms_range (conf, "stats/interval", 1000, 0, 3600000);
    if ((self->ticker = zo_loop_ticker (self->loop, interval ? interval : 1000, s_on_tick, self)) < 0
    ||  !(self->drain = zo_drain_new (self->loop, 0, s_on_drain, NULL, self))) {
        zo_log_error ("cache: cannot set up its loop");
        goto err;
    }
    self->heap_at_start = zo_heap_bytes ();
    s_update (self);
    zo_log_info ("cache: ready on %s, memory %zu bytes (%s), limit %zu, %s, %zu warm-up keys",
                 endpoint, self->budget, zo_l1_policy_name ((zo_l1_policy_t) policy), self->limit,
                 zo_levels_describe (self->levels), self->warm_n);
    return self;
err:
    zo_cache_destroy (&self);
    return NULL;
}

void
zo_cache_destroy (zo_cache_t **self_p)
{
    assert (self_p);
    zo_cache_t *self = *self_p;
    if (!self)
        return;
    if (self->ticker > 0)
        zo_loop_cancel (self->loop, self->ticker);
    zo_drain_destroy (&self->drain);
    self->stopping = true;
    //  The levels fail what they hold: every request is freed by its
    //  callbacks.
    zo_levels_destroy (&self->levels);
    zo_server_destroy (&self->server);
    for (size_t i = 0; i < self->warm_n; i++)
        free (self->warm_keys [i]);
    free (self->warm_keys);
    zo_l1_destroy (&self->l1);
    free (self->scratch);
    free (self);
    *self_p = NULL;
}
