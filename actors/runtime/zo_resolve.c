/*  zo_resolve: a host name resolved without blocking the loop.
    See zo_resolve.h for the contract.
*/
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/eventfd.h>
#include <zmq.h>
#include "zo_resolve.h"

struct _zo_resolve_t {
    atomic_int refs;                //  the loop side and the thread
    int efd;                        //  written once the answer is in
    zo_loop_t *loop;
    zo_watch_t *watch;
    zo_resolve_fn *fn;
    void *arg;
    char *host;
    int max_addrs;
    //  Written by the thread before its eventfd write, read after it.
    int rc;                         //  getaddrinfo's code
    int n_addrs;
    char *addrs;                    //  "a,b,..."
};

static void
s_unref (zo_resolve_t *self)
{
    if (atomic_fetch_sub (&self->refs, 1) == 1) {
        if (self->efd >= 0)
            close (self->efd);
        free (self->host);
        free (self->addrs);
        free (self);
    }
}

static void *
s_thread (void *arg)
{
    zo_resolve_t *self = (zo_resolve_t *) arg;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    self->rc = getaddrinfo (self->host, NULL, &hints, &res);
    size_t size = (size_t) self->max_addrs * (INET6_ADDRSTRLEN + 1) + 1, used = 0;
    self->addrs = (char *) calloc (1, size);
    if (!self->rc && !self->addrs)
        self->rc = EAI_MEMORY;
    for (struct addrinfo *ai = res; !self->rc && ai && self->n_addrs < self->max_addrs;
         ai = ai->ai_next) {
        char text [INET6_ADDRSTRLEN];
        const void *a = ai->ai_family == AF_INET
            ? (const void *) &((struct sockaddr_in *) ai->ai_addr)->sin_addr
            : (const void *) &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr;
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
        ||  !inet_ntop (ai->ai_family, a, text, sizeof (text)))
            continue;
        used += (size_t) snprintf (self->addrs + used, size - used, "%s%s",
                                   self->n_addrs? ",": "", text);
        self->n_addrs++;
    }
    if (res)
        freeaddrinfo (res);
    uint64_t one = 1;
    ssize_t rc = write (self->efd, &one, sizeof (one));
    (void) rc;                      //  an eventfd write of 1 cannot fail
    s_unref (self);
    return NULL;
}

static int
s_on_answer (zo_loop_t *loop, int fd, short revents, void *arg)
{
    zo_resolve_t *self = (zo_resolve_t *) arg;
    zo_loop_unwatch (loop, &self->watch);
    char error [300] = "";
    if (self->rc || !self->n_addrs)
        snprintf (error, sizeof (error), "could not resolve \"%s\": %s", self->host,
                  self->rc? gai_strerror (self->rc): "no IP address");
    if (*error)
        self->fn (NULL, 0, error, self->arg);
    else
        self->fn (self->addrs, self->n_addrs, NULL, self->arg);
    s_unref (self);
    return 0;
}

zo_resolve_t *
zo_resolve_start (zo_loop_t *loop, const char *host, int max_addrs,
                  zo_resolve_fn *fn, void *arg)
{
    assert (loop);
    assert (host);
    assert (max_addrs > 0);
    assert (fn);
    zo_resolve_t *self = (zo_resolve_t *) calloc (1, sizeof (zo_resolve_t));
    if (!self)
        return NULL;
    *self = (zo_resolve_t) { .efd = -1, .loop = loop, .fn = fn, .arg = arg,
                             .max_addrs = max_addrs };
    atomic_init (&self->refs, 1);
    pthread_t thread;
    int rc = 0;
    if (!(self->host = strdup (host)))
        rc = ENOMEM;
    else
    if ((self->efd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0
    ||  !(self->watch = zo_loop_add_fd (loop, self->efd, ZMQ_POLLIN, s_on_answer, self)))
        rc = errno;
    else {
        atomic_fetch_add (&self->refs, 1);
        //  The thread inherits the loop thread's blocked signals
        //  (zo_signals_block), so no signal lands on it.
        rc = pthread_create (&thread, NULL, s_thread, self);
        if (rc == 0)
            pthread_detach (thread);
        else {
            atomic_fetch_sub (&self->refs, 1);
            zo_loop_unwatch (loop, &self->watch);
        }
    }
    if (rc) {
        s_unref (self);
        errno = rc;
        return NULL;
    }
    return self;
}

void
zo_resolve_cancel (zo_resolve_t **self_p)
{
    assert (self_p);
    zo_resolve_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    zo_loop_unwatch (self->loop, &self->watch);
    s_unref (self);
}
