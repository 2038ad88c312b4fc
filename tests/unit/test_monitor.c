/*  Tests of actors/monitor: the actor table (zo_actors), exact histogram
    merging, rates, down detection, bye, notes and decisions, the history
    ring, alert rules and the bodies (zo_render). No sockets: STATS messages are encoded here and
    decoded by the real codec, and time is passed by hand.
*/
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "actors.h"
#include "alerts.h"
#include "sample.h"
#include "history.h"
#include "render.h"

//  A fake actor: what it reports, encoded as STATS.
typedef struct {
    const char *kind, *name;
    uint64_t pid;
    uint64_t ts_ms;
    const char *cnames [8];
    uint64_t cvalues [8];
    int n_counters;
    const char *gnames [8];
    double gvalues [8];
    int n_gauges;
    const char *hname;
    zo_hist_t hist;
    const char *notes [40];         //  newest first
    uint64_t note_ts [40];
    int n_notes;
    bool bye;
} s_fake_t;

static msgpack_sbuffer s_frame;
static zo_proto_t *s_dec;

static void
s_setup (void)
{
    msgpack_sbuffer_init (&s_frame);
    s_dec = zo_proto_new ();
}

static void
s_teardown (void)
{
    msgpack_sbuffer_destroy (&s_frame);
    zo_proto_destroy (&s_dec);
}

static void
s_str (msgpack_packer *pk, const char *str)
{
    msgpack_pack_str_with_body (pk, str, strlen (str));
}

//  Encodes and decodes one STATS of fake into *msg (valid until the next).
static void
s_encode (s_fake_t *fake, zo_msg_t *msg)
{
    static msgpack_sbuffer maps;
    static bool init;
    if (!init) {
        msgpack_sbuffer_init (&maps);
        init = true;
    }
    msgpack_sbuffer_clear (&maps);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &maps, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, (uint32_t) fake->n_counters);
    for (int i = 0; i < fake->n_counters; i++) {
        s_str (&pk, fake->cnames [i]);
        msgpack_pack_uint64 (&pk, fake->cvalues [i]);
    }
    size_t g_at = maps.size;
    msgpack_pack_map (&pk, (uint32_t) fake->n_gauges);
    for (int i = 0; i < fake->n_gauges; i++) {
        s_str (&pk, fake->gnames [i]);
        msgpack_pack_double (&pk, fake->gvalues [i]);
    }
    size_t h_at = maps.size;
    msgpack_pack_map (&pk, fake->hname? 1: 0);
    if (fake->hname) {
        s_str (&pk, fake->hname);
        zo_hist_pack (&fake->hist, &pk);
    }
    size_t n_at = maps.size;
    if (fake->n_notes) {
        msgpack_pack_array (&pk, (uint32_t) fake->n_notes);
        for (int i = 0; i < fake->n_notes; i++) {
            msgpack_pack_map (&pk, 2);
            s_str (&pk, "ts_ms");
            msgpack_pack_uint64 (&pk, fake->note_ts [i]);
            s_str (&pk, "text");
            s_str (&pk, fake->notes [i]);
        }
    }
    const uint8_t *base = (const uint8_t *) maps.data;
    zo_msg_t out;
    memset (&out, 0, sizeof (out));
    out.cmd = ZO_CMD_STATS;
    out.actor = zo_span_str (fake->kind);
    out.name = zo_span_str (fake->name);
    out.pid = fake->pid;
    out.ts_ms = fake->ts_ms;
    out.rss_bytes = 1 << 20;
    out.counters = (zo_span_t) { base, (uint32_t) g_at };
    out.gauges = (zo_span_t) { base + g_at, (uint32_t) (h_at - g_at) };
    out.hists = (zo_span_t) { base + h_at, (uint32_t) (n_at - h_at) };
    out.notes = (zo_span_t) { base + n_at, (uint32_t) (maps.size - n_at) };
    out.bye = fake->bye;
    msgpack_sbuffer_clear (&s_frame);
    msgpack_packer_init (&pk, &s_frame, msgpack_sbuffer_write);
    zo_proto_encode (&pk, &out);
    cr_assert_eq (zo_proto_decode (s_dec, s_frame.data, s_frame.size, msg), 0,
                  "%s", zo_proto_errstr (s_dec));
}

static zo_actors_t *
s_table (void)
{
    zo_actors_conf_t conf;
    zo_actors_conf_defaults (&conf);
    zo_actors_t *actors = zo_actors_new (&conf, NULL);
    cr_assert (actors);
    return actors;
}

static void
s_fake_init (s_fake_t *fake, const char *kind, const char *name)
{
    memset (fake, 0, sizeof (*fake));
    fake->kind = kind;
    fake->name = name;
    fake->pid = 100;
    fake->ts_ms = 1000000;
    zo_hist_reset (&fake->hist);
}

