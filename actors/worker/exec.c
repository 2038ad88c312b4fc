/*  exec: see exec.h.  */
#include "exec.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zo_json.h"
#include "zo_proc.h"
#include "zo_conf.h"


typedef struct {
    char *command;
    size_t max_output;
} s_route_t;

typedef struct zo_exec_run zo_exec_run_t;

struct zo_exec_run {
    struct zo_exec_run *next;
    zo_inflight_t *inflight;
    zo_slot_t *slot;            /* NULL once the event ended (timeout) */
    pid_t pid;
    int in_fd, out_fd, err_fd;
    zo_watch_t *in_watch, *out_watch, *err_watch;
    char *input;
    size_t in_len, in_off;
    char *out;
    size_t out_len, out_cap, max_output;
    bool overflow;
    char err [ZO_EXEC_ERR_TAIL];
    size_t err_len;             /* bytes kept in err (the tail) */
    bool exited;
    int status;
};

/*  An event's state: its program, while it runs.  */
typedef struct {
    zo_exec_run_t *run;
} s_event_t;

typedef struct {
    zo_loop_t *loop;
    zo_exec_run_t *runs;
    size_t n_runs;
    bool on_signal;
    int ticker;
} s_state_t;

static void s_run_end (zo_exec_run_t *run);
static void s_cancel (zo_slot_t *slot);

static int
s_bind (zo_route_t *route, char *why, size_t why_size)
{
    const char *command = zo_route_opt (route, "command", NULL);
    if (!command || !*command) {
        snprintf (why, why_size, "exec needs a command");
        return -1;
    }
    s_route_t *state = calloc (1, sizeof (*state));
    if (!state || !(state->command = strdup (command))) {
        free (state);
        snprintf (why, why_size, "out of memory");
        return -1;
    }
    state->max_output = ZO_EXEC_MAX_OUTPUT;
    const char *max = zo_route_opt (route, "max_output", NULL);
    if (max) {
        uint64_t bytes;
        if (zo_conf_parse_size (max, &bytes) || bytes == 0)
            snprintf (why, why_size, "bad max_output '%s', using 1M", max);
        else
            state->max_output = bytes > ZO_MAX_FRAME ? ZO_MAX_FRAME : (size_t) bytes;
        if (state->max_output > ZO_MAX_FRAME / 2)
            state->max_output = ZO_MAX_FRAME / 2;
    }
    route->state = state;
    return 0;
}

static void
s_fini (zo_route_t *route)
{
    s_route_t *state = route->state;
    if (state)
        free (state->command);
    free (state);
    route->state = NULL;
}

static s_state_t *
s_state (zo_inflight_t *inflight)
{
    void **slot = zo_inflight_exec_state (inflight);
    if (!*slot) {
        s_state_t *state = calloc (1, sizeof (s_state_t));
        if (!state)
            return NULL;
        state->loop = zo_inflight_loop (inflight);
        *slot = state;
    }
    return *slot;
}

static int
s_on_sigchld (zo_loop_t *loop, int signum, void *arg)
{
    zo_exec_reap (arg);
    return 0;
}

static int
s_on_tick (zo_loop_t *loop, int id, void *arg)
{
    zo_exec_reap (arg);
    return 0;
}

static void
s_close_fd (zo_exec_run_t *run, int *fd, zo_watch_t **watch)
{
    if (*fd >= 0) {
        s_state_t *state = s_state (run->inflight);
        zo_loop_unwatch (state->loop, watch);
        close (*fd);
        *fd = -1;
    }
}

/*  Reads what a pipe holds now. Returns false at EOF or on error.  */
static bool
s_read_out (zo_exec_run_t *run)
{
    while (run->out_fd >= 0) {
        if (run->out_len == run->out_cap) {
            if (run->out_cap >= run->max_output) {
                run->overflow = true;
                kill (-run->pid, SIGKILL);
                return false;
            }
            size_t cap = run->out_cap ? run->out_cap * 2 : 4096;
            if (cap > run->max_output)
                cap = run->max_output;
            char *buf = realloc (run->out, cap + 1);
            if (!buf)
                return false;
            run->out = buf;
            run->out_cap = cap;
        }
        ssize_t n = read (run->out_fd, run->out + run->out_len, run->out_cap - run->out_len);
        if (n > 0)
            run->out_len += (size_t) n;
        else
        if (n < 0 && errno == EINTR)
            continue;
        else
            return n < 0 && errno == EAGAIN;
    }
    return false;
}

static bool
s_read_err (zo_exec_run_t *run)
{
    char buf [4096];
    while (run->err_fd >= 0) {
        ssize_t n = read (run->err_fd, buf, sizeof (buf));
        if (n > 0) {
            /*  Keep only the last ZO_EXEC_ERR_TAIL bytes.  */
            size_t len = (size_t) n;
            if (len >= ZO_EXEC_ERR_TAIL) {
                memcpy (run->err, buf + len - ZO_EXEC_ERR_TAIL, ZO_EXEC_ERR_TAIL);
                run->err_len = ZO_EXEC_ERR_TAIL;
            }
            else {
                size_t keep = run->err_len + len > ZO_EXEC_ERR_TAIL ? ZO_EXEC_ERR_TAIL - len
                                                                    : run->err_len;
                memmove (run->err, run->err + run->err_len - keep, keep);
                memcpy (run->err + keep, buf, len);
                run->err_len = keep + len;
            }
        }
        else
        if (n < 0 && errno == EINTR)
            continue;
        else
            return n < 0 && errno == EAGAIN;
    }
    return false;
}

