/*  zo_sup: a supervisor of child processes on the loop, as OTP's are.

    Each child is a program started with zo_proc_spawn (in a process group
    of its own). A child that crashes (killed by a signal, or a non-zero
    exit) is restarted after a delay that doubles while it keeps dying
    young (ran less than stable_ms), up to max_delay_ms. A restart storm
    (more than storm_max restarts within storm_window_ms) stops restarts
    of that child: it is given up, logged and reported, so a broken binary
    or configuration does not spin. A child that exits 0 is not restarted.
    A stop on purpose (zo_sup_stop: SIGTERM, then SIGKILL after
    stop_grace_ms) is not a crash and is never restarted.

    Children are reaped from the loop's SIGCHLD by their own pids (never
    waitpid (-1)), so other owners of children in the process (the exec
    handler, say) keep theirs. zorch up supervises its actors with it; the
    autoscaler will start and stop workers through the same calls.
*/
#ifndef ZO_SUP_H_INCLUDED
#define ZO_SUP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "zo_loop.h"

typedef struct _zo_sup_t zo_sup_t;

typedef struct {
    uint64_t restart_delay_ms;  /* first restart after a crash; default 500 */
    uint64_t max_delay_ms;      /* the backoff's cap; default 30000 */
    uint64_t stable_ms;         /* a run this long resets the backoff; default 2000 */
    uint32_t storm_max;         /* more restarts than this ... default 5 */
    uint64_t storm_window_ms;   /* ... within this window give up; default 60000 */
    uint64_t stop_grace_ms;     /* SIGTERM, then SIGKILL after this; default 15000 */
} zo_sup_policy_t;

typedef enum {
    ZO_CHILD_RUNNING,           /* a process is alive */
    ZO_CHILD_BACKOFF,           /* crashed; restart pending */
    ZO_CHILD_STOPPING,          /* stopped on purpose; not yet exited */
    ZO_CHILD_STOPPED,           /* stopped on purpose, or exited 0 */
    ZO_CHILD_GAVE_UP            /* a restart storm or a failed start: no more restarts */
} zo_child_state_t;

typedef enum {
    ZO_SUP_STARTED,             /* a process started (first time or restart) */
    ZO_SUP_EXITED,              /* a process exited; status as waitpid gives it */
    ZO_SUP_STORM                /* restarts stopped: a storm, or the program cannot run */
} zo_sup_event_t;

/*  Told what happened to child id (see zo_sup_event_t).  */
typedef void (zo_sup_fn) (zo_sup_t *sup, int id, zo_sup_event_t event, int status, void *arg);

typedef struct {
    int id;
    const char *name;           /* borrowed from the supervisor */
    pid_t pid;                  /* 0 when no process is alive */
    zo_child_state_t state;
    uint32_t restarts;
} zo_sup_child_t;

/*  policy NULL, or any field 0: the defaults. fn may be NULL. Adds a
    SIGCHLD handler to loop. NULL when out of memory.  */
zo_sup_t *zo_sup_new (zo_loop_t *loop, const zo_sup_policy_t *policy, zo_sup_fn *fn, void *arg);
/*  Kills (SIGKILL) and reaps, waiting, every child still alive, then frees
    all and takes the handler off the loop.  */
void zo_sup_destroy (zo_sup_t **self_p);

/*  Starts a child: name (for logs, copied), argv (NULL-terminated, argv [0]
    the path; copied), log_path (stdout and stderr into it; NULL: this
    process's). Returns the child's id (>= 0), or -1 when it cannot start
    (logged; nothing kept).  */
int zo_sup_start (zo_sup_t *self, const char *name, char *const *argv, const char *log_path);
/*  Stops a child on purpose: SIGTERM to its process group now, SIGKILL
    after stop_grace_ms; never restarted. 0, or -1 for an unknown id.  */
int zo_sup_stop (zo_sup_t *self, int id);
/*  zo_sup_stop for every child.  */
void zo_sup_stop_all (zo_sup_t *self);
/*  Sends SIGKILL now to every child still stopping.  */
void zo_sup_kill_all (zo_sup_t *self);

/*  Children with a process alive.  */
size_t zo_sup_running (zo_sup_t *self);
/*  Fills up to max entries, in the order children were started; returns
    how many children there are.  */
size_t zo_sup_list (zo_sup_t *self, zo_sup_child_t *out, size_t max);

#endif