TestSuite (monitor, .init = s_setup, .fini = s_teardown);

//  Three actors' latency histograms, merged by the monitor, equal one
//  histogram of all their values, bucket for bucket; the percentiles of
//  the last second come from the exact merge of the differences.
Test (monitor, hist_merge_is_exact)
{
    zo_actors_t *actors = s_table ();
    s_fake_t fakes [3];
    const char *names [3] = { "b1", "b2", "b3" };
    zo_hist_t direct, second;
    zo_hist_reset (&direct);
    zo_hist_reset (&second);
    srand (42);
    for (int round = 0; round < 2; round++) {
        for (int a = 0; a < 3; a++) {
            s_fake_t *f = &fakes [a];
            if (round == 0)
                s_fake_init (f, "broker", names [a]);
            f->hname = "latency_ns";
            //  Different spreads per actor: 10 µs .. 500 ms.
            for (int i = 0; i < 5000; i++) {
                uint64_t v = (uint64_t) (10000 + (rand () % 1000) * (uint64_t) (a + 1)
                                         * (uint64_t) (rand () % 500));
                zo_hist_record (&f->hist, v);
                zo_hist_record (&direct, v);
                if (round == 1)
                    zo_hist_record (&second, v);
            }
            f->ts_ms += 1000;
            zo_msg_t msg;
            s_encode (f, &msg);
            cr_assert_eq (zo_actors_apply (actors, &msg, 1000 + (uint64_t) round * 1000), 0);
        }
    }
    zo_hist_t merged;
    cr_assert_eq (zo_actors_merge_hist (actors, "broker", "latency_ns", &merged), 3);
    cr_assert_eq (merged.count, direct.count);
    cr_assert_eq (merged.sum, direct.sum);
    cr_assert_eq (merged.min, direct.min);
    cr_assert_eq (merged.max, direct.max);
    cr_assert_eq (memcmp (merged.buckets, direct.buckets, sizeof (merged.buckets)), 0,
                  "merged buckets differ from the direct histogram");
    for (double p = 1; p < 100; p += 7.3)
        cr_assert_eq (zo_hist_percentile (&merged, p), zo_hist_percentile (&direct, p));

    //  The second's window holds exactly round 1's values: the same
    //  buckets, so the same percentiles (up to the clamping at the
    //  extremes, within one bucket).
    zo_sample_t sample;
    zo_actors_tick (actors, 2500, 5000, &sample, NULL, NULL);
    double want [3] = { (double) zo_hist_percentile (&second, 50) / 1e6,
                        (double) zo_hist_percentile (&second, 95) / 1e6,
                        (double) zo_hist_percentile (&second, 99) / 1e6 };
    double got [3] = { sample.p50_ms, sample.p95_ms, sample.p99_ms };
    for (int i = 0; i < 3; i++)
        cr_assert (fabs (got [i] - want [i]) <= want [i] * 0.032,
                   "percentile %d: got %f, want %f", i, got [i], want [i]);
    cr_assert_eq (sample.brokers_up, 3);
    //  The window the sample read, as the table shows it: this second's.
    double pcts [4];
    uint32_t age = 99;
    cr_assert (zo_actors_window (actors, "latency_ns", pcts, &age));
    cr_assert_eq (age, 0);
    cr_assert_eq (pcts [1] / 1e6, sample.p95_ms);
    cr_assert_not (zo_actors_window (actors, "no_such_hist", pcts, &age));
    zo_actors_tick (actors, 3500, 6000, &sample, NULL, NULL);
    cr_assert (zo_actors_window (actors, "latency_ns", pcts, &age));
    cr_assert_eq (age, 1, "a second without reports ages the window");
    zo_actors_destroy (&actors);
    cr_assert_null (actors);
}

