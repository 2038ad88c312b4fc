/*  Tests of actors/runtime/zo_actor.c: start-up, --help, --print-config,
    names, sockets and tear-down.  */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "zo_actor.h"
#include "zo_version.h"

Test (actor, help_is_answered, .init = cr_redirect_stdout)
{
    zo_actor_t actor;
    char *argv [] = { "zorch-test", "--broker-front", "x", "--help", NULL };
    cr_assert_eq (zo_actor_init (&actor, "test", 4, argv, "usage: zorch-test [options]"), 1);
    zo_actor_fini (&actor);
    fflush (stdout);
    cr_assert_stdout_eq_str (
        "usage: zorch-test [options]\n"
        "Configuration, each layer over the one before:\n"
        "  built-in defaults (see --print-config),\n"
        "  --config FILE / -c FILE, or $ZORCH_CONFIG: a ZPL file,\n"
        "  environment ZORCH_<SECTION>_<KEY>=VALUE (ZORCH_BROKER_FRONT=tcp://...),\n"
        "  --<section>-<key> VALUE or --<section>-<key>=VALUE (--broker-max-attempts 5),\n"
        "  --set <section>/<key>=VALUE for any path.\n"
        "Durations take ms, s, m, h (plain numbers are ms); sizes take K, M, G.\n"
        "  --print-config   print the resulting configuration and exit\n"
        "  --version        print the version (and git revision) and exit\n"
        "  --help, -h       print this help and exit\n");
}

Test (actor, version_is_answered, .init = cr_redirect_stdout)
{
    zo_actor_t actor;
    char *argv [] = { "zorch-test", "--version", NULL };
    cr_assert_eq (zo_actor_init (&actor, "test", 2, argv, NULL), 1);
    zo_actor_fini (&actor);
    fflush (stdout);
    char want [160];
    snprintf (want, sizeof want, "zorch-test %s\n", zo_version_full ());
    cr_assert_stdout_eq_str (want);
}

Test (actor, print_config_shows_flags, .init = cr_redirect_stdout)
{
    zo_actor_t actor;
    char *argv [] = { "zorch-test", "--broker-front", "tcp://*:4242", "--print-config", NULL };
    cr_assert_eq (zo_actor_init (&actor, "test", 4, argv, NULL), 1);
    zo_actor_fini (&actor);
    fflush (stdout);
    char text [8192] = "";
    FILE *out = cr_get_redirected_stdout ();
    size_t n = fread (text, 1, sizeof (text) - 1, out);
    text [n] = 0;
    cr_assert_not_null (strstr (text, "tcp://*:4242"));
    cr_assert_not_null (strstr (text, "max_attempts"));
}

Test (actor, init_names_and_fini)
{
    unsetenv ("ZORCH_WORKER_NAME");
    zo_actor_t actor;
    char *argv [] = { "zorch-worker", "--stats-interval", "10ms",
                      "--stats-endpoint", "inproc://nobody", NULL };
    cr_assert_eq (zo_actor_init (&actor, "worker", 5, argv, NULL), 0);
    cr_assert_str_eq (actor.kind, "worker");
    cr_assert_eq (actor.argc, 1);
    char host [64] = "";
    gethostname (host, sizeof (host) - 1);
    char expect [128];
    snprintf (expect, sizeof (expect), "worker-%s-%d", host, (int) getpid ());
    expect [63] = 0;
    cr_assert_str_eq (actor.name, expect);
    cr_assert_not_null (actor.zmq_ctx);
    cr_assert_not_null (actor.loop);
    cr_assert_not_null (actor.stats);
    cr_assert_eq (zo_log_level, ZO_LOG_INFO);
    //  Signals are blocked now: a SIGTERM stays pending, it does not kill.
    sigset_t mask;
    pthread_sigmask (SIG_BLOCK, NULL, &mask);
    cr_assert (sigismember (&mask, SIGTERM));
    cr_assert (sigismember (&mask, SIGINT));
    cr_assert (sigismember (&mask, SIGCHLD));
    zo_actor_fini (&actor);
    cr_assert_null (actor.loop);
    cr_assert_null (actor.conf);
    zo_actor_fini (&actor);             //  harmless twice
}

static int
s_stop_after (zo_loop_t *loop, int id, void *arg)
{
    return -1;
}

