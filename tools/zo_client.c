/*  zo_client: a producer's DEALER connection to the broker's front socket.  */
#include "zo_client.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "zo_wire.h"

struct _zo_client_t {
    void *ctx;                 /* the context the socket lives on */
    bool own_ctx;              /* we made ctx and terminate it */
    void *socket;              /* DEALER */
    char *endpoint;
    uint64_t seq;              /* last seq handed out */
    msgpack_sbuffer sbuf;      /* reused for every send */
    zo_proto_t *dec;           /* long-lived decoder */
    zo_wire_t wire;            /* the wire rules, on dec */
    zmq_msg_t frame;           /* the last frame received; msgs borrow from it */
    uint64_t bad_frames;
    char errstr [160];
};

static void
s_set_err (zo_client_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (self->errstr, sizeof self->errstr, fmt, ap);
    va_end (ap);
}

zo_client_t *
zo_client_new (void *zmq_ctx, const char *endpoint)
{
    assert (endpoint);
    zo_client_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    zmq_msg_init (&self->frame);
    msgpack_sbuffer_init (&self->sbuf);
    self->endpoint = strdup (endpoint);
    self->dec = zo_proto_new ();
    if (!self->endpoint || !self->dec)
        goto err;
    /*  Replies may be large (RESULT batches, DLQ_ITEMS): accept what the
        protocol allows, whatever the broker's own max_frame is.  */
    zo_proto_set_max_frame (self->dec, 64 * ZO_MAX_FRAME);
    zo_wire_init (&self->wire, self->dec, 64 * ZO_MAX_FRAME);
    self->wire.rejected = &self->bad_frames;

    self->ctx = zmq_ctx;
    if (!self->ctx) {
        self->ctx = zmq_ctx_new ();
        self->own_ctx = true;
        if (!self->ctx)
            goto err;
    }
    self->socket = zmq_socket (self->ctx, ZMQ_DEALER);
    if (!self->socket)
        goto err;
    int linger = 0;
    int hwm = 100000;
    zmq_setsockopt (self->socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (self->socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (self->socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_connect (self->socket, endpoint)) {
        zsys_error ("client: cannot connect to %s: %s", endpoint, zmq_strerror (errno));
        goto err;
    }
    s_set_err (self, "no error");
    return self;
err:
    zo_client_destroy (&self);
    return NULL;
}

void
zo_client_destroy (zo_client_t **self_p)
{
    assert (self_p);
    zo_client_t *self = *self_p;
    if (!self)
        return;
    if (self->socket)
        zmq_close (self->socket);
    if (self->own_ctx && self->ctx)
        zmq_ctx_term (self->ctx);
    zmq_msg_close (&self->frame);
    zo_proto_destroy (&self->dec);
    msgpack_sbuffer_destroy (&self->sbuf);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

void *
zo_client_socket (zo_client_t *self)
{
    assert (self);
    return self->socket;
}

const char *
zo_client_endpoint (const zo_client_t *self)
{
    assert (self);
    return self->endpoint;
}

const char *
zo_client_errstr (const zo_client_t *self)
{
    assert (self);
    return self->errstr;
}

uint64_t
zo_client_bad_frames (const zo_client_t *self)
{
    assert (self);
    return self->bad_frames;
}

/*  Encodes msg into the reusable buffer and sends it as one frame.  */
static int
s_send (zo_client_t *self, const zo_msg_t *msg)
{
    if (zo_wire_send_msg (&self->wire, self->socket, NULL, 0, &self->sbuf, msg)) {
        int e = errno;
        s_set_err (self, "cannot send %s to %s: %s", zo_cmd_name (msg->cmd),
                   self->endpoint, zmq_strerror (e));
        errno = e;
        return -1;
    }
    return 0;
}

int
zo_client_send (zo_client_t *self, zo_msg_t *msg)
{
    assert (self);
    assert (msg);
    if (msg->seq == 0)
        msg->seq = ++self->seq;
    return s_send (self, msg);
}

uint64_t
zo_client_submit (zo_client_t *self, const zo_event_t *events, uint32_t n, bool results)
{
    assert (self);
    assert (events);
    assert (n >= 1 && n <= ZO_MAX_BATCH);
    zo_msg_t msg = { .cmd = ZO_CMD_SUBMIT, .seq = self->seq + 1, .results = results,
                     .events = (zo_event_t *) events, .n_events = n };
    if (s_send (self, &msg))
        return 0;
    self->seq++;
    return msg.seq;
}

int
zo_client_recv (zo_client_t *self, zo_msg_t *msg)
{
    assert (self);
    assert (msg);
    int rc = zo_wire_recv (&self->wire, self->socket, NULL, &self->frame, msg);
    if (rc == 0) {
        //  EAGAIN: nothing there. Anything else (ETERM) also means nothing
        //  more will come; say so in errstr.
        if (errno != EAGAIN && errno != EINTR)
            s_set_err (self, "cannot receive from %s: %s", self->endpoint,
                       zmq_strerror (errno));
        return 0;
    }
    if (rc < 0) {
        //  Counted by the wire in bad_frames.
        s_set_err (self, "undecodable message from %s: %s: %s", self->endpoint,
                   zo_err_name (self->wire.err), self->wire.reason);
        return -1;
    }
    return 1;
}

int
zo_client_drain (zo_client_t *self, zo_client_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    int handled = 0;
    while (true) {
        zo_msg_t msg;
        int rc = zo_client_recv (self, &msg);
        if (rc == 0)
            break;
        if (rc < 0) {
            zsys_warning ("client: %s", self->errstr);
            continue;
        }
        handled++;
        if (fn (self, &msg, arg))
            return -1;
    }
    return handled;
}

int
zo_client_request (zo_client_t *self, zo_msg_t *req, zo_msg_t *reply, int timeout_ms,
                   zo_client_fn *other, void *arg)
{
    assert (self);
    assert (req);
    assert (reply);
    req->seq = 0;
    if (zo_client_send (self, req))
        return -1;
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        zo_msg_t msg;
        int rc;
        while ((rc = zo_client_recv (self, &msg)) != 0) {
            if (rc < 0) {
                zsys_warning ("client: %s", self->errstr);
                continue;
            }
            bool is_reply = msg.seq == req->seq && msg.cmd != ZO_CMD_RESULT
                            && msg.cmd != ZO_CMD_SUBMIT;
            if (is_reply) {
                *reply = msg;
                return 0;
            }
            if (other && other (self, &msg, arg))
                return -1;
        }
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            break;
        zmq_pollitem_t item = { self->socket, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, (long) left) < 0 && errno != EINTR) {
            s_set_err (self, "poll failed: %s", zmq_strerror (errno));
            return -1;
        }
    }
    s_set_err (self, "no reply to %s from %s within %d ms", zo_cmd_name (req->cmd),
               self->endpoint, timeout_ms);
    errno = ETIMEDOUT;
    return -1;
}

int
zo_client_ping (zo_client_t *self, int timeout_ms)
{
    assert (self);
    zo_msg_t req = { .cmd = ZO_CMD_PING };
    zo_msg_t reply;
    if (zo_client_request (self, &req, &reply, timeout_ms, NULL, NULL))
        return -1;
    if (reply.cmd != ZO_CMD_PONG) {
        s_set_err (self, "PING answered with %s", zo_cmd_name (reply.cmd));
        return -1;
    }
    return 0;
}