Test (monitor, rates_and_restart)
{
    zo_actors_t *actors = s_table ();
    s_fake_t f;
    s_fake_init (&f, "broker", "b");
    f.cnames [0] = "accepted_total";
    f.cnames [1] = "completed_total";
    f.cnames [2] = "failed_total";
    f.n_counters = 3;
    f.gnames [0] = "queue_depth_normal";
    f.gvalues [0] = 42;
    f.n_gauges = 1;
    zo_msg_t msg;
    s_encode (&f, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 0), 0);
    f.ts_ms += 2000;
    f.cvalues [0] = 2000;
    f.cvalues [1] = 1980;
    f.cvalues [2] = 20;
    s_encode (&f, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 2000), 0);
    zo_sample_t s;
    zo_actors_tick (actors, 2100, 0, &s, NULL, NULL);
    cr_assert_float_eq (s.accepted, 1000, 1e-9);
    cr_assert_float_eq (s.throughput, 990, 1e-9);
    cr_assert_float_eq (s.errors, 10, 1e-9);
    cr_assert_float_eq (s.error_rate, 0.01, 1e-9);
    cr_assert_float_eq (s.queue [1], 42, 1e-9);
    cr_assert_float_eq (zo_sample_metric (&s, "queue_depth", NULL), 42, 1e-9);

    //  A new pid: a restart; no negative rate.
    f.pid = 101;
    f.ts_ms += 1000;
    f.cvalues [0] = 5;
    s_encode (&f, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 3000), 0);
    const zo_arec_t *rec = zo_actors_at (actors, 0);
    cr_assert_eq (rec->restarts, 1);
    cr_assert_float_eq (zo_arec_counter (rec, "accepted_total")->rate, 0, 1e-9);
    cr_assert_eq (zo_arec_counter (rec, "accepted_total")->value, 5);
    zo_actors_destroy (&actors);
}

static int s_downs, s_ups;
static void
s_change (const zo_arec_t *actor, bool up, void *arg)
{
    if (up)
        s_ups++;
    else
        s_downs++;
}

Test (monitor, silent_actor_is_down_after_three_intervals)
{
    zo_actors_t *actors = s_table ();
    s_fake_t f;
    s_fake_init (&f, "broker", "b");
    zo_msg_t msg;
    s_encode (&f, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 10000), 0);
    zo_sample_t s;
    s_ups = s_downs = 0;
    zo_actors_tick (actors, 10500, 0, &s, s_change, NULL);
    cr_assert_eq (s_ups, 1);
    zo_actors_tick (actors, 13000, 0, &s, s_change, NULL);
    cr_assert_eq (s_downs, 0, "3 s of silence is not yet more than 3 intervals");
    cr_assert_eq (s.brokers_up, 1);
    zo_actors_tick (actors, 13001, 0, &s, s_change, NULL);
    cr_assert_eq (s_downs, 1);
    cr_assert_eq (s.brokers_up, 0);
    cr_assert_eq (s.actors_down, 1);
    cr_assert_float_eq (zo_sample_metric (&s, "actor_down", NULL), 1, 1e-9);

    zo_view_t view = { .actors = actors };
    zo_history_t *history = zo_history_new (10);
    view.history = history;
    bool healthy = true;
    json_t *health = zo_render_health (&view, &healthy);
    cr_assert (!healthy, "no broker up: unhealthy (503)");
    cr_assert_str_eq (json_string_value (json_object_get (health, "status")), "fail");
    json_decref (health);

    //  It reports again: up, healthy.
    f.ts_ms += 4000;
    s_encode (&f, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 14000), 0);
    zo_actors_tick (actors, 14100, 0, &s, s_change, NULL);
    cr_assert_eq (s_ups, 2);
    health = zo_render_health (&view, &healthy);
    cr_assert (healthy);
    json_decref (health);
    //  Down long enough (forget, 10 min by default): forgotten.
    zo_actors_tick (actors, 14100 + 3001, 0, &s, NULL, NULL);
    zo_actors_tick (actors, 14100 + 3001 + 600001, 0, &s, NULL, NULL);
    cr_assert_eq (zo_actors_size (actors), 0);
    zo_history_destroy (&history);
    zo_actors_destroy (&actors);
}

Test (monitor, bad_stats_are_refused_whole)
{
    zo_stats_t *stats = zo_stats_new ("monitor", "m");
    zo_actors_conf_t conf;
    zo_actors_conf_defaults (&conf);
    zo_actors_t *actors = zo_actors_new (&conf, stats);
    //  counters holding a string value
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 1);
    s_str (&pk, "x_total");
    s_str (&pk, "twelve");
    zo_msg_t msg;
    memset (&msg, 0, sizeof (msg));
    msg.cmd = ZO_CMD_STATS;
    msg.actor = zo_span_str ("broker");
    msg.name = zo_span_str ("b");
    msg.counters = (zo_span_t) { (const uint8_t *) buf.data, (uint32_t) buf.size };
    cr_assert_eq (zo_actors_apply (actors, &msg, 0), -1);
    cr_assert_eq (zo_actors_size (actors), 0, "nothing of a bad report is applied");
    cr_assert_eq (*zo_stats_counter (stats, "bad_stats_total"), 1);
    //  a metric name that is not a Prometheus name
    msgpack_sbuffer_clear (&buf);
    msgpack_pack_map (&pk, 1);
    s_str (&pk, "bad name{}");
    msgpack_pack_uint64 (&pk, 1);
    msg.counters = (zo_span_t) { (const uint8_t *) buf.data, (uint32_t) buf.size };
    cr_assert_eq (zo_actors_apply (actors, &msg, 0), -1);
    //  a truncated histogram
    msgpack_sbuffer_clear (&buf);
    msgpack_pack_map (&pk, 1);
    s_str (&pk, "latency_ns");
    msgpack_pack_map (&pk, 1);
    s_str (&pk, "buckets");
    msgpack_pack_array (&pk, 1);
    msgpack_pack_array (&pk, 2);
    msgpack_pack_uint32 (&pk, 99999);       //  index out of range
    msgpack_pack_uint32 (&pk, 1);
    msg.counters = (zo_span_t) { NULL, 0 };
    msg.hists = (zo_span_t) { (const uint8_t *) buf.data, (uint32_t) buf.size };
    cr_assert_eq (zo_actors_apply (actors, &msg, 0), -1);
    //  a bad actor kind
    msg.hists = (zo_span_t) { NULL, 0 };
    msg.actor = zo_span_str ("bro ker");
    cr_assert_eq (zo_actors_apply (actors, &msg, 0), -1);
    cr_assert_eq (*zo_stats_counter (stats, "bad_stats_total"), 4);
    cr_assert_eq (zo_actors_size (actors), 0);
    msgpack_sbuffer_destroy (&buf);
    zo_actors_destroy (&actors);
    zo_stats_destroy (&stats);
}

