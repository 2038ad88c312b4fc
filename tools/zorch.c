/*  zorch: the command-line tool (inject, dlq, up, proto-doc).  */
#include "zorch.h"

#include <czmq.h>
#include <jansson.h>
#include <signal.h>
#include <fcntl.h>
#include <math.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zo_json.h"
#include "zo_proc.h"
#include "zo_proto.h"
#include "zo_version.h"

static const char s_usage [] =
    "Usage: zorch <command> [options]\n"
    "\n"
    "commands:\n"
    "  up         start a local cluster (broker + workers), supervise it\n"
    "  inject     send events to the broker and report what happened\n"
    "  dlq        list, replay or purge dead letters\n"
    "  bench      run a standard workload (W1-W4) and report latency and cost\n"
    "  status     the cluster at a glance, from the monitor (--watch, --json)\n"
    "  cache      the cache actor: get, set, del, touch, invalidate, stats; sim\n"
    "  pool       the pool actor: an HTTP request, an SQL query, its stats\n"
    "  scale      the workers: N by hand, --auto by the load, or what the autoscaler does\n"
    "  workers    the broker's view of its workers: credit, events held, quiet\n"
    "  proto-doc  print the wire protocol's field tables\n"
    "\n"
    "Every command finds the cluster on the default endpoints (broker front\n"
    "tcp://127.0.0.1:7010) unless told otherwise. Configuration: --config FILE\n"
    "(or $ZORCH_CONFIG), ZORCH_<SECTION>_<KEY> variables, --<section>-<key> VALUE\n"
    "flags. `zorch <command> --help` for a command's options; `zorch --version`\n"
    "for the version and git revision.\n";

char *
zorch_client_endpoint (zo_conf_t *conf, const char *flag)
{
    return zorch_endpoint_for (conf, flag, "inject/broker", "tcp://127.0.0.1:7010");
}

char *
zorch_endpoint_for (zo_conf_t *conf, const char *flag, const char *path, const char *dflt)
{
    const char *ep = flag ? flag : zo_conf_str (conf, path, dflt);
    char *copy = NULL;
    const char *star = strstr (ep, "://*:");
    const char *any = strstr (ep, "://0.0.0.0:");
    if (star)
        copy = zsys_sprintf ("%.*s://127.0.0.1%s", (int) (star - ep), ep, star + 4);
    else if (any)
        copy = zsys_sprintf ("%.*s://127.0.0.1%s", (int) (any - ep), ep, any + 10);
    else
        copy = strdup (ep);
    if (!copy) {
        fprintf (stderr, "zorch: out of memory\n");
        exit (1);
    }
    return copy;
}

typedef struct {
    const char *cmd, *peer;
    const zo_msg_t *req;
    zo_cmd_t want;
    zorch_reply_fn *fn;
    void *arg;
    int rc;
} s_ask_t;

static void
s_on_ask (zo_rpc_t *rpc, const zo_rpc_reply_t *r, void *arg)
{
    s_ask_t *ask = arg;
    if (r->status != ZO_RPC_OK) {
        if (r->status != ZO_RPC_TIMEOUT)
            fprintf (stderr, "zorch %s: a bad reply from %s: %s\n", ask->cmd,
                     zo_rpc_endpoint (rpc), r->reason);
        return;
    }
    const zo_msg_t *reply = r->msg;
    if (reply->cmd == ask->want) {
        ask->fn (reply, ask->arg);
        ask->rc = 0;
    }
    else
    if (reply->cmd == ZO_CMD_ERROR || reply->cmd == ZO_CMD_NACK)
        fprintf (stderr, "zorch %s: the %s refused %s: %.*s: %.*s\n", ask->cmd, ask->peer,
                 zo_cmd_name (ask->req->cmd), (int) reply->code.len, reply->code.ptr,
                 (int) reply->reason.len, reply->reason.ptr);
    else
        fprintf (stderr, "zorch %s: the %s answered %s with %s\n", ask->cmd, ask->peer,
                 zo_cmd_name (ask->req->cmd), zo_cmd_name (reply->cmd));
}

int
zorch_ask (zo_rpc_t *rpc, const char *cmd, const char *peer, zo_msg_t *req, zo_cmd_t want,
           int timeout_ms, zorch_reply_fn *fn, void *arg)
{
    s_ask_t ask = { .cmd = cmd, .peer = peer, .req = req, .want = want, .fn = fn, .arg = arg,
                    .rc = 1 };
    int status = zo_rpc_call (rpc, req, (uint32_t) timeout_ms, s_on_ask, &ask);
    if (status == ZO_RPC_TIMEOUT)
        fprintf (stderr, "zorch %s: no %s at %s (no answer within %.1f s)\n", cmd, peer,
                 zo_rpc_endpoint (rpc), timeout_ms / 1e3);
    else
    if (status < 0)
        fprintf (stderr, "zorch %s: cannot send %s to %s: %s\n", cmd, zo_cmd_name (req->cmd),
                 zo_rpc_endpoint (rpc), zmq_strerror (errno));
    return ask.rc;
}

