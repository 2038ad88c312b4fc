/*  The `zorch` command: shared pieces of its subcommands (internal).  */
#ifndef ZORCH_H_INCLUDED
#define ZORCH_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "zo_conf.h"
#include "zo_inject.h"
#include "zo_rpc.h"

/*  Subcommands. argv[0] is the subcommand's name; conf holds defaults,
    file, environment and --<section>-<key> flags already (they are gone
    from argv). full_argv is the command line as given (for `up`, which
    passes configuration flags on to the actors). Each returns the exit
    status: 0 success, 1 failure, 2 usage error.  */
int zorch_inject (zo_conf_t *conf, int argc, char **argv);
int zorch_dlq (zo_conf_t *conf, int argc, char **argv);
int zorch_bench (zo_conf_t *conf, int argc, char **argv);
int zorch_status (zo_conf_t *conf, int argc, char **argv);
int zorch_cache (zo_conf_t *conf, int argc, char **argv);
int zorch_pool (zo_conf_t *conf, int argc, char **argv);
int zorch_scale (zo_conf_t *conf, int argc, char **argv);
int zorch_workers (zo_conf_t *conf, int argc, char **argv);
int zorch_up (zo_conf_t *conf, int argc, char **argv, int full_argc, char **full_argv);

/*  The broker's front endpoint for clients: --broker if given, else
    inject/broker. A wildcard bind address (host "*" or 0.0.0.0) is
    turned into 127.0.0.1. Returns a new string.  */
char *zorch_client_endpoint (zo_conf_t *conf, const char *flag);
/*  The same for any actor's endpoint: flag if given, else the value at
    path (dflt when absent).  */
char *zorch_endpoint_for (zo_conf_t *conf, const char *flag, const char *path, const char *dflt);

/*  What to do with a reply of the command wanted; it is borrowed.  */
typedef void (zorch_reply_fn) (const zo_msg_t *reply, void *arg);
/*  Sends req on rpc, waits at most timeout_ms, and hands a reply of
    command `want` to fn. 0, or 1 after printing why not ("zorch <cmd>:
    the <peer> refused GET: too_large: ...", no answer, another reply).  */
int zorch_ask (zo_rpc_t *rpc, const char *cmd, const char *peer, zo_msg_t *req, zo_cmd_t want,
               int timeout_ms, zorch_reply_fn *fn, void *arg);
/*  zorch_ask on a client of its own to endpoint, made and freed here:
    one request from the command line.  */
int zorch_call (const char *cmd, const char *peer, const char *endpoint, zo_msg_t *req, zo_cmd_t want,
                int timeout_ms, zorch_reply_fn *fn, void *arg);
/*  zorch_call asked again every every_ms (stdout flushed after each
    answer) until one fails or the process is stopped; every_ms 0 asks
    once.  */
int zorch_watch (const char *cmd, const char *peer, const char *endpoint, zo_msg_t *req,
                 zo_cmd_t want, int timeout_ms, int every_ms, zorch_reply_fn *fn, void *arg);
/*  An actor's STATS (the reply to GET_STATS): its name, build, memory,
    counters and gauges as lines, or with json one JSON object.  */
void zorch_print_stats (const zo_msg_t *reply, bool json);

/*  A duration for people: "412µs", "1.2ms", "3.40s".  */
void zorch_fmt_ns (char *buf, size_t size, uint64_t ns);

/*  Prints the end-of-run summary of an inject engine (one line, or one
    JSON object with json).  */
void zorch_inject_summary (FILE *out, const zo_inject_stats_t *stats, bool json);
/*  0 when every event was acknowledged (and, with wait, succeeded); else 1.  */
int zorch_inject_status (const zo_inject_stats_t *stats, bool wait);

/*  A whole decimal number / a non-negative finite number, for flags.
    0, or -1 if text is anything else.  */
int zorch_parse_u64 (const char *text, uint64_t *value);
int zorch_parse_double (const char *text, double *value);

/*  Says a usage error of `zorch <cmd>` on stderr: fmt with arg in it (fmt
    may have one %s or none), then where the options are. Returns 2, the
    exit status of a usage error.  */
int zorch_usage_error (const char *cmd, const char *fmt, const char *arg);

/*  All of in (set KEY -, --body -), malloc'd, its length in *len; NULL
    when out of memory.  */
char *zorch_read_all (FILE *in, size_t *len);

/*  The cases every command's getopt_long switch ends with (its optstring
    ":h", its --help entry returning 'h'): 'h' prints usage and gives 0; a
    flag without its value (':') and anything else give zorch_usage_error's
    2, naming the flag. Call it as the switch's default.  */
int zorch_option_end (const char *cmd, const char *usage, int opt, char **argv);
/*  --timeout's value: seconds, more than 0 and at most a day, into
    *seconds. 0, or zorch_usage_error's 2.  */
int zorch_option_timeout (const char *cmd, const char *arg, double *seconds);

/*  Starts argv[0] with argv in a child of its own process group, with
    default signals, stdout and stderr to log_path (NULL: inherited).
    Returns the child's pid, or -1 with errno (zo_proc_spawn).  */
pid_t zorch_spawn (char **argv, const char *log_path);

#endif
