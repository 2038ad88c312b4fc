/*  Tests of actors/worker/plugin.c through the example plugin
    (actors/worker/plugins/example/upper.c, built as upper.so): loaded by
    path and by name, an event end to end with its emitted follow-up, and
    a timeout that cancels it.  */
#include "test_worker_util.h"

#include <libgen.h>

#include "handlers.h"
#include "plugin.h"

static t_rec_t rec;
static zo_loop_t *loop;
static zo_stats_t *stats;
static zo_hctx_t *hctx;
static zo_routes_t *routes;
static zo_inflight_t *inflight;

static const char *
s_upper_path (void)
{
    const char *path = getenv ("ZORCH_UPPER_SO");
    cr_assert (path, "ZORCH_UPPER_SO must name the example plugin (meson sets it)");
    return path;
}

static void
s_setup (const char *plugin_dir)
{
    memset (&rec, 0, sizeof (rec));
    loop = zo_loop_new ();
    rec.loop = loop;
    stats = zo_stats_new ("worker", "test");
    hctx = zo_hctx_new (loop, NULL, stats, NULL, plugin_dir);
    cr_assert (hctx);
    routes = zo_routes_new (5000, 3, hctx);
}

static void
s_teardown (void)
{
    zo_inflight_destroy (&inflight);
    zo_routes_destroy (&routes);
    zo_hctx_destroy (&hctx);
    zo_stats_destroy (&stats);
    zo_loop_destroy (&loop);
}

Test (plugin, open_checks_symbol)
{
    char why [256];
    const zo_handler_plugin_t *p = zo_plugin_open (s_upper_path (), NULL, why, sizeof (why));
    cr_assert (p, "%s", why);
    cr_assert_eq (p->abi, ZO_HANDLER_ABI);
    cr_assert_str_eq (p->name, "upper");
    /*  Opened once, counted.  */
    cr_assert_eq (zo_plugin_open (s_upper_path (), "zorch_handler_v2", why, sizeof (why)), p);
    zo_plugin_close (p);
    zo_plugin_close (p);
    cr_assert_null (zo_plugin_open (s_upper_path (), "no_such_symbol", why, sizeof (why)));
    cr_assert (strstr (why, "no_such_symbol"), "%s", why);
}

/*  A plugin built for ABI 1 is refused with a message saying to rebuild.  */
Test (plugin, abi1_plugin_refused)
{
    const char *path = getenv ("ZORCH_ABI1_SO");
    cr_assert (path, "ZORCH_ABI1_SO must name tests/unit/plugin_abi1 (meson sets it)");
    char why [512];
    cr_assert_null (zo_plugin_open (path, NULL, why, sizeof (why)));
    cr_assert (strstr (why, "ABI 1") && strstr (why, "rebuild"), "%s", why);
    cr_assert_null (zo_plugin_open (path, "zorch_handler_v1", why, sizeof (why)));
    cr_assert (strstr (why, "has ABI 1 (want 2)"), "%s", why);
}

/*  The context's counters: prefixed, bounded in number, names checked.  */
Test (plugin, context_counters)
{
    zo_loop_t *l = zo_loop_new ();
    zo_stats_t *st = zo_stats_new ("worker", "test");
    zo_hctx_t *ctx = zo_hctx_new (l, NULL, st, NULL, NULL);
    zo_handler_ctx_t *hc = (zo_handler_ctx_t *) ctx;
    uint64_t *a = zo_handler_counter (hc, "hits");
    cr_assert_not_null (a);
    cr_assert_eq (zo_handler_counter (hc, "hits"), a);
    cr_assert_eq (zo_stats_counter (st, "handler_hits_total"), a);
    cr_assert_null (zo_handler_counter (hc, "Bad-Name"));
    cr_assert_null (zo_handler_counter (hc, ""));
    cr_assert_null (zo_handler_counter (NULL, "hits"));
    char name [32];
    int made = 1;
    for (int i = 0; i < 40; i++) {
        snprintf (name, sizeof (name), "c%d", i);
        if (zo_handler_counter (hc, name))
            made++;
    }
    cr_assert_eq (made, 16);
    zo_hctx_destroy (&ctx);
    zo_stats_destroy (&st);
    zo_loop_destroy (&l);
}

