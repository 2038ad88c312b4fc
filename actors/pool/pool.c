/*  zo_pool: the zorch-pool actor (see pool.h). A request is an s_req_t
    from the moment it is handed to a service or a database until its
    callback answers the client.
*/
#include "pool.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "http.h"
#include "sql.h"
#include "zo_drain.h"
#include "zo_mp.h"
#include "zo_pressure.h"
#include "zo_server.h"
#include "zo_wire.h"

//  Services and databases at most (each reports its own counters and
//  gauges: these keep an actor's STATS within what the runtime and the
//  monitor hold), and request headers at most.
#define S_ENTRIES_MAX 16
#define S_HEADERS_MAX 64

typedef enum { C_HTTP, C_QUERIES, C_REFUSED, C_BUSY, C_COUNT } s_counter_t;
static const char *s_counter_names [C_COUNT] = {
    "http_requests_total", "queries_total", "refused_total", "busy_total",
};

struct _zo_pool_t {
    zo_actor_t *actor;
    zo_loop_t *loop;
    zo_server_t *server;            //  the pool socket
    zo_services_t *services;        //  NULL when none is configured
    zo_databases_t *databases;      //  likewise
    zo_drain_t *drain;
    zo_pressure_src_t *pressure;
    bool trimming;                  //  pressure step 1 and above: idle connections trimmed
    size_t body_max, max_frame;
    uint32_t pending_max, pending;
    double *pending_gauge, *trimmed_gauge;
    uint64_t *c [C_COUNT];
};

typedef struct {
    zo_pool_t *pool;
    uint64_t seq;
    uint8_t ident_len;
    uint8_t ident [255];
} s_req_t;

//  ---------------------------------------------------------------------
//  Configuration

//  A number option of a list entry, range-checked; dflt when absent.
static uint64_t
s_opt_u64 (zo_conf_t *conf, zconfig_t *entry, const char *what, const char *key, uint64_t dflt,
           uint64_t min, uint64_t max, bool duration)
{
    const char *text = zconfig_get (entry, key, NULL);
    if (!text || !*text)
        return dflt;
    uint64_t value = 0;
    char *end = NULL;
    int bad = duration ? zo_conf_parse_ms (text, &value)
                       : (value = strtoull (text, &end, 10), end == text || *end);
    if (bad || value < min || value > max) {
        zo_conf_refuse (conf, "%s: %s = '%s' is not %s in %llu..%llu", what, key, text,
                        duration ? "a duration" : "an integer", (unsigned long long) min,
                        (unsigned long long) max);
        return dflt;
    }
    return value;
}

static bool
s_name_ok (const char *name)
{
    if (!name || !*name || strlen (name) > 40)
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return false;
    return true;
}