Test (monitor, table_is_bounded)
{
    zo_actors_conf_t conf;
    zo_actors_conf_defaults (&conf);
    conf.max_actors = 4;
    zo_actors_t *actors = zo_actors_new (&conf, NULL);
    char name [16];
    zo_msg_t msg;
    for (int i = 0; i < 6; i++) {
        s_fake_t f;
        snprintf (name, sizeof (name), "w%d", i);
        s_fake_init (&f, "worker", name);
        s_encode (&f, &msg);
        cr_assert_eq (zo_actors_apply (actors, &msg, 0), i < 4? 0: -1);
    }
    cr_assert_eq (zo_actors_size (actors), 4);
    //  Once some are down, newcomers take the place of the longest-silent.
    zo_sample_t s;
    zo_actors_tick (actors, 5000, 0, &s, NULL, NULL);
    s_fake_t f;
    s_fake_init (&f, "worker", "w9");
    s_encode (&f, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 5000), 0);
    cr_assert_eq (zo_actors_size (actors), 4);
    zo_actors_destroy (&actors);
}

Test (monitor, load_score)
{
    zo_actors_t *actors = s_table ();
    s_fake_t w;
    s_fake_init (&w, "worker", "w1");
    w.gnames [0] = "capacity";
    w.gvalues [0] = 100;
    w.gnames [1] = "inflight";
    w.gvalues [1] = 60;
    w.n_gauges = 2;
    s_fake_t b;
    s_fake_init (&b, "broker", "b");
    b.gnames [0] = "queue_depth_high";
    b.gvalues [0] = 30;
    b.gnames [1] = "queue_depth_low";
    b.gvalues [1] = 20;
    b.n_gauges = 2;
    zo_msg_t msg;
    s_encode (&w, &msg);
    zo_actors_apply (actors, &msg, 0);
    s_encode (&b, &msg);
    zo_actors_apply (actors, &msg, 0);
    zo_sample_t s;
    zo_actors_tick (actors, 100, 0, &s, NULL, NULL);
    cr_assert_float_eq (s.load_queue, 0.5, 1e-9);
    cr_assert_float_eq (s.load_utilization, 0.6, 1e-9);
    cr_assert_float_eq (s.load, 0.6, 1e-9);
    zo_history_t *history = zo_history_new (4);
    zo_view_t view = { .actors = actors, .history = history };
    json_t *load = zo_render_load (&view);
    cr_assert_float_eq (json_real_value (json_object_get (load, "score")), 0.6, 1e-9);
    cr_assert_float_eq (json_real_value (json_object_get (json_object_get (load, "parts"), "queue")), 0.5, 1e-9);
    json_decref (load);
    zo_history_destroy (&history);
    zo_actors_destroy (&actors);
}

Test (monitor, history_ring)
{
    zo_history_t *h = zo_history_new (3);
    zo_sample_t s;
    memset (&s, 0, sizeof (s));
    for (int i = 1; i <= 5; i++) {
        s.ts_ms = (uint64_t) i;
        zo_history_push (h, &s);
    }
    cr_assert_eq (zo_history_size (h), 3);
    cr_assert_eq (zo_history_at (h, 0)->ts_ms, 3);
    cr_assert_eq (zo_history_at (h, 2)->ts_ms, 5);
    cr_assert_null (zo_history_at (h, 3));
    zo_history_destroy (&h);
    cr_assert_null (h);
}

