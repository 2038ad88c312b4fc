/*  zo_actors: the monitor's table of reporting actors (see actors.h).
*/
#include <assert.h>
#include <czmq.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors.h"
#include "sample.h"

//  A histogram name's window: the exact merge of every actor's events of
//  the current second, and the percentiles of the last finished one.
typedef struct {
    char name [ZO_ACTORS_NAME];
    zo_hist_t hist;
    uint32_t reports;           //  reports carrying this histogram this second
    double last [4];            //  p50, p95, p99, p99.9 in ns; NaN = no events
    uint32_t last_age;          //  seconds since `last` was measured
} s_window_t;

typedef struct {
    zo_span_t name;
    uint64_t value;
} s_counter_t;

typedef struct {
    zo_span_t name;
    double value;
} s_gauge_t;

typedef struct {
    uint64_t ts_ms;
    zo_span_t text;
} s_note_t;

struct _zo_actors_t {
    zo_actors_conf_t conf;
    zo_arec_t **recs;           //  sorted by (kind, name)
    uint32_t n_recs;
    uint32_t next_id;
    //  Staging of the report being parsed.
    s_counter_t st_counters [ZO_ACTORS_COUNTERS];
    uint32_t st_n_counters;
    s_gauge_t st_gauges [ZO_ACTORS_GAUGES];
    uint32_t st_n_gauges;
    zo_span_t st_hist_names [ZO_ACTORS_HISTS];
    zo_hist_t *st_hists [ZO_ACTORS_HISTS];
    uint32_t st_n_hists;
    s_note_t st_notes [ZO_ACTORS_NOTES];
    uint32_t st_n_notes;
    uint32_t st_dropped;
    zo_hist_t scratch;          //  a histogram delta
    s_window_t windows [ZO_ACTORS_WINDOWS];
    uint32_t n_windows;
    zo_sample_t last;
    uint64_t *bad_stats, *actors_dropped, *metrics_dropped, *forgotten, *left;
    uint64_t dummy [5];
    char errstr [160];
};

//  Per-record flags that are not part of the public record.
typedef struct {
    zo_arec_t rec;
    bool announce;              //  new or back up: tell the next tick
} s_rec_t;

void
zo_actors_conf_defaults (zo_actors_conf_t *conf)
{
    assert (conf);
    memset (conf, 0, sizeof (*conf));
    conf->interval_ms = 1000;
    conf->down_after = 3;
    conf->forget_ms = 600000;
    conf->max_actors = 256;
    conf->latency_objective_ms = 100;
    conf->queue_capacity = 0;
    snprintf (conf->latency_hist, sizeof (conf->latency_hist), "latency_ns");
    conf->top_actors = 8;
}

zo_actors_t *
zo_actors_new (const zo_actors_conf_t *conf, zo_stats_t *stats)
{
    assert (conf);
    zo_actors_t *self = (zo_actors_t *) calloc (1, sizeof (zo_actors_t));
    if (!self)
        return NULL;
    self->conf = *conf;
    if (self->conf.max_actors < 1)
        self->conf.max_actors = 1;
    if (self->conf.down_after < 1)
        self->conf.down_after = 1;
    if (self->conf.interval_ms < 1)
        self->conf.interval_ms = 1000;
    if (self->conf.top_actors > ZO_SAMPLE_TOP)
        self->conf.top_actors = ZO_SAMPLE_TOP;
    self->recs = (zo_arec_t **) calloc (self->conf.max_actors, sizeof (zo_arec_t *));
    if (!self->recs) {
        free (self);
        return NULL;
    }
    self->next_id = 1;
    if (stats) {
        self->bad_stats = zo_stats_counter (stats, "bad_stats_total");
        self->actors_dropped = zo_stats_counter (stats, "actors_dropped_total");
        self->metrics_dropped = zo_stats_counter (stats, "metrics_dropped_total");
        self->forgotten = zo_stats_counter (stats, "actors_forgotten_total");
        self->left = zo_stats_counter (stats, "actors_left_total");
    }
    else {
        self->bad_stats = &self->dummy [0];
        self->actors_dropped = &self->dummy [1];
        self->metrics_dropped = &self->dummy [2];
        self->forgotten = &self->dummy [3];
        self->left = &self->dummy [4];
    }
    self->last.p50_ms = self->last.p95_ms = self->last.p99_ms = self->last.p999_ms = NAN;
    return self;
}

