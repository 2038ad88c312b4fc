/*  executor: what carries a size out. The policy says how many workers;
    an executor makes it so, and says how many there are.

    - local (local.c): zorch-worker processes of its own, started with
      zo_proc and supervised by zo_sup (a crash is restarted with backoff;
      a restart storm stops restarts and new starts for a while, and is
      reported). A scale-down picks the idlest of its workers from the
      broker's WORKERS, sends the broker QUIET for it, waits until it
      holds nothing (or drain_timeout), and only then stops it (SIGTERM:
      it says BYE), so no event is redelivered because of it.
    - command (command.c): runs a command with the size in it
      (`docker compose up -d --scale worker=%d`, `kubectl scale
      deployment/zorch-worker --replicas=%d`), one at a time, the latest
      size winning; the engine picks which worker goes (its own SIGTERM
      drain applies).

    Notes (zo_stats_note) and counters of what each did go to the
    autoscaler's STATS.
*/
#ifndef ZO_EXECUTOR_H_INCLUDED
#define ZO_EXECUTOR_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "zo_actor.h"

typedef struct _zo_executor_t zo_executor_t;

typedef struct {
    const char *worker;             /* the zorch-worker binary */
    char *const *args;              /* passed to every worker (config flags), NULL-terminated */
    const char *broker;             /* the broker's front, for WORKERS and QUIET */
    const char *log_dir;            /* each worker's output into <log_dir>/<name>.log; NULL: ours */
    const char *name_prefix;        /* workers are <prefix>-1, -2, ...: unique in the cluster */
    uint64_t restart_delay_ms, restart_window_ms;
    uint32_t restart_max;
    uint64_t drain_timeout_ms;      /* a quiet worker is stopped after this at the latest */
    uint64_t stop_grace_ms;         /* SIGTERM, then SIGKILL */
} zo_local_conf_t;

zo_executor_t *zo_executor_local (zo_actor_t *actor, const zo_local_conf_t *conf);
/*  command holds one %d, the size.  */
zo_executor_t *zo_executor_command (zo_actor_t *actor, const char *command);

/*  Stops what it started (SIGTERM, SIGKILL after the grace: the caller
    runs the loop until zo_executor_idle) .  */
void zo_executor_stop (zo_executor_t *self);
bool zo_executor_idle (zo_executor_t *self);
void zo_executor_destroy (zo_executor_t **self_p);

/*  Asks for size workers. Idempotent; the latest call wins.  */
void zo_executor_resize (zo_executor_t *self, uint32_t size);
/*  The workers counted toward the size now: running or restarting,
    not leaving. For the command executor, the last size it carried out.  */
uint32_t zo_executor_size (zo_executor_t *self);
/*  Workers on their way out (quiet, draining, stopping).  */
uint32_t zo_executor_leaving (zo_executor_t *self);
/*  Once per autoscaler tick: drains, storms, retries.  */
void zo_executor_tick (zo_executor_t *self);
/*  "local" or "command".  */
const char *zo_executor_kind (const zo_executor_t *self);

#endif
