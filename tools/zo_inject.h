/*  zo_inject: the engine behind `zorch inject` (and `zorch up --demo`,
    later `zorch bench`): takes events from a zo_input_t and submits them
    to a broker over a zo_rpc client, on the caller's zo_loop.

    - batches ready events into SUBMITs (up to batch_max events and about
      batch_bytes bytes each);
    - keeps at most `inflight` events unacknowledged (with wait: without a
      RESULT);
    - paces `rate` events/s open loop: event i is due at start + i / rate,
      and its latency counts from that due time, so a stall shows in the
      percentiles (no coordinated omission). Events due are sent at the
      next wake-up; the pacing timer itself may fire up to pace_slack_us
      late (the loop's timer slack), so that at high rates one wake-up
      sends several events instead of one each;
    - resends the events of a NACK queue_full after its retry_ms (unless
      retry is off: they count as nacked); ERROR replies count as nacked;
    - gives up after timeout_ms without progress (no new event sent, no ACK,
      no RESULT): what is still outstanding counts as lost. A SUBMIT not
      answered within timeout_ms (or answered with a reply that breaks the
      wire rules) is lost at once, and the run says it timed out.

    The engine adds a before-sleep hook to the loop (that is where it sends
    and notices it is done), owns its timer slack while it runs, and
    watches its rpc client's socket, its input fd and timers.
*/
#ifndef ZO_INJECT_H_INCLUDED
#define ZO_INJECT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "zo_hist.h"
#include "zo_input.h"
#include "zo_loop.h"
#include "zo_proto.h"

typedef struct {
    const char *endpoint;      /* broker front */
    uint32_t inflight;         /* default 1000 */
    double rate;               /* events/s; 0 = as fast as inflight allows */
    uint32_t pace_slack_us;    /* with rate: the loop's timer slack, default 1000 */
    bool wait;                 /* ask for RESULTs and wait for them */
    bool retry;                /* resend NACK queue_full */
    uint64_t timeout_ms;       /* without progress; default 30 s */
    uint32_t batch_max;        /* events per SUBMIT, default 100 */
    uint32_t batch_bytes;      /* soft size limit of a SUBMIT, default 256 KiB */
    size_t max_frame;          /* the broker's broker/max_frame: no SUBMIT is larger;
                                  default ZO_MAX_FRAME */
} zo_inject_opts_t;

typedef struct {
    uint64_t sent;             /* distinct events submitted */
    uint64_t acked;            /* events in ACKed batches (duplicates too) */
    uint64_t nacked;           /* refused for good: NACK, ERROR */
    uint64_t duplicates;       /* ACK.duplicates, summed */
    uint64_t ok, failed;       /* RESULTs (wait only); failed also counts bad input */
    uint64_t lost;             /* outstanding when the engine gave up */
    uint64_t invalid;          /* bad input lines / elements (also in failed) */
    uint64_t resent;           /* events resent after NACK queue_full */
    uint64_t batches;          /* SUBMITs sent */
    uint64_t unmatched;        /* RESULTs for ids we were not waiting for */
    uint64_t total;            /* events the input will produce, 0 = unknown */
    uint64_t start_ns, end_ns; /* monotonic */
    bool timed_out, interrupted;
    bool waited;               /* opts.wait: ok/failed count RESULTs */
    zo_hist_t latency;         /* ns: submit -> ACK, or -> RESULT with wait */
} zo_inject_stats_t;

/*  The final outcome of one event.  */
typedef enum {
    ZO_INJECT_OK,              /* ACKed (no wait) or RESULT ok */
    ZO_INJECT_FAILED,          /* RESULT not ok */
    ZO_INJECT_NACKED,          /* NACK or ERROR; error holds the reason */
    ZO_INJECT_DUPLICATE,       /* the broker had seen the id: no result */
    ZO_INJECT_LOST,            /* no answer before the timeout */
    ZO_INJECT_INVALID          /* bad input; error says why; id empty */
} zo_inject_status_t;

typedef struct {
    zo_inject_status_t status;
    const char *id;
    const char *type;
    zo_span_t result;          /* RESULT.result (raw msgpack), may be empty */
    zo_span_t error;           /* RESULT.error or the refusal's reason */
    uint32_t attempts;
    uint64_t latency_ns;       /* 0 when unknown */
} zo_inject_outcome_t;

typedef struct _zo_inject_t zo_inject_t;

typedef void (zo_inject_outcome_fn) (const zo_inject_outcome_t *outcome, void *arg);
/*  Called once, on the loop, when every event has its outcome.  */
typedef void (zo_inject_done_fn) (zo_inject_t *inject, void *arg);

/*  Fills opts with the defaults.  */
void zo_inject_opts_default (zo_inject_opts_t *opts);

/*  Takes the input (nulls *input_p). zmq_ctx is the caller's ZeroMQ
    context (not NULL). NULL if the rpc client cannot be made.  */
zo_inject_t *zo_inject_new (zo_loop_t *loop, void *zmq_ctx, const zo_inject_opts_t *opts,
                            zo_input_t **input_p);
/*  Stops watching everything on the loop and frees it all.  */
void zo_inject_destroy (zo_inject_t **self_p);

void zo_inject_on_outcome (zo_inject_t *self, zo_inject_outcome_fn *fn, void *arg);
void zo_inject_on_done (zo_inject_t *self, zo_inject_done_fn *fn, void *arg);

/*  Starts sending (on the next loop iteration). 0 or -1.  */
int zo_inject_start (zo_inject_t *self);
/*  Gives up now: outstanding events count as lost, done is called.  */
void zo_inject_stop (zo_inject_t *self);

bool zo_inject_finished (const zo_inject_t *self);
const zo_inject_stats_t *zo_inject_stats (const zo_inject_t *self);
/*  Events not yet finished (sent and waiting, or waiting to be resent).  */
uint64_t zo_inject_outstanding (const zo_inject_t *self);

#endif
