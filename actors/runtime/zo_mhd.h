/*  zo_mhd: a libmicrohttpd daemon driven by the actor's zo_loop, so that
    requests are answered on the thread that owns the actor's state.

    The caller starts the daemon in MHD's external epoll mode (MHD_USE_EPOLL,
    no MHD_USE_INTERNAL_POLLING_THREAD) with the handlers and options it
    wants, and hands it over. The loop then watches the one epoll
    descriptor MHD exposes (MHD_DAEMON_INFO_EPOLL_FD) and calls MHD_run
    when it is readable; after every run the adapter asks MHD_get_timeout
    when MHD must run next (connection timeouts, work it left pending) and
    keeps one loop timer for exactly that, so no ticker runs and an idle
    daemon costs no wake-ups.

    Suspended connections (a request parked until an answer is ready)
    need the daemon started with MHD_ALLOW_SUSPEND_RESUME and go through
    zo_mhd_suspend / zo_mhd_resume rather than MHD's own calls: in external
    epoll mode MHD_resume_connection does not wake MHD's epoll descriptor,
    so the adapter runs MHD on the next iteration itself; and MHD aborts
    the process when stopped with a connection still suspended, so the
    adapter remembers them and resumes them before stopping.
*/
#ifndef ZO_MHD_H_INCLUDED
#define ZO_MHD_H_INCLUDED

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "zo_loop.h"

typedef struct _zo_mhd_t zo_mhd_t;

/*  Puts *daemon_p (started with MHD_USE_EPOLL and without an internal
    thread: anything else is a programming error) on loop (borrowed; it
    must outlive the zo_mhd_t). On success the daemon is owned by the
    zo_mhd_t and *daemon_p is nulled; on failure (NULL, logged: out of
    memory, the epoll fd cannot be watched) it stays the caller's.  */
zo_mhd_t *zo_mhd_new (zo_loop_t *loop, struct MHD_Daemon **daemon_p);

/*  Takes the daemon off the loop and stops it (MHD_stop_daemon: open
    connections, suspended ones too, are closed and their completion
    callbacks run). Nulls
    *self_p; a NULL *self_p is ignored. Not from inside an MHD callback.  */
void zo_mhd_destroy (zo_mhd_t **self_p);

/*  Suspends conn (MHD_suspend_connection; from the access handler) and
    remembers it. 0, or -1 when out of memory: conn is then not suspended
    (answer it, or return MHD_NO to close it).  */
int zo_mhd_suspend (zo_mhd_t *self, struct MHD_Connection *conn);

/*  Resumes conn, suspended with zo_mhd_suspend (anything else is ignored),
    from any loop handler: MHD calls the access handler for it again on
    the next iteration.  */
void zo_mhd_resume (zo_mhd_t *self, struct MHD_Connection *conn);

/*  Connections suspended and not yet resumed.  */
size_t zo_mhd_suspended (const zo_mhd_t *self);

/*  The daemon, borrowed (for MHD_get_daemon_info and the like).  */
struct MHD_Daemon *zo_mhd_daemon (zo_mhd_t *self);

/*  The port the daemon listens on (useful after binding port 0), or 0.  */
uint16_t zo_mhd_port (zo_mhd_t *self);

/*  How many times MHD_run was called: lets tests check that an idle
    daemon does not spin.  */
uint64_t zo_mhd_runs (const zo_mhd_t *self);

#endif
