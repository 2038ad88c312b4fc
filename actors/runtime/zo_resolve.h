/*  zo_resolve: a host name resolved without blocking the loop.

    getaddrinfo blocks, for seconds when a DNS server is slow, and the
    C library has no asynchronous form a loop can watch (getaddrinfo_a
    reports through a signal or a thread of its own). So each resolution
    runs getaddrinfo on a short-lived detached thread, which writes an
    eventfd the loop watches; the answer is handed to the callback on the
    loop. Used by zo_pq (libpq would call getaddrinfo inside
    PQconnectStart); any adapter whose library resolves by itself can use
    it the same way.

    Ownership: the loop side and the thread share the job, and the last
    to let go frees it: a cancelled resolution's thread finishes its
    getaddrinfo alone, touching nothing else. The loop must outlive the
    resolutions started on it (cancel them first).
*/
#ifndef ZO_RESOLVE_H_INCLUDED
#define ZO_RESOLVE_H_INCLUDED

#include "zo_loop.h"

typedef struct _zo_resolve_t zo_resolve_t;

/*  The answer: addrs is the numeric addresses (IPv4 and IPv6, in
    getaddrinfo's order, at most max_addrs) joined by commas, n how many;
    or addrs NULL, n 0 and error saying why. Both strings live until the
    callback returns; the resolution is gone by then (do not cancel it).  */
typedef void (zo_resolve_fn) (const char *addrs, int n, const char *error, void *arg);

/*  Starts resolving host (copied) for TCP. fn runs once, from the loop,
    never from inside this call. Returns the resolution, or NULL with
    errno set (ENOMEM, EAGAIN: no thread, or what eventfd said) and no
    callback.  */
zo_resolve_t *zo_resolve_start (zo_loop_t *loop, const char *host, int max_addrs,
                                zo_resolve_fn *fn, void *arg);
/*  Drops a resolution not answered yet: fn will not run. Nulls *self_p;
    NULL is ignored.  */
void zo_resolve_cancel (zo_resolve_t **self_p);

#endif
