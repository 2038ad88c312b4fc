/*  zorch/handler.h: the API of custom zorch-worker handlers (version 2).

    A handler is a shared object the worker loads with dlopen. It exports
        const zo_handler_plugin_t zorch_handler_v2 = { ZO_HANDLER_ABI, ... };
    (or another symbol named by the route's `symbol` option). Routes use it
    with `handler = plugin` + `path = /x/upper.so`, or `handler = upper`,
    found as <worker/plugin_dir>/upper.so.

    Everything runs on the worker's one thread, inside its event loop: never
    block and never start threads that call this API. A handler starts an
    event in start() and completes it then or later, from a timer or an fd
    callback, with zo_handler_complete(). Thousands of events may be in
    flight at once, each with its own zo_handler_t handle.

    Values (payloads, results, emitted payloads) are msgpack bytes; the
    *_json variants take JSON text instead. Strings are NUL-terminated.
    Depends on nothing but <stddef.h> and <stdint.h>.
*/
#ifndef ZORCH_HANDLER_H_INCLUDED
#define ZORCH_HANDLER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  2: init receives the worker's context (zo_handler_ctx_t).  */
#define ZO_HANDLER_ABI 2

/*  One event in flight. Opaque; a stale handle (its event already
    completed or cancelled) is detected and ignored by every call.  */
typedef struct zo_handler zo_handler_t;
/*  A route's options (the keys of its `route` section). Opaque.  */
typedef struct zo_handler_conf zo_handler_conf_t;
/*  What the worker lends its handlers (its stats, and more to come), the
    same for every route; valid from init until fini. Opaque.  */
typedef struct zo_handler_ctx zo_handler_ctx_t;

/*  The event, borrowed: valid from start() until the event completes or
    is cancelled.  */
typedef struct {
    const char *id;             /* never NULL */
    const char *type;           /* never NULL */
    const char *source;         /* "" when absent */
    const uint8_t *payload;     /* one msgpack value; NULL when absent */
    size_t payload_len;
    uint32_t attempt;           /* 1 on the first delivery */
    uint32_t timeout_ms;        /* when the worker will cancel it */
} zo_handler_event_t;

typedef struct {
    uint32_t abi;               /* ZO_HANDLER_ABI */
    const char *name;           /* for logs */
    /*  Optional: once per route that uses the plugin, before any event.
        *state is then passed to every other callback. 0, or -1 to refuse
        the route (the worker does not start).  */
    int (*init) (zo_handler_ctx_t *ctx, const zo_handler_conf_t *conf, void **state);
    /*  Optional: at worker exit, after every event ended.  */
    void (*fini) (void *state);
    /*  Required: starts one event. Must eventually call
        zo_handler_complete (here, or later from a callback).  */
    void (*start) (void *state, zo_handler_t *h, const zo_handler_event_t *event);
    /*  Optional: the event timed out or the worker is stopping; release
        whatever refers to h. The worker has already reported the failure
        and drops this handle's timers and fd watches itself; h is stale
        once cancel returns.  */
    void (*cancel) (void *state, zo_handler_t *h);
} zo_handler_plugin_t;

/*  A counter of the worker's, reported in its STATS (and so on the
    monitor's /metrics) as handler_<name>_total; name is [a-z0-9_], at most
    40 bytes. The same name gives the same counter. A plugin keeps the
    pointer and adds to it. NULL for a bad name, or when the worker's 16
    handler counters are taken.  */
uint64_t *zo_handler_counter (zo_handler_ctx_t *ctx, const char *name);

/*  A route option as a string, or dflt when absent.  */
const char *zo_handler_conf_get (const zo_handler_conf_t *conf, const char *key,
                                 const char *dflt);

/*  Ends the event: ok (non-zero) or failed. result is one msgpack value of
    len bytes (NULL/0: none), copied; error is the failure's text (may be
    NULL). Returns 0, or -1 if h is stale or result is not one well-formed
    value (the event then fails with an error saying so). After it h is
    stale.  */
int zo_handler_complete (zo_handler_t *h, int ok, const void *result, size_t len,
                         const char *error);
/*  Same, with the result as JSON text (NULL: none); -1 on bad JSON.  */
int zo_handler_complete_json (zo_handler_t *h, int ok, const char *json,
                              const char *error);
