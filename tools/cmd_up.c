/*  zorch up: start a local cluster, keep it running, stop it cleanly.  */
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zo_inject.h"
#include "zo_loop.h"
#include "zo_proc.h"
#include "zo_rpc.h"
#include "zo_sup.h"
#include "zorch.h"

#ifndef ZORCH_SOURCE_DEMO_DIR
#define ZORCH_SOURCE_DEMO_DIR ""
#endif
#ifndef ZORCH_DATA_DEMO_DIR
#define ZORCH_DATA_DEMO_DIR "/usr/share/zorch/demo"
#endif

static const char s_usage [] =
    "usage: zorch up [--config F] [--workers N] [--no-monitor] [--no-cache] [--no-pool]\n"
    "                [--demo] [--once]\n"
    "                [--<section>-<key> V ...]\n"
    "\n"
    "Starts a local cluster: zorch-broker, zorch-monitor (its dashboard on\n"
    "monitor/http), zorch-cache (with the levels cache/redis and cache/postgres\n"
    "name), zorch-pool (the services and databases of the pool section) and\n"
    "zorch-autoscaler, which runs the workers: autoscaler/min of them, more as the\n"
    "load rises (up to autoscaler/max), fewer when it falls, each restarted if it\n"
    "crashes. zorch up restarts any of the others that crashes after\n"
    "up/restart_delay (doubling while it keeps dying young; more than\n"
    "up/restart_max restarts in up/restart_window stop its restarts),\n"
    "and on Ctrl-C or SIGTERM stops them all (SIGTERM, then SIGKILL after\n"
    "up/stop_timeout) and exits 0.\n"
    "\n"
    "  --workers N    exactly N workers, autoscaling off (autoscaler/size;\n"
    "                 zorch scale --auto turns it on)\n"
    "  --no-monitor   do not start zorch-monitor (default up/monitor, true;\n"
    "                 without it the autoscaler holds its size)\n"
    "  --no-cache     do not start zorch-cache (default up/cache, true)\n"
    "  --no-pool      do not start zorch-pool (default up/pool, true)\n"
    "  --demo         once the broker answers, send the demo events (GitHub\n"
    "                 webhooks from deploy/demo, or $ZORCH_DEMO_DIR), wait for\n"
    "                 their results and print what happened\n"
    "  --once         with --demo: stop the cluster after the demo and exit\n"
    "                 with its status\n"
    "\n"
    "--config and every --<section>-<key> flag are passed on to the actors.\n"
    "Binaries are looked for in $ZORCH_BIN_DIR, next to this zorch (and in the\n"
    "build tree's broker/ and actors/<name>/), then on PATH.\n";

typedef struct {
    char name [32];           /* "broker", "worker-1" */
    char *path;               /* binary */
    char **argv;              /* NULL-terminated, argv[0] = path */
} s_actor_t;

typedef struct {
    zo_conf_t *conf;
    zo_loop_t *loop;
    void *ctx;
    s_actor_t *actors;
    int n_actors;
    zo_sup_t *sup;             /* starts, restarts and stops the actors */
    bool stopping;
    int exit_code;
    /* demo */
    bool demo, once;
    char *front;               /* where the demo connects */
    zo_rpc_t *ping;            /* to the broker, until it answers */
    int ping_timer;
    int ping_tries;
    zo_inject_t *inject;
    int demo_row;
} s_up_t;

/*  ---------------------------------------------------------------------
    Finding things  */

static const char *
s_find_demo_dir (void)
{
    static char path [PATH_MAX];
    const char *env = getenv ("ZORCH_DEMO_DIR");
    if (env && *env)
        return env;
    struct stat st;
    if (*ZORCH_SOURCE_DEMO_DIR && stat (ZORCH_SOURCE_DEMO_DIR, &st) == 0)
        return ZORCH_SOURCE_DEMO_DIR;
    const char *rel [] = { "../deploy/demo", "../../deploy/demo", "../share/zorch/demo" };
    for (size_t i = 0; i < sizeof rel / sizeof rel [0]; i++) {
        snprintf (path, sizeof path, "%s/%s", zo_proc_exe_dir (), rel [i]);
        if (stat (path, &st) == 0 && S_ISDIR (st.st_mode))
            return path;
    }
    return ZORCH_DATA_DEMO_DIR;
}

