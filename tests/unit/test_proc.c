/*  Tests of actors/runtime/zo_proc.c: a child's exit status, its pipes,
    its signal mask and process group, a program that cannot run.  */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zo_loop.h"
#include "zo_proc.h"

static int
s_wait (pid_t pid)
{
    int status;
    cr_assert_eq (waitpid (pid, &status, 0), pid);
    return status;
}

Test (proc, exit_status_and_describe)
{
    char *argv [] = { "/bin/sh", "-c", "exit 3", NULL };
    zo_proc_opts_t opts = { .argv = argv };
    pid_t pid = zo_proc_spawn (&opts, NULL);
    cr_assert_gt (pid, 0);
    int status = s_wait (pid);
    cr_assert (WIFEXITED (status));
    cr_assert_eq (WEXITSTATUS (status), 3);
    char how [96];
    cr_assert_str_eq (zo_proc_describe (status, how, sizeof (how)), "exited with status 3");
}

//  Reads fd (non-blocking) until EOF, up to size - 1 bytes.
static void
s_read_all (int fd, char *buf, size_t size)
{
    size_t len = 0;
    while (len < size - 1) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        cr_assert_gt (poll (&pfd, 1, 5000), 0, "no output within 5 s");
        ssize_t n = read (fd, buf + len, size - 1 - len);
        if (n == 0)
            break;
        if (n < 0 && errno == EAGAIN)
            continue;
        cr_assert_gt (n, 0);
        len += (size_t) n;
    }
    buf [len] = 0;
}

//  The child reads its stdin, writes stdout and stderr, and sees an empty
//  signal mask and a group of its own, although this process blocks the
//  loop's signals (as every actor does).
Test (proc, pipes_mask_and_group)
{
    zo_signals_block ();
    char *argv [] = { "/bin/sh", "-c",
        "read line; echo \"got $line\"; grep SigBlk /proc/self/status >&2; "
        "ps -o pgid= -p $$ | tr -d ' ' >&2", NULL };
    zo_proc_opts_t opts = { .argv = argv, .pipes = true, .own_group = true };
    int fds [3];
    pid_t pid = zo_proc_spawn (&opts, fds);
    cr_assert_gt (pid, 0);
    cr_assert_eq (write (fds [0], "hello\n", 6), 6);
    close (fds [0]);
    char out [256], err [512];
    s_read_all (fds [1], out, sizeof (out));
    s_read_all (fds [2], err, sizeof (err));
    close (fds [1]);
    close (fds [2]);
    int status = s_wait (pid);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "%s", err);
    cr_assert_str_eq (out, "got hello\n");
    cr_assert (strstr (err, "SigBlk:\t0000000000000000"), "child's mask: %s", err);
    char group [32];
    snprintf (group, sizeof (group), "\n%d\n", (int) pid);
    cr_assert (strstr (err, group), "child's group is not its own pid %d: %s", (int) pid, err);
}

Test (proc, log_path_gets_both_streams)
{
    char path [] = "/tmp/zo-test-proc-XXXXXX";
    int fd = mkstemp (path);
    cr_assert_geq (fd, 0);
    char *argv [] = { "/bin/sh", "-c", "echo out; echo err >&2", NULL };
    zo_proc_opts_t opts = { .argv = argv, .log_path = path };
    pid_t pid = zo_proc_spawn (&opts, NULL);
    cr_assert_gt (pid, 0);
    s_wait (pid);
    char buf [64] = "";
    cr_assert_gt (read (fd, buf, sizeof (buf) - 1), 0);
    cr_assert_str_eq (buf, "out\nerr\n");
    close (fd);
    unlink (path);
}

Test (proc, a_program_that_cannot_run)
{
    char *argv [] = { "/nonexistent/zorch-nothing", NULL };
    zo_proc_opts_t opts = { .argv = argv, .pipes = true };
    int fds [3] = { -1, -1, -1 };
    errno = 0;
    cr_assert_eq (zo_proc_spawn (&opts, fds), -1);
    cr_assert_eq (errno, ENOENT);
    cr_assert_eq (fds [0], -1, "no pipes handed out on failure");
    opts.argv = NULL;
    cr_assert_eq (zo_proc_spawn (&opts, fds), -1);
    cr_assert_eq (errno, EINVAL);
}
