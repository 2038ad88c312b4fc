/*  zo_server: see zo_server.h.  */
#include "zo_server.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "zo_wire.h"

//  Messages taken from the socket per wake-up, so that the actor's other
//  work (timers, the levels' sockets) is not starved by a flood.
#define S_RECV_MAX 1024

struct _zo_server_t {
    zo_actor_t *actor;
    void *socket;
    zo_watch_t *watch;
    zo_proto_t *dec;
    zo_wire_t wire;
    msgpack_sbuffer out;
    zmq_msg_t ident, body;
    const char *what;
    zo_server_fn *fn;
    zo_server_stats_fn *stats_fn;
    void *arg;
    uint64_t *requests;             //  requests_total
};

int
zo_server_send (zo_server_t *self, const void *ident, size_t ident_len, const zo_msg_t *msg)
{
    return zo_wire_send_msg (&self->wire, self->socket, ident, ident_len, &self->out, msg);
}

void
zo_server_error (zo_server_t *self, const void *ident, size_t ident_len, uint64_t seq,
                 zo_err_t code, const char *reason)
{
    zo_wire_error (&self->wire, self->socket, ident, ident_len, &self->out, seq, code, reason);
}

void
zo_server_send_stats (zo_server_t *self, const void *ident, size_t ident_len, uint64_t seq)
{
    if (self->stats_fn)
        self->stats_fn (self->arg);
    size_t size;
    char *data = zo_stats_encode (self->actor->stats, zo_clock_wall_ns () / 1000000, seq, &size);
    if (data)
        zo_wire_send (&self->wire, self->socket, ident, ident_len, data, size);
    else
        zo_server_error (self, ident, ident_len, seq, ZO_ERR_QUEUE_FULL, "out of memory");
    free (data);
}

static int
s_on_socket (zo_loop_t *loop, void *socket, void *arg)
{
    zo_server_t *self = arg;
    for (int n = 0; n < S_RECV_MAX; n++) {
        zo_msg_t msg;
        int rc = zo_wire_recv (&self->wire, socket, &self->ident, &self->body, &msg);
        if (rc == 0)
            break;
        const void *ident = zmq_msg_data (&self->ident);
        size_t ident_len = zmq_msg_size (&self->ident);
        (*self->requests)++;
        if (rc < 0)
            zo_server_error (self, ident, ident_len, self->wire.seq, self->wire.err, self->wire.reason);
        else
        if (msg.cmd == ZO_CMD_PING) {
            zo_msg_t pong = { .cmd = ZO_CMD_PONG, .seq = msg.seq };
            zo_server_send (self, ident, ident_len, &pong);
        }
        else
        if (msg.cmd == ZO_CMD_GET_STATS)
            zo_server_send_stats (self, ident, ident_len, msg.seq);
        else
        if (self->fn (self->arg, ident, ident_len, &msg)) {
            char reason [96];
            snprintf (reason, sizeof reason, "%s is not a %s command", zo_cmd_name (msg.cmd), self->what);
            zo_server_error (self, ident, ident_len, msg.seq, ZO_ERR_UNEXPECTED, reason);
        }
    }
    return 0;
}

zo_server_t *
zo_server_new (zo_actor_t *actor, const char *endpoint, size_t max_frame, const char *what,
               zo_server_fn *fn, zo_server_stats_fn *stats_fn, void *arg)
{
    assert (actor && endpoint && fn);
    zo_server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->actor = actor;
    self->what = what;
    self->fn = fn;
    self->stats_fn = stats_fn;
    self->arg = arg;
    zmq_msg_init (&self->ident);
    zmq_msg_init (&self->body);
    msgpack_sbuffer_init (&self->out);
    self->requests = zo_stats_counter (actor->stats, "requests_total");
    if (!(self->dec = zo_proto_new ())) {
        zo_log_error ("%s: out of memory at start-up", actor->kind);
        goto err;
    }
    zo_proto_set_max_frame (self->dec, max_frame);
    zo_wire_init (&self->wire, self->dec, max_frame);
    zo_wire_count (&self->wire, actor->stats, "dropped_total", "rejected_total", "errors_%s_total");
    //  No max_msg: a frame over max_frame gets ERROR too_large from
    //  zo_wire, as the broker's do, rather than a silent disconnect.
    self->socket = zo_actor_socket (actor, ZMQ_ROUTER, endpoint, true,
                                    &(zo_sockopts_t) { .hwm = 100000 });
    if (!self->socket)
        goto err;
    int one = 1;
    zmq_setsockopt (self->socket, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    if (!(self->watch = zo_loop_add_socket (actor->loop, self->socket, s_on_socket, self))) {
        zo_log_error ("%s: cannot watch its socket", actor->kind);
        goto err;
    }
    return self;
err:
    zo_server_destroy (&self);
    return NULL;
}

void
zo_server_destroy (zo_server_t **self_p)
{
    assert (self_p);
    zo_server_t *self = *self_p;
    if (!self)
        return;
    if (self->socket) {
        zo_loop_unwatch (self->actor->loop, &self->watch);
        zmq_close (self->socket);
    }
    zo_proto_destroy (&self->dec);
    msgpack_sbuffer_destroy (&self->out);
    zmq_msg_close (&self->ident);
    zmq_msg_close (&self->body);
    free (self);
    *self_p = NULL;
}
