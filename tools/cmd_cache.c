/*  zorch cache: the cache actor from the command line (get, set, del,
    touch, invalidate, stats), and `sim`, which replays a trace through the
    cache's memory level (actors/cache/l1.c, the code the actor runs) and
    prints its hit ratio.  */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l1.h"
#include "zo_json.h"
#include "zorch.h"

static const char s_cache_usage [] =
    "Usage: zorch cache get KEY [--json]\n"
    "       zorch cache set KEY VALUE [--ttl 10m]     (VALUE - reads standard input)\n"
    "       zorch cache del KEY\n"
    "       zorch cache touch KEY [--ttl 10m]\n"
    "       zorch cache invalidate PATTERN            (a glob: * ? [...] and \\ escapes)\n"
    "       zorch cache stats [--json]\n"
    "       zorch cache sim --help\n"
    "\n"
    "get prints the value (--json: {\"key\",\"found\",\"value\",\"ttl_ms\",\"level\"});\n"
    "set stores it at every level, for --ttl or cache/ttl; del, touch and\n"
    "invalidate change every level (and every other cache actor's memory)\n"
    "and print how many keys they changed; stats prints the actor's counters\n"
    "and gauges (--json: its STATS as one JSON object).\n"
    "\n"
    "  --endpoint EP   the cache actor (default cache/endpoint, tcp://127.0.0.1:7013)\n"
    "  --timeout S     wait at most S seconds for it (default 5)\n"
    "  --ttl D         time to live (500ms, 10m, 1h); touch without it: for ever\n"
    "  --json          JSON output (get, stats)\n"
    "\n"
    "Exit status 0; 1 when the cache does not answer or refuses; 2 on a usage\n"
    "error; 3 when get finds nothing.\n";

static const char s_usage [] =
    "Usage: zorch cache sim [--policy tinylfu|lru] --budget BYTES [--trace FILE]\n"
    "\n"
    "Replays a trace through the cache's memory level (the code zorch-cache\n"
    "runs) and prints {\"policy\",\"budget\",\"requests\",\"hits\",\"misses\",\n"
    "\"hit_ratio\"} as JSON. The trace has one request a line, `KEY` or\n"
    "`KEY SIZE` (the value's bytes, 0 when absent), read from FILE or from\n"
    "standard input. A miss stores the key with its size; every entry also\n"
    "costs its key and 64 bytes of bookkeeping against the budget.\n"
    "\n"
    "  --policy P     tinylfu (the cache's, default) or lru (plain LRU, to\n"
    "                 compare against)\n"
    "  --budget B     bytes of memory, with K, M, G (at least 4K)\n"
    "  --trace FILE   the trace (default: standard input)\n"
    "\n"
    "Exit status 0; 1 when the trace cannot be read; 2 on a usage error.\n";