Test (plugin, end_to_end_with_emit)
{
    s_setup (NULL);
    const char *opts [] = { "path", s_upper_path (), "delay_ms", "20", NULL };
    cr_assert_eq (zo_routes_add (routes, "text.*", "plugin", 0, 0, opts), 0,
                  "%s", zo_routes_errstr (routes));
    inflight = zo_inflight_new (loop, routes, 8, NULL, t_sink, &rec);
    zo_item_t a = t_item ("p1", "text.in", "{\"msg\":\"hello\",\"list\":[\"a\",1,{\"k\":\"v\"}]}", 1, 0);
    zo_item_t b = t_item ("p2", "text.in", "{\"msg\":\"fan\",\"emit\":\"text.next\"}", 1, 0);
    uint64_t start = zo_clock_mono_ns ();
    cr_assert_eq (zo_inflight_start (inflight, &a, NULL), 0);
    cr_assert_eq (zo_inflight_start (inflight, &b, NULL), 0);
    cr_assert_eq (rec.n, 0, "upper completes from a timer, not in start");
    cr_assert_eq (zo_inflight_count (inflight), 2);
    t_run (&rec, 2, 3000);
    cr_assert_eq (rec.n, 2);
    cr_assert_geq ((zo_clock_mono_ns () - start) / 1000000, 19);
    t_out_t *o1 = streq (rec.out [0].id, "p1") ? &rec.out [0] : &rec.out [1];
    t_out_t *o2 = streq (rec.out [0].id, "p1") ? &rec.out [1] : &rec.out [0];
    cr_assert (o1->ok, "%s", o1->error);
    cr_assert_str_eq (o1->result, "{\"list\":[\"A\",1,{\"k\":\"V\"}],\"msg\":\"HELLO\"}");
    cr_assert_eq (o1->n_emits, 0);
    cr_assert (o2->ok);
    cr_assert_str_eq (o2->result, "{\"emit\":\"TEXT.NEXT\",\"msg\":\"FAN\"}");
    cr_assert_eq (o2->n_emits, 1);
    cr_assert_str_eq (o2->emit_id [0], "p2.1");
    cr_assert_str_eq (o2->emit_type [0], "text.next");
    cr_assert_str_eq (o2->emit_payload [0], "{\"emit\":\"TEXT.NEXT\",\"msg\":\"FAN\"}");
    /*  The plugin counted its strings in the worker's stats, through the
        context it got at init: hello, a, v, fan, text.next.  */
    cr_assert_eq (*zo_stats_counter (stats, "handler_upper_strings_total"), 5);
    s_teardown ();
}

Test (plugin, by_name_from_plugin_dir)
{
    char path [4096];
    snprintf (path, sizeof (path), "%s", s_upper_path ());
    s_setup (dirname (path));
    cr_assert_eq (zo_routes_add (routes, "*", "upper", 0, 0, NULL), 0, "%s", zo_routes_errstr (routes));
    inflight = zo_inflight_new (loop, routes, 2, NULL, t_sink, &rec);
    zo_item_t a = t_item ("q1", "any", "\"shout\"", 1, 0);
    zo_inflight_start (inflight, &a, NULL);
    t_run (&rec, 1, 3000);
    cr_assert_eq (rec.n, 1);
    cr_assert (rec.out [0].ok);
    cr_assert_str_eq (rec.out [0].result, "\"SHOUT\"");
    s_teardown ();
}

Test (plugin, timeout_cancels)
{
    s_setup (NULL);
    const char *opts [] = { "path", s_upper_path (), "delay_ms", "5000", NULL };
    cr_assert_eq (zo_routes_add (routes, "slow", "plugin", 40, 1, opts), 0);
    inflight = zo_inflight_new (loop, routes, 2, NULL, t_sink, &rec);
    zo_item_t a = t_item ("c1", "slow", "{\"s\":\"x\"}", 1, 0);
    zo_inflight_start (inflight, &a, NULL);
    t_run (&rec, 1, 3000);
    cr_assert_eq (rec.n, 1);
    cr_assert_not (rec.out [0].ok);
    cr_assert_str_eq (rec.out [0].error, "timeout after 40 ms");
    cr_assert (rec.out [0].final, "attempts = 1");
    cr_assert_eq (zo_inflight_count (inflight), 0);
    /*  Its timer went with it: nothing more arrives.  */
    t_run (&rec, 2, 100);
    cr_assert_eq (rec.n, 1);
    s_teardown ();
}

/*  A handler written against the public API inside the test, to reach the
    calls upper does not use: stale handles, bad results, JSON helpers.  */
static zo_handler_t *s_last;

