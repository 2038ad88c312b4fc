/*  bench_cluster: the zorch processes a `zorch bench` run measures, either
    found running on this host or spawned for the run (a broker and N
    workers on fresh endpoints, in a scratch folder), with their CPU time
    and peak RSS read from /proc.
*/
#ifndef ZORCH_BENCH_CLUSTER_H_INCLUDED
#define ZORCH_BENCH_CLUSTER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define ZORCH_CLUSTER_MAX_WORKERS 16
#define ZORCH_CLUSTER_MAX_PROCS   (ZORCH_CLUSTER_MAX_WORKERS + 2)

typedef struct {
    char name [32];
    pid_t pid;
    bool spawned;
    double cpu0, cpu1;         /* CPU seconds at the start and end of the run */
    uint64_t peak_rss;         /* VmHWM, bytes */
} zorch_proc_t;

typedef struct {
    zorch_proc_t procs [ZORCH_CLUSTER_MAX_PROCS];
    int n;
    char dir [64];             /* scratch folder of a spawned cluster */
    char front [128];
    char back [128];
} zorch_cluster_t;

/*  CPU seconds a process has used (user + system); 0 if unknown.  */
double zorch_proc_cpu (pid_t pid);
/*  Peak resident set size of a process (VmHWM), in bytes; 0 if unknown.  */
uint64_t zorch_proc_peak_rss (pid_t pid);

/*  Adds the zorch-broker and zorch-worker processes running on this host
    (for a cluster the run did not start), found by process name.  */
void zorch_cluster_find_local (zorch_cluster_t *cluster);
/*  Starts a broker (with its journal on if durable) and `workers` workers
    on fresh endpoints (tcp on 127.0.0.1, or ipc in the scratch folder),
    their logs in the scratch folder. 0, or -1 (said on stderr); stop the
    cluster either way.  */
int zorch_cluster_spawn (zorch_cluster_t *cluster, int workers, const char *transport,
                         uint32_t capacity, uint64_t queue_max, bool durable);
/*  SIGTERM to the spawned workers, then the broker (SIGKILL after 10 s
    each), and removes the scratch folder.  */
void zorch_cluster_stop (zorch_cluster_t *cluster);

#endif
