/*  bench_cluster: the processes a bench run measures. See bench_cluster.h.  */
#include "bench_cluster.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zo_proc.h"
#include "zo_stats.h"
#include "zorch.h"

//  --------------------------------------------------------------------
//  Processes

double
zorch_proc_cpu (pid_t pid)
{
    double cpu = 0;
    uint64_t rss;
    if (zo_proc_usage (pid, &rss, &cpu))
        return 0;
    return cpu;
}

uint64_t
zorch_proc_peak_rss (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    char line [256];
    uint64_t kb = 0;
    while (fgets (line, sizeof line, file))
        if (sscanf (line, "VmHWM: %" SCNu64 " kB", &kb) == 1)
            break;
    fclose (file);
    return kb * 1024;
}

void
zorch_cluster_find_local (zorch_cluster_t *cluster)
{
    DIR *proc = opendir ("/proc");
    if (!proc)
        return;
    struct dirent *entry;
    int workers = 0;
    while ((entry = readdir (proc)) && cluster->n < ZORCH_CLUSTER_MAX_PROCS - 1) {
        pid_t pid = (pid_t) atoi (entry->d_name);
        if (pid <= 0)
            continue;
        char path [64], comm [32] = "";
        snprintf (path, sizeof path, "/proc/%d/comm", (int) pid);
        FILE *file = fopen (path, "r");
        if (!file)
            continue;
        if (!fgets (comm, sizeof comm, file))
            comm [0] = 0;
        fclose (file);
        comm [strcspn (comm, "\n")] = 0;
        if (!streq (comm, "zorch-broker") && !streq (comm, "zorch-worker"))
            continue;
        zorch_proc_t *p = &cluster->procs [cluster->n++];
        memset (p, 0, sizeof *p);
        p->pid = pid;
        if (streq (comm, "zorch-broker"))
            snprintf (p->name, sizeof p->name, "zorch-broker");
        else
            snprintf (p->name, sizeof p->name, "zorch-worker-%d", ++workers);
    }
    closedir (proc);
}

//  A free TCP port on 127.0.0.1 (the kernel's pick; it may be taken again
//  before the broker binds it, which the broker then reports).
static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0
    &&  getsockname (fd, (struct sockaddr *) &addr, &len) == 0)
        port = ntohs (addr.sin_port);
    close (fd);
    return port;
}

static pid_t
s_spawn (const char *dir, const char *log_name, char **argv)
{
    char log [128];
    snprintf (log, sizeof log, "%s/%s.log", dir, log_name);
    return zorch_spawn (argv, log);
}

void
zorch_cluster_stop (zorch_cluster_t *cluster)
{
    //  Workers first, so the broker is not left redelivering their events.
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < cluster->n; i++) {
            zorch_proc_t *p = &cluster->procs [i];
            bool broker = streq (p->name, "zorch-broker");
            if (p->spawned && p->pid > 0 && broker == (pass == 1))
                kill (p->pid, SIGTERM);
        }
        for (int i = 0; i < cluster->n; i++) {
            zorch_proc_t *p = &cluster->procs [i];
            bool broker = streq (p->name, "zorch-broker");
            if (!p->spawned || p->pid <= 0 || broker != (pass == 1))
                continue;
            int status;
            for (int tries = 0; tries < 200; tries++) {
                if (waitpid (p->pid, &status, WNOHANG) == p->pid)
                    break;
                if (tries == 199) {
                    kill (p->pid, SIGKILL);
                    waitpid (p->pid, &status, 0);
                }
                usleep (50000);
            }
            p->pid = 0;
        }
    }
    if (cluster->dir [0]) {
        char cmd [160];
        snprintf (cmd, sizeof cmd, "rm -rf '%s'", cluster->dir);
        if (system (cmd) != 0)
            fprintf (stderr, "zorch bench: could not remove %s\n", cluster->dir);
    }
}

int
zorch_cluster_spawn (zorch_cluster_t *cluster, int workers, const char *transport,
                 uint32_t capacity, uint64_t queue_max, bool durable)
{
    snprintf (cluster->dir, sizeof cluster->dir, "/tmp/zorch-bench-XXXXXX");
    if (!mkdtemp (cluster->dir)) {
        fprintf (stderr, "zorch bench: cannot make a scratch folder: %s\n", strerror (errno));
        cluster->dir [0] = 0;
        return -1;
    }
    if (streq (transport, "ipc")) {
        snprintf (cluster->front, sizeof cluster->front, "ipc://%s/front", cluster->dir);
        snprintf (cluster->back, sizeof cluster->back, "ipc://%s/back", cluster->dir);
    }
    else {
        int front = s_free_port (), back = s_free_port ();
        while (back == front && front > 0)
            back = s_free_port ();
        if (front < 0 || back < 0) {
            fprintf (stderr, "zorch bench: no free tcp port\n");
            return -1;
        }
        snprintf (cluster->front, sizeof cluster->front, "tcp://127.0.0.1:%d", front);
        snprintf (cluster->back, sizeof cluster->back, "tcp://127.0.0.1:%d", back);
    }
    char *broker_bin = zo_proc_find_binary ("zorch-broker", "broker");
    char *worker_bin = zo_proc_find_binary ("zorch-worker", "actors/worker");
    if (!broker_bin || !worker_bin) {
        fprintf (stderr, "zorch bench: cannot find %s\n", broker_bin ? "zorch-worker" : "zorch-broker");
        free (broker_bin);
        free (worker_bin);
        return -1;
    }
    //  Stats go to a socket of the run's own, so a monitor on the default
    //  endpoint does not see the benchmark's actors.
    char stats [128], data [96], qmax [32], cap [32];
    snprintf (stats, sizeof stats, "ipc://%s/stats", cluster->dir);
    snprintf (data, sizeof data, "%s/data", cluster->dir);
    snprintf (qmax, sizeof qmax, "%" PRIu64, queue_max);
    snprintf (cap, sizeof cap, "%u", capacity);

    char *bargv [] = { broker_bin, "--broker-front", cluster->front, "--broker-back", cluster->back,
                       "--broker-data-dir", data, "--broker-queue-max", qmax,
                       "--stats-endpoint", stats, "--broker-journal", durable ? "true" : "false",
                       NULL };
    zorch_proc_t *p = &cluster->procs [cluster->n++];
    snprintf (p->name, sizeof p->name, "zorch-broker");
    p->spawned = true;
    p->pid = s_spawn (cluster->dir, "broker", bargv);
    for (int i = 0; i < workers && p->pid > 0; i++) {
        char name [32];
        snprintf (name, sizeof name, "bench-w%d", i + 1);
        char *wargv [] = { worker_bin, "--worker-broker", cluster->back, "--worker-capacity", cap,
                           "--worker-name", name, "--stats-endpoint", stats, NULL };
        zorch_proc_t *w = &cluster->procs [cluster->n++];
        snprintf (w->name, sizeof w->name, "zorch-worker-%d", i + 1);
        w->spawned = true;
        w->pid = s_spawn (cluster->dir, name, wargv);
    }
    free (broker_bin);
    free (worker_bin);
    for (int i = 0; i < cluster->n; i++)
        if (cluster->procs [i].pid <= 0) {
            fprintf (stderr, "zorch bench: fork failed: %s\n", strerror (errno));
            return -1;
        }
    return 0;
}
