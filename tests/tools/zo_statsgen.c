/*  zo_statsgen: fakes actors reporting STATS to a monitor, for the
    monitor's tests and benchmarks (tests/integration/monitor_*.sh).

    zo_statsgen --endpoint EP [--actors N] [--kind K] [--name NAME] [--version V]
                [--count REPORTS | --forever] [--interval MS] [--counter NAME=V]...
                [--gauge NAME=V]... [--hist NAME=V1,V2,...]... [--grow]
                [--garbage N] [--note TEXT]... [--bye]

    Each of N actors (named NAME, or NAME-1..NAME-N when N > 1) sends one
    STATS every interval, REPORTS times (default 1; 0 sends none), or
    until killed with --forever. Counters,
    gauges and histogram values are sent as given; with --grow every
    report also adds 1000 to each counter and records each histogram's
    values again (a busy actor, for benchmarks), and a broker-like set of
    30 counters and 10 gauges is added. --garbage N first sends N
    malformed messages. Each --note adds a note to every report (given
    oldest first, a second apart, the last given noted at the start);
    --bye marks the last report bye (a planned stop). Exits 0 when all
    was sent.
*/
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "zo_hist.h"
#include "zo_proto.h"

#define S_MAX 64

typedef struct { char name [64]; uint64_t value; } s_counter_t;
typedef struct { char name [64]; double value; } s_gauge_t;
typedef struct { char name [64]; uint64_t values [64]; int n; zo_hist_t hist; } s_hist_t;

static s_counter_t s_counters [S_MAX];
static int s_n_counters;
static s_gauge_t s_gauges [S_MAX];
static int s_n_gauges;
static s_hist_t *s_hists [8];
static int s_n_hists;
static const char *s_notes [S_MAX];
static int s_n_notes;

static uint64_t
s_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static int
s_usage (void)
{
    fprintf (stderr, "usage: zo_statsgen --endpoint EP [--actors N] [--kind K] [--name NAME] "
                     "[--count N | --forever] [--interval MS] [--counter N=V] [--gauge N=V] "
                     "[--hist N=V1,V2] [--grow] [--garbage N] [--note TEXT] [--bye]\n");
    return 2;
}

static void
s_pack_str (msgpack_packer *pk, const char *str)
{
    msgpack_pack_str_with_body (pk, str, strlen (str));
}

