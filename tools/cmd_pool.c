/*  zorch pool: the pool actor from the command line: an HTTP request to
    one of its services, a statement on one of its databases, its stats.  */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zo_json.h"
#include "zorch.h"

static const char s_usage [] =
    "Usage: zorch pool request SERVICE METHOD PATH [--body DATA|-] [--header 'Name: value']...\n"
    "       zorch pool query DATABASE SQL [PARAM...]\n"
    "       zorch pool stats [--json]\n"
    "\n"
    "request sends an HTTP request through the pool's connections to SERVICE\n"
    "(pool/services) and prints the status on standard error and the body on\n"
    "standard output (--json: {\"status\",\"headers\",\"body\",\"attempts\",\"took_ms\"});\n"
    "query runs SQL ($1, $2... for the PARAMs, as text) on DATABASE\n"
    "(pool/databases) and prints each row as one JSON object; stats prints the\n"
    "pool's counters and gauges: each service's and database's health.\n"
    "\n"
    "  --endpoint EP   the pool actor (default pool/endpoint, tcp://127.0.0.1:7014)\n"
    "  --timeout S     wait at most S seconds (default 15)\n"
    "  --body DATA     the request's body; - reads standard input\n"
    "  --header H      'Name: value', repeatable\n"
    "  --json          JSON output\n"
    "\n"
    "Exit status 0; 1 when the pool or the service failed, or answered 400 or\n"
    "more; 2 on a usage error.\n";

typedef struct {
    bool json;
    int rc;
} s_out_t;

static void
s_on_response (const zo_msg_t *reply, void *arg)
{
    s_out_t *out = arg;
    out->rc = reply->status >= 400 ? 1 : 0;
    if (out->json) {
        json_t *o = json_object ();
        json_object_set_new (o, "status", json_integer (reply->status));
        json_t *headers = reply->headers.len ? zo_json_from_span (reply->headers) : json_object ();
        json_object_set_new (o, "headers", headers ? headers : json_null ());
        json_object_set_new (o, "body", json_stringn ((const char *) reply->body.ptr, reply->body.len));
        json_object_set_new (o, "attempts", json_integer (reply->attempts));
        json_object_set_new (o, "took_ms", json_real ((double) reply->took_ns / 1e6));
        char *text = json_dumps (o, JSON_COMPACT);
        if (text)
            printf ("%s\n", text);
        free (text);
        json_decref (o);
        return;
    }
    fprintf (stderr, "HTTP %u (%u attempt%s, %.1f ms)\n", reply->status, reply->attempts,
             reply->attempts == 1 ? "" : "s", (double) reply->took_ns / 1e6);
    fwrite (reply->body.ptr, 1, reply->body.len, stdout);
    if (reply->body.len && reply->body.ptr [reply->body.len - 1] != '\n')
        printf ("\n");
}

static void
s_on_rows (const zo_msg_t *reply, void *arg)
{
    json_t *columns = zo_json_from_span (reply->columns);
    json_t *rows = zo_json_from_span (reply->rows);
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row) {
        json_t *o = json_object ();
        size_t c;
        json_t *name;
        json_array_foreach (columns, c, name)
            json_object_set (o, json_is_string (name) ? json_string_value (name) : "?",
                             json_array_get (row, c) ? json_array_get (row, c) : json_null ());
        char *text = json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text)
            printf ("%s\n", text);
        free (text);
        json_decref (o);
    }
    fprintf (stderr, "%u row%s (%.1f ms)\n", reply->count, reply->count == 1 ? "" : "s",
             (double) reply->took_ns / 1e6);
    json_decref (columns);
    json_decref (rows);
}

static void
s_on_stats (const zo_msg_t *reply, void *arg)
{
    zorch_print_stats (reply, ((s_out_t *) arg)->json);
}

