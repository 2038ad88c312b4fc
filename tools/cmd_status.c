/*  zorch status: the cluster at a glance, from the monitor's /api/stats.

    zorch status [--monitor URL] [--watch] [--json] [--timeout SECONDS]

    Prints a table of the cluster (health, load score, rates, latency
    percentiles, queue per lane, actors with their state, RSS and CPU,
    what the monitor advises changing, the autoscaler's last decisions,
    alerts). --watch redraws it every second until interrupted; --json
    prints the monitor's JSON instead (one object per line with --watch).
    The monitor's address is --monitor, else monitor/http.
    Exit status: 0 when the cluster is healthy, 1 when it is not or the
    monitor cannot be reached, 2 on a usage error.
*/
#include <curl/curl.h>
#include <czmq.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zo_conf.h"


#define S_BODY_MAX (64 * 1024 * 1024)
#define S_DECISIONS 5               //  the autoscaler's, under the table
#define S_ADVICE    8               //  the monitor's, above them (ZO_ADVICE_MAX)

static const char s_usage [] =
    "usage: zorch status [--monitor URL] [--watch] [--json] [--timeout SECONDS]\n"
    "\n"
    "Shows the cluster as the monitor sees it: health, load score, throughput,\n"
    "error rate, latency p50/p95/p99, queue depth per lane, in-flight events,\n"
    "every actor (state, RSS, CPU, rate), the monitor's advice (what to change),\n"
    "the autoscaler's last decisions and alerts.\n"
    "  --monitor URL   the monitor (default: monitor/http, http://127.0.0.1:7080)\n"
    "  --watch         refresh every second until Ctrl-C\n"
    "  --json          print the monitor's /api/stats JSON (one line per refresh)\n"
    "  --timeout S     give up on the monitor after S seconds (default 3)\n"
    "Exit status: 0 healthy, 1 unhealthy or unreachable, 2 usage error.\n";

typedef struct {
    char *data;
    size_t size;
} s_buf_t;

static size_t
s_write (char *ptr, size_t size, size_t nmemb, void *arg)
{
    s_buf_t *buf = (s_buf_t *) arg;
    size_t n = size * nmemb;
    if (buf->size + n > S_BODY_MAX)
        return 0;                       //  makes curl fail the transfer
    char *grown = (char *) realloc (buf->data, buf->size + n + 1);
    if (!grown)
        return 0;
    buf->data = grown;
    memcpy (buf->data + buf->size, ptr, n);
    buf->size += n;
    buf->data [buf->size] = 0;
    return n;
}

//  The monitor's base URL from --monitor or monitor/http ("host:port",
//  "http://host:port"): a wildcard host is reached on 127.0.0.1.
static char *
s_base_url (zo_conf_t *conf, const char *flag)
{
    const char *given = flag? flag: zo_conf_str (conf, "monitor/http", "127.0.0.1:7080");
    const char *rest = given;
    const char *scheme = "http://";
    if (strncmp (given, "http://", 7) == 0)
        rest = given + 7;
    else
    if (strncmp (given, "https://", 8) == 0) {
        rest = given + 8;
        scheme = "https://";
    }
    char host [256];
    snprintf (host, sizeof (host), "%s", rest);
    size_t len = strlen (host);
    while (len && host [len - 1] == '/')
        host [--len] = 0;
    char *url = NULL;
    if (strncmp (host, "*:", 2) == 0 || strncmp (host, "0.0.0.0:", 8) == 0)
        url = zsys_sprintf ("%s127.0.0.1%s", scheme, strchr (host, ':'));
    else
        url = zsys_sprintf ("%s%s", scheme, host);
    return url;
}

