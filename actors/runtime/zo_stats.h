/*  zo_stats: an actor's counters, gauges and latency histograms, reported
    once a second as a STATS message (proto/PROTOCOL.md) on a PUSH socket
    to the stats endpoint. Counters and histograms are cumulative since the
    actor started; a monitor derives rates by difference. Sending never
    blocks: with no monitor listening, reports are dropped and counted.
    Beside the metrics, the last ZO_STATS_NOTES notes (an actor's decisions
    in a sentence each) travel in every report, and the last report of an
    actor that stops on purpose says bye.
*/
#ifndef ZO_STATS_H_INCLUDED
#define ZO_STATS_H_INCLUDED

#include <stdint.h>

#include "zo_hist.h"

#define ZO_STATS_MAX 256  /* of each kind */
#define ZO_STATS_NOTES 32        /* notes kept, and sent in each report */
#define ZO_STATS_NOTE_MAX 200    /* bytes of a note's text */

typedef struct _zo_stats_t zo_stats_t;

/*  actor is the kind ("broker", "worker"), name the instance name.  */
zo_stats_t *zo_stats_new (const char *actor, const char *name);
void zo_stats_destroy (zo_stats_t **self_p);

/*  Stable pointers to a named metric, made on first use; hot paths keep
    the pointer and write through it. Names are snake_case with the unit
    as suffix (events_total, latency_ns), at most 63 bytes. Asserts if
    ZO_STATS_MAX of a kind would be exceeded (a programming error: the set
    of names is fixed).  */
uint64_t *zo_stats_counter (zo_stats_t *self, const char *name);
double *zo_stats_gauge (zo_stats_t *self, const char *name);
zo_hist_t *zo_stats_hist (zo_stats_t *self, const char *name);

/*  Keeps a note, printf-style, stamped with the wall clock (ms): what the
    actor decided and why ("up 2 -> 4: load 1.31 above 0.80 for 3 s").
    The last ZO_STATS_NOTES are kept in a ring, the oldest overwritten,
    and every STATS from now on carries them (`notes`, newest first). A
    text longer than ZO_STATS_NOTE_MAX bytes is cut there, on a UTF-8
    character boundary. Not for hot paths: a note is a decision.  */
void zo_stats_note (zo_stats_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/*  The actor is leaving on purpose (zo_actor_fini calls it before the
    last report): every STATS encoded from now on carries `bye: true`, so
    that the monitor forgets the actor at once rather than marking it
    down, and closing the socket waits up to ZO_STATS_BYE_LINGER ms for
    that last report to leave.  */
#define ZO_STATS_BYE_LINGER 250
void zo_stats_bye (zo_stats_t *self);

/*  Connects a PUSH socket to endpoint. 0 or -1.  */
int zo_stats_connect (zo_stats_t *self, void *zmq_ctx, const char *endpoint);

/*  Encodes one STATS message (adding this process's RSS and CPU time) into
    a new buffer the caller frees with free(); *size gets its length. seq
    is the GET_STATS it answers (0: a periodic report, no seq). The notes
    go with it when there are any, and bye after zo_stats_bye.  */
char *zo_stats_encode (zo_stats_t *self, uint64_t wall_ms, uint64_t seq, size_t *size);
/*  Encodes and sends without blocking. 0 sent, -1 dropped (counted in
    stats_dropped_total) or not connected.  */
int zo_stats_send (zo_stats_t *self, uint64_t wall_ms);

/*  RSS in bytes and CPU time (user + system) in seconds of a process
    (0 = this one), from /proc. 0 or -1.  */
int zo_proc_usage (int pid, uint64_t *rss_bytes, double *cpu_seconds);
/*  CPU time (user + system, not the children's) in seconds from a file
    in the format of /proc/<pid>/stat. 0 or -1.  */
int zo_proc_cpu_read (const char *path, double *cpu_seconds);

#endif
