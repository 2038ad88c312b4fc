/*  executor: see executor.h. The local executor's workers and the command
    executor's runs.  */
#include "executor.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <msgpack.h>

#include "zo_backoff.h"
#include "zo_proc.h"
#include "zo_rpc.h"
#include "zo_sup.h"

typedef enum { W_ACTIVE, W_QUIET, W_STOPPING } s_wstate_t;

typedef struct {
    int id;                         //  zo_sup's
    char name [64];
    s_wstate_t state;
    uint64_t since_ms;              //  in this state since
} s_worker_t;

enum { C_STARTED, C_STOPPED, C_CRASHES, C_STORMS, C_QUIETED, C_DRAIN_TIMEOUTS,
       C_BROKER_SILENT, C_COMMANDS, C_COMMAND_FAILURES, C_COUNT };
static const char *s_counter_names [C_COUNT] = {
    "workers_started_total", "workers_stopped_total", "worker_crashes_total",
    "restart_storms_total", "workers_quieted_total", "drain_timeouts_total",
    "broker_silent_total", "commands_total", "command_failures_total"
};
enum { G_LEAVING, G_STORM, G_COUNT };
static const char *s_gauge_names [G_COUNT] = { "workers_leaving", "restart_storm" };

struct _zo_executor_t {
    zo_actor_t *actor;
    zo_loop_t *loop;
    bool command;                   //  the kind
    uint32_t target;
    uint64_t *c [C_COUNT];
    double *g [G_COUNT];
    //  local
    zo_local_conf_t conf;
    char **argv;                    //  worker, args..., --worker-name, NAME, NULL
    size_t name_at;                 //  where NAME goes
    zo_sup_t *sup;
    zo_rpc_t *broker;
    bool asking;                    //  a WORKERS request is out
    bool broker_silent;             //  the last one went unanswered
    s_worker_t *workers;
    size_t n_workers, cap_workers;
    uint64_t next_seq;
    uint64_t storm_until_ms;
    bool stopping;
    //  command
    char *template;
    pid_t pid;                      //  the run going on, 0: none
    uint32_t running_size;          //  what it carries out
    uint32_t done_size;             //  what the last run that succeeded set
    bool done_any;
    zo_backoff_t backoff;
    uint64_t retry_at_ms;
};

static void s_reconcile (zo_executor_t *self);

//  ---------------------------------------------------------------------
//  Local workers

static s_worker_t *
s_find (zo_executor_t *self, int id)
{
    for (size_t i = 0; i < self->n_workers; i++)
        if (self->workers [i].id == id)
            return &self->workers [i];
    return NULL;
}

static void
s_forget (zo_executor_t *self, s_worker_t *w)
{
    size_t i = (size_t) (w - self->workers);
    memmove (w, w + 1, (self->n_workers - i - 1) * sizeof *w);
    self->n_workers--;
}

static uint32_t
s_count (const zo_executor_t *self, s_wstate_t state)
{
    uint32_t n = 0;
    for (size_t i = 0; i < self->n_workers; i++)
        n += self->workers [i].state == state;
    return n;
}

static zo_child_state_t
s_child_state (zo_executor_t *self, int id, uint32_t *restarts)
{
    //  Children are few (one per worker ever started here).
    size_t n = zo_sup_list (self->sup, NULL, 0);
    zo_sup_child_t *all = calloc (n? n: 1, sizeof *all);
    zo_child_state_t state = ZO_CHILD_STOPPED;
    if (all) {
        n = zo_sup_list (self->sup, all, n);
        for (size_t i = 0; i < n; i++)
            if (all [i].id == id) {
                state = all [i].state;
                if (restarts)
                    *restarts = all [i].restarts;
            }
        free (all);
    }
    return state;
}

