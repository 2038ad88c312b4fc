/*  zorch inject: send events, wait for what happened to them, summarise.  */
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zo_json.h"
#include "zo_loop.h"
#include "zo_wire.h"
#include "zorch.h"

static const char s_usage [] =
    "usage: zorch inject [options]\n"
    "\n"
    "Sends events to the broker. An event is a JSON object:\n"
    "  {\"type\": \"github.push\", \"source\": \"github\", \"payload\": {...}, \"id\": \"...\",\n"
    "   \"priority\": \"high|normal|low\", \"deadline_ms\": 30000, \"max_attempts\": 3}\n"
    "Only type is required; a missing id is generated.\n"
    "\n"
    "what to send (one of):\n"
    "  --type T [--source S] [--payload JSON|@FILE] [--id ID] [--priority P]\n"
    "      [--deadline-ms N] [--max-attempts N]   one event built from flags\n"
    "  --file F.json       an event object or an array of them (- = stdin); the\n"
    "                      flags above fill in what the events lack\n"
    "  --ndjson FILE|-     one event object per line, streamed; a bad line is\n"
    "                      reported, counted as failed, and skipped\n"
    "  --count N           send N events: copies of the flag event or the file's\n"
    "                      events, repeated with fresh ids; with --ndjson, stop after N\n"
    "\n"
    "how:\n"
    "  --broker EP         broker front endpoint (default inject/broker,\n"
    "                      tcp://127.0.0.1:7010)\n"
    "  --rate R            R events/s, paced open loop (latency counts from each\n"
    "                      event's scheduled time); default: as fast as allowed\n"
    "  --inflight K        at most K events unacknowledged (with --wait:\n"
    "                      unfinished) at once (default 1000)\n"
    "  --batch N           at most N events per SUBMIT (default 100)\n"
    "  --wait              ask for results and wait for every one\n"
    "  --timeout S         give up after S seconds without progress (nothing\n"
    "                      sent, acknowledged or finished); what is outstanding\n"
    "                      then counts as lost. Default 30, 60 with --wait\n"
    "  --no-retry          NACK queue_full counts as nacked instead of resending\n"
    "                      after the broker's retry hint\n"
    "\n"
    "output:\n"
    "  --results FILE|-    one NDJSON line per event: {\"id\",\"ok\",\"result\",\"error\",\n"
    "                      \"attempts\",\"latency_us\"}\n"
    "  --json              the summary as one JSON object\n"
    "  --quiet             no progress bar, no human summary\n"
    "\n"
    "Latency is submit -> ACK, or submit -> RESULT with --wait. A progress bar\n"
    "is drawn on stderr when it is a terminal. Exit status: 0 when every event\n"
    "was acknowledged (and with --wait, succeeded); 1 otherwise; 2 on a usage\n"
    "or input error (then nothing was sent).\n";

typedef struct {
    zo_loop_t *loop;
    zo_inject_t *inject;
    FILE *results;
    bool wait;
    bool progress;
    bool quiet;
    uint64_t errors_shown;
    char last_error [320];     /* the last reason printed */
    uint64_t repeats;          /* events since with the same reason */
} s_run_t;

#define S_MAX_ERRORS 20

/*  ---------------------------------------------------------------------
    Summary (shared with `zorch up --demo`)  */

