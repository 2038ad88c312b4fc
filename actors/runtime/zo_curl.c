/*  zo_curl: libcurl's multi socket API on the loop (see zo_curl.h).
*/
#include <assert.h>
#include <czmq.h>
#include <stdint.h>
#include <stdlib.h>
#include <zmq.h>

#include "zo_curl.h"

//  One socket curl asked us to watch; curl keeps the pointer with the
//  socket (curl_multi_assign) and hands it back in every socket callback.
typedef struct _s_sock_t {
    zo_curl_t *owner;
    zo_watch_t *watch;
    struct _s_sock_t *prev, *next;
} s_sock_t;

struct _zo_curl_t {
    zo_loop_t *loop;
    CURLM *multi;
    zo_curl_done_fn *done;
    void *arg;
    zhashx_t *easies;           //  easy handles added and not yet done
    s_sock_t *socks;            //  every socket watched for curl
    int timer;                  //  curl's timeout on the loop, 0 if none
    uint64_t timer_due_ms;      //  when it fires
    bool reporting;             //  inside the done callback
};

//  Easy handles are kept by pointer.
static size_t
s_ptr_hash (const void *key)
{
    uintptr_t p = (uintptr_t) key;
    return (size_t) (p ^ (p >> 17));
}

static int
s_ptr_cmp (const void *a, const void *b)
{
    return a < b? -1: a > b? 1: 0;
}

static void
s_sock_free (zo_curl_t *self, s_sock_t *sock)
{
    zo_loop_unwatch (self->loop, &sock->watch);
    if (sock->prev)
        sock->prev->next = sock->next;
    else
        self->socks = sock->next;
    if (sock->next)
        sock->next->prev = sock->prev;
    free (sock);
}

//  Hands every finished transfer back to the caller. Runs after
//  curl_multi_socket_action returned, never inside a curl callback, so
//  the done callback may add and remove handles freely.
static void
s_report (zo_curl_t *self)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read (self->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        //  msg does not survive curl_multi_remove_handle: copy it first.
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        if (!zhashx_lookup (self->easies, easy))
            continue;
        zhashx_delete (self->easies, easy);
        curl_multi_remove_handle (self->multi, easy);
        self->reporting = true;
        self->done (self, easy, result, self->arg);
        self->reporting = false;
    }
}

static void
s_action (zo_curl_t *self, curl_socket_t fd, int mask)
{
    int running;
    CURLMcode rc = curl_multi_socket_action (self->multi, fd, mask, &running);
    if (rc != CURLM_OK)
        zsys_warning ("curl: socket action on %d: %s", (int) fd, curl_multi_strerror (rc));
    s_report (self);
}

static int
s_on_fd (zo_loop_t *loop, int fd, short revents, void *arg)
{
    //  sock may be freed during the action (curl closing the socket): only
    //  its owner is read, and before.
    zo_curl_t *self = ((s_sock_t *) arg)->owner;
    int mask = (revents & ZMQ_POLLIN? CURL_CSELECT_IN: 0)
             | (revents & ZMQ_POLLOUT? CURL_CSELECT_OUT: 0)
             | (revents & ZMQ_POLLERR? CURL_CSELECT_ERR: 0);
    s_action (self, fd, mask);
    return 0;
}

static int
s_on_timeout (zo_loop_t *loop, int id, void *arg)
{
    zo_curl_t *self = (zo_curl_t *) arg;
    self->timer = 0;
    s_action (self, CURL_SOCKET_TIMEOUT, 0);
    return 0;
}

//  CURLMOPT_SOCKETFUNCTION: what curl wants from one socket now.
static int
s_on_socket (CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
    zo_curl_t *self = (zo_curl_t *) arg;
    s_sock_t *sock = (s_sock_t *) sockp;
    if (what == CURL_POLL_REMOVE) {
        if (sock) {
            curl_multi_assign (self->multi, fd, NULL);
            s_sock_free (self, sock);
        }
        return 0;
    }
    short events = (what & CURL_POLL_IN? ZMQ_POLLIN: 0) | (what & CURL_POLL_OUT? ZMQ_POLLOUT: 0);
    if (sock) {
        if (zo_loop_watch_events (self->loop, sock->watch, events))
            zsys_warning ("curl: cannot change the watch on socket %d: %s",
                          (int) fd, strerror (errno));
        return 0;
    }
    //  Returning -1 would make the whole multi unusable (curl marks it
    //  dead): a socket we cannot watch is logged instead, tried again on
    //  curl's next call for it, and its transfer ends at its timeout.
    sock = (s_sock_t *) calloc (1, sizeof (s_sock_t));
    if (!sock) {
        zsys_error ("curl: out of memory watching socket %d", (int) fd);
        return 0;
    }
    sock->owner = self;
    sock->watch = zo_loop_add_fd (self->loop, fd, events, s_on_fd, sock);
    if (!sock->watch) {
        zsys_error ("curl: cannot watch socket %d: %s", (int) fd, strerror (errno));
        free (sock);
        return 0;
    }
    sock->next = self->socks;
    if (sock->next)
        sock->next->prev = sock;
    self->socks = sock;
    curl_multi_assign (self->multi, fd, sock);
    return 0;
}

