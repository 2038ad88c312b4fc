/*  zo_webhook: non-blocking JSON POSTs over curl multi (see webhook.h).
*/
#include <assert.h>
#include <curl/curl.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "webhook.h"
#include "zo_curl.h"
#include "zo_rpc.h"

struct _zo_webhook_t {
    zo_loop_t *loop;
    zo_curl_t *curl;            //  the multi handle, on the loop (direct)
    zo_rpc_t *rpc;              //  the pool actor (through the pool), or NULL
    char *service, *path;
    char *url;
    uint64_t timeout_ms;
    uint32_t max_pending;
    uint32_t pending;
    struct _s_xfer_t **xfers;   //  max_pending slots, NULL = free
    struct curl_slist *headers;
    uint64_t *sent, *failed, *dropped;
    uint64_t counts [3];
};

//  What one transfer owns: its body and the curl easy handle.
typedef struct _s_xfer_t {
    CURL *easy;
    char *body;
} s_xfer_t;

static size_t
s_discard (char *ptr, size_t size, size_t nmemb, void *arg)
{
    return size * nmemb;
}

static void s_counters (zo_webhook_t *self, zo_stats_t *stats);

//  A transfer ended (it is out of the multi already).
static void
s_finish (zo_curl_t *curl, CURL *easy, CURLcode result, void *arg)
{
    zo_webhook_t *self = (zo_webhook_t *) arg;
    s_xfer_t *xfer = NULL;
    curl_easy_getinfo (easy, CURLINFO_PRIVATE, (char **) &xfer);
    long status = 0;
    curl_easy_getinfo (easy, CURLINFO_RESPONSE_CODE, &status);
    if (result == CURLE_OK && status >= 200 && status < 300)
        (*self->sent)++;
    else {
        (*self->failed)++;
        if (result != CURLE_OK)
            zsys_warning ("monitor: webhook %s: %s", self->url, curl_easy_strerror (result));
        else
            zsys_warning ("monitor: webhook %s answered HTTP %ld", self->url, status);
    }
    curl_easy_cleanup (easy);
    for (uint32_t i = 0; i < self->max_pending; i++)
        if (self->xfers [i] == xfer)
            self->xfers [i] = NULL;
    if (xfer) {
        free (xfer->body);
        free (xfer);
    }
    self->pending--;
}

zo_webhook_t *
zo_webhook_new (zo_loop_t *loop, const char *url, uint64_t timeout_ms,
                uint32_t max_pending, zo_stats_t *stats)
{
    assert (loop);
    if (!url || !*url)
        return NULL;
    zo_webhook_t *self = (zo_webhook_t *) calloc (1, sizeof (zo_webhook_t));
    if (!self)
        return NULL;
    self->loop = loop;
    self->url = strdup (url);
    self->timeout_ms = timeout_ms? timeout_ms: 5000;
    self->max_pending = max_pending? max_pending: 16;
    self->curl = zo_curl_new (loop, s_finish, self);
    self->headers = curl_slist_append (NULL, "Content-Type: application/json");
    self->xfers = (s_xfer_t **) calloc (self->max_pending, sizeof (s_xfer_t *));
    if (!self->url || !self->curl || !self->headers || !self->xfers) {
        zsys_error ("monitor: cannot set up the webhook (out of memory)");
        zo_webhook_destroy (&self);
        return NULL;
    }
    s_counters (self, stats);
    return self;
}

static void
s_counters (zo_webhook_t *self, zo_stats_t *stats)
{
    if (stats) {
        self->sent = zo_stats_counter (stats, "webhook_sent_total");
        self->failed = zo_stats_counter (stats, "webhook_failed_total");
        self->dropped = zo_stats_counter (stats, "webhook_dropped_total");
    }
    else {
        self->sent = &self->counts [0];
        self->failed = &self->counts [1];
        self->dropped = &self->counts [2];
    }
}

zo_webhook_t *
zo_webhook_new_pool (zo_loop_t *loop, void *zmq_ctx, const char *pool, const char *service,
                     const char *path, uint64_t timeout_ms, uint32_t max_pending, zo_stats_t *stats)
{
    assert (loop && zmq_ctx && pool && service && path);
    zo_webhook_t *self = (zo_webhook_t *) calloc (1, sizeof (zo_webhook_t));
    if (!self)
        return NULL;
    self->loop = loop;
    self->timeout_ms = timeout_ms? timeout_ms: 5000;
    self->max_pending = max_pending? max_pending: 16;
    self->service = strdup (service);
    self->path = strdup (path);
    self->url = zsys_sprintf ("pool:%s%s", service, path);
    zo_rpc_opts_t opts = { .name = "webhook", .max_pending = self->max_pending };
    self->rpc = zo_rpc_new (loop, zmq_ctx, pool, &opts);
    if (!self->service || !self->path || !self->url || !self->rpc) {
        zsys_error ("monitor: cannot set up the webhook through the pool at %s", pool);
        zo_webhook_destroy (&self);
        return NULL;
    }
    s_counters (self, stats);
    return self;
}

