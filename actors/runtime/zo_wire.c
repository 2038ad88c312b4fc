/*  zo_wire: sending and receiving by the protocol's framing rules.  */
#include "zo_wire.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
zo_wire_init (zo_wire_t *self, zo_proto_t *dec, size_t max_frame)
{
    assert (self);
    memset (self, 0, sizeof *self);
    self->dec = dec;
    self->max_frame = max_frame ? max_frame : ZO_MAX_FRAME;
}

void
zo_wire_count (zo_wire_t *self, zo_stats_t *stats, const char *dropped_name,
               const char *rejected_name, const char *per_code_fmt)
{
    assert (self);
    assert (stats);
    if (dropped_name)
        self->dropped = zo_stats_counter (stats, dropped_name);
    if (rejected_name)
        self->rejected = zo_stats_counter (stats, rejected_name);
    if (per_code_fmt)
        for (int i = ZO_ERR_NONE + 1; i < ZO_ERR_COUNT; i++) {
            char name [64];
            snprintf (name, sizeof name, per_code_fmt, zo_err_name ((zo_err_t) i));
            self->rejected_by [i] = zo_stats_counter (stats, name);
        }
}

int
zo_wire_send (zo_wire_t *self, void *socket, const void *ident, size_t ident_len,
              const void *data, size_t size)
{
    assert (self);
    //  A NULL socket (not connected now) fails in zmq_send with ENOTSOCK,
    //  counted like any other failed send.
    //  A ROUTER checks the identity and the peer's queue on the first
    //  frame, so a message is either queued whole or not at all.
    if ((ident && zmq_send (socket, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
    ||  zmq_send (socket, data, size, ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno ();
        if (self->dropped)
            (*self->dropped)++;
        errno = e;
        return -1;
    }
    return 0;
}

int
zo_wire_send_msg (zo_wire_t *self, void *socket, const void *ident, size_t ident_len,
                  msgpack_sbuffer *buf, const zo_msg_t *msg)
{
    assert (buf);
    assert (msg);
    msgpack_sbuffer_clear (buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, buf, msgpack_sbuffer_write);
    zo_proto_encode (&pk, msg);
    return zo_wire_send (self, socket, ident, ident_len, buf->data, buf->size);
}

int
zo_wire_error (zo_wire_t *self, void *socket, const void *ident, size_t ident_len,
               msgpack_sbuffer *buf, uint64_t seq, zo_err_t code, const char *reason)
{
    assert (code > ZO_ERR_NONE && code < ZO_ERR_COUNT);
    zo_msg_t msg = { .cmd = ZO_CMD_ERROR, .seq = seq, .code = zo_span_str (zo_err_name (code)) };
    if (reason && *reason) {
        size_t len = strlen (reason);
        msg.reason.ptr = (const uint8_t *) reason;
        msg.reason.len = (uint32_t) (len > ZO_MAX_TEXT ? ZO_MAX_TEXT : len);
    }
    return zo_wire_send_msg (self, socket, ident, ident_len, buf, &msg);
}

//  Records a rejection: its code and sentence, and one count each.
static int
s_reject (zo_wire_t *self, zo_err_t code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_reject (zo_wire_t *self, zo_err_t code, const char *fmt, ...)
{
    self->err = code;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (self->reason, sizeof self->reason, fmt, ap);
    va_end (ap);
    if (self->rejected)
        (*self->rejected)++;
    if (self->rejected_by [code])
        (*self->rejected_by [code])++;
    return -1;
}

bool
zo_wire_peek_seq (const void *data, size_t size, uint64_t *seq)
{
    assert (seq);
    zo_mp_t mp;
    zo_mp_init (&mp, data, size);
    uint32_t pairs;
    if (zo_mp_read_map (&mp, &pairs))
        return false;
    for (uint32_t i = 0; i < pairs; i++) {
        zo_span_t key;
        if (zo_mp_read_str (&mp, &key) == 0) {
            if (zo_span_eq (key, "seq"))
                return zo_mp_read_u64 (&mp, seq) == 0;
        }
        else
        if (zo_mp_skip (&mp, NULL))
            return false;       //  a key that is not a string is skipped too
        if (zo_mp_skip (&mp, NULL))
            return false;
    }
    return false;
}

int
zo_wire_decode (zo_wire_t *self, const void *data, size_t size, zo_msg_t *msg)
{
    assert (self);
    self->seq = 0;
    if (size > self->max_frame) {
        zo_wire_peek_seq (data, size, &self->seq);
        if (msg) {
            memset (msg, 0, sizeof *msg);
            msg->seq = self->seq;
        }
        return s_reject (self, ZO_ERR_TOO_LARGE, "frame of %zu bytes, limit %zu", size,
                         self->max_frame);
    }
    if (!self->dec || !msg)
        return 1;
    if (zo_proto_decode (self->dec, data, size, msg)) {
        self->seq = msg->seq;
        return s_reject (self, zo_proto_err (self->dec), "%s", zo_proto_errstr (self->dec));
    }
    return 1;
}

int
zo_wire_recv (zo_wire_t *self, void *socket, zmq_msg_t *ident, zmq_msg_t *body, zo_msg_t *msg)
{
    assert (self);
    assert (socket);
    assert (body);
    self->seq = 0;
    if (ident) {
        if (zmq_msg_recv (ident, socket, ZMQ_DONTWAIT) < 0)
            return 0;
        if (!zmq_msg_more (ident)) {
            //  A ROUTER always adds the identity: a message with nothing
            //  after it had no body at all.
            if (msg)
                memset (msg, 0, sizeof *msg);
            zmq_msg_close (body);
            zmq_msg_init (body);
            return s_reject (self, ZO_ERR_BAD_MSGPACK, "a message without a body frame");
        }
    }
    //  The parts of a message arrive together: after the first, the rest
    //  is there already.
    if (zmq_msg_recv (body, socket, ZMQ_DONTWAIT) < 0)
        return 0;
    if (zmq_msg_more (body)) {
        size_t extra = 0;
        zmq_msg_t part;
        zmq_msg_init (&part);
        bool more = true;
        while (more && zmq_msg_recv (&part, socket, ZMQ_DONTWAIT) >= 0) {
            more = zmq_msg_more (&part);
            extra++;
        }
        zmq_msg_close (&part);
        zo_wire_peek_seq (zmq_msg_data (body), zmq_msg_size (body), &self->seq);
        if (msg) {
            memset (msg, 0, sizeof *msg);
            msg->seq = self->seq;
        }
        return s_reject (self, ZO_ERR_BAD_MSGPACK,
                         "a message must be one frame (this one had %zu more)", extra);
    }
    return zo_wire_decode (self, zmq_msg_data (body), zmq_msg_size (body), msg);
}

size_t
zo_wire_conf_max_frame (zo_conf_t *conf)
{
    return (size_t) zo_conf_size_range (conf, "broker/max_frame", ZO_MAX_FRAME,
                                        ZO_MAX_FRAME_MIN, ZO_MAX_FRAME_MAX);
}
