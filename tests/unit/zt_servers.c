/*  zt_servers: real redis-server and PostgreSQL for unit tests.
    See zt_servers.h.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "zt_servers.h"

#define ZT_START_MS 30000

static long long
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void
s_sleep_ms (int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep (&ts, NULL);
}

int
zt_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t len = sizeof (sa);
    int port = -1;
    if (fd >= 0 && bind (fd, (struct sockaddr *) &sa, sizeof (sa)) == 0
    &&  getsockname (fd, (struct sockaddr *) &sa, &len) == 0)
        port = ntohs (sa.sin_port);
    if (fd >= 0)
        close (fd);
    return port;
}

//  Runs argv as a child with no stdin, output to log; as the postgres
//  user when as_pg and we are root. Dies with us.
static pid_t
s_spawn (char *const argv [], bool as_pg, const char *log)
{
    struct passwd *pw = as_pg && geteuid () == 0? getpwnam ("postgres"): NULL;
    if (as_pg && geteuid () == 0 && !pw) {
        fprintf (stderr, "zt_servers: no postgres user to run %s as\n", argv [0]);
        return -1;
    }
    //  Orphans of our servers come to us (s_reap_group), not to our parent.
    prctl (PR_SET_CHILD_SUBREAPER, 1);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid != 0)
        return pid;
    int null = open ("/dev/null", O_RDONLY);
    int out = open (log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (null < 0 || out < 0)
        _exit (126);
    if (pw && fchown (out, pw->pw_uid, pw->pw_gid))
        _exit (126);
    dup2 (null, 0);
    dup2 (out, 1);
    dup2 (out, 2);
    //  A new session: a test's Ctrl-C or its runner's signals go to the
    //  test, which stops the server itself.
    setsid ();
    if (pw && (setgid (pw->pw_gid) || setuid (pw->pw_uid)))
        _exit (126);
    //  After setuid, which clears it.
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (getppid () != parent)
        _exit (126);
    execvp (argv [0], argv);
    fprintf (stderr, "zt_servers: exec %s: %s\n", argv [0], strerror (errno));
    _exit (127);
}

//  Waits for a child to exit, at most ms. Its status, or -1 on timeout.
static int
s_wait (pid_t pid, int ms)
{
    long long end = s_now_ms () + ms;
    int status;
    while (s_now_ms () < end) {
        pid_t rc = waitpid (pid, &status, WNOHANG);
        if (rc == pid)
            return status;
        if (rc < 0)
            return -1;
        s_sleep_ms (20);
    }
    return -1;
}

static bool
s_port_open (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port),
                              .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    bool ok = fd >= 0 && connect (fd, (struct sockaddr *) &sa, sizeof (sa)) == 0;
    if (fd >= 0)
        close (fd);
    return ok;
}

static int
s_mkdir (zt_server_t *self, const char *name)
{
    memset (self, 0, sizeof (*self));
    snprintf (self->dir, sizeof (self->dir), "/tmp/zt_%s_XXXXXX", name);
    if (!mkdtemp (self->dir)) {
        fprintf (stderr, "zt_servers: mkdtemp: %s\n", strerror (errno));
        return -1;
    }
    self->port = zt_free_port ();
    return self->port > 0? 0: -1;
}

int
zt_redis_start (zt_server_t *self)
{
    if (s_mkdir (self, "redis"))
        return -1;
    return zt_redis_restart (self);
}

int
zt_redis_restart (zt_server_t *self)
{
    char port [16], log [200];
    snprintf (port, sizeof (port), "%d", self->port);
    snprintf (log, sizeof (log), "%s/log", self->dir);
    char *argv [] = { "redis-server", "--port", port, "--bind", "127.0.0.1",
                      "--save", "", "--appendonly", "no", "--dir", self->dir, NULL };
    self->pid = s_spawn (argv, false, log);
    long long end = s_now_ms () + ZT_START_MS;
    while (self->pid > 0 && s_now_ms () < end) {
        if (s_port_open (self->port))
            return 0;
        if (waitpid (self->pid, NULL, WNOHANG) == self->pid) {
            self->pid = 0;
            break;
        }
        s_sleep_ms (20);
    }
    fprintf (stderr, "zt_servers: redis-server did not start (see %s)\n", log);
    return -1;
}

static const char *
s_pg_bindir (void)
{
    static char dir [256];
    if (getenv ("ZT_PG_BINDIR"))
        return getenv ("ZT_PG_BINDIR");
    glob_t g;
    if (glob ("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) || g.gl_pathc == 0) {
        globfree (&g);
        return NULL;
    }
    //  glob sorts: the last is the newest (as long as versions have two
    //  digits, as they have since 10).
    snprintf (dir, sizeof (dir), "%s", g.gl_pathv [g.gl_pathc - 1]);
    globfree (&g);
    *strrchr (dir, '/') = 0;
    return dir;
}

int
zt_pg_restart (zt_server_t *self)
{
    const char *bindir = s_pg_bindir ();
    char bin [300], ready [300], port [16], log [200];
    snprintf (bin, sizeof (bin), "%s/postgres", bindir);
    snprintf (ready, sizeof (ready), "%s/pg_isready", bindir);
    snprintf (port, sizeof (port), "%d", self->port);
    snprintf (log, sizeof (log), "%s/log", self->dir);
    char *argv [] = { bin, "-D", self->data, "-k", self->dir, "-p", port,
                      "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", NULL };
    self->pid = s_spawn (argv, true, log);
    char *probe [] = { ready, "-q", "-h", "127.0.0.1", "-p", port, "-t", "2", NULL };
    long long end = s_now_ms () + ZT_START_MS;
    while (self->pid > 0 && s_now_ms () < end) {
        pid_t p = s_spawn (probe, false, "/dev/null");
        int status = p > 0? s_wait (p, 5000): -1;
        if (p > 0 && status == -1) {
            kill (p, SIGKILL);
            waitpid (p, NULL, 0);
        }
        if (status == 0)
            return 0;
        if (waitpid (self->pid, NULL, WNOHANG) == self->pid) {
            self->pid = 0;
            break;
        }
        s_sleep_ms (50);
    }
    fprintf (stderr, "zt_servers: postgres did not start (see %s)\n", log);
    return -1;
}

int
zt_pg_start (zt_server_t *self)
{
    const char *bindir = s_pg_bindir ();
    if (!bindir) {
        fprintf (stderr, "zt_servers: no PostgreSQL binaries (set ZT_PG_BINDIR)\n");
        return -1;
    }
    if (s_mkdir (self, "pg"))
        return -1;
    self->pg = true;
    snprintf (self->data, sizeof (self->data), "%s/data", self->dir);
    struct passwd *pw = geteuid () == 0? getpwnam ("postgres"): NULL;
    if (pw && chown (self->dir, pw->pw_uid, pw->pw_gid)) {
        fprintf (stderr, "zt_servers: chown %s: %s\n", self->dir, strerror (errno));
        return -1;
    }
    char initdb [300], log [200];
    snprintf (initdb, sizeof (initdb), "%s/initdb", bindir);
    snprintf (log, sizeof (log), "%s/log", self->dir);
    char *argv [] = { initdb, "-D", self->data, "-A", "trust", "-U", "postgres",
                      "-E", "UTF8", "--locale=C", "--no-sync", NULL };
    pid_t pid = s_spawn (argv, true, log);
    int status = pid > 0? s_wait (pid, 120000): -1;
    if (status != 0) {
        if (pid > 0 && status == -1) {
            kill (pid, SIGKILL);
            waitpid (pid, NULL, 0);
        }
        fprintf (stderr, "zt_servers: initdb failed (see %s)\n", log);
        return -1;
    }
    return zt_pg_restart (self);
}

//  Reaps the server's process group: the leader, and (as we are their
//  subreaper) the children it left behind.
static void
s_reap_group (pid_t pgid)
{
    while (waitpid (-pgid, NULL, 0) > 0 || errno == EINTR)
        ;
}

int
zt_server_signal (zt_server_t *self, int sig)
{
    if (self->pid <= 0 || kill (self->pid, sig))
        return -1;
    DIR *dir = self->pg? opendir ("/proc"): NULL;
    struct dirent *e;
    while (dir && (e = readdir (dir))) {
        char path [300], line [512];
        snprintf (path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = atoi (e->d_name) > 0? fopen (path, "r"): NULL;
        if (f && fgets (line, sizeof line, f)) {
            //  pid (comm) state ppid ...: comm may hold spaces, not ')'
            //  followed by one.
            const char *close = strrchr (line, ')');
            int ppid = 0;
            if (close && sscanf (close + 2, "%*c %d", &ppid) == 1 && ppid == self->pid)
                kill (atoi (e->d_name), sig);
        }
        if (f)
            fclose (f);
    }
    if (dir)
        closedir (dir);
    return 0;
}

void
zt_server_kill (zt_server_t *self)
{
    if (self->pid > 0) {
        //  The whole group (postmaster and backends) at once, since an
        //  orphaned backend would go to whoever reaps orphans, such as
        //  Criterion's runner, which does not expect it.
        kill (-self->pid, SIGKILL);
        s_reap_group (self->pid);
    }
    self->pid = 0;
    if (self->pg) {
        //  Its backends notice the postmaster's death on their own; wait
        //  until the port is free so that a restart can take it.
        long long end = s_now_ms () + 10000;
        while (s_port_open (self->port) && s_now_ms () < end)
            s_sleep_ms (20);
    }
}

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove (path);
    return 0;
}

void
zt_server_stop (zt_server_t *self)
{
    if (self->pid > 0) {
        kill (self->pid, SIGTERM);
        s_wait (self->pid, 10000);
        //  Whatever is left of it (all of it, after 10 s).
        kill (-self->pid, SIGKILL);
        s_reap_group (self->pid);
    }
    self->pid = 0;
    if (*self->dir)
        nftw (self->dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    *self->dir = 0;
}
