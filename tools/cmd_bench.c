/*  zorch bench: the standard workloads of tools/bench/WORKLOAD.md (W1-W4),
    measured event by event against a running cluster, or against a broker
    and workers it spawns for the run (--spawn) and stops after.

    Every event's latency goes into a log-linear histogram (no sampling).
    W3 paces sends open loop and counts latency from each event's scheduled
    send time, so a stall anywhere shows in the tail (no coordinated
    omission). A warm-up phase (not measured) runs first, so connections
    and buffers exist before the clock starts.  */
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_cluster.h"
#include "zo_loop.h"
#include "zo_wire.h"
#include "zo_rpc.h"
#include "zo_stats.h"
#include "zorch.h"

static const char s_usage [] =
    "usage: zorch bench W1|W2|W3|W4 [options]\n"
    "\n"
    "The standard workloads (one producer, a broker, N workers):\n"
    "  W1  no-op handler, closed loop, 1000 in flight, 200000 events\n"
    "  W2  handler waits 10 ms (a timer), closed loop, 1000 in flight, 50000 events;\n"
    "      ideal throughput = in-flight / wait\n"
    "  W3  open loop at 10000 events/s for 10 s, no-op; latency from each event's\n"
    "      scheduled send time\n"
    "  W4  one event at a time, 20000 events\n"
    "\n"
    "options:\n"
    "  --events N        events to measure (W3: rate x duration)\n"
    "  --inflight K      closed loop window\n"
    "  --rate R          open loop rate, events/s (makes any workload open loop)\n"
    "  --duration S      W3 length in seconds (default 10)\n"
    "  --sleep-ms MS     W2 handler wait (default 10)\n"
    "  --warmup N        events sent before measuring (default 2000)\n"
    "  --pace-slack US   open loop: the pacing timer may fire this late so that one\n"
    "                    wake-up sends several events (default 1000; 0 = on time)\n"
    "  --spawn           start a broker and workers for the run, stop them after\n"
    "  --durable         with --spawn: the broker runs with its journal on (every ACK\n"
    "                    waits for an fdatasync), its data dir in the run's temp dir\n"
    "  --workers N       workers to spawn (default 2)\n"
    "  --transport T     tcp (default) or ipc, for --spawn\n"
    "  --endpoint EP     broker front of a running cluster (default inject/broker)\n"
    "  --json            print one JSON object\n"
    "\n"
    "Reports events, errors, lost, throughput, min/p50/p95/p99/p99.9/max latency,\n"
    "and peak RSS and CPU seconds (during the measured phase) of every zorch\n"
    "process: the spawned ones, or the zorch-broker and zorch-worker processes\n"
    "found on this host. Exit status 0 when nothing was lost or failed.\n";

typedef struct {
    const char *name;
    const char *type;
    const char *what;
    uint64_t events;
    uint32_t inflight;
    double rate;
} s_workload_t;

static const s_workload_t s_workloads [] = {
    { "W1", "bench.noop", "no-op, closed loop", 200000, 1000, 0 },
    { "W2", "bench.sleep", "handler waits, closed loop", 50000, 1000, 0 },
    { "W3", "bench.noop", "no-op, open loop", 0, 0, 10000 },
    { "W4", "bench.noop", "no-op, one at a time", 20000, 1, 0 },
};

//  --------------------------------------------------------------------
//  Running one phase

typedef struct {
    zo_loop_t *loop;
    zo_inject_t *inject;
} s_phase_t;

static void
s_on_done (zo_inject_t *inject, void *arg)
{
    zo_loop_stop (((s_phase_t *) arg)->loop);
}

static int
s_on_signal (zo_loop_t *loop, int signum, void *arg)
{
    zo_inject_stop (((s_phase_t *) arg)->inject);
    return -1;
}

