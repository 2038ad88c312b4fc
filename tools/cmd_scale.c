/*  zorch scale: the number of workers, by hand or by the load again.
    zorch scale N          N workers, autoscaling paused
    zorch scale --auto     the autoscaler sizes by the load again
    zorch scale            what it does now (its stats and decisions)  */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "zorch.h"

static const char s_usage [] =
    "usage: zorch scale [N | --auto] [--endpoint EP] [--json] [--timeout SECONDS]\n"
    "\n"
    "Tells zorch-autoscaler to run N workers and stop autoscaling, or with --auto\n"
    "to size the workers by the load again; with neither, shows what it does. It\n"
    "prints the autoscaler's state: workers, target, load, forecast, and its\n"
    "recent decisions with their reasons.\n"
    "\n"
    "  --endpoint EP  the autoscaler (default autoscaler/endpoint, tcp://127.0.0.1:7015)\n"
    "  --json         one JSON object\n"
    "  --timeout S    give up after S seconds (default 5)\n"
    "\n"
    "Exit status 0; 1 when the autoscaler did not answer or refused (N above\n"
    "autoscaler/max); 2 on a usage error.\n";

static void
s_on_stats (const zo_msg_t *reply, void *arg)
{
    zorch_print_stats (reply, *(bool *) arg);
}

int
zorch_scale (zo_conf_t *conf, int argc, char **argv)
{
    enum { O_ENDPOINT = 256, O_AUTO, O_JSON, O_TIMEOUT };
    static const struct option options [] = {
        { "endpoint", required_argument, NULL, O_ENDPOINT },
        { "auto", no_argument, NULL, O_AUTO },
        { "json", no_argument, NULL, O_JSON },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *endpoint_flag = NULL;
    bool autoscale = false, json = false;
    double timeout_s = 5;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
            case O_ENDPOINT: endpoint_flag = optarg; break;
            case O_AUTO: autoscale = true; break;
            case O_JSON: json = true; break;
            case O_TIMEOUT:
                if (zorch_option_timeout ("scale", optarg, &timeout_s))
                    return 2;
                break;
            default: return zorch_option_end ("scale", s_usage, opt, argv);
        }
    }
    zo_msg_t req = { .cmd = ZO_CMD_GET_STATS };
    if (optind < argc) {
        uint64_t size;
        if (autoscale)
            return zorch_usage_error ("scale", "%s", "a size or --auto, not both");
        if (optind + 1 < argc)
            return zorch_usage_error ("scale", "unexpected argument '%s'", argv [optind + 1]);
        if (zorch_parse_u64 (argv [optind], &size) || size > 1000)
            return zorch_usage_error ("scale", "a size is 0..1000 workers, not '%s'", argv [optind]);
        req = (zo_msg_t) { .cmd = ZO_CMD_SCALE, .size = (uint32_t) size };
    }
    else
    if (autoscale)
        req = (zo_msg_t) { .cmd = ZO_CMD_SCALE, .autoscale = true };
    char *endpoint = zorch_endpoint_for (conf, endpoint_flag, "autoscaler/endpoint",
                                         "tcp://127.0.0.1:7015");
    int rc = zorch_call ("scale", "autoscaler", endpoint, &req, ZO_CMD_STATS,
                         (int) (timeout_s * 1000), s_on_stats, &json);
    free (endpoint);
    return rc;
}
