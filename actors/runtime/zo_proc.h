/*  zo_proc: starting a child process the way every zorch process does.

    posix_spawn (no fork of a process with ZeroMQ threads), with the
    signal mask emptied and default dispositions restored for what
    zo_signals_block blocks or ignores (an actor's loop reads its signals
    from a signalfd; its children must not inherit that), optionally in a
    process group of its own (so a timeout or a stop reaches all of it),
    with stdin/stdout/stderr as non-blocking pipes, or stdout and stderr
    into a log file, or inherited.

    Reaping is the owner's: each owner calls waitpid on its own pids from
    its own SIGCHLD handler on the loop (zo_loop_on_signal keeps a list),
    never waitpid (-1), which would take other owners' children. zo_sup
    (zo_sup.h) is the supervisor built on this.
*/
#ifndef ZO_PROC_H_INCLUDED
#define ZO_PROC_H_INCLUDED

#include <stdbool.h>
#include <sys/types.h>

typedef struct {
    char *const *argv;          /* argv [0] is the program's path; required */
    char *const *envp;          /* NULL: this process's environment */
    bool own_group;             /* a process group of its own */
    bool pipes;                 /* stdin, stdout, stderr as pipes (fds below) */
    const char *log_path;       /* without pipes: stdout + stderr into it (truncated) */
} zo_proc_opts_t;

/*  Starts the program. With opts->pipes, fds [0] is the write end of its
    stdin and fds [1], fds [2] the read ends of its stdout and stderr, all
    non-blocking and close-on-exec, the caller's to close. Returns the
    pid, or -1 with errno set (ENOENT, EACCES: the program cannot run; its
    pipes are closed then).  */
pid_t zo_proc_spawn (const zo_proc_opts_t *opts, int fds [3]);

/*  Describes an exit status from waitpid ("exited with status 3", "was
    killed by signal 9 (Killed)") into buf. Returns buf.  */
const char *zo_proc_describe (int status, char *buf, size_t size);

/*  The directory the running executable lives in (no trailing slash), or
    "." when unknown.  */
const char *zo_proc_exe_dir (void);
/*  The path of a zorch binary (caller frees), looked for in $ZORCH_BIN_DIR
    (and its <subdir>), next to the running executable, in the build tree
    (<exe dir>/../<subdir>, <exe dir>/../../<subdir>), then on PATH. NULL
    if not found.  */
char *zo_proc_find_binary (const char *name, const char *subdir);

#endif
