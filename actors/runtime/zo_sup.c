/*  zo_sup: see zo_sup.h.  */
#include "zo_sup.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "zo_proc.h"

#define S_STORM_RING 64             /* restart times kept per child */

typedef struct {
    char *name;
    char **argv;
    char *log_path;
    pid_t pid;
    zo_child_state_t state;
    uint64_t started_ms;
    uint64_t delay_ms;              /* the last restart delay; 0 = none yet */
    int restart_timer;
    int kill_timer;
    uint32_t restarts;
    uint64_t ring [S_STORM_RING];   /* when the last restarts happened */
} s_child_t;

struct _zo_sup_t {
    zo_loop_t *loop;
    zo_sup_policy_t policy;
    zo_sup_fn *fn;
    void *arg;
    s_child_t *children;
    size_t n_children, max_children;
};

static int s_on_sigchld (zo_loop_t *loop, int signum, void *arg);

static uint64_t
s_or (uint64_t value, uint64_t dflt)
{
    return value? value: dflt;
}

zo_sup_t *
zo_sup_new (zo_loop_t *loop, const zo_sup_policy_t *policy, zo_sup_fn *fn, void *arg)
{
    assert (loop);
    zo_sup_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    zo_sup_policy_t given = policy? *policy: (zo_sup_policy_t) { 0 };
    self->policy = (zo_sup_policy_t) {
        .restart_delay_ms = s_or (given.restart_delay_ms, 500),
        .max_delay_ms = s_or (given.max_delay_ms, 30000),
        .stable_ms = s_or (given.stable_ms, 2000),
        .storm_max = (uint32_t) s_or (given.storm_max, 5),
        .storm_window_ms = s_or (given.storm_window_ms, 60000),
        .stop_grace_ms = s_or (given.stop_grace_ms, 15000),
    };
    if (self->policy.storm_max >= S_STORM_RING)
        self->policy.storm_max = S_STORM_RING - 1;
    self->loop = loop;
    self->fn = fn;
    self->arg = arg;
    if (zo_loop_on_signal (loop, SIGCHLD, s_on_sigchld, self)) {
        free (self);
        return NULL;
    }
    return self;
}

static void
s_child_free (s_child_t *child)
{
    free (child->name);
    if (child->argv)
        for (char **arg = child->argv; *arg; arg++)
            free (*arg);
    free (child->argv);
    free (child->log_path);
}

