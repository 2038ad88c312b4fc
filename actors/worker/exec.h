/*  exec: the `exec` handler runs a program per event.

        route
            match = "github.*"
            handler = exec
            command = "jq .payload.ref"    #   run with /bin/sh -c, in its own process group
            max_output = 1M                #   stdout beyond this fails the event

    The event goes to the program's stdin as JSON {"id", "type", "source",
    "payload", "attempt"}. Exit 0 is success, with stdout parsed as JSON as
    the result (or the text itself if it is not JSON; nothing if empty).
    Any other exit fails the event with the tail of stderr. At the route's
    timeout the whole process group gets SIGKILL. Children are reaped on
    SIGCHLD (and by a ticker while any runs, in case a signal was missed),
    so none is left a zombie. Pipes are non-blocking and watched by the
    loop: nothing here blocks.
*/
#ifndef ZO_EXEC_H_INCLUDED
#define ZO_EXEC_H_INCLUDED

#include "handlers.h"
#include "inflight.h"

#define ZO_EXEC_MAX_OUTPUT (1024 * 1024)
#define ZO_EXEC_ERR_TAIL   2048

/*  Reaps children that exited and completes their events. Returns how
    many were reaped.  */
int zo_exec_reap (zo_inflight_t *inflight);
/*  Children started and not yet reaped (including killed ones).  */
size_t zo_exec_running (zo_inflight_t *inflight);
/*  Kills and reaps (blocking) what still runs, frees the exec state.  */
void zo_exec_destroy (zo_inflight_t *inflight);

#endif
