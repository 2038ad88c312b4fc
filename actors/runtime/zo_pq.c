/*  zo_pq: one PostgreSQL connection (libpq) driven by the actor's zo_loop.
    See zo_pq.h for the contract.
*/
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <zmq.h>
#include "zo_pq.h"
#include "zo_resolve.h"

#define ZO_PQ_TIMEOUT_MS    10000
#define ZO_PQ_INFLIGHT      1024
#define ZO_PQ_ADDRS         8       //  addresses handed to libpq at most

typedef enum { S_DOWN, S_RESOLVING, S_CONNECTING, S_UP } zo_pq_state_t;

typedef struct _zo_pq_req_t {
    struct _zo_pq_req_t *next;
    zo_pq_result_fn *fn;
    void *arg;
    PGresult *result;               //  the last one seen
    bool ended;                     //  its NULL came; its sync is next
} zo_pq_req_t;

struct _zo_pq_t {
    zo_loop_t *loop;
    char *conninfo;
    zo_pq_opts_t opts;
    zo_pq_state_t state;
    PGconn *conn;
    zo_watch_t *watch;              //  on PQsocket
    zo_resolve_t *resolve;          //  while resolving host
    char host [256];                //  the name being resolved
    int timer;                      //  the connect deadline, 0 when none
    uint64_t timeout_ms;
    zo_pq_req_t *head, *tail;
    uint32_t inflight;
    bool flushing;                  //  libpq has output left: POLLOUT
    //  Callbacks may destroy or reconnect us: handlers count themselves
    //  in (depth) and check the epoch, bumped at every teardown.
    int depth;
    bool doomed;
    uint32_t epoch;
    char error [256];
};

//  Closes what the connection has open and fails its requests with why
//  (NULL: nothing to tell them). Calls the requests' callbacks.
static void
s_teardown (zo_pq_t *self, const char *why)
{
    self->epoch++;
    self->state = S_DOWN;
    if (self->timer)
        zo_loop_cancel (self->loop, self->timer);
    self->timer = 0;
    zo_loop_unwatch (self->loop, &self->watch);
    zo_resolve_cancel (&self->resolve);
    if (self->conn)
        PQfinish (self->conn);
    self->conn = NULL;
    self->flushing = false;
    zo_pq_req_t *req = self->head;
    self->head = self->tail = NULL;
    self->inflight = 0;
    while (req) {
        zo_pq_req_t *next = req->next;
        if (req->result)
            PQclear (req->result);
        req->fn (self, NULL, why, req->arg);
        free (req);
        req = next;
    }
}

//  The connection failed or went down: tell everyone, stay down.
static void
s_down (zo_pq_t *self, const char *why)
{
    if (why != self->error)
        snprintf (self->error, sizeof (self->error), "%s", why);
    //  libpq's messages end with a newline; ours do not.
    size_t len = strlen (self->error);
    while (len && self->error [len - 1] == '\n')
        self->error [--len] = 0;
    s_teardown (self, self->error);
    if (self->opts.on_state)
        self->opts.on_state (self, false, self->error, self->opts.arg);
}

static void
s_leave (zo_pq_t *self)
{
    if (--self->depth == 0 && self->doomed) {
        free (self->conninfo);
        free (self);
    }
}

static int
s_flush (zo_pq_t *self)
{
    int rc = PQflush (self->conn);
    if (rc < 0)
        return -1;
    self->flushing = rc == 1;
    zo_loop_watch_events (self->loop, self->watch,
                          (short) (ZMQ_POLLIN | (self->flushing? ZMQ_POLLOUT: 0)));
    return 0;
}

//  Hands finished requests their results. Returns -1 when a callback
//  tore the connection down (or rebuilt it): the caller stops then.
static int
s_drain (zo_pq_t *self)
{
    uint32_t epoch = self->epoch;
    while (self->head && !PQisBusy (self->conn)) {
        zo_pq_req_t *req = self->head;
        PGresult *res = PQgetResult (self->conn);
        if (!req->ended) {
            if (!res)
                req->ended = true;
            else {
                if (req->result)
                    PQclear (req->result);
                req->result = res;
            }
            continue;
        }
        if (!res || PQresultStatus (res) != PGRES_PIPELINE_SYNC) {
            //  Only a server out of step with us gets here.
            if (res)
                PQclear (res);
            s_down (self, "protocol error: expected the end of a request");
            return -1;
        }
        PQclear (res);
        self->head = req->next;
        if (!self->head)
            self->tail = NULL;
        self->inflight--;
        const char *error = NULL;
        if (!req->result)
            error = "no result";
        else
        if (PQresultStatus (req->result) == PGRES_FATAL_ERROR
        ||  PQresultStatus (req->result) == PGRES_PIPELINE_ABORTED)
            error = PQresultErrorMessage (req->result);
        req->fn (self, req->result, error, req->arg);
        if (req->result)
            PQclear (req->result);
        free (req);
        if (self->epoch != epoch)
            return -1;
    }
    PGnotify *notify;
    while ((notify = PQnotifies (self->conn))) {
        if (self->opts.on_notify)
            self->opts.on_notify (self, notify, self->opts.arg);
        PQfreemem (notify);
        if (self->epoch != epoch)
            return -1;
    }
    return 0;
}

