/*  zo_render: /metrics, /health and the JSON API bodies (see render.h).
*/
#include <assert.h>
#include <czmq.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "sample.h"
#include "zo_json.h"

const double zo_render_le_seconds [] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
};
const int zo_render_le_count = (int) (sizeof (zo_render_le_seconds) / sizeof (double));

//  Boundaries for histograms in other units than ns: 1, 2.5, 5, 10 ... 1e9.
static const double s_le_plain [] = {
    1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1e3, 2.5e3, 5e3, 1e4, 2.5e4, 5e4,
    1e5, 2.5e5, 5e5, 1e6, 1e7, 1e8, 1e9
};

void
zo_render_cumulative (const zo_hist_t *hist, const double *bounds, int n, uint64_t *cum)
{
    assert (hist);
    memset (cum, 0, (size_t) (n + 1) * sizeof (uint64_t));
    int k = 0;
    for (unsigned i = 0; i < ZO_HIST_BUCKETS; i++) {
        if (!hist->buckets [i])
            continue;
        double upper = (double) zo_hist_upper (i);
        while (k < n && bounds [k] < upper)
            k++;
        //  Counted at its own boundary; the +Inf slot gets everything.
        if (k < n)
            cum [k] += hist->buckets [i];
        cum [n] += hist->buckets [i];
    }
    for (int j = 1; j < n; j++)
        cum [j] += cum [j - 1];
}

static bool
s_ends_with (const char *str, const char *suffix)
{
    size_t a = strlen (str), b = strlen (suffix);
    return a >= b && streq (str + a - b, suffix);
}

//  ---------------------------------------------------------------------
//  Prometheus text

static void
s_label_value (FILE *out, const char *value)
{
    for (const char *c = value; *c; c++) {
        if (*c == '\\')
            fputs ("\\\\", out);
        else if (*c == '"')
            fputs ("\\\"", out);
        else if (*c == '\n')
            fputs ("\\n", out);
        else
            fputc (*c, out);
    }
}

static void
s_labels (FILE *out, const zo_arec_t *rec, const char *extra_name, const char *extra_value)
{
    fputs ("{actor=\"", out);
    s_label_value (out, rec->kind);
    fputs ("\",name=\"", out);
    s_label_value (out, rec->name);
    fputc ('"', out);
    if (extra_name) {
        fprintf (out, ",%s=\"", extra_name);
        s_label_value (out, extra_value);
        fputc ('"', out);
    }
    fputc ('}', out);
}

static void
s_double (FILE *out, double value)
{
    if (isnan (value))
        fputs ("NaN", out);
    else if (isinf (value))
        fputs (value > 0? "+Inf": "-Inf", out);
    else
        fprintf (out, "%.15g", value);
}

//  One sample of a kind's metric family, to be sorted by family name.
typedef struct {
    char family [128];
    char type;                      //  'c', 'g', 'h'
    uint32_t rec;                   //  index in the table
    uint32_t slot;                  //  in the record's counters/gauges/hists
} s_entry_t;

static int
s_entry_cmp (const void *a, const void *b)
{
    const s_entry_t *x = (const s_entry_t *) a, *y = (const s_entry_t *) b;
    int c = strcmp (x->family, y->family);
    if (c)
        return c;
    return x->rec < y->rec? -1: x->rec > y->rec? 1: 0;
}

//  zorch_<kind>_: '-' becomes '_'; kinds that would collide with the
//  monitor's own families get "kind_" in front.
static void
s_prefix (char *buf, size_t size, const char *kind)
{
    bool reserved = streq (kind, "actor") || streq (kind, "cluster") || streq (kind, "alert");
    int n = snprintf (buf, size, "zorch_%s%s_", reserved? "kind_": "", kind);
    for (int i = 0; i < n && (size_t) i < size; i++)
        if (buf [i] == '-')
            buf [i] = '_';
}

static void
s_histogram (FILE *out, const char *family, const zo_arec_t *rec, const zo_hist_t *hist,
             bool seconds)
{
    uint64_t cum [32];
    const double *bounds = seconds? zo_render_le_seconds: s_le_plain;
    int n = seconds? zo_render_le_count: (int) (sizeof (s_le_plain) / sizeof (double));
    double scaled [32];
    for (int i = 0; i < n; i++)
        scaled [i] = seconds? bounds [i] * 1e9: bounds [i];
    zo_render_cumulative (hist, scaled, n, cum);
    for (int i = 0; i <= n; i++) {
        char le [32];
        if (i < n)
            snprintf (le, sizeof (le), "%g", bounds [i]);
        else
            snprintf (le, sizeof (le), "+Inf");
        fprintf (out, "%s_bucket", family);
        s_labels (out, rec, "le", le);
        fprintf (out, " %" PRIu64 "\n", cum [i]);
    }
    fprintf (out, "%s_sum", family);
    s_labels (out, rec, NULL, NULL);
    fputc (' ', out);
    s_double (out, seconds? (double) hist->sum / 1e9: (double) hist->sum);
    fputc ('\n', out);
    fprintf (out, "%s_count", family);
    s_labels (out, rec, NULL, NULL);
    fprintf (out, " %" PRIu64 "\n", cum [n]);
}

