/*  zo_proc: see zo_proc.h.  */
#include "zo_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void
s_close_pair (int pair [2])
{
    for (int i = 0; i < 2; i++)
        if (pair [i] >= 0) {
            close (pair [i]);
            pair [i] = -1;
        }
}

pid_t
zo_proc_spawn (const zo_proc_opts_t *opts, int fds [3])
{
    if (!opts || !opts->argv || !opts->argv [0] || (opts->pipes && !fds)) {
        errno = EINVAL;
        return -1;
    }
    int in [2] = { -1, -1 }, out [2] = { -1, -1 }, err [2] = { -1, -1 };
    if (opts->pipes
    &&  (pipe2 (in, O_CLOEXEC) || pipe2 (out, O_CLOEXEC) || pipe2 (err, O_CLOEXEC))) {
        int saved = errno;
        s_close_pair (in);
        s_close_pair (out);
        s_close_pair (err);
        errno = saved;
        return -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init (&actions);
    posix_spawnattr_init (&attr);
    if (opts->pipes) {
        posix_spawn_file_actions_adddup2 (&actions, in [0], 0);
        posix_spawn_file_actions_adddup2 (&actions, out [1], 1);
        posix_spawn_file_actions_adddup2 (&actions, err [1], 2);
    }
    else
    if (opts->log_path) {
        posix_spawn_file_actions_addopen (&actions, 1, opts->log_path,
                                          O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2 (&actions, 1, 2);
    }
    sigset_t empty, dflt;
    sigemptyset (&empty);
    sigemptyset (&dflt);
    int dflt_signals [] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGQUIT };
    for (size_t i = 0; i < sizeof (dflt_signals) / sizeof (dflt_signals [0]); i++)
        sigaddset (&dflt, dflt_signals [i]);
    posix_spawnattr_setsigmask (&attr, &empty);
    posix_spawnattr_setsigdefault (&attr, &dflt);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (opts->own_group) {
        posix_spawnattr_setpgroup (&attr, 0);
        flags |= POSIX_SPAWN_SETPGROUP;
    }
    posix_spawnattr_setflags (&attr, flags);
    pid_t pid;
    int rc = posix_spawn (&pid, opts->argv [0], &actions, &attr, opts->argv,
                          opts->envp? opts->envp: environ);
    posix_spawn_file_actions_destroy (&actions);
    posix_spawnattr_destroy (&attr);
    if (rc) {
        s_close_pair (in);
        s_close_pair (out);
        s_close_pair (err);
        errno = rc;
        return -1;
    }
    if (opts->pipes) {
        close (in [0]);
        close (out [1]);
        close (err [1]);
        fds [0] = in [1];
        fds [1] = out [0];
        fds [2] = err [0];
        for (int i = 0; i < 3; i++)
            fcntl (fds [i], F_SETFL, O_NONBLOCK);
    }
    return pid;
}

const char *
zo_proc_describe (int status, char *buf, size_t size)
{
    if (WIFSIGNALED (status))
        snprintf (buf, size, "was killed by signal %d (%s)", WTERMSIG (status),
                  strsignal (WTERMSIG (status)));
    else
        snprintf (buf, size, "exited with status %d", WEXITSTATUS (status));
    return buf;
}

const char *
zo_proc_exe_dir (void)
{
    static char dir [PATH_MAX];
    if (!dir [0]) {
        ssize_t n = readlink ("/proc/self/exe", dir, sizeof dir - 1);
        if (n <= 0)
            strcpy (dir, ".");
        else {
            dir [n] = 0;
            char *slash = strrchr (dir, '/');
            if (slash && slash != dir)
                *slash = 0;
            else
                strcpy (dir, slash ? "/" : ".");
        }
    }
    return dir;
}

static bool
s_executable (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISREG (st.st_mode) && access (path, X_OK) == 0;
}

char *
zo_proc_find_binary (const char *name, const char *subdir)
{
    char path [PATH_MAX];
    const char *bin_dir = getenv ("ZORCH_BIN_DIR");
    if (bin_dir && *bin_dir) {
        snprintf (path, sizeof path, "%s/%s", bin_dir, name);
        if (s_executable (path))
            return strdup (path);
        snprintf (path, sizeof path, "%s/%s/%s", bin_dir, subdir, name);
        if (s_executable (path))
            return strdup (path);
    }
    const char *dir = zo_proc_exe_dir ();
    snprintf (path, sizeof path, "%s/%s", dir, name);
    if (s_executable (path))
        return strdup (path);
    //  The build tree: tools/zorch and actors/<name>/zorch-<name>.
    snprintf (path, sizeof path, "%s/../%s/%s", dir, subdir, name);
    if (s_executable (path))
        return strdup (path);
    snprintf (path, sizeof path, "%s/../../%s/%s", dir, subdir, name);
    if (s_executable (path))
        return strdup (path);
    const char *env_path = getenv ("PATH");
    if (env_path) {
        char *copy = strdup (env_path);
        char *save = NULL;
        for (char *d = strtok_r (copy, ":", &save); d; d = strtok_r (NULL, ":", &save)) {
            snprintf (path, sizeof path, "%s/%s", *d ? d : ".", name);
            if (s_executable (path)) {
                free (copy);
                return strdup (path);
            }
        }
        free (copy);
    }
    return NULL;
}