static int s_on_socket (zo_loop_t *loop, int fd, short revents, void *arg);

//  One step of PQconnectPoll. libpq may have closed its socket and opened
//  another (next address, SSL refused...), maybe under the same number,
//  which epoll dropped with the old one: so the watch is made again at
//  every step, cheap for the few steps a connect takes.
static void
s_connect_step (zo_pq_t *self, PostgresPollingStatusType st)
{
    zo_loop_unwatch (self->loop, &self->watch);
    if (st == PGRES_POLLING_FAILED) {
        s_down (self, PQerrorMessage (self->conn));
        return;
    }
    self->watch = zo_loop_add_fd (self->loop, PQsocket (self->conn),
                                  st == PGRES_POLLING_WRITING? ZMQ_POLLOUT: ZMQ_POLLIN,
                                  s_on_socket, self);
    if (!self->watch) {
        s_down (self, strerror (errno));
        return;
    }
    if (st != PGRES_POLLING_OK)
        return;
    if (PQsetnonblocking (self->conn, 1) || !PQenterPipelineMode (self->conn)) {
        s_down (self, PQerrorMessage (self->conn));
        return;
    }
    zo_loop_cancel (self->loop, self->timer);
    self->timer = 0;
    self->state = S_UP;
    if (self->opts.on_state)
        self->opts.on_state (self, true, NULL, self->opts.arg);
}

static int
s_on_socket (zo_loop_t *loop, int fd, short revents, void *arg)
{
    zo_pq_t *self = (zo_pq_t *) arg;
    self->depth++;
    uint32_t epoch = self->epoch;
    if (self->state == S_CONNECTING)
        s_connect_step (self, PQconnectPoll (self->conn));
    else {
        assert (self->state == S_UP);
        if ((revents & ZMQ_POLLOUT) && s_flush (self))
            s_down (self, PQerrorMessage (self->conn));
        else
        if ((revents & (ZMQ_POLLIN | ZMQ_POLLERR)) && !PQconsumeInput (self->conn))
            s_down (self, PQerrorMessage (self->conn));
        else
        if (s_drain (self) == 0 && self->epoch == epoch
        &&  self->flushing && s_flush (self))
            s_down (self, PQerrorMessage (self->conn));
    }
    s_leave (self);
    return 0;
}

//  Starts libpq on the conninfo, with host and hostaddr given (or not).
//  Returns 0, or -1 with self->error set (the caller reports it).
static int
s_start_libpq (zo_pq_t *self, PQconninfoOption *opts, const char *host, const char *hostaddr)
{
    size_t n = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        n++;
    const char **keys = (const char **) calloc (n + 3, sizeof (char *));
    const char **vals = (const char **) calloc (n + 3, sizeof (char *));
    size_t k = 0;
    if (keys && vals) {
        for (PQconninfoOption *o = opts; o->keyword; o++)
            if (o->val && (!host || (strcmp (o->keyword, "host")
                                 &&  strcmp (o->keyword, "hostaddr")))) {
                keys [k] = o->keyword;
                vals [k++] = o->val;
            }
        if (host) {
            keys [k] = "host";
            vals [k++] = host;
            keys [k] = "hostaddr";
            vals [k++] = hostaddr;
        }
        self->conn = PQconnectStartParams (keys, vals, 0);
    }
    free (keys);
    free (vals);
    if (!self->conn || PQstatus (self->conn) == CONNECTION_BAD) {
        snprintf (self->error, sizeof (self->error), "%s",
                  self->conn? PQerrorMessage (self->conn): "out of memory");
        return -1;
    }
    //  The connect starts as if PQconnectPoll had said "writing".
    self->state = S_CONNECTING;
    self->watch = zo_loop_add_fd (self->loop, PQsocket (self->conn), ZMQ_POLLOUT,
                                  s_on_socket, self);
    if (!self->watch) {
        snprintf (self->error, sizeof (self->error), "%s", strerror (errno));
        return -1;
    }
    return 0;
}

