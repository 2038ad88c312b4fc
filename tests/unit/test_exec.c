/*  Tests of actors/worker/exec.c: programs run per event without blocking
    the loop, results from stdout, failures with stderr, timeouts that kill
    the whole process group, and no zombie left behind.  */
#include "test_worker_util.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"

static t_rec_t rec;
static zo_loop_t *loop;
static zo_routes_t *routes;
static zo_inflight_t *inflight;
static char dir [64];

static void
s_route (const char *match, const char *command, uint64_t timeout_ms)
{
    const char *opts [] = { "command", command, NULL };
    cr_assert_eq (zo_routes_add (routes, match, "exec", timeout_ms, 0, opts), 0,
                  "%s", zo_routes_errstr (routes));
}

static void
s_setup (void)
{
    zo_signals_block ();
    memset (&rec, 0, sizeof (rec));
    loop = zo_loop_new ();
    rec.loop = loop;
    routes = zo_routes_new (5000, 2, NULL);
    snprintf (dir, sizeof (dir), "/tmp/zo_test_exec_XXXXXX");
    cr_assert (mkdtemp (dir));
}

static void
s_start (void)
{
    inflight = zo_inflight_new (loop, routes, 16, NULL, t_sink, &rec);
    cr_assert (inflight);
}

static void
s_teardown (void)
{
    zo_inflight_destroy (&inflight);
    zo_routes_destroy (&routes);
    zo_loop_destroy (&loop);
    char cmd [128];
    snprintf (cmd, sizeof (cmd), "rm -rf %s", dir);
    cr_assert_eq (system (cmd), 0);
}

static pid_t
s_read_pid (const char *name)
{
    char path [128];
    snprintf (path, sizeof (path), "%s/%s", dir, name);
    FILE *f = fopen (path, "r");
    cr_assert (f, "no %s", path);
    int pid = 0;
    cr_assert_eq (fscanf (f, "%d", &pid), 1);
    fclose (f);
    return pid;
}

/*  True if pid is gone for good (reaped): not even a zombie.  */
static bool
s_gone (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof (path), "/proc/%d/stat", pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return true;
    char state = 0;
    int rc = fscanf (f, "%*d %*s %c", &state);
    fclose (f);
    (void) rc;
    fprintf (stderr, "pid %d still in /proc, state %c\n", pid, state);
    return false;
}

Test (exec, json_result_from_stdout)
{
    s_setup ();
    /*  The program reads the event from stdin (JSON) and answers JSON.  */
    s_route ("json.*", "read line; echo \"$line\" | sed 's/^/{\"got\":/; s/$/}/'", 0);
    s_route ("text.*", "cat >/dev/null; printf 'hello world\\n'", 0);
    s_route ("quiet.*", "true", 0);
    s_start ();
    zo_item_t a = t_item ("x1", "json.in", "{\"k\":[1,2]}", 1, 0);
    zo_item_t b = t_item ("x2", "text.in", NULL, 1, 0);
    zo_item_t c = t_item ("x3", "quiet.in", NULL, 1, 0);
    zo_inflight_start (inflight, &a, NULL);
    zo_inflight_start (inflight, &b, NULL);
    zo_inflight_start (inflight, &c, NULL);
    cr_assert_eq (rec.n, 0, "exec must not block");
    t_run (&rec, 3, 5000);
    cr_assert_eq (rec.n, 3);
    for (int i = 0; i < 3; i++) {
        t_out_t *o = &rec.out [i];
        cr_assert (o->ok, "%s: %s", o->id, o->error);
        if (streq (o->id, "x1"))
            cr_assert_str_eq (o->result, "{\"got\":{\"attempt\":1,\"id\":\"x1\",\"payload\":{\"k\":[1,2]},"
                                         "\"source\":\"\",\"type\":\"json.in\"}}");
        else
        if (streq (o->id, "x2"))
            cr_assert_str_eq (o->result, "\"hello world\"");
        else
            cr_assert_str_eq (o->result, "");
    }
    cr_assert_eq (zo_exec_running (inflight), 0);
    s_teardown ();
}

Test (exec, nonzero_exit_fails_with_stderr_tail)
{
    s_setup ();
    s_route ("bad", "echo partial; echo 'something broke' >&2; exit 3", 0);
    /*  A lot of stderr: only the tail is kept.  */
    s_route ("loud", "i=0; while [ $i -lt 2000 ]; do echo \"line $i\" >&2; i=$((i+1)); done; exit 1", 0);
    s_start ();
    zo_item_t a = t_item ("b1", "bad", NULL, 1, 0);
    zo_item_t b = t_item ("b2", "loud", NULL, 2, 0);
    zo_inflight_start (inflight, &a, NULL);
    zo_inflight_start (inflight, &b, NULL);
    t_run (&rec, 2, 10000);
    cr_assert_eq (rec.n, 2);
    for (int i = 0; i < 2; i++) {
        t_out_t *o = &rec.out [i];
        cr_assert_not (o->ok);
        if (streq (o->id, "b1")) {
            cr_assert_str_eq (o->error, "exit status 3: something broke");
            cr_assert_not (o->final);
        }
        else {
            cr_assert (strncmp (o->error, "exit status 1: ", 15) == 0, "%s", o->error);
            cr_assert (strstr (o->error, "line 1999"), "the tail is kept");
            cr_assert_null (strstr (o->error, "line 0\n"), "the head is not");
            cr_assert_leq (strlen (o->error), ZO_EXEC_ERR_TAIL + 64);
            cr_assert (o->final, "attempt 2 of 2");
        }
    }
    s_teardown ();
}