//  The standard event: ~10 string fields, ~250 bytes of payload.
static json_t *
s_standard_event (const char *type, uint32_t sleep_ms)
{
    json_t *event = json_pack (
        "{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}",
        "type", type, "source", "github", "payload",
        "repository", "octo-org/octo-repo", "ref", "refs/heads/main",
        "before", "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after", "76ae82c7b1a177c8d03f9e96e0adf2466113728f",
        "pusher", "octocat", "sender", "octocat",
        "message", "Update README.md", "compare", "https://github.com/octo-org/octo-repo/compare/1",
        "installation", "12345678", "created", "2026-11-29T12:00:00Z");
    if (sleep_ms)
        json_object_set_new (json_object_get (event, "payload"), "ms", json_integer (sleep_ms));
    return event;
}

//  Runs `count` events through the engine; fills *stats. 0, or -1 when
//  interrupted or the engine could not start.
static int
s_run_phase (zo_loop_t *loop, void *ctx, const zo_inject_opts_t *opts, json_t *event,
             uint64_t count, zo_inject_stats_t *stats)
{
    json_t *array = json_array ();
    json_array_append (array, event);
    zo_input_t *input = zo_input_new_list (&array, count);
    s_phase_t phase = { .loop = loop };
    phase.inject = zo_inject_new (loop, ctx, opts, &input);
    zo_input_destroy (&input);
    json_decref (array);
    if (!phase.inject)
        return -1;
    zo_inject_on_done (phase.inject, s_on_done, &phase);
    zo_loop_on_signal (loop, SIGINT, s_on_signal, &phase);
    zo_loop_on_signal (loop, SIGTERM, s_on_signal, &phase);
    int rc = zo_inject_start (phase.inject);
    if (rc == 0)
        zo_loop_run (loop);
    memcpy (stats, zo_inject_stats (phase.inject), sizeof *stats);
    zo_inject_destroy (&phase.inject);
    return rc == 0 && !stats->interrupted ? 0 : -1;
}

//  --------------------------------------------------------------------
//  Output

static double
s_us (uint64_t ns)
{
    return round ((double) ns / 100.0) / 10.0;
}

