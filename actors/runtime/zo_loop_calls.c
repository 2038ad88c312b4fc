/*  zo_loop_calls: the loop's lists of callbacks: signal handlers (through
    one signalfd on the loop) and before-sleep hooks (see zo_loop.h).

    Each list is a small array of (fn, arg), walked in the order entries
    were added. Removal during a walk only clears the entry, and the array
    is compacted when the last walk ends, so a handler may take itself or
    another off while the list is being walked.
*/
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "zo_loop_int.h"

void
zo_signals_block (void)
{
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGINT);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGHUP);
    sigaddset (&set, SIGCHLD);
    sigaddset (&set, SIGUSR1);
    pthread_sigmask (SIG_BLOCK, &set, NULL);
    signal (SIGPIPE, SIG_IGN);
}

//  --------------------------------------------------------------------------
//  Callback lists

static int
s_calls_add (s_calls_t *self, s_any_fn *fn, void *arg)
{
    if (zo__loop_grow (&self->v, self->n, &self->cap, sizeof (self->v [0])))
        return -1;
    self->v [self->n].fn = fn;
    self->v [self->n].arg = arg;
    self->n++;
    return 0;
}

static void
s_calls_compact (s_calls_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->n; i++)
        if (self->v [i].fn)
            self->v [kept++] = self->v [i];
    self->n = kept;
    self->holes = false;
}

static void
s_calls_remove (s_calls_t *self, s_any_fn *fn, void *arg)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->v [i].fn == fn && self->v [i].arg == arg) {
            self->v [i].fn = NULL;
            self->holes = true;
            break;
        }
    if (self->holes && !self->walking)
        s_calls_compact (self);
}

static void
s_calls_end_walk (s_calls_t *self)
{
    self->walking--;
    if (!self->walking && self->holes)
        s_calls_compact (self);
}


//  --------------------------------------------------------------------------
//  Signals

static int
s_signal_ready (zo_loop_t *self, int fd, short revents, void *arg)
{
    struct signalfd_siginfo info [8];
    while (true) {
        ssize_t rc = read (fd, info, sizeof (info));
        if (rc <= 0)
            break;              //  EAGAIN: all read
        size_t count = (size_t) rc / sizeof (info [0]);
        for (size_t i = 0; i < count; i++) {
            int signum = (int) info [i].ssi_signo;
            if (signum <= 0 || signum >= ZO_LOOP_MAX_SIGNALS)
                continue;
            s_calls_t *calls = &self->signal_calls [signum];
            int result = 0;
            calls->walking++;
            //  Handlers added during the walk run from the next signal on.
            size_t n = calls->n;
            for (size_t k = 0; k < n && result == 0; k++)
                if (calls->v [k].fn)
                    result = ((zo_loop_signal_fn *) calls->v [k].fn)
                             (self, signum, calls->v [k].arg);
            s_calls_end_walk (calls);
            if (result == -1)
                return -1;
        }
    }
    return 0;
}

int
zo_loop_on_signal (zo_loop_t *self, int signum, zo_loop_signal_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    if (signum <= 0 || signum >= ZO_LOOP_MAX_SIGNALS)
        return -1;
    if (!sigismember (&self->signal_mask, signum)) {
        sigset_t mask = self->signal_mask;
        sigaddset (&mask, signum);
        //  The signal must be blocked to be read from a signalfd; block it
        //  here too in case zo_signals_block was not called (or does not
        //  cover it).
        sigset_t one;
        sigemptyset (&one);
        sigaddset (&one, signum);
        pthread_sigmask (SIG_BLOCK, &one, NULL);
        int fd = signalfd (self->signal_fd, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0)
            return -1;
        if (self->signal_fd < 0) {
            self->signal_watch = zo_loop_add_fd (self, fd, ZMQ_POLLIN, s_signal_ready, NULL);
            if (!self->signal_watch) {
                close (fd);
                return -1;
            }
            self->signal_fd = fd;
        }
        self->signal_mask = mask;
    }
    return s_calls_add (&self->signal_calls [signum], (s_any_fn *) fn, arg);
}

void
zo_loop_off_signal (zo_loop_t *self, int signum, zo_loop_signal_fn *fn, void *arg)
{
    assert (self);
    if (signum > 0 && signum < ZO_LOOP_MAX_SIGNALS)
        s_calls_remove (&self->signal_calls [signum], (s_any_fn *) fn, arg);
}


//  --------------------------------------------------------------------------
//  Before-sleep hooks

int
zo_loop_before_sleep (zo_loop_t *self, zo_loop_hook_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    return s_calls_add (&self->hooks, (s_any_fn *) fn, arg);
}

void
zo_loop_before_sleep_remove (zo_loop_t *self, zo_loop_hook_fn *fn, void *arg)
{
    assert (self);
    s_calls_remove (&self->hooks, (s_any_fn *) fn, arg);
}

//  Runs the before-sleep hooks; -1 if one asked to stop.
int
zo__loop_run_hooks (zo_loop_t *self)
{
    s_calls_t *hooks = &self->hooks;
    int result = 0;
    hooks->walking++;
    size_t n = hooks->n;
    for (size_t i = 0; i < n && result == 0 && !self->stopped; i++)
        if (hooks->v [i].fn)
            result = ((zo_loop_hook_fn *) hooks->v [i].fn) (self, hooks->v [i].arg);
    s_calls_end_walk (hooks);
    return result;
}
