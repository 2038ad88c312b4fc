/*  zo_levels: see levels.h. Each level is a table of its operations
    (s_ops_t) over the module's own API (l2.h, l3.h), so that the actor
    walks them without knowing which is which.  */
#include "levels.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l2.h"
#include "l3.h"

#define S_MAX 2

typedef struct {
    const char *name;
    bool (*up) (const void *impl);
    int (*get) (void *impl, const void *key, size_t len, zo_level_get_fn *fn, void *arg);
    int (*set) (void *impl, const void *key, size_t len, const void *value, size_t value_len,
                uint64_t expire_ms, zo_level_done_fn *fn, void *arg);
    int (*del) (void *impl, const void *key, size_t len, zo_level_done_fn *fn, void *arg);
    int (*touch) (void *impl, const void *key, size_t len, uint64_t expire_ms,
                  zo_level_done_fn *fn, void *arg);
    int (*invalidate) (void *impl, const char *pattern, size_t len, zo_level_done_fn *fn,
                       void *arg);
    void (*destroy) (void *impl);
} s_ops_t;

static bool s_l2_up (const void *impl) { return zo_l2_up (impl); }
static int s_l2_get (void *impl, const void *key, size_t len, zo_level_get_fn *fn, void *arg)
    { return zo_l2_get (impl, key, len, fn, arg); }
static int s_l2_set (void *impl, const void *key, size_t len, const void *value, size_t value_len,
                     uint64_t expire_ms, zo_level_done_fn *fn, void *arg)
    { return zo_l2_set (impl, key, len, value, value_len, expire_ms, fn, arg); }
static int s_l2_del (void *impl, const void *key, size_t len, zo_level_done_fn *fn, void *arg)
    { return zo_l2_del (impl, key, len, fn, arg); }
static int s_l2_touch (void *impl, const void *key, size_t len, uint64_t expire_ms,
                       zo_level_done_fn *fn, void *arg)
    { return zo_l2_touch (impl, key, len, expire_ms, fn, arg); }
static int s_l2_invalidate (void *impl, const char *pattern, size_t len, zo_level_done_fn *fn,
                            void *arg)
    { return zo_l2_invalidate (impl, pattern, len, fn, arg); }
static void s_l2_destroy (void *impl) { zo_l2_destroy ((zo_l2_t **) &impl); }

static bool s_l3_up (const void *impl) { return zo_l3_up (impl); }
static int s_l3_get (void *impl, const void *key, size_t len, zo_level_get_fn *fn, void *arg)
    { return zo_l3_get (impl, key, len, fn, arg); }
static int s_l3_set (void *impl, const void *key, size_t len, const void *value, size_t value_len,
                     uint64_t expire_ms, zo_level_done_fn *fn, void *arg)
    { return zo_l3_set (impl, key, len, value, value_len, expire_ms, fn, arg); }
static int s_l3_del (void *impl, const void *key, size_t len, zo_level_done_fn *fn, void *arg)
    { return zo_l3_del (impl, key, len, fn, arg); }
static int s_l3_touch (void *impl, const void *key, size_t len, uint64_t expire_ms,
                       zo_level_done_fn *fn, void *arg)
    { return zo_l3_touch (impl, key, len, expire_ms, fn, arg); }
static int s_l3_invalidate (void *impl, const char *pattern, size_t len, zo_level_done_fn *fn,
                            void *arg)
    { return zo_l3_invalidate (impl, pattern, len, fn, arg); }
static void s_l3_destroy (void *impl) { zo_l3_destroy ((zo_l3_t **) &impl); }

static const s_ops_t s_redis = {
    "redis", s_l2_up, s_l2_get, s_l2_set, s_l2_del, s_l2_touch, s_l2_invalidate, s_l2_destroy
};
static const s_ops_t s_postgres = {
    "postgres", s_l3_up, s_l3_get, s_l3_set, s_l3_del, s_l3_touch, s_l3_invalidate, s_l3_destroy
};