//  The services of pool/services. An entry whose auth_env names a
//  variable that is not set is left out (the ready-made github, linear
//  and slack wait for their tokens that way). Returns how many, or -1
//  after zo_conf_refuse. Strings point into the configuration tree and
//  headers into lines (freed by the caller).
static int
s_read_services (zo_conf_t *conf, zo_service_conf_t *out, char ***lines_out)
{
    zconfig_t *list = zconfig_locate (zo_conf_tree (conf), "pool/services");
    uint64_t interval = zo_conf_ms_range (conf, "pool/health_interval", 10000, 0, 86400000);
    int n = 0;
    for (zconfig_t *entry = list ? zconfig_child (list) : NULL; entry; entry = zconfig_next (entry)) {
        const char *name = zconfig_get (entry, "name", "");
        char what [96];
        snprintf (what, sizeof what, "pool/services: service '%s'", name);
        if (!s_name_ok (name)) {
            zo_conf_refuse (conf, "%s: a name is 1..40 of [a-z0-9_]", what);
            return -1;
        }
        const char *url = zconfig_get (entry, "url", "");
        if (strncmp (url, "http://", 7) && strncmp (url, "https://", 8)) {
            zo_conf_refuse (conf, "%s: url '%s' is not http:// or https://", what, url);
            return -1;
        }
        const char *auth_env = zconfig_get (entry, "auth_env", "");
        const char *token = *auth_env ? getenv (auth_env) : NULL;
        if (*auth_env && (!token || !*token)) {
            zo_log_info ("pool: service %s left out: $%s is not set", name, auth_env);
            continue;
        }
        if (n == S_ENTRIES_MAX) {
            zo_conf_refuse (conf, "pool/services: more than %d services", S_ENTRIES_MAX);
            return -1;
        }
        //  Default headers: the entry's `headers` section, Name = value.
        zconfig_t *headers = zconfig_locate (entry, "headers");
        size_t count = 0;
        for (zconfig_t *h = headers ? zconfig_child (headers) : NULL; h; h = zconfig_next (h))
            count++;
        char **lines = calloc (count + 1, sizeof *lines);
        if (!lines)
            return -1;
        size_t k = 0;
        for (zconfig_t *h = headers ? zconfig_child (headers) : NULL; h; h = zconfig_next (h)) {
            const char *v = zconfig_value (h);
            if (asprintf (&lines [k], "%s: %s", zconfig_name (h), v ? v : "") < 0) {
                lines [k] = NULL;
                break;
            }
            k++;
        }
        lines_out [n] = lines;
        zo_service_conf_t *s = &out [n];
        memset (s, 0, sizeof *s);
        s->name = name;
        s->url = url;
        s->headers = (const char *const *) lines;
        s->auth_header = *auth_env ? zconfig_get (entry, "auth_header", "Authorization") : NULL;
        s->auth_value = token;
        s->max_conns = (uint32_t) s_opt_u64 (conf, entry, what, "max_conns", 8, 1, 10000, false);
        s->timeout_ms = s_opt_u64 (conf, entry, what, "timeout", 10000, 1, 3600000, true);
        s->connect_timeout_ms = s_opt_u64 (conf, entry, what, "connect_timeout", 2000, 1, 600000, true);
        s->retries = (uint32_t) s_opt_u64 (conf, entry, what, "retries", 2, 0, 100, false);
        s->backoff_min_ms = s_opt_u64 (conf, entry, what, "backoff", 100, 1, 600000, true);
        s->backoff_max_ms = s_opt_u64 (conf, entry, what, "backoff_max", 2000, 1, 3600000, true);
        s->rate = (double) s_opt_u64 (conf, entry, what, "rate", 0, 0, 1000000, false);
        s->burst = (uint32_t) s_opt_u64 (conf, entry, what, "burst", 0, 0, 1000000, false);
        s->health_path = zconfig_get (entry, "health_path", NULL);
        s->ca_file = zconfig_get (entry, "ca_file", NULL);
        s->health_interval_ms = interval;
        s->breaker_failures = (uint32_t) s_opt_u64 (conf, entry, what, "breaker_failures", 5, 1, 1000000, false);
        s->breaker_open_ms = s_opt_u64 (conf, entry, what, "breaker_open", 5000, 1, 3600000, true);
        n++;
    }
    return zo_conf_bad (conf) ? -1 : n;
}

static int
s_read_databases (zo_conf_t *conf, zo_database_conf_t *out)
{
    zconfig_t *list = zconfig_locate (zo_conf_tree (conf), "pool/databases");
    uint64_t interval = zo_conf_ms_range (conf, "pool/health_interval", 10000, 0, 86400000);
    int n = 0;
    for (zconfig_t *entry = list ? zconfig_child (list) : NULL; entry; entry = zconfig_next (entry)) {
        const char *name = zconfig_get (entry, "name", "");
        char what [96];
        snprintf (what, sizeof what, "pool/databases: database '%s'", name);
        if (!s_name_ok (name)) {
            zo_conf_refuse (conf, "%s: a name is 1..40 of [a-z0-9_]", what);
            return -1;
        }
        const char *conninfo = zconfig_get (entry, "conninfo", "");
        if (!*conninfo) {
            zo_conf_refuse (conf, "%s: no conninfo", what);
            return -1;
        }
        if (n == S_ENTRIES_MAX) {
            zo_conf_refuse (conf, "pool/databases: more than %d databases", S_ENTRIES_MAX);
            return -1;
        }
        zo_database_conf_t *d = &out [n];
        memset (d, 0, sizeof *d);
        d->name = name;
        d->conninfo = conninfo;
        d->min = (uint32_t) s_opt_u64 (conf, entry, what, "min", 1, 0, 1000, false);
        d->max = (uint32_t) s_opt_u64 (conf, entry, what, "max", 4, 1, 1000, false);
        d->statement_timeout_ms = s_opt_u64 (conf, entry, what, "statement_timeout", 5000, 1, 3600000, true);
        d->connect_timeout_ms = s_opt_u64 (conf, entry, what, "connect_timeout", 2000, 1, 600000, true);
        d->health_interval_ms = interval;
        if (d->min > d->max)
            zo_conf_refuse (conf, "%s: min %u is over max %u", what, d->min, d->max);
        n++;
    }
    return zo_conf_bad (conf) ? -1 : n;
}