static void
s_print (const s_workload_t *wl, const zo_inject_stats_t *st, const zorch_cluster_t *cluster,
         const zorch_proc_t *self, uint32_t inflight, double rate, uint32_t sleep_ms,
         const char *transport, int workers, bool spawned, bool durable, bool json)
{
    const zo_hist_t *h = &st->latency;
    double elapsed = st->end_ns > st->start_ns ? (st->end_ns - st->start_ns) / 1e9 : 0;
    uint64_t done = st->ok + st->failed;
    uint64_t errors = st->failed + st->nacked;
    double eps = elapsed > 0 ? done / elapsed : 0;
    double cpu_total = self->cpu1 - self->cpu0;
    for (int i = 0; i < cluster->n; i++)
        cpu_total += cluster->procs [i].cpu1 - cluster->procs [i].cpu0;

    if (json) {
        json_t *rss = json_object (), *cpu = json_object ();
        for (int i = 0; i <= cluster->n; i++) {
            const zorch_proc_t *p = i < cluster->n ? &cluster->procs [i] : self;
            json_object_set_new (rss, p->name, json_integer ((json_int_t) p->peak_rss));
            json_object_set_new (cpu, p->name, json_real (round ((p->cpu1 - p->cpu0) * 1000) / 1000));
        }
        json_t *o = json_pack (
            "{s:s, s:I, s:I, s:I, s:f, s:f, s:{s:f, s:f, s:f, s:f, s:f, s:f},"
            " s:o, s:o, s:f, s:I, s:f, s:s, s:i, s:b}",
            "workload", wl->name, "events", (json_int_t) done, "errors", (json_int_t) errors,
            "lost", (json_int_t) st->lost, "throughput_eps", round (eps),
            "elapsed_s", round (elapsed * 1000) / 1000,
            "latency_us", "min", h->count ? s_us (h->min) : 0.0,
            "p50", s_us (zo_hist_percentile (h, 50)), "p95", s_us (zo_hist_percentile (h, 95)),
            "p99", s_us (zo_hist_percentile (h, 99)), "p999", s_us (zo_hist_percentile (h, 99.9)),
            "max", s_us (h->max),
            "rss_bytes", rss, "cpu_seconds", cpu,
            "cpu_us_per_event", done ? round (cpu_total * 1e7 / done) / 10 : 0.0,
            "inflight", (json_int_t) inflight, "rate", rate,
            "transport", transport, "workers", workers, "spawned", spawned);
        if (sleep_ms)
            json_object_set_new (o, "sleep_ms", json_integer (sleep_ms));
        json_object_set_new (o, "durable", json_boolean (durable));
        char *text = json_dumps (o, JSON_COMPACT | JSON_REAL_PRECISION (12));
        printf ("%s\n", text);
        free (text);
        json_decref (o);
        return;
    }
    printf ("%s  %s, ", wl->name, wl->what);
    if (sleep_ms)
        printf ("%u ms wait, ", sleep_ms);
    if (rate > 0)
        printf ("%.0f events/s", rate);
    else
        printf ("%u in flight", inflight);
    printf (", %s, %d worker%s%s\n", transport, workers, workers == 1 ? "" : "s",
            spawned ? (durable ? " (spawned, journal on)" : " (spawned)") : "");
    printf ("events %" PRIu64 "  errors %" PRIu64 "  lost %" PRIu64 "  throughput %.0f events/s"
            "  (%.2f s)\n", done, errors, st->lost, eps, elapsed);
    char v [6][32];
    uint64_t at [6] = { h->count ? h->min : 0, zo_hist_percentile (h, 50),
                        zo_hist_percentile (h, 95), zo_hist_percentile (h, 99),
                        zo_hist_percentile (h, 99.9), h->max };
    for (int i = 0; i < 6; i++)
        zorch_fmt_ns (v [i], sizeof v [i], at [i]);
    printf ("latency  min %s  p50 %s  p95 %s  p99 %s  p99.9 %s  max %s\n",
            v [0], v [1], v [2], v [3], v [4], v [5]);
    printf ("%-18s %12s %10s\n", "process", "peak RSS", "CPU s");
    for (int i = 0; i <= cluster->n; i++) {
        const zorch_proc_t *p = i < cluster->n ? &cluster->procs [i] : self;
        printf ("%-18s %9.1f MB %10.2f\n", p->name, p->peak_rss / 1048576.0, p->cpu1 - p->cpu0);
    }
    if (done)
        printf ("CPU per event, all processes: %.1f µs\n", cpu_total * 1e6 / done);
}

//  --------------------------------------------------------------------
//  The command

