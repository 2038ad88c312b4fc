/*  zorch workers: the broker's view of its workers (WORKERS): who is
    connected, what each may still be sent and what it runs now.  */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>

#include "zo_json.h"
#include "zorch.h"

static const char s_usage [] =
    "usage: zorch workers [--broker EP] [--json] [--watch SECONDS] [--timeout SECONDS]\n"
    "\n"
    "Asks the broker for its workers and prints one line each: its name, its\n"
    "capacity, the credit it has left (events it may still be sent), the events it\n"
    "holds now, the events it was sent in all, and whether it is quiet (being\n"
    "scaled down: sent nothing more).\n"
    "\n"
    "  --broker EP    the broker's front (default inject/broker, tcp://127.0.0.1:7010)\n"
    "  --json         the list as one JSON array\n"
    "  --watch S      ask again every S seconds until stopped; with --json each answer\n"
    "                 is one line {\"time_ms\": Unix time in ms, \"workers\": [...]}\n"
    "  --timeout S    give up after S seconds (default 5)\n";

typedef struct {
    bool json, watch;
} s_print_t;

static void
s_on_workers (const zo_msg_t *reply, void *arg)
{
    const s_print_t *print = (const s_print_t *) arg;
    json_t *list = zo_json_from_span (reply->workers);
    if (!list)
        list = json_array ();
    if (print->json) {
        json_t *out = print->watch
                    ? json_pack ("{sIsO}", "time_ms", (json_int_t) zclock_time (), "workers", list)
                    : json_incref (list);
        char *text = out? json_dumps (out, JSON_COMPACT): NULL;
        printf ("%s\n", text? text: "[]");
        free (text);
        json_decref (out);
    }
    else {
        if (print->watch)
            printf ("\n");
        printf ("%-24s %9s %9s %9s %11s  %s\n", "WORKER", "CAPACITY", "CREDIT", "HELD",
                "DISPATCHED", "");
        size_t i;
        json_t *w;
        json_array_foreach (list, i, w)
            printf ("%-24s %9" JSON_INTEGER_FORMAT " %9" JSON_INTEGER_FORMAT " %9"
                    JSON_INTEGER_FORMAT " %11" JSON_INTEGER_FORMAT "  %s\n",
                    json_string_value (json_object_get (w, "name")),
                    json_integer_value (json_object_get (w, "capacity")),
                    json_integer_value (json_object_get (w, "credit")),
                    json_integer_value (json_object_get (w, "held")),
                    json_integer_value (json_object_get (w, "dispatched")),
                    json_is_true (json_object_get (w, "quiet"))? "quiet": "");
    }
    json_decref (list);
}

int
zorch_workers (zo_conf_t *conf, int argc, char **argv)
{
    enum { O_BROKER = 256, O_JSON, O_WATCH, O_TIMEOUT };
    static const struct option options [] = {
        { "broker", required_argument, NULL, O_BROKER },
        { "json", no_argument, NULL, O_JSON },
        { "watch", required_argument, NULL, O_WATCH },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *broker = NULL;
    s_print_t print = { 0 };
    double timeout_s = 5, every_s = 0;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
            case O_BROKER: broker = optarg; break;
            case O_JSON: print.json = true; break;
            case O_WATCH:
                if (zorch_parse_double (optarg, &every_s) || !(every_s >= 0.001) || every_s > 86400)
                    return zorch_usage_error ("workers", "--watch wants seconds (at least 0.001), "
                                              "not '%s'", optarg);
                print.watch = true;
                break;
            case O_TIMEOUT:
                if (zorch_option_timeout ("workers", optarg, &timeout_s))
                    return 2;
                break;
            default: return zorch_option_end ("workers", s_usage, opt, argv);
        }
    }
    if (optind < argc)
        return zorch_usage_error ("workers", "unexpected argument '%s'", argv [optind]);
    char *endpoint = zorch_client_endpoint (conf, broker);
    zo_msg_t req = { .cmd = ZO_CMD_WORKERS };
    int rc = zorch_watch ("workers", "broker", endpoint, &req, ZO_CMD_WORKERS,
                          (int) (timeout_s * 1000), (int) (every_s * 1000), s_on_workers, &print);
    free (endpoint);
    return rc;
}