//  GETs base + path. Returns the body (caller frees) or NULL with err set.
static char *
s_get (CURL *curl, const char *base, const char *path, long timeout_ms, long *status,
       char *err, size_t err_size)
{
    char url [600];
    snprintf (url, sizeof (url), "%s%s", base, path);
    s_buf_t buf = { NULL, 0 };
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_USERAGENT, "zorch-status");
    CURLcode rc = curl_easy_perform (curl);
    if (rc != CURLE_OK) {
        snprintf (err, err_size, "cannot reach the monitor at %s: %s", base, curl_easy_strerror (rc));
        free (buf.data);
        return NULL;
    }
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, status);
    if (!buf.data) {
        snprintf (err, err_size, "the monitor at %s sent an empty answer", base);
        return NULL;
    }
    return buf.data;
}

static double
s_num (json_t *obj, const char *key)
{
    json_t *value = json_object_get (obj, key);
    return json_is_number (value)? json_number_value (value): NAN;
}

static void
s_fmt_ms (char *buf, size_t size, double ms)
{
    if (isnan (ms))
        snprintf (buf, size, "-");
    else if (ms < 1)
        snprintf (buf, size, "%.0fµs", ms * 1000);
    else if (ms < 1000)
        snprintf (buf, size, "%.*fms", ms < 10? 2: 1, ms);
    else
        snprintf (buf, size, "%.2fs", ms / 1000);
}

static void
s_fmt_bytes (char *buf, size_t size, double bytes)
{
    const char *units [] = { "B", "K", "M", "G", "T" };
    int u = 0;
    if (isnan (bytes) || bytes <= 0) {
        snprintf (buf, size, "-");
        return;
    }
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    snprintf (buf, size, "%.1f%s", bytes, units [u]);
}

static void
s_fmt_num (char *buf, size_t size, double value)
{
    if (isnan (value))
        snprintf (buf, size, "-");
    else if (fabs (value) >= 100 || value == floor (value))
        snprintf (buf, size, "%.0f", value);
    else
        snprintf (buf, size, "%.1f", value);
}

static double
s_counter_rate (json_t *actor, const char *name)
{
    json_t *c = json_object_get (json_object_get (actor, "counters"), name);
    return c? s_num (c, "rate"): NAN;
}

static double
s_gauge (json_t *actor, const char *name)
{
    return s_num (json_object_get (actor, "gauges"), name);
}

//  A cache actor: its memory, its memory hit rate, and each level below
//  (gauges dep_<level>_up) up or DOWN.
static void
s_cache_detail (json_t *actor, char *detail, size_t size)
{
    char used [16], budget [16];
    s_fmt_bytes (used, sizeof used, s_gauge (actor, "memory_bytes"));
    s_fmt_bytes (budget, sizeof budget, s_gauge (actor, "memory_budget"));
    json_t *counters = json_object_get (actor, "counters");
    double hits = s_num (json_object_get (counters, "l1_hits_total"), "value");
    double misses = s_num (json_object_get (counters, "l1_misses_total"), "value");
    size_t len = (size_t) snprintf (detail, size, "memory %s/%s", used, budget);
    if (hits + misses > 0 && len < size)
        len += (size_t) snprintf (detail + len, size - len, "  hits %.1f%%", 100 * hits / (hits + misses));
    const char *key;
    json_t *value;
    json_object_foreach (json_object_get (actor, "gauges"), key, value) {
        size_t n = strlen (key);
        if (n > 7 && strncmp (key, "dep_", 4) == 0 && streq (key + n - 3, "_up") && len < size)
            len += (size_t) snprintf (detail + len, size - len, "  %.*s %s", (int) (n - 7), key + 4,
                                      json_number_value (value) >= 1 ? "up" : "DOWN");
    }
    if (s_gauge (actor, "memory_pressure_step") > 0 && len < size)
        snprintf (detail + len, size - len, "  PRESSURE step %.0f", s_gauge (actor, "memory_pressure_step"));
}