static const char *
s_opt (PQconninfoOption *opts, const char *keyword)
{
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (!strcmp (o->keyword, keyword))
            return o->val && *o->val? o->val: NULL;
    return NULL;
}

//  The resolver's answer is in: hand it to libpq.
static void
s_on_resolved (const char *addrs, int n, const char *error, void *arg)
{
    zo_pq_t *self = (zo_pq_t *) arg;
    assert (self->state == S_RESOLVING);
    self->depth++;
    self->resolve = NULL;           //  gone after this callback
    //  libpq pairs hostaddr entries with host entries: the name once for
    //  each address, so that messages and TLS still see the name.
    PQconninfoOption *opts = PQconninfoParse (self->conninfo, NULL);
    char *hosts = (char *) malloc ((size_t) n * (strlen (self->host) + 1) + 1);
    if (error)
        snprintf (self->error, sizeof (self->error), "%s", error);
    else
    if (!opts || !hosts)
        snprintf (self->error, sizeof (self->error), "out of memory");
    else {
        *hosts = 0;
        for (int i = 0; i < n; i++)
            strcat (strcat (hosts, i? ",": ""), self->host);
        s_start_libpq (self, opts, hosts, addrs);
    }
    if (*self->error)
        s_down (self, self->error);
    free (hosts);
    PQconninfoFree (opts);
    s_leave (self);
}

//  Reports a failure of the connect's start on the next iteration, or
//  the end of the connect's time.
static int
s_on_timer (zo_loop_t *loop, int id, void *arg)
{
    zo_pq_t *self = (zo_pq_t *) arg;
    self->depth++;
    self->timer = 0;
    if (!*self->error)
        snprintf (self->error, sizeof (self->error), "connection timed out after %llu ms",
                  (unsigned long long) self->timeout_ms);
    s_down (self, self->error);
    s_leave (self);
    return 0;
}

//  Parses the conninfo and starts libpq (nothing to resolve) or the
//  resolver. A failure is reported by s_on_timer, due at once, so that
//  nothing is called back from inside the caller's call. -1: out of
//  memory for the timer, and nothing started.
static int
s_start (zo_pq_t *self)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse (self->conninfo, &errmsg);
    *self->error = 0;
    self->timeout_ms = self->opts.connect_timeout_ms;
    const char *ct = opts? s_opt (opts, "connect_timeout"): NULL;
    if (!self->timeout_ms)
        self->timeout_ms = ct && atoi (ct) > 0? (uint64_t) atoi (ct) * 1000: ZO_PQ_TIMEOUT_MS;
    //  libpq would take PGHOST and PGHOSTADDR from the environment.
    const char *host = opts? s_opt (opts, "host"): NULL;
    bool has_addr = (opts && s_opt (opts, "hostaddr")) || getenv ("PGHOSTADDR");
    if (!host)
        host = getenv ("PGHOST");
    unsigned char addr [sizeof (struct in6_addr)];
    if (!opts)
        snprintf (self->error, sizeof (self->error), "%s", errmsg? errmsg: "out of memory");
    else
    if (host && strchr (host, ','))
        snprintf (self->error, sizeof (self->error), "host lists are not supported");
    else
    if (!host || !*host || *host == '/' || *host == '@' || has_addr
    ||  inet_pton (AF_INET, host, addr) == 1 || inet_pton (AF_INET6, host, addr) == 1)
        //  Nothing libpq would resolve: a socket path or an address.
        s_start_libpq (self, opts, NULL, NULL);
    else
    if (strlen (host) >= sizeof (self->host))
        snprintf (self->error, sizeof (self->error), "host name too long");
    else {
        snprintf (self->host, sizeof (self->host), "%s", host);
        self->state = S_RESOLVING;
        self->resolve = zo_resolve_start (self->loop, host, ZO_PQ_ADDRS, s_on_resolved, self);
        if (!self->resolve)
            snprintf (self->error, sizeof (self->error), "resolver: %s", strerror (errno));
    }
    PQconninfoFree (opts);
    PQfreemem (errmsg);
    if (*self->error)
        s_teardown (self, NULL);
    self->timer = zo_loop_timer (self->loop, *self->error? 0: self->timeout_ms, s_on_timer, self);
    if (self->timer < 0) {
        //  Out of memory for a timer: no connect without its deadline.
        s_teardown (self, NULL);
        self->timer = 0;
        return -1;
    }
    return 0;
}

