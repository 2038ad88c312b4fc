/*  zo_actors: what the monitor knows about every actor that reports STATS,
    and the cluster figures derived from it once a second.

    A STATS message (proto/PROTOCOL.md "Stats") is parsed completely into a
    staging area first and applied only when all of it is well-formed, so
    a bad report never leaves an actor half updated. Counters become rates
    by difference with the actor's previous report (a counter that goes
    down, or a new pid, is a restart: the baseline starts again).
    Histograms are kept cumulative per actor, as they arrive, and the
    difference with the previous report is added, bucket by bucket, into a
    cluster window per histogram name: the window of the last second is
    then an exact merge of every actor's events of that second
    (zo_hist_merge semantics), from which the percentiles of the second
    are read.

    An actor's notes (its recent decisions, newest first) are those of its
    last report. A report with bye (the actor stops on purpose) removes
    the actor at once: it is never marked down, so no actor_down.

    Everything is bounded: actors (max_actors; the longest-silent actor is
    forgotten first), metrics per actor (ZO_ACTORS_COUNTERS, _GAUGES,
    _HISTS), notes per actor (ZO_ACTORS_NOTES, each at most
    ZO_STATS_NOTE_MAX bytes) and histogram names in the cluster windows
    (ZO_ACTORS_WINDOWS). What does not fit is counted in the monitor's
    own stats.

    The clock is passed in (monotonic ms) so tests drive time by hand.
*/
#ifndef ZO_ACTORS_H_INCLUDED
#define ZO_ACTORS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "zo_hist.h"
#include "zo_proto.h"
#include "zo_stats.h"

#define ZO_ACTORS_COUNTERS  128
#define ZO_ACTORS_GAUGES    128
#define ZO_ACTORS_HISTS     8
#define ZO_ACTORS_WINDOWS   16
#define ZO_ACTORS_NAME      64      /* metric names, NUL included */
#define ZO_ACTORS_KIND      33      /* actor kinds, NUL included */
#define ZO_SAMPLE_TOP       16      /* per-actor series kept in history */
#define ZO_ACTORS_NOTES     ZO_STATS_NOTES

typedef struct {
    char name [ZO_ACTORS_NAME];
    uint64_t value;
    double rate;                    /* per second, between the last two reports */
} zo_acounter_t;

typedef struct {
    char name [ZO_ACTORS_NAME];
    double value;
} zo_agauge_t;

typedef struct {
    char name [ZO_ACTORS_NAME];
    zo_hist_t *hist;                /* cumulative, as last reported */
} zo_ahist_t;

typedef struct {
    uint64_t ts_ms;                 /* the actor's wall clock when it noted it */
    uint32_t len;
    char text [ZO_STATS_NOTE_MAX];  /* as sent (not NUL-terminated; may hold bad UTF-8) */
} zo_anote_t;

typedef struct {
    uint32_t id;                    /* unique over the table's life */
    char kind [ZO_ACTORS_KIND];     /* "broker", "worker", ... */
    char name [ZO_MAX_NAME + 1];
    char version [ZO_MAX_NAME + 1];  /* "" from an actor that does not say */
    uint64_t pid;
    uint64_t first_ms;              /* monotonic ms of the first report */
    uint64_t last_ms;               /* ... and of the last one */
    uint64_t ts_ms;                 /* the actor's wall clock in its last report */
    uint64_t reports;
    uint32_t restarts;              /* new pid or counters going back */
    bool down;                      /* silent for down_after intervals */
    uint64_t down_since_ms;
    uint64_t rss_bytes;
    double cpu_seconds;
    double cpu_pct;                 /* of one core, between the last two reports */
    zo_acounter_t counters [ZO_ACTORS_COUNTERS];
    uint32_t n_counters;
    zo_agauge_t gauges [ZO_ACTORS_GAUGES];
    uint32_t n_gauges;
    zo_ahist_t hists [ZO_ACTORS_HISTS];
    uint32_t n_hists;
    zo_anote_t notes [ZO_ACTORS_NOTES];   /* of its last report, newest first */
    uint32_t n_notes;
} zo_arec_t;

/*  The cluster in one second: what the history keeps and alerts read.
    NaN means "no data" (no events ended in that second, no broker).  */
typedef struct {
    uint64_t ts_ms;                 /* wall clock, ms */
    double accepted;                /* events accepted by brokers, per second */
    double throughput;              /* events completed, per second */
    double errors;                  /* failed attempts, per second */
    double dead;                    /* events dead-lettered, per second */
    double error_rate;              /* errors / (throughput + errors), 0..1 */
    double p50_ms, p95_ms, p99_ms, p999_ms;   /* of the last second */
    double queue [3];               /* depth per lane: high, normal, low */
    double queue_depth;             /* all lanes */
    double inflight;                /* events held by workers (broker's view) */
    double capacity;                /* sum of live workers' capacity */
    double worker_inflight;         /* sum of live workers' in-flight */
    uint32_t workers_up;
    uint32_t actors_up;
    uint32_t actors_down;
    uint32_t brokers_up;
    double cpu;                     /* mean CPU of live workers, fraction of a core */
    uint32_t restart_storms;        /* autoscalers holding restarts after a storm */
    /* the load score for the autoscaler, and its parts (1 = at capacity) */
    double load;
    double load_queue, load_utilization, load_latency, load_cpu;
    /* per actor, the top ZO_SAMPLE_TOP by CPU then RSS */
    struct {
        uint32_t id;                /* zo_arec_t.id, 0 = unused */
        float rss_mb;
        float cpu_pct;
    } top [ZO_SAMPLE_TOP];
} zo_sample_t;