//  A pool actor: each service's and database's health (gauges
//  <name>_health: 2 up, 1 degraded, 0 down).
static void
s_pool_detail (json_t *actor, char *detail, size_t size)
{
    size_t len = 0;
    const char *key;
    json_t *value;
    detail [0] = 0;
    json_object_foreach (json_object_get (actor, "gauges"), key, value) {
        size_t n = strlen (key);
        if (n <= 7 || !streq (key + n - 7, "_health") || len >= size)
            continue;
        double h = json_number_value (value);
        len += (size_t) snprintf (detail + len, size - len, "%s%.*s %s", len ? "  " : "",
                                  (int) (n - 7), key, h >= 2 ? "up" : h >= 1 ? "degraded" : "DOWN");
    }
}

//  "title:" and, for each of the first max items of list, a line with its
//  time (ts_key, wall ms) and its text; nothing when list is empty. A
//  control byte in a text is shown as '?', not sent to the terminal.
static void
s_print_timed (FILE *out, const char *title, json_t *list, const char *ts_key, size_t max)
{
    if (json_array_size (list))
        fprintf (out, "%s:\n", title);
    size_t i;
    json_t *item;
    json_array_foreach (list, i, item) {
        if (i == max)
            break;
        time_t when = (time_t) (s_num (item, ts_key) / 1000);
        char at [16] = "--:--:--";
        struct tm tm;
        if (localtime_r (&when, &tm))
            strftime (at, sizeof (at), "%H:%M:%S", &tm);
        const char *text = json_string_value (json_object_get (item, "text"));
        fprintf (out, "  %s  ", at);
        for (const char *c = text ? text : ""; *c; c++)
            fputc ((unsigned char) *c < 0x20 || *c == 0x7f ? '?' : *c, out);
        fputc ('\n', out);
    }
}