/*  Like complete(ok = 0) but the failure is final: not retried.  */
int zo_handler_fail_final (zo_handler_t *h, const char *error);

/*  Adds a follow-up event of `type` with a payload (one msgpack value, or
    JSON text; NULL: none), submitted with this event's result (DONE.emit).
    Its id is "<this id>.<n>", so a retried event emits the same ids and the
    broker deduplicates them. At most 100 per event. 0 or -1.  */
int zo_handler_emit (zo_handler_t *h, const char *type, const void *payload, size_t len);
int zo_handler_emit_json (zo_handler_t *h, const char *type, const char *json);

/*  The payload as JSON text (malloc'd, caller frees; "null" when absent),
    NULL if h is stale.  */
char *zo_handler_payload_json (zo_handler_t *h);

/*  A per-event pointer for the handler's own use (NULL at start).  */
void zo_handler_set_data (zo_handler_t *h, void *data);
void *zo_handler_data (zo_handler_t *h);

/*  A one-shot timer on the worker's loop: cb(h, arg) after ms. At most 8
    pending per event; all are dropped when the event ends. Returns an id
    > 0 or -1.  */
typedef void (zo_handler_timer_fn) (zo_handler_t *h, void *arg);
int zo_handler_timer (zo_handler_t *h, uint64_t ms, zo_handler_timer_fn *cb, void *arg);
void zo_handler_timer_cancel (zo_handler_t *h, int id);

/*  Watches fd (not owned: the handler closes it) for ZO_HANDLER_READ and/or
    ZO_HANDLER_WRITE; cb gets what happened (ZO_HANDLER_ERROR too). At most
    4 fds per event, unwatched when the event ends. 0 or -1.  */
#define ZO_HANDLER_READ  1
#define ZO_HANDLER_WRITE 2
#define ZO_HANDLER_ERROR 4
typedef void (zo_handler_fd_fn) (zo_handler_t *h, int fd, int events, void *arg);
int zo_handler_watch (zo_handler_t *h, int fd, int events, zo_handler_fd_fn *cb, void *arg);
void zo_handler_unwatch (zo_handler_t *h, int fd);

/*  Requests to another zorch actor (the "cache" and "pool" peers, at the
    worker's worker/cache and worker/pool endpoints), the protocol's way:
    request is one msgpack map of the message's fields without "v" and
    "seq" (those are added), for instance {"cmd": "GET", "key": "k"}
    (proto/PROTOCOL.md has every command; the cache's are typed below).
    The reply comes to cb, once, with status ZO_HANDLER_REPLY_OK and the
    peer's answer (one msgpack map, which may be an ERROR message; borrowed
    during the call), or with another status and no reply. timeout_ms 0
    lets the request wait as long as the event does. At most 8 pending per event; when the
    event ends (completed, timed out, the worker stopping) its pending
    requests are cancelled and their callbacks never run. Returns an id
    > 0, or -1 (a stale handle, an unknown peer, a request that is not one
    map, 8 pending, the peer's queue full).  */
#define ZO_HANDLER_REPLY_OK        0
#define ZO_HANDLER_REPLY_TIMEOUT   1   /* no reply by the deadline */
#define ZO_HANDLER_REPLY_TOO_LARGE 2   /* the reply was over the frame limit */
#define ZO_HANDLER_REPLY_BAD       3   /* the reply did not decode */
typedef void (zo_handler_reply_fn) (zo_handler_t *h, int status, const void *reply,
                                    size_t len, void *arg);
int64_t zo_handler_request (zo_handler_t *h, const char *peer, const void *request,
                            size_t len, uint32_t timeout_ms, zo_handler_reply_fn *cb,
                            void *arg);
/*  The same with the request as JSON text (an object).  */
int64_t zo_handler_request_json (zo_handler_t *h, const char *peer, const char *json,
                                 uint32_t timeout_ms, zo_handler_reply_fn *cb, void *arg);
/*  Drops a pending request: its callback will not run.  */
void zo_handler_request_cancel (zo_handler_t *h, int64_t id);