//  ---------------------------------------------------------------------
//  Replies

static void
s_error (zo_pool_t *self, const void *ident, size_t ident_len, uint64_t seq, zo_err_t code,
         const char *reason)
{
    zo_server_error (self->server, ident, ident_len, seq, code, reason);
}

static s_req_t *
s_req_new (zo_pool_t *self, const void *ident, size_t ident_len, uint64_t seq)
{
    s_req_t *req = calloc (1, sizeof *req);
    if (!req)
        return NULL;
    req->pool = self;
    req->seq = seq;
    req->ident_len = (uint8_t) (ident_len > sizeof req->ident ? sizeof req->ident : ident_len);
    memcpy (req->ident, ident, req->ident_len);
    self->pending++;
    return req;
}

static void
s_req_free (s_req_t *req)
{
    req->pool->pending--;
    free (req);
}

//  A request that went to a service or a database ended in an error.
static bool
s_req_failed (s_req_t *req, zo_err_t error, const char *reason)
{
    if (error == ZO_ERR_NONE)
        return false;
    s_error (req->pool, req->ident, req->ident_len, req->seq, error, reason);
    s_req_free (req);
    return true;
}

static void
s_on_http (void *arg, const zo_http_result_t *result)
{
    s_req_t *req = arg;
    zo_pool_t *self = req->pool;
    if (s_req_failed (req, result->error, result->reason))
        return;
    if (result->body_len + 4096 > self->max_frame) {
        char reason [128];
        snprintf (reason, sizeof reason, "a response of %zu bytes does not fit broker/max_frame",
                  result->body_len);
        s_req_failed (req, ZO_ERR_TOO_LARGE, reason);
        return;
    }
    //  The headers as one msgpack map.
    msgpack_sbuffer headers;
    msgpack_sbuffer_init (&headers);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &headers, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, (uint32_t) result->n_headers);
    for (size_t i = 0; i < result->n_headers; i++) {
        zo_proto_pack_str (&pk, result->header_names [i]);
        zo_proto_pack_str (&pk, result->header_values [i]);
    }
    zo_msg_t reply = { .cmd = ZO_CMD_RESPONSE, .seq = req->seq, .status = (uint32_t) result->status,
                       .headers = { (const uint8_t *) headers.data, (uint32_t) headers.size },
                       .body = { result->body ? result->body : (const void *) "",
                                 (uint32_t) result->body_len },
                       .attempts = result->attempts, .took_ns = result->took_ns };
    zo_server_send (self->server, req->ident, req->ident_len, &reply);
    msgpack_sbuffer_destroy (&headers);
    s_req_free (req);
}

//  Whether the server refused the statement itself (a constraint, a
//  syntax error: sending it again cannot help) rather than failing to run
//  it (a lost connection 08, a serialization failure or deadlock 40, out
//  of resources 53, a cancel or shutdown 57, a system error 58).
static bool
s_refused (const char *sqlstate)
{
    static const char *transient [] = { "08", "40", "53", "57", "58" };
    if (!sqlstate || strlen (sqlstate) != 5)
        return false;
    for (size_t i = 0; i < sizeof transient / sizeof transient [0]; i++)
        if (strncmp (sqlstate, transient [i], 2) == 0)
            return false;
    return true;
}