int
zorch_bench (zo_conf_t *conf, int argc, char **argv)
{
    enum { O_EVENTS = 256, O_INFLIGHT, O_RATE, O_DURATION, O_SLEEP, O_WARMUP, O_SLACK, O_SPAWN,
           O_DURABLE, O_WORKERS, O_TRANSPORT, O_ENDPOINT, O_JSON };
    static const struct option options [] = {
        { "events", required_argument, NULL, O_EVENTS },
        { "inflight", required_argument, NULL, O_INFLIGHT },
        { "rate", required_argument, NULL, O_RATE },
        { "duration", required_argument, NULL, O_DURATION },
        { "sleep-ms", required_argument, NULL, O_SLEEP },
        { "warmup", required_argument, NULL, O_WARMUP },
        { "pace-slack", required_argument, NULL, O_SLACK },
        { "spawn", no_argument, NULL, O_SPAWN },
        { "durable", no_argument, NULL, O_DURABLE },
        { "workers", required_argument, NULL, O_WORKERS },
        { "transport", required_argument, NULL, O_TRANSPORT },
        { "endpoint", required_argument, NULL, O_ENDPOINT },
        { "json", no_argument, NULL, O_JSON },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    uint64_t events = 0, inflight = 0, sleep_ms = 10, warmup = 2000, workers = 2, slack_us = 1000;
    double rate = -1, duration = 10;
    bool spawn = false, durable = false, json = false;
    const char *transport = "tcp", *endpoint = NULL;

    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
            case O_EVENTS:
                if (zorch_parse_u64 (optarg, &events) || events == 0)
                    return zorch_usage_error ("bench", "--events wants a positive number, not %s", optarg);
                break;
            case O_INFLIGHT:
                if (zorch_parse_u64 (optarg, &inflight) || inflight == 0 || inflight > 1000000)
                    return zorch_usage_error ("bench", "--inflight wants 1..1000000, not %s", optarg);
                break;
            case O_RATE:
                if (zorch_parse_double (optarg, &rate) || !(rate > 0))
                    return zorch_usage_error ("bench", "--rate wants events per second, not %s", optarg);
                break;
            case O_DURATION:
                if (zorch_parse_double (optarg, &duration) || !(duration > 0))
                    return zorch_usage_error ("bench", "--duration wants seconds, not %s", optarg);
                break;
            case O_SLEEP:
                if (zorch_parse_u64 (optarg, &sleep_ms) || sleep_ms == 0 || sleep_ms > 600000)
                    return zorch_usage_error ("bench", "--sleep-ms wants 1..600000, not %s", optarg);
                break;
            case O_WARMUP:
                if (zorch_parse_u64 (optarg, &warmup))
                    return zorch_usage_error ("bench", "--warmup wants a number, not %s", optarg);
                break;
            case O_SLACK:
                if (zorch_parse_u64 (optarg, &slack_us) || slack_us > 1000000)
                    return zorch_usage_error ("bench", "--pace-slack wants 0..1000000 microseconds, not %s", optarg);
                break;
            case O_WORKERS:
                if (zorch_parse_u64 (optarg, &workers) || workers == 0 || workers > ZORCH_CLUSTER_MAX_WORKERS)
                    return zorch_usage_error ("bench", "--workers wants 1..16, not %s", optarg);
                break;
            case O_TRANSPORT:
                if (!streq (optarg, "tcp") && !streq (optarg, "ipc"))
                    return zorch_usage_error ("bench", "--transport is tcp or ipc, not %s", optarg);
                transport = optarg;
                break;
            case O_SPAWN:    spawn = true; break;
            case O_DURABLE:  durable = true; break;
            case O_ENDPOINT: endpoint = optarg; break;
            case O_JSON:     json = true; break;
            default: return zorch_option_end ("bench", s_usage, opt, argv);
        }
    }
    if (optind != argc - 1)
        return zorch_usage_error ("bench", "give one workload: W1, W2, W3 or W4", NULL);
    const s_workload_t *wl = NULL;
    for (size_t i = 0; i < sizeof s_workloads / sizeof s_workloads [0]; i++)
        if (strcasecmp (argv [optind], s_workloads [i].name) == 0)
            wl = &s_workloads [i];
    if (!wl)
        return zorch_usage_error ("bench", "unknown workload %s", argv [optind]);
    if (endpoint && spawn)
        return zorch_usage_error ("bench", "--endpoint and --spawn exclude each other", NULL);
    if (durable && !spawn)
        return zorch_usage_error ("bench", "--durable needs --spawn (a running broker has its own journal setting)", NULL);
    //  The broker refuses a SUBMIT over its broker/max_frame: the same key
    //  read here (every host is given the same) keeps each one within it.
    size_t max_frame = zo_wire_conf_max_frame (conf);
    if (zo_conf_bad (conf))
        return zorch_usage_error ("bench", "%s", zo_conf_errstr (conf));

    if (rate < 0)
        rate = wl->rate;
    //  Open loop: a window of two seconds of sends, so the producer never
    //  holds back a scheduled send unless the cluster is that far behind
    //  (and even then latency counts from the scheduled time).
    if (!inflight)
        inflight = rate > 0 ? (uint64_t) fmax (1000, rate * 2) : wl->inflight;
    if (!events)
        events = rate > 0 && !wl->events ? (uint64_t) (rate * duration) : wl->events;
    bool sleeping = streq (wl->type, "bench.sleep");

    zorch_cluster_t cluster = { .n = 0 };
    char *front = NULL;
    if (spawn) {
        //  Room for the whole window in the workers and the queue.
        uint64_t window = rate > 0 ? (uint64_t) rate : inflight;
        uint32_t capacity = (uint32_t) ((window + workers - 1) / workers);
        if (capacity < 1000)
            capacity = 1000;
        uint64_t queue_max = window * 2 > 10000 ? window * 2 : 10000;
        if (zorch_cluster_spawn (&cluster, (int) workers, transport, capacity, queue_max, durable)) {
            zorch_cluster_stop (&cluster);
            return 1;
        }
        front = strdup (cluster.front);
    }
    else
        front = zorch_client_endpoint (conf, endpoint);

    //  Signals reach only the loop's signalfd; children get them unblocked.
    zo_signals_block ();
    void *ctx = zmq_ctx_new ();
    zo_loop_t *loop = zo_loop_new ();
    int status = 1;
    {
        //  Wait for the broker (a spawned one needs a moment to bind).
        zo_rpc_t *probe = loop ? zo_rpc_new (loop, ctx, front, &(zo_rpc_opts_t) { .name = "probe" })
                               : NULL;
        int up = probe ? zo_rpc_ping (probe, spawn ? 10000 : 3000) : -1;
        zo_rpc_destroy (&probe);
        if (up) {
            fprintf (stderr, "zorch bench: no broker answers at %s\n", front);
            goto done;
        }
    }
    if (!spawn)
        zorch_cluster_find_local (&cluster);

    zo_inject_opts_t opts;
    zo_inject_opts_default (&opts);
    opts.endpoint = front;
    opts.wait = true;
    opts.inflight = (uint32_t) inflight;
    opts.timeout_ms = 30000;
    opts.max_frame = max_frame;
    json_t *event = s_standard_event (wl->type, sleeping ? (uint32_t) sleep_ms : 0);
    zo_inject_stats_t st;
    if (warmup) {
        zo_inject_opts_t wopts = opts;
        wopts.rate = 0;
        if (wopts.inflight > 1000)
            wopts.inflight = 1000;
        if (s_run_phase (loop, ctx, &wopts, event, warmup, &st) || st.lost || st.failed) {
            fprintf (stderr, "zorch bench: warm-up failed (%" PRIu64 " lost, %" PRIu64
                     " failed): are workers connected, with bench.* routes?\n", st.lost, st.failed);
            json_decref (event);
            goto done;
        }
    }
    opts.rate = rate;
    opts.pace_slack_us = (uint32_t) slack_us;
    for (int i = 0; i < cluster.n; i++)
        cluster.procs [i].cpu0 = zorch_proc_cpu (cluster.procs [i].pid);
    zorch_proc_t self = { .name = "zorch-bench", .pid = getpid () };
    self.cpu0 = zorch_proc_cpu (0);
    int rc = s_run_phase (loop, ctx, &opts, event, events, &st);
    json_decref (event);
    self.cpu1 = zorch_proc_cpu (0);
    self.peak_rss = zorch_proc_peak_rss (getpid ());
    for (int i = 0; i < cluster.n; i++) {
        zorch_proc_t *p = &cluster.procs [i];
        p->cpu1 = zorch_proc_cpu (p->pid);
        p->peak_rss = zorch_proc_peak_rss (p->pid);
    }
    if (!spawn) {
        workers = 0;
        for (int i = 0; i < cluster.n; i++)
            workers += strncmp (cluster.procs [i].name, "zorch-worker", 12) == 0;
    }
    s_print (wl, &st, &cluster, &self, (uint32_t) inflight, rate,
             sleeping ? (uint32_t) sleep_ms : 0, transport, (int) workers, spawn, durable, json);
    status = rc == 0 && st.lost == 0 && st.failed == 0 && st.nacked == 0 ? 0 : 1;
done:
    zo_loop_destroy (&loop);
    zmq_ctx_term (ctx);
    if (spawn)
        zorch_cluster_stop (&cluster);
    free (front);
    return status;
}