static void
s_keep_start (void *state, zo_handler_t *h, const zo_handler_event_t *ev)
{
    s_last = h;
    char *json = zo_handler_payload_json (h);
    cr_assert_str_eq (json, "{\"a\":1}");
    free (json);
    cr_assert_eq (zo_handler_emit_json (h, "x.y", "{\"b\":2}"), 0);
    cr_assert_eq (zo_handler_emit_json (h, "x.y", "{not json"), -1);
    cr_assert_eq (zo_handler_emit (h, "", NULL, 0), -1);
}

static const zo_handler_plugin_t s_keep = { ZO_HANDLER_ABI, "keep", NULL, NULL, s_keep_start, NULL };

static void
s_keep_bind_start (zo_slot_t *slot)
{
    s_keep.start (NULL, zo_slot_handle (slot), NULL);
}

static const zo_kind_t s_keep_kind = { .name = "keep", .start = s_keep_bind_start };

Test (plugin, api_edges)
{
    s_setup (NULL);
    cr_assert_eq (zo_routes_add (routes, "*", "noop", 0, 0, NULL), 0);
    zo_routes_get (routes, 0)->kind = &s_keep_kind;
    inflight = zo_inflight_new (loop, routes, 2, NULL, t_sink, &rec);
    zo_item_t a = t_item ("h1", "t", "{\"a\":1}", 1, 0);
    zo_inflight_start (inflight, &a, NULL);
    zo_handler_t *h = s_last;
    cr_assert_eq (zo_handler_complete_json (h, 1, "{\"r\":[1]}", NULL), 0);
    cr_assert_eq (rec.n, 1);
    cr_assert_str_eq (rec.out [0].result, "{\"r\":[1]}");
    cr_assert_eq (rec.out [0].n_emits, 1);
    cr_assert_str_eq (rec.out [0].emit_payload [0], "{\"b\":2}");
    /*  h is stale now, even when its slot runs another event.  */
    cr_assert_eq (zo_handler_complete (h, 1, NULL, 0, NULL), -1);
    zo_item_t b = t_item ("h2", "t", "{\"a\":1}", 1, 0);
    zo_inflight_start (inflight, &b, NULL);
    cr_assert_neq (s_last, h);
    cr_assert_eq (zo_handler_complete (h, 1, NULL, 0, NULL), -1);
    cr_assert_eq (zo_handler_timer (h, 1, NULL, NULL), -1);
    cr_assert_null (zo_handler_data (h));
    /*  A result that is not one msgpack value fails the event.  */
    const uint8_t bad [] = { 0x92, 0x01 };     /* array of 2 with one element */
    cr_assert_eq (zo_handler_complete (s_last, 1, bad, sizeof (bad), NULL), -1);
    cr_assert_eq (rec.n, 2);
    cr_assert_not (rec.out [1].ok);
    cr_assert_str_eq (rec.out [1].error, "handler result is not one msgpack value");
    s_teardown ();
}

/*  Requests to a peer (zo_handler_request), through tests/unit/plugin_ask
    and the worker's context, to a ROUTER on the test's loop that speaks
    the protocol: it answers PING with PONG (the seq echoed), at once or
    when the test says.  */
typedef struct {
    void *router;
    bool hold;                  /* keep requests instead of answering */
    zmq_msg_t who [4];          /* the held requests' routing ids */
    uint64_t seq [4];
    int held, seen;
} t_peer_t;

static void
s_peer_reply (t_peer_t *peer, zmq_msg_t *who, uint64_t seq)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    msgpack_pack_str_with_body (&pk, "v", 1);
    msgpack_pack_uint32 (&pk, 1);
    msgpack_pack_str_with_body (&pk, "cmd", 3);
    msgpack_pack_str_with_body (&pk, "PONG", 4);
    msgpack_pack_str_with_body (&pk, "seq", 3);
    msgpack_pack_uint64 (&pk, seq);
    int size = (int) zmq_msg_size (who);
    cr_assert_eq (zmq_msg_send (who, peer->router, ZMQ_SNDMORE), size);
    cr_assert_eq (zmq_send (peer->router, sbuf.data, sbuf.size, 0), (int) sbuf.size);
    msgpack_sbuffer_destroy (&sbuf);
}

