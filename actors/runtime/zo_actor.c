/*  zo_actor: the scaffolding every actor process shares (see zo_actor.h).
*/
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "zo_actor.h"
#include "zo_version.h"

extern char **environ;

zo_log_level_t zo_log_level = ZO_LOG_INFO;

static const char s_generic_help [] =
"Configuration, each layer over the one before:\n"
"  built-in defaults (see --print-config),\n"
"  --config FILE / -c FILE, or $ZORCH_CONFIG: a ZPL file,\n"
"  environment ZORCH_<SECTION>_<KEY>=VALUE (ZORCH_BROKER_FRONT=tcp://...),\n"
"  --<section>-<key> VALUE or --<section>-<key>=VALUE (--broker-max-attempts 5),\n"
"  --set <section>/<key>=VALUE for any path.\n"
"Durations take ms, s, m, h (plain numbers are ms); sizes take K, M, G.\n"
"  --print-config   print the resulting configuration and exit\n"
"  --version        print the version (and git revision) and exit\n"
"  --help, -h       print this help and exit\n";

static int
s_stats_tick (zo_loop_t *loop, int id, void *arg)
{
    zo_stats_send ((zo_stats_t *) arg, zo_clock_wall_ns () / 1000000u);
    return 0;
}

static zo_log_level_t
s_log_level (const char *name)
{
    if (streq (name, "error"))
        return ZO_LOG_ERROR;
    if (streq (name, "warning") || streq (name, "warn"))
        return ZO_LOG_WARNING;
    if (streq (name, "debug"))
        return ZO_LOG_DEBUG;
    if (!streq (name, "info"))
        zsys_warning ("config: log/level = '%s' is not error, warning, info "
                      "or debug; using info", name);
    return ZO_LOG_INFO;
}

//  Removes argv [index], keeping the NULL terminator. Returns the new argc.
static int
s_argv_remove (int argc, char **argv, int index)
{
    memmove (argv + index, argv + index + 1, (size_t) (argc - index) * sizeof (char *));
    return argc - 1;
}

int
zo_actor_init (zo_actor_t *self, const char *kind, int argc, char **argv,
               const char *usage)
{
    assert (self);
    assert (kind);
    memset (self, 0, sizeof (*self));
    self->kind = kind;
    self->argc = argc;
    self->argv = argv;
    self->flags = calloc ((size_t) (argc > 0 ? argc : 1), sizeof (char *));
    if (!self->flags)
        return -1;
    for (int index = 1; index < argc; index++)
        self->flags [index - 1] = argv [index];

    //  Before anything touches CZMQ or ZeroMQ: threads they start inherit
    //  the mask, and CZMQ must not install its own handlers.
    zo_signals_block ();
    zsys_handler_set (NULL);

    for (int index = 1; index < argc && !streq (argv [index], "--"); index++) {
        if (streq (argv [index], "--help") || streq (argv [index], "-h")) {
            if (usage)
                printf ("%s\n", usage);
            printf ("%s", s_generic_help);
            return 1;
        }
        if (streq (argv [index], "--version")) {
            printf ("zorch-%s %s\n", kind, zo_version_full ());
            return 1;
        }
    }

    char logident [64];
    snprintf (logident, sizeof (logident), "zorch-%s", kind);
    zsys_set_logident (logident);

    self->conf = zo_conf_new ();
    if (!self->conf) {
        zsys_error ("%s: the built-in configuration does not parse", kind);
        return -1;
    }
    argc = zo_conf_load (self->conf, argc, argv, environ);
    if (argc < 0) {
        zsys_error ("%s: %s", kind, zo_conf_errstr (self->conf));
        return -1;
    }
    self->argc = argc;
    bool print_config = false;
    for (int index = 1; index < self->argc && !streq (argv [index], "--"); index++)
        if (streq (argv [index], "--print-config")) {
            self->argc = s_argv_remove (self->argc, argv, index--);
            print_config = true;
        }
    //  An actor takes nothing but its configuration: anything else is a
    //  mistake (a typo in a flag would otherwise start it on a default).
    if (zo_conf_refuse_args (self->conf, self->argc, argv))
        return -1;
    if (print_config) {
        char *text = zo_conf_dump (self->conf);
        if (text)
            printf ("%s", text);
        free (text);
        return 1;
    }
    zo_log_level = s_log_level (zo_conf_str (self->conf, "log/level", "info"));

    char path [128];
    snprintf (path, sizeof (path), "%s/name", kind);
    const char *name = zo_conf_str (self->conf, path, NULL);
    if (name)
        snprintf (self->name, sizeof (self->name), "%s", name);
    else {
        //  Host names are cut short so the name fits: <kind>-<host>-<pid>.
        char host [32] = "localhost";
        gethostname (host, sizeof (host) - 1);
        host [sizeof (host) - 1] = 0;
        snprintf (self->name, sizeof (self->name), "%.16s-%.31s-%d", kind, host, (int) getpid ());
    }

    self->zmq_ctx = zmq_ctx_new ();
    self->loop = zo_loop_new ();
    self->stats = zo_stats_new (kind, self->name);
    if (!self->zmq_ctx || !self->loop || !self->stats) {
        zsys_error ("%s: out of memory or file descriptors at start-up", kind);
        return -1;
    }
    //  <kind>/spin: microseconds to keep polling before parking in the
    //  kernel, so a message that follows soon is taken without a wake-up.
    snprintf (path, sizeof (path), "%s/spin", kind);
    zo_loop_set_spin (self->loop, (uint32_t) zo_conf_int_range (self->conf, path, 0, 0, 1000000));
    const char *endpoint = zo_conf_str (self->conf, "stats/endpoint", NULL);
    if (endpoint && zo_stats_connect (self->stats, self->zmq_ctx, endpoint)) {
        zsys_error ("%s: cannot connect stats to %s: %s", kind, endpoint,
                    zmq_strerror (zmq_errno ()));
        return -1;
    }
    uint64_t interval = zo_conf_ms_range (self->conf, "stats/interval", 1000, 0, 3600000);
    if (zo_conf_bad (self->conf)) {
        zsys_error ("%s: bad configuration: %s", kind, zo_conf_errstr (self->conf));
        return -1;
    }
    if (endpoint && interval > 0
    &&  zo_loop_ticker (self->loop, interval, s_stats_tick, self->stats) < 0) {
        zsys_error ("%s: out of memory at start-up", kind);
        return -1;
    }
    zo_log_debug ("%s: %s starting", kind, self->name);
    return 0;
}