typedef struct s_level s_level_t;

struct s_level {
    zo_levels_t *owner;
    int index;
    const s_ops_t *ops;
    void *impl;
    double *up;                     //  dep_<name>_up
    zo_hist_t *get_ns;              //  <name>_get_ns
};

struct _zo_levels_t {
    zo_loop_t *loop;
    zo_levels_opts_t opts;
    s_level_t levels [S_MAX];
    int n;
    char describe [256];
};

//  A lookup in flight, timed.
typedef struct {
    s_level_t *level;
    uint64_t started_ns;
    zo_level_get_fn *fn;
    void *arg;
} s_get_t;

static void
s_on_state (void *arg, bool up, const char *error)
{
    s_level_t *level = arg;
    *level->up = up ? 1 : 0;
    zo_levels_t *self = level->owner;
    if (self->opts.on_state)
        self->opts.on_state (self->opts.arg, level->index, up, error);
}

//  Another cache actor's change, from Redis's channel.
static void
s_on_remote (void *arg, bool pattern, const void *key, size_t len)
{
    zo_levels_t *self = ((s_level_t *) arg)->owner;
    if (self->opts.on_remote)
        self->opts.on_remote (self->opts.arg, pattern, key, len);
}

static void
s_on_get (void *arg, zo_level_rc_t rc, const void *value, size_t len, uint64_t expire_ms)
{
    s_get_t *get = arg;
    if (rc != ZO_LEVEL_ERROR)
        zo_hist_record (get->level->get_ns, zo_clock_mono_ns () - get->started_ns);
    zo_level_get_fn *fn = get->fn;
    void *user = get->arg;
    free (get);
    fn (user, rc, value, len, expire_ms);
}

static s_level_t *
s_add (zo_levels_t *self, const s_ops_t *ops)
{
    s_level_t *level = &self->levels [self->n];
    level->owner = self;
    level->index = self->n++;
    level->ops = ops;
    char name [64];
    snprintf (name, sizeof name, "dep_%s_up", ops->name);
    level->up = zo_stats_gauge (self->opts.stats, name);
    snprintf (name, sizeof name, "%s_get_ns", ops->name);
    level->get_ns = zo_stats_hist (self->opts.stats, name);
    return level;
}

zo_levels_t *
zo_levels_new (zo_loop_t *loop, zo_conf_t *conf, const zo_levels_opts_t *opts)
{
    assert (loop && conf && opts && opts->stats);
    const char *redis = zo_conf_str (conf, "cache/redis", "");
    const char *prefix = zo_conf_str (conf, "cache/redis_prefix", "zorch:");
    uint64_t redis_timeout = zo_conf_ms_range (conf, "cache/redis_timeout", 1000, 1, 600000);
    const char *postgres = zo_conf_str (conf, "cache/postgres", "");
    const char *table = zo_conf_str (conf, "cache/postgres_table", "zorch_cache");
    uint64_t pg_timeout = zo_conf_ms_range (conf, "cache/postgres_timeout", 1000, 1, 600000);
    uint64_t cleanup = zo_conf_ms_range (conf, "cache/postgres_cleanup", 60000, 0, 86400000);
    if (zo_conf_bad (conf))
        return NULL;
    zo_levels_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->opts = *opts;
    if (*redis) {
        s_level_t *level = s_add (self, &s_redis);
        char error [256] = "";
        zo_l2_opts_t o = { .url = redis, .prefix = prefix, .node = opts->node,
                           .command_timeout_ms = redis_timeout, .on_state = s_on_state,
                           .on_remote = s_on_remote, .arg = level, .stats = opts->stats };
        if (!(level->impl = zo_l2_new (loop, &o, error, sizeof error))) {
            zo_conf_refuse (conf, "cache/redis = %s: %s", redis, *error ? error : strerror (errno));
            goto err;
        }
    }
    if (*postgres) {
        s_level_t *level = s_add (self, &s_postgres);
        zo_l3_opts_t o = { .conninfo = postgres, .table = table, .statement_timeout_ms = pg_timeout,
                           .cleanup_interval_ms = cleanup, .on_state = s_on_state, .arg = level,
                           .stats = opts->stats };
        if (!(level->impl = zo_l3_new (loop, &o))) {
            zo_conf_refuse (conf, "cache/postgres (table %s): %s", table,
                            errno == EINVAL ? "not a conninfo, or a bad table name" : strerror (errno));
            goto err;
        }
    }
    return self;
err:
    zo_levels_destroy (&self);
    return NULL;
}