static int s_fired, s_resolved;
static void
s_alert_fn (const zo_alert_t *alert, const zo_alert_event_t *event, void *arg)
{
    if (event->firing)
        s_fired++;
    else
        s_resolved++;
}

Test (monitor, alert_fires_after_its_duration_and_resolves)
{
    zo_alerts_t *alerts = zo_alerts_new ();
    char err [200];
    cr_assert_eq (zo_alerts_add (alerts, "slow", "p95_ms", ">", "100ms", "30s", err, sizeof (err)), 0, "%s", err);
    cr_assert_eq (zo_alerts_add (alerts, "errors", "error_rate", ">", "1%", "0", err, sizeof (err)), 0, "%s", err);
    cr_assert_float_eq (zo_alerts_at (alerts, 1)->threshold, 0.01, 1e-12);
    cr_assert_neq (zo_alerts_add (alerts, "x", "no_such_metric", ">", "1", "", err, sizeof (err)), 0);
    cr_assert_neq (zo_alerts_add (alerts, "x", "p95_ms", "=", "1", "", err, sizeof (err)), 0);
    cr_assert_neq (zo_alerts_add (alerts, "x", "p95_ms", ">", "1parsec", "", err, sizeof (err)), 0);
    zo_sample_t s;
    memset (&s, 0, sizeof (s));
    s_fired = s_resolved = 0;
    s.p95_ms = 150;
    for (uint64_t t = 0; t < 30000; t += 1000)
        zo_alerts_eval (alerts, &s, t, s_alert_fn, NULL);
    cr_assert_eq (s_fired, 0, "29 s is not 30 s");
    cr_assert_eq (zo_alerts_at (alerts, 0)->state, ZO_ALERT_PENDING);
    zo_alerts_eval (alerts, &s, 30000, s_alert_fn, NULL);
    cr_assert_eq (s_fired, 1);
    cr_assert_eq (zo_alerts_firing (alerts), 1);
    s.p95_ms = NAN;                 //  no data does not hold
    zo_alerts_eval (alerts, &s, 31000, s_alert_fn, NULL);
    cr_assert_eq (s_resolved, 1);
    s.error_rate = 0.02;
    zo_alerts_eval (alerts, &s, 32000, s_alert_fn, NULL);
    cr_assert_eq (s_fired, 2);
    cr_assert_eq (zo_alerts_recent_size (alerts), 3);
    cr_assert_str_eq (zo_alerts_recent_at (alerts, 0)->name, "errors");
    zo_alerts_destroy (&alerts);
}

//  Counts lines of text that start with prefix.
static const char *
s_line (const char *text, const char *prefix)
{
    const char *at = text;
    size_t len = strlen (prefix);
    while (at && *at) {
        if (strncmp (at, prefix, len) == 0)
            return at + len;
        at = strchr (at, '\n');
        if (at)
            at++;
    }
    return NULL;
}