static void
s_on_rows (void *arg, const zo_sql_result_t *result)
{
    s_req_t *req = arg;
    zo_pool_t *self = req->pool;
    //  A statement the server refused is the request's fault: bad_value,
    //  which the worker does not retry; the rest may pass.
    zo_err_t error = result->error == ZO_ERR_UPSTREAM && s_refused (result->sqlstate)
                   ? ZO_ERR_BAD_VALUE : result->error;
    if (s_req_failed (req, error, result->reason))
        return;
    if (result->rows_len + result->columns_len + 4096 > self->max_frame) {
        s_req_failed (req, ZO_ERR_TOO_LARGE, "the rows do not fit broker/max_frame");
        return;
    }
    zo_msg_t reply = { .cmd = ZO_CMD_ROWS, .seq = req->seq, .count = result->count,
                       .columns = { result->columns, (uint32_t) result->columns_len },
                       .rows = { result->rows, (uint32_t) result->rows_len },
                       .took_ns = result->took_ns };
    zo_server_send (self->server, req->ident, req->ident_len, &reply);
    s_req_free (req);
}

//  ---------------------------------------------------------------------
//  Commands

static bool
s_room (zo_pool_t *self, const void *ident, size_t ident_len, uint64_t seq)
{
    if (self->pending < self->pending_max)
        return true;
    (*self->c [C_BUSY])++;
    s_error (self, ident, ident_len, seq, ZO_ERR_UNAVAILABLE,
             "the pool holds pool/pending_max requests already");
    return false;
}

//  A name span as a C string, or false when it does not fit.
static bool
s_cstr (zo_span_t span, char *out, size_t size)
{
    if (span.len >= size)
        return false;
    memcpy (out, span.ptr, span.len);
    out [span.len] = 0;
    return true;
}

static void
s_on_request (zo_pool_t *self, const void *ident, size_t ident_len, const zo_msg_t *msg)
{
    (*self->c [C_HTTP])++;
    char service [ZO_MAX_NAME + 1], method [ZO_MAX_METHOD + 1], path [ZO_MAX_TEXT + 1];
    s_cstr (msg->service, service, sizeof service);
    s_cstr (msg->method, method, sizeof method);
    s_cstr (msg->path, path, sizeof path);
    char reason [192];
    if (!self->services || !zo_services_has (self->services, service)) {
        (*self->c [C_REFUSED])++;
        snprintf (reason, sizeof reason, "no service '%s' (pool/services)", service);
        s_error (self, ident, ident_len, msg->seq, ZO_ERR_BAD_VALUE, reason);
        return;
    }
    if (msg->body.len > self->body_max) {
        (*self->c [C_REFUSED])++;
        snprintf (reason, sizeof reason, "a body of %u bytes, pool/body_max is %zu", msg->body.len,
                  self->body_max);
        s_error (self, ident, ident_len, msg->seq, ZO_ERR_TOO_LARGE, reason);
        return;
    }
    //  The request's own headers, str -> str, as "Name: value" lines.
    char *lines [S_HEADERS_MAX];
    size_t n = 0;
    bool bad = false;
    if (msg->headers.len) {
        zo_mp_t cur;
        zo_mp_init (&cur, msg->headers.ptr, msg->headers.len);
        uint32_t count;
        bad = zo_mp_read_map (&cur, &count) || count > S_HEADERS_MAX;
        for (uint32_t i = 0; !bad && i < count; i++) {
            zo_span_t k, v;
            bad = zo_mp_peek (&cur) != ZO_MP_STR || zo_mp_read_str (&cur, &k)
               || zo_mp_peek (&cur) != ZO_MP_STR || zo_mp_read_str (&cur, &v)
               || memchr (k.ptr, '\n', k.len) || memchr (v.ptr, '\n', v.len)
               || memchr (k.ptr, ':', k.len) || k.len == 0
               || asprintf (&lines [n], "%.*s: %.*s", (int) k.len, k.ptr, (int) v.len, v.ptr) < 0;
            if (!bad)
                n++;
        }
    }
    if (bad) {
        (*self->c [C_REFUSED])++;
        s_error (self, ident, ident_len, msg->seq, ZO_ERR_BAD_VALUE,
                 "REQUEST.headers: at most 64 name -> value strings, no ':' in a name, no newline");
    }
    else
    if (s_room (self, ident, ident_len, msg->seq)) {
        s_req_t *req = s_req_new (self, ident, ident_len, msg->seq);
        if (!req
        ||  zo_services_request (self->services, service, method, path, (const char *const *) lines, n,
                                 msg->body.ptr, msg->body.len, msg->timeout_ms, s_on_http, req)) {
            snprintf (reason, sizeof reason, "the request could not be started: %s",
                      req ? strerror (errno) : "out of memory");
            if (req)
                s_req_free (req);
            s_error (self, ident, ident_len, msg->seq, ZO_ERR_BAD_VALUE, reason);
        }
    }
    for (size_t i = 0; i < n; i++)
        free (lines [i]);
}