int
zorch_call (const char *cmd, const char *peer, const char *endpoint, zo_msg_t *req, zo_cmd_t want,
            int timeout_ms, zorch_reply_fn *fn, void *arg)
{
    return zorch_watch (cmd, peer, endpoint, req, want, timeout_ms, 0, fn, arg);
}

int
zorch_watch (const char *cmd, const char *peer, const char *endpoint, zo_msg_t *req,
             zo_cmd_t want, int timeout_ms, int every_ms, zorch_reply_fn *fn, void *arg)
{
    //  Replies may be large: accept what the protocol allows.
    void *ctx = zmq_ctx_new ();
    zo_loop_t *loop = ctx ? zo_loop_new () : NULL;
    zo_rpc_opts_t opts = { .name = cmd, .max_pending = 1, .max_frame = 64 * ZO_MAX_FRAME };
    zo_rpc_t *rpc = loop ? zo_rpc_new (loop, ctx, endpoint, &opts) : NULL;
    int rc = 1;
    if (!rpc)
        fprintf (stderr, "zorch %s: cannot connect to %s\n", cmd, endpoint);
    else
    while ((rc = zorch_ask (rpc, cmd, peer, req, want, timeout_ms, fn, arg)) == 0 && every_ms > 0) {
        fflush (stdout);
        zclock_sleep (every_ms);
    }
    zo_rpc_destroy (&rpc);
    zo_loop_destroy (&loop);
    if (ctx)
        zmq_ctx_term (ctx);
    return rc;
}

void
zorch_print_stats (const zo_msg_t *reply, bool json)
{
    json_t *counters = zo_json_from_span (reply->counters);
    json_t *gauges = zo_json_from_span (reply->gauges);
    json_t *notes = reply->notes.len? zo_json_from_span (reply->notes): NULL;
    if (json) {
        json_t *o = json_object ();
        json_object_set_new (o, "actor", json_stringn ((const char *) reply->actor.ptr, reply->actor.len));
        json_object_set_new (o, "name", json_stringn ((const char *) reply->name.ptr, reply->name.len));
        json_object_set_new (o, "version", json_stringn ((const char *) reply->version.ptr,
                                                         reply->version.len));
        json_object_set_new (o, "rss_bytes", json_integer ((json_int_t) reply->rss_bytes));
        json_object_set (o, "counters", counters ? counters : json_null ());
        json_object_set (o, "gauges", gauges ? gauges : json_null ());
        if (notes)
            json_object_set (o, "notes", notes);
        char *text = json_dumps (o, JSON_COMPACT | JSON_SORT_KEYS);
        if (text)
            printf ("%s\n", text);
        free (text);
        json_decref (o);
    }
    else {
        printf ("%.*s (%.*s), %.1f MiB resident\n", (int) reply->name.len, reply->name.ptr,
                (int) reply->version.len, reply->version.ptr, reply->rss_bytes / 1048576.0);
        const char *key;
        json_t *value;
        json_object_foreach (counters, key, value)
            printf ("  %-32s %" JSON_INTEGER_FORMAT "\n", key, json_integer_value (value));
        json_object_foreach (gauges, key, value)
            printf ("  %-32s %.15g\n", key, json_number_value (value));
        size_t i;
        json_t *note;
        if (json_array_size (notes))
            printf ("  recent, newest first:\n");
        json_array_foreach (notes, i, note) {
            time_t at = (time_t) (json_integer_value (json_object_get (note, "ts_ms")) / 1000);
            char clock [16];
            strftime (clock, sizeof clock, "%H:%M:%S", localtime (&at));
            printf ("    %s  %s\n", clock, json_string_value (json_object_get (note, "text")));
        }
    }
    json_decref (counters);
    json_decref (gauges);
    json_decref (notes);
}


void
zorch_fmt_ns (char *buf, size_t size, uint64_t ns)
{
    if (ns < 1000)
        snprintf (buf, size, "%" PRIu64 "ns", ns);
    else if (ns < 1000000)
        snprintf (buf, size, "%" PRIu64 "µs", ns / 1000);
    else if (ns < 10000000)
        snprintf (buf, size, "%.2fms", ns / 1e6);
    else if (ns < 1000000000)
        snprintf (buf, size, "%.1fms", ns / 1e6);
    else
        snprintf (buf, size, "%.2fs", ns / 1e9);
}

int
zorch_parse_u64 (const char *text, uint64_t *value)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull (text, &end, 10);
    if (errno || end == text || *end || text [0] == '-')
        return -1;
    *value = v;
    return 0;
}

int
zorch_usage_error (const char *cmd, const char *fmt, const char *arg)
{
    fprintf (stderr, "zorch %s: ", cmd);
    fprintf (stderr, fmt, arg);
    fprintf (stderr, "\n(zorch %s --help for the options)\n", cmd);
    return 2;
}

