/*  zo_levels: the cache's levels below memory, as one list the actor
    walks: redis (l2.c) when cache/redis is set, then postgres (l3.c) when
    cache/postgres is set. Level i's operations are those of level.h,
    returning -1 (nothing called back) while it is down.

    It keeps what every level reports the same way: the gauges
    dep_<name>_up (1 up, 0 down: the monitor's /health, dashboard and
    `zorch status` read them) and the histogram <name>_get_ns (a lookup's
    time at that level).
*/
#ifndef ZO_LEVELS_H_INCLUDED
#define ZO_LEVELS_H_INCLUDED

#include "level.h"
#include "zo_conf.h"
#include "zo_loop.h"
#include "zo_stats.h"

typedef struct _zo_levels_t zo_levels_t;

typedef struct {
    //  Level i went up or down (error says why).
    void (*on_state) (void *arg, int level, bool up, const char *error);
    //  Another cache actor changed a key or a pattern (coherence).
    void (*on_remote) (void *arg, bool pattern, const void *key, size_t len);
    void *arg;
    zo_stats_t *stats;
    const char *node;               //  this actor's name, unique in the cluster
} zo_levels_opts_t;

/*  Reads cache/redis*, cache/postgres* and starts connecting what is
    configured (without waiting). NULL when the configuration is bad
    (zo_conf_refuse says why) or memory ran out.  */
zo_levels_t *zo_levels_new (zo_loop_t *loop, zo_conf_t *conf, const zo_levels_opts_t *opts);
/*  Fails what is in flight (each callback runs, with an error) and
    frees everything.  */
void zo_levels_destroy (zo_levels_t **self_p);

/*  Levels configured; whether there is any; whether any is up now.  */
int zo_levels_size (const zo_levels_t *self);
bool zo_levels_any (const zo_levels_t *self);
bool zo_levels_up (const zo_levels_t *self);
/*  "redis" or "postgres".  */
const char *zo_levels_name (const zo_levels_t *self, int level);
/*  One line for the log: the levels and where they are.  */
const char *zo_levels_describe (zo_levels_t *self);

int zo_levels_get (zo_levels_t *self, int level, const void *key, size_t len,
                   zo_level_get_fn *fn, void *arg);
int zo_levels_set (zo_levels_t *self, int level, const void *key, size_t len, const void *value,
                   size_t value_len, uint64_t expire_ms, zo_level_done_fn *fn, void *arg);
int zo_levels_del (zo_levels_t *self, int level, const void *key, size_t len,
                   zo_level_done_fn *fn, void *arg);
int zo_levels_touch (zo_levels_t *self, int level, const void *key, size_t len,
                     uint64_t expire_ms, zo_level_done_fn *fn, void *arg);
int zo_levels_invalidate (zo_levels_t *self, int level, const char *pattern, size_t len,
                          zo_level_done_fn *fn, void *arg);

#endif
