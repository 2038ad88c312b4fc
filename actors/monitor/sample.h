/*  zo_sample: the cluster in one second (zo_sample_t, in actors.h), made
    from the actor table by zo_actors_tick, which the history keeps and
    alert rules, the autoscaler's /api/load and the dashboard read.

    Brokers give the rates and queues, workers the capacity, in-flight and
    CPU; the latency is the cluster window of conf latency_hist. The load
    score is the largest of its parts, each 1 at capacity (clamped to 10):
    queue depth over capacity, in-flight over capacity, p95 over the
    latency objective, and the workers' mean CPU.
*/
#ifndef ZO_SAMPLE_H_INCLUDED
#define ZO_SAMPLE_H_INCLUDED

#include "actors.h"

/*  The sample of the table as it is now, stamped wall_ms.  */
void zo_sample_make (zo_sample_t *sample, const zo_actors_t *actors, uint64_t wall_ms);

/*  The value of a cluster metric by the name alert rules use (p95_ms,
    error_rate, queue_depth, actor_down, ...). NaN when the name is
    unknown (*known false) or the value is missing.  */
double zo_sample_metric (const zo_sample_t *sample, const char *metric, bool *known);
/*  True when metric is a name zo_sample_metric knows.  */
bool zo_sample_metric_known (const char *metric);
/*  The names, NULL-terminated, for help texts.  */
extern const char *const zo_sample_metric_names [];

#endif
