/*  l2_int: what the Redis level's files share: the level's record, an
    operation's and a connection's, and the calls each file makes into
    the others. l2.c makes and destroys the level and ends operations;
    l2_conn.c is the two connections (up, down, heartbeats, the URL);
    l2_ops.c is the operations and their replies. Not a public header.

    An operation is a record in the level's list (so that all of them can
    be failed at once) referenced by hiredis: each command sent for it
    holds a reference (its privdata), dropped by its reply callback, which
    hiredis calls exactly once (with NULL when the connection goes). The
    last reference ends the operation: its callback runs and it is freed.
    When the level goes down or is destroyed, its operations are detached
    (op->self NULL) and called back at once; the replies their abandoned
    contexts still owe them then only drop references.

    A context is abandoned by nulling ac->data before freeing it, so that
    its connect, disconnect and subscription callbacks, which find the
    level through ac->data, do nothing. hiredis 0.14 runs onConnect and
    onDisconnect outside its "in a callback" guard, where freeing that
    same context would free it under hiredis's feet: their handlers forget
    the context (conn->ac NULL) before taking the level down, so the
    teardown frees only the other one. Reply callbacks may free their own
    context: hiredis defers that until they return.

    Everything the loop or hiredis calls counts itself in (depth), and a
    zo_l2_destroy from inside frees the memory when the outermost returns.
*/
#ifndef ZO_L2_INT_H_INCLUDED
#define ZO_L2_INT_H_INCLUDED

#include <hiredis/async.h>

#include "l2.h"
#include "zo_backoff.h"
#include "zo_resolve.h"

#define ZO_L2_PORT          6379
#define ZO_L2_CONNECT_MS    2000
#define ZO_L2_COMMAND_MS    1000
#define ZO_L2_BACKOFF_MIN   100
#define ZO_L2_BACKOFF_MAX   5000
#define ZO_L2_INFLIGHT      10000
#define ZO_L2_SCAN_COUNT    "1000"
#define ZO_L2_ADDRS         8       //  of a host name's, tried in turn

typedef enum { S_DOWN, S_RESOLVING, S_CONNECTING, S_UP } l2_state_t;
typedef enum { OP_GET, OP_SET, OP_DEL, OP_TOUCH, OP_INVALIDATE } l2_kind_t;

typedef struct _l2_op_t {
    struct _l2_op_t *prev, *next;
    zo_l2_t *self;                  //  NULL once detached
    l2_kind_t kind;
    int refs;                       //  replies owed, and a teardown's hold
    bool failed;
    zo_level_get_fn *get_fn;
    zo_level_done_fn *done_fn;      //  may be NULL
    void *arg;
    uint64_t count;
    //  A get: the value (a copy), and its expiry from PTTL.
    char *value;
    size_t value_len;
    bool hit, gone;                 //  gone: PTTL said the key is not there
    uint64_t expire_ms;
    //  An invalidation: the MATCH pattern, and the caller's (published).
    char *match, *pattern;
    size_t match_len, pattern_len;
} l2_op_t;

//  One of the two connections.
typedef struct {
    redisAsyncContext *ac;          //  NULL when none
    bool connected;                 //  the TCP connect is done
    bool ready;                     //  answered its first command
    uint32_t pending;               //  commands sent, not answered yet
    uint64_t progress_ms;           //  the last reply, or when pending left 0
} l2_conn_t;

enum { C_HITS, C_MISSES, C_ERRORS, C_SETS, C_DELS, C_INVALIDATED, C_RECONNECTS,
       C_PUBLISHED, C_REMOTE, C_COUNTERS };

struct _zo_l2_t {
    zo_loop_t *loop;
    zo_l2_opts_t opts;              //  defaults applied; strings are ours
    char *prefix, *channel, *tag;   //  tag: node '\n' and the op byte
    size_t prefix_len, channel_len, tag_len, node_len;
    char host [256];
    int port;
    int db;                         //  -1: no SELECT
    bool numeric;                   //  host is an address
    l2_state_t state;
    l2_conn_t cmd, sub;
    zo_resolve_t *resolve;
    int retry;                      //  the next attempt's timer, 0 when none
    uint64_t attempt_ms;            //  when the attempt began
    int ticker;                     //  command timeouts and heartbeats
    zo_backoff_t backoff;           //  the wait before the next attempt
    uint32_t failures;              //  attempts failed since the last up
    bool attempted;
    l2_op_t *head, *tail;
    uint32_t inflight;
    int depth;
    bool doomed;
    char error [256];
    uint64_t *counters [C_COUNTERS];
    double *up, *inflight_gauge;
    uint64_t no_counters [C_COUNTERS];
    double no_gauges [2];
};

static inline void
zo__l2_count (zo_l2_t *self, int counter, uint64_t n)
{
    *self->counters [counter] += n;
}

//  l2.c: the level and its operations' ends.

/*  The wall clock in ms (expiries are wall-clock).  */
uint64_t zo__l2_wall_ms (void);
/*  Frees an operation that is on no list.  */
void zo__l2_op_free (l2_op_t *op);
/*  Counts the outcome and calls the operation's callback, once.  */
void zo__l2_finish (zo_l2_t *self, l2_op_t *op);
/*  Drops a reference; the last one ends the operation.  */
void zo__l2_unref (l2_op_t *op);
/*  Counts a call from the loop or hiredis in (self may be NULL) and
    returns self; zo__l2_leave counts it out, and frees a level destroyed
    meanwhile when the outermost returns.  */
zo_l2_t *zo__l2_enter (zo_l2_t *self);
void zo__l2_leave (zo_l2_t *self);

//  l2_conn.c: the connections.

/*  Closes both connections and fails every operation in flight, whose
    callbacks run now. Callers check doomed after it.  */
void zo__l2_teardown (zo_l2_t *self);
/*  A connection's context reported a NULL reply: hiredis is freeing it;
    the level goes down.  */
void zo__l2_lost (zo_l2_t *self, redisAsyncContext *ac);
/*  A command was sent on conn, or a reply came.  */
void zo__l2_sent (zo_l2_t *self, l2_conn_t *conn);
void zo__l2_replied (zo_l2_t *self, l2_conn_t *conn);
/*  The loop's timers: the next attempt, and the ticker (a quarter of the
    command timeout) that bounds a resolution, drops a stuck connection
    and pings an idle one.  */
int zo__l2_on_retry (zo_loop_t *loop, int id, void *arg);
int zo__l2_on_tick (zo_loop_t *loop, int id, void *arg);
/*  "redis://host[:port][/db]" into self's host, port, db and numeric. 0,
    or -1 with why.  */
int zo__l2_parse_url (zo_l2_t *self, const char *url, char *why, size_t size);

#endif