//  CURLMOPT_TIMERFUNCTION: curl's next timeout, -1 for none.
static int
s_on_timer (CURLM *multi, long timeout_ms, void *arg)
{
    zo_curl_t *self = (zo_curl_t *) arg;
    uint64_t due = timeout_ms >= 0? zo_loop_now_ms (self->loop) + (uint64_t) timeout_ms: 0;
    if (self->timer && timeout_ms >= 0 && due == self->timer_due_ms)
        return 0;               //  unchanged: curl updates it very often
    if (self->timer) {
        zo_loop_cancel (self->loop, self->timer);
        self->timer = 0;
    }
    if (timeout_ms < 0)
        return 0;
    int id = zo_loop_timer (self->loop, (uint64_t) timeout_ms, s_on_timeout, self);
    if (id < 0) {
        zsys_error ("curl: out of memory for a loop timer");
        return 0;
    }
    self->timer = id;
    self->timer_due_ms = due;
    return 0;
}

zo_curl_t *
zo_curl_new (zo_loop_t *loop, zo_curl_done_fn *done, void *arg)
{
    assert (loop);
    assert (done);
    zo_curl_t *self = (zo_curl_t *) calloc (1, sizeof (zo_curl_t));
    if (!self)
        goto err;
    self->loop = loop;
    self->done = done;
    self->arg = arg;
    self->easies = zhashx_new ();
    self->multi = curl_multi_init ();
    if (!self->easies || !self->multi)
        goto err;
    zhashx_set_key_hasher (self->easies, s_ptr_hash);
    zhashx_set_key_comparator (self->easies, s_ptr_cmp);
    zhashx_set_key_duplicator (self->easies, NULL);
    zhashx_set_key_destructor (self->easies, NULL);
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETFUNCTION, s_on_socket);
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERFUNCTION, s_on_timer);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERDATA, self);
    return self;
err:
    zsys_error ("curl: cannot make a multi handle (out of memory)");
    zo_curl_destroy (&self);
    return NULL;
}

void
zo_curl_destroy (zo_curl_t **self_p)
{
    assert (self_p);
    zo_curl_t *self = *self_p;
    if (!self)
        return;
    assert (!self->reporting);
    if (self->easies) {
        for (CURL *easy = zhashx_first (self->easies); easy; easy = zhashx_next (self->easies))
            curl_multi_remove_handle (self->multi, easy);
        zhashx_destroy (&self->easies);
    }
    //  Cleaning up closes the cached connections, which still calls back
    //  for each socket: the watches go then, or just below.
    if (self->multi)
        curl_multi_cleanup (self->multi);
    while (self->socks)
        s_sock_free (self, self->socks);
    if (self->timer)
        zo_loop_cancel (self->loop, self->timer);
    free (self);
    *self_p = NULL;
}

int
zo_curl_add (zo_curl_t *self, CURL *easy)
{
    assert (self);
    assert (easy);
    if (zhashx_lookup (self->easies, easy))
        return -1;
    CURLMcode rc = curl_multi_add_handle (self->multi, easy);
    if (rc != CURLM_OK) {
        zsys_warning ("curl: cannot add a transfer: %s", curl_multi_strerror (rc));
        return -1;
    }
    if (zhashx_insert (self->easies, easy, easy)) {
        curl_multi_remove_handle (self->multi, easy);
        return -1;
    }
    return 0;
}

int
zo_curl_remove (zo_curl_t *self, CURL *easy)
{
    assert (self);
    assert (easy);
    if (!zhashx_lookup (self->easies, easy))
        return -1;
    zhashx_delete (self->easies, easy);
    curl_multi_remove_handle (self->multi, easy);
    return 0;
}

size_t
zo_curl_running (const zo_curl_t *self)
{
    assert (self);
    return zhashx_size (((zo_curl_t *) self)->easies);
}

CURLM *
zo_curl_multi (zo_curl_t *self)
{
    assert (self);
    return self->multi;
}
