/*  zo_levels: see levels.h.  */
#include "levels.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX 2

typedef struct {
    const char *name;
    double *up;                     //  dep_<name>_up
    zo_hist_t *get_ns;              //  <name>_get_ns
} s_level_t;

struct _zo_levels_t {
    zo_loop_t *loop;
    zo_levels_opts_t opts;
    s_level_t levels [S_MAX];
    int n;
    char describe [256];
};

zo_levels_t *
zo_levels_new (zo_loop_t *loop, zo_conf_t *conf, const zo_levels_opts_t *opts)
{
    assert (loop && conf && opts);
    const char *redis = zo_conf_str (conf, "cache/redis", "");
    const char *postgres = zo_conf_str (conf, "cache/postgres", "");
    if (*redis || *postgres) {
        zo_conf_refuse (conf, "cache/redis and cache/postgres are not served by this build yet");
        return NULL;
    }
    zo_levels_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->opts = *opts;
    return self;
}

void
zo_levels_destroy (zo_levels_t **self_p)
{
    assert (self_p);
    free (*self_p);
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
        if (*self->levels [i].up >= 1)
            return true;
    return false;
}

const char *
zo_levels_name (const zo_levels_t *self, int level)
{
    return level >= 0 && level < self->n ? self->levels [level].name : "?";
}

const char *
zo_levels_describe (zo_levels_t *self)
{
    if (!self->n)
        return "no levels below memory";
    self->describe [0] = 0;
    for (int i = 0; i < self->n; i++)
        snprintf (self->describe + strlen (self->describe),
                  sizeof self->describe - strlen (self->describe), "%s%s", i ? ", " : "below: ",
                  self->levels [i].name);
    return self->describe;
}

int
zo_levels_get (zo_levels_t *self, int level, const void *key, size_t len, zo_level_get_fn *fn,
               void *arg)
{
    return -1;
}

int
zo_levels_set (zo_levels_t *self, int level, const void *key, size_t len, const void *value,
               size_t value_len, uint64_t expire_ms, zo_level_done_fn *fn, void *arg)
{
    return -1;
}

int
zo_levels_del (zo_levels_t *self, int level, const void *key, size_t len, zo_level_done_fn *fn,
               void *arg)
{
    return -1;
}

int
zo_levels_touch (zo_levels_t *self, int level, const void *key, size_t len, uint64_t expire_ms,
                 zo_level_done_fn *fn, void *arg)
{
    return -1;
}

int
zo_levels_invalidate (zo_levels_t *self, int level, const char *pattern, size_t len,
                      zo_level_done_fn *fn, void *arg)
{
    return -1;
}
