/*  zo_http: libmicrohttpd on the actor's loop (see http.h).
*/
#include <arpa/inet.h>
#include <assert.h>
#include <czmq.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http.h"
#include "zo_mhd.h"

struct _zo_http_t {
    zo_loop_t *loop;
    zo_mhd_t *mhd;              /* the daemon, on the loop */
    zo_http_fn *fn;
    void *arg;
    char url [128];
    uint64_t requests;
    struct MHD_Connection **parked; /* max_conns of them at most */
    size_t n_parked, max_parked;
};

struct _zo_http_req_t {
    struct MHD_Connection *conn;
};

static void
s_log (void *arg, const char *fmt, va_list ap)
{
    char line [512];
    vsnprintf (line, sizeof (line), fmt, ap);
    size_t len = strlen (line);
    while (len && line [len - 1] == '\n')
        line [--len] = 0;
    zsys_warning ("monitor: http: %s", line);
}

const char *
zo_http_query (zo_http_req_t *req, const char *key)
{
    assert (req);
    return MHD_lookup_connection_value (req->conn, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size,
          void **con_cls)
{
    zo_http_t *self = (zo_http_t *) cls;
    //  The first call only announces the request: answering then makes
    //  libmicrohttpd close the connection (no keep-alive).
    static int s_seen;
    if (*con_cls == NULL) {
        *con_cls = &s_seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;      //  a body is not used by any route
        return MHD_YES;
    }
    zo_http_reply_t reply = { 0 };
    if (!streq (method, "GET") && !streq (method, "HEAD")) {
        static const char text [] = "{\"error\":\"only GET and HEAD\"}\n";
        reply.status = 405;
        reply.body = (char *) text;
        reply.size = sizeof (text) - 1;
        reply.body_static = true;
    }
    else {
        zo_http_req_t req = { conn };
        self->fn (&req, url, &reply, self->arg);
        if (reply.park) {
            if (self->n_parked < self->max_parked && zo_mhd_suspend (self->mhd, conn) == 0) {
                self->parked [self->n_parked++] = conn;
                return MHD_YES;
            }
            static const char text [] = "{\"error\":\"too many requests waiting\"}\n";
            reply = (zo_http_reply_t) { .status = 503, .body = (char *) text,
                                        .size = sizeof (text) - 1, .body_static = true };
        }
    }
    self->requests++;
    struct MHD_Response *response = MHD_create_response_from_buffer (
        reply.size, reply.body, reply.body_static? MHD_RESPMEM_PERSISTENT: MHD_RESPMEM_MUST_FREE);
    if (!response) {
        if (!reply.body_static)
            free (reply.body);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE,
                             reply.content_type? reply.content_type: "application/json");
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL,
                             reply.cache_control? reply.cache_control: "no-store");
    if (reply.status == 405)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response (conn, (unsigned) (reply.status? reply.status: 200),
                                             response);
    MHD_destroy_response (response);
    return rc;
}

//  Splits "http://host:port/", "host:port" or "[v6]:port" into host and
//  port. -1 if it does not parse.
static int
s_split (const char *address, char *host, size_t host_size, char *port, size_t port_size)
{
    if (strncmp (address, "http://", 7) == 0)
        address += 7;
    const char *colon;
    if (*address == '[') {
        const char *close = strchr (address, ']');
        if (!close || close [1] != ':')
            return -1;
        snprintf (host, host_size, "%.*s", (int) (close - address - 1), address + 1);
        colon = close + 1;
    }
    else {
        colon = strrchr (address, ':');
        if (!colon)
            return -1;
        snprintf (host, host_size, "%.*s", (int) (colon - address), address);
    }
    snprintf (port, port_size, "%s", colon + 1);
    char *slash = strchr (port, '/');
    if (slash)
        *slash = 0;
    if (!*port || strspn (port, "0123456789") != strlen (port))
        return -1;
    if (streq (host, "*") || !*host)
        snprintf (host, host_size, "0.0.0.0");
    return 0;
}

zo_http_t *
zo_http_new (zo_loop_t *loop, const char *address, unsigned max_conns,
             zo_http_fn *fn, void *arg)
{
    assert (loop);
    assert (address);
    assert (fn);
    char host [96], port [16];
    if (s_split (address, host, sizeof (host), port, sizeof (port))) {
        zsys_error ("monitor: http address '%s' is not host:port", address);
        return NULL;
    }
    struct addrinfo hints = { 0 }, *info = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo (host, port, &hints, &info);
    if (gai || !info) {
        zsys_error ("monitor: http address '%s': %s", address, gai_strerror (gai));
        return NULL;
    }
    zo_http_t *self = (zo_http_t *) calloc (1, sizeof (zo_http_t));
    if (!self) {
        freeaddrinfo (info);
        return NULL;
    }
    self->loop = loop;
    self->fn = fn;
    self->arg = arg;
    self->max_parked = max_conns? max_conns: 256;
    self->parked = (struct MHD_Connection **) calloc (self->max_parked, sizeof (*self->parked));
    if (!self->parked) {
        free (self);
        freeaddrinfo (info);
        return NULL;
    }
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (info->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_access, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_log, NULL,
        MHD_OPTION_SOCK_ADDR, info->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) self->max_parked,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 30,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned) 1,
        MHD_OPTION_END);
    int family = info->ai_family;
    freeaddrinfo (info);
    if (!daemon) {
        zsys_error ("monitor: cannot serve HTTP on %s (address in use?)", address);
        free (self->parked);
        free (self);
        return NULL;
    }
    self->mhd = zo_mhd_new (loop, &daemon);
    if (!self->mhd) {
        zsys_error ("monitor: cannot put the HTTP server on the loop");
        MHD_stop_daemon (daemon);
        free (self->parked);
        free (self);
        return NULL;
    }
    unsigned bound = zo_mhd_port (self->mhd);
    if (!bound)
        bound = (unsigned) atoi (port);
    //  A wildcard bind is reached through loopback.
    const char *shown = streq (host, "0.0.0.0")? "127.0.0.1": streq (host, "::")? "::1": host;
    if (family == AF_INET6)
        snprintf (self->url, sizeof (self->url), "http://[%s]:%u", shown, bound);
    else
        snprintf (self->url, sizeof (self->url), "http://%s:%u", shown, bound);
    return self;
}

void
zo_http_destroy (zo_http_t **self_p)
{
    assert (self_p);
    zo_http_t *self = *self_p;
    if (!self)
        return;
    zo_mhd_destroy (&self->mhd);
    free (self->parked);
    free (self);
    *self_p = NULL;
}

void
zo_http_wake (zo_http_t *self)
{
    assert (self);
    //  Handled on the next loop iteration: those parked again by then
    //  are added afresh.
    size_t n = self->n_parked;
    self->n_parked = 0;
    for (size_t i = 0; i < n; i++)
        zo_mhd_resume (self->mhd, self->parked [i]);
}

size_t
zo_http_parked (const zo_http_t *self)
{
    assert (self);
    return self->n_parked;
}

const char *
zo_http_url (const zo_http_t *self)
{
    assert (self);
    return self->url;
}

uint64_t
zo_http_requests (const zo_http_t *self)
{
    assert (self);
    return self->requests;
}