/*  True if arg is a configuration flag the actors understand: --config,
    --set, or --<section>-<key> for a section of the configuration.  */
static bool
s_is_conf_flag (zo_conf_t *conf, const char *arg, bool *takes_value)
{
    *takes_value = strchr (arg, '=') == NULL;
    if (streq (arg, "-c"))
        return true;
    if (strncmp (arg, "--", 2))
        return false;
    const char *name = arg + 2;
    size_t len = strcspn (name, "=");
    if ((len == 6 && !strncmp (name, "config", 6)) || (len == 3 && !strncmp (name, "set", 3)))
        return true;
    const char *dash = memchr (name, '-', len);
    if (!dash || dash == name || dash + 1 >= name + len)
        return false;
    char section [128];
    size_t slen = (size_t) (dash - name);
    if (slen >= sizeof section)
        return false;
    memcpy (section, name, slen);
    section [slen] = 0;
    return zconfig_locate (zo_conf_tree (conf), section) != NULL;
}

/*  ---------------------------------------------------------------------
    Processes  */

/*  The supervisor's news: once stopping, the last exit ends the loop.  */
static void
s_on_sup (zo_sup_t *sup, int id, zo_sup_event_t event, int status, void *arg)
{
    s_up_t *self = arg;
    if (event == ZO_SUP_EXITED && self->stopping && zo_sup_running (sup) == 0)
        zo_loop_stop (self->loop);
}

/*  Stops everything: SIGTERM to every actor (workers finish and say BYE
    while the broker drains), SIGKILL after stop_timeout.  */
static void
s_stop (s_up_t *self)
{
    if (self->stopping)
        return;
    self->stopping = true;
    if (self->inject && !zo_inject_finished (self->inject))
        zo_inject_stop (self->inject);
    if (self->ping_timer) {
        zo_loop_cancel (self->loop, self->ping_timer);
        self->ping_timer = 0;
    }
    size_t running = zo_sup_running (self->sup);
    zsys_info ("up: stopping %zu actor%s", running, running == 1 ? "" : "s");
    zo_sup_stop_all (self->sup);
    if (running == 0)
        zo_loop_stop (self->loop);
}

static int
s_on_signal (zo_loop_t *loop, int signum, void *arg)
{
    s_up_t *self = arg;
    if (self->stopping) {
        //  A second Ctrl-C: do not wait any longer.
        zo_sup_kill_all (self->sup);
        return 0;
    }
    s_stop (self);
    return zo_sup_running (self->sup) == 0 ? -1 : 0;
}

/*  ---------------------------------------------------------------------
    The demo  */

static void
s_demo_outcome (const zo_inject_outcome_t *o, void *arg)
{
    s_up_t *self = arg;
    static const char *names [] = { "ok", "failed", "nacked", "duplicate", "lost", "invalid" };
    if (self->demo_row++ == 0)
        printf ("\n  %-3s %-34s %-9s %-10s %s\n", "#", "TYPE", "OUTCOME", "LATENCY", "DETAIL");
    char lat [32] = "-";
    if (o->latency_ns)
        zorch_fmt_ns (lat, sizeof lat, o->latency_ns);
    char detail [96] = "";
    if (o->error.len)
        snprintf (detail, sizeof detail, "%.*s", (int) (o->error.len < 90 ? o->error.len : 90),
                  o->error.ptr);
    else if (o->status == ZO_INJECT_OK)
        snprintf (detail, sizeof detail, "%u attempt%s, result %u bytes", o->attempts,
                  o->attempts == 1 ? "" : "s", o->result.len);
    printf ("  %-3d %-34s %-9s %-10s %s\n", self->demo_row, o->type [0] ? o->type : "-",
            names [o->status], lat, detail);
    fflush (stdout);
}