static int
s_on_stdout (zo_loop_t *loop, int fd, short revents, void *arg)
{
    zo_exec_run_t *run = arg;
    if (!s_read_out (run))
        s_close_fd (run, &run->out_fd, &run->out_watch);
    return 0;
}

static int
s_on_stderr (zo_loop_t *loop, int fd, short revents, void *arg)
{
    zo_exec_run_t *run = arg;
    if (!s_read_err (run))
        s_close_fd (run, &run->err_fd, &run->err_watch);
    return 0;
}

static int
s_on_stdin (zo_loop_t *loop, int fd, short revents, void *arg)
{
    zo_exec_run_t *run = arg;
    while (run->in_off < run->in_len) {
        ssize_t n = write (run->in_fd, run->input + run->in_off, run->in_len - run->in_off);
        if (n > 0)
            run->in_off += (size_t) n;
        else
        if (n < 0 && errno == EINTR)
            continue;
        else
        if (n < 0 && errno == EAGAIN)
            return 0;
        else
            break;              /* EPIPE: the program does not read stdin */
    }
    s_close_fd (run, &run->in_fd, &run->in_watch);
    free (run->input);
    run->input = NULL;
    return 0;
}

static char *
s_event_json (zo_slot_t *slot)
{
    json_t *payload = zo_json_from_span (slot->item.event.payload);
    json_t *root = json_pack ("{s:s, s:s, s:s, s:o, s:I}", "id", slot->id, "type", slot->type,
                              "source", slot->source, "payload", payload ? payload : json_null (),
                              "attempt", (json_int_t) slot->item.attempt);
    if (!root)
        return NULL;
    char *text = json_dumps (root, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref (root);
    return text;
}

static void
s_start (zo_slot_t *slot)
{
    s_route_t *route = slot->route->state;
    s_state_t *state = s_state (slot->owner);
    zo_exec_run_t *run = state ? calloc (1, sizeof (*run)) : NULL;
    const char *error = "exec: out of memory";
    if (!run)
        goto fail;
    run->inflight = slot->owner;
    run->in_fd = run->out_fd = run->err_fd = -1;
    run->max_output = route->max_output;
    run->input = s_event_json (slot);
    if (!run->input)
        goto fail;
    run->in_len = strlen (run->input);
    /*  The worker blocks the signals its loop reads: zo_proc gives the
        child an empty mask and default dispositions back, and a process
        group of its own so a timeout kills all of it.  */
    char *argv [] = { "/bin/sh", "-c", route->command, NULL };
    zo_proc_opts_t opts = { .argv = argv, .own_group = true, .pipes = true };
    int fds [3];
    run->pid = zo_proc_spawn (&opts, fds);
    if (run->pid < 0) {
        error = "exec: cannot start /bin/sh";
        goto fail;
    }
    run->in_fd = fds [0];
    run->out_fd = fds [1];
    run->err_fd = fds [2];

    run->slot = slot;
    ((s_event_t *) zo_slot_state (slot))->run = run;
    run->next = state->runs;
    state->runs = run;
    state->n_runs++;
    if (!state->on_signal && zo_loop_on_signal (state->loop, SIGCHLD, s_on_sigchld, slot->owner) == 0)
        state->on_signal = true;
    if (!state->ticker)
        state->ticker = zo_loop_ticker (state->loop, 100, s_on_tick, slot->owner);
    run->in_watch = zo_loop_add_fd (state->loop, run->in_fd, ZMQ_POLLOUT, s_on_stdin, run);
    run->out_watch = zo_loop_add_fd (state->loop, run->out_fd, ZMQ_POLLIN, s_on_stdout, run);
    run->err_watch = zo_loop_add_fd (state->loop, run->err_fd, ZMQ_POLLIN, s_on_stderr, run);
    if (!run->in_watch || !run->out_watch || !run->err_watch) {
        /*  Without its pipes watched the event could never end: stop the
            program now (the reaper collects it) and fail the event.  */
        zsys_error ("exec: cannot watch the pipes of %s: %s", route->command, strerror (errno));
        s_cancel (slot);
        zo_slot_complete (slot, false, (zo_span_t) { NULL, 0 },
                          "exec: cannot watch the program's pipes", false);
    }
    return;
fail:
    if (run)
        free (run->input);
    free (run);
    zo_slot_complete (slot, false, (zo_span_t) { NULL, 0 }, error, false);
}

/*  The event ends (timeout, stop): kill the group, let the reaper collect
    the process later.  */
static void
s_cancel (zo_slot_t *slot)
{
    s_event_t *event = zo_slot_state (slot);
    zo_exec_run_t *run = event->run;
    if (!run)
        return;
    kill (-run->pid, SIGKILL);
    run->slot = NULL;
    event->run = NULL;
    s_close_fd (run, &run->in_fd, &run->in_watch);
    s_close_fd (run, &run->out_fd, &run->out_watch);
    s_close_fd (run, &run->err_fd, &run->err_watch);
}

/*  The program exited: take what its pipes still hold and end the event.  */
static void
s_complete (zo_exec_run_t *run)
{
    zo_slot_t *slot = run->slot;
    if (run->out_fd >= 0)
        s_read_out (run);
    if (run->err_fd >= 0)
        s_read_err (run);
    run->slot = NULL;
    ((s_event_t *) zo_slot_state (slot))->run = NULL;
    char error [ZO_EXEC_ERR_TAIL + 128];
    if (run->overflow) {
        snprintf (error, sizeof (error), "exec: output larger than %zu bytes", run->max_output);
        zo_slot_complete (slot, false, (zo_span_t) { NULL, 0 }, error, false);
        return;
    }
    int st = run->status;
    if (!WIFEXITED (st) || WEXITSTATUS (st) != 0) {
        int n = WIFEXITED (st) ? snprintf (error, sizeof (error), "exit status %d", WEXITSTATUS (st))
                               : snprintf (error, sizeof (error), "killed by signal %d", WTERMSIG (st));
        size_t len = run->err_len;
        while (len && (run->err [len - 1] == '\n' || run->err [len - 1] == '\r'))
            len--;
        if (len)
            snprintf (error + n, sizeof (error) - (size_t) n, ": %.*s", (int) len, run->err);
        zo_slot_complete (slot, false, (zo_span_t) { NULL, 0 }, error, false);
        return;
    }
    size_t len = run->out_len;
    while (len && (run->out [len - 1] == '\n' || run->out [len - 1] == '\r'))
        len--;
    if (len == 0) {
        zo_slot_complete (slot, true, (zo_span_t) { NULL, 0 }, NULL, false);
        return;
    }
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    json_error_t jerr;
    json_t *json = json_loadb (run->out, len, JSON_DECODE_ANY, &jerr);
    if (!json || zo_json_pack (&pk, json)) {
        sbuf.size = 0;
        msgpack_pack_str (&pk, len);
        msgpack_pack_str_body (&pk, run->out, len);
    }
    json_decref (json);
    zo_slot_complete (slot, true, (zo_span_t) { (const uint8_t *) sbuf.data, (uint32_t) sbuf.size },
                      NULL, false);
    msgpack_sbuffer_destroy (&sbuf);
}

static void
s_run_end (zo_exec_run_t *run)
{
    s_close_fd (run, &run->in_fd, &run->in_watch);
    s_close_fd (run, &run->out_fd, &run->out_watch);
    s_close_fd (run, &run->err_fd, &run->err_watch);
    free (run->input);
    free (run->out);
    free (run);
}

int
zo_exec_reap (zo_inflight_t *inflight)
{
    s_state_t *state = *zo_inflight_exec_state (inflight);
    if (!state)
        return 0;
    int reaped = 0;
    zo_exec_run_t **link = &state->runs;
    while (*link) {
        zo_exec_run_t *run = *link;
        int status;
        pid_t pid = waitpid (run->pid, &status, WNOHANG);
        if (pid == 0 || (pid < 0 && errno == EINTR)) {
            link = &run->next;
            continue;
        }
        /*  Exited (or, pid < 0, already gone: ECHILD).  */
        *link = run->next;
        state->n_runs--;
        reaped++;
        run->exited = true;
        run->status = pid > 0 ? status : (W_EXITCODE (127, 0));
        /*  Whatever it left behind in its group goes too.  */
        kill (-run->pid, SIGKILL);
        if (run->slot)
            s_complete (run);
        s_run_end (run);
    }
    if (!state->runs && state->ticker) {
        zo_loop_cancel (state->loop, state->ticker);
        state->ticker = 0;
    }
    return reaped;
}

size_t
zo_exec_running (zo_inflight_t *inflight)
{
    s_state_t *state = *zo_inflight_exec_state (inflight);
    return state ? state->n_runs : 0;
}

void
zo_exec_destroy (zo_inflight_t *inflight)
{
    void **slot = zo_inflight_exec_state (inflight);
    s_state_t *state = *slot;
    if (!state)
        return;
    while (state->runs) {
        zo_exec_run_t *run = state->runs;
        state->runs = run->next;
        kill (-run->pid, SIGKILL);
        while (waitpid (run->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        if (run->slot)
            ((s_event_t *) zo_slot_state (run->slot))->run = NULL;
        s_run_end (run);
    }
    if (state->ticker)
        zo_loop_cancel (state->loop, state->ticker);
    free (state);
    *slot = NULL;
}

const zo_kind_t zo_kind_exec = {
    .name = "exec", .event_size = sizeof (s_event_t),
    .bind = s_bind, .fini = s_fini, .start = s_start, .cancel = s_cancel
};