void
zorch_inject_summary (FILE *out, const zo_inject_stats_t *st, bool json)
{
    double elapsed = st->end_ns > st->start_ns ? (st->end_ns - st->start_ns) / 1e9 : 0;
    uint64_t done = st->waited ? st->ok + st->failed - st->invalid : st->acked;
    double eps = elapsed > 0 ? done / elapsed : 0;
    const zo_hist_t *h = &st->latency;
    uint64_t p50 = zo_hist_percentile (h, 50), p95 = zo_hist_percentile (h, 95),
             p99 = zo_hist_percentile (h, 99), p999 = zo_hist_percentile (h, 99.9);
    if (json) {
        //  Rounded: milliseconds of elapsed time, tenths of microseconds.
        #define S_US(ns) (round ((double) (ns) / 100.0) / 10.0)
        json_t *o = json_pack (
            "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:{s:f, s:f, s:f, s:f, s:f, s:f}}",
            "sent", (json_int_t) st->sent, "acked", (json_int_t) st->acked,
            "nacked", (json_int_t) st->nacked, "duplicates", (json_int_t) st->duplicates,
            "ok", (json_int_t) st->ok, "failed", (json_int_t) st->failed,
            "lost", (json_int_t) st->lost, "invalid", (json_int_t) st->invalid,
            "elapsed_s", round (elapsed * 1000) / 1000, "throughput_eps", round (eps),
            "latency_us",
            "min", h->count ? S_US (h->min) : 0.0, "p50", S_US (p50), "p95", S_US (p95),
            "p99", S_US (p99), "p999", S_US (p999), "max", S_US (h->max));
        char *text = json_dumps (o, JSON_COMPACT | JSON_REAL_PRECISION (12));
        fprintf (out, "%s\n", text);
        free (text);
        json_decref (o);
    }
    else {
        char a [32] = "-", b [32] = "-", c [32] = "-", okf [64] = "";
        if (h->count) {
            zorch_fmt_ns (a, sizeof a, p50);
            zorch_fmt_ns (b, sizeof b, p95);
            zorch_fmt_ns (c, sizeof c, p99);
        }
        if (st->waited || st->failed)
            snprintf (okf, sizeof okf, "  ok %" PRIu64 "  failed %" PRIu64, st->ok, st->failed);
        fprintf (out,
                 "sent %" PRIu64 "  acked %" PRIu64 "  nacked %" PRIu64 "  dup %" PRIu64
                 "%s  lost %" PRIu64 "  |  p50 %s  p95 %s  p99 %s  |  %.0f ev/s%s%s\n",
                 st->sent, st->acked, st->nacked, st->duplicates, okf,
                 st->lost, a, b, c, eps,
                 st->timed_out ? "  (timed out)" : "",
                 st->interrupted ? "  (interrupted)" : "");
    }
    fflush (out);
}

int
zorch_inject_status (const zo_inject_stats_t *st, bool wait)
{
    bool good = st->nacked == 0 && st->lost == 0 && st->failed == 0 && !st->interrupted
                && !st->timed_out && st->acked == st->sent;
    if (wait)
        good = good && st->ok + st->duplicates >= st->acked;
    return good ? 0 : 1;
}

/*  ---------------------------------------------------------------------
    Running  */

static void
s_clear_progress (s_run_t *run)
{
    if (run->progress)
        fprintf (stderr, "\r\033[K");
}

static void
s_draw_progress (s_run_t *run)
{
    const zo_inject_stats_t *st = zo_inject_stats (run->inject);
    uint64_t done = run->wait ? st->ok + st->failed - st->invalid : st->acked;
    double elapsed = (zo_loop_now_ns (run->loop) - st->start_ns) / 1e9;
    char bar [41] = "";
    if (st->total) {
        int width = 30;
        int full = (int) (width * (double) done / (double) st->total);
        if (full > width)
            full = width;
        for (int i = 0; i < width; i++)
            bar [i] = i < full ? '#' : '.';
        bar [width] = 0;
        fprintf (stderr, "\r\033[K[%s] %" PRIu64 "/%" PRIu64, bar, done, st->total);
    }
    else
        fprintf (stderr, "\r\033[K%" PRIu64 " done", done);
    fprintf (stderr, "  sent %" PRIu64 "  acked %" PRIu64, st->sent, st->acked);
    if (run->wait)
        fprintf (stderr, "  ok %" PRIu64 "  failed %" PRIu64, st->ok, st->failed);
    fprintf (stderr, "  %.0f ev/s", elapsed > 0 ? done / elapsed : 0.0);
    fflush (stderr);
}

static int
s_on_tick (zo_loop_t *loop, int id, void *arg)
{
    s_draw_progress (arg);
    return 0;
}

static const char *
s_status_name (zo_inject_status_t status)
{
    switch (status) {
        case ZO_INJECT_OK:        return "ok";
        case ZO_INJECT_FAILED:    return "failed";
        case ZO_INJECT_NACKED:    return "nacked";
        case ZO_INJECT_DUPLICATE: return "duplicate";
        case ZO_INJECT_LOST:      return "lost";
        case ZO_INJECT_INVALID:   return "invalid";
    }
    return "?";
}