Test (exec, timeout_kills_group_and_reaps)
{
    s_setup ();
    char command [512];
    /*  The shell ignores SIGTERM and waits on a child of its own: only a
        SIGKILL to the whole group ends both.  */
    snprintf (command, sizeof (command),
              "echo $$ > %s/sh.pid; trap '' TERM; sleep 30 & echo $! > %s/child.pid; wait; wait",
              dir, dir);
    s_route ("slow", command, 200);
    s_start ();
    zo_item_t a = t_item ("k1", "slow", NULL, 1, 0);
    uint64_t start = zo_clock_mono_ns ();
    zo_inflight_start (inflight, &a, NULL);
    t_run (&rec, 1, 5000);
    uint64_t took_ms = (zo_clock_mono_ns () - start) / 1000000;
    cr_assert_eq (rec.n, 1);
    cr_assert_not (rec.out [0].ok);
    cr_assert_str_eq (rec.out [0].error, "timeout after 200 ms");
    cr_assert_geq (took_ms, 199);
    cr_assert_lt (took_ms, 2000);
    pid_t sh = s_read_pid ("sh.pid");
    pid_t child = s_read_pid ("child.pid");
    /*  Let the loop reap (SIGCHLD, or the fallback ticker).  */
    for (int i = 0; i < 40 && zo_exec_running (inflight); i++) {
        int id = zo_loop_timer (loop, 50, t_give_up, NULL);
        zo_loop_run (loop);
        zo_loop_cancel (loop, id);
    }
    cr_assert_eq (zo_exec_running (inflight), 0);
    cr_assert (s_gone (sh), "the shell was reaped: no zombie");
    errno = 0;
    cr_assert_eq (waitpid (sh, NULL, WNOHANG), -1);
    cr_assert_eq (errno, ECHILD, "nothing left to wait for");
    /*  The grandchild got SIGKILL too (it is not ours to reap; check it is
        no longer running).  */
    bool dead = false;
    for (int i = 0; i < 50 && !dead; i++) {
        char path [64], state = 0;
        snprintf (path, sizeof (path), "/proc/%d/stat", child);
        FILE *f = fopen (path, "r");
        if (!f)
            dead = true;
        else {
            dead = fscanf (f, "%*d %*s %c", &state) == 1 && state == 'Z';
            fclose (f);
        }
        if (!dead)
            usleep (20000);
    }
    cr_assert (dead, "the group's other process was killed");
    s_teardown ();
}

Test (exec, output_is_bounded)
{
    s_setup ();
    const char *opts [] = { "command", "head -c 300000 /dev/zero | tr '\\0' a", "max_output", "64K", NULL };
    cr_assert_eq (zo_routes_add (routes, "big", "exec", 0, 0, opts), 0);
    s_start ();
    zo_item_t a = t_item ("o1", "big", NULL, 1, 0);
    zo_inflight_start (inflight, &a, NULL);
    t_run (&rec, 1, 5000);
    cr_assert_eq (rec.n, 1);
    cr_assert_not (rec.out [0].ok);
    cr_assert (strstr (rec.out [0].error, "output larger than 65536 bytes"), "%s", rec.out [0].error);
    for (int i = 0; i < 40 && zo_exec_running (inflight); i++) {
        int id = zo_loop_timer (loop, 50, t_give_up, NULL);
        zo_loop_run (loop);
        zo_loop_cancel (loop, id);
    }
    cr_assert_eq (zo_exec_running (inflight), 0);
    s_teardown ();
}

Test (exec, many_at_once)
{
    s_setup ();
    s_route ("n", "cat", 0);
    s_start ();
    char ids [12] [16];
    for (int i = 0; i < 12; i++) {
        snprintf (ids [i], sizeof (ids [i]), "m%d", i);
        zo_item_t item = t_item (ids [i], "n", "[\"x\"]", 1, 0);
        cr_assert_eq (zo_inflight_start (inflight, &item, NULL), 0);
    }
    t_run (&rec, 12, 10000);
    cr_assert_eq (rec.n, 12);
    for (int i = 0; i < 12; i++) {
        cr_assert (rec.out [i].ok, "%s", rec.out [i].error);
        cr_assert (strstr (rec.out [i].result, "\"payload\":[\"x\"]"), "%s", rec.out [i].result);
    }
    s_teardown ();
}