int
zo_actor_exit_code (zo_actor_t *self)
{
    assert (self);
    return self->conf && zo_conf_bad (self->conf) ? ZO_EXIT_CONFIG : ZO_EXIT_FAIL;
}

void
zo_actor_fini (zo_actor_t *self)
{
    assert (self);
    if (self->stats) {
        //  The last report says bye: the actor stops on purpose, and the
        //  monitor forgets it instead of raising actor_down.
        zo_stats_bye (self->stats);
        if (self->zmq_ctx && self->loop)
            zo_stats_send (self->stats, zo_clock_wall_ns () / 1000000u);
        zo_stats_destroy (&self->stats);
    }
    zo_loop_destroy (&self->loop);
    if (self->zmq_ctx) {
        zmq_ctx_term (self->zmq_ctx);
        self->zmq_ctx = NULL;
    }
    zo_conf_destroy (&self->conf);
    free (self->flags);
    self->flags = NULL;
}

int
zo_actor_main (const char *kind, const char *usage, int argc, char **argv,
               zo_actor_start_fn *start, zo_actor_stop_fn *stop)
{
    assert (start);
    assert (stop);
    zo_actor_t actor;
    int rc = zo_actor_init (&actor, kind, argc, argv, usage);
    if (rc == 0) {
        void *state = start (&actor);
        if (state) {
            rc = zo_loop_run (actor.loop) ? ZO_EXIT_FAIL : 0;
            stop (state);
        }
        else
            rc = zo_actor_exit_code (&actor);
    }
    else
        rc = rc < 0 ? zo_actor_exit_code (&actor) : 0;
    zo_actor_fini (&actor);
    return rc;
}

void *
zo_actor_socket (zo_actor_t *self, int type, const char *endpoint, bool bind,
                 const zo_sockopts_t *opts)
{
    assert (self);
    assert (self->zmq_ctx);
    assert (endpoint);
    void *socket = zmq_socket (self->zmq_ctx, type);
    if (!socket) {
        zsys_error ("%s: cannot make a socket: %s", self->kind, zmq_strerror (zmq_errno ()));
        return NULL;
    }
    int linger = 0;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof (linger));
    if (opts && opts->hwm > 0) {
        zmq_setsockopt (socket, ZMQ_SNDHWM, &opts->hwm, sizeof (opts->hwm));
        zmq_setsockopt (socket, ZMQ_RCVHWM, &opts->hwm, sizeof (opts->hwm));
    }
    if (opts && opts->max_msg > 0)
        zmq_setsockopt (socket, ZMQ_MAXMSGSIZE, &opts->max_msg, sizeof (opts->max_msg));
    int rc = bind? zmq_bind (socket, endpoint): zmq_connect (socket, endpoint);
    if (rc) {
        zsys_error ("%s: cannot %s %s: %s", self->kind, bind? "bind": "connect to",
                    endpoint, zmq_strerror (zmq_errno ()));
        zmq_close (socket);
        return NULL;
    }
    return socket;
}