/*  Prints what went wrong with an event, folding runs of the same reason
    (a refused batch, a failing handler) into one line.  */
static void
s_flush_repeats (s_run_t *run)
{
    if (run->repeats) {
        s_clear_progress (run);
        fprintf (stderr, "zorch inject:   ... and %" PRIu64 " more event%s: %s\n", run->repeats,
                 run->repeats == 1 ? "" : "s", run->last_error);
        run->repeats = 0;
    }
}

static void
s_report (s_run_t *run, const zo_inject_outcome_t *o)
{
    char what [320];
    if (o->status == ZO_INJECT_INVALID)
        snprintf (what, sizeof what, "bad input: %.*s", (int) o->error.len,
                  (const char *) o->error.ptr);
    else if (o->status == ZO_INJECT_FAILED)
        snprintf (what, sizeof what, "failed after %u attempt%s: %.*s", o->attempts,
                  o->attempts == 1 ? "" : "s", (int) o->error.len, (const char *) o->error.ptr);
    else
        snprintf (what, sizeof what, "%s: %.*s", s_status_name (o->status), (int) o->error.len,
                  (const char *) o->error.ptr);
    if (o->status != ZO_INJECT_INVALID && streq (what, run->last_error)) {
        run->repeats++;
        return;
    }
    s_flush_repeats (run);
    snprintf (run->last_error, sizeof run->last_error, "%s", what);
    if (++run->errors_shown > S_MAX_ERRORS) {
        if (run->errors_shown == S_MAX_ERRORS + 1)
            fprintf (stderr, "zorch inject: more errors follow; not shown\n");
        return;
    }
    s_clear_progress (run);
    if (o->status == ZO_INJECT_INVALID)
        fprintf (stderr, "zorch inject: %s\n", what);
    else
        fprintf (stderr, "zorch inject: %s (%s) %s\n", o->id, o->type, what);
}