//  A span of the frame as a C string (not strndup: the frame has no NUL
//  after it to stop at).
static char *
s_dup (zo_span_t span)
{
    char *copy = malloc (span.len + 1);
    if (copy) {
        memcpy (copy, span.ptr, span.len);
        copy [span.len] = 0;
    }
    return copy;
}

static void
s_on_query (zo_pool_t *self, const void *ident, size_t ident_len, const zo_msg_t *msg)
{
    (*self->c [C_QUERIES])++;
    char database [ZO_MAX_NAME + 1], reason [192];
    s_cstr (msg->database, database, sizeof database);
    if (!self->databases || !zo_databases_has (self->databases, database)) {
        (*self->c [C_REFUSED])++;
        snprintf (reason, sizeof reason, "no database '%s' (pool/databases)", database);
        s_error (self, ident, ident_len, msg->seq, ZO_ERR_BAD_VALUE, reason);
        return;
    }
    if (!s_room (self, ident, ident_len, msg->seq))
        return;
    //  The statement and the parameters as C strings (a parameter is
    //  text; nil is SQL NULL), copied again by the database before the
    //  call returns.
    char *sql = s_dup (msg->sql);
    char **values = calloc (msg->n_values + 1, sizeof *values);
    size_t *lengths = calloc (msg->n_values + 1, sizeof *lengths);
    bool copied = sql && values && lengths;
    for (uint32_t i = 0; copied && i < msg->n_values; i++) {
        if (!msg->values [i].ptr)
            continue;
        lengths [i] = msg->values [i].len;
        copied = (values [i] = s_dup (msg->values [i])) != NULL;
    }
    s_req_t *req = copied ? s_req_new (self, ident, ident_len, msg->seq) : NULL;
    if (!req
    ||  zo_databases_query (self->databases, database, sql, msg->n_values,
                            (const char *const *) values, lengths, msg->timeout_ms, s_on_rows, req)) {
        snprintf (reason, sizeof reason, "the query could not be started: %s",
                  req ? strerror (errno) : "out of memory");
        if (req)
            s_req_free (req);
        s_error (self, ident, ident_len, msg->seq, ZO_ERR_BAD_VALUE, reason);
    }
    for (uint32_t i = 0; values && i < msg->n_values; i++)
        free (values [i]);
    free (sql);
    free (values);
    free (lengths);
}

static void
s_on_stats (void *arg)
{
    zo_pool_t *self = arg;
    *self->pending_gauge = (double) self->pending;
}

//  A request from the pool socket (zo_server answers PING, GET_STATS and
//  what it rejects).
static int
s_on_message (void *arg, const void *ident, size_t ident_len, const zo_msg_t *msg)
{
    zo_pool_t *self = arg;
    if (msg->cmd == ZO_CMD_REQUEST)
        s_on_request (self, ident, ident_len, msg);
    else
    if (msg->cmd == ZO_CMD_QUERY)
        s_on_query (self, ident, ident_len, msg);
    else
        return -1;
    *self->pending_gauge = (double) self->pending;
    return 0;
}

static int
s_on_drain (void *arg, int signum)
{
    zo_log_info ("pool: %s, stopping", signum == 2 ? "SIGINT" : "SIGTERM");
    return -1;
}