Test (actor, stats_ticker_reports)
{
    zo_actor_t actor;
    char *argv [] = { "zorch-worker", "--worker-name", "w-7", "--log-level", "debug",
                      "--stats-interval", "10ms", "--stats-endpoint", "inproc://stats-actor",
                      NULL };
    cr_assert_eq (zo_actor_init (&actor, "worker", 9, argv, NULL), 0);
    cr_assert_str_eq (actor.name, "w-7");
    cr_assert_eq (zo_log_level, ZO_LOG_DEBUG);
    void *pull = zo_actor_socket (&actor, ZMQ_PULL, "inproc://stats-actor", true, NULL);
    cr_assert_not_null (pull);
    zo_loop_timer (actor.loop, 100, s_stop_after, NULL);
    cr_assert_eq (zo_loop_run (actor.loop), 0);
    int reports = 0;
    char buffer [65536];
    while (zmq_recv (pull, buffer, sizeof (buffer), ZMQ_DONTWAIT) > 0)
        reports++;
    cr_assert_geq (reports, 3);
    cr_assert_null (zo_actor_socket (&actor, ZMQ_PUSH, "bogus", false, NULL));
    cr_assert_null (zo_actor_socket (&actor, ZMQ_PULL, "inproc://stats-actor", true, NULL));
    zmq_close (pull);
    zo_actor_fini (&actor);
}

/*  The high-water mark reaches the connections a bound socket accepts:
    5000 replies queue to a peer that does not read (ZeroMQ's default of
    1000 would refuse them past about 2000, counted as EAGAIN).  */
Test (actor, sockopts_reach_accepted_connections)
{
    zo_actor_t actor;
    char *argv [] = { "zorch-cache", "--stats-interval", "0", NULL };
    cr_assert_eq (zo_actor_init (&actor, "cache", 3, argv, NULL), 0);
    void *router = zo_actor_socket (&actor, ZMQ_ROUTER, "tcp://127.0.0.1:17811", true,
                                    &(zo_sockopts_t) { .hwm = 100000 });
    cr_assert_not_null (router);
    int one = 1;
    zmq_setsockopt (router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    void *dealer = zo_actor_socket (&actor, ZMQ_DEALER, "tcp://127.0.0.1:17811", false,
                                    &(zo_sockopts_t) { .hwm = 100000 });
    cr_assert_not_null (dealer);
    zmq_send (dealer, "hi", 2, 0);
    char ident [256];
    int len = -1;
    for (int i = 0; i < 200 && len < 0; i++) {
        zmq_pollitem_t item = { router, 0, ZMQ_POLLIN, 0 };
        zmq_poll (&item, 1, 10);
        len = zmq_recv (router, ident, sizeof ident, ZMQ_DONTWAIT);
    }
    cr_assert_gt (len, 0, "the dealer's hello arrived");
    char body [8];
    zmq_recv (router, body, sizeof body, 0);
    int queued = 0;
    for (int i = 0; i < 5000; i++)
        if (zmq_send (router, ident, (size_t) len, ZMQ_SNDMORE | ZMQ_DONTWAIT) == len
        &&  zmq_send (router, "reply", 5, ZMQ_DONTWAIT) == 5)
            queued++;
    cr_assert_eq (queued, 5000, "only %d of 5000 replies queued", queued);
    zmq_close (dealer);
    zmq_close (router);
    zo_actor_fini (&actor);
}

Test (actor, bad_flag_fails)
{
    zo_actor_t actor;
    char *argv [] = { "zorch-worker", "--config", "/nonexistent/zorch.conf", NULL };
    cr_assert_eq (zo_actor_init (&actor, "worker", 3, argv, NULL), -1);
    zo_actor_fini (&actor);
    cr_assert_null (actor.conf);
}

/*  An actor takes nothing but its configuration: a stray argument or an
    unknown flag stops it with the configuration's exit code (2).  */
Test (actor, unknown_arguments_are_refused)
{
    char *cases [] [3] = {
        { "zorch-worker", "--bogus-flag", NULL },
        { "zorch-worker", "--worker-capacty", "5" },
        { "zorch-worker", "stray", NULL },
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases [0]); i++) {
        zo_actor_t actor;
        char *argv [4] = { cases [i] [0], cases [i] [1], cases [i] [2], NULL };
        int argc = argv [2] ? 3 : 2;
        cr_assert_eq (zo_actor_init (&actor, "worker", argc, argv, NULL), -1, "%s", argv [1]);
        cr_assert_eq (zo_actor_exit_code (&actor), ZO_EXIT_CONFIG, "%s", argv [1]);
        zo_actor_fini (&actor);
    }
}