static void
s_on_outcome (const zo_inject_outcome_t *o, void *arg)
{
    s_run_t *run = arg;
    if (o->status == ZO_INJECT_FAILED || o->status == ZO_INJECT_NACKED
        || o->status == ZO_INJECT_INVALID)
        s_report (run, o);
    if (!run->results)
        return;
    json_t *line = json_object ();
    json_object_set_new (line, "id", o->id [0] ? json_string (o->id) : json_null ());
    bool ok = o->status == ZO_INJECT_OK || o->status == ZO_INJECT_DUPLICATE;
    json_object_set_new (line, "ok", json_boolean (ok));
    json_t *result = o->result.len ? zo_json_from_span (o->result) : json_null ();
    json_object_set_new (line, "result", result ? result : json_null ());
    if (o->error.len)
        json_object_set_new (line, "error",
                             json_stringn ((const char *) o->error.ptr, o->error.len));
    else if (!ok)
        json_object_set_new (line, "error", json_string (s_status_name (o->status)));
    else
        json_object_set_new (line, "error", json_null ());
    json_object_set_new (line, "attempts", json_integer (o->attempts));
    json_object_set_new (line, "latency_us", o->latency_ns
                         ? json_integer ((json_int_t) ((o->latency_ns + 500) / 1000))
                         : json_null ());
    if (o->status != ZO_INJECT_OK && o->status != ZO_INJECT_FAILED)
        json_object_set_new (line, "status", json_string (s_status_name (o->status)));
    char *text = json_dumps (line, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (text) {
        s_clear_progress (run);
        fprintf (run->results, "%s\n", text);
        free (text);
    }
    json_decref (line);
}

static void
s_on_done (zo_inject_t *inject, void *arg)
{
    s_run_t *run = arg;
    zo_loop_stop (run->loop);
}

static int
s_on_signal (zo_loop_t *loop, int signum, void *arg)
{
    s_run_t *run = arg;
    zo_inject_stop (run->inject);
    return -1;
}

/*  ---------------------------------------------------------------------  */

int
zorch_inject (zo_conf_t *conf, int argc, char **argv)
{
    enum { O_TYPE = 256, O_SOURCE, O_PAYLOAD, O_ID, O_PRIORITY, O_DEADLINE, O_ATTEMPTS,
           O_FILE, O_NDJSON, O_COUNT, O_RATE, O_INFLIGHT, O_WAIT, O_TIMEOUT, O_RESULTS,
           O_NO_RETRY, O_JSON, O_QUIET, O_BROKER, O_BATCH };
    static const struct option options [] = {
        { "type", required_argument, NULL, O_TYPE },
        { "source", required_argument, NULL, O_SOURCE },
        { "payload", required_argument, NULL, O_PAYLOAD },
        { "id", required_argument, NULL, O_ID },
        { "priority", required_argument, NULL, O_PRIORITY },
        { "deadline-ms", required_argument, NULL, O_DEADLINE },
        { "max-attempts", required_argument, NULL, O_ATTEMPTS },
        { "file", required_argument, NULL, O_FILE },
        { "ndjson", required_argument, NULL, O_NDJSON },
        { "count", required_argument, NULL, O_COUNT },
        { "rate", required_argument, NULL, O_RATE },
        { "inflight", required_argument, NULL, O_INFLIGHT },
        { "wait", no_argument, NULL, O_WAIT },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "results", required_argument, NULL, O_RESULTS },
        { "no-retry", no_argument, NULL, O_NO_RETRY },
        { "json", no_argument, NULL, O_JSON },
        { "quiet", no_argument, NULL, O_QUIET },
        { "broker", required_argument, NULL, O_BROKER },
        { "batch", required_argument, NULL, O_BATCH },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *type = NULL, *source = NULL, *payload = NULL, *id = NULL, *priority = NULL;
    const char *file = NULL, *ndjson = NULL, *results = NULL, *broker = NULL;
    uint64_t deadline_ms = 0, max_attempts = 0, count = 0, inflight = 1000, batch = 100;
    double rate = 0, timeout_s = -1;
    bool wait = false, retry = true, json = false, quiet = false;
    bool have_deadline = false, have_attempts = false;

    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        uint64_t n;
        switch (opt) {
            case O_TYPE:     type = optarg; break;
            case O_SOURCE:   source = optarg; break;
            case O_PAYLOAD:  payload = optarg; break;
            case O_ID:       id = optarg; break;
            case O_PRIORITY: priority = optarg; break;
            case O_FILE:     file = optarg; break;
            case O_NDJSON:   ndjson = optarg; break;
            case O_RESULTS:  results = optarg; break;
            case O_BROKER:   broker = optarg; break;
            case O_WAIT:     wait = true; break;
            case O_NO_RETRY: retry = false; break;
            case O_JSON:     json = true; break;
            case O_QUIET:    quiet = true; break;
            case O_DEADLINE:
                if (zorch_parse_u64 (optarg, &deadline_ms) || deadline_ms > UINT32_MAX) {
                    zorch_usage_error ("inject", "--deadline-ms wants milliseconds, not '%s'", optarg);
                    return 2;
                }
                have_deadline = true;
                break;
            case O_ATTEMPTS:
                if (zorch_parse_u64 (optarg, &max_attempts) || max_attempts > UINT32_MAX) {
                    zorch_usage_error ("inject", "--max-attempts wants a number, not '%s'", optarg);
                    return 2;
                }
                have_attempts = true;
                break;
            case O_COUNT:
                if (zorch_parse_u64 (optarg, &count) || count == 0) {
                    zorch_usage_error ("inject", "--count wants a positive number, not '%s'", optarg);
                    return 2;
                }
                break;
            case O_INFLIGHT:
                if (zorch_parse_u64 (optarg, &n) || n == 0 || n > 10000000) {
                    zorch_usage_error ("inject", "--inflight wants a positive number, not '%s'", optarg);
                    return 2;
                }
                inflight = n;
                break;
            case O_BATCH:
                if (zorch_parse_u64 (optarg, &n) || n == 0 || n > ZO_MAX_BATCH) {
                    zorch_usage_error ("inject", "--batch wants 1..1000, not '%s'", optarg);
                    return 2;
                }
                batch = n;
                break;
            case O_RATE:
                if (zorch_parse_double (optarg, &rate) || rate <= 0) {
                    zorch_usage_error ("inject", "--rate wants events per second, not '%s'", optarg);
                    return 2;
                }
                break;
            case O_TIMEOUT:
                if (zorch_option_timeout ("inject", optarg, &timeout_s))
                    return 2;
                break;
            default: return zorch_option_end ("inject", s_usage, opt, argv);
        }
    }
    if (optind < argc) {
        zorch_usage_error ("inject", "unexpected argument '%s'", argv [optind]);
        return 2;
    }
    //  The broker refuses a SUBMIT over its broker/max_frame: the same key
    //  read here (every host is given the same) keeps each one within it.
    size_t max_frame = zo_wire_conf_max_frame (conf);
    if (zo_conf_bad (conf))
        return zorch_usage_error ("inject", "%s", zo_conf_errstr (conf));
    if (file && ndjson) {
        zorch_usage_error ("inject", "%s", "give --file or --ndjson, not both");
        return 2;
    }
    if (!file && !ndjson && !type) {
        zorch_usage_error ("inject", "%s", "nothing to send: give --type, --file or --ndjson");
        return 2;
    }

    //  The event flags as one JSON object: the event itself, or what the
    //  events of a file or stream lack.
    json_t *flags = json_object ();
    if (type)
        json_object_set_new (flags, "type", json_string (type));
    if (source)
        json_object_set_new (flags, "source", json_string (source));
    if (priority)
        json_object_set_new (flags, "priority", json_string (priority));
    if (have_deadline)
        json_object_set_new (flags, "deadline_ms", json_integer ((json_int_t) deadline_ms));
    if (have_attempts)
        json_object_set_new (flags, "max_attempts", json_integer ((json_int_t) max_attempts));
    if (payload) {
        json_error_t jerr;
        json_t *value = payload [0] == '@'
                        ? json_load_file (payload + 1, JSON_DECODE_ANY, &jerr)
                        : json_loads (payload, JSON_DECODE_ANY, &jerr);
        if (!value) {
            fprintf (stderr, "zorch inject: --payload%s%s: not JSON: %s (line %d, column %d)\n",
                     payload [0] == '@' ? " " : "", payload [0] == '@' ? payload + 1 : "",
                     jerr.text, jerr.line, jerr.column);
            json_decref (flags);
            return 2;
        }
        json_object_set_new (flags, "payload", value);
    }

    char err [512];
    zo_input_t *input = NULL;
    if (ndjson) {
        int fd = streq (ndjson, "-") ? STDIN_FILENO : open (ndjson, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf (stderr, "zorch inject: cannot open %s: %s\n", ndjson, strerror (errno));
            json_decref (flags);
            return 2;
        }
        input = zo_input_new_ndjson (fd, fd != STDIN_FILENO, count);
        if (input && json_object_size (flags))
            zo_input_set_defaults (input, flags);
    }
    else {
        json_t *events;
        if (file) {
            events = zo_input_load_file (file, err, sizeof err);
            if (!events) {
                fprintf (stderr, "zorch inject: %s\n", err);
                json_decref (flags);
                return 2;
            }
            //  Check every event first: a bad file sends nothing.
            msgpack_sbuffer scratch;
            msgpack_sbuffer_init (&scratch);
            size_t i;
            json_t *event;
            json_array_foreach (events, i, event) {
                char eid [ZO_MAX_ID + 1];
                if (json_is_object (event))
                    json_object_update_missing (event, flags);
                msgpack_sbuffer_clear (&scratch);
                if (zo_input_encode (event, false, &scratch, eid, NULL, err, sizeof err)) {
                    fprintf (stderr, "zorch inject: %s: event %zu: %s\n", file, i + 1, err);
                    msgpack_sbuffer_destroy (&scratch);
                    json_decref (events);
                    json_decref (flags);
                    return 2;
                }
            }
            msgpack_sbuffer_destroy (&scratch);
        }
        else {
            if (id)
                json_object_set_new (flags, "id", json_string (id));
            char eid [ZO_MAX_ID + 1];
            msgpack_sbuffer scratch;
            msgpack_sbuffer_init (&scratch);
            int rc = zo_input_encode (flags, false, &scratch, eid, NULL, err, sizeof err);
            msgpack_sbuffer_destroy (&scratch);
            if (rc) {
                fprintf (stderr, "zorch inject: %s\n", err);
                json_decref (flags);
                return 2;
            }
            events = json_array ();
            json_array_append (events, flags);
            if (!count)
                count = 1;
        }
        input = zo_input_new_list (&events, count);
        json_decref (events);
    }
    json_decref (flags);
    if (!input) {
        fprintf (stderr, "zorch inject: out of memory\n");
        return 1;
    }

    FILE *results_file = NULL;
    if (results) {
        results_file = streq (results, "-") ? stdout : fopen (results, "w");
        if (!results_file) {
            fprintf (stderr, "zorch inject: cannot write %s: %s\n", results, strerror (errno));
            zo_input_destroy (&input);
            return 2;
        }
    }

    //  Signals reach us through the loop: block them before ZeroMQ starts
    //  its threads.
    zo_signals_block ();
    void *ctx = zmq_ctx_new ();
    zo_loop_t *loop = zo_loop_new ();
    char *endpoint = zorch_client_endpoint (conf, broker);
    zo_inject_opts_t opts;
    zo_inject_opts_default (&opts);
    opts.endpoint = endpoint;
    opts.inflight = (uint32_t) inflight;
    opts.batch_max = (uint32_t) batch;
    opts.max_frame = max_frame;
    opts.rate = rate;
    opts.wait = wait;
    opts.retry = retry;
    opts.timeout_ms = (uint64_t) ((timeout_s > 0 ? timeout_s : wait ? 60 : 30) * 1000);
    s_run_t run = { .loop = loop, .results = results_file, .wait = wait, .quiet = quiet };
    run.progress = !quiet && isatty (STDERR_FILENO);
    int status = 1;
    zo_inject_t *inject = loop ? zo_inject_new (loop, ctx, &opts, &input) : NULL;
    if (!inject) {
        fprintf (stderr, "zorch inject: cannot reach %s\n", endpoint);
        zo_input_destroy (&input);
        goto done;
    }
    run.inject = inject;
    zo_inject_on_outcome (inject, s_on_outcome, &run);
    zo_inject_on_done (inject, s_on_done, &run);
    zo_loop_on_signal (loop, SIGINT, s_on_signal, &run);
    zo_loop_on_signal (loop, SIGTERM, s_on_signal, &run);
    if (run.progress)
        zo_loop_ticker (loop, 200, s_on_tick, &run);
    if (zo_inject_start (inject)) {
        fprintf (stderr, "zorch inject: cannot start\n");
        goto done;
    }
    zo_loop_run (loop);
    if (!zo_inject_finished (inject))
        zo_inject_stop (inject);
    s_clear_progress (&run);
    if (run.errors_shown <= S_MAX_ERRORS)
        s_flush_repeats (&run);

    const zo_inject_stats_t *st = zo_inject_stats (inject);
    if (st->timed_out)
        fprintf (stderr, "zorch inject: gave up after %.1f s without progress; %" PRIu64
                 " event%s %s from %s\n", opts.timeout_ms / 1e3, st->lost,
                 st->lost == 1 ? "" : "s", wait ? "unfinished" : "unacknowledged", endpoint);
    if (st->sent == 0 && st->lost == 0 && st->invalid == 0 && !st->interrupted)
        fprintf (stderr, "zorch inject: nothing to send\n");
    FILE *out = results_file == stdout && !json ? stderr : stdout;
    if (json)
        zorch_inject_summary (stdout, st, true);
    else if (!quiet)
        zorch_inject_summary (out, st, false);
    status = zorch_inject_status (st, wait);
done:
    zo_inject_destroy (&inject);
    zo_loop_destroy (&loop);
    if (ctx)
        zmq_ctx_term (ctx);
    if (results_file && results_file != stdout)
        fclose (results_file);
    free (endpoint);
    return status;
}