static void
s_on_sup (zo_sup_t *sup, int id, zo_sup_event_t event, int status, void *arg)
{
    zo_executor_t *self = arg;
    s_worker_t *w = s_find (self, id);
    if (!w)
        return;
    uint64_t now = zo_loop_now_ms (self->loop);
    if (event == ZO_SUP_STARTED) {
        uint32_t restarts = 0;
        s_child_state (self, id, &restarts);
        if (restarts)
            zo_stats_note (self->actor->stats, "%s restarted (restart %u)", w->name, restarts);
        return;
    }
    if (event == ZO_SUP_STORM) {
        (*self->c [C_STORMS])++;
        self->storm_until_ms = now + self->conf.restart_window_ms;
        *self->g [G_STORM] = 1;
        zo_log_error ("autoscaler: restart storm: %s restarted more than %u times in %.0f s; "
                      "restarts and new workers held for %.0f s", w->name, self->conf.restart_max,
                      (double) self->conf.restart_window_ms / 1000.0,
                      (double) self->conf.restart_window_ms / 1000.0);
        zo_stats_note (self->actor->stats, "restart storm: %s crashed more than %u times in %.0f s; "
                       "no restarts or new workers for %.0f s", w->name, self->conf.restart_max,
                       (double) self->conf.restart_window_ms / 1000.0,
                       (double) self->conf.restart_window_ms / 1000.0);
        s_forget (self, w);
        return;
    }
    //  ZO_SUP_EXITED
    if (w->state == W_STOPPING) {
        (*self->c [C_STOPPED])++;
        zo_log_info ("autoscaler: %s stopped", w->name);
        s_forget (self, w);
        s_reconcile (self);
        return;
    }
    char how [96];
    zo_proc_describe (status, how, sizeof how);
    if (WIFEXITED (status) && WEXITSTATUS (status) == 0) {
        //  It left by itself: not restarted, so it no longer counts.
        zo_stats_note (self->actor->stats, "%s exited by itself (%s)", w->name, how);
        s_forget (self, w);
        s_reconcile (self);
        return;
    }
    (*self->c [C_CRASHES])++;
    zo_stats_note (self->actor->stats, "%s crashed (%s): restarting with backoff", w->name, how);
}

static int
s_start_one (zo_executor_t *self)
{
    if (self->n_workers == self->cap_workers) {
        size_t cap = self->cap_workers? self->cap_workers * 2: 16;
        s_worker_t *more = realloc (self->workers, cap * sizeof *more);
        if (!more)
            return -1;
        self->workers = more;
        self->cap_workers = cap;
    }
    s_worker_t *w = &self->workers [self->n_workers];
    memset (w, 0, sizeof *w);
    snprintf (w->name, sizeof w->name, "%s-%" PRIu64, self->conf.name_prefix, ++self->next_seq);
    self->argv [self->name_at] = w->name;
    char log [4096], *log_path = NULL;
    if (self->conf.log_dir) {
        snprintf (log, sizeof log, "%s/%s.log", self->conf.log_dir, w->name);
        log_path = log;
    }
    w->id = zo_sup_start (self->sup, w->name, self->argv, log_path);
    self->argv [self->name_at] = NULL;
    if (w->id < 0)
        return -1;
    w->state = W_ACTIVE;
    w->since_ms = zo_loop_now_ms (self->loop);
    self->n_workers++;
    (*self->c [C_STARTED])++;
    zo_log_info ("autoscaler: started %s", w->name);
    return 0;
}

//  The broker's answer to QUIET is its WORKERS, which the next tick asks
//  for anyway: nothing to do with it here.
static void
s_on_quieted (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
}

static void
s_quiet (zo_executor_t *self, s_worker_t *w)
{
    zo_msg_t req = { .cmd = ZO_CMD_QUIET, .name = zo_span_str (w->name) };
    zo_rpc_request (self->broker, &req, 1000, s_on_quieted, NULL);
}

static void
s_stop_worker (zo_executor_t *self, s_worker_t *w, const char *why)
{
    zo_log_info ("autoscaler: stopping %s: %s", w->name, why);
    w->state = W_STOPPING;
    w->since_ms = zo_loop_now_ms (self->loop);
    if (zo_sup_stop (self->sup, w->id) || s_child_state (self, w->id, NULL) == ZO_CHILD_STOPPED) {
        (*self->c [C_STOPPED])++;
        s_forget (self, w);
    }
}

//  The broker's WORKERS: a list of maps {name, held, quiet, ...}. Calls
//  fn for each of ours it names; returns -1 if the list cannot be read.
typedef struct {
    const char *name;
    size_t name_len;
    uint64_t held;
    bool quiet;
} s_view_t;

