/*  zo_http: a small HTTP server (libmicrohttpd) driven by the actor's
    loop, so that requests are answered on the same thread that owns the
    state (no locks).

    libmicrohttpd runs in its external epoll mode on the loop through the
    zo_mhd adapter: MHD runs when its epoll descriptor is readable and
    when its own next timeout is due, never on a ticker. Only GET and HEAD
    are served; anything else is 405. Connections are limited (max_conns)
    and time out when idle.

    A handler with nothing new to say yet (a long poll: "answer when the
    next sample is taken") sets reply->park and fills nothing else: the
    connection is suspended, and zo_http_wake hands every parked request
    to the handler again, which answers it or parks it once more.
*/
#ifndef ZO_HTTP_H_INCLUDED
#define ZO_HTTP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "zo_loop.h"

typedef struct _zo_http_t zo_http_t;
typedef struct _zo_http_req_t zo_http_req_t;

/*  A handler fills the reply. body is either malloc'd (owned: freed after
    sending) or static (body_static true). content_type defaults to
    application/json.  */
typedef struct {
    int status;
    const char *content_type;
    char *body;
    size_t size;
    bool body_static;
    const char *cache_control;      /* default "no-store" */
    bool park;                      /* no answer yet: ask the handler again at zo_http_wake */
} zo_http_reply_t;

typedef void (zo_http_fn) (zo_http_req_t *req, const char *path, zo_http_reply_t *reply, void *arg);

/*  Binds address ("host:port", "http://host:port", "[v6]:port"; port 0 =
    any free one) and serves on loop through fn. NULL, logged, when the
    address does not parse or cannot be bound.  */
zo_http_t *zo_http_new (zo_loop_t *loop, const char *address, unsigned max_conns,
                        zo_http_fn *fn, void *arg);
void zo_http_destroy (zo_http_t **self_p);

/*  "http://127.0.0.1:7080": where it is served (the bound port).  */
const char *zo_http_url (const zo_http_t *self);

/*  A query argument of the request (?seconds=300), or NULL.  */
const char *zo_http_query (zo_http_req_t *req, const char *key);

/*  Asks the handler again for every parked request.  */
void zo_http_wake (zo_http_t *self);

/*  Requests parked now.  */
size_t zo_http_parked (const zo_http_t *self);

/*  Requests answered so far.  */
uint64_t zo_http_requests (const zo_http_t *self);

#endif
