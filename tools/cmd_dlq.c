/*  zorch dlq: list, replay and purge the broker's dead letters.  */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zo_json.h"
#include "zo_rpc.h"
#include "zorch.h"

static const char s_usage [] =
    "usage: zorch dlq list [--json] [--limit N]\n"
    "       zorch dlq replay [ID...]\n"
    "       zorch dlq purge [ID...]\n"
    "\n"
    "Dead letters are events that failed max_attempts times or passed their\n"
    "deadline. list shows the oldest N (default and at most 1000) as a table,\n"
    "or with --json one JSON object per line {\"id\",\"type\",\"attempts\",\n"
    "\"failed_ms\",\"error\",\"event\"}. replay puts them back in the queue with\n"
    "fresh attempts; purge deletes them; without IDs, all of them.\n"
    "\n"
    "  --broker EP     broker front endpoint (default inject/broker,\n"
    "                  tcp://127.0.0.1:7010)\n"
    "  --timeout S     wait at most S seconds for the broker (default 5)\n"
    "\n"
    "Exit status 0; 1 when the broker does not answer or refuses; 2 on a\n"
    "usage error.\n";

static void
s_print_item (const zo_dead_t *d, bool json)
{
    if (json) {
        json_t *o = json_object ();
        json_object_set_new (o, "id", json_stringn ((const char *) d->event.id.ptr,
                                                    d->event.id.len));
        json_object_set_new (o, "type", json_stringn ((const char *) d->event.type.ptr,
                                                      d->event.type.len));
        json_object_set_new (o, "attempts", json_integer (d->attempts));
        json_object_set_new (o, "failed_ms", json_integer ((json_int_t) d->failed_ms));
        json_object_set_new (o, "error", d->error.len
                             ? json_stringn ((const char *) d->error.ptr, d->error.len)
                             : json_null ());
        json_t *event = zo_json_from_span (d->event.raw);
        json_object_set_new (o, "event", event ? event : json_null ());
        char *text = json_dumps (o, JSON_COMPACT);
        if (text)
            printf ("%s\n", text);
        free (text);
        json_decref (o);
        return;
    }
    char when [32] = "-";
    if (d->failed_ms) {
        time_t t = (time_t) (d->failed_ms / 1000);
        struct tm tm;
        localtime_r (&t, &tm);
        strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    }
    //  The error on one line, shortened to fit a terminal.
    char error [81];
    size_t len = d->error.len < sizeof error - 1 ? d->error.len : sizeof error - 1;
    for (size_t i = 0; i < len; i++) {
        char c = (char) d->error.ptr [i];
        error [i] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    }
    error [len] = 0;
    if (d->error.len > len && len > 3)
        strcpy (error + len - 3, "...");
    printf ("%-24.*s  %-28.*s  %8u  %-19s  %s\n", (int) d->event.id.len, d->event.id.ptr,
            (int) d->event.type.len, d->event.type.ptr, d->attempts, when,
            len ? error : "-");
}

typedef struct {
    bool json;
} s_list_t;

static void
s_on_items (const zo_msg_t *reply, void *arg)
{
    s_list_t *list = arg;
    if (!list->json)
        printf ("%-24s  %-28s  %8s  %-19s  %s\n", "ID", "TYPE", "ATTEMPTS", "FAILED AT",
                "ERROR");
    for (uint32_t i = 0; i < reply->n_dead; i++)
        s_print_item (&reply->dead [i], list->json);
    if (!list->json)
        fprintf (stderr, "%u of %u dead letters\n", reply->n_dead, reply->total);
}

static int
s_list (zo_rpc_t *rpc, uint32_t limit, bool json, int timeout_ms)
{
    zo_msg_t req = { .cmd = ZO_CMD_DLQ_LIST, .limit = limit };
    s_list_t list = { .json = json };
    return zorch_ask (rpc, "dlq", "broker", &req, ZO_CMD_DLQ_ITEMS, timeout_ms, s_on_items, &list);
}

static void
s_on_done (const zo_msg_t *reply, void *arg)
{
    *(uint64_t *) arg += reply->count;
}

