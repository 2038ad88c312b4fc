/*  zo_pressure: see zo_pressure.h.  */
#include "zo_pressure.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined (__SANITIZE_ADDRESS__)
//  From the sanitizer's runtime (sanitizer/allocator_interface.h, which
//  gcc does not install).
size_t __sanitizer_get_current_allocated_bytes (void);
#endif

#include "zo_file.h"

static const double s_watermarks [ZO_PRESSURE_STEPS] = { 0.80, 0.90, 0.95 };
static const double s_release = 0.75;

int
zo_pressure_update (zo_pressure_t *self, double fraction)
{
    assert (self);
    int top = self->top > 0 && self->top < ZO_PRESSURE_STEPS ? self->top : ZO_PRESSURE_STEPS;
    self->fraction = fraction;
    int reached = 0;
    while (reached < top && fraction >= s_watermarks [reached])
        reached++;
    if (reached > self->step)
        self->step = reached;
    else
    if (fraction < s_release && self->step > 0)
        self->step--;
    return self->step;
}

size_t
zo_heap_bytes (void)
{
#if defined (__SANITIZE_ADDRESS__)
    //  AddressSanitizer's allocator replaces malloc's: ask it.
    return __sanitizer_get_current_allocated_bytes ();
#else
    struct mallinfo2 mi = mallinfo2 ();
    return mi.uordblks + mi.hblkhd;
#endif
}

//  ---------------------------------------------------------------------
//  Readings from files