static void
s_demo_done (zo_inject_t *inject, void *arg)
{
    s_up_t *self = arg;
    const zo_inject_stats_t *st = zo_inject_stats (inject);
    int status = zorch_inject_status (st, true);
    printf ("\n  demo: ");
    zorch_inject_summary (stdout, st, false);
    printf ("  demo %s\n\n", status == 0 ? "succeeded" : "FAILED");
    fflush (stdout);
    if (self->once) {
        self->exit_code = status;
        s_stop (self);
    }
}

static json_t *
s_load_demo (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d) {
        zsys_error ("up: no demo events in %s: %s (set ZORCH_DEMO_DIR)", dir, strerror (errno));
        return NULL;
    }
    zlistx_t *names = zlistx_new ();
    zlistx_set_destructor (names, (zlistx_destructor_fn *) zstr_free);
    zlistx_set_comparator (names, (zlistx_comparator_fn *) strcmp);
    struct dirent *entry;
    while ((entry = readdir (d))) {
        size_t len = strlen (entry->d_name);
        if (len > 5 && streq (entry->d_name + len - 5, ".json"))
            zlistx_add_end (names, strdup (entry->d_name));
    }
    closedir (d);
    zlistx_sort (names);
    json_t *events = json_array ();
    for (char *name = zlistx_first (names); name; name = zlistx_next (names)) {
        char path [PATH_MAX], err [512];
        snprintf (path, sizeof path, "%s/%s", dir, name);
        json_t *some = zo_input_load_file (path, err, sizeof err);
        if (!some) {
            zsys_error ("up: demo: %s", err);
            continue;
        }
        json_array_extend (events, some);
        json_decref (some);
    }
    zlistx_destroy (&names);
    if (json_array_size (events) == 0) {
        zsys_error ("up: no demo events in %s", dir);
        json_decref (events);
        return NULL;
    }
    return events;
}

static void
s_demo_start (s_up_t *self)
{
    const char *dir = s_find_demo_dir ();
    json_t *events = s_load_demo (dir);
    if (!events) {
        self->exit_code = 1;
        if (self->once)
            s_stop (self);
        return;
    }
    printf ("\n  demo: %zu events from %s -> %s\n", json_array_size (events), dir, self->front);
    zo_input_t *input = zo_input_new_list (&events, 0);
    zo_inject_opts_t opts;
    zo_inject_opts_default (&opts);
    opts.endpoint = self->front;
    opts.wait = true;
    opts.timeout_ms = 20000;
    self->inject = zo_inject_new (self->loop, self->ctx, &opts, &input);
    zo_input_destroy (&input);
    if (!self->inject) {
        self->exit_code = 1;
        if (self->once)
            s_stop (self);
        return;
    }
    zo_inject_on_outcome (self->inject, s_demo_outcome, self);
    zo_inject_on_done (self->inject, s_demo_done, self);
    zo_inject_start (self->inject);
}

static int s_on_ping (zo_loop_t *loop, int id, void *arg);

/*  The broker's answer to one PING, or its deadline.  */
static void
s_on_pong (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
    s_up_t *self = arg;
    if (reply->status == ZO_RPC_CLOSED || self->stopping)
        return;
    if (reply->status == ZO_RPC_OK && reply->msg->cmd == ZO_CMD_PONG) {
        s_demo_start (self);
        return;
    }
    if (++self->ping_tries >= 75) {
        zsys_error ("up: the broker does not answer at %s; no demo", self->front);
        self->exit_code = 1;
        if (self->once)
            s_stop (self);
        return;
    }
    self->ping_timer = zo_loop_timer (self->loop, 50, s_on_ping, self);
}

/*  Asks the broker for PING every 200 ms (up to ~15 s), then starts the
    demo; the loop goes on supervising meanwhile.  */
static int
s_on_ping (zo_loop_t *loop, int id, void *arg)
{
    s_up_t *self = arg;
    self->ping_timer = 0;
    if (self->stopping)
        return 0;
    zo_msg_t req = { .cmd = ZO_CMD_PING };
    if (!zo_rpc_request (self->ping, &req, 150, s_on_pong, self)) {
        //  Not even queued (out of memory, a full queue): as if unanswered.
        zo_rpc_reply_t none = { .status = ZO_RPC_TIMEOUT };
        s_on_pong (self->ping, &none, self);
    }
    return 0;
}