Test (monitor, metrics_exposition)
{
    zo_actors_t *actors = s_table ();
    s_fake_t f;
    s_fake_init (&f, "broker", "b\"1");
    f.cnames [0] = "accepted_total";
    f.cvalues [0] = 12345;
    f.cnames [1] = "odd";                   //  gets _total in the exposition
    f.cvalues [1] = 7;
    f.n_counters = 2;
    f.gnames [0] = "queue_depth_high";
    f.gvalues [0] = 2.5;
    f.n_gauges = 1;
    f.hname = "latency_ns";
    zo_hist_record_n (&f.hist, 200000, 3);      //  0.2 ms: le 0.00025
    zo_hist_record_n (&f.hist, 3000000, 2);     //  3 ms: le 0.005
    zo_hist_record (&f.hist, 40000000);         //  40 ms: le 0.05
    zo_msg_t msg;
    s_encode (&f, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 0), 0);
    zo_sample_t s;
    zo_actors_tick (actors, 100, 0, &s, NULL, NULL);
    zo_history_t *history = zo_history_new (4);
    zo_alerts_t *alerts = zo_alerts_new ();
    zo_view_t view = { .actors = actors, .history = history, .alerts = alerts };
    size_t size;
    char *text = zo_render_metrics (&view, &size);
    cr_assert (text);
    cr_assert_eq (strlen (text), size);
    const char *v = s_line (text, "zorch_broker_accepted_total{actor=\"broker\",name=\"b\\\"1\"} ");
    cr_assert (v, "%s", text);
    cr_assert_eq (strtoull (v, NULL, 10), 12345);
    cr_assert (s_line (text, "# TYPE zorch_broker_odd_total counter"));
    v = s_line (text, "zorch_broker_queue_depth_high{actor=\"broker\",name=\"b\\\"1\"} ");
    cr_assert (v);
    cr_assert_float_eq (strtod (v, NULL), 2.5, 1e-12);
    cr_assert (s_line (text, "# TYPE zorch_broker_latency_seconds histogram"));
    const char *lbl = "zorch_broker_latency_seconds_bucket{actor=\"broker\",name=\"b\\\"1\",le=\"";
    char want [256];
    struct { const char *le; int count; } b [] = {
        { "0.0001", 0 }, { "0.00025", 3 }, { "0.0025", 3 }, { "0.005", 5 }, { "0.025", 5 },
        { "0.05", 6 }, { "+Inf", 6 }
    };
    for (size_t i = 0; i < sizeof (b) / sizeof (b [0]); i++) {
        snprintf (want, sizeof (want), "%s%s\"} ", lbl, b [i].le);
        v = s_line (text, want);
        cr_assert (v, "no line %s", want);
        cr_assert_eq (atoi (v), b [i].count, "le %s", b [i].le);
    }
    v = s_line (text, "zorch_broker_latency_seconds_count{actor=\"broker\",name=\"b\\\"1\"} ");
    cr_assert (v);
    cr_assert_eq (atoi (v), 6);
    v = s_line (text, "zorch_broker_latency_seconds_sum{actor=\"broker\",name=\"b\\\"1\"} ");
    cr_assert (v);
    cr_assert_float_eq (strtod (v, NULL), (3 * 200000.0 + 2 * 3000000.0 + 40000000.0) / 1e9, 1e-12);
    cr_assert (s_line (text, "zorch_cluster_latency_seconds_count 6"));
    free (text);

    json_t *stats = zo_render_stats (&view);
    json_t *actor = json_array_get (json_object_get (stats, "actors"), 0);
    cr_assert_str_eq (json_string_value (json_object_get (actor, "name")), "b\"1");
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (
        json_object_get (actor, "counters"), "accepted_total"), "value")), 12345);
    cr_assert (json_is_null (json_object_get (stats, "cache")));
    json_decref (stats);
    json_t *hist = zo_render_history (&view, 60);
    cr_assert (json_is_array (json_object_get (hist, "t")));
    json_decref (hist);
    zo_alerts_destroy (&alerts);
    zo_history_destroy (&history);
    zo_actors_destroy (&actors);
}

Test (monitor, cumulative_buckets)
{
    zo_hist_t h;
    zo_hist_reset (&h);
    for (uint64_t v = 1; v < 2000000; v = v * 3 + 1)
        zo_hist_record (&h, v);
    double bounds [3] = { 1000, 100000, 1000000 };
    uint64_t cum [4];
    zo_render_cumulative (&h, bounds, 3, cum);
    //  Exact lower bounds: a bucket counts under le only when all of it is <= le.
    uint64_t below [3] = { 0, 0, 0 };
    for (unsigned i = 0; i < ZO_HIST_BUCKETS; i++)
        for (int k = 0; k < 3; k++)
            if ((double) zo_hist_upper (i) <= bounds [k])
                below [k] += h.buckets [i];
    for (int k = 0; k < 3; k++)
        cr_assert_eq (cum [k], below [k]);
    cr_assert_eq (cum [3], h.count);
}

