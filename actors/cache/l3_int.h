/*  l3_int: what the PostgreSQL level's files share: the statements, an
    operation's record and the level's, and the calls each file makes into
    the others. l3.c holds the statements, the operations, the answers and
    the interface; l3_inv.c the invalidations; l3_conn.c the connection
    (setup, retries, the watchdog) and the cleanup. Not a public header.

    Every request on the connection carries an operation: the caller's
    (get ... invalidate) and the level's own (the setup after a connect,
    the cleanup). The ones waiting for an answer are on a list, so that
    zo_l3_destroy finds them.

    Callbacks may destroy the level. Handlers count themselves in (depth)
    and the memory goes when the last one leaves. One case needs more:
    when the server goes away, zo_pq fails its requests one by one and then
    calls on_state, even if a failed request's callback destroyed the
    connection meanwhile; so the level outlives that on_state (pq_dying),
    and an operation whose answer comes after zo_l3_destroy was detached
    from the level (its caller heard ERROR already): it is only freed.
*/
#ifndef ZO_L3_INT_H_INCLUDED
#define ZO_L3_INT_H_INCLUDED

#include <stdlib.h>

#include "l3.h"
#include "zo_backoff.h"
#include "zo_pq.h"

#define ZO_L3_HEADROOM      16      //  requests besides operations

//  Type OIDs (catalog/pg_type_d.h, not in libpq's headers).
#define ZO_L3_BYTEA         17
#define ZO_L3_INT8          20
#define ZO_L3_BYTEA_ARRAY   1001

//  The statements (zo__l3_stmts, in l3.c), prepared on each connect.
enum { P_GET, P_SET, P_DEL, P_TOUCH, P_CLEANUP, P_LIKE, P_LIKE_OPEN, P_SCAN, P_SCAN_OPEN,
       P_DEL_KEYS, P_COUNT };

typedef struct {
    const char *name;
    const char *sql;
    int n_params;
    Oid types [4];
} zo__l3_stmt_t;

extern const zo__l3_stmt_t zo__l3_stmts [P_COUNT];

//  The setup before them, in order.
enum { Q_QUIET, Q_TIMEOUT, Q_TABLE, Q_INDEX, Q_COUNT };
//  The connection takes max_inflight operations and the level's own
//  requests: the whole setup, or a cleanup batch.
_Static_assert (Q_COUNT + P_COUNT <= ZO_L3_HEADROOM, "room for the setup");

typedef enum { K_GET, K_SET, K_DEL, K_TOUCH, K_INVALIDATE, K_SETUP, K_CLEANUP } l3_kind_t;

typedef struct _l3_op_t {
    struct _l3_op_t *prev, *next;   //  the level's list
    zo_l3_t *self;                  //  NULL once detached by zo_l3_destroy
    l3_kind_t kind;
    zo_level_get_fn *get_fn;
    zo_level_done_fn *done_fn;
    void *arg;
    //  An invalidation, which takes several requests.
    uint64_t count;                 //  rows deleted so far
    bool glob;                      //  with a class: scan and fnmatch
    bool deleting;                  //  glob: this request deletes a page's matches
    bool more;                      //  glob: that page was full
    char *pattern;                  //  the LIKE pattern; the glob (NUL-terminated)
    size_t pattern_len;
    unsigned char *lo, *hi;         //  the key range: lo <= key < hi (hi NULL: open)
    size_t lo_len, hi_len;
} l3_op_t;