int
zo_pressure_read_limit (const char *path, uint64_t *bytes)
{
    assert (path);
    assert (bytes);
    char text [64];
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    size_t len = fread (text, 1, sizeof (text) - 1, file);
    fclose (file);
    text [len] = 0;
    text [strcspn (text, "\n")] = 0;
    if (strcmp (text, "max") == 0) {
        *bytes = 0;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull (text, &end, 10);
    if (end == text || *end || errno || text [0] == '-')
        return -1;
    //  cgroup v1 says "no limit" with the largest page-aligned number
    //  (9223372036854771712): anything from 2^62 up is none.
    *bytes = value >= (1ull << 62) ? 0 : value;
    return 0;
}

//  root + path + "/" + file into buf when that file can be read.
static bool
s_cgroup_try (char *buf, size_t size, const char *root, const char *path, const char *file)
{
    char own [ZO_FILE_PATH_MAX];
    int n = snprintf (own, sizeof (own), "%s%s/%s", root, strcmp (path, "/") ? path : "", file);
    if (n <= 0 || (size_t) n >= sizeof (own) || (size_t) n >= size || access (own, R_OK))
        return false;
    snprintf (buf, size, "%s", own);
    return true;
}

const char *
zo_pressure_cgroup_file (const char *proc_cgroup, const char *root, char *buf, size_t size)
{
    assert (buf && size);
    if (!root)
        root = "/sys/fs/cgroup";
    snprintf (buf, size, "%s/memory.max", root);
    FILE *file = fopen (proc_cgroup ? proc_cgroup : "/proc/self/cgroup", "r");
    if (!file)
        return buf;
    //  cgroup v2's line is "0::<path>"; a v1 hierarchy's is
    //  "<id>:<controllers>:<path>", the memory controller's mounted at
    //  <root>/memory.
    char line [ZO_FILE_PATH_MAX], v1 [ZO_FILE_PATH_MAX] = "";
    bool v2 = false;
    while (fgets (line, sizeof (line), file)) {
        line [strcspn (line, "\n")] = 0;
        if (strncmp (line, "0::/", 4) == 0)
            v2 = s_cgroup_try (buf, size, root, line + 3, "memory.max");
        else {
            char *controllers = strchr (line, ':');
            char *path = controllers ? strchr (controllers + 1, ':') : NULL;
            if (!path)
                continue;
            *path++ = 0;
            char *save = NULL;
            for (char *c = strtok_r (controllers + 1, ",", &save); c; c = strtok_r (NULL, ",", &save))
                if (strcmp (c, "memory") == 0 && *path == '/')
                    snprintf (v1, sizeof (v1), "%s", path);
        }
    }
    fclose (file);
    if (!v2 && access (buf, R_OK) && *v1) {
        char mount [ZO_FILE_PATH_MAX];
        snprintf (mount, sizeof (mount), "%s/memory", root);
        if (!s_cgroup_try (buf, size, mount, v1, "memory.limit_in_bytes"))
            s_cgroup_try (buf, size, mount, "/", "memory.limit_in_bytes");
    }
    return buf;
}

//  ---------------------------------------------------------------------
//  The source

struct _zo_pressure_src_t {
    char *name;
    char *memory_max;               //  the cgroup file, when memory_limit is 0
    char *proc_stat;
    size_t (*heap) (void);
    uint64_t memory_limit;          //  configured; 0: memory_max's
    bool cpu_on;
    zo_pressure_t memory, cpu;
    int step;                       //  the larger of the two
    uint64_t limit;                 //  in force at the last reading (0: off)
    bool limit_read;                //  a reading of memory_max was taken
    double cpu_seconds;             //  at the last reading ...
    uint64_t cpu_ms;                //  ... taken then (0: none yet)
    zo_stats_t *stats;
    double *g_memory, *g_cpu, *g_step;
    double sink [3];
    //  zo_pressure_src_start's
    zo_loop_t *loop;
    int ticker;
    zo_pressure_fn *fn;
    void *arg;
};

zo_pressure_src_t *
zo_pressure_src_new (const zo_pressure_opts_t *opts)
{
    assert (opts);
    zo_pressure_src_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    char cgroup [ZO_FILE_PATH_MAX];
    const char *memory_max = opts->memory_max && *opts->memory_max
                           ? opts->memory_max
                           : zo_pressure_cgroup_file (NULL, NULL, cgroup, sizeof (cgroup));
    self->name = strdup (opts->name ? opts->name : "actor");
    self->memory_max = strdup (memory_max);
    self->proc_stat = strdup (opts->proc_stat ? opts->proc_stat : "/proc/self/stat");
    if (!self->name || !self->memory_max || !self->proc_stat) {
        zo_pressure_src_destroy (&self);
        return NULL;
    }
    self->heap = opts->heap ? opts->heap : zo_heap_bytes;
    self->memory_limit = opts->memory_limit;
    self->cpu_on = opts->cpu;
    self->cpu.top = ZO_PRESSURE_CPU_STEPS;
    self->stats = opts->stats;
    self->g_memory = self->stats ? zo_stats_gauge (self->stats, "memory_pressure") : &self->sink [0];
    self->g_cpu = self->stats ? zo_stats_gauge (self->stats, "cpu_pressure") : &self->sink [1];
    self->g_step = self->stats ? zo_stats_gauge (self->stats, "pressure_step") : &self->sink [2];
    return self;
}

void
zo_pressure_src_destroy (zo_pressure_src_t **self_p)
{
    assert (self_p);
    zo_pressure_src_t *self = *self_p;
    if (!self)
        return;
    if (self->ticker > 0)
        zo_loop_cancel (self->loop, self->ticker);
    free (self->name);
    free (self->memory_max);
    free (self->proc_stat);
    free (self);
    *self_p = NULL;
}

//  The limit in force now: the configured one, else the cgroup's (read
//  each time: it can be changed at run time), whose changes are logged.
static uint64_t
s_limit (zo_pressure_src_t *self)
{
    if (self->memory_limit)
        return self->memory_limit;
    uint64_t limit = 0;
    if (zo_pressure_read_limit (self->memory_max, &limit))
        limit = 0;
    if (limit != self->limit || !self->limit_read) {
        if (limit)
            zo_log_info ("%s: memory pressure against %" PRIu64 " bytes (%s)", self->name, limit,
                         self->memory_max);
        else
            zo_log_info ("%s: memory pressure off (no memory_limit, and %s sets none)", self->name,
                         self->memory_max);
    }
    self->limit_read = true;
    return limit;
}

int
zo_pressure_src_read (zo_pressure_src_t *self, uint64_t now_ms)
{
    assert (self);
    self->limit = s_limit (self);
    size_t heap = self->heap ();
    double memory = self->limit ? (double) heap / (double) self->limit : 0;
    zo_pressure_update (&self->memory, memory);

    //  CPU: the time used since the last reading over the time passed.
    double cpu = 0, seconds = 0;
    if (self->cpu_on && zo_proc_cpu_read (self->proc_stat, &seconds) == 0) {
        if (self->cpu_ms && now_ms > self->cpu_ms && seconds >= self->cpu_seconds)
            cpu = (seconds - self->cpu_seconds) * 1000.0 / (double) (now_ms - self->cpu_ms);
        self->cpu_seconds = seconds;
        self->cpu_ms = now_ms;
    }
    zo_pressure_update (&self->cpu, cpu);

    int before = self->step;
    self->step = self->memory.step > self->cpu.step ? self->memory.step : self->cpu.step;
    *self->g_memory = memory;
    *self->g_cpu = cpu;
    *self->g_step = self->step;
    if (self->step != before) {
        char limit [48] = "";
        if (self->limit)
            snprintf (limit, sizeof (limit), " of %" PRIu64 " bytes", self->limit);
        zo_log_warning ("%s: pressure step %d -> %d: memory %.0f %%%s (step %d), cpu %.0f %% "
                        "of a core (step %d)", self->name, before, self->step, memory * 100,
                        limit, self->memory.step, cpu * 100, self->cpu.step);
        if (self->stats)
            zo_stats_note (self->stats, "pressure step %d -> %d: memory %.0f %%%s, cpu %.0f %%",
                           before, self->step, memory * 100, limit, cpu * 100);
    }
    return self->step;
}

int
zo_pressure_src_step (const zo_pressure_src_t *self)
{
    assert (self);
    return self->step;
}

double
zo_pressure_src_memory (const zo_pressure_src_t *self)
{
    assert (self);
    return self->memory.fraction;
}

double
zo_pressure_src_cpu (const zo_pressure_src_t *self)
{
    assert (self);
    return self->cpu.fraction;
}

uint64_t
zo_pressure_src_limit (const zo_pressure_src_t *self)
{
    assert (self);
    return self->limit;
}

static int
s_on_tick (zo_loop_t *loop, int id, void *arg)
{
    zo_pressure_src_t *self = arg;
    int before = self->step;
    int step = zo_pressure_src_read (self, zo_loop_now_ms (loop));
    if (self->fn)
        self->fn (self->arg, step, before);
    return 0;
}

zo_pressure_src_t *
zo_pressure_src_start (zo_actor_t *actor, const char *section, zo_pressure_fn *fn, void *arg)
{
    assert (actor);
    assert (section);
    zo_conf_t *conf = actor->conf;
    char path [96];
    snprintf (path, sizeof (path), "%s/memory_limit", section);
    uint64_t limit = zo_conf_size_range (conf, path, 0, 0, (uint64_t) 1 << 50);
    snprintf (path, sizeof (path), "%s/cpu_pressure", section);
    bool cpu = zo_conf_bool (conf, path, true);
    snprintf (path, sizeof (path), "%s/spin", section);
    if (cpu && zo_conf_int (conf, path, 0) > 0) {
        zo_log_info ("%s: cpu pressure off: %s busy-polls, so its CPU time is not its load",
                     section, path);
        cpu = false;
    }
    const char *memory_max = zo_conf_str (conf, "pressure/memory_max", "");
    uint64_t interval = zo_conf_ms_range (conf, "stats/interval", 1000, 0, 3600000);
    if (zo_conf_bad (conf))
        return NULL;
    zo_pressure_opts_t opts = { .name = section, .memory_limit = limit, .cpu = cpu,
                                .memory_max = memory_max, .stats = actor->stats };
    zo_pressure_src_t *self = zo_pressure_src_new (&opts);
    if (!self) {
        zo_log_error ("%s: out of memory for the pressure source", section);
        return NULL;
    }
    if (limit)
        zo_log_info ("%s: memory pressure against %" PRIu64 " bytes (%s/memory_limit)", section,
                     limit, section);
    self->loop = actor->loop;
    self->fn = fn;
    self->arg = arg;
    self->ticker = zo_loop_ticker (self->loop, interval ? interval : 1000, s_on_tick, self);
    if (self->ticker < 0) {
        self->ticker = 0;
        zo_log_error ("%s: out of memory for the pressure source's ticker", section);
        zo_pressure_src_destroy (&self);
        return NULL;
    }
    s_on_tick (self->loop, self->ticker, self);
    return self;
}