//  An actor that says bye (it stops on purpose) is gone at once: never
//  marked down, no actor_down alert, in no body; one that falls silent
//  beside it is down and fires the alert.
Test (monitor, bye_forgets_at_once_without_an_alert)
{
    zo_stats_t *stats = zo_stats_new ("monitor", "m");
    zo_actors_conf_t conf;
    zo_actors_conf_defaults (&conf);
    zo_actors_t *actors = zo_actors_new (&conf, stats);
    zo_alerts_t *alerts = zo_alerts_new ();
    char err [200];
    cr_assert_eq (zo_alerts_add (alerts, "actor_down", "actor_down", ">", "0", "0", err, sizeof (err)), 0);
    s_fake_t b, w, gone;
    s_fake_init (&b, "broker", "b");
    s_fake_init (&w, "worker", "w-leaving");
    s_fake_init (&gone, "worker", "w-silent");
    zo_msg_t msg;
    s_encode (&b, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 1000), 0);
    s_encode (&w, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 1000), 0);
    zo_sample_t s;
    s_ups = s_downs = 0;
    zo_actors_tick (actors, 1100, 0, &s, s_change, NULL);
    cr_assert_eq (s_ups, 2);
    cr_assert_eq (s.workers_up, 1);

    //  Its last report says bye: removed before any tick.
    w.ts_ms += 1000;
    w.bye = true;
    s_encode (&w, &msg);
    cr_assert (msg.bye);
    cr_assert_eq (zo_actors_apply (actors, &msg, 2000), 0);
    cr_assert_eq (zo_actors_size (actors), 1);
    cr_assert_str_eq (zo_actors_at (actors, 0)->name, "b");
    cr_assert_eq (*zo_stats_counter (stats, "actors_left_total"), 1);
    //  A bye from an actor never seen: nothing to do, no error.
    s_fake_t stranger;
    s_fake_init (&stranger, "worker", "never-seen");
    stranger.bye = true;
    s_encode (&stranger, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 2000), 0);
    cr_assert_eq (zo_actors_size (actors), 1);
    cr_assert_eq (*zo_stats_counter (stats, "actors_left_total"), 1);

    //  The other one stops without a word, at the same time.
    s_encode (&gone, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 2000), 0);
    s_fired = s_resolved = 0;
    for (uint64_t t = 3000; t <= 12000; t += 1000) {
        b.ts_ms += 1000;
        s_encode (&b, &msg);
        cr_assert_eq (zo_actors_apply (actors, &msg, t), 0);
        zo_actors_tick (actors, t + 100, 0, &s, s_change, NULL);
        zo_alerts_eval (alerts, &s, t + 100, s_alert_fn, NULL);
    }
    cr_assert_eq (s_downs, 1, "only the silent worker is down");
    cr_assert_eq (s.actors_down, 1);
    cr_assert_eq (s.workers_up, 0);
    cr_assert_eq (s_fired, 1, "actor_down fired once, for the silent worker");
    for (uint32_t i = 0; i < zo_actors_size (actors); i++)
        cr_assert_str_neq (zo_actors_at (actors, i)->name, "w-leaving");

    zo_history_t *history = zo_history_new (4);
    zo_view_t view = { .actors = actors, .history = history, .alerts = alerts };
    json_t *body = zo_render_stats (&view);
    char *text = json_dumps (body, JSON_COMPACT);
    cr_assert_null (strstr (text, "w-leaving"), "%s", text);
    free (text);
    json_decref (body);
    size_t size;
    text = zo_render_metrics (&view, &size);
    cr_assert_null (strstr (text, "w-leaving"));
    free (text);
    zo_history_destroy (&history);
    zo_alerts_destroy (&alerts);
    zo_actors_destroy (&actors);
    zo_stats_destroy (&stats);
}

//  Each actor keeps the notes of its last report; /api/stats shows them
//  per actor, and the autoscalers' as "decisions", newest first, 20 at
//  most.
Test (monitor, notes_and_decisions)
{
    zo_actors_t *actors = s_table ();
    s_fake_t a1, a2, w;
    s_fake_init (&a1, "autoscaler", "a1");
    s_fake_init (&a2, "autoscaler", "a2");
    s_fake_init (&w, "worker", "w1");
    //  a1: 15 notes at odd seconds, a2: 15 at even ones, newest first.
    static char texts [2][15][32];
    for (int i = 0; i < 15; i++) {
        snprintf (texts [0][i], sizeof (texts [0][i]), "a1 decision %d", 28 - 2 * i + 1);
        a1.notes [i] = texts [0][i];
        a1.note_ts [i] = 1000000 + (uint64_t) (28 - 2 * i + 1) * 1000;
        snprintf (texts [1][i], sizeof (texts [1][i]), "a2 decision %d", 28 - 2 * i);
        a2.notes [i] = texts [1][i];
        a2.note_ts [i] = 1000000 + (uint64_t) (28 - 2 * i) * 1000;
    }
    a1.n_notes = a2.n_notes = 15;
    w.notes [0] = "quiet: 3 in flight finish";
    w.note_ts [0] = 2000000;            //  the newest of all, but not a decision
    w.n_notes = 1;
    zo_msg_t msg;
    s_encode (&a1, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 0), 0);
    s_encode (&a2, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 0), 0);
    s_encode (&w, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 0), 0);

    const zo_anote_t *notes [40];
    cr_assert_eq (zo_actors_notes (actors, "autoscaler", notes, 40), 30);
    for (int i = 1; i < 30; i++)
        cr_assert_geq (notes [i - 1]->ts_ms, notes [i]->ts_ms);

    zo_history_t *history = zo_history_new (4);
    zo_view_t view = { .actors = actors, .history = history };
    json_t *body = zo_render_stats (&view);
    json_t *decisions = json_object_get (body, "decisions");
    cr_assert_eq (json_array_size (decisions), ZO_RENDER_DECISIONS);
    for (int i = 0; i < ZO_RENDER_DECISIONS; i++) {
        json_t *d = json_array_get (decisions, (size_t) i);
        char want [32];
        snprintf (want, sizeof (want), "a%d decision %d", (29 - i) % 2 ? 1 : 2, 29 - i);
        cr_assert_str_eq (json_string_value (json_object_get (d, "text")), want);
        cr_assert_eq (json_integer_value (json_object_get (d, "ts_ms")), 1000000 + (29 - i) * 1000);
    }
    json_t *list = json_object_get (body, "actors");
    for (size_t i = 0; i < json_array_size (list); i++) {
        json_t *a = json_array_get (list, i);
        const char *name = json_string_value (json_object_get (a, "name"));
        json_t *n = json_object_get (a, "notes");
        if (streq (name, "w1")) {
            cr_assert_eq (json_array_size (n), 1);
            cr_assert_str_eq (json_string_value (json_object_get (json_array_get (n, 0), "text")),
                              "quiet: 3 in flight finish");
        }
        else
            cr_assert_eq (json_array_size (n), 15, "%s", name);
    }
    json_decref (body);

    //  The next report's notes replace the last ones; none: none. A text
    //  that is not UTF-8 still makes valid JSON.
    a1.n_notes = 0;
    a2.notes [0] = "bad \xff\xfe bytes";
    a2.note_ts [0] = 5000000;
    a2.n_notes = 1;
    s_encode (&a1, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 1000), 0);
    s_encode (&a2, &msg);
    cr_assert_eq (zo_actors_apply (actors, &msg, 1000), 0);
    body = zo_render_stats (&view);
    decisions = json_object_get (body, "decisions");
    cr_assert_eq (json_array_size (decisions), 1);
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (decisions, 0), "text")),
                      "bad \xef\xbf\xbd\xef\xbf\xbd bytes");
    list = json_object_get (body, "actors");
    cr_assert_null (json_object_get (json_array_get (list, 0), "notes"), "a1 has none now");
    json_decref (body);

    //  No autoscaler: no decisions.
    a1.bye = a2.bye = true;
    s_encode (&a1, &msg);
    zo_actors_apply (actors, &msg, 2000);
    s_encode (&a2, &msg);
    zo_actors_apply (actors, &msg, 2000);
    body = zo_render_stats (&view);
    cr_assert_eq (json_array_size (json_object_get (body, "decisions")), 0);
    json_decref (body);
    zo_history_destroy (&history);
    zo_actors_destroy (&actors);
}

