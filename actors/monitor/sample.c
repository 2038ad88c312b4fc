/*  zo_sample: the cluster's second (see sample.h), made from the actor
    table's public view, and its figures by the names alert rules use.
*/
#include <assert.h>
#include <czmq.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "sample.h"

//  A part of the load score: 0 .. 10 (NaN is 0).
static double
s_clamp (double part)
{
    if (!(part > 0))
        return 0;                   //  also NaN
    return part > 10? 10: part;
}

void
zo_sample_make (zo_sample_t *sample, const zo_actors_t *actors, uint64_t wall_ms)
{
    assert (sample);
    assert (actors);
    const zo_actors_conf_t *conf = zo_actors_conf (actors);
    uint32_t n = zo_actors_size (actors);
    memset (sample, 0, sizeof (*sample));
    sample->ts_ms = wall_ms;
    double cpu_sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        const zo_arec_t *rec = zo_actors_at (actors, i);
        if (rec->down) {
            sample->actors_down++;
            continue;
        }
        sample->actors_up++;
        if (streq (rec->kind, "broker")) {
            sample->brokers_up++;
            sample->accepted += zo_arec_rate (rec, "accepted_total");
            sample->throughput += zo_arec_rate (rec, "completed_total");
            sample->errors += zo_arec_rate (rec, "failed_total");
            sample->dead += zo_arec_rate (rec, "dead_total");
            sample->queue [0] += zo_arec_value (rec, "queue_depth_high");
            sample->queue [1] += zo_arec_value (rec, "queue_depth_normal");
            sample->queue [2] += zo_arec_value (rec, "queue_depth_low");
            sample->inflight += zo_arec_value (rec, "inflight");
        }
        else
        if (streq (rec->kind, "autoscaler")) {
            if (zo_arec_value (rec, "restart_storm") >= 1)
                sample->restart_storms++;
        }
        else
        if (streq (rec->kind, "worker")) {
            sample->workers_up++;
            sample->capacity += zo_arec_value (rec, "capacity");
            sample->worker_inflight += zo_arec_value (rec, "inflight");
            cpu_sum += rec->cpu_pct / 100.0;
        }
    }
    sample->queue_depth = sample->queue [0] + sample->queue [1] + sample->queue [2];
    double ended = sample->throughput + sample->errors;
    sample->error_rate = ended > 0? sample->errors / ended: 0;
    sample->cpu = sample->workers_up? cpu_sum / sample->workers_up: 0;

    //  Latency of the last second; a second in which no report carried the
    //  histogram (reports drift against our tick) shows the one before.
    sample->p50_ms = sample->p95_ms = sample->p99_ms = sample->p999_ms = NAN;
    double pct [4];
    uint32_t age;
    if (zo_actors_window (actors, conf->latency_hist, pct, &age)
    &&  age <= conf->down_after && sample->brokers_up + sample->workers_up) {
        sample->p50_ms = pct [0] / 1e6;
        sample->p95_ms = pct [1] / 1e6;
        sample->p99_ms = pct [2] / 1e6;
        sample->p999_ms = pct [3] / 1e6;
    }

    //  The load score: each part is 1 at capacity; the score is the
    //  largest, since the scarcest resource is what limits the cluster.
    double capacity = conf->queue_capacity > 0? conf->queue_capacity: sample->capacity;
    if (capacity > 0)
        sample->load_queue = s_clamp (sample->queue_depth / capacity);
    else
        sample->load_queue = sample->queue_depth > 0? 1: 0;
    double inflight = sample->workers_up? sample->worker_inflight: sample->inflight;
    sample->load_utilization = sample->capacity > 0? s_clamp (inflight / sample->capacity): 0;
    sample->load_latency = conf->latency_objective_ms > 0
        ? s_clamp (sample->p95_ms / conf->latency_objective_ms): 0;
    sample->load_cpu = s_clamp (sample->cpu);
    sample->load = sample->load_queue;
    if (sample->load_utilization > sample->load)
        sample->load = sample->load_utilization;
    if (sample->load_latency > sample->load)
        sample->load = sample->load_latency;
    if (sample->load_cpu > sample->load)
        sample->load = sample->load_cpu;

    //  The busiest actors' RSS and CPU, for the history.
    uint32_t n_top = 0;
    for (uint32_t i = 0; i < n; i++) {
        const zo_arec_t *rec = zo_actors_at (actors, i);
        if (rec->down)
            continue;
        //  Insertion into the sorted top list (by CPU, then RSS).
        uint32_t at = n_top;
        while (at > 0) {
            const zo_arec_t *other = zo_actors_find_id (actors, sample->top [at - 1].id);
            if (other && (other->cpu_pct > rec->cpu_pct
                      ||  (other->cpu_pct == rec->cpu_pct && other->rss_bytes >= rec->rss_bytes)))
                break;
            at--;
        }
        if (at >= conf->top_actors)
            continue;
        uint32_t last = n_top < conf->top_actors? n_top: conf->top_actors - 1;
        memmove (sample->top + at + 1, sample->top + at, (last - at) * sizeof (sample->top [0]));
        sample->top [at].id = rec->id;
        sample->top [at].rss_mb = (float) ((double) rec->rss_bytes / (1024.0 * 1024.0));
        sample->top [at].cpu_pct = (float) rec->cpu_pct;
        if (n_top < conf->top_actors)
            n_top++;
    }
}

