/*  zo_actor: what every zorch actor process is built from, so that each
    main reads the same: zo_actor_main, given how to build the actor's
    state and how to tear it down, runs zo_actor_init, the build,
    zo_loop_run, the tear-down and zo_actor_fini.

    zo_actor_init blocks signals (zo_signals_block), reads the
    configuration (zo_conf: defaults, file, env, flags), answers --help and
    --print-config, sets the log identity ("zorch-<kind>"), makes the
    ZeroMQ context and the loop (spinning <kind>/spin microseconds before
    it parks, when that key is set), and a zo_stats that reports to
    stats/endpoint every stats/interval (the ticker is started here).
    How an actor stops on SIGTERM and SIGINT (drain, then force after
    a grace or a second signal) is zo_drain's, made by the actor with its
    own callbacks (zo_drain.h).
*/
#ifndef ZO_ACTOR_H_INCLUDED
#define ZO_ACTOR_H_INCLUDED

#include <stdint.h>

#include "zo_conf.h"
#include "zo_loop.h"
#include "zo_stats.h"

typedef struct {
    const char *kind;          /* "broker", "worker", ... */
    char name [64];            /* <kind>/name, or "<kind>-<host>-<pid>" */
    zo_conf_t *conf;
    void *zmq_ctx;
    zo_loop_t *loop;
    zo_stats_t *stats;
    int argc;                  /* what zo_conf_apply_args left */
    char **argv;
    char **flags;              /* the flags as given (NULL-terminated; the
                                  autoscaler passes them on to workers) */
} zo_actor_t;

/*  What an actor's main exits with: 0 after a clean stop, ZO_EXIT_FAIL
    when it could not start or run, ZO_EXIT_CONFIG when its configuration
    was refused (a bad flag or file, a value out of range: the log names
    the key and what is allowed).  */
#define ZO_EXIT_FAIL   1
#define ZO_EXIT_CONFIG 2

/*  Returns 0; 1 when --help or --print-config was answered (main should
    exit 0); -1 after logging why it could not start (exit with
    zo_actor_exit_code). For --help,
    usage is printed, followed by a generic part about configuration.
    Whatever the result, zo_actor_fini frees what was made (it is also
    safe on a self that init failed on).
    A stats/interval of 0 turns periodic STATS reports off.  */
int zo_actor_init (zo_actor_t *self, const char *kind, int argc, char **argv,
                   const char *usage);
/*  The exit code for an actor that could not start: ZO_EXIT_CONFIG when
    its configuration was at fault (zo_conf_bad), else ZO_EXIT_FAIL. Call
    it before zo_actor_fini.  */
int zo_actor_exit_code (zo_actor_t *self);
/*  Sends a last STATS, with bye (zo_stats_bye: the monitor forgets the
    actor rather than marking it down), then frees all of it (the context
    is terminated, so close every socket first).  */
void zo_actor_fini (zo_actor_t *self);

/*  The log threshold, set from log/level (error, warning, info, debug) by
    zo_actor_init; zsys itself has no levels, so these macros filter.  */
typedef enum {
    ZO_LOG_ERROR = 0, ZO_LOG_WARNING, ZO_LOG_INFO, ZO_LOG_DEBUG
} zo_log_level_t;
extern zo_log_level_t zo_log_level;

#define zo_log_error(...) \
    do { zsys_error (__VA_ARGS__); } while (0)
#define zo_log_warning(...) \
    do { if (zo_log_level >= ZO_LOG_WARNING) zsys_warning (__VA_ARGS__); } while (0)
#define zo_log_info(...) \
    do { if (zo_log_level >= ZO_LOG_INFO) zsys_info (__VA_ARGS__); } while (0)
#define zo_log_debug(...) \
    do { if (zo_log_level >= ZO_LOG_DEBUG) zsys_debug (__VA_ARGS__); } while (0)

/*  An actor's whole main: zo_actor_init (kind, usage as there), start
    (the actor's state, or NULL after logging why it could not start),
    zo_loop_run until the actor stops it, stop (state), zo_actor_fini.
    Returns what main exits with (0, ZO_EXIT_FAIL, ZO_EXIT_CONFIG).  */
typedef void *(zo_actor_start_fn) (zo_actor_t *actor);
typedef void (zo_actor_stop_fn) (void *state);
int zo_actor_main (const char *kind, const char *usage, int argc, char **argv,
                   zo_actor_start_fn *start, zo_actor_stop_fn *stop);

/*  Options a socket must have before it binds or connects: a bound
    socket gives the connections it accepts the options it had when it
    bound, so a later change would miss them. Zero fields keep ZeroMQ's
    defaults.  */
typedef struct {
    int hwm;                    /* send and receive high-water marks (1000) */
    int64_t max_msg;            /* a peer sending a larger message is dropped (no limit) */
} zo_sockopts_t;

/*  Makes a socket of type on the actor's context with linger 0, the
    options every zorch socket shares and opts (may be NULL); binds if
    bind, else connects. NULL with a log line.  */
void *zo_actor_socket (zo_actor_t *self, int type, const char *endpoint, bool bind,
                       const zo_sockopts_t *opts);

#endif