/*  What the derived figures depend on.  */
typedef struct {
    uint64_t interval_ms;           /* stats/interval */
    uint32_t down_after;            /* intervals of silence before down (3) */
    uint64_t forget_ms;             /* a down actor is forgotten after this */
    uint32_t max_actors;
    double latency_objective_ms;    /* p95 at this = latency part 1.0 */
    double queue_capacity;          /* 0 = the live workers' capacity */
    char latency_hist [ZO_ACTORS_NAME];   /* cluster latency: "latency_ns" */
    uint32_t top_actors;            /* per-actor series in history, <= ZO_SAMPLE_TOP */
} zo_actors_conf_t;

typedef struct _zo_actors_t zo_actors_t;

/*  Fills conf with the defaults.  */
void zo_actors_conf_defaults (zo_actors_conf_t *conf);

/*  A table following conf (copied). stats (borrowed, may be NULL) gets the
    counters bad_stats_total, actors_dropped_total, metrics_dropped_total,
    actors_forgotten_total and actors_left_total. NULL when out of memory.  */
zo_actors_t *zo_actors_new (const zo_actors_conf_t *conf, zo_stats_t *stats);
void zo_actors_destroy (zo_actors_t **self_p);

/*  Applies one decoded STATS message received at now_ms. 0 on success;
    -1 when it is malformed (nothing applied; bad_stats_total counted and
    the reason readable with zo_actors_errstr) or when the table is full
    (actors_dropped_total). With bye, the actor is removed instead (its
    metrics are not read), counted in actors_left_total when it was known.  */
int zo_actors_apply (zo_actors_t *self, const zo_msg_t *msg, uint64_t now_ms);
const char *zo_actors_errstr (const zo_actors_t *self);

/*  Marks actors silent for down_after intervals as down (returns how many
    went down in this call; *went_down/up name them through the callback),
    forgets those down longer than forget_ms, then computes the sample of
    the second that ends now and starts the next window. wall_ms stamps it.  */
typedef void (zo_actors_change_fn) (const zo_arec_t *actor, bool up, void *arg);
void zo_actors_tick (zo_actors_t *self, uint64_t now_ms, uint64_t wall_ms,
                     zo_sample_t *sample, zo_actors_change_fn *fn, void *arg);

/*  The actors, for rendering: index 0 .. zo_actors_size () - 1 in a stable
    order (kind, then name). Borrowed until the next apply or tick.  */
uint32_t zo_actors_size (const zo_actors_t *self);
const zo_arec_t *zo_actors_at (const zo_actors_t *self, uint32_t index);
const zo_arec_t *zo_actors_find_id (const zo_actors_t *self, uint32_t id);
/*  The last sample made by zo_actors_tick (zeroes before the first).  */
const zo_sample_t *zo_actors_last (const zo_actors_t *self);
const zo_actors_conf_t *zo_actors_conf (const zo_actors_t *self);

/*  Lookups on one actor; NULL when it has no such metric.  */
const zo_acounter_t *zo_arec_counter (const zo_arec_t *actor, const char *name);
const zo_agauge_t *zo_arec_gauge (const zo_arec_t *actor, const char *name);
const zo_hist_t *zo_arec_hist (const zo_arec_t *actor, const char *name);
/*  A counter's rate, a gauge's value; 0 when the actor has no such metric.  */
double zo_arec_rate (const zo_arec_t *actor, const char *name);
double zo_arec_value (const zo_arec_t *actor, const char *name);

/*  The newest notes of every actor of kind, newest first, at most max of
    them, into out (borrowed until the next apply or tick). Returns how
    many.  */
uint32_t zo_actors_notes (const zo_actors_t *self, const char *kind,
                          const zo_anote_t **out, uint32_t max);

/*  Merges, exactly, the cumulative histogram `name` of every actor (of
    kind, or of all kinds when kind is NULL) into *into (reset first).
    Returns how many actors had it.  */
uint32_t zo_actors_merge_hist (const zo_actors_t *self, const char *kind,
                               const char *name, zo_hist_t *into);
/*  Sum over live actors of kind of a counter's total / rate, or a gauge.  */
uint64_t zo_actors_sum_counter (const zo_actors_t *self, const char *kind, const char *name);
double zo_actors_sum_rate (const zo_actors_t *self, const char *kind, const char *name);
double zo_actors_sum_gauge (const zo_actors_t *self, const char *kind, const char *name);
/*  The cluster window of histogram name: the p50, p95, p99 and p99.9 (ns,
    NaN without events) of the last second it had reports, and how many
    seconds ago that was. False when no report ever carried name.  */
bool zo_actors_window (const zo_actors_t *self, const char *name, double pcts [4],
                       uint32_t *age);
/*  True when at least one actor of kind is known and up.  */
bool zo_actors_kind_up (const zo_actors_t *self, const char *kind);

#endif