int
zorch_pool (zo_conf_t *conf, int argc, char **argv)
{
    enum { O_ENDPOINT = 256, O_TIMEOUT, O_BODY, O_HEADER, O_JSON };
    static const struct option options [] = {
        { "endpoint", required_argument, NULL, O_ENDPOINT },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "body", required_argument, NULL, O_BODY },
        { "header", required_argument, NULL, O_HEADER },
        { "json", no_argument, NULL, O_JSON },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *endpoint_flag = NULL, *body = NULL;
    const char *headers [64];
    int n_headers = 0;
    double timeout_s = 15;
    bool json = false;
    optind = 0;
    opterr = 0;
    int opt;
    //  Options anywhere (getopt moves the words after them); `--` ends
    //  them, for a parameter that begins with '-'.
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
            case O_ENDPOINT: endpoint_flag = optarg; break;
            case O_BODY: body = optarg; break;
            case O_JSON: json = true; break;
            case O_HEADER:
                if (n_headers == 64 || !strchr (optarg, ':'))
                    return zorch_usage_error ("pool", "--header wants 'Name: value' (64 at most), not '%s'", optarg);
                headers [n_headers++] = optarg;
                break;
            case O_TIMEOUT:
                if (zorch_option_timeout ("pool", optarg, &timeout_s))
                    return 2;
                break;
            default: return zorch_option_end ("pool", s_usage, opt, argv);
        }
    }
    char **words = argv + optind;
    int n_words = argc - optind;
    if (n_words == 0)
        return zorch_usage_error ("pool", "%s", "which: request, query or stats?");
    const char *what = words [0];
    zo_msg_t req = { 0 };
    zo_cmd_t want;
    zorch_reply_fn *fn;
    char *body_data = NULL;
    size_t body_len = 0;
    msgpack_sbuffer hbuf;
    msgpack_sbuffer_init (&hbuf);
    zo_span_t params [ZO_MAX_BATCH];
    if (streq (what, "request")) {
        if (n_words != 4)
            return zorch_usage_error ("pool", "%s", "request SERVICE METHOD PATH");
        req = (zo_msg_t) { .cmd = ZO_CMD_REQUEST, .service = zo_span_str (words [1]),
                           .method = zo_span_str (words [2]), .path = zo_span_str (words [3]),
                           .timeout_ms = (uint32_t) (timeout_s * 1000) };
        if (body && streq (body, "-"))
            body_data = zorch_read_all (stdin, &body_len);
        else
        if (body)
            body_len = strlen (body_data = strdup (body));
        if (body)
            req.body = (zo_span_t) { (const uint8_t *) (body_data ? body_data : ""), (uint32_t) body_len };
        if (n_headers) {
            msgpack_packer pk;
            msgpack_packer_init (&pk, &hbuf, msgpack_sbuffer_write);
            msgpack_pack_map (&pk, (uint32_t) n_headers);
            for (int i = 0; i < n_headers; i++) {
                const char *colon = strchr (headers [i], ':');
                const char *value = colon + 1;
                while (*value == ' ')
                    value++;
                msgpack_pack_str_with_body (&pk, headers [i], (size_t) (colon - headers [i]));
                zo_proto_pack_str (&pk, value);
            }
            req.headers = (zo_span_t) { (const uint8_t *) hbuf.data, (uint32_t) hbuf.size };
        }
        want = ZO_CMD_RESPONSE;
        fn = s_on_response;
    }
    else
    if (streq (what, "query")) {
        if (n_words < 3 || n_words - 3 > ZO_MAX_BATCH)
            return zorch_usage_error ("pool", "%s", "query DATABASE SQL [PARAM...] (1000 at most)");
        for (int i = 3; i < n_words && i - 3 < ZO_MAX_BATCH; i++)
            params [i - 3] = zo_span_str (words [i]);
        req = (zo_msg_t) { .cmd = ZO_CMD_QUERY, .database = zo_span_str (words [1]),
                           .sql = zo_span_str (words [2]), .values = params,
                           .n_values = (uint32_t) (n_words - 3),
                           .timeout_ms = (uint32_t) (timeout_s * 1000) };
        want = ZO_CMD_ROWS;
        fn = s_on_rows;
    }
    else
    if (streq (what, "stats")) {
        req = (zo_msg_t) { .cmd = ZO_CMD_GET_STATS };
        want = ZO_CMD_STATS;
        fn = s_on_stats;
    }
    else
        return zorch_usage_error ("pool", "unknown pool command '%s'", what);

    char *endpoint = zorch_endpoint_for (conf, endpoint_flag, "pool/endpoint", "tcp://127.0.0.1:7014");
    s_out_t out = { .json = json };
    //  A little longer than the request's own deadline, so that the pool's
    //  timeout comes back as its ERROR.
    int rc = zorch_call ("pool", "pool", endpoint, &req, want, (int) (timeout_s * 1000) + 1000, fn, &out);
    if (rc == 0)
        rc = out.rc;
    free (endpoint);
    free (body_data);
    msgpack_sbuffer_destroy (&hbuf);
    return rc;
}