static void
s_actor_families (FILE *out, const zo_actors_t *actors)
{
    uint32_t n = zo_actors_size (actors);
    static const struct {
        const char *family, *type, *help;
    } fams [] = {
        { "zorch_actor_up", "gauge", "1 when the actor reported within monitor/down_after intervals" },
        { "zorch_actor_rss_bytes", "gauge", "Resident memory of the actor's process" },
        { "zorch_actor_cpu_seconds_total", "counter", "CPU time (user + system) of the actor's process" },
        { "zorch_actor_last_report_age_seconds", "gauge", "Seconds since the actor's last STATS" },
        { "zorch_actor_restarts_total", "counter", "Restarts the monitor noticed (new pid, counters reset)" },
        { "zorch_actor_info", "gauge", "1 per actor, its build in the version label" },
    };
    if (n == 0)
        return;
    const zo_arec_t *newest = NULL;
    for (uint32_t i = 0; i < n; i++) {
        const zo_arec_t *rec = zo_actors_at (actors, i);
        if (!newest || rec->last_ms > newest->last_ms)
            newest = rec;
    }
    for (size_t f = 0; f < sizeof (fams) / sizeof (fams [0]); f++) {
        fprintf (out, "# HELP %s %s\n# TYPE %s %s\n", fams [f].family, fams [f].help,
                 fams [f].family, fams [f].type);
        for (uint32_t i = 0; i < n; i++) {
            const zo_arec_t *rec = zo_actors_at (actors, i);
            fputs (fams [f].family, out);
            s_labels (out, rec, f == 5 ? "version" : NULL, rec->version);
            fputc (' ', out);
            switch (f) {
                case 0: fputs (rec->down? "0": "1", out); break;
                case 1: fprintf (out, "%" PRIu64, rec->rss_bytes); break;
                case 2: s_double (out, rec->cpu_seconds); break;
                case 3: s_double (out, (double) (newest->last_ms - rec->last_ms) / 1000.0); break;
                case 4: fprintf (out, "%u", rec->restarts); break;
                default: fputs ("1", out); break;
            }
            fputc ('\n', out);
        }
    }
}

static void
s_kind_families (FILE *out, const zo_actors_t *actors)
{
    uint32_t n = zo_actors_size (actors);
    size_t cap = 0;
    for (uint32_t i = 0; i < n; i++) {
        const zo_arec_t *rec = zo_actors_at (actors, i);
        cap += rec->n_counters + rec->n_gauges + rec->n_hists;
    }
    if (cap == 0)
        return;
    s_entry_t *entries = (s_entry_t *) malloc (cap * sizeof (s_entry_t));
    if (!entries)
        return;
    size_t used = 0;
    for (uint32_t i = 0; i < n; i++) {
        const zo_arec_t *rec = zo_actors_at (actors, i);
        char prefix [64];
        s_prefix (prefix, sizeof (prefix), rec->kind);
        for (uint32_t s = 0; s < rec->n_counters; s++) {
            s_entry_t *e = &entries [used++];
            //  Counters end in _total in the exposition.
            snprintf (e->family, sizeof (e->family), "%s%s%s", prefix, rec->counters [s].name,
                      s_ends_with (rec->counters [s].name, "_total")? "": "_total");
            e->type = 'c';
            e->rec = i;
            e->slot = s;
        }
        for (uint32_t s = 0; s < rec->n_gauges; s++) {
            s_entry_t *e = &entries [used++];
            snprintf (e->family, sizeof (e->family), "%s%s", prefix, rec->gauges [s].name);
            e->type = 'g';
            e->rec = i;
            e->slot = s;
        }
        for (uint32_t s = 0; s < rec->n_hists; s++) {
            s_entry_t *e = &entries [used++];
            const char *name = rec->hists [s].name;
            if (s_ends_with (name, "_ns"))
                snprintf (e->family, sizeof (e->family), "%s%.*s_seconds", prefix,
                          (int) (strlen (name) - 3), name);
            else
                snprintf (e->family, sizeof (e->family), "%s%s", prefix, name);
            e->type = 'h';
            e->rec = i;
            e->slot = s;
        }
    }
    qsort (entries, used, sizeof (s_entry_t), s_entry_cmp);
    const char *family = NULL;
    char type = 0;
    for (size_t k = 0; k < used; k++) {
        const s_entry_t *e = &entries [k];
        const zo_arec_t *rec = zo_actors_at (actors, e->rec);
        if (!family || !streq (family, e->family)) {
            family = e->family;
            type = e->type;
            const char *what = type == 'c'? "counter": type == 'g'? "gauge": "histogram";
            const char *orig = type == 'c'? rec->counters [e->slot].name
                             : type == 'g'? rec->gauges [e->slot].name: rec->hists [e->slot].name;
            fprintf (out, "# HELP %s %s %s %s, as reported in STATS\n", family, rec->kind, what, orig);
            fprintf (out, "# TYPE %s %s\n", family, what);
        }
        else
        if (e->type != type)
            continue;               //  same name, other type: cannot be exposed
        if (e->type == 'c') {
            fputs (e->family, out);
            s_labels (out, rec, NULL, NULL);
            fprintf (out, " %" PRIu64 "\n", rec->counters [e->slot].value);
        }
        else
        if (e->type == 'g') {
            fputs (e->family, out);
            s_labels (out, rec, NULL, NULL);
            fputc (' ', out);
            s_double (out, rec->gauges [e->slot].value);
            fputc ('\n', out);
        }
        else
            s_histogram (out, e->family, rec, rec->hists [e->slot].hist,
                         s_ends_with (rec->hists [e->slot].name, "_ns"));
    }
    free (entries);
}

