/*  zo_hook_sink: a tiny HTTP receiver for webhook tests. Listens on
    127.0.0.1:PORT only, appends the body of every POST as one line to
    FILE (answering 200), and exits after SECONDS (bounded: a test that
    forgets it cannot leave it running).

    zo_hook_sink PORT FILE SECONDS
*/
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *data;
    size_t size;
} s_body_t;

static const char *s_file;

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload, size_t *upload_size, void **state)
{
    s_body_t *body = *state;
    if (!body) {
        body = calloc (1, sizeof (s_body_t));
        *state = body;
        return body? MHD_YES: MHD_NO;
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
    if (!strcmp (method, "POST")) {
        FILE *out = fopen (s_file, "a");
        if (out) {
            fprintf (out, "%s\n", body->data? body->data: "");
            fclose (out);
        }
    }
    static const char ok [] = "ok\n";
    struct MHD_Response *response = MHD_create_response_from_buffer (
        sizeof (ok) - 1, (void *) ok, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response (conn, MHD_HTTP_OK, response);
    MHD_destroy_response (response);
    return rc;
}

static void
s_done (void *cls, struct MHD_Connection *conn, void **state, enum MHD_RequestTerminationCode code)
{
    s_body_t *body = *state;
    if (body) {
        free (body->data);
        free (body);
        *state = NULL;
    }
}

int
main (int argc, char **argv)
{
    if (argc != 4) {
        fprintf (stderr, "usage: zo_hook_sink PORT FILE SECONDS\n");
        return 2;
    }
    s_file = argv [2];
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof (addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons ((uint16_t) atoi (argv [1]));
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    struct MHD_Daemon *daemon = MHD_start_daemon (MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
        s_access, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_NOTIFY_COMPLETED, s_done, NULL, MHD_OPTION_END);
    if (!daemon) {
        fprintf (stderr, "zo_hook_sink: cannot listen on 127.0.0.1:%s\n", argv [1]);
        return 1;
    }
    printf ("listening on 127.0.0.1:%s\n", argv [1]);
    fflush (stdout);
    sleep ((unsigned) atoi (argv [3]));
    MHD_stop_daemon (daemon);
    return 0;
}