int
main (int argc, char **argv)
{
    const char *endpoint = NULL, *kind = "fake", *name = "fake", *version = "";
    int actors = 1, count = 1, interval = 1000, garbage = 0;
    int grow = 0, bye = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv [i];
        const char *v = i + 1 < argc? argv [i + 1]: NULL;
        if (!strcmp (a, "--grow")) { grow = 1; continue; }
        if (!strcmp (a, "--bye")) { bye = 1; continue; }
        if (!strcmp (a, "--forever")) { count = -1; continue; }
        if (!v)
            return s_usage ();
        i++;
        if (!strcmp (a, "--endpoint")) endpoint = v;
        else if (!strcmp (a, "--actors")) actors = atoi (v);
        else if (!strcmp (a, "--kind")) kind = v;
        else if (!strcmp (a, "--name")) name = v;
        else if (!strcmp (a, "--version")) version = v;
        else if (!strcmp (a, "--count")) count = atoi (v);
        else if (!strcmp (a, "--interval")) interval = atoi (v);
        else if (!strcmp (a, "--garbage")) garbage = atoi (v);
        else if (!strcmp (a, "--note") && s_n_notes < S_MAX) s_notes [s_n_notes++] = v;
        else if (!strcmp (a, "--counter") || !strcmp (a, "--gauge") || !strcmp (a, "--hist")) {
            const char *eq = strchr (v, '=');
            if (!eq || eq == v || eq - v >= 64)
                return s_usage ();
            if (!strcmp (a, "--counter") && s_n_counters < S_MAX) {
                s_counter_t *c = &s_counters [s_n_counters++];
                snprintf (c->name, sizeof (c->name), "%.*s", (int) (eq - v), v);
                c->value = strtoull (eq + 1, NULL, 10);
            }
            else if (!strcmp (a, "--gauge") && s_n_gauges < S_MAX) {
                s_gauge_t *g = &s_gauges [s_n_gauges++];
                snprintf (g->name, sizeof (g->name), "%.*s", (int) (eq - v), v);
                g->value = strtod (eq + 1, NULL);
            }
            else if (!strcmp (a, "--hist") && s_n_hists < 8) {
                s_hist_t *h = calloc (1, sizeof (s_hist_t));
                snprintf (h->name, sizeof (h->name), "%.*s", (int) (eq - v), v);
                zo_hist_reset (&h->hist);
                char *list = strdup (eq + 1), *save = NULL;
                for (char *tok = strtok_r (list, ",", &save); tok && h->n < 64; tok = strtok_r (NULL, ",", &save))
                    h->values [h->n++] = strtoull (tok, NULL, 10);
                free (list);
                for (int k = 0; k < h->n; k++)
                    zo_hist_record (&h->hist, h->values [k]);
                s_hists [s_n_hists++] = h;
            }
        }
        else
            return s_usage ();
    }
    if (!endpoint || actors < 1)
        return s_usage ();
    if (grow) {
        //  What a broker reports, roughly: 30 counters, 10 gauges.
        for (int k = 0; k < 30 && s_n_counters < S_MAX; k++) {
            s_counter_t *c = &s_counters [s_n_counters++];
            snprintf (c->name, sizeof (c->name), "bench_%02d_total", k);
            c->value = 0;
        }
        for (int k = 0; k < 10 && s_n_gauges < S_MAX; k++) {
            s_gauge_t *g = &s_gauges [s_n_gauges++];
            snprintf (g->name, sizeof (g->name), "bench_gauge_%02d", k);
            g->value = k;
        }
    }
    void *ctx = zmq_ctx_new ();
    void *push = zmq_socket (ctx, ZMQ_PUSH);
    int linger = 2000;
    zmq_setsockopt (push, ZMQ_LINGER, &linger, sizeof (linger));
    if (zmq_connect (push, endpoint)) {
        fprintf (stderr, "zo_statsgen: cannot connect to %s\n", endpoint);
        return 1;
    }
    uint64_t start_ms = s_wall_ms ();
    usleep (200000);                    //  let the connection come up
    for (int g = 0; g < garbage; g++) {
        static const char *junk [] = {
            "\xc1", "\x81\xa1v\x01", "not msgpack at all",
            "\x83\xa1v\x01\xa3" "cmd\xa5STATS\xa5" "actor\x01",       //  actor of the wrong type
            "\x81\xa1v\x01\xa3" "cmd", "\x92\x01\x02"
        };
        const char *j = junk [g % 6];
        zmq_send (push, j, strlen (j), 0);
    }
    msgpack_sbuffer maps, out;
    msgpack_sbuffer_init (&maps);
    msgpack_sbuffer_init (&out);
    for (int round = 0; count < 0 || round < count; round++) {
        for (int a = 0; a < actors; a++) {
            char instance [128];
            if (actors > 1)
                snprintf (instance, sizeof (instance), "%s-%d", name, a + 1);
            else
                snprintf (instance, sizeof (instance), "%s", name);
            msgpack_sbuffer_clear (&maps);
            msgpack_packer pk;
            msgpack_packer_init (&pk, &maps, msgpack_sbuffer_write);
            msgpack_pack_map (&pk, (uint32_t) s_n_counters);
            for (int k = 0; k < s_n_counters; k++) {
                s_pack_str (&pk, s_counters [k].name);
                msgpack_pack_uint64 (&pk, s_counters [k].value);
            }
            size_t gauges_at = maps.size;
            msgpack_pack_map (&pk, (uint32_t) s_n_gauges);
            for (int k = 0; k < s_n_gauges; k++) {
                s_pack_str (&pk, s_gauges [k].name);
                msgpack_pack_double (&pk, s_gauges [k].value);
            }
            size_t hists_at = maps.size;
            msgpack_pack_map (&pk, (uint32_t) s_n_hists);
            for (int k = 0; k < s_n_hists; k++) {
                s_pack_str (&pk, s_hists [k]->name);
                zo_hist_pack (&s_hists [k]->hist, &pk);
            }
            size_t notes_at = maps.size;
            if (s_n_notes) {
                msgpack_pack_array (&pk, (uint32_t) s_n_notes);
                for (int k = s_n_notes - 1; k >= 0; k--) {
                    msgpack_pack_map (&pk, 2);
                    s_pack_str (&pk, "ts_ms");
                    msgpack_pack_uint64 (&pk, start_ms - (uint64_t) (s_n_notes - 1 - k) * 1000);
                    s_pack_str (&pk, "text");
                    s_pack_str (&pk, s_notes [k]);
                }
            }
            const uint8_t *base = (const uint8_t *) maps.data;
            zo_msg_t msg;
            memset (&msg, 0, sizeof (msg));
            msg.cmd = ZO_CMD_STATS;
            msg.actor = zo_span_str (kind);
            msg.name = zo_span_str (instance);
            if (*version)
                msg.version = zo_span_str (version);
            msg.pid = (uint64_t) getpid () * 1000 + (uint64_t) a;
            msg.ts_ms = s_wall_ms ();
            msg.rss_bytes = 10u << 20;
            msg.cpu_seconds = round * 0.01;
            msg.counters = (zo_span_t) { base, (uint32_t) gauges_at };
            msg.gauges = (zo_span_t) { base + gauges_at, (uint32_t) (hists_at - gauges_at) };
            msg.hists = (zo_span_t) { base + hists_at, (uint32_t) (notes_at - hists_at) };
            msg.notes = (zo_span_t) { base + notes_at, (uint32_t) (maps.size - notes_at) };
            msg.bye = bye && count >= 0 && round + 1 == count;
            msgpack_sbuffer_clear (&out);
            msgpack_packer_init (&pk, &out, msgpack_sbuffer_write);
            zo_proto_encode (&pk, &msg);
            if (zmq_send (push, out.data, out.size, 0) < 0) {
                fprintf (stderr, "zo_statsgen: send failed\n");
                return 1;
            }
        }
        if (grow) {
            for (int k = 0; k < s_n_counters; k++)
                s_counters [k].value += 1000 + (uint64_t) k;
            for (int k = 0; k < s_n_hists; k++)
                for (int v = 0; v < s_hists [k]->n; v++)
                    zo_hist_record_n (&s_hists [k]->hist, s_hists [k]->values [v] + (uint64_t) (round % 97) * 1000, 20);
        }
        if (count < 0 || round + 1 < count)
            usleep ((useconds_t) interval * 1000);
    }
    msgpack_sbuffer_destroy (&maps);
    msgpack_sbuffer_destroy (&out);
    zmq_close (push);
    zmq_ctx_term (ctx);
    return 0;
}
