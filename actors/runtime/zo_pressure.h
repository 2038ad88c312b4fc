/*  zo_pressure: resource pressure in steps, the same way in every actor.

    An actor measures how full it is (a fraction of its budget: its heap
    against a limit, say) and zo_pressure_update turns that into a step:

        0  normal
        1  at or above 80 %: stop work that is only nice to have
        2  at or above 90 %: shed some of what is held
        3  at or above 95 %: shed hard

    A step is taken at once when its watermark is reached; it is undone
    one step per update once the fraction is back under 75 %, so that
    shedding does not flap around a watermark. What each step means is
    the actor's (its header says).

    The pressure source (zo_pressure_src_t) is what the worker, the broker
    and the pool tick, so that they measure alike: on every reading it
    takes the process's heap (zo_heap_bytes) against a memory limit, and
    the process's own CPU time over the time since the last reading
    against one core, and the step in force is the larger of the two:

        memory  80 / 90 / 95 % of the limit: steps 1 / 2 / 3
        cpu     80 / 90 % of one core: steps 1 / 2 (no step 3: a busy
                core is slow, not about to be killed)

    The limit is <section>/memory_limit, or when that is 0 the cgroup v2
    memory.max of the process, or its v1 memory.limit_in_bytes (re-read on every reading, so a limit
    changed at run time counts; "max", or no such file, leaves memory
    pressure off). Only the process's own CPU time counts (not its
    children's, not the machine's), so other busy processes on the host
    cannot raise it. Each reading sets the gauges memory_pressure and
    cpu_pressure (fractions) and pressure_step; each change of step is a
    log line and a STATS note, in every actor the same.

    The cache keeps its own zo_pressure_t (cache.h): its reading is the
    heap it grew by since it started, against a limit that follows its
    memory budget, and its steps shed memory, which a busy CPU must not
    do.

    zo_heap_bytes is the process's heap in use (malloc's count over all
    arenas, mallinfo2; AddressSanitizer's own count in a sanitizer build):
    freed memory shows at once, unlike RSS.
*/
#ifndef ZO_PRESSURE_H_INCLUDED
#define ZO_PRESSURE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zo_actor.h"

#define ZO_PRESSURE_STEPS 3
#define ZO_PRESSURE_CPU_STEPS 2

typedef struct {
    int step;                   /* 0..top */
    double fraction;            /* the last reading */
    int top;                    /* the highest step taken (0: ZO_PRESSURE_STEPS) */
} zo_pressure_t;

/*  Takes a reading (0 = empty, 1 = at the budget) and returns the step
    now in force.  */
int zo_pressure_update (zo_pressure_t *self, double fraction);

/*  Bytes of heap in use by this process.  */
size_t zo_heap_bytes (void);

//  ---------------------------------------------------------------------
//  The pressure source

typedef struct _zo_pressure_src_t zo_pressure_src_t;

typedef struct {
    const char *name;           /* in log lines: the actor's kind ("worker") */
    uint64_t memory_limit;      /* bytes; 0: the cgroup's memory.max */
    bool cpu;                   /* take the CPU step */
    const char *memory_max;     /* the memory.max file; NULL or "": this process's cgroup's */
    const char *proc_stat;      /* the CPU reading (/proc/<pid>/stat format); NULL: /proc/self/stat */
    size_t (*heap) (void);      /* the memory reading; NULL: zo_heap_bytes */
    zo_stats_t *stats;          /* its gauges and notes; NULL: none */
} zo_pressure_opts_t;

/*  A source reading as opts say (the strings are copied). Nothing is read
    yet: the first zo_pressure_src_read takes the first CPU time, from
    which the next one measures. NULL when out of memory.  */
zo_pressure_src_t *zo_pressure_src_new (const zo_pressure_opts_t *opts);
/*  Frees the source (and stops its ticker, if zo_pressure_src_start made
    it); nulls *self_p; a NULL *self_p is ignored.  */
void zo_pressure_src_destroy (zo_pressure_src_t **self_p);

/*  Takes a reading at now_ms (a monotonic clock), updates the gauges,
    logs a change of step, and returns the step now in force (0..3). A
    reading that cannot be taken (no CPU file) counts as 0.  */
int zo_pressure_src_read (zo_pressure_src_t *self, uint64_t now_ms);

/*  The step in force, and the last readings: the memory fraction (0 when
    memory pressure is off), the CPU fraction of one core (0 when off or
    at the first reading) and the limit the memory was read against (0:
    off).  */
int zo_pressure_src_step (const zo_pressure_src_t *self);
double zo_pressure_src_memory (const zo_pressure_src_t *self);
double zo_pressure_src_cpu (const zo_pressure_src_t *self);
uint64_t zo_pressure_src_limit (const zo_pressure_src_t *self);

/*  Called after every reading with the step in force and the one before
    it (equal, most of the time): an actor applies its measures when they
    differ, and may renew them on each call.  */
typedef void (zo_pressure_fn) (void *arg, int step, int before);

/*  A source for an actor's section: reads <section>/memory_limit,
    <section>/cpu_pressure (turned off, with a log line, when
    <section>/spin is set: a loop that busy-polls uses its core while
    idle) and pressure/memory_max; takes a first reading and calls fn
    (arg) with it from inside this call (before 0), so make the source
    once the actor can take the call; then reads every stats/interval
    (1 s when that is 0) on the actor's loop and calls fn after each
    reading. NULL after logging why (a bad value is refused through
    zo_conf, so zo_conf_bad says so).  */
zo_pressure_src_t *zo_pressure_src_start (zo_actor_t *actor, const char *section,
                                          zo_pressure_fn *fn, void *arg);

/*  Reads a cgroup v2 memory.max or a v1 memory.limit_in_bytes: a number
    of bytes into *bytes, "max" (or v1's 2^63 less a page) as 0 (no limit). 0, or -1 when the file cannot be read or holds
    anything else.  */
int zo_pressure_read_limit (const char *path, uint64_t *bytes);

/*  The memory.max of the cgroup v2 this process is in, into buf (size
    bytes): /sys/fs/cgroup/<its path in proc_cgroup>/memory.max, or, when
    that does not exist, root's own /sys/fs/cgroup/memory.max (in a
    container the root is the container's cgroup); without cgroup v2 the
    v1 memory controller's <root>/memory/<its path>/memory.limit_in_bytes,
    or that mount's own. proc_cgroup is a
    /proc/<pid>/cgroup file (NULL: /proc/self/cgroup), root the cgroup
    mount (NULL: /sys/fs/cgroup). Returns buf.  */
const char *zo_pressure_cgroup_file (const char *proc_cgroup, const char *root, char *buf,
                                     size_t size);

#endif