static void
s_rec_free (zo_arec_t *rec)
{
    for (uint32_t i = 0; i < rec->n_hists; i++)
        free (rec->hists [i].hist);
    free ((s_rec_t *) rec);
}

void
zo_actors_destroy (zo_actors_t **self_p)
{
    assert (self_p);
    zo_actors_t *self = *self_p;
    if (!self)
        return;
    for (uint32_t i = 0; i < self->n_recs; i++)
        s_rec_free (self->recs [i]);
    for (uint32_t i = 0; i < ZO_ACTORS_HISTS; i++)
        free (self->st_hists [i]);
    free (self->recs);
    free (self);
    *self_p = NULL;
}

const char *
zo_actors_errstr (const zo_actors_t *self)
{
    assert (self);
    return self->errstr;
}

//  ---------------------------------------------------------------------
//  Parsing a report

static int
s_bad (zo_actors_t *self, const char *what, zo_span_t name)
{
    (*self->bad_stats)++;
    snprintf (self->errstr, sizeof (self->errstr), "%s%s%.*s", what,
              name.len? ": ": "", (int) (name.len > 63? 63: name.len),
              name.len? (const char *) name.ptr: "");
    return -1;
}

//  Metric names: [A-Za-z_][A-Za-z0-9_]*, shorter than ZO_ACTORS_NAME, so
//  that they are valid in the Prometheus exposition as they are.
static bool
s_metric_name_ok (zo_span_t name)
{
    if (name.len == 0 || name.len >= ZO_ACTORS_NAME)
        return false;
    for (uint32_t i = 0; i < name.len; i++) {
        uint8_t c = name.ptr [i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
               || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool
s_kind_ok (zo_span_t kind)
{
    if (kind.len == 0 || kind.len >= ZO_ACTORS_KIND)
        return false;
    for (uint32_t i = 0; i < kind.len; i++) {
        uint8_t c = kind.ptr [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '_' || c == '-'))
            return false;
    }
    return true;
}

//  Instance names are shown in JSON and Prometheus labels (escaped there);
//  only NUL and other control bytes are refused.
static bool
s_instance_ok (zo_span_t name)
{
    if (name.len == 0 || name.len > ZO_MAX_NAME)
        return false;
    for (uint32_t i = 0; i < name.len; i++)
        if (name.ptr [i] < 0x20 || name.ptr [i] == 0x7f)
            return false;
    return true;
}

static int
s_parse_counters (zo_actors_t *self, zo_span_t span)
{
    self->st_n_counters = 0;
    if (span.len == 0)
        return 0;
    zo_mp_t cur;
    zo_mp_init (&cur, span.ptr, span.len);
    uint32_t n;
    if (zo_mp_read_map (&cur, &n))
        return s_bad (self, "counters is not a map", (zo_span_t) { NULL, 0 });
    for (uint32_t i = 0; i < n; i++) {
        zo_span_t name;
        uint64_t value;
        if (zo_mp_read_str (&cur, &name) || !s_metric_name_ok (name))
            return s_bad (self, "bad counter name", name);
        if (zo_mp_read_u64 (&cur, &value))
            return s_bad (self, "counter is not an unsigned integer", name);
        if (self->st_n_counters < ZO_ACTORS_COUNTERS)
            self->st_counters [self->st_n_counters++] = (s_counter_t) { name, value };
        else
            self->st_dropped++;
    }
    return 0;
}

static int
s_parse_gauges (zo_actors_t *self, zo_span_t span)
{
    self->st_n_gauges = 0;
    if (span.len == 0)
        return 0;
    zo_mp_t cur;
    zo_mp_init (&cur, span.ptr, span.len);
    uint32_t n;
    if (zo_mp_read_map (&cur, &n))
        return s_bad (self, "gauges is not a map", (zo_span_t) { NULL, 0 });
    for (uint32_t i = 0; i < n; i++) {
        zo_span_t name;
        double value;
        if (zo_mp_read_str (&cur, &name) || !s_metric_name_ok (name))
            return s_bad (self, "bad gauge name", name);
        if (zo_mp_read_f64 (&cur, &value))
            return s_bad (self, "gauge is not a number", name);
        if (!isfinite (value))
            value = 0;
        if (self->st_n_gauges < ZO_ACTORS_GAUGES)
            self->st_gauges [self->st_n_gauges++] = (s_gauge_t) { name, value };
        else
            self->st_dropped++;
    }
    return 0;
}

static int
s_parse_hists (zo_actors_t *self, zo_span_t span)
{
    self->st_n_hists = 0;
    if (span.len == 0)
        return 0;
    zo_mp_t cur;
    zo_mp_init (&cur, span.ptr, span.len);
    uint32_t n;
    if (zo_mp_read_map (&cur, &n))
        return s_bad (self, "hists is not a map", (zo_span_t) { NULL, 0 });
    for (uint32_t i = 0; i < n; i++) {
        zo_span_t name;
        if (zo_mp_read_str (&cur, &name) || !s_metric_name_ok (name))
            return s_bad (self, "bad histogram name", name);
        if (self->st_n_hists == ZO_ACTORS_HISTS) {
            self->st_dropped++;
            if (zo_mp_skip (&cur, NULL))
                return s_bad (self, "malformed histogram", name);
            continue;
        }
        uint32_t k = self->st_n_hists;
        if (!self->st_hists [k]) {
            self->st_hists [k] = (zo_hist_t *) malloc (sizeof (zo_hist_t));
            if (!self->st_hists [k])
                return s_bad (self, "out of memory for a histogram", name);
        }
        //  zo_hist_unpack adds into its target.
        zo_hist_reset (self->st_hists [k]);
        if (zo_hist_unpack (self->st_hists [k], &cur))
            return s_bad (self, "malformed histogram", name);
        self->st_hist_names [k] = name;
        self->st_n_hists++;
    }
    return 0;
}

//  Notes: an array of {ts_ms, text} maps, newest first (other keys are
//  skipped, for what later versions add). Past ZO_ACTORS_NOTES, the
//  oldest are dropped and counted.
static int
s_parse_notes (zo_actors_t *self, zo_span_t span)
{
    self->st_n_notes = 0;
    if (span.len == 0)
        return 0;
    zo_mp_t cur;
    zo_mp_init (&cur, span.ptr, span.len);
    uint32_t n;
    if (zo_mp_read_array (&cur, &n))
        return s_bad (self, "notes is not an array", (zo_span_t) { NULL, 0 });
    for (uint32_t i = 0; i < n; i++) {
        uint32_t pairs;
        if (zo_mp_read_map (&cur, &pairs))
            return s_bad (self, "a note is not a map", (zo_span_t) { NULL, 0 });
        s_note_t note = { 0, { NULL, 0 } };
        bool has_text = false;
        for (uint32_t k = 0; k < pairs; k++) {
            zo_span_t key;
            if (zo_mp_read_str (&cur, &key))
                return s_bad (self, "a note's key is not a string", (zo_span_t) { NULL, 0 });
            int rc;
            if (zo_span_eq (key, "ts_ms"))
                rc = zo_mp_read_u64 (&cur, &note.ts_ms);
            else
            if (zo_span_eq (key, "text")) {
                rc = zo_mp_read_str (&cur, &note.text);
                has_text = rc == 0;
            }
            else
                rc = zo_mp_skip (&cur, NULL);
            if (rc)
                return s_bad (self, "malformed note", key);
        }
        if (!has_text)
            return s_bad (self, "a note without text", (zo_span_t) { NULL, 0 });
        if (self->st_n_notes < ZO_ACTORS_NOTES)
            self->st_notes [self->st_n_notes++] = note;
        else
            self->st_dropped++;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  The table

static int
s_cmp_key (const char *kind_a, const char *name_a, zo_span_t kind_b, zo_span_t name_b)
{
    size_t la = strlen (kind_a);
    size_t n = la < kind_b.len? la: kind_b.len;
    int c = memcmp (kind_a, kind_b.ptr, n);
    if (c == 0 && la != kind_b.len)
        c = la < kind_b.len? -1: 1;
    if (c)
        return c;
    la = strlen (name_a);
    n = la < name_b.len? la: name_b.len;
    c = memcmp (name_a, name_b.ptr, n);
    if (c == 0 && la != name_b.len)
        c = la < name_b.len? -1: 1;
    return c;
}

//  Index of (kind, name), or where it would go (*found false).
static uint32_t
s_search (const zo_actors_t *self, zo_span_t kind, zo_span_t name, bool *found)
{
    uint32_t lo = 0, hi = self->n_recs;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = s_cmp_key (self->recs [mid]->kind, self->recs [mid]->name, kind, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void
s_remove_at (zo_actors_t *self, uint32_t index)
{
    s_rec_free (self->recs [index]);
    memmove (self->recs + index, self->recs + index + 1,
             (self->n_recs - index - 1) * sizeof (zo_arec_t *));
    self->n_recs--;
}

//  Makes room by forgetting the actor that has been down the longest.
static bool
s_evict (zo_actors_t *self)
{
    uint32_t victim = UINT32_MAX;
    for (uint32_t i = 0; i < self->n_recs; i++)
        if (self->recs [i]->down
        &&  (victim == UINT32_MAX || self->recs [i]->last_ms < self->recs [victim]->last_ms))
            victim = i;
    if (victim == UINT32_MAX)
        return false;
    s_remove_at (self, victim);
    (*self->forgotten)++;
    return true;
}

static zo_arec_t *
s_lookup_or_add (zo_actors_t *self, zo_span_t kind, zo_span_t name, uint64_t now_ms)
{
    bool found;
    uint32_t index = s_search (self, kind, name, &found);
    if (found)
        return self->recs [index];
    if (self->n_recs == self->conf.max_actors) {
        if (!s_evict (self)) {
            (*self->actors_dropped)++;
            snprintf (self->errstr, sizeof (self->errstr),
                      "too many actors (monitor/max_actors = %u)", self->conf.max_actors);
            return NULL;
        }
        index = s_search (self, kind, name, &found);
    }
    s_rec_t *srec = (s_rec_t *) calloc (1, sizeof (s_rec_t));
    if (!srec) {
        (*self->actors_dropped)++;
        snprintf (self->errstr, sizeof (self->errstr), "out of memory for a new actor");
        return NULL;
    }
    zo_arec_t *rec = &srec->rec;
    rec->id = self->next_id++;
    if (self->next_id == 0)
        self->next_id = 1;
    memcpy (rec->kind, kind.ptr, kind.len);
    memcpy (rec->name, name.ptr, name.len);
    rec->first_ms = now_ms;
    memmove (self->recs + index + 1, self->recs + index,
             (self->n_recs - index) * sizeof (zo_arec_t *));
    self->recs [index] = rec;
    self->n_recs++;
    return rec;
}

static bool
s_span_is (zo_span_t span, const char *str)
{
    size_t len = strlen (str);
    return span.len == len && memcmp (span.ptr, str, len) == 0;
}

//  Slot of a metric in an array of named entries, using the slot it had
//  in the message as a first guess (reports list names in the same order).
#define S_FIND(array, count, guess, span, out) do { \
    out = UINT32_MAX; \
    if ((guess) < (count) && s_span_is (span, (array) [guess].name)) \
        out = (guess); \
    else \
        for (uint32_t s_i = 0; s_i < (count); s_i++) \
            if (s_span_is (span, (array) [s_i].name)) { out = s_i; break; } \
} while (0)

static s_window_t *
s_window (zo_actors_t *self, const char *name)
{
    for (uint32_t i = 0; i < self->n_windows; i++)
        if (streq (self->windows [i].name, name))
            return &self->windows [i];
    if (self->n_windows == ZO_ACTORS_WINDOWS)
        return NULL;
    s_window_t *window = &self->windows [self->n_windows++];
    snprintf (window->name, sizeof (window->name), "%s", name);
    zo_hist_reset (&window->hist);
    window->reports = 0;
    for (int i = 0; i < 4; i++)
        window->last [i] = NAN;
    window->last_age = UINT32_MAX;
    return window;
}

//  Adds now - prev into window, exactly. When a bucket went down the
//  process restarted (or its histogram was reset): all of now is new.
static void
s_add_delta (zo_actors_t *self, zo_hist_t *window, const zo_hist_t *prev,
             const zo_hist_t *now, bool restart)
{
    if (!restart && now->count >= prev->count) {
        zo_hist_t *d = &self->scratch;
        bool back = false;
        unsigned first = ZO_HIST_BUCKETS, last = 0;
        for (unsigned i = 0; i < ZO_HIST_BUCKETS; i++) {
            if (now->buckets [i] < prev->buckets [i]) {
                back = true;
                break;
            }
            d->buckets [i] = now->buckets [i] - prev->buckets [i];
            if (d->buckets [i]) {
                if (first == ZO_HIST_BUCKETS)
                    first = i;
                last = i;
            }
        }
        if (!back) {
            if (first == ZO_HIST_BUCKETS)
                return;             //  nothing new
            d->count = now->count - prev->count;
            d->sum = now->sum >= prev->sum? now->sum - prev->sum: 0;
            //  The delta's extremes are known to the bucket.
            d->min = zo_hist_lower (first);
            d->max = zo_hist_upper (last);
            if (now->min > d->min && now->min <= zo_hist_upper (first))
                d->min = now->min;
            if (now->max < d->max && now->max >= zo_hist_lower (last))
                d->max = now->max;
            zo_hist_merge (window, d);
            return;
        }
    }
    zo_hist_merge (window, now);
}

int
zo_actors_apply (zo_actors_t *self, const zo_msg_t *msg, uint64_t now_ms)
{
    assert (self);
    assert (msg);
    self->errstr [0] = 0;
    if (msg->cmd != ZO_CMD_STATS)
        return s_bad (self, "not a STATS message", zo_span_str (zo_cmd_name (msg->cmd)));
    if (!s_kind_ok (msg->actor))
        return s_bad (self, "bad actor kind", msg->actor);
    if (!s_instance_ok (msg->name))
        return s_bad (self, "bad actor name", msg->name);
    if (msg->bye) {
        //  Leaving on purpose: forgotten now, not marked down later.
        bool found;
        uint32_t index = s_search (self, msg->actor, msg->name, &found);
        if (found) {
            s_remove_at (self, index);
            (*self->left)++;
        }
        return 0;
    }
    self->st_dropped = 0;
    if (s_parse_counters (self, msg->counters)
    ||  s_parse_gauges (self, msg->gauges)
    ||  s_parse_hists (self, msg->hists)
    ||  s_parse_notes (self, msg->notes))
        return -1;

    zo_arec_t *rec = s_lookup_or_add (self, msg->actor, msg->name, now_ms);
    if (!rec)
        return -1;
    s_rec_t *srec = (s_rec_t *) rec;
    bool first = rec->reports == 0;
    bool restart = !first && msg->pid != rec->pid;
    for (uint32_t i = 0; !first && !restart && i < self->st_n_counters; i++) {
        uint32_t slot;
        S_FIND (rec->counters, rec->n_counters, i, self->st_counters [i].name, slot);
        if (slot != UINT32_MAX && self->st_counters [i].value < rec->counters [slot].value)
            restart = true;
    }
    if (restart)
        rec->restarts++;
    //  Seconds between the two reports, by the actor's clock (its reports
    //  may queue up), else by ours.
    double dt = 0;
    if (!first) {
        if (msg->ts_ms > rec->ts_ms && msg->ts_ms - rec->ts_ms < 3600000)
            dt = (double) (msg->ts_ms - rec->ts_ms) / 1000.0;
        else if (now_ms > rec->last_ms)
            dt = (double) (now_ms - rec->last_ms) / 1000.0;
    }

    for (uint32_t i = 0; i < self->st_n_counters; i++) {
        const s_counter_t *in = &self->st_counters [i];
        uint32_t slot;
        S_FIND (rec->counters, rec->n_counters, i, in->name, slot);
        if (slot == UINT32_MAX) {
            if (rec->n_counters == ZO_ACTORS_COUNTERS) {
                self->st_dropped++;
                continue;
            }
            slot = rec->n_counters++;
            zo_acounter_t *c = &rec->counters [slot];
            memcpy (c->name, in->name.ptr, in->name.len);
            c->name [in->name.len] = 0;
            c->value = in->value;
            c->rate = 0;
            continue;               //  no rate before two reports
        }
        zo_acounter_t *c = &rec->counters [slot];
        if (restart || dt <= 0)
            c->rate = 0;
        else
            c->rate = (double) (in->value - c->value) / dt;
        c->value = in->value;
    }
    for (uint32_t i = 0; i < self->st_n_gauges; i++) {
        const s_gauge_t *in = &self->st_gauges [i];
        uint32_t slot;
        S_FIND (rec->gauges, rec->n_gauges, i, in->name, slot);
        if (slot == UINT32_MAX) {
            if (rec->n_gauges == ZO_ACTORS_GAUGES) {
                self->st_dropped++;
                continue;
            }
            slot = rec->n_gauges++;
            memcpy (rec->gauges [slot].name, in->name.ptr, in->name.len);
            rec->gauges [slot].name [in->name.len] = 0;
        }
        rec->gauges [slot].value = in->value;
    }
    for (uint32_t i = 0; i < self->st_n_hists; i++) {
        zo_span_t name = self->st_hist_names [i];
        uint32_t slot;
        S_FIND (rec->hists, rec->n_hists, i, name, slot);
        bool fresh = false;
        if (slot == UINT32_MAX) {
            if (rec->n_hists == ZO_ACTORS_HISTS) {
                self->st_dropped++;
                continue;
            }
            slot = rec->n_hists++;
            memcpy (rec->hists [slot].name, name.ptr, name.len);
            rec->hists [slot].name [name.len] = 0;
            rec->hists [slot].hist = NULL;
            fresh = true;
        }
        zo_ahist_t *h = &rec->hists [slot];
        s_window_t *window = s_window (self, h->name);
        if (window) {
            window->reports++;
            //  An actor's first report is its baseline: what it counted
            //  before we listened did not happen in this second.
            if (!first) {
                if (fresh) {
                    zo_hist_t empty;
                    zo_hist_reset (&empty);
                    s_add_delta (self, &window->hist, &empty, self->st_hists [i], true);
                }
                else
                    s_add_delta (self, &window->hist, h->hist, self->st_hists [i], restart);
            }
        }
        else
            self->st_dropped++;
        //  The staged histogram becomes the actor's; its old one is reused
        //  for staging (no copy).
        zo_hist_t *old = h->hist;
        h->hist = self->st_hists [i];
        self->st_hists [i] = old;
    }
    //  Cut at ZO_STATS_NOTE_MAX bytes, before a character that would
    //  not fit whole.
    for (uint32_t i = 0; i < self->st_n_notes; i++) {
        const s_note_t *in = &self->st_notes [i];
        zo_anote_t *note = &rec->notes [i];
        uint32_t len = in->text.len;
        if (len > ZO_STATS_NOTE_MAX) {
            len = ZO_STATS_NOTE_MAX;
            while (len > 0 && (in->text.ptr [len] & 0xC0) == 0x80)
                len--;
        }
        note->ts_ms = in->ts_ms;
        note->len = len;
        memcpy (note->text, in->text.ptr, len);
    }
    rec->n_notes = self->st_n_notes;
    if (!first && !restart && dt > 0 && msg->cpu_seconds >= rec->cpu_seconds)
        rec->cpu_pct = (msg->cpu_seconds - rec->cpu_seconds) / dt * 100.0;
    else if (restart)
        rec->cpu_pct = 0;
    rec->cpu_seconds = msg->cpu_seconds;
    rec->rss_bytes = msg->rss_bytes;
    rec->pid = msg->pid;
    snprintf (rec->version, sizeof (rec->version), "%.*s", (int) msg->version.len,
              msg->version.len ? (const char *) msg->version.ptr : "");
    rec->ts_ms = msg->ts_ms;
    rec->last_ms = now_ms;
    rec->reports++;
    if (first || rec->down)
        srec->announce = true;
    rec->down = false;
    if (self->st_dropped) {
        *self->metrics_dropped += self->st_dropped;
        snprintf (self->errstr, sizeof (self->errstr),
                  "%u metrics over the per-actor limits dropped", self->st_dropped);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Once a second

const zo_acounter_t *
zo_arec_counter (const zo_arec_t *actor, const char *name)
{
    for (uint32_t i = 0; i < actor->n_counters; i++)
        if (streq (actor->counters [i].name, name))
            return &actor->counters [i];
    return NULL;
}

const zo_agauge_t *
zo_arec_gauge (const zo_arec_t *actor, const char *name)
{
    for (uint32_t i = 0; i < actor->n_gauges; i++)
        if (streq (actor->gauges [i].name, name))
            return &actor->gauges [i];
    return NULL;
}

const zo_hist_t *
zo_arec_hist (const zo_arec_t *actor, const char *name)
{
    for (uint32_t i = 0; i < actor->n_hists; i++)
        if (streq (actor->hists [i].name, name))
            return actor->hists [i].hist;
    return NULL;
}

double
zo_arec_rate (const zo_arec_t *actor, const char *name)
{
    const zo_acounter_t *c = zo_arec_counter (actor, name);
    return c? c->rate: 0;
}

double
zo_arec_value (const zo_arec_t *actor, const char *name)
{
    const zo_agauge_t *g = zo_arec_gauge (actor, name);
    return g? g->value: 0;
}

//  Closes every window: percentiles of the second that ended.
static void
s_close_windows (zo_actors_t *self)
{
    static const double pcts [4] = { 50, 95, 99, 99.9 };
    for (uint32_t w = 0; w < self->n_windows; w++) {
        s_window_t *window = &self->windows [w];
        if (window->reports > 0) {
            for (int i = 0; i < 4; i++)
                window->last [i] = window->hist.count
                    ? (double) zo_hist_percentile (&window->hist, pcts [i]): NAN;
            window->last_age = 0;
        }
        else
        if (window->last_age != UINT32_MAX)
            window->last_age++;
        zo_hist_reset (&window->hist);
        window->reports = 0;
    }
}

void
zo_actors_tick (zo_actors_t *self, uint64_t now_ms, uint64_t wall_ms,
                zo_sample_t *sample, zo_actors_change_fn *fn, void *arg)
{
    assert (self);
    assert (sample);
    uint64_t silence = (uint64_t) self->conf.down_after * self->conf.interval_ms;
    for (uint32_t i = 0; i < self->n_recs; ) {
        zo_arec_t *rec = self->recs [i];
        s_rec_t *srec = (s_rec_t *) rec;
        if (srec->announce) {
            srec->announce = false;
            if (fn)
                fn (rec, true, arg);
        }
        if (!rec->down && now_ms - rec->last_ms > silence) {
            rec->down = true;
            rec->down_since_ms = now_ms;
            if (fn)
                fn (rec, false, arg);
        }
        if (rec->down && now_ms - rec->down_since_ms > self->conf.forget_ms) {
            s_remove_at (self, i);
            (*self->forgotten)++;
            continue;
        }
        i++;
    }
    s_close_windows (self);

    zo_sample_make (sample, self, wall_ms);
    self->last = *sample;
}

uint32_t
zo_actors_size (const zo_actors_t *self)
{
    assert (self);
    return self->n_recs;
}

const zo_arec_t *
zo_actors_at (const zo_actors_t *self, uint32_t index)
{
    assert (self);
    return index < self->n_recs? self->recs [index]: NULL;
}

const zo_arec_t *
zo_actors_find_id (const zo_actors_t *self, uint32_t id)
{
    assert (self);
    if (id == 0)
        return NULL;
    for (uint32_t i = 0; i < self->n_recs; i++)
        if (self->recs [i]->id == id)
            return self->recs [i];
    return NULL;
}

const zo_sample_t *
zo_actors_last (const zo_actors_t *self)
{
    assert (self);
    return &self->last;
}

const zo_actors_conf_t *
zo_actors_conf (const zo_actors_t *self)
{
    assert (self);
    return &self->conf;
}

uint32_t
zo_actors_notes (const zo_actors_t *self, const char *kind, const zo_anote_t **out, uint32_t max)
{
    assert (self);
    assert (kind);
    //  Insertion into out, newest first; a note as new as one there goes
    //  after it, so that each actor's own order holds.
    uint32_t n = 0;
    for (uint32_t i = 0; i < self->n_recs; i++) {
        const zo_arec_t *rec = self->recs [i];
        if (!streq (rec->kind, kind))
            continue;
        for (uint32_t k = 0; k < rec->n_notes; k++) {
            const zo_anote_t *note = &rec->notes [k];
            uint32_t at = n;
            while (at > 0 && out [at - 1]->ts_ms < note->ts_ms)
                at--;
            if (at >= max)
                break;              //  the rest of this actor's are older
            uint32_t last = n < max ? n : max - 1;
            memmove (out + at + 1, out + at, (last - at) * sizeof (out [0]));
            out [at] = note;
            if (n < max)
                n++;
        }
    }
    return n;
}

uint32_t
zo_actors_merge_hist (const zo_actors_t *self, const char *kind, const char *name,
                      zo_hist_t *into)
{
    assert (self);
    assert (name);
    assert (into);
    zo_hist_reset (into);
    uint32_t n = 0;
    for (uint32_t i = 0; i < self->n_recs; i++) {
        const zo_arec_t *rec = self->recs [i];
        if (kind && !streq (rec->kind, kind))
            continue;
        const zo_hist_t *hist = zo_arec_hist (rec, name);
        if (hist) {
            zo_hist_merge (into, hist);
            n++;
        }
    }
    return n;
}

bool
zo_actors_window (const zo_actors_t *self, const char *name, double pcts [4], uint32_t *age)
{
    assert (self);
    assert (name);
    for (uint32_t w = 0; w < self->n_windows; w++) {
        const s_window_t *window = &self->windows [w];
        if (streq (window->name, name)) {
            memcpy (pcts, window->last, sizeof (window->last));
            *age = window->last_age;
            return true;
        }
    }
    return false;
}

uint64_t
zo_actors_sum_counter (const zo_actors_t *self, const char *kind, const char *name)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < self->n_recs; i++) {
        const zo_arec_t *rec = self->recs [i];
        if (kind && !streq (rec->kind, kind))
            continue;
        const zo_acounter_t *c = zo_arec_counter (rec, name);
        if (c)
            sum += c->value;
    }
    return sum;
}

double
zo_actors_sum_rate (const zo_actors_t *self, const char *kind, const char *name)
{
    double sum = 0;
    for (uint32_t i = 0; i < self->n_recs; i++) {
        const zo_arec_t *rec = self->recs [i];
        if (!rec->down && (!kind || streq (rec->kind, kind)))
            sum += zo_arec_rate (rec, name);
    }
    return sum;
}

double
zo_actors_sum_gauge (const zo_actors_t *self, const char *kind, const char *name)
{
    double sum = 0;
    for (uint32_t i = 0; i < self->n_recs; i++) {
        const zo_arec_t *rec = self->recs [i];
        if (!rec->down && (!kind || streq (rec->kind, kind)))
            sum += zo_arec_value (rec, name);
    }
    return sum;
}

bool
zo_actors_kind_up (const zo_actors_t *self, const char *kind)
{
    for (uint32_t i = 0; i < self->n_recs; i++)
        if (!self->recs [i]->down && streq (self->recs [i]->kind, kind))
            return true;
    return false;
}