/*  ---------------------------------------------------------------------  */

static int
s_add_actor (s_up_t *self, const char *name, const char *binary, const char *subdir,
             char **pass, int n_pass)
{
    s_actor_t *actor = &self->actors [self->n_actors];
    snprintf (actor->name, sizeof actor->name, "%s", name);
    actor->path = zo_proc_find_binary (binary, subdir);
    if (!actor->path) {
        fprintf (stderr, "zorch up: cannot find %s (looked in $ZORCH_BIN_DIR, %s, %s/../%s, "
                 "PATH)\n", binary, zo_proc_exe_dir (), zo_proc_exe_dir (), subdir);
        return -1;
    }
    actor->argv = calloc ((size_t) n_pass + 2, sizeof (char *));
    int k = 0;
    actor->argv [k++] = actor->path;
    for (int i = 0; i < n_pass; i++)
        actor->argv [k++] = pass [i];
    self->n_actors++;
    return 0;
}

int
zorch_up (zo_conf_t *conf, int argc, char **argv, int full_argc, char **full_argv)
{
    enum { O_WORKERS = 256, O_NO_MONITOR, O_NO_CACHE, O_NO_POOL, O_DEMO, O_ONCE };
    static const struct option options [] = {
        { "workers", required_argument, NULL, O_WORKERS },
        { "no-monitor", no_argument, NULL, O_NO_MONITOR },
        { "no-cache", no_argument, NULL, O_NO_CACHE },
        { "no-pool", no_argument, NULL, O_NO_POOL },
        { "demo", no_argument, NULL, O_DEMO },
        { "once", no_argument, NULL, O_ONCE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    long workers = -1;             //  automatic
    bool demo = false, once = false;
    bool monitor = zo_conf_bool (conf, "up/monitor", true);
    bool cache = zo_conf_bool (conf, "up/cache", true);
    bool pool = zo_conf_bool (conf, "up/pool", true);
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        uint64_t number;
        switch (opt) {
            case O_WORKERS:
                if (zorch_parse_u64 (optarg, &number) || number > 256) {
                    fprintf (stderr, "zorch up: --workers wants 0..256, not '%s'\n", optarg);
                    return 2;
                }
                workers = (long) number;
                break;
            case O_NO_MONITOR: monitor = false; break;
            case O_NO_CACHE: cache = false; break;
            case O_NO_POOL: pool = false; break;
            case O_DEMO: demo = true; break;
            case O_ONCE: once = true; break;
            default: return zorch_option_end ("up", s_usage, opt, argv);
        }
    }
    if (optind < argc) {
        fprintf (stderr, "zorch up: unexpected argument '%s'\n", argv [optind]);
        return 2;
    }
    if (once && !demo) {
        fprintf (stderr, "zorch up: --once goes with --demo\n");
        return 2;
    }

    //  Configuration flags go on to every actor, as given; --workers N is
    //  the autoscaler's fixed size (and its max, when above it).
    char **pass = calloc ((size_t) full_argc + 5, sizeof (char *));
    int n_pass = 0;
    for (int i = 1; i < full_argc; i++) {
        bool takes_value;
        if (streq (full_argv [i], "--"))
            break;
        if (!s_is_conf_flag (conf, full_argv [i], &takes_value))
            continue;
        pass [n_pass++] = full_argv [i];
        if (takes_value && i + 1 < full_argc)
            pass [n_pass++] = full_argv [++i];
    }
    char size [24] = "", max [24] = "";
    if (workers >= 0) {
        snprintf (size, sizeof size, "%ld", workers);
        pass [n_pass++] = "--autoscaler-size";
        pass [n_pass++] = size;
        if (workers > zo_conf_int (conf, "autoscaler/max", 10)) {
            snprintf (max, sizeof max, "%ld", workers);
            pass [n_pass++] = "--autoscaler-max";
            pass [n_pass++] = max;
        }
    }

    s_up_t self = { .conf = conf, .demo = demo, .once = once };
    zo_sup_policy_t policy = {
        .restart_delay_ms = zo_conf_ms_range (conf, "up/restart_delay", 500, 1, 3600000),
        .storm_max = (uint32_t) zo_conf_int_range (conf, "up/restart_max", 5, 1, 1000000),
        .storm_window_ms = zo_conf_ms_range (conf, "up/restart_window", 60000, 1, 86400000),
        .stop_grace_ms = zo_conf_ms_range (conf, "up/stop_timeout", 15000, 0, 3600000),
    };
    self.actors = calloc (5, sizeof (s_actor_t));
    int status = 1;
    if (zo_conf_bad (conf)) {
        fprintf (stderr, "zorch up: %s\n", zo_conf_errstr (conf));
        status = 2;
        goto done;
    }
    if (s_add_actor (&self, "broker", "zorch-broker", "broker", pass, n_pass))
        goto done;
    if (monitor
    &&  s_add_actor (&self, "monitor", "zorch-monitor", "actors/monitor", pass, n_pass))
        goto done;
    if (cache
    &&  s_add_actor (&self, "cache", "zorch-cache", "actors/cache", pass, n_pass))
        goto done;
    if (pool
    &&  s_add_actor (&self, "pool", "zorch-pool", "actors/pool", pass, n_pass))
        goto done;
    //  The workers are the autoscaler's: one supervisor for them.
    if (s_add_actor (&self, "autoscaler", "zorch-autoscaler", "actors/autoscaler", pass, n_pass))
        goto done;

    zo_signals_block ();
    self.loop = zo_loop_new ();
    self.ctx = zmq_ctx_new ();
    if (!self.loop || !self.ctx)
        goto done;
    self.sup = zo_sup_new (self.loop, &policy, s_on_sup, &self);
    if (!self.sup)
        goto done;
    zo_loop_on_signal (self.loop, SIGINT, s_on_signal, &self);
    zo_loop_on_signal (self.loop, SIGTERM, s_on_signal, &self);
    zo_loop_on_signal (self.loop, SIGHUP, s_on_signal, &self);

    if (workers >= 0)
        zsys_info ("up: starting broker%s%s%s and the autoscaler with %ld worker%s (Ctrl-C stops "
                   "them)", cache ? ", cache" : "", pool ? ", pool" : "", monitor ? ", monitor" : "",
                   workers, workers == 1 ? "" : "s");
    else
        zsys_info ("up: starting broker%s%s%s and the autoscaler with %" PRId64 "..%" PRId64
                   " workers (Ctrl-C stops them)", cache ? ", cache" : "", pool ? ", pool" : "",
                   monitor ? ", monitor" : "", zo_conf_int (conf, "autoscaler/min", 2),
                   zo_conf_int (conf, "autoscaler/max", 10));
    if (monitor)
        zsys_info ("up: dashboard at http://%s/dashboard",
                   zo_conf_str (conf, "monitor/http", "127.0.0.1:7080"));
    for (int i = 0; i < self.n_actors; i++)
        if (zo_sup_start (self.sup, self.actors [i].name, self.actors [i].argv, NULL) < 0)
            goto stop;
    if (demo) {
        self.front = zorch_client_endpoint (conf, zo_conf_str (conf, "broker/front", NULL));
        self.ping = zo_rpc_new (self.loop, self.ctx, self.front, &(zo_rpc_opts_t) { .name = "ping" });
        if (self.ping)
            self.ping_timer = zo_loop_timer (self.loop, 100, s_on_ping, &self);
    }
    zo_loop_run (self.loop);
stop:
    if (!self.stopping)
        s_stop (&self);
    //  The loop stopped early (poll failure): reap what is left here.
    if (zo_sup_running (self.sup) > 0)
        zo_loop_run (self.loop);
    status = self.exit_code;
done:
    zo_inject_destroy (&self.inject);
    zo_rpc_destroy (&self.ping);
    zo_sup_destroy (&self.sup);
    zo_loop_destroy (&self.loop);
    if (self.ctx)
        zmq_ctx_term (self.ctx);
    for (int i = 0; i < self.n_actors; i++) {
        free (self.actors [i].argv);
        free (self.actors [i].path);
    }
    free (self.actors);
    free (pass);
    free (self.front);
    return status;
}