void
zo_levels_destroy (zo_levels_t **self_p)
{
    assert (self_p);
    zo_levels_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->n; i++)
        if (self->levels [i].impl)
            self->levels [i].ops->destroy (self->levels [i].impl);
    free (self);
    *self_p = NULL;
}

int
zo_levels_size (const zo_levels_t *self)
{
    return self->n;
}

bool
zo_levels_any (const zo_levels_t *self)
{
    return self->n > 0;
}

bool
zo_levels_up (const zo_levels_t *self)
{
    for (int i = 0; i < self->n; i++)
        if (self->levels [i].ops->up (self->levels [i].impl))
            return true;
    return false;
}

const char *
zo_levels_name (const zo_levels_t *self, int level)
{
    return level >= 0 && level < self->n ? self->levels [level].ops->name : "?";
}

const char *
zo_levels_describe (zo_levels_t *self)
{
    if (!self->n)
        return "no levels below memory";
    snprintf (self->describe, sizeof self->describe, "below: %s%s%s", self->levels [0].ops->name,
              self->n > 1 ? ", " : "", self->n > 1 ? self->levels [1].ops->name : "");
    return self->describe;
}

//  Level i when it is up, else NULL (its operations say ENOTCONN).
static s_level_t *
s_level (zo_levels_t *self, int i)
{
    if (i < 0 || i >= self->n) {
        errno = EINVAL;
        return NULL;
    }
    return &self->levels [i];
}

int
zo_levels_get (zo_levels_t *self, int i, const void *key, size_t len, zo_level_get_fn *fn,
               void *arg)
{
    s_level_t *level = s_level (self, i);
    s_get_t *get = level ? malloc (sizeof *get) : NULL;
    if (!get)
        return -1;
    *get = (s_get_t) { level, zo_clock_mono_ns (), fn, arg };
    int rc = level->ops->get (level->impl, key, len, s_on_get, get);
    if (rc)
        free (get);
    return rc;
}

int
zo_levels_set (zo_levels_t *self, int i, const void *key, size_t len, const void *value,
               size_t value_len, uint64_t expire_ms, zo_level_done_fn *fn, void *arg)
{
    s_level_t *level = s_level (self, i);
    return level ? level->ops->set (level->impl, key, len, value, value_len, expire_ms, fn, arg) : -1;
}

int
zo_levels_del (zo_levels_t *self, int i, const void *key, size_t len, zo_level_done_fn *fn,
               void *arg)
{
    s_level_t *level = s_level (self, i);
    return level ? level->ops->del (level->impl, key, len, fn, arg) : -1;
}

int
zo_levels_touch (zo_levels_t *self, int i, const void *key, size_t len, uint64_t expire_ms,
                 zo_level_done_fn *fn, void *arg)
{
    s_level_t *level = s_level (self, i);
    return level ? level->ops->touch (level->impl, key, len, expire_ms, fn, arg) : -1;
}

int
zo_levels_invalidate (zo_levels_t *self, int i, const char *pattern, size_t len,
                      zo_level_done_fn *fn, void *arg)
{
    s_level_t *level = s_level (self, i);
    return level ? level->ops->invalidate (level->impl, pattern, len, fn, arg) : -1;
}