void
zo_sup_destroy (zo_sup_t **self_p)
{
    assert (self_p);
    zo_sup_t *self = *self_p;
    if (!self)
        return;
    zo_loop_off_signal (self->loop, SIGCHLD, s_on_sigchld, self);
    for (size_t i = 0; i < self->n_children; i++) {
        s_child_t *child = &self->children [i];
        if (child->restart_timer)
            zo_loop_cancel (self->loop, child->restart_timer);
        if (child->kill_timer)
            zo_loop_cancel (self->loop, child->kill_timer);
        if (child->pid > 0) {
            kill (-child->pid, SIGKILL);
            while (waitpid (child->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
        s_child_free (child);
    }
    free (self->children);
    free (self);
    *self_p = NULL;
}

static void
s_tell (zo_sup_t *self, size_t index, zo_sup_event_t event, int status)
{
    if (self->fn)
        self->fn (self, (int) index, event, status, self->arg);
}

//  Starts child's process. 0, or -1 (the program cannot run: logged).
static int
s_launch (zo_sup_t *self, size_t index)
{
    s_child_t *child = &self->children [index];
    zo_proc_opts_t opts = { .argv = child->argv, .own_group = true, .log_path = child->log_path };
    pid_t pid = zo_proc_spawn (&opts, NULL);
    if (pid < 0) {
        zsys_error ("supervisor: cannot start %s (%s): %s", child->name, child->argv [0],
                    strerror (errno));
        return -1;
    }
    child->pid = pid;
    child->state = ZO_CHILD_RUNNING;
    child->started_ms = zo_loop_now_ms (self->loop);
    zsys_info ("supervisor: started %s (pid %d)", child->name, (int) pid);
    s_tell (self, index, ZO_SUP_STARTED, 0);
    return 0;
}

static void
s_give_up (zo_sup_t *self, size_t index, const char *why)
{
    s_child_t *child = &self->children [index];
    child->state = ZO_CHILD_GAVE_UP;
    zsys_error ("supervisor: %s %s; not restarting it any more", child->name, why);
    s_tell (self, index, ZO_SUP_STORM, 0);
}

static int
s_on_restart (zo_loop_t *loop, int id, void *arg)
{
    zo_sup_t *self = arg;
    for (size_t i = 0; i < self->n_children; i++) {
        s_child_t *child = &self->children [i];
        if (child->restart_timer != id)
            continue;
        child->restart_timer = 0;
        if (child->state != ZO_CHILD_BACKOFF)
            break;
        child->ring [child->restarts % S_STORM_RING] = zo_loop_now_ms (loop);
        child->restarts++;
        if (s_launch (self, i))
            s_give_up (self, i, "cannot be started");
        break;
    }
    return 0;
}

//  True if one more restart now would make more than storm_max within the
//  window.
static bool
s_storm (zo_sup_t *self, s_child_t *child, uint64_t now)
{
    uint32_t max = self->policy.storm_max;
    if (child->restarts < max)
        return false;
    //  The restart storm_max back: if it is inside the window, this one
    //  would be restart storm_max + 1 within it.
    uint64_t then = child->ring [(child->restarts - max) % S_STORM_RING];
    return now - then < self->policy.storm_window_ms;
}

static void
s_exited (zo_sup_t *self, size_t index, int status)
{
    s_child_t *child = &self->children [index];
    pid_t pid = child->pid;
    child->pid = 0;
    if (child->kill_timer) {
        zo_loop_cancel (self->loop, child->kill_timer);
        child->kill_timer = 0;
    }
    char how [96];
    zo_proc_describe (status, how, sizeof (how));
    bool crashed = WIFSIGNALED (status) || WEXITSTATUS (status) != 0;
    if (child->state == ZO_CHILD_STOPPING || !crashed) {
        zsys_info ("supervisor: %s (pid %d) %s", child->name, (int) pid, how);
        child->state = ZO_CHILD_STOPPED;
        s_tell (self, index, ZO_SUP_EXITED, status);
        return;
    }
    s_tell (self, index, ZO_SUP_EXITED, status);
    uint64_t now = zo_loop_now_ms (self->loop);
    if (s_storm (self, child, now)) {
        char why [160];
        snprintf (why, sizeof (why), "(pid %d) %s: more than %u restarts in %" PRIu64 " ms",
                  (int) pid, how, self->policy.storm_max, self->policy.storm_window_ms);
        s_give_up (self, index, why);
        return;
    }
    //  Dying young doubles the delay; a run that lasted starts over.
    if (child->delay_ms && now - child->started_ms < self->policy.stable_ms) {
        child->delay_ms *= 2;
        if (child->delay_ms > self->policy.max_delay_ms)
            child->delay_ms = self->policy.max_delay_ms;
    }
    else
        child->delay_ms = self->policy.restart_delay_ms;
    child->state = ZO_CHILD_BACKOFF;
    child->restart_timer = zo_loop_timer (self->loop, child->delay_ms, s_on_restart, self);
    zsys_warning ("supervisor: %s (pid %d) %s; restarting it in %" PRIu64 " ms", child->name,
                  (int) pid, how, child->delay_ms);
    if (child->restart_timer < 0) {
        child->restart_timer = 0;
        s_give_up (self, index, "cannot be restarted (out of memory)");
    }
}

static int
s_on_sigchld (zo_loop_t *loop, int signum, void *arg)
{
    zo_sup_t *self = arg;
    //  Signals coalesce: look at every child of ours, by its own pid.
    for (size_t i = 0; i < self->n_children; i++) {
        s_child_t *child = &self->children [i];
        if (child->pid <= 0)
            continue;
        int status;
        pid_t pid = waitpid (child->pid, &status, WNOHANG);
        if (pid == child->pid)
            s_exited (self, i, status);
        else
        if (pid < 0 && errno == ECHILD)
            s_exited (self, i, W_EXITCODE (127, 0));      //  gone: reaped elsewhere
    }
    return 0;
}

int
zo_sup_start (zo_sup_t *self, const char *name, char *const *argv, const char *log_path)
{
    assert (self && name && argv && argv [0]);
    if (self->n_children == self->max_children) {
        size_t max = self->max_children? self->max_children * 2: 8;
        s_child_t *children = realloc (self->children, max * sizeof (s_child_t));
        if (!children)
            return -1;
        self->children = children;
        self->max_children = max;
    }
    s_child_t child = { .name = strdup (name) };
    size_t argc = 0;
    while (argv [argc])
        argc++;
    child.argv = calloc (argc + 1, sizeof (char *));
    bool ok = child.name && child.argv;
    for (size_t i = 0; ok && i < argc; i++)
        ok = (child.argv [i] = strdup (argv [i])) != NULL;
    if (ok && log_path)
        ok = (child.log_path = strdup (log_path)) != NULL;
    if (!ok) {
        s_child_free (&child);
        return -1;
    }
    size_t index = self->n_children++;
    self->children [index] = child;
    if (s_launch (self, index)) {
        s_child_free (&self->children [index]);
        self->n_children--;
        return -1;
    }
    return (int) index;
}

static int
s_on_kill (zo_loop_t *loop, int id, void *arg)
{
    zo_sup_t *self = arg;
    for (size_t i = 0; i < self->n_children; i++) {
        s_child_t *child = &self->children [i];
        if (child->kill_timer == id) {
            child->kill_timer = 0;
            if (child->pid > 0) {
                zsys_warning ("supervisor: %s (pid %d) did not stop in time; killing it",
                              child->name, (int) child->pid);
                kill (-child->pid, SIGKILL);
            }
        }
    }
    return 0;
}

int
zo_sup_stop (zo_sup_t *self, int id)
{
    assert (self);
    if (id < 0 || (size_t) id >= self->n_children)
        return -1;
    s_child_t *child = &self->children [id];
    if (child->restart_timer) {
        zo_loop_cancel (self->loop, child->restart_timer);
        child->restart_timer = 0;
    }
    if (child->pid <= 0) {
        if (child->state != ZO_CHILD_GAVE_UP)
            child->state = ZO_CHILD_STOPPED;
        return 0;
    }
    if (child->state == ZO_CHILD_STOPPING)
        return 0;
    child->state = ZO_CHILD_STOPPING;
    //  The group: whatever the child started goes with it.
    kill (-child->pid, SIGTERM);
    child->kill_timer = zo_loop_timer (self->loop, self->policy.stop_grace_ms, s_on_kill, self);
    if (child->kill_timer < 0)
        child->kill_timer = 0;
    return 0;
}

void
zo_sup_stop_all (zo_sup_t *self)
{
    assert (self);
    for (size_t i = 0; i < self->n_children; i++)
        zo_sup_stop (self, (int) i);
}

void
zo_sup_kill_all (zo_sup_t *self)
{
    assert (self);
    for (size_t i = 0; i < self->n_children; i++)
        if (self->children [i].pid > 0 && self->children [i].state == ZO_CHILD_STOPPING)
            kill (-self->children [i].pid, SIGKILL);
}

size_t
zo_sup_running (zo_sup_t *self)
{
    assert (self);
    size_t n = 0;
    for (size_t i = 0; i < self->n_children; i++)
        n += self->children [i].pid > 0;
    return n;
}

size_t
zo_sup_list (zo_sup_t *self, zo_sup_child_t *out, size_t max)
{
    assert (self);
    for (size_t i = 0; i < self->n_children && i < max; i++) {
        s_child_t *child = &self->children [i];
        out [i] = (zo_sup_child_t) {
            .id = (int) i, .name = child->name, .pid = child->pid,
            .state = child->state, .restarts = child->restarts
        };
    }
    return self->n_children;
}