static int
s_sim (int argc, char **argv)
{
    enum { O_POLICY = 1, O_BUDGET, O_TRACE };
    static const struct option options [] = {
        { "policy", required_argument, NULL, O_POLICY },
        { "budget", required_argument, NULL, O_BUDGET },
        { "trace", required_argument, NULL, O_TRACE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int policy = ZO_L1_TINYLFU;
    uint64_t budget = 0;
    const char *trace = NULL;
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
            case O_POLICY:
                if ((policy = zo_l1_policy_parse (optarg)) < 0)
                    return zorch_usage_error ("cache sim", "--policy is tinylfu or lru, not '%s'", optarg);
                break;
            case O_BUDGET:
                if (zo_conf_parse_size (optarg, &budget) || budget < 4096)
                    return zorch_usage_error ("cache sim", "--budget wants bytes (4K or more), not '%s'", optarg);
                break;
            case O_TRACE: trace = optarg; break;
            default: return zorch_option_end ("cache sim", s_usage, opt, argv);
        }
    }
    if (optind < argc)
        return zorch_usage_error ("cache sim", "unexpected argument '%s'", argv [optind]);
    if (!budget)
        return zorch_usage_error ("cache sim", "%s", "--budget is needed");
    FILE *in = trace ? fopen (trace, "r") : stdin;
    if (!in) {
        fprintf (stderr, "zorch cache sim: cannot read %s: %s\n", trace, strerror (errno));
        return 1;
    }
    zo_l1_t *l1 = zo_l1_new ((size_t) budget, (zo_l1_policy_t) policy);
    if (!l1) {
        fprintf (stderr, "zorch cache sim: out of memory\n");
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t bad = 0;
    while ((len = getline (&line, &cap, in)) >= 0) {
        while (len > 0 && (line [len - 1] == '\n' || line [len - 1] == '\r'))
            line [--len] = 0;
        if (len == 0)
            continue;
        char *space = strchr (line, ' ');
        uint64_t size = 0;
        if (space) {
            *space = 0;
            if (zorch_parse_u64 (space + 1, &size)) {
                bad++;
                continue;
            }
        }
        size_t key_len = strlen (line);
        if (zo_l1_get (l1, line, key_len, 0, NULL, NULL, NULL) != 0)
            zo_l1_set (l1, line, key_len, NULL, (size_t) size, 0);
    }
    free (line);
    int rc = ferror (in) ? 1 : 0;
    if (trace)
        fclose (in);
    zo_l1_stats_t st = zo_l1_stats (l1);
    zo_l1_destroy (&l1);
    uint64_t requests = st.hits + st.misses;
    printf ("{\"policy\":\"%s\",\"budget\":%llu,\"requests\":%llu,\"hits\":%llu,\"misses\":%llu,"
            "\"hit_ratio\":%.6f}\n", zo_l1_policy_name ((zo_l1_policy_t) policy),
            (unsigned long long) budget, (unsigned long long) requests,
            (unsigned long long) st.hits, (unsigned long long) st.misses,
            requests ? (double) st.hits / (double) requests : 0.0);
    if (bad)
        fprintf (stderr, "zorch cache sim: %llu lines with a size that is not a number, skipped\n",
                 (unsigned long long) bad);
    if (rc)
        fprintf (stderr, "zorch cache sim: error reading the trace\n");
    return rc;
}

//  ---------------------------------------------------------------------
//  The actor's commands

typedef struct {
    const char *key;
    bool json;
    int rc;
} s_out_t;

static void
s_on_value (const zo_msg_t *reply, void *arg)
{
    s_out_t *out = arg;
    if (!reply->found)
        out->rc = 3;
    if (!reply->found && !out->json) {
        fprintf (stderr, "zorch cache: %s: not found\n", out->key);
        return;
    }
    if (out->json) {
        json_t *o = json_object ();
        json_object_set_new (o, "key", json_string (out->key));
        json_object_set_new (o, "found", json_boolean (reply->found));
        if (!reply->found)
            goto print;
        json_object_set_new (o, "value", json_stringn ((const char *) reply->value.ptr, reply->value.len));
        json_object_set_new (o, "ttl_ms", reply->ttl_ms ? json_integer ((json_int_t) reply->ttl_ms)
                                                         : json_null ());
        json_object_set_new (o, "level", json_stringn ((const char *) reply->level.ptr, reply->level.len));
    print: ;
        char *text = json_dumps (o, JSON_COMPACT);
        if (text)
            printf ("%s\n", text);
        free (text);
        json_decref (o);
        return;
    }
    fwrite (reply->value.ptr, 1, reply->value.len, stdout);
    printf ("\n");
}

static void
s_on_ok (const zo_msg_t *reply, void *arg)
{
    s_out_t *out = arg;
    printf ("%u\n", reply->count);
    (void) out;
}

static void
s_on_stats (const zo_msg_t *reply, void *arg)
{
    zorch_print_stats (reply, ((s_out_t *) arg)->json);
}

static int
s_command (zo_conf_t *conf, int argc, char **argv)
{
    enum { O_ENDPOINT = 256, O_TIMEOUT, O_TTL, O_JSON };
    static const struct option options [] = {
        { "endpoint", required_argument, NULL, O_ENDPOINT },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "ttl", required_argument, NULL, O_TTL },
        { "json", no_argument, NULL, O_JSON },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *endpoint_flag = NULL;
    double timeout_s = 5;
    uint64_t ttl_ms = 0;
    bool json = false;
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
            case O_ENDPOINT: endpoint_flag = optarg; break;
            case O_JSON: json = true; break;
            case O_TIMEOUT:
                if (zorch_option_timeout ("cache", optarg, &timeout_s))
                    return 2;
                break;
            case O_TTL:
                if (zo_conf_parse_ms (optarg, &ttl_ms))
                    return zorch_usage_error ("cache", "--ttl wants a duration (10m), not '%s'", optarg);
                break;
            default: return zorch_option_end ("cache", s_cache_usage, opt, argv);
        }
    }
    if (optind >= argc)
        return zorch_usage_error ("cache", "%s", "which: get, set, del, touch, invalidate, stats or sim?");
    const char *what = argv [optind++];
    int want_args = streq (what, "set") ? 2 : streq (what, "stats") ? 0 : 1;
    if (!streq (what, "get") && !streq (what, "set") && !streq (what, "del")
    &&  !streq (what, "touch") && !streq (what, "invalidate") && !streq (what, "stats"))
        return zorch_usage_error ("cache", "unknown cache command '%s'", what);
    if (argc - optind != want_args)
        return zorch_usage_error ("cache", "%s takes other arguments (see --help)", what);
    const char *key = want_args ? argv [optind] : NULL;
    if (key && (strlen (key) == 0 || strlen (key) > ZO_MAX_KEY))
        return zorch_usage_error ("cache", "a key or pattern has 1..1024 bytes: '%s'", key);

    zo_msg_t req = { 0 };
    zo_cmd_t reply = ZO_CMD_OK;
    zorch_reply_fn *fn = s_on_ok;
    char *value = NULL;
    if (streq (what, "get")) {
        req = (zo_msg_t) { .cmd = ZO_CMD_GET, .key = zo_span_str (key) };
        reply = ZO_CMD_VALUE;
        fn = s_on_value;
    }
    else
    if (streq (what, "set")) {
        size_t len;
        if (streq (argv [optind + 1], "-")) {
            if (!(value = zorch_read_all (stdin, &len))) {
                fprintf (stderr, "zorch cache: out of memory reading standard input\n");
                return 1;
            }
        }
        else {
            value = strdup (argv [optind + 1]);
            len = value ? strlen (value) : 0;
        }
        req = (zo_msg_t) { .cmd = ZO_CMD_SET, .key = zo_span_str (key),
                           .value = { (const uint8_t *) (value ? value : ""), (uint32_t) len },
                           .ttl_ms = ttl_ms };
    }
    else
    if (streq (what, "del"))
        req = (zo_msg_t) { .cmd = ZO_CMD_DEL, .key = zo_span_str (key) };
    else
    if (streq (what, "touch"))
        req = (zo_msg_t) { .cmd = ZO_CMD_TOUCH, .key = zo_span_str (key), .ttl_ms = ttl_ms };
    else
    if (streq (what, "invalidate"))
        req = (zo_msg_t) { .cmd = ZO_CMD_INVALIDATE, .pattern = zo_span_str (key) };
    else {
        req = (zo_msg_t) { .cmd = ZO_CMD_GET_STATS };
        reply = ZO_CMD_STATS;
        fn = s_on_stats;
    }

    char *endpoint = zorch_endpoint_for (conf, endpoint_flag, "cache/endpoint", "tcp://127.0.0.1:7013");
    s_out_t out = { .key = key, .json = json };
    int rc = zorch_call ("cache", "cache", endpoint, &req, reply, (int) (timeout_s * 1000), fn, &out);
    if (rc == 0)
        rc = out.rc;
    free (endpoint);
    free (value);
    return rc;
}

int
zorch_cache (zo_conf_t *conf, int argc, char **argv)
{
    if (argc >= 2 && strcmp (argv [1], "sim") == 0)
        return s_sim (argc - 1, argv + 1);
    return s_command (conf, argc, argv);
}