static int
s_peer_readable (zo_loop_t *l, void *socket, void *arg)
{
    t_peer_t *peer = arg;
    zmq_msg_t who, body;
    zmq_msg_init (&who);
    zmq_msg_init (&body);
    while (zmq_msg_recv (&who, socket, ZMQ_DONTWAIT) >= 0) {
        cr_assert_geq (zmq_msg_recv (&body, socket, 0), 0);
        msgpack_unpacked up;
        msgpack_unpacked_init (&up);
        cr_assert_eq (msgpack_unpack_next (&up, zmq_msg_data (&body), zmq_msg_size (&body), NULL),
                      MSGPACK_UNPACK_SUCCESS);
        uint64_t seq = 0;
        bool ping = false;
        msgpack_object_map *map = &up.data.via.map;
        for (uint32_t i = 0; i < map->size; i++) {
            msgpack_object_str *key = &map->ptr [i].key.via.str;
            msgpack_object *val = &map->ptr [i].val;
            if (key->size == 3 && memcmp (key->ptr, "seq", 3) == 0)
                seq = val->via.u64;
            if (key->size == 3 && memcmp (key->ptr, "cmd", 3) == 0)
                ping = val->via.str.size == 4 && memcmp (val->via.str.ptr, "PING", 4) == 0;
        }
        msgpack_unpacked_destroy (&up);
        cr_assert (ping && seq > 0, "the request reached the peer as PING with a seq");
        peer->seen++;
        if (peer->hold && peer->held < 4) {
            zmq_msg_init (&peer->who [peer->held]);
            zmq_msg_copy (&peer->who [peer->held], &who);
            peer->seq [peer->held++] = seq;
        }
        else
            s_peer_reply (peer, &who, seq);
    }
    zmq_msg_close (&who);
    zmq_msg_close (&body);
    return 0;
}

static void *zctx;
static zo_conf_t *conf;
static t_peer_t peer;

static void
s_setup_peer (bool hold)
{
    memset (&rec, 0, sizeof (rec));
    memset (&peer, 0, sizeof (peer));
    peer.hold = hold;
    loop = zo_loop_new ();
    rec.loop = loop;
    zctx = zmq_ctx_new ();
    peer.router = zmq_socket (zctx, ZMQ_ROUTER);
    cr_assert_eq (zmq_bind (peer.router, "inproc://cache"), 0);
    cr_assert (zo_loop_add_socket (loop, peer.router, s_peer_readable, &peer));
    conf = zo_conf_new ();
    zo_conf_set (conf, "worker/cache", "inproc://cache");
    stats = zo_stats_new ("worker", "test");
    hctx = zo_hctx_new (loop, zctx, stats, conf, NULL);
    cr_assert (hctx);
    routes = zo_routes_new (5000, 1, hctx);
}

static void
s_teardown_peer (void)
{
    s_teardown ();
    for (int i = 0; i < peer.held; i++)
        zmq_msg_close (&peer.who [i]);
    zmq_close (peer.router);
    zmq_ctx_term (zctx);
    zo_conf_destroy (&conf);
}

static const char *
s_ask_path (void)
{
    const char *path = getenv ("ZORCH_ASK_SO");
    cr_assert (path, "ZORCH_ASK_SO must name tests/unit/plugin_ask (meson sets it)");
    return path;
}

static double
s_gauge (const char *name)
{
    return *zo_stats_gauge (stats, name);
}

Test (plugin, request_gets_the_reply)
{
    s_setup_peer (false);
    const char *opts [] = { "path", s_ask_path (), NULL };
    cr_assert_eq (zo_routes_add (routes, "*", "plugin", 0, 0, opts), 0, "%s", zo_routes_errstr (routes));
    inflight = zo_inflight_new (loop, routes, 8, NULL, t_sink, &rec);
    zo_item_t a = t_item ("r1", "ask", "{\"cmd\":\"PING\"}", 1, 0);
    zo_item_t b = t_item ("r2", "ask", "{\"cmd\":\"PING\"}", 1, 0);
    cr_assert_eq (zo_inflight_start (inflight, &a, NULL), 0);
    cr_assert_eq (zo_inflight_start (inflight, &b, NULL), 0);
    cr_assert_eq (rec.n, 0, "the events wait for their replies");
    t_run (&rec, 2, 3000);
    cr_assert_eq (rec.n, 2);
    for (int i = 0; i < 2; i++) {
        cr_assert (rec.out [i].ok, "%s", rec.out [i].error);
        cr_assert (strstr (rec.out [i].result, "\"cmd\":\"PONG\""), "%s", rec.out [i].result);
    }
    /*  Each request had its own seq, and the two results carry them.  */
    cr_assert_str_neq (rec.out [0].result, rec.out [1].result);
    cr_assert_eq (peer.seen, 2);
    cr_assert_eq (*zo_stats_counter (stats, "handler_ask_replies_total"), 2);
    cr_assert_eq (*zo_stats_counter (stats, "rpc_cache_requests_total"), 2);
    cr_assert_eq (*zo_stats_counter (stats, "rpc_cache_replies_total"), 2);
    cr_assert_eq (s_gauge ("rpc_cache_inflight"), 0);
    s_teardown_peer ();
}