/*  Replay or purge: ids in batches of ZO_MAX_BATCH, or all at once.  */
static int
s_act (zo_rpc_t *rpc, zo_cmd_t cmd, int n, char **ids, int timeout_ms)
{
    uint64_t count = 0;
    int at = 0;
    do {
        uint32_t n_ids = (uint32_t) (n - at < ZO_MAX_BATCH ? n - at : ZO_MAX_BATCH);
        zo_span_t spans [ZO_MAX_BATCH];
        for (uint32_t i = 0; i < n_ids; i++)
            spans [i] = zo_span_str (ids [at + (int) i]);
        zo_msg_t req = { .cmd = cmd, .ids = n_ids ? spans : NULL, .n_ids = n_ids };
        if (zorch_ask (rpc, "dlq", "broker", &req, ZO_CMD_DLQ_DONE, timeout_ms, s_on_done, &count))
            return 1;
        at += (int) n_ids;
    } while (at < n);
    printf ("%s %" PRIu64 " dead letter%s\n", cmd == ZO_CMD_DLQ_REPLAY ? "replayed" : "purged",
            count, count == 1 ? "" : "s");
    return 0;
}

int
zorch_dlq (zo_conf_t *conf, int argc, char **argv)
{
    enum { O_JSON = 256, O_LIMIT, O_BROKER, O_TIMEOUT };
    static const struct option options [] = {
        { "json", no_argument, NULL, O_JSON },
        { "limit", required_argument, NULL, O_LIMIT },
        { "broker", required_argument, NULL, O_BROKER },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    bool json = false;
    uint64_t limit = 1000;
    double timeout_s = 5;
    const char *broker = NULL;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
            case O_JSON:   json = true; break;
            case O_BROKER: broker = optarg; break;
            case O_LIMIT:
                if (zorch_parse_u64 (optarg, &limit) || limit < 1 || limit > ZO_MAX_BATCH) {
                    zorch_usage_error ("dlq", "--limit wants 1..1000, not '%s'", optarg);
                    return 2;
                }
                break;
            case O_TIMEOUT:
                if (zorch_option_timeout ("dlq", optarg, &timeout_s))
                    return 2;
                break;
            default: return zorch_option_end ("dlq", s_usage, opt, argv);
        }
    }
    if (optind >= argc) {
        zorch_usage_error ("dlq", "%s", "which: list, replay or purge?");
        return 2;
    }
    const char *what = argv [optind++];
    zo_cmd_t cmd;
    if (streq (what, "list")) {
        cmd = ZO_CMD_DLQ_LIST;
        if (optind < argc) {
            zorch_usage_error ("dlq", "list takes no arguments ('%s')", argv [optind]);
            return 2;
        }
    }
    else if (streq (what, "replay"))
        cmd = ZO_CMD_DLQ_REPLAY;
    else if (streq (what, "purge"))
        cmd = ZO_CMD_DLQ_PURGE;
    else {
        zorch_usage_error ("dlq", "unknown dlq command '%s'", what);
        return 2;
    }
    for (int i = optind; i < argc; i++)
        if (strlen (argv [i]) == 0 || strlen (argv [i]) > ZO_MAX_ID) {
            zorch_usage_error ("dlq", "'%s' is not an event id", argv [i]);
            return 2;
        }

    char *endpoint = zorch_client_endpoint (conf, broker);
    //  Replies may be large (a thousand dead letters): accept what the
    //  protocol allows, whatever the broker's own max_frame is.
    void *ctx = zmq_ctx_new ();
    zo_loop_t *loop = ctx ? zo_loop_new () : NULL;
    zo_rpc_opts_t opts = { .name = "dlq", .max_pending = 1, .max_frame = 64 * ZO_MAX_FRAME };
    zo_rpc_t *rpc = loop ? zo_rpc_new (loop, ctx, endpoint, &opts) : NULL;
    int rc = 1;
    if (!rpc)
        fprintf (stderr, "zorch dlq: cannot connect to %s\n", endpoint);
    else if (cmd == ZO_CMD_DLQ_LIST)
        rc = s_list (rpc, (uint32_t) limit, json, (int) (timeout_s * 1000));
    else
        rc = s_act (rpc, cmd, argc - optind, argv + optind, (int) (timeout_s * 1000));
    zo_rpc_destroy (&rpc);
    zo_loop_destroy (&loop);
    if (ctx)
        zmq_ctx_term (ctx);
    free (endpoint);
    return rc;
}