zo_pq_t *
zo_pq_new (zo_loop_t *loop, const char *conninfo, const zo_pq_opts_t *opts)
{
    assert (loop);
    assert (conninfo);
    zo_pq_t *self = (zo_pq_t *) calloc (1, sizeof (zo_pq_t));
    if (!self || !(self->conninfo = strdup (conninfo))) {
        free (self);
        return NULL;
    }
    self->loop = loop;
    if (opts)
        self->opts = *opts;
    if (!self->opts.max_inflight)
        self->opts.max_inflight = ZO_PQ_INFLIGHT;
    if (zo_pq_connect (self)) {
        free (self->conninfo);
        free (self);
        return NULL;
    }
    return self;
}

void
zo_pq_destroy (zo_pq_t **self_p)
{
    assert (self_p);
    zo_pq_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    if (self->doomed)
        return;
    //  Doomed first: a request's callback destroying us again is a no-op.
    self->doomed = true;
    self->depth++;
    s_teardown (self, "destroyed");
    s_leave (self);
}

int
zo_pq_connect (zo_pq_t *self)
{
    assert (self);
    if (self->state == S_DOWN && !self->doomed && !self->timer)
        return s_start (self);
    return 0;
}

bool
zo_pq_ready (const zo_pq_t *self)
{
    assert (self);
    return self->state == S_UP;
}

PGconn *
zo_pq_conn (zo_pq_t *self)
{
    assert (self);
    return self->state == S_UP? self->conn: NULL;
}

uint32_t
zo_pq_inflight (const zo_pq_t *self)
{
    assert (self);
    return self->inflight;
}

//  The part every send shares: room, a sync point, the queue, a flush.
//  sent is what the PQsend* call returned.
static int
s_check (zo_pq_t *self)
{
    if (self->state != S_UP) {
        errno = ENOTCONN;
        return -1;
    }
    if (self->inflight >= self->opts.max_inflight) {
        errno = EAGAIN;
        return -1;
    }
    return 0;
}

static int
s_queue (zo_pq_t *self, int sent, zo_pq_result_fn *fn, void *arg)
{
    zo_pq_req_t *req = sent? (zo_pq_req_t *) calloc (1, sizeof (zo_pq_req_t)): NULL;
    //  Once the query is in libpq's pipeline, a sync point must follow
    //  it, or the next request would join its transaction.
    if (!sent || !PQpipelineSync (self->conn) || !req) {
        free (req);
        errno = sent && !req? ENOMEM: EIO;
        return -1;
    }
    req->fn = fn;
    req->arg = arg;
    if (self->tail)
        self->tail->next = req;
    else
        self->head = req;
    self->tail = req;
    self->inflight++;
    //  A failed flush shows on the socket too: the handler reports it.
    if (!self->flushing)
        s_flush (self);
    return 0;
}

int
zo_pq_send (zo_pq_t *self, const char *command, int n_params, const Oid *types,
            const char *const *values, const int *lengths, const int *formats,
            int result_format, zo_pq_result_fn *fn, void *arg)
{
    assert (self);
    assert (command);
    assert (fn);
    if (s_check (self))
        return -1;
    return s_queue (self, PQsendQueryParams (self->conn, command, n_params, types, values,
                                             lengths, formats, result_format), fn, arg);
}

int
zo_pq_prepare (zo_pq_t *self, const char *name, const char *query, int n_params,
               const Oid *types, zo_pq_result_fn *fn, void *arg)
{
    assert (self);
    assert (name && query);
    assert (fn);
    if (s_check (self))
        return -1;
    return s_queue (self, PQsendPrepare (self->conn, name, query, n_params, types), fn, arg);
}

int
zo_pq_send_prepared (zo_pq_t *self, const char *name, int n_params,
                     const char *const *values, const int *lengths, const int *formats,
                     int result_format, zo_pq_result_fn *fn, void *arg)
{
    assert (self);
    assert (name);
    assert (fn);
    if (s_check (self))
        return -1;
    return s_queue (self, PQsendQueryPrepared (self->conn, name, n_params, values, lengths,
                                               formats, result_format), fn, arg);
}