//  Pressure (zo_pressure): from step 1, idle connections are trimmed, and
//  trimmed again at every reading while the step holds (a service that
//  was busy, a connection opened meanwhile); at step 0 services keep
//  their max_conns idle connections again.
static void
s_on_pressure (void *arg, int step, int before)
{
    zo_pool_t *self = arg;
    bool trim = step >= 1;
    if (!trim && !self->trimming)
        return;
    if (trim != self->trimming) {
        self->trimming = trim;
        *self->trimmed_gauge = trim;
        zo_log_info ("pool: pressure step %d: idle connections %s", step,
                     trim ? "trimmed (one per service, databases down to min)" : "kept again");
        zo_stats_note (self->actor->stats, "pressure step %d: idle connections %s", step,
                       trim ? "trimmed" : "kept again");
    }
    int services = self->services ? zo_services_trim (self->services, trim) : 0;
    uint32_t conns = trim && self->databases ? zo_databases_trim (self->databases) : 0;
    if (services || conns)
        zo_log_info ("pool: pressure step %d: idle connections closed (%d service%s, %u database "
                     "connection%s)", step, services, services == 1 ? "" : "s", conns,
                     conns == 1 ? "" : "s");
}

//  ---------------------------------------------------------------------

zo_pool_t *
zo_pool_new (zo_actor_t *actor)
{
    assert (actor);
    zo_pool_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->actor = actor;
    self->loop = actor->loop;
    zo_conf_t *conf = actor->conf;
    for (int i = 0; i < C_COUNT; i++)
        self->c [i] = zo_stats_counter (actor->stats, s_counter_names [i]);
    self->pending_gauge = zo_stats_gauge (actor->stats, "pending");
    self->trimmed_gauge = zo_stats_gauge (actor->stats, "idle_trimmed");
    self->max_frame = zo_wire_conf_max_frame (conf);
    const char *endpoint = zo_conf_endpoint (conf, "pool/endpoint", "tcp://127.0.0.1:7014");
    self->body_max = (size_t) zo_conf_size_range (conf, "pool/body_max", 8 << 20, 64 << 10, 64 << 20);
    self->pending_max = (uint32_t) zo_conf_int_range (conf, "pool/pending_max", 10000, 1, 1000000);

    zo_service_conf_t services [S_ENTRIES_MAX];
    zo_database_conf_t databases [S_ENTRIES_MAX];
    char **lines [S_ENTRIES_MAX] = { NULL };
    int n_services = s_read_services (conf, services, lines);
    int n_databases = n_services < 0 ? -1 : s_read_databases (conf, databases);
    char error [256] = "";
    if (n_services > 0 && !(self->services = zo_services_new (self->loop, actor->stats, services,
                                                              (size_t) n_services, error, sizeof error)))
        zo_conf_refuse (conf, "pool/services: %s", error);
    if (self->services)
        zo_services_set_body_max (self->services, self->body_max);
    if (n_databases > 0 && !zo_conf_bad (conf)
    &&  !(self->databases = zo_databases_new (self->loop, actor->stats, databases,
                                              (size_t) n_databases, error, sizeof error)))
        zo_conf_refuse (conf, "pool/databases: %s", error);
    for (int i = 0; i < S_ENTRIES_MAX && lines [i]; i++) {
        for (char **l = lines [i]; *l; l++)
            free (*l);
        free (lines [i]);
    }
    if (zo_conf_bad (conf)) {
        zo_log_error ("pool: bad configuration: %s", zo_conf_errstr (conf));
        goto err;
    }
    if (!(self->server = zo_server_new (actor, endpoint, self->max_frame, "pool", s_on_message,
                                        s_on_stats, self)))
        goto err;
    if (!(self->drain = zo_drain_new (self->loop, 0, s_on_drain, NULL, self))) {
        zo_log_error ("pool: cannot set up its loop");
        goto err;
    }
    if (!(self->pressure = zo_pressure_src_start (actor, "pool", s_on_pressure, self)))
        goto err;
    zo_log_info ("pool: ready on %s, %d service%s, %d database%s", endpoint, n_services,
                 n_services == 1 ? "" : "s", n_databases, n_databases == 1 ? "" : "s");
    return self;
err:
    zo_pool_destroy (&self);
    return NULL;
}

void
zo_pool_destroy (zo_pool_t **self_p)
{
    assert (self_p);
    zo_pool_t *self = *self_p;
    if (!self)
        return;
    zo_drain_destroy (&self->drain);
    zo_pressure_src_destroy (&self->pressure);
    //  What is in flight is answered (with an error) before the socket
    //  closes.
    zo_services_destroy (&self->services);
    zo_databases_destroy (&self->databases);
    zo_server_destroy (&self->server);
    free (self);
    *self_p = NULL;
}