Test (monitor, malformed_notes_refuse_the_report)
{
    zo_actors_t *actors = s_table ();
    msgpack_sbuffer buf;
    msgpack_sbuffer_init (&buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buf, msgpack_sbuffer_write);
    zo_msg_t msg;
    memset (&msg, 0, sizeof (msg));
    msg.cmd = ZO_CMD_STATS;
    msg.actor = zo_span_str ("autoscaler");
    msg.name = zo_span_str ("a");
    //  Not an array; a note that is not a map; a note without text.
    msgpack_pack_map (&pk, 0);
    size_t at1 = buf.size;
    msgpack_pack_array (&pk, 1);
    msgpack_pack_uint32 (&pk, 7);
    size_t at2 = buf.size;
    msgpack_pack_array (&pk, 1);
    msgpack_pack_map (&pk, 1);
    s_str (&pk, "ts_ms");
    msgpack_pack_uint32 (&pk, 7);
    size_t at3 = buf.size;
    const uint8_t *base = (const uint8_t *) buf.data;
    zo_span_t bad [3] = { { base, (uint32_t) at1 }, { base + at1, (uint32_t) (at2 - at1) },
                          { base + at2, (uint32_t) (at3 - at2) } };
    for (int i = 0; i < 3; i++) {
        msg.notes = bad [i];
        cr_assert_eq (zo_actors_apply (actors, &msg, 0), -1, "case %d", i);
        cr_assert_eq (zo_actors_size (actors), 0);
    }
    //  Unknown keys in a note are skipped; over 32 notes, the oldest go.
    msgpack_sbuffer_clear (&buf);
    msgpack_pack_array (&pk, 40);
    for (int i = 0; i < 40; i++) {
        msgpack_pack_map (&pk, 3);
        s_str (&pk, "ts_ms");
        msgpack_pack_uint32 (&pk, (uint32_t) (100 - i));
        s_str (&pk, "why");
        msgpack_pack_array (&pk, 0);
        s_str (&pk, "text");
        s_str (&pk, "x");
    }
    msg.notes = (zo_span_t) { (const uint8_t *) buf.data, (uint32_t) buf.size };
    cr_assert_eq (zo_actors_apply (actors, &msg, 0), 0);
    const zo_arec_t *rec = zo_actors_at (actors, 0);
    cr_assert_eq (rec->n_notes, ZO_ACTORS_NOTES);
    cr_assert_eq (rec->notes [0].ts_ms, 100);
    cr_assert_eq (rec->notes [ZO_ACTORS_NOTES - 1].ts_ms, 100 - ZO_ACTORS_NOTES + 1);
    msgpack_sbuffer_destroy (&buf);
    zo_actors_destroy (&actors);
}