//  ---------------------------------------------------------------------
//  Cluster metrics by name (alert rules)

#define S_D(field) { #field, offsetof (zo_sample_t, field), 'd' }
#define S_U(field) { #field, offsetof (zo_sample_t, field), 'u' }
static const struct {
    const char *name;
    size_t offset;
    char type;
} s_metrics [] = {
    S_D (accepted), S_D (throughput), S_D (errors), S_D (dead), S_D (error_rate),
    S_D (p50_ms), S_D (p95_ms), S_D (p99_ms), S_D (p999_ms),
    S_D (queue_depth), S_D (inflight), S_D (capacity), S_D (worker_inflight),
    S_U (workers_up), S_U (actors_up), S_U (actors_down), S_U (brokers_up), S_U (restart_storms),
    S_D (cpu), S_D (load), S_D (load_queue), S_D (load_utilization),
    S_D (load_latency), S_D (load_cpu),
    { "queue_high", offsetof (zo_sample_t, queue), 'd' },
    { "queue_normal", offsetof (zo_sample_t, queue) + sizeof (double), 'd' },
    { "queue_low", offsetof (zo_sample_t, queue) + 2 * sizeof (double), 'd' },
    //  Aliases people write.
    { "actor_down", offsetof (zo_sample_t, actors_down), 'u' },
    { "errors_per_s", offsetof (zo_sample_t, errors), 'd' },
    { "utilization", offsetof (zo_sample_t, load_utilization), 'd' },
};

const char *const zo_sample_metric_names [] = {
    "accepted", "throughput", "errors", "errors_per_s", "dead", "error_rate",
    "p50_ms", "p95_ms", "p99_ms", "p999_ms", "queue_depth", "queue_high",
    "queue_normal", "queue_low", "inflight", "capacity", "worker_inflight",
    "workers_up", "actors_up", "actors_down", "actor_down", "brokers_up", "restart_storms", "cpu",
    "load", "load_queue", "load_utilization", "utilization", "load_latency",
    "load_cpu", NULL
};

double
zo_sample_metric (const zo_sample_t *sample, const char *metric, bool *known)
{
    assert (sample);
    assert (metric);
    for (size_t i = 0; i < sizeof (s_metrics) / sizeof (s_metrics [0]); i++)
        if (streq (s_metrics [i].name, metric)) {
            if (known)
                *known = true;
            const char *at = (const char *) sample + s_metrics [i].offset;
            if (s_metrics [i].type == 'd') {
                double value;
                memcpy (&value, at, sizeof (value));
                return value;
            }
            uint32_t value;
            memcpy (&value, at, sizeof (value));
            return (double) value;
        }
    if (known)
        *known = false;
    return NAN;
}

bool
zo_sample_metric_known (const char *metric)
{
    bool known;
    zo_sample_metric (&(zo_sample_t) { 0 }, metric, &known);
    return known;
}
