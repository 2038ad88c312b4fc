/*  zo_http_fixture: a small HTTP server for the pool's tests and
    benchmarks. Listens on 127.0.0.1:PORT only, a thread per connection
    (so /slow holds only its own), keep-alive, and exits after SECONDS
    (bounded: a test that forgets it cannot leave it running).

        zo_http_fixture PORT SECONDS

        GET  /ok             200 "ok"
        ANY  /echo           200 {"method","path","body","authorization"}
        ANY  /status/NNN     that status, body "status NNN"
        ANY  /flaky/K/NAME   503 for the first K requests to that path, then 200
        ANY  /slow/MS        200 after MS milliseconds
        ANY  /busy/S/NAME    429 with Retry-After: S the first time, then 200
        GET  /stats          {"connections": opened so far, "requests": served so far}
*/
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *data;
    size_t size;
} s_body_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long s_connections, s_requests;
#define S_FLAKY_MAX 64
static struct { char path [128]; unsigned long seen; } s_flaky [S_FLAKY_MAX];

static enum MHD_Result
s_reply (struct MHD_Connection *conn, unsigned status, const char *text)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (strlen (text), (void *) text,
                                                                      MHD_RESPMEM_MUST_COPY);
    if (!response)
        return MHD_NO;
    enum MHD_Result rc = MHD_queue_response (conn, status, response);
    MHD_destroy_response (response);
    return rc;
}

//  How many requests to path came before this one.
static unsigned long
s_flaky_seen (const char *path)
{
    pthread_mutex_lock (&s_lock);
    unsigned long seen = 0;
    for (int i = 0; i < S_FLAKY_MAX; i++)
        if (!s_flaky [i].path [0] || strcmp (s_flaky [i].path, path) == 0) {
            snprintf (s_flaky [i].path, sizeof s_flaky [i].path, "%s", path);
            seen = s_flaky [i].seen++;
            break;
        }
    pthread_mutex_unlock (&s_lock);
    return seen;
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload, size_t *upload_size, void **state)
{
    s_body_t *body = *state;
    if (!body) {
        *state = body = calloc (1, sizeof (s_body_t));
        return body ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        if (body->size + *upload_size < 1024 * 1024) {
            char *grown = realloc (body->data, body->size + *upload_size + 1);
            if (!grown)
                return MHD_NO;
            body->data = grown;
            memcpy (body->data + body->size, upload, *upload_size);
            body->size += *upload_size;
            body->data [body->size] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock (&s_lock);
    s_requests++;
    unsigned long connections = s_connections, requests = s_requests;
    pthread_mutex_unlock (&s_lock);
    char text [2048];
    unsigned status, k, ms;
    char name [64];
    if (strcmp (url, "/ok") == 0)
        return s_reply (conn, 200, "ok");
    if (strcmp (url, "/stats") == 0) {
        snprintf (text, sizeof text, "{\"connections\": %lu, \"requests\": %lu}", connections, requests);
        return s_reply (conn, 200, text);
    }
    if (strcmp (url, "/echo") == 0) {
        const char *auth = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Authorization");
        //  The body as a JSON string: quotes and backslashes escaped,
        //  control bytes dropped.
        char escaped [1000];
        size_t e = 0;
        for (size_t i = 0; body->data && i < body->size && e + 2 < sizeof escaped; i++) {
            char c = body->data [i];
            if (c == '"' || c == '\\')
                escaped [e++] = '\\';
            if ((unsigned char) c >= 0x20)
                escaped [e++] = c;
        }
        escaped [e] = 0;
        snprintf (text, sizeof text, "{\"method\": \"%s\", \"path\": \"%s\", \"body\": \"%s\", "
                  "\"authorization\": \"%s\"}", method, url, escaped, auth ? auth : "");
        return s_reply (conn, 200, text);
    }
    if (sscanf (url, "/status/%u", &status) == 1 && status >= 100 && status < 600) {
        snprintf (text, sizeof text, "status %u", status);
        return s_reply (conn, status, text);
    }
    if (sscanf (url, "/flaky/%u/%63s", &k, name) == 2)
        return s_flaky_seen (url) < k ? s_reply (conn, 503, "not yet") : s_reply (conn, 200, "ok now");
    if (sscanf (url, "/busy/%u/%63s", &k, name) == 2 && s_flaky_seen (url) == 0) {
        struct MHD_Response *response = MHD_create_response_from_buffer (4, (void *) "busy",
                                                                          MHD_RESPMEM_PERSISTENT);
        if (!response)
            return MHD_NO;
        snprintf (text, sizeof text, "%u", k);
        MHD_add_response_header (response, "Retry-After", text);
        enum MHD_Result rc = MHD_queue_response (conn, 429, response);
        MHD_destroy_response (response);
        return rc;
    }
    if (sscanf (url, "/busy/%u/%63s", &k, name) == 2)
        return s_reply (conn, 200, "ok after the wait");
    if (sscanf (url, "/slow/%u", &ms) == 1 && ms <= 60000) {
        usleep (ms * 1000);
        return s_reply (conn, 200, "slow ok");
    }
    return s_reply (conn, 404, "no such path");
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **state, enum MHD_RequestTerminationCode why)
{
    s_body_t *body = *state;
    if (body) {
        free (body->data);
        free (body);
    }
    *state = NULL;
}

static void
s_notify (void *cls, struct MHD_Connection *conn, void **socket_context,
          enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock (&s_lock);
        s_connections++;
        pthread_mutex_unlock (&s_lock);
    }
}

int
main (int argc, char **argv)
{
    if (argc != 3) {
        fprintf (stderr, "usage: zo_http_fixture PORT SECONDS\n");
        return 2;
    }
    int port = atoi (argv [1]), seconds = atoi (argv [2]);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    struct MHD_Daemon *daemon = MHD_start_daemon (
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t) port, NULL, NULL,
        s_access, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_COMPLETED, s_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, s_notify, NULL, MHD_OPTION_CONNECTION_LIMIT, 1000,
        MHD_OPTION_CONNECTION_TIMEOUT, 30, MHD_OPTION_END);
    if (!daemon) {
        fprintf (stderr, "zo_http_fixture: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    printf ("listening on 127.0.0.1:%d\n", port);
    fflush (stdout);
    sleep ((unsigned) seconds);
    MHD_stop_daemon (daemon);
    return 0;
}