char *
zorch_read_all (FILE *in, size_t *len)
{
    size_t cap = 4096, n = 0, got;
    char *buf = malloc (cap);
    while (buf && (got = fread (buf + n, 1, cap - n, in)) > 0)
        if ((n += got) == cap) {
            char *grown = realloc (buf, cap *= 2);
            if (!grown)
                free (buf);
            buf = grown;
        }
    *len = n;
    return buf;
}

int
zorch_option_end (const char *cmd, const char *usage, int opt, char **argv)
{
    if (opt == 'h') {
        printf ("%s", usage);
        return 0;
    }
    if (opt == ':')
        return zorch_usage_error (cmd, "%s needs a value", argv [optind - 1]);
    return zorch_usage_error (cmd, "unknown option '%s'", argv [optind - 1]);
}

int
zorch_option_timeout (const char *cmd, const char *arg, double *seconds)
{
    if (zorch_parse_double (arg, seconds) || !(*seconds > 0) || *seconds > 86400)
        return zorch_usage_error (cmd, "--timeout wants seconds, not '%s'", arg);
    return 0;
}

int
zorch_parse_double (const char *text, double *value)
{
    char *end;
    errno = 0;
    double v = strtod (text, &end);
    if (errno || end == text || *end || !isfinite (v) || v < 0)
        return -1;
    *value = v;
    return 0;
}

pid_t
zorch_spawn (char **argv, const char *log_path)
{
    //  Its own process group: a Ctrl-C at the terminal reaches only the
    //  zorch command, which then stops its children in order.
    zo_proc_opts_t opts = { .argv = argv, .own_group = true, .log_path = log_path };
    return zo_proc_spawn (&opts, NULL);
}

int
main (int argc, char **argv)
{
    //  CZMQ must not install its own SIGINT/SIGTERM handlers: commands that
    //  need signals take them on their loop, the others keep the defaults.
    zsys_handler_set (NULL);
    if (argc < 2) {
        fprintf (stderr, "%s", s_usage);
        return 2;
    }
    const char *cmd = argv [1];
    if (streq (cmd, "--help") || streq (cmd, "-h") || streq (cmd, "help")) {
        printf ("%s", s_usage);
        return 0;
    }
    if (streq (cmd, "--version") || streq (cmd, "version")) {
        printf ("zorch %s\n", zo_version_full ());
        return 0;
    }
    if (streq (cmd, "proto-doc")) {
        if (argc > 2 && (streq (argv [2], "--help") || streq (argv [2], "-h"))) {
            printf ("usage: zorch proto-doc\n\nPrints the field tables of proto/PROTOCOL.md.\n");
            return 0;
        }
        if (argc > 2) {
            fprintf (stderr, "zorch proto-doc: takes no arguments\n");
            return 2;
        }
        zo_proto_print_doc ();
        return 0;
    }
    int (*run) (zo_conf_t *, int, char **) = NULL;
    bool up = streq (cmd, "up");
    if (streq (cmd, "inject"))
        run = zorch_inject;
    else if (streq (cmd, "dlq"))
        run = zorch_dlq;
    else if (streq (cmd, "bench"))
        run = zorch_bench;
    else if (streq (cmd, "status"))
        run = zorch_status;
    else if (streq (cmd, "cache"))
        run = zorch_cache;
    else if (streq (cmd, "pool"))
        run = zorch_pool;
    else if (streq (cmd, "scale"))
        run = zorch_scale;
    else if (streq (cmd, "workers"))
        run = zorch_workers;
    else if (!up) {
        fprintf (stderr, "zorch: unknown command '%s'\n\n%s", cmd, s_usage);
        return 2;
    }
    zsys_set_logident ("zorch");
    //  The command's own output (tables, JSON) is on stdout: log lines go
    //  to stderr, so that `zorch status --json | jq` reads JSON only.
    zsys_set_logstream (stderr);

    //  The subcommand sees argv[0] = its name. `up` also gets the original
    //  arguments, to hand configuration flags on to the actors it starts.
    int sub_argc = argc - 1;
    char **sub_argv = calloc ((size_t) argc + 1, sizeof (char *));
    char **full_argv = calloc ((size_t) argc + 1, sizeof (char *));
    if (!sub_argv || !full_argv)
        return 1;
    memcpy (sub_argv, argv + 1, (size_t) sub_argc * sizeof (char *));
    memcpy (full_argv, argv + 1, (size_t) sub_argc * sizeof (char *));
    zo_conf_t *conf = zo_conf_new ();
    if (!conf) {
        fprintf (stderr, "zorch: the built-in configuration does not parse\n");
        return 1;
    }
    int rc;
    int left = zo_conf_load (conf, sub_argc, sub_argv, NULL);
    if (left < 0) {
        fprintf (stderr, "zorch %s: %s\n", cmd, zo_conf_errstr (conf));
        rc = 2;
    }
    else if (up)
        rc = zorch_up (conf, left, sub_argv, sub_argc, full_argv);
    else
        rc = run (conf, left, sub_argv);
    zo_conf_destroy (&conf);
    free (sub_argv);
    free (full_argv);
    return rc;
}
