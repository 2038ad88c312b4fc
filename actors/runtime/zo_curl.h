/*  zo_curl: a libcurl multi handle driven by the actor's zo_loop.

    libcurl's socket API does the waiting through the loop: curl tells us
    (CURLMOPT_SOCKETFUNCTION) which sockets it wants read or written, each
    gets one zo_loop fd watch (kept on the socket with curl_multi_assign,
    its events changed with zo_loop_watch_events, removed when curl says
    so); curl's one timeout (CURLMOPT_TIMERFUNCTION) is one loop timer.
    Readiness and the timer call curl_multi_socket_action, so only the
    transfers with work to do are touched and nothing ever blocks or polls
    on a ticker. Connection reuse (keep-alive) and per-host limits are
    curl's own: set them on zo_curl_multi.

    Easy handles stay the caller's: zo_curl_add lends one to the multi
    until it is reported done (through the done callback, once, after it
    was taken out of the multi) or taken back with zo_curl_remove. Set
    timeouts on every easy handle (CURLOPT_TIMEOUT_MS): a transfer without
    one may wait forever on a silent server.

    One zo_curl_t per loop is the usual use; several are fine. Not thread
    safe (nothing on the loop is).
*/
#ifndef ZO_CURL_H_INCLUDED
#define ZO_CURL_H_INCLUDED

#include <curl/curl.h>
#include <stddef.h>

#include "zo_loop.h"

typedef struct _zo_curl_t zo_curl_t;

/*  A transfer ended: easy is out of the multi already and the caller's
    again (clean it up, or change and zo_curl_add it once more, here or
    later). result is curl's code for the transfer (CURLE_OK: a response
    came; its HTTP status is in CURLINFO_RESPONSE_CODE). The callback may
    add and remove other handles; it must not destroy the zo_curl_t.  */
typedef void (zo_curl_done_fn) (zo_curl_t *self, CURL *easy, CURLcode result, void *arg);

/*  A multi handle on loop (borrowed; it must outlive the zo_curl_t),
    reporting finished transfers to done with arg. NULL when out of
    memory (logged).  */
zo_curl_t *zo_curl_new (zo_loop_t *loop, zo_curl_done_fn *done, void *arg);

/*  Takes every transfer still in progress out of the multi without
    calling done (the easy handles stay the caller's, to clean up after),
    unwatches its sockets, cancels its timer and frees the multi. Nulls
    *self_p; a NULL *self_p is ignored.  */
void zo_curl_destroy (zo_curl_t **self_p);

/*  Starts easy (set up by the caller: URL, callbacks, timeouts) on the
    multi. It is reported to done when it ends, unless zo_curl_remove
    takes it back first. 0, or -1 (the handle is in a multi already, or
    out of memory; logged): the handle is then still the caller's and not
    running.  */
int zo_curl_add (zo_curl_t *self, CURL *easy);

/*  Takes easy out of the multi before it ended (an abort: done is not
    called for it). 0, or -1 if easy is not in progress on this multi.  */
int zo_curl_remove (zo_curl_t *self, CURL *easy);

/*  Transfers added and not yet done or removed.  */
size_t zo_curl_running (const zo_curl_t *self);

/*  The multi handle, to set curl's limits on (CURLMOPT_MAX_HOST_CONNECTIONS,
    CURLMOPT_MAX_TOTAL_CONNECTIONS, and CURLMOPT_MAXCONNECTS at least as
    large: curl's default cache follows the number of handles added at the
    time, so it closes idle connections a pool would keep). Do not change
    its socket or timer callbacks, nor call curl_multi_perform on it.  */
CURLM *zo_curl_multi (zo_curl_t *self);

#endif