//  The pool answered a post (or did not, by the deadline).
static void
s_pool_done (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
    zo_webhook_t *self = (zo_webhook_t *) arg;
    self->pending--;
    const zo_msg_t *msg = reply->status == ZO_RPC_OK ? reply->msg : NULL;
    if (msg && msg->cmd == ZO_CMD_RESPONSE && msg->status >= 200 && msg->status < 300) {
        (*self->sent)++;
        return;
    }
    (*self->failed)++;
    if (!msg)
        zsys_warning ("monitor: webhook %s: the pool did not answer: %s", self->url, reply->reason);
    else
    if (msg->cmd == ZO_CMD_RESPONSE)
        zsys_warning ("monitor: webhook %s answered HTTP %u", self->url, msg->status);
    else
        zsys_warning ("monitor: webhook %s: the pool refused: %.*s: %.*s", self->url,
                      (int) msg->code.len, msg->code.ptr, (int) msg->reason.len, msg->reason.ptr);
}

void
zo_webhook_destroy (zo_webhook_t **self_p)
{
    assert (self_p);
    zo_webhook_t *self = *self_p;
    if (!self)
        return;
    //  Abort what is still in progress: the adapter lets go of the easy
    //  handles without reporting them, then they are freed here.
    zo_curl_destroy (&self->curl);
    //  Posts waiting for the pool are forgotten with the client.
    zo_rpc_destroy (&self->rpc);
    free (self->service);
    free (self->path);
    for (uint32_t i = 0; self->xfers && i < self->max_pending; i++) {
        s_xfer_t *xfer = self->xfers [i];
        if (!xfer)
            continue;
        curl_easy_cleanup (xfer->easy);
        free (xfer->body);
        free (xfer);
    }
    curl_slist_free_all (self->headers);
    free (self->xfers);
    free (self->url);
    free (self);
    *self_p = NULL;
}

int
zo_webhook_post (zo_webhook_t *self, const char *body)
{
    assert (self);
    assert (body);
    if (self->pending >= self->max_pending) {
        (*self->dropped)++;
        zsys_warning ("monitor: webhook: %u posts in progress already; this one is dropped",
                      self->pending);
        return -1;
    }
    if (self->rpc) {
        msgpack_sbuffer headers;
        msgpack_sbuffer_init (&headers);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &headers, msgpack_sbuffer_write);
        msgpack_pack_map (&pk, 1);
        zo_proto_pack_str (&pk, "Content-Type");
        zo_proto_pack_str (&pk, "application/json");
        zo_msg_t req = { .cmd = ZO_CMD_REQUEST, .service = zo_span_str (self->service),
                         .method = zo_span_str ("POST"), .path = zo_span_str (self->path),
                         .headers = { (const uint8_t *) headers.data, (uint32_t) headers.size },
                         .body = zo_span_str (body),
                         .timeout_ms = (uint32_t) self->timeout_ms };
        //  The pool's own deadline first; the request's a little later.
        uint64_t id = zo_rpc_request (self->rpc, &req, (uint32_t) self->timeout_ms + 500,
                                      s_pool_done, self);
        msgpack_sbuffer_destroy (&headers);
        if (!id) {
            (*self->dropped)++;
            return -1;
        }
        self->pending++;
        return 0;
    }
    s_xfer_t *xfer = (s_xfer_t *) calloc (1, sizeof (s_xfer_t));
    if (xfer) {
        xfer->body = strdup (body);
        xfer->easy = curl_easy_init ();
    }
    if (!xfer || !xfer->body || !xfer->easy) {
        if (xfer) {
            if (xfer->easy)
                curl_easy_cleanup (xfer->easy);
            free (xfer->body);
            free (xfer);
        }
        (*self->dropped)++;
        return -1;
    }
    CURL *easy = xfer->easy;
    curl_easy_setopt (easy, CURLOPT_URL, self->url);
    curl_easy_setopt (easy, CURLOPT_POST, 1L);
    curl_easy_setopt (easy, CURLOPT_POSTFIELDS, xfer->body);
    curl_easy_setopt (easy, CURLOPT_POSTFIELDSIZE, (long) strlen (xfer->body));
    curl_easy_setopt (easy, CURLOPT_HTTPHEADER, self->headers);
    curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt (easy, CURLOPT_CONNECTTIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt (easy, CURLOPT_PRIVATE, (char *) xfer);
    curl_easy_setopt (easy, CURLOPT_USERAGENT, "zorch-monitor");
    if (zo_curl_add (self->curl, easy)) {
        curl_easy_cleanup (easy);
        free (xfer->body);
        free (xfer);
        (*self->dropped)++;
        return -1;
    }
    for (uint32_t i = 0; i < self->max_pending; i++)
        if (!self->xfers [i]) {
            self->xfers [i] = xfer;
            break;
        }
    self->pending++;
    return 0;
}

const char *
zo_webhook_url (const zo_webhook_t *self)
{
    assert (self);
    return self->url;
}

void
zo_webhook_counts (const zo_webhook_t *self, uint64_t *sent, uint64_t *failed, uint64_t *dropped)
{
    assert (self);
    *sent = *self->sent;
    *failed = *self->failed;
    *dropped = *self->dropped;
}

uint32_t
zo_webhook_pending (const zo_webhook_t *self)
{
    assert (self);
    return self->pending;
}
