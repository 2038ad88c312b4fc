/*  zo_client: a producer's connection to a broker's front socket
    (proto/PROTOCOL.md, "Producer <-> broker"), over one DEALER socket.

    Used by `zorch inject`, `zorch dlq` and `zorch bench`, and small enough
    to embed in any C program that submits events. Every call is
    non-blocking except zo_client_request and zo_client_ping, which wait at
    most their timeout; so the client works from a zo_loop (watch
    zo_client_socket for input and call zo_client_drain) or from a plain
    zmq_poll loop.

    Replies arrive in any order; match them with the seq each send returns.
    A decoded message borrows from the client's last received frame: it is
    valid until the next zo_client_recv / zo_client_drain / request call.
*/
#ifndef ZO_CLIENT_H_INCLUDED
#define ZO_CLIENT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "zo_proto.h"

typedef struct _zo_client_t zo_client_t;

/*  Called for each message received; return 0 to go on, -1 to stop.  */
typedef int (zo_client_fn) (zo_client_t *client, const zo_msg_t *msg, void *arg);

/*  Makes a DEALER socket on zmq_ctx (NULL: the client makes and owns a
    context of its own) and connects it to endpoint. The connection is made
    in the background: sends are queued until the broker is there. Returns
    NULL (with a log line) if the endpoint is malformed or out of memory.  */
zo_client_t *zo_client_new (void *zmq_ctx, const char *endpoint);
/*  Closes the socket (linger 0: unsent messages are dropped), frees
    everything and nulls *self_p. Harmless on NULL.  */
void zo_client_destroy (zo_client_t **self_p);

/*  The DEALER socket, to watch for input (zo_loop_add_socket, zmq_poll).
    Owned by the client.  */
void *zo_client_socket (zo_client_t *self);
const char *zo_client_endpoint (const zo_client_t *self);
/*  Why the last call failed: a sentence, never NULL.  */
const char *zo_client_errstr (const zo_client_t *self);

/*  Sends one SUBMIT of events [0, n), 1 <= n <= ZO_MAX_BATCH (events with
    raw set are written verbatim). Returns its seq (> 0), or 0 if it could
    not be sent now (errno EAGAIN: the socket's queue is full, try again
    after draining; anything else: see errstr). The events are copied.  */
uint64_t zo_client_submit (zo_client_t *self, const zo_event_t *events, uint32_t n,
                           bool results);

/*  Sends any message; if msg->seq is 0 a fresh seq is set in it. 0 or -1
    (errno EAGAIN when the queue is full).  */
int zo_client_send (zo_client_t *self, zo_msg_t *msg);

/*  Receives one message without waiting. 1 with *msg filled, 0 when there
    is none, -1 when a frame did not decode (it is skipped and counted;
    errstr says why; call again for the next one).  */
int zo_client_recv (zo_client_t *self, zo_msg_t *msg);

/*  Receives every message waiting and calls fn for each. Returns how many
    were handled, or -1 as soon as fn returns -1. Frames that do not decode
    are logged, counted and skipped.  */
int zo_client_drain (zo_client_t *self, zo_client_fn *fn, void *arg);

/*  Sends req (a fresh seq is set in it) and waits up to timeout_ms for
    the reply carrying that seq; other messages that arrive meanwhile go to
    other (may be NULL: they are dropped). 0 with *reply filled (borrowed,
    see above), or -1 on timeout (errno ETIMEDOUT) or failure.  */
int zo_client_request (zo_client_t *self, zo_msg_t *req, zo_msg_t *reply, int timeout_ms,
                       zo_client_fn *other, void *arg);

/*  PING -> PONG within timeout_ms. 0 if the broker answered, else -1.  */
int zo_client_ping (zo_client_t *self, int timeout_ms);

/*  Frames received that did not decode.  */
uint64_t zo_client_bad_frames (const zo_client_t *self);

#endif