/*  The event times out first: its request is cancelled with it, the
    reply that comes later is counted as late, and nothing else happens.  */
Test (plugin, event_timeout_cancels_its_request)
{
    s_setup_peer (true);
    const char *opts [] = { "path", s_ask_path (), NULL };
    cr_assert_eq (zo_routes_add (routes, "*", "plugin", 60, 1, opts), 0);
    inflight = zo_inflight_new (loop, routes, 8, NULL, t_sink, &rec);
    zo_item_t a = t_item ("c1", "ask", "{\"cmd\":\"PING\"}", 1, 0);
    zo_inflight_start (inflight, &a, NULL);
    t_run (&rec, 1, 3000);
    cr_assert_eq (rec.n, 1);
    cr_assert_not (rec.out [0].ok);
    cr_assert_str_eq (rec.out [0].error, "timeout after 60 ms");
    cr_assert_eq (peer.held, 1, "the request reached the peer");
    cr_assert_eq (s_gauge ("rpc_cache_inflight"), 0, "the event's request went with it");
    s_peer_reply (&peer, &peer.who [0], peer.seq [0]);
    t_run (&rec, 2, 200);
    cr_assert_eq (rec.n, 1, "no second outcome");
    cr_assert_eq (*zo_stats_counter (stats, "rpc_cache_late_total"), 1);
    cr_assert_eq (*zo_stats_counter (stats, "rpc_cache_timeouts_total"), 0);
    cr_assert_eq (*zo_stats_counter (stats, "handler_ask_replies_total"), 0);
    s_teardown_peer ();
}

/*  The request's own deadline, shorter than the event's: the handler hears
    of it and decides (here: fails the event).  */
Test (plugin, request_timeout_reaches_the_handler)
{
    s_setup_peer (true);
    const char *opts [] = { "path", s_ask_path (), "timeout_ms", "40", NULL };
    cr_assert_eq (zo_routes_add (routes, "*", "plugin", 5000, 1, opts), 0);
    inflight = zo_inflight_new (loop, routes, 8, NULL, t_sink, &rec);
    zo_item_t a = t_item ("t1", "ask", "{\"cmd\":\"PING\"}", 1, 0);
    uint64_t start = zo_clock_mono_ns ();
    zo_inflight_start (inflight, &a, NULL);
    t_run (&rec, 1, 3000);
    cr_assert_eq (rec.n, 1);
    cr_assert_str_eq (rec.out [0].error, "request timeout");
    cr_assert_lt ((zo_clock_mono_ns () - start) / 1000000, 2000, "not the event's 5 s");
    cr_assert_eq (*zo_stats_counter (stats, "rpc_cache_timeouts_total"), 1);
    s_teardown_peer ();
}

/*  What a handler cannot ask: an unknown peer, a request that is not one
    map. Each event fails at once with the plugin's own error.  */
Test (plugin, bad_requests_refused)
{
    s_setup_peer (false);
    const char *nopeer [] = { "path", s_ask_path (), "peer", "nowhere", NULL };
    const char *ok [] = { "path", s_ask_path (), NULL };
    cr_assert_eq (zo_routes_add (routes, "x", "plugin", 0, 0, nopeer), 0);
    cr_assert_eq (zo_routes_add (routes, "*", "plugin", 0, 0, ok), 0);
    inflight = zo_inflight_new (loop, routes, 8, NULL, t_sink, &rec);
    zo_item_t a = t_item ("b1", "x", "{\"cmd\":\"PING\"}", 1, 0);
    zo_item_t b = t_item ("b2", "y", "[1,2]", 1, 0);
    zo_item_t c = t_item ("b3", "y", NULL, 1, 0);
    zo_inflight_start (inflight, &a, NULL);
    zo_inflight_start (inflight, &b, NULL);
    zo_inflight_start (inflight, &c, NULL);
    cr_assert_eq (rec.n, 3);
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq (rec.out [i].error, "request refused", "%s", rec.out [i].id);
    cr_assert_eq (peer.seen, 0);
    s_teardown_peer ();
}