struct _zo_l3_t {
    zo_loop_t *loop;
    zo_l3_opts_t opts;              //  its strings are ours below
    char *conninfo;
    char *sql [P_COUNT];
    char *setup [Q_COUNT];
    zo_pq_t *pq;                    //  NULL after a failed setup, until the retry
    bool up;                        //  connected, and the setup done
    bool down_told;                 //  on_state (false) said since the last up
    uint32_t setup_left;            //  setup requests not answered yet
    int retry_timer, cleanup_timer, watchdog_timer;
    uint64_t answered_ms;           //  the last answer, or when requests began
    zo_backoff_t backoff;           //  the wait before the next retry
    bool cleaning;
    l3_op_t *ops;                   //  waiting for an answer
    uint32_t inflight;              //  the caller's among them
    uint64_t rejected_log_ms;
    char *keybuf;                   //  a key NUL-terminated, for fnmatch
    size_t keybuf_size;
    int depth;
    bool doomed, pq_dying;
    //  Metrics, pointing into opts.stats, or at the sinks without one.
    uint64_t *hits, *misses, *errors, *sets, *dels, *invalidated, *expired, *reconnects,
             *rejected;
    double *g_up, *g_inflight;
    uint64_t sink [9];
    double gsink [2];
};

//  Big-endian, as the binary format has them.
static inline void
zo__l3_put64 (unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p [i] = (unsigned char) v;
}

//  The rows a command changed, from its tag.
static inline uint64_t
zo__l3_rows (const PGresult *res)
{
    return strtoull (PQcmdTuples ((PGresult *) res), NULL, 10);
}

//  l3.c: operations and answers.

/*  On the level's list, or off it (the in-flight gauge follows).  */
void zo__l3_link (zo_l3_t *self, l3_op_t *op);
void zo__l3_unlink (zo_l3_t *self, l3_op_t *op);
/*  Frees an operation that is on no list, errno kept.  */
void zo__l3_op_free (l3_op_t *op);
/*  The operation ended: off the list, counted, its caller told.  */
void zo__l3_finish (zo_l3_t *self, l3_op_t *op, bool ok, zo_level_rc_t rc, const void *value,
                    size_t len, uint64_t expire_ms);
/*  Sends statement stmt for op, every parameter binary, results binary.
    0, or -1 with errno (EIO, the connection failing, as ENOTCONN).  */
int zo__l3_send (zo_l3_t *self, l3_op_t *op, int stmt, const char *const *values,
                 const int *lengths);
/*  Every request's answer (zo_pq's callback).  */
void zo__l3_on_result (zo_pq_t *pq, const PGresult *res, const char *error, void *arg);
/*  Counts a handler out; the last one out frees a destroyed level.  */
void zo__l3_leave (zo_l3_t *self);

//  l3_inv.c: invalidation.

/*  Reads the glob into op: the literal prefix (lo, hi), and either the
    LIKE pattern or, with a class, the glob for fnmatch. 0, or -1 with
    errno (ENOMEM; EINVAL for a NUL byte in a glob with a class).  */
int zo__l3_inv_parse (l3_op_t *op, const char *glob, size_t len);
/*  The next request of an invalidation: a LIKE batch, a page of keys, or
    the deletion of a page's matches (in array, array_len).  */
int zo__l3_inv_send (zo_l3_t *self, l3_op_t *op, const unsigned char *array, size_t array_len);
/*  An invalidation's request answered: the next one, or the end.  */
void zo__l3_on_invalidate (zo_l3_t *self, l3_op_t *op, const PGresult *res);

//  l3_conn.c: the connection and the cleanup.

/*  A setup request answered.  */
void zo__l3_on_setup (zo_l3_t *self, l3_op_t *op, zo_pq_t *pq, const PGresult *res,
                      const char *error);
/*  The connection's on_state: up starts the setup, down the retries.  */
void zo__l3_on_pq_state (zo_pq_t *pq, bool up, const char *error, void *arg);
/*  A connection that answers nothing for this long while requests wait is
    taken for dead; the watchdog ticker checks.  */
uint64_t zo__l3_hung_ms (const zo_l3_t *self);
int zo__l3_on_watchdog (zo_loop_t *loop, int id, void *arg);
/*  The cleanup's ticker, and a batch of it answered.  */
int zo__l3_on_cleanup_tick (zo_loop_t *loop, int id, void *arg);
void zo__l3_on_cleanup (zo_l3_t *self, l3_op_t *op, const PGresult *res, const char *error);

#endif
