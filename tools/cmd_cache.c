/*  zorch cache: the cache from the command line. So far `sim`, which
    replays a trace through the cache's first level (actors/cache/l1.c,
    the code the cache actor runs) and prints its hit ratio; get, set, del,
    invalidate and stats come with the zorch-cache actor.  */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l1.h"
#include "zorch.h"

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
    enum { O_POLICY = 1, O_BUDGET, O_TRACE, O_HELP };
    static const struct option options [] = {
        { "policy", required_argument, NULL, O_POLICY },
        { "budget", required_argument, NULL, O_BUDGET },
        { "trace", required_argument, NULL, O_TRACE },
        { "help", no_argument, NULL, O_HELP },
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
            case 'h':
            case O_HELP: printf ("%s", s_usage); return 0;
            case ':': return zorch_usage_error ("cache sim", "%s needs a value", argv [optind - 1]);
            default: return zorch_usage_error ("cache sim", "unknown option '%s'", argv [optind - 1]);
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

int
zorch_cache (zo_conf_t *conf, int argc, char **argv)
{
    if (argc >= 2 && strcmp (argv [1], "sim") == 0)
        return s_sim (argc - 1, argv + 1);
    if (argc >= 2 && (strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0)) {
        printf ("%s", s_usage);
        return 0;
    }
    return zorch_usage_error ("cache", "which: sim (get, set, del, invalidate and stats come with "
                              "the cache actor)%s", "");
}
