/*  Tests of actors/runtime/zo_pressure.c: steps from readings, the
    cgroup's memory.max, the CPU from a /proc-style file, and the source
    an actor ticks (its readings from files and a heap function the
    test sets).  */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "zo_pressure.h"

Test (pressure, steps_up_at_once_and_down_one_at_a_time)
{
    zo_pressure_t p = { 0 };
    cr_assert_eq (zo_pressure_update (&p, 0.50), 0);
    cr_assert_eq (zo_pressure_update (&p, 0.80), 1, "80 %: step 1");
    cr_assert_eq (zo_pressure_update (&p, 0.78), 1, "between release and 80 %: held");
    cr_assert_eq (zo_pressure_update (&p, 0.97), 3, "straight to step 3");
    cr_assert_eq (zo_pressure_update (&p, 0.91), 3, "falling but above the release: held");
    cr_assert_eq (zo_pressure_update (&p, 0.70), 2, "under 75 %: one step down");
    cr_assert_eq (zo_pressure_update (&p, 0.70), 1);
    cr_assert_eq (zo_pressure_update (&p, 0.92), 2, "up again to the watermark reached");
    cr_assert_eq (zo_pressure_update (&p, 0.10), 1);
    cr_assert_eq (zo_pressure_update (&p, 0.10), 0);
    cr_assert_eq (zo_pressure_update (&p, 0.10), 0);
    cr_assert_float_eq (p.fraction, 0.10, 1e-9);
}

Test (pressure, a_top_caps_the_steps)
{
    zo_pressure_t p = { .top = 2 };
    cr_assert_eq (zo_pressure_update (&p, 0.99), 2, "95 % and more: no step 3 above the top");
    cr_assert_eq (zo_pressure_update (&p, 1.50), 2);
    cr_assert_eq (zo_pressure_update (&p, 0.50), 1);
    cr_assert_eq (zo_pressure_update (&p, 0.50), 0);
}

Test (pressure, heap_bytes_follow_malloc_and_free)
{
    size_t before = zo_heap_bytes ();
    char *block = malloc (8 << 20);
    cr_assert_not_null (block);
    for (size_t i = 0; i < (8 << 20); i += 4096)
        block [i] = 1;
    size_t during = zo_heap_bytes ();
    cr_assert_geq (during, before + (8 << 20));
    free (block);
    cr_assert_lt (zo_heap_bytes (), during - (4 << 20), "freed memory shows at once");
}

//  ---------------------------------------------------------------------
//  Files

static char s_dir [64];

