/*  zo_server: the serving side the request-answering actors share (the
    cache, the pool; next the gateway). A ROUTER bound on an endpoint with
    deep queues (100,000 messages each way) and ROUTER_MANDATORY, so that
    a reply that cannot be queued is counted (dropped_total), never lost
    silently; a receive loop under zo_wire's rules (frame limit, one body
    frame, decoding), counted in rejected_total and errors_<code>_total,
    each rejection answered with its ERROR; PING answered with PONG and
    GET_STATS with the actor's STATS; every other command handed to the
    actor, which answers it now or later with zo_server_send or
    zo_server_error, by the sender's identity. A command the actor does
    not serve gets ERROR unexpected.
*/
#ifndef ZO_SERVER_H_INCLUDED
#define ZO_SERVER_H_INCLUDED

#include <stddef.h>

#include "zo_actor.h"
#include "zo_proto.h"

typedef struct _zo_server_t zo_server_t;

/*  A request for the actor: ident is the sender's (lent during the call;
    copy it to answer later, it is at most 255 bytes). Returns 0 when the
    command is the actor's (answered or to be answered), -1 when it is
    not (the server answers ERROR unexpected).  */
typedef int (zo_server_fn) (void *arg, const void *ident, size_t ident_len, const zo_msg_t *msg);
/*  Called before a GET_STATS is answered, to bring gauges up to date.  */
typedef void (zo_server_stats_fn) (void *arg);

/*  Binds endpoint on the actor's context and loop; frames up to
    max_frame. what names the actor's commands in errors ("cache"). NULL
    after logging why.  */
zo_server_t *zo_server_new (zo_actor_t *actor, const char *endpoint, size_t max_frame,
                            const char *what, zo_server_fn *fn, zo_server_stats_fn *stats_fn,
                            void *arg);
void zo_server_destroy (zo_server_t **self_p);

/*  Answers msg to the sender ident. 0, or -1 (not queued: counted).  */
int zo_server_send (zo_server_t *self, const void *ident, size_t ident_len, const zo_msg_t *msg);
/*  Answers the actor's STATS {seq, ...}, as to GET_STATS (the stats
    callback runs first).  */
void zo_server_send_stats (zo_server_t *self, const void *ident, size_t ident_len, uint64_t seq);
/*  Answers ERROR {seq, code, reason}.  */
void zo_server_error (zo_server_t *self, const void *ident, size_t ident_len, uint64_t seq,
                      zo_err_t code, const char *reason);

#endif