char *
zo_render_metrics (const zo_view_t *view, size_t *size)
{
    assert (view);
    assert (size);
    char *text = NULL;
    FILE *out = open_memstream (&text, size);
    if (!out)
        return NULL;
    const zo_sample_t *s = zo_actors_last (view->actors);

    s_actor_families (out, view->actors);
    s_kind_families (out, view->actors);

    fprintf (out, "# HELP zorch_cluster_load_score The load score published for the autoscaler "
                  "(1 = at capacity)\n# TYPE zorch_cluster_load_score gauge\n");
    fprintf (out, "zorch_cluster_load_score ");
    s_double (out, s->load);
    fprintf (out, "\n# HELP zorch_cluster_load_part The load score's parts\n"
                  "# TYPE zorch_cluster_load_part gauge\n");
    const char *parts [4] = { "queue", "utilization", "latency", "cpu" };
    double values [4] = { s->load_queue, s->load_utilization, s->load_latency, s->load_cpu };
    for (int i = 0; i < 4; i++) {
        fprintf (out, "zorch_cluster_load_part{part=\"%s\"} ", parts [i]);
        s_double (out, values [i]);
        fputc ('\n', out);
    }
    fprintf (out, "# HELP zorch_cluster_actors Actors known to the monitor, by state\n"
                  "# TYPE zorch_cluster_actors gauge\n"
                  "zorch_cluster_actors{state=\"up\"} %u\n"
                  "zorch_cluster_actors{state=\"down\"} %u\n", s->actors_up, s->actors_down);
    //  The exact merge of every actor's latency histogram.
    const char *lname = zo_actors_conf (view->actors)->latency_hist;
    zo_hist_t *merged = (zo_hist_t *) malloc (sizeof (zo_hist_t));
    if (merged && zo_actors_merge_hist (view->actors, NULL, lname, merged) > 0
    &&  s_ends_with (lname, "_ns")) {
        fprintf (out, "# HELP zorch_cluster_latency_seconds Every actor's %s histogram, "
                      "merged exactly\n# TYPE zorch_cluster_latency_seconds histogram\n", lname);
        uint64_t cum [32];
        double scaled [32];
        for (int i = 0; i < zo_render_le_count; i++)
            scaled [i] = zo_render_le_seconds [i] * 1e9;
        zo_render_cumulative (merged, scaled, zo_render_le_count, cum);
        for (int i = 0; i <= zo_render_le_count; i++) {
            if (i < zo_render_le_count)
                fprintf (out, "zorch_cluster_latency_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                         zo_render_le_seconds [i], cum [i]);
            else
                fprintf (out, "zorch_cluster_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
                         cum [i]);
        }
        fprintf (out, "zorch_cluster_latency_seconds_sum ");
        s_double (out, (double) merged->sum / 1e9);
        fprintf (out, "\nzorch_cluster_latency_seconds_count %" PRIu64 "\n", cum [zo_render_le_count]);
    }
    free (merged);
    if (view->alerts && zo_alerts_size (view->alerts)) {
        fprintf (out, "# HELP zorch_alert_firing 1 while the alert rule is firing\n"
                      "# TYPE zorch_alert_firing gauge\n");
        for (size_t i = 0; i < zo_alerts_size (view->alerts); i++) {
            const zo_alert_t *alert = zo_alerts_at (view->alerts, i);
            fputs ("zorch_alert_firing{alert=\"", out);
            s_label_value (out, alert->name);
            fprintf (out, "\"} %d\n", alert->state == ZO_ALERT_FIRING);
        }
    }
    if (fclose (out)) {
        free (text);
        return NULL;
    }
    return text;
}

//  ---------------------------------------------------------------------
//  JSON

static json_t *
s_num (double value)
{
    return isfinite (value)? json_real (value): json_null ();
}

static json_t *
s_hist_json (const zo_hist_t *hist)
{
    json_t *obj = json_object ();
    json_object_set_new (obj, "count", json_integer ((json_int_t) hist->count));
    json_object_set_new (obj, "sum", json_real ((double) hist->sum));
    json_object_set_new (obj, "min", json_integer (hist->count? (json_int_t) hist->min: 0));
    json_object_set_new (obj, "max", json_integer ((json_int_t) hist->max));
    json_object_set_new (obj, "p50", json_integer ((json_int_t) zo_hist_percentile (hist, 50)));
    json_object_set_new (obj, "p95", json_integer ((json_int_t) zo_hist_percentile (hist, 95)));
    json_object_set_new (obj, "p99", json_integer ((json_int_t) zo_hist_percentile (hist, 99)));
    json_object_set_new (obj, "p999", json_integer ((json_int_t) zo_hist_percentile (hist, 99.9)));
    return obj;
}

//  {ts_ms, text}: a note, its text made valid UTF-8 for JSON.
static json_t *
s_note_json (const zo_anote_t *note)
{
    json_t *obj = json_object ();
    json_object_set_new (obj, "ts_ms", json_integer ((json_int_t) note->ts_ms));
    json_t *text = zo_json_string ((zo_span_t) { (const uint8_t *) note->text, note->len });
    json_object_set_new (obj, "text", text ? text : json_string (""));
    return obj;
}

static const char *
s_state (const zo_arec_t *rec)
{
    return rec->down? "down": "up";
}

static json_t *
s_actor_json (const zo_arec_t *rec, uint64_t newest_ms)
{
    json_t *obj = json_object ();
    json_object_set_new (obj, "actor", json_string (rec->kind));
    json_object_set_new (obj, "name", json_string (rec->name));
    json_object_set_new (obj, "pid", json_integer ((json_int_t) rec->pid));
    json_object_set_new (obj, "version", json_string (rec->version));
    json_object_set_new (obj, "up", json_boolean (!rec->down));
    json_object_set_new (obj, "state", json_string (s_state (rec)));
    json_object_set_new (obj, "last_report_ms",
                         json_integer ((json_int_t) (newest_ms > rec->last_ms? newest_ms - rec->last_ms: 0)));
    json_object_set_new (obj, "reports", json_integer ((json_int_t) rec->reports));
    json_object_set_new (obj, "restarts", json_integer (rec->restarts));
    json_object_set_new (obj, "rss_bytes", json_integer ((json_int_t) rec->rss_bytes));
    json_object_set_new (obj, "cpu_seconds", s_num (rec->cpu_seconds));
    json_object_set_new (obj, "cpu_pct", s_num (rec->cpu_pct));
    json_t *counters = json_object ();
    for (uint32_t i = 0; i < rec->n_counters; i++) {
        json_t *c = json_object ();
        json_object_set_new (c, "value", json_integer ((json_int_t) rec->counters [i].value));
        json_object_set_new (c, "rate", s_num (rec->counters [i].rate));
        json_object_set_new (counters, rec->counters [i].name, c);
    }
    json_object_set_new (obj, "counters", counters);
    json_t *gauges = json_object ();
    for (uint32_t i = 0; i < rec->n_gauges; i++)
        json_object_set_new (gauges, rec->gauges [i].name, s_num (rec->gauges [i].value));
    json_object_set_new (obj, "gauges", gauges);
    json_t *hists = json_object ();
    for (uint32_t i = 0; i < rec->n_hists; i++)
        json_object_set_new (hists, rec->hists [i].name, s_hist_json (rec->hists [i].hist));
    json_object_set_new (obj, "hists", hists);
    if (rec->n_notes) {
        json_t *notes = json_array ();
        for (uint32_t i = 0; i < rec->n_notes; i++)
            json_array_append_new (notes, s_note_json (&rec->notes [i]));
        json_object_set_new (obj, "notes", notes);
    }
    return obj;
}

//  The autoscalers' notes, newest first: why the cluster has the workers
//  it has.
static json_t *
s_decisions (const zo_actors_t *actors)
{
    const zo_anote_t *notes [ZO_RENDER_DECISIONS];
    uint32_t n = zo_actors_notes (actors, "autoscaler", notes, ZO_RENDER_DECISIONS);
    json_t *list = json_array ();
    for (uint32_t i = 0; i < n; i++)
        json_array_append_new (list, s_note_json (notes [i]));
    return list;
}

static uint64_t
s_newest_ms (const zo_actors_t *actors)
{
    uint64_t newest = 0;
    for (uint32_t i = 0; i < zo_actors_size (actors); i++)
        if (zo_actors_at (actors, i)->last_ms > newest)
            newest = zo_actors_at (actors, i)->last_ms;
    return newest;
}

json_t *
zo_render_load (const zo_view_t *view)
{
    const zo_sample_t *s = zo_actors_last (view->actors);
    json_t *obj = json_object ();
    json_object_set_new (obj, "score", s_num (s->load));
    json_t *parts = json_object ();
    json_object_set_new (parts, "queue", s_num (s->load_queue));
    json_object_set_new (parts, "utilization", s_num (s->load_utilization));
    json_object_set_new (parts, "latency", s_num (s->load_latency));
    json_object_set_new (parts, "cpu", s_num (s->load_cpu));
    json_object_set_new (obj, "parts", parts);
    json_object_set_new (obj, "ts_ms", json_integer ((json_int_t) s->ts_ms));
    json_object_set_new (obj, "workers_up", json_integer (s->workers_up));
    json_object_set_new (obj, "capacity", s_num (s->capacity));
    json_object_set_new (obj, "latency_objective_ms",
                         s_num (zo_actors_conf (view->actors)->latency_objective_ms));
    return obj;
}

json_t *
zo_render_alerts (const zo_view_t *view)
{
    json_t *obj = json_object ();
    json_t *rules = json_array ();
    json_t *active = json_array ();
    size_t n = view->alerts? zo_alerts_size (view->alerts): 0;
    for (size_t i = 0; i < n; i++) {
        const zo_alert_t *a = zo_alerts_at (view->alerts, i);
        char text [160];
        zo_alert_describe (a, text, sizeof (text));
        json_t *rule = json_object ();
        json_object_set_new (rule, "name", json_string (a->name));
        json_object_set_new (rule, "metric", json_string (a->metric));
        json_object_set_new (rule, "op", json_string (a->op));
        json_object_set_new (rule, "threshold", s_num (a->threshold));
        json_object_set_new (rule, "for_s", s_num ((double) a->for_ms / 1000.0));
        json_object_set_new (rule, "rule", json_string (text));
        json_object_set_new (rule, "state", json_string (
            a->state == ZO_ALERT_FIRING? "firing": a->state == ZO_ALERT_PENDING? "pending": "ok"));
        json_object_set_new (rule, "value", s_num (a->value));
        if (a->fired_wall_ms)
            json_object_set_new (rule, "fired_ms", json_integer ((json_int_t) a->fired_wall_ms));
        if (a->state == ZO_ALERT_FIRING)
            json_array_append (active, rule);
        json_array_append_new (rules, rule);
    }
    json_object_set_new (obj, "firing", json_integer ((json_int_t) json_array_size (active)));
    json_object_set_new (obj, "active", active);
    json_object_set_new (obj, "rules", rules);
    json_t *recent = json_array ();
    size_t m = view->alerts? zo_alerts_recent_size (view->alerts): 0;
    for (size_t i = 0; i < m; i++) {
        const zo_alert_event_t *e = zo_alerts_recent_at (view->alerts, i);
        json_t *ev = json_object ();
        json_object_set_new (ev, "ts_ms", json_integer ((json_int_t) e->wall_ms));
        json_object_set_new (ev, "name", json_string (e->name));
        json_object_set_new (ev, "state", json_string (e->firing? "firing": "resolved"));
        json_object_set_new (ev, "metric", json_string (e->metric));
        json_object_set_new (ev, "op", json_string (e->op));
        json_object_set_new (ev, "threshold", s_num (e->threshold));
        json_object_set_new (ev, "value", s_num (e->value));
        json_array_append_new (recent, ev);
    }
    json_object_set_new (obj, "recent", recent);
    json_t *hook = json_object ();
    json_object_set_new (hook, "url", view->webhook_url? json_string (view->webhook_url): json_null ());
    json_object_set_new (hook, "sent", json_integer ((json_int_t) view->webhook_sent));
    json_object_set_new (hook, "failed", json_integer ((json_int_t) view->webhook_failed));
    json_object_set_new (hook, "dropped", json_integer ((json_int_t) view->webhook_dropped));
    json_object_set_new (obj, "webhook", hook);
    return obj;
}

//  A dependency's state from a gauge: dep_<name>_up (1 up, 0 down), or
//  <name>_health (2 healthy, 1 degraded, 0 unhealthy: the pool's services
//  and databases). Returns the name's length, 0 when the gauge is neither.
static const char *s_states [] = { "unhealthy", "degraded", "healthy" };

static size_t
s_dependency (const zo_arec_t *rec, uint32_t g, const char **name, int *state)
{
    const char *gauge = rec->gauges [g].name;
    double value = rec->gauges [g].value;
    size_t len = strlen (gauge);
    if (len > 7 && !strncmp (gauge, "dep_", 4) && s_ends_with (gauge, "_up")) {
        *name = gauge + 4;
        *state = value >= 1? 2: 0;
        len -= 7;
    }
    else
    if (len > 7 && s_ends_with (gauge, "_health")) {
        *name = gauge;
        *state = value >= 2? 2: value >= 1? 1: 0;
        len -= 7;
    }
    else
        return 0;
    if (rec->down)
        *state = 0;
    return len;
}

//  Every actor's dependencies; *all_up is false when one is unhealthy.
static json_t *
s_dependencies (const zo_actors_t *actors, bool *all_up)
{
    json_t *deps = json_array ();
    *all_up = true;
    for (uint32_t i = 0; i < zo_actors_size (actors); i++) {
        const zo_arec_t *rec = zo_actors_at (actors, i);
        for (uint32_t g = 0; g < rec->n_gauges; g++) {
            const char *name;
            int state;
            size_t len = s_dependency (rec, g, &name, &state);
            if (!len)
                continue;
            if (state == 0)
                *all_up = false;
            json_t *dep = json_object ();
            char dname [ZO_ACTORS_NAME];
            snprintf (dname, sizeof (dname), "%.*s", (int) len, name);
            json_object_set_new (dep, "name", json_string (dname));
            json_object_set_new (dep, "up", json_boolean (state > 0));
            json_object_set_new (dep, "state", json_string (s_states [state]));
            json_object_set_new (dep, "actor", json_string (rec->kind));
            json_object_set_new (dep, "reported_by", json_string (rec->name));
            json_array_append_new (deps, dep);
        }
    }
    return deps;
}

json_t *
zo_render_health (const zo_view_t *view, bool *healthy)
{
    assert (view);
    const zo_actors_t *actors = view->actors;
    bool broker_up = zo_actors_kind_up (actors, "broker");
    bool any_down = false;
    uint64_t newest = s_newest_ms (actors);
    json_t *list = json_array ();
    for (uint32_t i = 0; i < zo_actors_size (actors); i++) {
        const zo_arec_t *rec = zo_actors_at (actors, i);
        if (rec->down)
            any_down = true;
        json_t *a = json_object ();
        json_object_set_new (a, "actor", json_string (rec->kind));
        json_object_set_new (a, "name", json_string (rec->name));
        json_object_set_new (a, "pid", json_integer ((json_int_t) rec->pid));
        json_object_set_new (a, "up", json_boolean (!rec->down));
        json_object_set_new (a, "last_report_ms",
                             json_integer ((json_int_t) (newest > rec->last_ms? newest - rec->last_ms: 0)));
        json_array_append_new (list, a);
    }
    bool deps_up;
    json_t *deps = s_dependencies (actors, &deps_up);
    *healthy = broker_up;
    const char *status = !broker_up? "fail": (any_down || !deps_up)? "degraded": "ok";
    const char *reason = !broker_up
        ? (zo_actors_size (actors)? "no broker is up": "no actor has reported yet")
        : any_down? "some actors are down": !deps_up? "a dependency is down": "all actors up";
    json_t *obj = json_object ();
    json_object_set_new (obj, "status", json_string (status));
    json_object_set_new (obj, "healthy", json_boolean (*healthy));
    json_object_set_new (obj, "reason", json_string (reason));
    json_object_set_new (obj, "ts_ms", json_integer ((json_int_t) view->wall_ms));
    json_object_set_new (obj, "actors", list);
    json_object_set_new (obj, "dependencies", deps);
    return obj;
}

//  Cache actors report <level>_hits_total and <level>_misses_total, and
//  dep_<level>_up for the levels below memory.
static json_t *
s_cache (const zo_actors_t *actors)
{
    json_t *list = json_array ();
    for (uint32_t i = 0; i < zo_actors_size (actors); i++) {
        const zo_arec_t *rec = zo_actors_at (actors, i);
        if (!streq (rec->kind, "cache"))
            continue;
        json_t *levels = json_object ();
        for (uint32_t c = 0; c < rec->n_counters; c++) {
            const char *name = rec->counters [c].name;
            if (!s_ends_with (name, "_hits_total"))
                continue;
            char level [ZO_ACTORS_NAME], miss [ZO_ACTORS_NAME + 16];
            snprintf (level, sizeof (level), "%.*s", (int) (strlen (name) - 11), name);
            snprintf (miss, sizeof (miss), "%s_misses_total", level);
            const zo_acounter_t *misses = zo_arec_counter (rec, miss);
            double hits = (double) rec->counters [c].value;
            double missed = misses? (double) misses->value: 0;
            double hr = rec->counters [c].rate, mr = misses? misses->rate: 0;
            json_t *l = json_object ();
            json_object_set_new (l, "hits", json_integer ((json_int_t) rec->counters [c].value));
            json_object_set_new (l, "misses", json_integer (misses? (json_int_t) misses->value: 0));
            json_object_set_new (l, "hit_rate", hits + missed > 0? json_real (hits / (hits + missed)): json_null ());
            json_object_set_new (l, "hit_rate_now", hr + mr > 0? json_real (hr / (hr + mr)): json_null ());
            json_object_set_new (levels, level, l);
        }
        //  The levels below memory, as the dependencies they are.
        json_t *deps = json_object ();
        for (uint32_t g = 0; g < rec->n_gauges; g++) {
            const char *name;
            int state;
            size_t len = s_dependency (rec, g, &name, &state);
            if (len) {
                char dep [ZO_ACTORS_NAME];
                snprintf (dep, sizeof (dep), "%.*s", (int) len, name);
                json_object_set_new (deps, dep, json_boolean (state > 0));
            }
        }
        json_t *a = json_object ();
        json_object_set_new (a, "name", json_string (rec->name));
        json_object_set_new (a, "up", json_boolean (!rec->down));
        json_object_set_new (a, "levels", levels);
        json_object_set_new (a, "below", deps);
        json_array_append_new (list, a);
    }
    if (json_array_size (list) == 0) {
        json_decref (list);
        return json_null ();
    }
    return list;
}

//  Pool actors report <name>_health (2 healthy, 1 degraded: paced or
//  half-open, 0 unhealthy: circuit open or database unreachable) with
//  <name>_inflight and <name>_queued, for each service and database.
static json_t *
s_pools (const zo_actors_t *actors)
{
    json_t *list = json_array ();
    for (uint32_t i = 0; i < zo_actors_size (actors); i++) {
        const zo_arec_t *rec = zo_actors_at (actors, i);
        if (!streq (rec->kind, "pool"))
            continue;
        json_t *services = json_object ();
        for (uint32_t g = 0; g < rec->n_gauges; g++) {
            const char *name;
            int state;
            size_t len = s_dependency (rec, g, &name, &state);
            if (!len)
                continue;
            char svc [ZO_ACTORS_NAME], gauge [ZO_ACTORS_NAME + 16];
            snprintf (svc, sizeof (svc), "%.*s", (int) len, name);
            json_t *s = json_object ();
            json_object_set_new (s, "state", json_string (s_states [state]));
            static const char *extra [] = { "inflight", "queued" };
            for (int e = 0; e < 2; e++) {
                snprintf (gauge, sizeof (gauge), "%s_%s", svc, extra [e]);
                const zo_agauge_t *x = zo_arec_gauge (rec, gauge);
                json_object_set_new (s, extra [e], x? s_num (x->value): json_null ());
            }
            json_object_set_new (services, svc, s);
        }
        json_t *a = json_object ();
        json_object_set_new (a, "name", json_string (rec->name));
        json_object_set_new (a, "up", json_boolean (!rec->down));
        json_object_set_new (a, "services", services);
        json_array_append_new (list, a);
    }
    if (json_array_size (list) == 0) {
        json_decref (list);
        return json_null ();
    }
    return list;
}

static json_t *
s_cluster (const zo_view_t *view)
{
    const zo_actors_t *actors = view->actors;
    const zo_sample_t *s = zo_actors_last (actors);
    json_t *c = json_object ();
    json_object_set_new (c, "accepted", s_num (s->accepted));
    json_object_set_new (c, "throughput", s_num (s->throughput));
    json_object_set_new (c, "errors", s_num (s->errors));
    json_object_set_new (c, "dead", s_num (s->dead));
    json_object_set_new (c, "error_rate", s_num (s->error_rate));
    json_object_set_new (c, "p50_ms", s_num (s->p50_ms));
    json_object_set_new (c, "p95_ms", s_num (s->p95_ms));
    json_object_set_new (c, "p99_ms", s_num (s->p99_ms));
    json_object_set_new (c, "p999_ms", s_num (s->p999_ms));
    json_t *q = json_object ();
    json_object_set_new (q, "high", s_num (s->queue [0]));
    json_object_set_new (q, "normal", s_num (s->queue [1]));
    json_object_set_new (q, "low", s_num (s->queue [2]));
    json_object_set_new (q, "total", s_num (s->queue_depth));
    json_object_set_new (c, "queue", q);
    json_object_set_new (c, "inflight", s_num (s->inflight));
    json_object_set_new (c, "capacity", s_num (s->capacity));
    json_object_set_new (c, "worker_inflight", s_num (s->worker_inflight));
    json_object_set_new (c, "workers_up", json_integer (s->workers_up));
    json_object_set_new (c, "brokers_up", json_integer (s->brokers_up));
    json_object_set_new (c, "actors_up", json_integer (s->actors_up));
    json_object_set_new (c, "actors_down", json_integer (s->actors_down));
    json_object_set_new (c, "cpu", s_num (s->cpu));
    static const char *totals [] = {
        "accepted_total", "completed_total", "failed_total", "dead_total", "nacked_total",
        "duplicates_total", "retried_total", "expired_total", "redelivered_total", NULL
    };
    json_t *t = json_object ();
    for (int i = 0; totals [i]; i++)
        json_object_set_new (t, totals [i],
                             json_integer ((json_int_t) zo_actors_sum_counter (actors, "broker", totals [i])));
    json_object_set_new (c, "totals", t);
    //  Since the start, every broker's histogram merged exactly.
    zo_hist_t *merged = (zo_hist_t *) malloc (sizeof (zo_hist_t));
    if (merged) {
        const char *lname = zo_actors_conf (actors)->latency_hist;
        if (zo_actors_merge_hist (actors, NULL, lname, merged) > 0)
            json_object_set_new (c, "latency_all", s_hist_json (merged));
        free (merged);
    }
    return c;
}

static json_t *
s_workers (const zo_actors_t *actors)
{
    json_t *list = json_array ();
    for (uint32_t i = 0; i < zo_actors_size (actors); i++) {
        const zo_arec_t *rec = zo_actors_at (actors, i);
        if (!streq (rec->kind, "worker"))
            continue;
        const zo_agauge_t *inflight = zo_arec_gauge (rec, "inflight");
        const zo_agauge_t *capacity = zo_arec_gauge (rec, "capacity");
        const zo_acounter_t *events = zo_arec_counter (rec, "events_total");
        double in = inflight? inflight->value: 0, cap = capacity? capacity->value: 0;
        json_t *w = json_object ();
        json_object_set_new (w, "name", json_string (rec->name));
        json_object_set_new (w, "up", json_boolean (!rec->down));
        json_object_set_new (w, "inflight", s_num (in));
        json_object_set_new (w, "capacity", s_num (cap));
        json_object_set_new (w, "load", cap > 0? json_real (in / cap): json_null ());
        json_object_set_new (w, "events_per_s", s_num (events? events->rate: 0));
        json_object_set_new (w, "cpu_pct", s_num (rec->cpu_pct));
        json_object_set_new (w, "rss_bytes", json_integer ((json_int_t) rec->rss_bytes));
        json_array_append_new (list, w);
    }
    return list;
}

json_t *
zo_render_stats (const zo_view_t *view)
{
    assert (view);
    json_t *obj = json_object ();
    json_object_set_new (obj, "ts_ms", json_integer ((json_int_t) view->wall_ms));
    bool healthy;
    json_t *health = zo_render_health (view, &healthy);
    json_object_set (obj, "status", json_object_get (health, "status"));
    json_object_set (obj, "reason", json_object_get (health, "reason"));
    json_object_set_new (obj, "healthy", json_boolean (healthy));
    json_object_set (obj, "dependencies", json_object_get (health, "dependencies"));
    json_decref (health);
    json_t *mon = json_object ();
    json_object_set_new (mon, "name", json_string (view->name? view->name: "monitor"));
    json_object_set_new (mon, "http", json_string (view->http_url? view->http_url: ""));
    json_object_set_new (mon, "uptime_s", json_real ((double) view->uptime_ms / 1000.0));
    json_object_set_new (mon, "reports_total", json_integer ((json_int_t) view->reports_total));
    json_object_set_new (mon, "bad_stats_total", json_integer ((json_int_t) view->bad_stats_total));
    json_object_set_new (mon, "history_s", json_integer ((json_int_t) zo_history_size (view->history)));
    json_object_set_new (obj, "monitor", mon);
    json_object_set_new (obj, "cluster", s_cluster (view));
    json_object_set_new (obj, "load", zo_render_load (view));
    uint64_t newest = s_newest_ms (view->actors);
    json_t *list = json_array ();
    for (uint32_t i = 0; i < zo_actors_size (view->actors); i++)
        json_array_append_new (list, s_actor_json (zo_actors_at (view->actors, i), newest));
    json_object_set_new (obj, "actors", list);
    json_object_set_new (obj, "decisions", s_decisions (view->actors));
    json_object_set_new (obj, "workers", s_workers (view->actors));
    json_object_set_new (obj, "cache", s_cache (view->actors));
    json_object_set_new (obj, "pools", s_pools (view->actors));
    json_object_set_new (obj, "alerts", zo_render_alerts (view));
    json_object_set_new (obj, "advice", zo_render_advice (view));
    return obj;
}

json_t *
zo_render_advice (const zo_view_t *view)
{
    assert (view);
    json_t *list = json_array ();
    uint32_t n = view->advice? zo_advice_size (view->advice): 0;
    for (uint32_t i = 0; i < n; i++) {
        const zo_advice_item_t *item = zo_advice_at (view->advice, i);
        json_t *a = json_object ();
        json_object_set_new (a, "id", json_string (item->id));
        json_object_set_new (a, "text", json_string (item->text));
        json_object_set_new (a, "since_ms", json_integer ((json_int_t) item->since_ms));
        json_array_append_new (list, a);
    }
    return list;
}

json_t *
zo_render_history (const zo_view_t *view, size_t seconds)
{
    assert (view);
    size_t size = zo_history_size (view->history);
    size_t first = seconds < size? size - seconds: 0;
    static const char *cols [] = {
        "accepted", "throughput", "errors", "dead", "error_rate", "p50_ms", "p95_ms",
        "p99_ms", "queue_high", "queue_normal", "queue_low", "queue_depth", "inflight",
        "worker_inflight", "capacity", "workers_up", "actors_up", "actors_down", "load",
        "load_queue", "load_utilization", "load_latency", "load_cpu", NULL
    };
    json_t *obj = json_object ();
    json_t *t = json_array ();
    json_t *arrays [32];
    int n_cols = 0;
    for (; cols [n_cols]; n_cols++)
        arrays [n_cols] = json_array ();
    //  Per-actor series: the actors in the newest sample's top list.
    const zo_sample_t *newest = size? zo_history_at (view->history, size - 1): NULL;
    json_t *per_actor = json_object ();
    json_t *rss [ZO_SAMPLE_TOP], *cpu [ZO_SAMPLE_TOP];
    uint32_t ids [ZO_SAMPLE_TOP];
    int n_ids = 0;
    for (int k = 0; newest && k < ZO_SAMPLE_TOP; k++) {
        const zo_arec_t *rec = zo_actors_find_id (view->actors, newest->top [k].id);
        if (!rec)
            continue;
        ids [n_ids] = rec->id;
        rss [n_ids] = json_array ();
        cpu [n_ids] = json_array ();
        json_t *a = json_object ();
        json_object_set_new (a, "actor", json_string (rec->kind));
        json_object_set_new (a, "name", json_string (rec->name));
        json_object_set_new (a, "rss_mb", rss [n_ids]);
        json_object_set_new (a, "cpu_pct", cpu [n_ids]);
        char key [ZO_ACTORS_KIND + ZO_MAX_NAME + 2];
        snprintf (key, sizeof (key), "%s/%s", rec->kind, rec->name);
        json_object_set_new (per_actor, key, a);
        n_ids++;
    }
    for (size_t i = first; i < size; i++) {
        const zo_sample_t *s = zo_history_at (view->history, i);
        json_array_append_new (t, json_real ((double) s->ts_ms / 1000.0));
        for (int c = 0; c < n_cols; c++)
            json_array_append_new (arrays [c], s_num (zo_sample_metric (s, cols [c], NULL)));
        for (int k = 0; k < n_ids; k++) {
            int at = -1;
            for (int j = 0; j < ZO_SAMPLE_TOP; j++)
                if (s->top [j].id == ids [k]) {
                    at = j;
                    break;
                }
            json_array_append_new (rss [k], at >= 0? json_real (s->top [at].rss_mb): json_null ());
            json_array_append_new (cpu [k], at >= 0? json_real (s->top [at].cpu_pct): json_null ());
        }
    }
    json_object_set_new (obj, "interval_s", json_real (
        (double) zo_actors_conf (view->actors)->interval_ms / 1000.0));
    json_object_set_new (obj, "t", t);
    for (int c = 0; c < n_cols; c++)
        json_object_set_new (obj, cols [c], arrays [c]);
    json_object_set_new (obj, "actors", per_actor);
    return obj;
}