//  The table. Returns true when the cluster is healthy.
static bool
s_print (FILE *out, const char *base, json_t *stats)
{
    json_t *cluster = json_object_get (stats, "cluster");
    json_t *load = json_object_get (stats, "load");
    json_t *parts = json_object_get (load, "parts");
    json_t *queue = json_object_get (cluster, "queue");
    const char *status = json_string_value (json_object_get (stats, "status"));
    const char *reason = json_string_value (json_object_get (stats, "reason"));
    bool healthy = json_is_true (json_object_get (stats, "healthy"));
    time_t now = time (NULL);
    char clock [16];
    strftime (clock, sizeof (clock), "%H:%M:%S", localtime (&now));

    char p50 [24], p95 [24], p99 [24];
    s_fmt_ms (p50, sizeof (p50), s_num (cluster, "p50_ms"));
    s_fmt_ms (p95, sizeof (p95), s_num (cluster, "p95_ms"));
    s_fmt_ms (p99, sizeof (p99), s_num (cluster, "p99_ms"));
    char thr [24], acc [24], err [24], dead [24];
    s_fmt_num (thr, sizeof (thr), s_num (cluster, "throughput"));
    s_fmt_num (acc, sizeof (acc), s_num (cluster, "accepted"));
    s_fmt_num (err, sizeof (err), s_num (cluster, "errors"));
    s_fmt_num (dead, sizeof (dead), s_num (cluster, "dead"));
    double error_rate = s_num (cluster, "error_rate");

    fprintf (out, "zorch cluster at %s: %s (%s)  %s\n", base,
             status? status: "?", reason? reason: "", clock);
    fprintf (out, "load %.2f  (queue %.2f  utilization %.2f  latency %.2f  cpu %.2f)\n",
             s_num (load, "score"), s_num (parts, "queue"), s_num (parts, "utilization"),
             s_num (parts, "latency"), s_num (parts, "cpu"));
    fprintf (out, "throughput %s/s  accepted %s/s  errors %.2f%% (%s/s)  dead %s/s\n",
             thr, acc, isnan (error_rate)? 0: error_rate * 100, err, dead);
    fprintf (out, "latency p50 %s  p95 %s  p99 %s   queue %.0f (high %.0f, normal %.0f, low %.0f)"
                  "  in flight %.0f/%.0f  workers %.0f\n",
             p50, p95, p99, s_num (queue, "total"), s_num (queue, "high"),
             s_num (queue, "normal"), s_num (queue, "low"),
             s_num (cluster, s_num (cluster, "workers_up") > 0? "worker_inflight": "inflight"),
             s_num (cluster, "capacity"), s_num (cluster, "workers_up"));

    fprintf (out, "\n%-9s %-26s %8s %-5s %6s %8s %6s %9s  %s\n",
             "ACTOR", "NAME", "PID", "STATE", "LAST", "RSS", "CPU", "RATE/s", "DETAIL");
    size_t i;
    json_t *actor;
    json_array_foreach (json_object_get (stats, "actors"), i, actor) {
        const char *kind = json_string_value (json_object_get (actor, "actor"));
        const char *name = json_string_value (json_object_get (actor, "name"));
        kind = kind? kind: "?";
        char rss [16], cpu [16], rate [24], last [16], detail [160] = "";
        s_fmt_bytes (rss, sizeof (rss), s_num (actor, "rss_bytes"));
        snprintf (cpu, sizeof (cpu), "%.0f%%", isnan (s_num (actor, "cpu_pct"))? 0: s_num (actor, "cpu_pct"));
        snprintf (last, sizeof (last), "%.1fs", s_num (actor, "last_report_ms") / 1000.0);
        double r = NAN;
        if (streq (kind, "broker")) {
            r = s_counter_rate (actor, "accepted_total");
            json_t *lat = json_object_get (json_object_get (actor, "hists"), "latency_ns");
            char lp95 [24];
            s_fmt_ms (lp95, sizeof (lp95), lat? s_num (lat, "p95") / 1e6: NAN);
            snprintf (detail, sizeof (detail), "queue %.0f  in flight %.0f  workers %.0f  p95 all %s",
                      s_gauge (actor, "queue_depth"), s_gauge (actor, "inflight"),
                      s_gauge (actor, "workers"), lp95);
        }
        else
        if (streq (kind, "worker")) {
            r = s_counter_rate (actor, "events_total");
            snprintf (detail, sizeof (detail), "in flight %.0f/%.0f",
                      s_gauge (actor, "inflight"), s_gauge (actor, "capacity"));
        }
        else
        if (streq (kind, "cache")) {
            r = s_counter_rate (actor, "gets_total");
            s_cache_detail (actor, detail, sizeof detail);
        }
        else
        if (streq (kind, "pool")) {
            r = s_counter_rate (actor, "requests_total");
            s_pool_detail (actor, detail, sizeof detail);
        }
        s_fmt_num (rate, sizeof (rate), r);
        bool up = json_is_true (json_object_get (actor, "up"));
        fprintf (out, "%-9.9s %-26.26s %8.0f %-5s %6s %8s %6s %9s  %s\n", kind, name? name: "?",
                 s_num (actor, "pid"), up? "up": "DOWN", last, rss, cpu, rate, detail);
    }
    if (json_array_size (json_object_get (stats, "actors")) == 0)
        fprintf (out, "(no actor has reported to the monitor)\n");
    //  One build everywhere, or say which: a cluster being upgraded host by
    //  host runs two.
    const char *builds [8];
    int counts [8], n_builds = 0, others = 0;
    json_array_foreach (json_object_get (stats, "actors"), i, actor) {
        const char *v = json_string_value (json_object_get (actor, "version"));
        v = v && *v ? v : "(unknown)";
        int b = 0;
        while (b < n_builds && !streq (builds [b], v))
            b++;
        if (b == n_builds && n_builds < 8) {
            builds [n_builds] = v;
            counts [n_builds++] = 0;
        }
        if (b < n_builds)
            counts [b]++;
        else
            others++;
    }
    if (n_builds == 1)
        fprintf (out, "build %s\n", builds [0]);
    else
    if (n_builds > 1) {
        fprintf (out, "MIXED BUILDS:");
        for (int b = 0; b < n_builds; b++)
            fprintf (out, "%s %s (%d)", b ? "," : "", builds [b], counts [b]);
        fprintf (out, others ? ", and %d more\n" : "\n", others);
    }

    //  What to change, since when; then the autoscaler's last decisions
    //  (newest first), in its words.
    s_print_timed (out, "advice", json_object_get (stats, "advice"), "since_ms", S_ADVICE);
    s_print_timed (out, "decisions", json_object_get (stats, "decisions"), "ts_ms", S_DECISIONS);

    json_t *alerts = json_object_get (stats, "alerts");
    json_t *active = json_object_get (alerts, "active");
    fprintf (out, "\nALERTS  %zu firing (%zu rules)\n", json_array_size (active),
             json_array_size (json_object_get (alerts, "rules")));
    json_t *alert;
    json_array_foreach (active, i, alert)
        fprintf (out, "  FIRING %s: %s (now %g)\n",
                 json_string_value (json_object_get (alert, "name")),
                 json_string_value (json_object_get (alert, "rule")), s_num (alert, "value"));
    return healthy;
}