static int
s_read_view (const zo_msg_t *msg, s_view_t *out, size_t max, size_t *n)
{
    *n = 0;
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    size_t off = 0;
    int rc = -1;
    if (msg->workers.len
    &&  msgpack_unpack_next (&u, (const char *) msg->workers.ptr, msg->workers.len, &off)
            == MSGPACK_UNPACK_SUCCESS
    &&  u.data.type == MSGPACK_OBJECT_ARRAY) {
        rc = 0;
        for (uint32_t i = 0; i < u.data.via.array.size && *n < max; i++) {
            msgpack_object *o = &u.data.via.array.ptr [i];
            if (o->type != MSGPACK_OBJECT_MAP)
                continue;
            s_view_t v = { NULL, 0, 0, false };
            for (uint32_t k = 0; k < o->via.map.size; k++) {
                msgpack_object *key = &o->via.map.ptr [k].key, *val = &o->via.map.ptr [k].val;
                if (key->type != MSGPACK_OBJECT_STR)
                    continue;
                const char *ks = key->via.str.ptr;
                uint32_t kl = key->via.str.size;
                if (kl == 4 && !memcmp (ks, "name", 4) && val->type == MSGPACK_OBJECT_STR) {
                    v.name = val->via.str.ptr;
                    v.name_len = val->via.str.size;
                }
                else
                if (kl == 4 && !memcmp (ks, "held", 4) && val->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                    v.held = val->via.u64;
                else
                if (kl == 5 && !memcmp (ks, "quiet", 5) && val->type == MSGPACK_OBJECT_BOOLEAN)
                    v.quiet = val->via.boolean;
            }
            if (v.name)
                out [(*n)++] = v;
        }
    }
    msgpack_unpacked_destroy (&u);
    //  The spans point into the reply, valid during the callback only.
    return rc;
}

static const s_view_t *
s_view_of (const s_view_t *views, size_t n, const char *name)
{
    size_t len = strlen (name);
    for (size_t i = 0; i < n; i++)
        if (views [i].name_len == len && !memcmp (views [i].name, name, len))
            return &views [i];
    return NULL;
}

#define S_VIEW_MAX 1024

static void
s_on_workers (zo_rpc_t *rpc, const zo_rpc_reply_t *reply, void *arg)
{
    zo_executor_t *self = arg;
    self->asking = false;
    if (reply->status == ZO_RPC_CLOSED)
        return;
    static s_view_t views [S_VIEW_MAX];
    size_t n;
    if (reply->status != ZO_RPC_OK || reply->msg->cmd != ZO_CMD_WORKERS
    ||  s_read_view (reply->msg, views, S_VIEW_MAX, &n)) {
        (*self->c [C_BROKER_SILENT])++;
        if (!self->broker_silent)
            zo_stats_note (self->actor->stats, "the broker does not say who holds what (%s): "
                           "scale-down waits for it",
                           reply->status == ZO_RPC_OK? zo_cmd_name (reply->msg->cmd): reply->reason);
        self->broker_silent = true;
        return;
    }
    if (self->broker_silent)
        zo_stats_note (self->actor->stats, "the broker answers again");
    self->broker_silent = false;
    uint64_t now = zo_loop_now_ms (self->loop);
    //  Workers to quiet: the idlest active ones (held, from the broker;
    //  one it does not know holds nothing).
    uint32_t active = s_count (self, W_ACTIVE);
    while (!self->stopping && active > self->target) {
        s_worker_t *idlest = NULL;
        uint64_t least = UINT64_MAX;
        for (size_t i = 0; i < self->n_workers; i++) {
            s_worker_t *w = &self->workers [i];
            if (w->state != W_ACTIVE)
                continue;
            const s_view_t *v = s_view_of (views, n, w->name);
            uint64_t held = v? v->held: 0;
            if (held < least || (held == least && idlest && w->since_ms > idlest->since_ms)) {
                least = held;
                idlest = w;
            }
        }
        if (!idlest)
            break;
        idlest->state = W_QUIET;
        idlest->since_ms = now;
        (*self->c [C_QUIETED])++;
        zo_log_info ("autoscaler: quieting %s (%" PRIu64 " events in flight)", idlest->name, least);
        s_quiet (self, idlest);
        active--;
    }
    //  Quiet workers that hold nothing more are stopped.
    for (size_t i = 0; i < self->n_workers; ) {
        s_worker_t *w = &self->workers [i];
        if (w->state != W_QUIET) {
            i++;
            continue;
        }
        const s_view_t *v = s_view_of (views, n, w->name);
        size_t before = self->n_workers;
        if (!v)
            s_stop_worker (self, w, "the broker holds nothing for it");
        else
        if (v->quiet && v->held == 0)
            s_stop_worker (self, w, "quiet, nothing in flight");
        else
        if (now - w->since_ms >= self->conf.drain_timeout_ms) {
            (*self->c [C_DRAIN_TIMEOUTS])++;
            zo_stats_note (self->actor->stats, "%s still held %" PRIu64 " events after %.0f s "
                           "quiet: stopped (they are redelivered)", w->name, v->held,
                           (double) self->conf.drain_timeout_ms / 1000.0);
            s_stop_worker (self, w, "drain timeout");
        }
        else
        if (!v->quiet)
            s_quiet (self, w);      //  it came back (a new connection): again
        if (self->n_workers == before)
            i++;
    }
}

static void
s_ask_broker (zo_executor_t *self)
{
    if (self->asking)
        return;
    zo_msg_t req = { .cmd = ZO_CMD_WORKERS };
    if (zo_rpc_request (self->broker, &req, 1000, s_on_workers, self))
        self->asking = true;
}

static void
s_reconcile (zo_executor_t *self)
{
    if (self->stopping)
        return;
    uint64_t now = zo_loop_now_ms (self->loop);
    if (self->command) {
        if (self->pid || (self->done_any && self->done_size == self->target)
        ||  now < self->retry_at_ms)
            return;
        char cmd [2048];
        snprintf (cmd, sizeof cmd, self->template, (int) self->target);
        char *argv [] = { "/bin/sh", "-c", cmd, NULL };
        zo_proc_opts_t opts = { .argv = argv, .own_group = true };
        self->pid = zo_proc_spawn (&opts, NULL);
        if (self->pid < 0) {
            self->pid = 0;
            (*self->c [C_COMMAND_FAILURES])++;
            self->retry_at_ms = now + zo_backoff_next (&self->backoff);
            zo_log_error ("autoscaler: cannot run /bin/sh: %s", strerror (errno));
            return;
        }
        self->running_size = self->target;
        (*self->c [C_COMMANDS])++;
        zo_log_info ("autoscaler: running `%s`", cmd);
        return;
    }
    if (*self->g [G_STORM] && now >= self->storm_until_ms) {
        *self->g [G_STORM] = 0;
        zo_stats_note (self->actor->stats, "the restart storm's hold is over: starting workers again");
    }
    uint32_t active = s_count (self, W_ACTIVE);
    while (active < self->target && !*self->g [G_STORM]) {
        if (s_start_one (self))
            break;
        active++;
    }
    if (active > self->target || s_count (self, W_QUIET))
        s_ask_broker (self);
    *self->g [G_LEAVING] = (double) (self->n_workers - s_count (self, W_ACTIVE));
}

//  ---------------------------------------------------------------------
//  The command's runs

static int
s_on_sigchld (zo_loop_t *loop, int signum, void *arg)
{
    zo_executor_t *self = arg;
    if (!self->pid)
        return 0;
    int status;
    pid_t pid = waitpid (self->pid, &status, WNOHANG);
    if (pid != self->pid)
        return 0;
    self->pid = 0;
    char how [96];
    zo_proc_describe (status, how, sizeof how);
    if (WIFEXITED (status) && WEXITSTATUS (status) == 0) {
        self->done_size = self->running_size;
        self->done_any = true;
        zo_backoff_reset (&self->backoff);
        zo_stats_note (self->actor->stats, "command: %u workers set", self->done_size);
    }
    else {
        (*self->c [C_COMMAND_FAILURES])++;
        uint64_t wait = zo_backoff_next (&self->backoff);
        self->retry_at_ms = zo_loop_now_ms (loop) + wait;
        zo_stats_note (self->actor->stats, "command for %u workers %s: again in %.1f s",
                       self->running_size, how, (double) wait / 1000.0);
    }
    s_reconcile (self);
    return 0;
}

//  ---------------------------------------------------------------------

static zo_executor_t *
s_new (zo_actor_t *actor)
{
    zo_executor_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->actor = actor;
    self->loop = actor->loop;
    for (int i = 0; i < C_COUNT; i++)
        self->c [i] = zo_stats_counter (actor->stats, s_counter_names [i]);
    for (int i = 0; i < G_COUNT; i++)
        self->g [i] = zo_stats_gauge (actor->stats, s_gauge_names [i]);
    return self;
}

zo_executor_t *
zo_executor_local (zo_actor_t *actor, const zo_local_conf_t *conf)
{
    assert (actor && conf && conf->worker && conf->broker && conf->name_prefix);
    zo_executor_t *self = s_new (actor);
    if (!self)
        return NULL;
    self->conf = *conf;
    size_t n_args = 0;
    while (conf->args && conf->args [n_args])
        n_args++;
    self->argv = calloc (n_args + 4, sizeof (char *));
    if (!self->argv)
        goto err;
    self->argv [0] = (char *) conf->worker;
    for (size_t i = 0; i < n_args; i++)
        self->argv [1 + i] = conf->args [i];
    self->argv [1 + n_args] = "--worker-name";
    self->name_at = 2 + n_args;
    zo_sup_policy_t policy = {
        .restart_delay_ms = conf->restart_delay_ms,
        .storm_max = conf->restart_max,
        .storm_window_ms = conf->restart_window_ms,
        .stop_grace_ms = conf->stop_grace_ms,
    };
    self->sup = zo_sup_new (self->loop, &policy, s_on_sup, self);
    zo_rpc_opts_t opts = { .name = "broker", .stats = actor->stats };
    self->broker = zo_rpc_new (self->loop, actor->zmq_ctx, conf->broker, &opts);
    if (!self->sup || !self->broker)
        goto err;
    return self;
err:
    zo_executor_destroy (&self);
    return NULL;
}

zo_executor_t *
zo_executor_command (zo_actor_t *actor, const char *command)
{
    assert (actor && command);
    zo_executor_t *self = s_new (actor);
    if (!self)
        return NULL;
    self->command = true;
    zo_backoff_init (&self->backoff, 1000, 60000);
    self->template = strdup (command);
    if (!self->template || zo_loop_on_signal (self->loop, SIGCHLD, s_on_sigchld, self)) {
        free (self->template);
        free (self);
        return NULL;
    }
    return self;
}

void
zo_executor_destroy (zo_executor_t **self_p)
{
    assert (self_p);
    zo_executor_t *self = *self_p;
    if (!self)
        return;
    if (self->command) {
        zo_loop_off_signal (self->loop, SIGCHLD, s_on_sigchld, self);
        if (self->pid > 0) {
            kill (-self->pid, SIGKILL);
            while (waitpid (self->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
        free (self->template);
    }
    zo_rpc_destroy (&self->broker);
    zo_sup_destroy (&self->sup);
    free (self->workers);
    free (self->argv);
    free (self);
    *self_p = NULL;
}

void
zo_executor_resize (zo_executor_t *self, uint32_t size)
{
    assert (self);
    self->target = size;
    s_reconcile (self);
}

uint32_t
zo_executor_size (zo_executor_t *self)
{
    assert (self);
    if (self->command)
        return self->done_any? self->done_size: 0;
    return s_count (self, W_ACTIVE);
}

uint32_t
zo_executor_leaving (zo_executor_t *self)
{
    assert (self);
    return self->command? 0: (uint32_t) self->n_workers - s_count (self, W_ACTIVE);
}

void
zo_executor_tick (zo_executor_t *self)
{
    assert (self);
    s_reconcile (self);
}

void
zo_executor_stop (zo_executor_t *self)
{
    assert (self);
    self->stopping = true;
    if (self->command)
        return;                     //  the engine's workers are the engine's
    for (size_t i = 0; i < self->n_workers; i++)
        self->workers [i].state = W_STOPPING;
    zo_sup_stop_all (self->sup);
}

bool
zo_executor_idle (zo_executor_t *self)
{
    assert (self);
    return self->command? self->pid == 0: zo_sup_running (self->sup) == 0;
}

const char *
zo_executor_kind (const zo_executor_t *self)
{
    return self->command? "command": "local";
}
