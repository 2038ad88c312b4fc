/*  zo_webhook: POSTs JSON bodies to one URL without blocking the loop.

    Either directly: transfers run on a libcurl multi handle that the
    actor's loop drives through the zo_curl adapter (curl's sockets and
    timeout on the loop, no ticker). Or through the pool actor (when the
    cluster runs one, zo_webhook_new_pool): a REQUEST to one of its
    services, so that alerts share its connections, its retries, its rate
    limit and its circuit breaker. Each post has a bounded timeout; at most
    max_pending run at once, further posts are dropped and counted (alerts
    are also in the log and at /api/alerts, so nothing is lost from view).
*/
#ifndef ZO_WEBHOOK_H_INCLUDED
#define ZO_WEBHOOK_H_INCLUDED

#include <stdint.h>

#include "zo_loop.h"
#include "zo_stats.h"

typedef struct _zo_webhook_t zo_webhook_t;

/*  A poster to url on loop (borrowed). stats (borrowed, may be NULL) gets
    webhook_sent_total, webhook_failed_total, webhook_dropped_total.
    NULL when url is empty or on failure (logged).  */
zo_webhook_t *zo_webhook_new (zo_loop_t *loop, const char *url, uint64_t timeout_ms,
                              uint32_t max_pending, zo_stats_t *stats);
/*  The same through the pool actor at pool (an endpoint), to its service
    at path, on zmq_ctx (borrowed).  */
zo_webhook_t *zo_webhook_new_pool (zo_loop_t *loop, void *zmq_ctx, const char *pool,
                                   const char *service, const char *path, uint64_t timeout_ms,
                                   uint32_t max_pending, zo_stats_t *stats);
/*  Aborts transfers in progress.  */
void zo_webhook_destroy (zo_webhook_t **self_p);

/*  Starts a POST of body (copied) with Content-Type application/json.
    0, or -1 when dropped (too many in progress, out of memory).  */
int zo_webhook_post (zo_webhook_t *self, const char *body);

/*  The URL, or "pool:<service><path>".  */
const char *zo_webhook_url (const zo_webhook_t *self);
void zo_webhook_counts (const zo_webhook_t *self, uint64_t *sent, uint64_t *failed,
                        uint64_t *dropped);
/*  Transfers still in progress.  */
uint32_t zo_webhook_pending (const zo_webhook_t *self);

#endif