int
zorch_status (zo_conf_t *conf, int argc, char **argv)
{
    const char *monitor = NULL;
    bool watch = false, json = false;
    double timeout = 3;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        if (streq (arg, "--help") || streq (arg, "-h")) {
            printf ("%s", s_usage);
            return 0;
        }
        if (streq (arg, "--watch") || streq (arg, "-w"))
            watch = true;
        else
        if (streq (arg, "--json"))
            json = true;
        else
        if (streq (arg, "--monitor") && i + 1 < argc)
            monitor = argv [++i];
        else
        if (strncmp (arg, "--monitor=", 10) == 0)
            monitor = arg + 10;
        else
        if (streq (arg, "--timeout") && i + 1 < argc) {
            char *end;
            timeout = strtod (argv [++i], &end);
            if (*end || !(timeout > 0)) {
                fprintf (stderr, "zorch status: --timeout wants a number of seconds\n\n%s", s_usage);
                return 2;
            }
        }
        else {
            fprintf (stderr, "zorch status: unknown argument '%s'\n\n%s", arg, s_usage);
            return 2;
        }
    }
    char *base = s_base_url (conf, monitor);
    if (!base)
        return 1;
    curl_global_init (CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init ();
    int rc = 1;
    if (!curl) {
        fprintf (stderr, "zorch status: cannot start libcurl\n");
        goto done;
    }
    while (true) {
        char err [400];
        long status = 0;
        char *body = s_get (curl, base, "/api/stats", (long) (timeout * 1000), &status, err, sizeof (err));
        json_t *stats = NULL;
        if (body) {
            json_error_t jerr;
            stats = json_loads (body, 0, &jerr);
            if (!stats || status != 200)
                snprintf (err, sizeof (err), "the monitor at %s answered HTTP %ld%s", base, status,
                          stats? "": " with something that is not JSON");
        }
        if (watch && !json)
            printf ("\033[H\033[2J");
        if (stats && status == 200) {
            bool healthy = json_is_true (json_object_get (stats, "healthy"));
            if (json) {
                char *text = json_dumps (stats, JSON_COMPACT);
                if (text)
                    printf ("%s\n", text);
                free (text);
            }
            else
                healthy = s_print (stdout, base, stats);
            rc = healthy? 0: 1;
        }
        else {
            if (json && watch)
                printf ("{\"error\":\"unreachable\",\"monitor\":\"%s\"}\n", base);
            fprintf (stderr, "zorch status: %s\n", err);
            rc = 1;
        }
        json_decref (stats);
        free (body);
        fflush (stdout);
        if (!watch)
            break;
        sleep (1);
    }
done:
    if (curl)
        curl_easy_cleanup (curl);
    curl_global_cleanup ();
    zstr_free (&base);
    return rc;
}