/*  The cache actor (peer "cache"), typed: the same requests as above,
    built and decoded for you. Keys are 1..1024 bytes of text; values are
    bytes (store msgpack or JSON, whatever your handlers agree on).
    status is ZO_CACHE_HIT / ZO_CACHE_MISS for a lookup, ZO_CACHE_OK for a
    change, or ZO_CACHE_ERROR with error saying why (no answer within
    timeout_ms, the cache refused the request: too large, busy). value,
    level ("memory", "redis", "postgres") and error are borrowed during the
    call. The limits and the cancelling of zo_handler_request hold (8
    pending per event; thousands of events can each wait on one). Returns
    an id for zo_handler_request_cancel, or -1.  */
#define ZO_CACHE_HIT   0
#define ZO_CACHE_MISS  1
#define ZO_CACHE_OK    0
#define ZO_CACHE_ERROR 2
typedef void (zo_cache_value_fn) (zo_handler_t *h, int status, const void *value, size_t len,
                                  const char *level, const char *error, void *arg);
typedef void (zo_cache_done_fn) (zo_handler_t *h, int status, uint32_t count, const char *error,
                                 void *arg);
int64_t zo_cache_get (zo_handler_t *h, const char *key, uint32_t timeout_ms,
                      zo_cache_value_fn *cb, void *arg);
/*  ttl_ms 0: the cache's cache/ttl. cb may be NULL (nothing is said).  */
int64_t zo_cache_set (zo_handler_t *h, const char *key, const void *value, size_t len,
                      uint64_t ttl_ms, uint32_t timeout_ms, zo_cache_done_fn *cb, void *arg);
int64_t zo_cache_del (zo_handler_t *h, const char *key, uint32_t timeout_ms,
                      zo_cache_done_fn *cb, void *arg);
/*  pattern is a glob (* ? [...] \), applied at every level and in every
    cache actor's memory.  */
int64_t zo_cache_invalidate (zo_handler_t *h, const char *pattern, uint32_t timeout_ms,
                             zo_cache_done_fn *cb, void *arg);

/*  The pool actor (peer "pool"), typed: an HTTP request to one of its
    services, or a statement on one of its databases, with a deadline
    (timeout_ms; 0: the event's own time left), asynchronous like the
    rest. status is ZO_POOL_OK with the answer, or ZO_POOL_ERROR with
    error saying why (the pool's unavailable, timeout, upstream, a refused
    statement, no answer). Everything passed to cb is borrowed during the
    call. The limits and the cancelling of zo_handler_request hold.
    Returns an id for zo_handler_request_cancel, or -1.  */
#define ZO_POOL_OK    0
#define ZO_POOL_ERROR 2
/*  An HTTP answer: its status (any: a 404 is a ZO_POOL_OK answer) and
    body. headers is NULL-terminated "name: value" lines, NULL on error.  */
typedef void (zo_pool_http_fn) (zo_handler_t *h, int status, int http_status,
                                const void *body, size_t len, const char *error, void *arg);
/*  headers: NULL-terminated "Name: value" lines, or NULL.  */
int64_t zo_pool_request (zo_handler_t *h, const char *service, const char *method,
                         const char *path, const char *const *headers, const void *body,
                         size_t len, uint32_t timeout_ms, zo_pool_http_fn *cb, void *arg);
/*  Rows: as JSON text, an array of objects {column: value} (NULL on
    error), and count (rows returned, or changed by INSERT/UPDATE/DELETE).  */
typedef void (zo_pool_rows_fn) (zo_handler_t *h, int status, const char *rows_json,
                                uint32_t count, const char *error, void *arg);
/*  params: n texts for $1..$n (NULL entries: SQL NULL).  */
int64_t zo_pool_query (zo_handler_t *h, const char *database, const char *sql,
                       const char *const *params, size_t n, uint32_t timeout_ms,
                       zo_pool_rows_fn *cb, void *arg);

/*  One msgpack value as JSON text (malloc'd, caller frees), such as a
    reply; NULL if it is not one well-formed value.  */
char *zo_handler_to_json (const void *value, size_t len);

/*  Logs a line through the worker's log (level: 0 error, 1 warning,
    2 info, 3 debug), prefixed with the event id.  */
void zo_handler_log (zo_handler_t *h, int level, const char *text);

#ifdef __cplusplus
}
#endif

#endif