static void
s_mkdir (void)
{
    snprintf (s_dir, sizeof (s_dir), "/tmp/zorch-test-pressure.XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
s_rmdir (void)
{
    char command [128];
    snprintf (command, sizeof (command), "rm -rf '%s'", s_dir);
    cr_assert_eq (system (command), 0);
}

//  Writes text to <dir>/name (parents made) and returns the path (static).
static const char *
s_write (const char *name, const char *text)
{
    static char path [4] [256];
    static int next;
    char *out = path [next++ % 4];
    snprintf (out, 256, "%s/%s", s_dir, name);
    for (char *slash = strchr (out + strlen (s_dir) + 1, '/'); slash; slash = strchr (slash + 1, '/')) {
        *slash = 0;
        mkdir (out, 0755);
        *slash = '/';
    }
    FILE *file = fopen (out, "w");
    cr_assert_not_null (file, "cannot write %s", out);
    fputs (text, file);
    fclose (file);
    return out;
}

Test (pressure, memory_max_is_a_number_or_max, .init = s_mkdir, .fini = s_rmdir)
{
    uint64_t bytes = 7;
    cr_assert_eq (zo_pressure_read_limit (s_write ("a", "536870912\n"), &bytes), 0);
    cr_assert_eq (bytes, 536870912);
    cr_assert_eq (zo_pressure_read_limit (s_write ("b", "max\n"), &bytes), 0);
    cr_assert_eq (bytes, 0, "max: no limit");
    cr_assert_eq (zo_pressure_read_limit (s_write ("c", "12G\n"), &bytes), -1, "not cgroup's");
    cr_assert_eq (zo_pressure_read_limit (s_write ("d", ""), &bytes), -1);
    cr_assert_eq (zo_pressure_read_limit (s_write ("e", "-5\n"), &bytes), -1);
    cr_assert_eq (zo_pressure_read_limit (s_write ("f", "99999999999999999999999\n"), &bytes), -1);
    char path [300];
    snprintf (path, sizeof (path), "%s/none", s_dir);
    cr_assert_eq (zo_pressure_read_limit (path, &bytes), -1, "no file");
}

Test (pressure, the_cgroup_file_is_the_process_own, .init = s_mkdir, .fini = s_rmdir)
{
    char buf [512], want [512], root [300];
    snprintf (root, sizeof (root), "%s/cg", s_dir);
    //  The process's own cgroup, when its memory.max exists.
    s_write ("cg/system.slice/zorch.service/memory.max", "max\n");
    const char *cgroup = s_write ("cgroup1", "12:memory:/elsewhere\n0::/system.slice/zorch.service\n");
    snprintf (want, sizeof (want), "%s/system.slice/zorch.service/memory.max", root);
    cr_assert_str_eq (zo_pressure_cgroup_file (cgroup, root, buf, sizeof (buf)), want);
    //  A path that is not there under the mount (a container without its
    //  own cgroup namespace): the mount's own file.
    cgroup = s_write ("cgroup2", "0::/docker/0123abcd\n");
    snprintf (want, sizeof (want), "%s/memory.max", root);
    cr_assert_str_eq (zo_pressure_cgroup_file (cgroup, root, buf, sizeof (buf)), want);
    //  The root cgroup (a container with its namespace), v1 only, none.
    cgroup = s_write ("cgroup3", "0::/\n");
    cr_assert_str_eq (zo_pressure_cgroup_file (cgroup, root, buf, sizeof (buf)), want);
    cgroup = s_write ("cgroup4", "4:memory:/x\n1:cpu:/\n");
    cr_assert_str_eq (zo_pressure_cgroup_file (cgroup, root, buf, sizeof (buf)), want);
    char none [300];
    snprintf (none, sizeof (none), "%s/nothing", s_dir);
    cr_assert_str_eq (zo_pressure_cgroup_file (none, root, buf, sizeof (buf)), want);
}

Test (pressure, cgroup_v1_memory_controller, .init = s_mkdir, .fini = s_rmdir)
{
    char buf [512], want [512], root [300];
    snprintf (root, sizeof (root), "%s/v1", s_dir);
    //  No cgroup v2 file anywhere: the memory controller's own cgroup.
    s_write ("v1/memory/docker/abc/memory.limit_in_bytes", "536870912\n");
    s_write ("v1/memory/memory.limit_in_bytes", "9223372036854771712\n");
    const char *cgroup = s_write ("cg-v1", "12:cpu,cpuacct:/docker/abc\n"
                                           "9:blkio:/docker/abc\n"
                                           "4:memory:/docker/abc\n"
                                           "0::/\n");
    snprintf (want, sizeof (want), "%s/memory/docker/abc/memory.limit_in_bytes", root);
    cr_assert_str_eq (zo_pressure_cgroup_file (cgroup, root, buf, sizeof (buf)), want);
    uint64_t bytes = 1;
    cr_assert_eq (zo_pressure_read_limit (buf, &bytes), 0);
    cr_assert_eq (bytes, 536870912);
    //  Controllers joined on one hierarchy, a path not under the mount:
    //  the mount's own file, whose "no limit" reads as 0.
    cgroup = s_write ("cg-v1b", "7:memory,hugetlb:/gone\n");
    snprintf (want, sizeof (want), "%s/memory/memory.limit_in_bytes", root);
    cr_assert_str_eq (zo_pressure_cgroup_file (cgroup, root, buf, sizeof (buf)), want);
    cr_assert_eq (zo_pressure_read_limit (buf, &bytes), 0);
    cr_assert_eq (bytes, 0, "v1's largest number is no limit");
    //  cgroup v2 mounted too: its file wins.
    s_write ("v1/memory.max", "1048576\n");
    snprintf (want, sizeof (want), "%s/memory.max", root);
    cr_assert_str_eq (zo_pressure_cgroup_file (cgroup, root, buf, sizeof (buf)), want);
}

//  A /proc/<pid>/stat line whose utime and stime are those clock ticks
//  (the command name has spaces and parentheses, as it may).
static const char *
s_stat (long utime, long stime)
{
    char text [512];
    snprintf (text, sizeof (text), "4242 (zorch (w) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
              "%ld %ld 0 0 20 0 3 0 100 1000000 200 18446744073709551615\n", utime, stime);
    return s_write ("stat", text);
}

Test (pressure, cpu_time_from_a_stat_file, .init = s_mkdir, .fini = s_rmdir)
{
    long hz = sysconf (_SC_CLK_TCK);
    double seconds = 0;
    cr_assert_eq (zo_proc_cpu_read (s_stat (3 * hz, hz / 2), &seconds), 0);
    cr_assert_float_eq (seconds, 3.5, 1e-9);
    cr_assert_eq (zo_proc_cpu_read (s_write ("bad", "4242 no parenthesis\n"), &seconds), -1);
    cr_assert_eq (zo_proc_cpu_read ("/proc/self/stat", &seconds), 0, "this process's own");
}

//  ---------------------------------------------------------------------
//  The source

static size_t s_heap;
static size_t s_fake_heap (void) { return s_heap; }

Test (pressure, source_memory_against_a_configured_limit, .init = s_mkdir, .fini = s_rmdir)
{
    zo_pressure_opts_t opts = { .name = "test", .memory_limit = 1000, .heap = s_fake_heap,
                                .memory_max = s_write ("memory.max", "10\n") };
    zo_pressure_src_t *src = zo_pressure_src_new (&opts);
    cr_assert_not_null (src);
    size_t heaps [] = { 500, 850, 800, 920, 960, 900, 700, 740, 100, 100 };
    int steps [] =    { 0,   1,   1,   2,   3,   3,   2,   1,   0,   0 };
    for (size_t i = 0; i < sizeof (heaps) / sizeof (heaps [0]); i++) {
        s_heap = heaps [i];
        cr_assert_eq (zo_pressure_src_read (src, 1000 * (i + 1)), steps [i], "heap %zu", heaps [i]);
        cr_assert_float_eq (zo_pressure_src_memory (src), heaps [i] / 1000.0, 1e-9);
    }
    cr_assert_eq (zo_pressure_src_limit (src), 1000, "the configured limit, not the file's");
    cr_assert_float_eq (zo_pressure_src_cpu (src), 0, 1e-9, "cpu off");
    zo_pressure_src_destroy (&src);
    cr_assert_null (src);
    zo_pressure_src_destroy (&src);
}

Test (pressure, source_memory_against_the_cgroup_file, .init = s_mkdir, .fini = s_rmdir)
{
    const char *file = s_write ("memory.max", "1000\n");
    zo_pressure_opts_t opts = { .name = "test", .heap = s_fake_heap, .memory_max = file };
    zo_pressure_src_t *src = zo_pressure_src_new (&opts);
    s_heap = 960;
    cr_assert_eq (zo_pressure_src_read (src, 1000), 3);
    cr_assert_eq (zo_pressure_src_limit (src), 1000);
    //  The limit raised at run time counts at the next reading.
    s_write ("memory.max", "2000\n");
    cr_assert_eq (zo_pressure_src_read (src, 2000), 2, "48 %: one step down");
    //  No limit any more: memory pressure is off, the steps come down.
    s_write ("memory.max", "max\n");
    cr_assert_eq (zo_pressure_src_read (src, 3000), 1);
    cr_assert_eq (zo_pressure_src_limit (src), 0);
    cr_assert_float_eq (zo_pressure_src_memory (src), 0, 1e-9);
    cr_assert_eq (zo_pressure_src_read (src, 4000), 0);
    //  The file gone or garbled: off as well.
    s_write ("memory.max", "1\n");
    cr_assert_eq (zo_pressure_src_read (src, 5000), 3);
    unlink (file);
    cr_assert_eq (zo_pressure_src_read (src, 6000), 2);
    s_write ("memory.max", "lots\n");
    cr_assert_eq (zo_pressure_src_read (src, 7000), 1);
    cr_assert_eq (zo_pressure_src_limit (src), 0);
    zo_pressure_src_destroy (&src);
}

Test (pressure, source_cpu_over_the_last_reading, .init = s_mkdir, .fini = s_rmdir)
{
    long hz = sysconf (_SC_CLK_TCK);
    s_heap = 0;
    const char *stat = s_stat (0, 0);
    zo_pressure_opts_t opts = { .name = "test", .memory_limit = 1000, .cpu = true,
                                .heap = s_fake_heap, .proc_stat = stat };
    zo_pressure_src_t *src = zo_pressure_src_new (&opts);
    cr_assert_eq (zo_pressure_src_read (src, 10000), 0, "the first reading only starts the count");
    //  (user, system) ticks at each reading, a second apart, and the step.
    long ticks [] [2] = { { hz / 2, hz * 35 / 100 },    //  85 %: step 1
                          { hz, hz * 80 / 100 },        //  95 %: step 2, no more
                          { hz * 2, hz * 80 / 100 },    //  100 %: held at 2
                          { hz * 2, hz * 90 / 100 },    //  10 %: one step down
                          { hz * 2, hz },               //  10 %: 0
                        };
    int steps [] = { 1, 2, 2, 1, 0 };
    double fractions [] = { 0.85, 0.95, 1.0, 0.10, 0.10 };
    for (size_t i = 0; i < 5; i++) {
        s_stat (ticks [i] [0], ticks [i] [1]);
        cr_assert_eq (zo_pressure_src_read (src, 11000 + 1000 * i), steps [i], "reading %zu", i);
        cr_assert_float_eq (zo_pressure_src_cpu (src), fractions [i], 0.02, "reading %zu", i);
    }
    //  Half a second later, another half second used: 100 % again.
    s_stat (hz * 2, hz * 3 / 2);
    cr_assert_eq (zo_pressure_src_read (src, 15500), 2);
    //  The larger of the two steps is in force.
    s_heap = 960;
    cr_assert_eq (zo_pressure_src_read (src, 16500), 3, "memory at 96 % over cpu at 0 %");
    s_heap = 0;
    s_stat (hz * 3, hz * 3 / 2);
    cr_assert_eq (zo_pressure_src_read (src, 17500), 2, "memory down one, cpu at 100 %: 2");
    zo_pressure_src_destroy (&src);

    //  With the CPU step off, the same readings take no step.
    opts.cpu = false;
    src = zo_pressure_src_new (&opts);
    s_stat (0, 0);
    zo_pressure_src_read (src, 1000);
    s_stat (hz, 0);
    cr_assert_eq (zo_pressure_src_read (src, 2000), 0);
    cr_assert_float_eq (zo_pressure_src_cpu (src), 0, 1e-9);
    zo_pressure_src_destroy (&src);
}

static double
s_cpu_clock (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

Test (pressure, source_cpu_of_this_process)
{
    //  The real /proc/self/stat: 300 ms of CPU burnt between two readings
    //  shows as that much over the time it took (on a busy machine that
    //  is more than 300 ms, so the fraction is compared with the CPU
    //  clock's own, not with 1).
    zo_pressure_opts_t opts = { .name = "test", .memory_limit = (uint64_t) 1 << 50, .cpu = true };
    zo_pressure_src_t *src = zo_pressure_src_new (&opts);
    uint64_t t0 = zo_clock_mono_ns ();
    zo_pressure_src_read (src, t0 / 1000000);
    double c0 = s_cpu_clock ();
    volatile uint64_t spin = 0;
    while (s_cpu_clock () - c0 < 0.3 && zo_clock_mono_ns () - t0 < 3000000000ull)
        spin++;
    uint64_t t1 = zo_clock_mono_ns ();
    zo_pressure_src_read (src, t1 / 1000000);
    double want = (s_cpu_clock () - c0) / ((t1 - t0) / 1e9);
    cr_assert_float_eq (zo_pressure_src_cpu (src), want, 0.15, "cpu %.2f, by the CPU clock %.2f",
                        zo_pressure_src_cpu (src), want);
    zo_pressure_src_destroy (&src);
}

Test (pressure, source_cpu_unreadable_counts_as_idle, .init = s_mkdir, .fini = s_rmdir)
{
    char none [300];
    snprintf (none, sizeof (none), "%s/no-stat", s_dir);
    zo_pressure_opts_t opts = { .name = "test", .memory_limit = 1000, .cpu = true,
                                .heap = s_fake_heap, .proc_stat = none };
    s_heap = 0;
    zo_pressure_src_t *src = zo_pressure_src_new (&opts);
    cr_assert_eq (zo_pressure_src_read (src, 1000), 0);
    cr_assert_eq (zo_pressure_src_read (src, 2000), 0);
    zo_pressure_src_destroy (&src);
}

//  ---------------------------------------------------------------------
//  The source on an actor

typedef struct {
    int calls, step, before;
    zo_loop_t *loop;
} s_seen_t;

static void
s_on_step (void *arg, int step, int before)
{
    s_seen_t *seen = arg;
    seen->calls++;
    seen->step = step;
    seen->before = before;
}

static int
s_stop (zo_loop_t *loop, int id, void *arg)
{
    return -1;
}

Test (pressure, source_ticks_on_the_actor_loop, .init = s_mkdir, .fini = s_rmdir)
{
    const char *file = s_write ("memory.max", "1\n");
    char *argv [] = { "zorch-test", "--stats-interval", "50ms", "--pressure-memory-max",
                      (char *) file, "--worker-cpu-pressure", "false", NULL };
    zo_actor_t actor;
    cr_assert_eq (zo_actor_init (&actor, "worker", 7, argv, NULL), 0);
    s_seen_t seen = { 0 };
    zo_pressure_src_t *src = zo_pressure_src_start (&actor, "worker", s_on_step, &seen);
    cr_assert_not_null (src);
    cr_assert_eq (seen.calls, 1, "the first reading is handed over at once");
    cr_assert_eq (seen.step, 3, "a heap far above a 1-byte limit");
    cr_assert_eq (seen.before, 0);
    cr_assert_eq (*zo_stats_gauge (actor.stats, "pressure_step"), 3);
    cr_assert_gt (*zo_stats_gauge (actor.stats, "memory_pressure"), 1000);
    //  The limit lifted: a step down per reading, every 50 ms.
    s_write ("memory.max", "max\n");
    zo_loop_timer (actor.loop, 400, s_stop, NULL);
    zo_loop_run (actor.loop);
    cr_assert_geq (seen.calls, 5);
    cr_assert_eq (seen.step, 0);
    cr_assert_eq (seen.before, 0, "steady");
    cr_assert_eq (*zo_stats_gauge (actor.stats, "pressure_step"), 0);
    cr_assert_eq (*zo_stats_gauge (actor.stats, "cpu_pressure"), 0, "worker/cpu_pressure false");
    zo_pressure_src_destroy (&src);
    zo_actor_fini (&actor);
}

Test (pressure, source_refuses_a_bad_limit)
{
    char *argv [] = { "zorch-test", "--pool-memory-limit", "-5", NULL };
    zo_actor_t actor;
    cr_assert_eq (zo_actor_init (&actor, "pool", 3, argv, NULL), 0);
    cr_assert_null (zo_pressure_src_start (&actor, "pool", s_on_step, NULL));
    cr_assert (zo_conf_bad (actor.conf));
    zo_actor_fini (&actor);
}
